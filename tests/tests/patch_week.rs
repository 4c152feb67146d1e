//! The main job on a small fleet, in CI: the patch week through EventBridge rules from template.yaml
//! and the four functions' binaries under the Lambda Runtime API. Every step's evidence must be there.

use std::path::PathBuf;

use patch_week::{Options, play};
use patchpilot_test_support::workspace_root;

/// The functions' debug binaries (cargo test builds them for their own integration tests; built here
/// if this test runs alone).
fn binaries() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("debug");
    let names = [
        "patch-group-tagger",
        "install-alerts",
        "compliance-snapshot",
        "patch-gate",
    ];
    if names.iter().any(|name| !dir.join(name).exists()) {
        let status = std::process::Command::new(env!("CARGO"))
            .current_dir(workspace_root())
            .args(["build", "--bins"])
            .args(names.iter().flat_map(|name| ["-p", name]))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the functions failed");
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_week_on_a_small_fleet_leaves_all_its_evidence() {
    let report = play(&Options {
        fleet: 30,
        seed: 3,
        failures: 12,
        bin_dir: binaries(),
        storm_threshold: 10,
        verbose: true,
        keep: false,
    })
    .await
    .expect("the week runs");
    for step in [
        "tagger",
        "staging run",
        "alerts",
        "storm control",
        "snapshot metrics",
        "compliance alarm",
        "gate closed",
        "gate opened and pinned",
        "held back reported",
        "fleet compliant",
        "boundary day stays out",
        "re-check closed",
        "nothing dead-lettered",
        "roles allow every call",
    ] {
        let row = report
            .row(step)
            .unwrap_or_else(|| panic!("no evidence row {step}"));
        assert!(row.ok, "{step}: {}", row.detail);
    }
    assert!(report.passed());
    assert_eq!(
        report.init_times.len(),
        4,
        "all four functions ran under the runtime API"
    );
}
