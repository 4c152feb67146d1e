//! The main job on a small fleet, in CI: the patch week through EventBridge rules from template.yaml
//! and the four functions' binaries under the Lambda Runtime API. Every step's evidence must be there.

use patch_week::{Options, play};
use patchpilot_test_support::debug_binaries;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_week_on_a_small_fleet_leaves_all_its_evidence() {
    let report = play(&Options {
        fleet: 30,
        seed: 3,
        failures: 12,
        bin_dir: debug_binaries(&[
            "patch-group-tagger",
            "install-alerts",
            "compliance-snapshot",
            "patch-gate",
        ]),
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
        "an instance terminated mid-window",
        "operator approved",
        "hold and release",
        "gate opened and pinned",
        "held back reported",
        "fleet compliant",
        "boundary day stays out",
        "a scan is no verdict",
        "a skipped execution is no verdict",
        "a redelivered event repeats nothing",
        "re-check closed",
        "doctor",
        "AWS-managed staging baseline pinned",
        "another team's failure reaches a human",
        "metrics survive LogLevel WARN",
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
