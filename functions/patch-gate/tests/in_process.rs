//! The gate in an account where other things happen, every AWS client answered in-process by
//! `aws-smithy-mocks`: what the service says is set per test, and what the gate sends is read back
//! from the requests. These are the regression tests of the messy-account defects; each failed on the
//! gate as it was before (it trusted the event, decided skipped executions, re-judged the run after a
//! routine scan, asked only for metric alarms, recorded last, and left a running production alone).

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;

use account::*;

#[tokio::test]
async fn a_skipped_overlapping_execution_is_no_verdict() {
    let h = harness(Account {
        status: Status::SkippedOverlapping,
        ..Account::default()
    });
    let report = h
        .gate
        .handle(event("SKIPPED_OVERLAPPING", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.outcome, GateOutcome::Ignored);
    assert!(report.reason.unwrap().contains("SKIPPED_OVERLAPPING"));
    assert!(h.sent.window_updates.lock().unwrap().is_empty());
    assert!(
        h.sent.pointers.lock().unwrap().is_empty(),
        "the latest pointer does not move"
    );
    assert!(
        h.sent.subjects.lock().unwrap().is_empty(),
        "nobody is paged"
    );
}

#[tokio::test]
async fn the_event_is_not_trusted_its_start_comes_from_the_service() {
    let h = harness(Account::default());
    // A hand-made event with a far-future start: the pointer takes the service's start.
    let report = h
        .gate
        .handle(event("SUCCESS", "2099-01-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(report.outcome, GateOutcome::Decided);
    let start = h.sent.pointers.lock().unwrap()[0]["execution_start"].clone();
    assert_eq!(start, AttributeValue::N(STARTED.to_string()));
    // An execution the staging window does not have is not acted on.
    let h = harness(Account {
        listed: false,
        ..Account::default()
    });
    let report = h
        .gate
        .handle(event("FAILED", "2026-11-26T02:00:03Z"))
        .await
        .unwrap();
    assert_eq!(report.outcome, GateOutcome::Ignored);
    assert!(h.sent.window_updates.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_firing_composite_alarm_holds_production() {
    let h = harness(Account {
        composite_alarms: vec!["svc-checkout-health"],
        ..Account::default()
    });
    let report = h
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    let types = h.sent.alarm_types.lock().unwrap();
    assert!(types[0].contains(&AlarmType::CompositeAlarm));
    assert!(types[0].contains(&AlarmType::MetricAlarm));
    assert!(
        report
            .checks
            .iter()
            .any(|c| !c.passed && c.detail.contains("svc-checkout-health"))
    );
}

#[tokio::test]
async fn a_retry_after_the_gate_acted_carries_out_the_recorded_verdict() {
    // Attempt 1: staging failed on one instance; the gate claims the verdict, closes production,
    // then the write that completes the record is throttled: the invocation fails and is retried.
    let failing = Account {
        members: vec![
            (
                "i-00a00000000000001",
                PatchOperationType::Install,
                STARTED + 600,
                2,
            ),
            (
                "i-00a00000000000002",
                PatchOperationType::Install,
                STARTED + 700,
                0,
            ),
        ],
        completing_throttled: true,
        ..Account::default()
    };
    let first = harness(failing);
    let err = first
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap_err();
    assert!(
        err.error_type().starts_with("Retryable."),
        "{}",
        err.error_type()
    );
    assert_eq!(*first.sent.window_updates.lock().unwrap(), [false]);
    assert!(
        first.sent.subjects.lock().unwrap().is_empty(),
        "no page before the record"
    );
    let claimed = first.sent.claimed.lock().unwrap()[0].clone();

    // Attempt 2: meanwhile a scan overwrote the failed instance's state. The retry must not judge
    // again (it would open production and send a page contradicting the first close).
    let retry = harness(Account {
        members: vec![
            (
                "i-00a00000000000001",
                PatchOperationType::Scan,
                STARTED + 5000,
                0,
            ),
            (
                "i-00a00000000000002",
                PatchOperationType::Scan,
                STARTED + 5000,
                0,
            ),
        ],
        decision_item: Some(claimed),
        ..Account::default()
    });
    let report = retry
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    assert_eq!(report.failed_instances, ["i-00a00000000000001"]);
    assert_eq!(*retry.sent.window_updates.lock().unwrap(), [false]);
    assert_eq!(
        *retry.sent.task_reads.lock().unwrap(),
        0,
        "staging is not read again"
    );
    let subjects = retry.sent.subjects.lock().unwrap();
    assert_eq!(subjects.len(), 1);
    assert!(
        subjects[0].starts_with("Patch gate CLOSED"),
        "{}",
        subjects[0]
    );
}

#[tokio::test]
async fn a_routine_scan_before_the_recheck_does_not_close_production() {
    let h = harness(Account {
        members: vec![
            (
                "i-00a00000000000001",
                PatchOperationType::Scan,
                STARTED + 86_400,
                0,
            ),
            (
                "i-00a00000000000002",
                PatchOperationType::Scan,
                STARTED + 90_000,
                0,
            ),
        ],
        latest: Some((EXECUTION, STARTED, true)),
        decision_item: Some(HashMap::from([(
            "record".to_owned(),
            AttributeValue::S(json!({"open": true, "failed_instances": []}).to_string()),
        )])),
        ..Account::default()
    });
    let report = h.gate.handle(recheck_event()).await.unwrap();
    assert_eq!(report.outcome, GateOutcome::Rechecked);
    assert_eq!(report.open, Some(true), "{:?}", report.checks);
    assert!(h.sent.window_updates.lock().unwrap().is_empty());
    assert!(h.sent.subjects.lock().unwrap().is_empty(), "no false page");
}

#[tokio::test]
async fn closing_stops_a_production_execution_already_running() {
    let h = harness(Account {
        members: vec![(
            "i-00a00000000000001",
            PatchOperationType::Install,
            STARTED + 86_400,
            3,
        )],
        latest: Some((EXECUTION, STARTED, true)),
        decision_item: Some(HashMap::from([(
            "record".to_owned(),
            AttributeValue::S(json!({"open": true, "failed_instances": []}).to_string()),
        )])),
        production_running: vec!["0a1b2c3d-0000-4000-8000-000000000001"],
        ..Account::default()
    });
    let report = h.gate.handle(recheck_event()).await.unwrap();
    assert_eq!(report.open, Some(false));
    assert_eq!(*h.sent.window_updates.lock().unwrap(), [false]);
    assert_eq!(
        *h.sent.cancelled.lock().unwrap(),
        ["0a1b2c3d-0000-4000-8000-000000000001"]
    );
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.starts_with("cancel production execution 0a1b2c3d"))
    );
}

#[tokio::test]
async fn when_disabling_fails_the_error_is_retryable_and_the_verdict_stays_claimed() {
    let h = harness(Account {
        members: vec![(
            "i-00a00000000000001",
            PatchOperationType::Install,
            STARTED + 600,
            1,
        )],
        window_update_fails: true,
        ..Account::default()
    });
    let err = h
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap_err();
    // Even a refusal the service calls permanent: a production window left open must be retried.
    assert!(
        err.error_type().starts_with("Retryable."),
        "{}",
        err.error_type()
    );
    assert!(
        err.to_string().contains("ssm:UpdateMaintenanceWindow"),
        "{err}"
    );
    let claimed = h.sent.claimed.lock().unwrap().clone();
    assert_eq!(
        claimed.len(),
        1,
        "the closed verdict is claimed for the retry"
    );
    assert!(
        claimed[0]["pending"]
            .as_s()
            .unwrap()
            .contains("\"open\":false")
    );
    assert!(
        h.sent.subjects.lock().unwrap().is_empty(),
        "no page before production is closed"
    );
}

/// An instance terminated mid-run has left Systems Manager: reading its failed patches is refused
/// with `InvalidInstanceId`. Pinning (an approval over failures) must not fail on it: the instance is
/// named as unread, and the other instances' failed patches are still read and rejected.
#[tokio::test]
async fn a_terminated_instance_does_not_stop_reading_stagings_failed_patches() {
    use aws_sdk_ssm::operation::describe_instance_patches::{
        DescribeInstancePatchesError, DescribeInstancePatchesOutput,
    };
    use aws_sdk_ssm::types::{PatchComplianceData, PatchComplianceDataState};
    let gone = mock!(aws_sdk_ssm::Client::describe_instance_patches)
        .match_requests(|req| req.instance_id() == Some("i-0gone000000000001"))
        .then_error(|| {
            DescribeInstancePatchesError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("InvalidInstanceId")
                    .message("Instance Id i-0gone000000000001 is not valid")
                    .build(),
            )
        });
    let failed = mock!(aws_sdk_ssm::Client::describe_instance_patches).then_output(|| {
        DescribeInstancePatchesOutput::builder()
            .patches(
                PatchComplianceData::builder()
                    .title("openssl-libs.x86_64:1:3.0.8-1.amzn2023")
                    .kb_id("openssl-libs.x86_64")
                    .classification("Security")
                    .severity("Important")
                    .state(PatchComplianceDataState::Failed)
                    .installed_time(at(0))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&gone, &failed]);
    let reads = patch_gate::gather::failed_patches(
        &ssm,
        &["i-0gone000000000001".into(), "i-00a00000000000002".into()],
    )
    .await
    .expect("an instance that is gone does not fail the read");
    assert_eq!(reads.patches.len(), 1);
    assert_eq!(reads.patches[0].kb_id, "openssl-libs.x86_64");
    assert_eq!(reads.unread.len(), 1);
    assert!(reads.unread[0].starts_with("i-0gone000000000001: InvalidInstanceId"));

    // Any other refusal still fails the read (the gate then fails closed).
    let denied = mock!(aws_sdk_ssm::Client::describe_instance_patches).then_error(|| {
        DescribeInstancePatchesError::generic(
            aws_smithy_types::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized")
                .build(),
        )
    });
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&denied]);
    assert!(
        patch_gate::gather::failed_patches(&ssm, &["i-00a00000000000002".into()])
            .await
            .is_err()
    );
}

/// Pinning: every production baseline gets staging's rules as of the run, one UpdatePatchBaseline
/// each, before production opens.
#[tokio::test]
async fn every_production_baseline_is_pinned_to_stagings_rules_as_of_the_run() {
    let h = harness(Account {
        production_baselines: vec!["pb-0c10000000000000b", "pb-0c10000000000000c"],
        ..Account::default()
    });
    let report = h
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(true));
    // Staging approves seven days after release; it ran 2026-11-26 02:00: production takes what
    // was released by the end of 2026-11-18, as a date (the whole-day cutoff).
    let pinned = (Some("2026-11-18".to_owned()), None);
    assert_eq!(
        *h.sent.baseline_updates.lock().unwrap(),
        [
            ("pb-0c10000000000000b".to_owned(), vec![pinned.clone()]),
            ("pb-0c10000000000000c".to_owned(), vec![pinned]),
        ]
    );
    assert_eq!(*h.sent.window_updates.lock().unwrap(), [true]);
}

