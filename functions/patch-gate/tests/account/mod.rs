//! The account the in-process tests run the gate in: every AWS client answered by
//! `aws-smithy-mocks`, what the service says set per test, what the gate sends read back.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Each test file uses part of it.
#![allow(dead_code, unused_imports)]

pub use std::collections::HashMap;
pub use std::sync::{Arc, Mutex};

pub use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
pub use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, StateValue};
pub use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
pub use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
pub use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
pub use aws_sdk_dynamodb::types::AttributeValue;
pub use aws_sdk_sns::operation::publish::PublishOutput;
pub use aws_sdk_ssm::operation::cancel_maintenance_window_execution::CancelMaintenanceWindowExecutionOutput;
pub use aws_sdk_ssm::operation::describe_effective_patches_for_patch_baseline::DescribeEffectivePatchesForPatchBaselineOutput;
pub use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
pub use aws_sdk_ssm::operation::describe_instance_patch_states_for_patch_group::DescribeInstancePatchStatesForPatchGroupOutput;
pub use aws_sdk_ssm::operation::describe_maintenance_window_execution_task_invocations::DescribeMaintenanceWindowExecutionTaskInvocationsOutput;
pub use aws_sdk_ssm::operation::describe_maintenance_window_execution_tasks::DescribeMaintenanceWindowExecutionTasksOutput;
pub use aws_sdk_ssm::operation::describe_maintenance_window_executions::DescribeMaintenanceWindowExecutionsOutput;
pub use aws_sdk_ssm::operation::get_maintenance_window_execution::GetMaintenanceWindowExecutionOutput;
pub use aws_sdk_ssm::operation::get_patch_baseline::GetPatchBaselineOutput;
pub use aws_sdk_ssm::operation::get_patch_baseline_for_patch_group::GetPatchBaselineForPatchGroupOutput;
pub use aws_sdk_ssm::operation::update_maintenance_window::UpdateMaintenanceWindowOutput;
pub use aws_sdk_ssm::operation::update_patch_baseline::{
    UpdatePatchBaselineError, UpdatePatchBaselineOutput,
};
pub use aws_sdk_ssm::types::{
    InstanceInformation, InstancePatchState, MaintenanceWindowExecution,
    MaintenanceWindowExecutionStatus as Status, MaintenanceWindowExecutionTaskIdentity,
    MaintenanceWindowExecutionTaskInvocationIdentity, OperatingSystem, PatchFilter,
    PatchFilterGroup, PatchFilterKey, PatchOperationType, PatchRule, PatchRuleGroup,
};
pub use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
pub use aws_smithy_types::DateTime as SmithyTime;
pub use patch_gate::config::GateConfig;
pub use patch_gate::production::{Effect, EffectKind, InMemoryProduction};
pub use patch_gate::{Clients, Gate, GateOutcome, Handler};
pub use serde_json::{Value, json};

pub const STAGING: &str = "mw-0c50858d01ff4a3b1";
pub const PRODUCTION: &str = "mw-0d61969e12ee5b4c2";
pub const EXECUTION: &str = "9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0";
/// When staging really started (2026-11-26T02:00:03Z).
pub const STARTED: i64 = 1_795_658_403;

pub fn at(secs: i64) -> SmithyTime {
    SmithyTime::from_secs(secs)
}

pub fn event(status: &str, start_time: &str) -> Value {
    json!({
        "version": "0", "id": "b2c3d4e5-f6a7-4890-abcd-ef0123456789",
        "detail-type": "Maintenance Window Execution State-change Notification",
        "source": "aws.ssm", "account": "111122223333", "time": "2026-11-26T03:02:41Z",
        "region": "eu-west-1", "resources": [],
        "detail": {"start-time": start_time, "end-time": "2026-11-26T03:02:40.907Z",
                   "window-id": STAGING, "window-execution-id": EXECUTION, "status": status}
    })
}

pub fn recheck_event() -> Value {
    json!({
        "version": "0", "id": "0f1e2d3c-4b5a-4697-8887-766554433221",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "111122223333",
        "time": "2026-11-29T01:30:00Z", "region": "eu-west-1", "resources": [], "detail": {}
    })
}

