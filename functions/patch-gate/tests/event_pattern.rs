//! The StagingFinished rule's pattern, read from template.yaml with the window ids filled in, in
//! LocalStack EventBridge: terminal statuses of the staging window (judged) and of the production
//! window (checked against the promoted list) match; other windows and unfinished executions don't.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchpilot_shared::events::WindowExecutionStatus;
use patchpilot_test_support::template::Template;
use patchpilot_test_support::{LocalAws, assert_matches_finished_windows, event_pattern_matches};
use serde_json::{Value, json};

const STAGING: &str = "mw-0c50858d01ff4a3b1";
const PRODUCTION: &str = "mw-0d61969e12ee5b4c2";

/// The sample event of `window`'s execution ending (the production sample for the production
/// window, else the staging one with its window id replaced), with `status`.
fn event(window: &str, status: &str) -> String {
    let sample = if window == PRODUCTION {
        include_str!("../../../events/patch-gate/production-window-finished.json")
    } else {
        include_str!("../../../events/patch-gate/staging-window-success.json")
    };
    let mut event: Value = serde_json::from_str(sample).unwrap();
    assert!(
        window != PRODUCTION || event["detail"]["window-id"] == PRODUCTION,
        "the production sample names the production window"
    );
    event["detail"]["window-id"] = json!(window);
    event["detail"]["status"] = json!(status);
    event.to_string()
}

#[tokio::test]
async fn only_the_staging_and_production_windows_finished_executions_match() {
    let pattern = Template::load()
        .event_pattern(
            "PatchGateFunction",
            "StagingFinished",
            &[
                ("StagingWindowId", STAGING),
                ("ProductionWindowId", PRODUCTION),
            ],
        )
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(&LocalAws::shared().sdk_config().await);
    assert_matches_finished_windows(&events, &pattern, |status| event(STAGING, status)).await;
    assert_matches_finished_windows(&events, &pattern, |status| event(PRODUCTION, status)).await;
    for status in WindowExecutionStatus::KNOWN {
        let other_window = event("mw-0e72a7af23ff6c5d3", status.as_str());
        assert!(
            !event_pattern_matches(&events, &pattern, &other_window).await,
            "another window's {status} must not match"
        );
    }
    let mut task: Value = serde_json::from_str(&event(STAGING, "SUCCESS")).unwrap();
    task["detail-type"] = json!("Maintenance Window Task Execution State-change Notification");
    assert!(!event_pattern_matches(&events, &pattern, &task.to_string()).await);
}