/// A refused UpdatePatchBaseline part way (the first baseline pinned, the second denied) fails the
/// gate closed: production stays disabled, the check names the baseline and the denial, and the
/// page goes out. Nothing is opened on a half-pinned production.
#[tokio::test]
async fn a_refused_baseline_update_part_way_keeps_production_closed_and_says_which() {
    let h = harness(Account {
        production_baselines: vec!["pb-0c10000000000000b", "pb-0c10000000000000c"],
        refused_baseline: Some("pb-0c10000000000000c"),
        ..Account::default()
    });
    let report = h
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    let updated: Vec<String> = h
        .sent
        .baseline_updates
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(updated, ["pb-0c10000000000000b"]);
    assert_eq!(*h.sent.window_updates.lock().unwrap(), [false]);
    let check = report
        .checks
        .iter()
        .find(|check| !check.passed)
        .expect("a failed check");
    assert_eq!(check.name.as_str(), "production_pinned");
    assert!(
        check.detail.contains("could not pin pb-0c10000000000000c")
            && check.detail.contains("ssm:UpdatePatchBaseline")
            && check.detail.contains("AccessDeniedException"),
        "{}",
        check.detail
    );
    assert!(
        h.sent
            .subjects
            .lock()
            .unwrap()
            .iter()
            .any(|subject| subject.contains("CLOSED")),
        "{:?}",
        h.sent.subjects.lock().unwrap()
    );
}