/// What the service says about the staging run and the account, per test.
#[derive(Clone)]
pub struct Account {
    /// The execution's status as GetMaintenanceWindowExecution reports it.
    pub status: Status,
    /// Whether DescribeMaintenanceWindowExecutions lists the execution for the staging window.
    pub listed: bool,
    /// Each staging instance: (id, last operation, its end, failed count).
    pub members: Vec<(&'static str, PatchOperationType, i64, i32)>,
    /// Production's unfinished executions.
    pub production_running: Vec<&'static str>,
    /// Composite alarms in ALARM.
    pub composite_alarms: Vec<&'static str>,
    /// The stored `gate#<execution>` item's attributes, if any.
    pub decision_item: Option<HashMap<String, AttributeValue>>,
    /// The stored latest pointer, if any: (execution id, start, open).
    pub latest: Option<(&'static str, i64, bool)>,
    /// Whether completing the decision (UpdateItem) is throttled.
    pub completing_throttled: bool,
    /// Whether UpdateMaintenanceWindow is refused.
    pub window_update_fails: bool,
    /// Production baselines the gate pins (`PRODUCTION_BASELINES`), each read as Amazon Linux 2023.
    pub production_baselines: Vec<&'static str>,
    /// The production baseline whose UpdatePatchBaseline is refused (AccessDeniedException).
    pub refused_baseline: Option<&'static str>,
    /// How many seconds before the test the gate last engaged the brake (`gate-brake#`), if ever.
    pub brake_engaged_ago: Option<i64>,
    /// `DRY_RUN`.
    pub dry_run: bool,
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
            dry_run: false,
        }
    }
}

/// The requests the gate sent, for the assertions.
#[derive(Default)]
pub struct Sent {
    pub window_updates: Mutex<Vec<bool>>,
    pub cancelled: Mutex<Vec<String>>,
    pub claimed: Mutex<Vec<HashMap<String, AttributeValue>>>,
    pub pointers: Mutex<Vec<HashMap<String, AttributeValue>>>,
    pub subjects: Mutex<Vec<String>>,
    pub alarm_types: Mutex<Vec<Vec<AlarmType>>>,
    pub task_reads: Mutex<usize>,
    /// Each UpdatePatchBaseline sent: the baseline, and each rule's (ApproveUntilDate, ApproveAfterDays).
    pub baseline_updates: Mutex<Vec<BaselineUpdate>>,
    /// Each brake record written (`gate-brake#…`).
    pub brake_records: Mutex<Vec<HashMap<String, AttributeValue>>>,
    /// How many times the brake record was read.
    pub brake_reads: Mutex<usize>,
}

pub type BaselineUpdate = (String, Vec<(Option<String>, Option<i32>)>);

/// Staging's baseline: registered for the group on Amazon Linux 2023, approving security patches
/// seven days after release.
pub const STAGING_BASELINE: &str = "pb-0c10000000000000a";

pub struct Harness {
    pub gate: Gate,
    pub sent: Arc<Sent>,
    pub _rules: Vec<Rule>,
}

/// The account's clients, its settings and what they were sent.
pub fn parts(account: Account) -> (Clients, GateConfig, Arc<Sent>) {
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
    if account.dry_run {
        env.insert("DRY_RUN", "true");
    }
    let clients = Clients {
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
        staging: None,
    };
    (clients, GateConfig::from_env(&env).unwrap(), sent)
}

/// The gate on `account`, acting through AWS clients answered by the mocks.
pub fn harness(account: Account) -> Harness {
    let (clients, config, sent) = parts(account);
    Harness {
        gate: Gate::new(clients, config),
        sent,
        _rules: vec![],
    }
}

/// The gate on `account`, acting on an in-memory production (`refusing` set on it first).
pub fn in_memory(
    account: Account,
    production: InMemoryProduction,
) -> (
    Gate<Arc<InMemoryProduction>>,
    Arc<InMemoryProduction>,
    Arc<Sent>,
) {
    let (clients, config, sent) = parts(account);
    let production = Arc::new(production);
    (
        Gate::with_production(clients, config, production.clone()),
        production,
        sent,
    )
}
