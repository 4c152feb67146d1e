//! The main job on a small fleet, in CI: the patch week through EventBridge rules from template.yaml
//! and the four functions' binaries under the Lambda Runtime API. Every step's evidence must be there.

use patch_week::{Evidence, Options, play};
use patchpilot_test_support::debug_binaries;

/// The week's future is large (every step's state machine) and a debug build polls it deep: it runs
/// on a thread with a stack of its own rather than the test harness's 2 MiB, which it outgrew.
const WEEK_STACK: usize = 64 * 1024 * 1024;

#[test]
fn a_patch_week_on_a_small_fleet_leaves_all_its_evidence() {
    let options = Options {
        fleet: 30,
        seed: 3,
        failures: 12,
        bin_dir: debug_binaries(&[
            "patch-group-tagger",
            "install-alerts",
            "compliance-snapshot",
            "patch-gate",
            "patchpilot",
        ]),
        storm_threshold: 10,
        verbose: true,
        keep: false,
    };
    let report = std::thread::Builder::new()
        .name("patch-week".into())
        .stack_size(WEEK_STACK)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .thread_stack_size(8 * 1024 * 1024)
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(Box::pin(play(&options)))
        })
        .expect("the week's thread starts")
        .join()
        .expect("the week's thread does not panic")
        .expect("the week runs");
    // Every row the week defines, each exactly once and passed.
    for &step in Evidence::ALL {
        let rows: Vec<_> = report.rows.iter().filter(|row| row.step == step).collect();
        assert_eq!(rows.len(), 1, "evidence row {step}: {} rows", rows.len());
        assert!(rows[0].ok, "{step}: {}", rows[0].detail);
    }
    assert_eq!(report.rows.len(), Evidence::ALL.len());
    assert!(report.passed());
    assert_eq!(
        report.init_times.len(),
        4,
        "all four functions ran under the runtime API"
    );
    readme_transcript_is_the_weeks(&report.transcript.join("\n"));
}

const BEGIN: &str = "<!-- operator transcript: written by the patch week test (PATCHPILOT_BLESS=1 rewrites it) -->\n```text\n";
const END: &str = "```\n<!-- end of operator transcript -->";

/// The README's transcript of the operator's first five minutes is this week's, up to what changes
/// from run to run (ids, times, numbers): it cannot drift from what the commands print.
/// `PATCHPILOT_BLESS=1` writes this run's transcript into the README instead.
fn readme_transcript_is_the_weeks(transcript: &str) {
    let path = patchpilot_test_support::workspace_root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md reads");
    let start = readme
        .find(BEGIN)
        .expect("the README has the transcript's start marker")
        + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("the README has the transcript's end marker");
    if std::env::var_os("PATCHPILOT_BLESS").is_some() {
        let updated = format!("{}{transcript}\n{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("README.md is written");
        return;
    }
    let (kept, now) = (
        patch_week::normalise_transcript(&readme[start..end]),
        patch_week::normalise_transcript(transcript),
    );
    if kept != now {
        let first = kept
            .lines()
            .zip(now.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(kept.lines().count().min(now.lines().count()));
        panic!(
            "the README's operator transcript differs from what the week printed, first at line {}:\n  README: {:?}\n  week:   {:?}\nrun `PATCHPILOT_BLESS=1 cargo test -p patchpilot-tests --test patch_week` to rewrite it",
            first + 1,
            kept.lines().nth(first),
            now.lines().nth(first)
        );
    }
}