/// A close records when it engaged the brake, keyed by the production window, so an open soon after
/// can be published again once the brake alarm's period has ended.
#[tokio::test]
async fn a_close_records_when_it_engaged_the_brake() {
    let h = harness(Account {
        composite_alarms: vec!["svc-checkout-health"],
        ..Account::default()
    });
    let before = chrono::Utc::now();
    let report = h
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    let records = h.sent.brake_records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["pk"].as_s().unwrap(),
        &format!("gate-brake#{PRODUCTION}")
    );
    let engaged =
        chrono::DateTime::parse_from_rfc3339(records[0]["engaged_at"].as_s().unwrap()).unwrap();
    assert!(engaged >= before && engaged <= chrono::Utc::now());
    assert!(records[0].contains_key("expires_at"));
    assert_eq!(*h.sent.brake_reads.lock().unwrap(), 0);
}

/// An open within the brake's period of the last close waits out the period and reads the record
/// again before publishing once more (a close meanwhile would keep the brake on).
#[tokio::test]
async fn an_open_soon_after_a_close_waits_out_the_brakes_period_and_looks_again() {
    let h = harness(Account {
        // 14 of the 15 seconds (the period and its slack) have passed: the wait is about a second.
        brake_engaged_ago: Some(14),
        ..Account::default()
    });
    let started = std::time::Instant::now();
    let report = h
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(true));
    assert_eq!(*h.sent.brake_reads.lock().unwrap(), 2);
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    assert!(h.sent.brake_records.lock().unwrap().is_empty());
}

/// An open long after the last close, or with no close on record, is published once, at once.
#[tokio::test]
async fn an_open_long_after_a_close_is_published_once() {
    for engaged in [Some(60), None] {
        let h = harness(Account {
            brake_engaged_ago: engaged,
            ..Account::default()
        });
        let report = h
            .gate
            .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
            .await
            .unwrap();
        assert_eq!(report.open, Some(true));
        assert_eq!(
            *h.sent.brake_reads.lock().unwrap(),
            1,
            "engaged {engaged:?}"
        );
    }
}
