//! Every public AWS sample event parses into the typed models, and so do the variants real accounts
//! send (string-form parameters, extra fields, omitted fields). Garbage yields errors that say where.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use patchpilot_shared::events::*;
use serde_json::{Value, json};

/// The repository's own events in the shapes AWS documents (`tests/fixtures/aws-events`).
fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/aws-events")
}

fn load(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The kinds some function reads; every other documented kind is well-formed but not modelled.
const CONSUMED: [&str; 4] = [
    detail_type::COMMAND_STATUS,
    detail_type::COMMAND_INVOCATION_STATUS,
    detail_type::WINDOW_EXECUTION,
    detail_type::INSTANCE_STATE,
];

#[test]
fn every_reference_sample_parses_into_its_typed_model_or_is_unrecognized() {
    let files = json_files(&reference_dir());
    assert!(
        files.len() >= 11,
        "expected the 11 documented event shapes, found {}",
        files.len()
    );
    let mut typed = 0;
    for path in files {
        let event =
            Event::parse(load(&path)).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let consumed = CONSUMED.contains(&event.meta().detail_type.as_str());
        typed += usize::from(consumed);
        assert_eq!(
            matches!(event, Event::Unrecognized(_)),
            !consumed,
            "{} parsed as {event:?}",
            path.display()
        );
    }
    assert!(typed >= 4, "each consumed kind has a sample");
}

#[test]
fn every_project_fixture_parses() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut count = 0;
    for function in std::fs::read_dir(&root).unwrap() {
        let dir = function.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for path in json_files(&dir) {
            Event::parse(load(&path)).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            count += 1;
        }
    }
    assert!(count > 0, "no fixtures found under {}", root.display());
}

#[test]
fn reference_samples_carry_the_expected_values() {
    let dir = reference_dir();
    let Event::CommandStatus(meta, detail) =
        Event::parse(load(&dir.join("ec2-command-status-change.json"))).unwrap()
    else {
        panic!("not a command status event")
    };
    assert_eq!(meta.account.as_deref(), Some("111122223333"));
    assert_eq!(detail.command_id, "7d1e0b6a-2c3f-4e8d-9a1b-0c2d3e4f5a6b");
    assert_eq!(detail.status, CommandStatus::Success);
    assert_eq!(detail.parameters.first("commands"), Some("uptime"));

    let Event::WindowExecution(_, detail) = Event::parse(load(
        &dir.join("maintenance-window-execution-state-change.json"),
    ))
    .unwrap() else {
        panic!("not a window execution event")
    };
    assert_eq!(detail.status, WindowExecutionStatus::TimedOut);
    assert_eq!(detail.window_id, "mw-0c50858d01ff4a3b1");
    assert!(detail.start_time.unwrap() < detail.end_time.unwrap());

    // The documented sample has no `version`; it must parse all the same.
    let Event::InstanceState(meta, detail) = Event::parse(load(
        &dir.join("ec2-instance-state-change-pending-no-version.json"),
    ))
    .unwrap() else {
        panic!("not an instance state event")
    };
    assert_eq!(meta.source, "aws.ec2");
    assert_eq!(detail.state, InstanceState::Pending);
}

fn command_event(parameters: Value) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Command Status-change Notification",
        "source": "aws.ssm",
        "account": "111122223333",
        "time": "2026-11-26T02:10:07Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "command-id": "0b1c7e3e-1f44-4f3e-9d8a-6c1e5b7d9a20",
            "document-name": "AWS-RunPatchBaseline",
            "expire-after": "2026-11-26T04:10:05.310Z",
            "parameters": parameters,
            "requested-date-time": "2026-11-26T02:00:05.310Z",
            "status": "Failed"
        }
    })
}

