//! The two rules' patterns, read from template.yaml (patch documents from the parameter's default),
//! in LocalStack EventBridge against real-shaped events: failures of patch documents match; successes,
//! in-progress states and other documents don't.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchpilot_test_support::template::Template;
use patchpilot_test_support::{LocalAws, assert_matches_finished_windows, event_pattern_matches};
use serde_json::{Value, json};

const FAILURES: &[&str] = &[
    "Failed",
    "TimedOut",
    "Cancelled",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
    "Undeliverable",
    "Terminated",
    "InvalidPlatform",
    "AccessDenied",
];
const NOT_FAILURES: &[&str] = &["Success", "InProgress", "Pending", "Delayed", "Cancelling"];
const DOCUMENTS: &[&str] = &[
    "AWS-RunPatchBaseline",
    "AWS-RunPatchBaselineAssociation",
    "AWS-RunPatchBaselineWithHooks",
];

fn sample(name: &str, document: &str, status: &str) -> String {
    let path = format!(
        "{}/../../events/install-alerts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["detail"]["document-name"] = json!(document);
    event["detail"]["status"] = json!(status);
    event.to_string()
}

async fn check(rule: &str, sample_name: &str) {
    let template = Template::load();
    let documents = template.parameter_default("PatchDocuments");
    let pattern = template
        .event_pattern(
            "InstallAlertsFunction",
            rule,
            &[("PatchDocuments", &documents)],
        )
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(&LocalAws::shared().sdk_config().await);
    for document in DOCUMENTS {
        for status in FAILURES {
            assert!(
                event_pattern_matches(&events, &pattern, &sample(sample_name, document, status))
                    .await,
                "{rule}: {document} {status} must match"
            );
        }
        for status in NOT_FAILURES {
            assert!(
                !event_pattern_matches(&events, &pattern, &sample(sample_name, document, status))
                    .await,
                "{rule}: {document} {status} must not match"
            );
        }
    }
    for other in [
        "AWS-RunShellScript",
        "AWS-ConfigureAWSPackage",
        "AWS-RunPatchBaselineX",
    ] {
        assert!(
            !event_pattern_matches(&events, &pattern, &sample(sample_name, other, "Failed")).await,
            "{rule}: {other} must not match"
        );
    }
}

#[tokio::test]
async fn invocation_failures_of_patch_documents_match() {
    check("InvocationFailed", "invocation-failed.json").await;
}

#[tokio::test]
async fn command_failures_of_patch_documents_match() {
    check("CommandFailed", "command-failed.json").await;
}

#[tokio::test]
async fn the_invocation_rule_does_not_take_command_events_or_the_reverse() {
    let template = Template::load();
    let documents = template.parameter_default("PatchDocuments");
    let events = aws_sdk_eventbridge::Client::new(&LocalAws::shared().sdk_config().await);
    let invocation_rule = template
        .event_pattern(
            "InstallAlertsFunction",
            "InvocationFailed",
            &[("PatchDocuments", &documents)],
        )
        .to_string();
    let command_rule = template
        .event_pattern(
            "InstallAlertsFunction",
            "CommandFailed",
            &[("PatchDocuments", &documents)],
        )
        .to_string();
    let command = sample("command-failed.json", "AWS-RunPatchBaseline", "Failed");
    let invocation = sample("invocation-failed.json", "AWS-RunPatchBaseline", "Failed");
    assert!(!event_pattern_matches(&events, &invocation_rule, &command).await);
    assert!(!event_pattern_matches(&events, &command_rule, &invocation).await);
    // The documented event shapes (the repository's fixtures).
    for (rule, file) in [
        (
            &invocation_rule,
            "ec2-command-invocation-status-change.json",
        ),
        (&command_rule, "ec2-command-status-change.json"),
    ] {
        let path = format!(
            "{}/../../tests/fixtures/aws-events/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        // The real envelope and detail, with a patch document that failed.
        let mut real: Value = serde_json::from_str(&text).unwrap();
        real["detail"]["document-name"] = json!("AWS-RunPatchBaseline");
        real["detail"]["status"] = json!("Failed");
        assert!(
            event_pattern_matches(&events, rule, &real.to_string()).await,
            "{file} as a patch failure must match"
        );
    }
}

#[tokio::test]
async fn finished_window_executions_reach_the_window_summary() {
    let pattern = Template::load()
        .event_pattern("InstallAlertsFunction", "WindowFinished", &[])
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(&LocalAws::shared().sdk_config().await);
    let window = |status: &str| {
        let mut event: Value = serde_json::from_str(include_str!(
            "../../../events/patch-gate/staging-window-failed.json"
        ))
        .unwrap();
        event["detail"]["status"] = json!(status);
        event.to_string()
    };
    assert_matches_finished_windows(&events, &pattern, window).await;
}
