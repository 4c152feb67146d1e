//! The WindowFinished rule's pattern, read from template.yaml, in LocalStack EventBridge: any
//! window's finished execution matches; unfinished ones and other kinds of events don't.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchpilot_test_support::template::Template;
use patchpilot_test_support::{LocalAws, assert_matches_finished_windows, event_pattern_matches};
use serde_json::{Value, json};

fn event(status: &str) -> String {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../events/compliance-snapshot/window-execution-finished.json"
    ))
    .unwrap();
    event["detail"]["status"] = json!(status);
    event.to_string()
}

#[tokio::test]
async fn finished_window_executions_match() {
    let pattern = Template::load()
        .event_pattern("ComplianceSnapshotFunction", "WindowFinished", &[])
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(&LocalAws::shared().sdk_config().await);
    assert_matches_finished_windows(&events, &pattern, event).await;
    let mut scheduled: Value = serde_json::from_str(&event("SUCCESS")).unwrap();
    scheduled["detail-type"] = json!("Scheduled Event");
    assert!(!event_pattern_matches(&events, &pattern, &scheduled.to_string()).await);
}
