//! The gate in an account where other things happen, every AWS client answered in-process by
//! `aws-smithy-mocks`: what the service says is set per test, and what the gate sends is read back
//! from the requests. These are the regression tests of the messy-account defects; each failed on the
//! gate as it was before (it trusted the event, decided skipped executions, re-judged the run after a
//! routine scan, asked only for metric alarms, recorded last, and left a running production alone).

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, StateValue};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_ssm::operation::cancel_maintenance_window_execution::CancelMaintenanceWindowExecutionOutput;
use aws_sdk_ssm::operation::describe_effective_patches_for_patch_baseline::DescribeEffectivePatchesForPatchBaselineOutput;
use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::describe_instance_patch_states_for_patch_group::DescribeInstancePatchStatesForPatchGroupOutput;
use aws_sdk_ssm::operation::describe_maintenance_window_execution_task_invocations::DescribeMaintenanceWindowExecutionTaskInvocationsOutput;
use aws_sdk_ssm::operation::describe_maintenance_window_execution_tasks::DescribeMaintenanceWindowExecutionTasksOutput;
use aws_sdk_ssm::operation::describe_maintenance_window_executions::DescribeMaintenanceWindowExecutionsOutput;
use aws_sdk_ssm::operation::get_maintenance_window_execution::GetMaintenanceWindowExecutionOutput;
use aws_sdk_ssm::operation::get_patch_baseline::GetPatchBaselineOutput;
use aws_sdk_ssm::operation::get_patch_baseline_for_patch_group::GetPatchBaselineForPatchGroupOutput;
use aws_sdk_ssm::operation::update_maintenance_window::UpdateMaintenanceWindowOutput;
use aws_sdk_ssm::operation::update_patch_baseline::{
    UpdatePatchBaselineError, UpdatePatchBaselineOutput,
};
use aws_sdk_ssm::types::{
    InstanceInformation, InstancePatchState, MaintenanceWindowExecution,
    MaintenanceWindowExecutionStatus as Status, MaintenanceWindowExecutionTaskIdentity,
    MaintenanceWindowExecutionTaskInvocationIdentity, OperatingSystem, PatchFilter,
    PatchFilterGroup, PatchFilterKey, PatchOperationType, PatchRule, PatchRuleGroup,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime as SmithyTime;
use patch_gate::config::GateConfig;
use patch_gate::{Clients, Gate, GateOutcome, Handler};
use serde_json::{Value, json};

const STAGING: &str = "mw-0c50858d01ff4a3b1";
const PRODUCTION: &str = "mw-0d61969e12ee5b4c2";
const EXECUTION: &str = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0";
/// When staging really started (2026-11-26T02:00:03Z).
const STARTED: i64 = 1_795_658_403;

fn at(secs: i64) -> SmithyTime {
    SmithyTime::from_secs(secs)
}

fn event(status: &str, start_time: &str) -> Value {
    json!({
        "version": "0", "id": "b2c3d4e5-f6a7-4890-abcd-ef0123456789",
        "detail-type": "Maintenance Window Execution State-change Notification",
        "source": "aws.ssm", "account": "111122223333", "time": "2026-11-26T03:02:41Z",
        "region": "eu-west-1", "resources": [],
        "detail": {"start-time": start_time, "end-time": "2026-11-26T03:02:40.907Z",
                   "window-id": STAGING, "window-execution-id": EXECUTION, "status": status}
    })
}

fn recheck_event() -> Value {
    json!({
        "version": "0", "id": "0f1e2d3c-4b5a-4697-8887-766554433221",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "111122223333",
        "time": "2026-11-29T01:30:00Z", "region": "eu-west-1", "resources": [], "detail": {}
    })
}

/// What the service says about the staging run and the account, per test.
#[derive(Clone)]
struct Account {
    /// The execution's status as GetMaintenanceWindowExecution reports it.
    status: Status,
    /// Whether DescribeMaintenanceWindowExecutions lists the execution for the staging window.
    listed: bool,
    /// Each staging instance: (id, last operation, its end, failed count).
    members: Vec<(&'static str, PatchOperationType, i64, i32)>,
    /// Production's unfinished executions.
    production_running: Vec<&'static str>,
    /// Composite alarms in ALARM.
    composite_alarms: Vec<&'static str>,
    /// The stored `gate#<execution>` item's attributes, if any.
    decision_item: Option<HashMap<String, AttributeValue>>,
    /// The stored latest pointer, if any: (execution id, start, open).
    latest: Option<(&'static str, i64, bool)>,
    /// Whether completing the decision (UpdateItem) is throttled.
    completing_throttled: bool,
    /// Whether UpdateMaintenanceWindow is refused.
    window_update_fails: bool,
    /// Production baselines the gate pins (`PRODUCTION_BASELINES`), each read as Amazon Linux 2023.
    production_baselines: Vec<&'static str>,
    /// The production baseline whose UpdatePatchBaseline is refused (AccessDeniedException).
    refused_baseline: Option<&'static str>,
    /// How many seconds before the test the gate last engaged the brake (`gate-brake#`), if ever.
    brake_engaged_ago: Option<i64>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            status: Status::Success,
            listed: true,
            members: vec![
                (
                    "i-00a00000000000001",
                    PatchOperationType::Install,
                    STARTED + 600,
                    0,
                ),
                (
                    "i-00a00000000000002",
                    PatchOperationType::Install,
                    STARTED + 700,
                    0,
                ),
            ],
            production_running: vec![],
            composite_alarms: vec![],
            decision_item: None,
            latest: None,
            completing_throttled: false,
            window_update_fails: false,
            production_baselines: vec![],
            refused_baseline: None,
            brake_engaged_ago: None,
        }
    }
}

/// The requests the gate sent, for the assertions.
#[derive(Default)]
struct Sent {
    window_updates: Mutex<Vec<bool>>,
    cancelled: Mutex<Vec<String>>,
    claimed: Mutex<Vec<HashMap<String, AttributeValue>>>,
    pointers: Mutex<Vec<HashMap<String, AttributeValue>>>,
    subjects: Mutex<Vec<String>>,
    alarm_types: Mutex<Vec<Vec<AlarmType>>>,
    task_reads: Mutex<usize>,
    /// Each UpdatePatchBaseline sent: the baseline, and each rule's (ApproveUntilDate, ApproveAfterDays).
    baseline_updates: Mutex<Vec<BaselineUpdate>>,
    /// Each brake record written (`gate-brake#…`).
    brake_records: Mutex<Vec<HashMap<String, AttributeValue>>>,
    /// How many times the brake record was read.
    brake_reads: Mutex<usize>,
}

type BaselineUpdate = (String, Vec<(Option<String>, Option<i32>)>);

/// Staging's baseline: registered for the group on Amazon Linux 2023, approving security patches
/// seven days after release.
const STAGING_BASELINE: &str = "pb-0c10000000000000a";

struct Harness {
    gate: Gate,
    sent: Arc<Sent>,
    _rules: Vec<Rule>,
}

fn harness(account: Account) -> Harness {
    let sent = Arc::new(Sent::default());
    let a = account.clone();
    let get_execution =
        mock!(aws_sdk_ssm::Client::get_maintenance_window_execution).then_output(move || {
            GetMaintenanceWindowExecutionOutput::builder()
                .window_execution_id(EXECUTION)
                .status(a.status.clone())
                .start_time(at(STARTED))
                .end_time(at(STARTED + 3600))
                .build()
        });
    let (listed, running) = (account.listed, account.production_running.clone());
    let list_executions = mock!(aws_sdk_ssm::Client::describe_maintenance_window_executions)
        .then_compute_output(move |req| {
            let mut out = DescribeMaintenanceWindowExecutionsOutput::builder();
            if req.window_id() == Some(STAGING) && listed {
                out = out.window_executions(
                    MaintenanceWindowExecution::builder()
                        .window_id(STAGING)
                        .window_execution_id(EXECUTION)
                        .status(Status::Success)
                        .start_time(at(STARTED))
                        .build(),
                );
            }
            if req.window_id() == Some(PRODUCTION) {
                for id in &running {
                    out = out.window_executions(
                        MaintenanceWindowExecution::builder()
                            .window_id(PRODUCTION)
                            .window_execution_id(*id)
                            .status(Status::InProgress)
                            .start_time(at(STARTED + 7200))
                            .build(),
                    );
                }
            }
            out.build()
        });
    let s = sent.clone();
    let tasks = mock!(aws_sdk_ssm::Client::describe_maintenance_window_execution_tasks)
        .then_compute_output(move |_| {
            *s.task_reads.lock().unwrap() += 1;
            DescribeMaintenanceWindowExecutionTasksOutput::builder()
                .window_execution_task_identities(
                    MaintenanceWindowExecutionTaskIdentity::builder()
                        .window_execution_id(EXECUTION)
                        .task_execution_id("t-1")
                        .task_arn("AWS-RunPatchBaseline")
                        .status(Status::Success)
                        .build(),
                )
                .build()
        });
    let members = account.members.clone();
    let invocations =
        mock!(aws_sdk_ssm::Client::describe_maintenance_window_execution_task_invocations)
            .then_compute_output(move |_| {
                let mut out = DescribeMaintenanceWindowExecutionTaskInvocationsOutput::builder();
                for (id, _, _, _) in &members {
                    out = out.window_execution_task_invocation_identities(
                        MaintenanceWindowExecutionTaskInvocationIdentity::builder()
                            .status(Status::Success)
                            .window_target_id("target")
                            .owner_information("")
                            .parameters(format!("{{\"InstanceIds\":[\"{id}\"]}}"))
                            .build(),
                    );
                }
                out.build()
            });
    let members = account.members.clone();
    let information = mock!(aws_sdk_ssm::Client::describe_instance_information)
        .then_compute_output(move |_| {
            let mut out = DescribeInstanceInformationOutput::builder();
            for (id, _, _, _) in &members {
                out = out.instance_information_list(
                    InstanceInformation::builder().instance_id(*id).build(),
                );
            }
            out.build()
        });
    let members = account.members.clone();
    let states = mock!(aws_sdk_ssm::Client::describe_instance_patch_states_for_patch_group)
        .then_compute_output(move |_| {
            let mut out = DescribeInstancePatchStatesForPatchGroupOutput::builder();
            for (id, operation, end, failed) in &members {
                out = out.instance_patch_states(
                    InstancePatchState::builder()
                        .instance_id(*id)
                        .patch_group("staging")
                        .baseline_id("pb-0c10000000000000a")
                        .operation(operation.clone())
                        .operation_start_time(at(end - 300))
                        .operation_end_time(at(*end))
                        .failed_count(*failed)
                        .build()
                        .unwrap(),
                );
            }
            out.build()
        });
    let fails = account.window_update_fails;
    let window_refused = mock!(aws_sdk_ssm::Client::update_maintenance_window)
        .match_requests(move |_| fails)
        .then_error(|| {
            aws_sdk_ssm::operation::update_maintenance_window::UpdateMaintenanceWindowError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
    let s = sent.clone();
    let update_window =
        mock!(aws_sdk_ssm::Client::update_maintenance_window).then_compute_output(move |req| {
            s.window_updates
                .lock()
                .unwrap()
                .push(req.enabled().unwrap());
            UpdateMaintenanceWindowOutput::builder().build()
        });
    let s = sent.clone();
    let cancel = mock!(aws_sdk_ssm::Client::cancel_maintenance_window_execution)
        .then_compute_output(move |req| {
            let id = req.window_execution_id().unwrap().to_owned();
            s.cancelled.lock().unwrap().push(id.clone());
            CancelMaintenanceWindowExecutionOutput::builder()
                .window_execution_id(id)
                .build()
        });
    let registered =
        mock!(aws_sdk_ssm::Client::get_patch_baseline_for_patch_group).then_output(|| {
            GetPatchBaselineForPatchGroupOutput::builder()
                .baseline_id(STAGING_BASELINE)
                .patch_group("staging")
                .operating_system(OperatingSystem::AmazonLinux2023)
                .build()
        });
    let baseline = mock!(aws_sdk_ssm::Client::get_patch_baseline).then_compute_output(|req| {
        let id = req.baseline_id().unwrap_or_default();
        let mut out = GetPatchBaselineOutput::builder()
            .baseline_id(id)
            .operating_system(OperatingSystem::AmazonLinux2023);
        if id == STAGING_BASELINE {
            let security = PatchFilterGroup::builder()
                .patch_filters(
                    PatchFilter::builder()
                        .key(PatchFilterKey::Classification)
                        .values("Security")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            out = out.approval_rules(
                PatchRuleGroup::builder()
                    .patch_rules(
                        PatchRule::builder()
                            .patch_filter_group(security)
                            .approve_after_days(7)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            );
        }
        out.build()
    });
    let effective = mock!(aws_sdk_ssm::Client::describe_effective_patches_for_patch_baseline)
        .then_output(|| DescribeEffectivePatchesForPatchBaselineOutput::builder().build());
    let refused = account.refused_baseline;
    let update_refused = mock!(aws_sdk_ssm::Client::update_patch_baseline)
        .match_requests(move |req| refused.is_some() && req.baseline_id() == refused)
        .then_error(|| {
            UpdatePatchBaselineError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: ssm:UpdatePatchBaseline")
                    .build(),
            )
        });
    let s = sent.clone();
    let update_baseline =
        mock!(aws_sdk_ssm::Client::update_patch_baseline).then_compute_output(move |req| {
            let rules = req
                .approval_rules()
                .map(|group| {
                    group
                        .patch_rules()
                        .iter()
                        .map(|rule| {
                            (
                                rule.approve_until_date().map(str::to_owned),
                                rule.approve_after_days(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            s.baseline_updates
                .lock()
                .unwrap()
                .push((req.baseline_id().unwrap_or_default().to_owned(), rules));
            UpdatePatchBaselineOutput::builder().build()
        });
    let ssm_rules = [
        &registered,
        &baseline,
        &effective,
        &update_refused,
        &update_baseline,
        &get_execution,
        &list_executions,
        &tasks,
        &invocations,
        &information,
        &states,
        &window_refused,
        &update_window,
        &cancel,
    ];
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &ssm_rules);

    let (decision_item, latest) = (account.decision_item.clone(), account.latest);
    // Fixed once: each read answers the same record, as the table would.
    let engaged_at = account
        .brake_engaged_ago
        .map(|ago| (chrono::Utc::now() - chrono::Duration::seconds(ago)).to_rfc3339());
    let s = sent.clone();
    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_compute_output(move |req| {
        let key = req.key().unwrap()["pk"].as_s().unwrap().clone();
        let mut out = GetItemOutput::builder();
        if key == format!("gate-brake#{PRODUCTION}") {
            *s.brake_reads.lock().unwrap() += 1;
            if let Some(at) = &engaged_at {
                out = out.item("engaged_at", AttributeValue::S(at.clone()));
            }
        } else if key == format!("gate#{EXECUTION}") {
            out = out.set_item(decision_item.clone());
        } else if key == format!("gate-latest#{STAGING}")
            && let Some((id, start, open)) = latest
        {
            out = out
                .item("execution_id", AttributeValue::S(id.into()))
                .item("execution_start", AttributeValue::N(start.to_string()))
                .item("execution_status", AttributeValue::S("SUCCESS".into()))
                .item("open", AttributeValue::Bool(open));
        }
        out.build()
    });
    let s = sent.clone();
    let put = mock!(aws_sdk_dynamodb::Client::put_item).then_compute_output(move |req| {
        let item = req.item().unwrap().clone();
        let key = item["pk"].as_s().unwrap().clone();
        if key.starts_with("gate-latest#") {
            s.pointers.lock().unwrap().push(item);
        } else if key.starts_with("gate-brake#") {
            s.brake_records.lock().unwrap().push(item);
        } else if item.contains_key("pending") {
            s.claimed.lock().unwrap().push(item);
        }
        PutItemOutput::builder().build()
    });
    let throttled = account.completing_throttled;
    let update_item = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |_| throttled)
        .then_error(|| {
            UpdateItemError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        });
    let update_ok = mock!(aws_sdk_dynamodb::Client::update_item)
        .then_output(|| UpdateItemOutput::builder().build());
    let dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        &[&get, &put, &update_item, &update_ok]
    );

    let s = sent.clone();
    let publish = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
        s.subjects
            .lock()
            .unwrap()
            .push(req.subject().unwrap_or_default().to_owned());
        PublishOutput::builder().message_id("m-1").build()
    });
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&publish]);

    let (s, composite) = (sent.clone(), account.composite_alarms.clone());
    let alarms =
        mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(move |req| {
            let types = req.alarm_types().to_vec();
            s.alarm_types.lock().unwrap().push(types.clone());
            let mut out = DescribeAlarmsOutput::builder();
            // As the API reference says: without AlarmTypes, only metric alarms are returned.
            if types.contains(&AlarmType::CompositeAlarm) {
                for name in &composite {
                    out = out.composite_alarms(
                        CompositeAlarm::builder()
                            .alarm_name(*name)
                            .state_value(StateValue::Alarm)
                            .build(),
                    );
                }
            }
            out.build()
        });
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&alarms]);

    let env: HashMap<&str, &str> = HashMap::from([
        ("STAGING_WINDOW_ID", STAGING),
        ("PRODUCTION_WINDOW_ID", PRODUCTION),
        ("STAGING_PATCH_GROUP", "staging"),
        ("HEALTH_ALARM_PREFIX", "svc-"),
        (
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:111122223333:patchpilot",
        ),
        ("STATE_TABLE", "state"),
    ]);
    let production_baselines = account.production_baselines.join(",");
    let mut env = env;
    if !production_baselines.is_empty() {
        env.insert("PRODUCTION_BASELINES", &production_baselines);
    }
    let gate = Gate::new(
        Clients {
            // No promotion bucket is configured here: S3 is never called.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                    .region(aws_sdk_s3::config::Region::new("eu-west-1"))
                    .build(),
            ),
            ssm,
            sns,
            cloudwatch,
            dynamodb,
        },
        GateConfig::from_env(&env).unwrap(),
    );
    Harness {
        gate,
        sent,
        _rules: vec![],
    }
}

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