#[test]
fn parameters_as_object_or_as_json_string() {
    for parameters in [
        json!({"Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}),
        json!("{\"Operation\":[\"Install\"],\"RebootOption\":[\"RebootIfNeeded\"]}"),
    ] {
        let Event::CommandStatus(_, detail) = Event::parse(command_event(parameters)).unwrap()
        else {
            panic!("not a command event")
        };
        assert_eq!(detail.parameters.first("Operation"), Some("Install"));
        assert_eq!(detail.status, CommandStatus::Failed);
    }
}

#[test]
fn unknown_fields_and_unknown_statuses_are_tolerated() {
    let mut event = command_event(json!({}));
    event["detail"]["brand-new-field"] = json!({"nested": [1, 2, 3]});
    event["detail"]["status"] = json!("QuantumSuperposition");
    event["replay-name"] = json!("replay-1");
    let Event::CommandStatus(_, detail) = Event::parse(event).unwrap() else {
        panic!("not a command event")
    };
    assert_eq!(
        detail.status,
        CommandStatus::Other("QuantumSuperposition".into())
    );
    assert!(!detail.status.is_terminal());
}

#[test]
fn optional_fields_may_be_missing() {
    let event = json!({
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm",
        "detail": {"command-id": "c", "instance-id": "i-0123456789abcdef0", "status": "TimedOut"}
    });
    let Event::CommandInvocationStatus(meta, detail) = Event::parse(event).unwrap() else {
        panic!("not an invocation event")
    };
    assert_eq!(meta.account, None);
    assert!(meta.resources.is_empty());
    assert_eq!(detail.document_name, None);
    assert_eq!(detail.status, CommandStatus::TimedOut);

    let mut event = command_event(json!(null));
    event["detail"]
        .as_object_mut()
        .unwrap()
        .remove("parameters");
    event["detail"]
        .as_object_mut()
        .unwrap()
        .remove("expire-after");
    let Event::CommandStatus(_, detail) = Event::parse(event).unwrap() else {
        panic!("not a command event")
    };
    assert!(detail.parameters.0.is_empty());
    assert_eq!(detail.expire_after, None);
}

#[test]
fn scheduled_and_unrecognized_events() {
    let scheduled = json!({
        "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "111122223333", "time": "2026-11-26T02:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:111122223333:rule/patchpilot-backfill"], "detail": {}
    });
    assert!(matches!(
        Event::parse(scheduled).unwrap(),
        Event::Scheduled(..)
    ));
    let other = json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ssm", "detail": {"x": 1}});
    let Event::Unrecognized(meta) = Event::parse(other).unwrap() else {
        panic!("expected unrecognized")
    };
    assert_eq!(meta.detail_type, "AWS API Call via CloudTrail");
}

#[test]
fn wrong_types_name_the_detail_type_and_field() {
    let mut event = command_event(json!({}));
    event["detail"]["status"] = json!(42);
    let err = Event::parse(event).unwrap_err();
    assert_eq!(
        err.detail_type.as_deref(),
        Some("EC2 Command Status-change Notification")
    );
    assert_eq!(err.field, "detail.status");
    assert!(
        err.to_string()
            .contains("`EC2 Command Status-change Notification`"),
        "{err}"
    );

    let event = json!({
        "detail-type": "Maintenance Window Execution State-change Notification",
        "source": "aws.ssm",
        "detail": {"window-id": "mw-0ed7251d3fcf6e0c2", "status": "SUCCESS"}
    });
    let err = Event::parse(event).unwrap_err();
    assert!(err.message.contains("window-execution-id"), "{err}");

    let mut event = command_event(json!({}));
    event["detail"]["requested-date-time"] = json!("last tuesday");
    let err = Event::parse(event).unwrap_err();
    assert_eq!(err.field, "detail.requested-date-time");
}

#[test]
fn garbage_payloads_are_errors_not_panics() {
    for garbage in [
        json!(null),
        json!(17),
        json!("text"),
        json!([1, 2]),
        json!({}),
        json!({"detail-type": 5}),
    ] {
        let err = Event::parse(garbage.clone()).unwrap_err();
        assert_eq!(err.detail_type, None, "{garbage}");
        assert!(!err.to_string().is_empty());
    }
    let err = Event::parse(json!({"source": "aws.ssm", "detail": {}})).unwrap_err();
    assert!(err.message.contains("detail-type"), "{err}");
}
