//! The InstanceRunning rule's pattern, read from template.yaml, in LocalStack EventBridge against
//! real-shaped events: `running` from aws.ec2 matches; other states and other sources don't.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchpilot_test_support::template::Template;
use patchpilot_test_support::{LocalAws, event_pattern_matches};
use serde_json::{Value, json};

fn event(source: &str, detail_type: &str, state: &str) -> String {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/patch-group-tagger/instance-running.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    event["source"] = json!(source);
    event["detail-type"] = json!(detail_type);
    event["detail"]["state"] = json!(state);
    event.to_string()
}

#[tokio::test]
async fn instance_running_pattern_matches_exactly_running_ec2_events() {
    let pattern = Template::load()
        .event_pattern("PatchGroupTaggerFunction", "InstanceRunning", &[])
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(&LocalAws::shared().sdk_config().await);
    let matches = |event: String| {
        let (events, pattern) = (events.clone(), pattern.clone());
        async move { event_pattern_matches(&events, &pattern, &event).await }
    };
    const KIND: &str = "EC2 Instance State-change Notification";
    assert!(matches(event("aws.ec2", KIND, "running")).await);
    for state in [
        "pending",
        "stopped",
        "stopping",
        "shutting-down",
        "terminated",
    ] {
        assert!(
            !matches(event("aws.ec2", KIND, state)).await,
            "{state} must not match"
        );
    }
    assert!(
        !matches(event("custom.ec2", KIND, "running")).await,
        "another source must not match"
    );
    assert!(
        !matches(event(
            "aws.ec2",
            "EC2 Spot Instance Interruption Warning",
            "running"
        ))
        .await
    );
    // The documented shape of a running-state event (the repository's fixture) matches too.
    let real = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/aws-events/ec2-instance-state-change-running.json"
    ))
    .unwrap();
    assert!(matches(real).await);
}
