//! Staging in another account: every read about staging goes through the staging clients (the role
//! staging's account gives the gate), every change and every read about production stays in the
//! gate's own account. Staging's facts come from the mocked account (`account/`); production's
//! account answers only what production is asked, so a staging read sent there fails the test.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;

use account::*;
use aws_sdk_ssm::operation::describe_maintenance_window_executions::DescribeMaintenanceWindowExecutionsOutput as Executions;
use aws_sdk_ssm::operation::get_patch_baseline::GetPatchBaselineOutput as Baseline;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use patch_gate::handler::StagingClients;
use patchpilot_test_support::recorder::RecordedCall;
use std::collections::BTreeMap;

/// Records each call a client sends as IAM sees it: service prefix, operation, and the baseline it
/// names (the only resource-level member of staging's reads).
#[derive(Debug, Clone, Default)]
struct Recording(Arc<Mutex<Vec<RecordedCall>>>);

impl Intercept for Recording {
    fn name(&self) -> &'static str {
        "Recording"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg
            .load::<Metadata>()
            .expect("every operation has metadata");
        let service = metadata.service().to_ascii_lowercase();
        let input = context.input();
        let baseline = input
            .downcast_ref::<aws_sdk_ssm::operation::get_patch_baseline::GetPatchBaselineInput>()
            .and_then(|i| i.baseline_id().map(str::to_owned))
            .or_else(|| {
                input
                    .downcast_ref::<aws_sdk_ssm::operation::describe_effective_patches_for_patch_baseline::DescribeEffectivePatchesForPatchBaselineInput>()
                    .and_then(|i| i.baseline_id().map(str::to_owned))
            });
        let mut members = BTreeMap::new();
        if let Some(id) = baseline {
            members.insert("BaselineId".to_owned(), vec![id]);
        }
        self.0.lock().unwrap().push(RecordedCall {
            function: "patch-gate".to_owned(),
            service,
            operation: metadata.name().to_owned(),
            members,
        });
        Ok(())
    }
}

/// Production's account: its window's executions (none running) and its baselines (Amazon Linux
/// 2023), each call recorded by operation and what it asked for.
fn production_account(calls: Arc<Mutex<Vec<String>>>) -> (aws_sdk_ssm::Client, Vec<Rule>) {
    let c = calls.clone();
    let executions = mock!(aws_sdk_ssm::Client::describe_maintenance_window_executions)
        .then_compute_output(move |req| {
            c.lock().unwrap().push(format!(
                "DescribeMaintenanceWindowExecutions {}",
                req.window_id().unwrap_or_default()
            ));
            Executions::builder().build()
        });
    let c = calls;
    let baseline = mock!(aws_sdk_ssm::Client::get_patch_baseline).then_compute_output(move |req| {
        let id = req.baseline_id().unwrap_or_default().to_owned();
        c.lock().unwrap().push(format!("GetPatchBaseline {id}"));
        Baseline::builder()
            .baseline_id(id)
            .operating_system(OperatingSystem::AmazonLinux2023)
            .build()
    });
    let client = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&executions, &baseline]);
    (client, vec![executions, baseline])
}

/// The gate with staging behind `StagingClients` and production's own account apart.
struct Across {
    gate: Gate<Arc<InMemoryProduction>>,
    production: Arc<InMemoryProduction>,
    sent: Arc<Sent>,
    /// Production's account: what it was asked.
    production_calls: Arc<Mutex<Vec<String>>>,
    /// Staging's account: every call, as IAM sees it.
    staging_calls: Recording,
}

fn gate_across_accounts(account: Account) -> Across {
    gate_across(account, false)
}

/// Refuses every call before it is sent, as the SDK does when staging's role cannot be assumed
/// (the credentials provider's AssumeRole fails, so no request is signed).
#[derive(Debug, Clone)]
struct RoleRefused;

impl Intercept for RoleRefused {
    fn name(&self) -> &'static str {
        "RoleRefused"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Err("AccessDenied: patchpilot-gate is not authorized to perform sts:AssumeRole on arn:aws:iam::222233334444:role/patchpilot-staging-reader".into())
    }
}

/// The gate across accounts; with `locked_out`, staging's role cannot be assumed.
fn gate_across(account: Account, locked_out: bool) -> Across {
    let (mut clients, config, sent) = parts(account);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recording = Recording::default();
    let (production_ssm, _rules) = production_account(calls.clone());
    let ssm = clients
        .ssm
        .config()
        .to_builder()
        .interceptor(recording.clone());
    let cloudwatch = clients
        .cloudwatch
        .config()
        .to_builder()
        .interceptor(recording.clone());
    let (ssm, cloudwatch) = if locked_out {
        (
            ssm.interceptor(RoleRefused),
            cloudwatch.interceptor(RoleRefused),
        )
    } else {
        (ssm, cloudwatch)
    };
    clients.staging = Some(StagingClients {
        ssm: aws_sdk_ssm::Client::from_conf(ssm.build()),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch.build()),
    });
    clients.ssm = production_ssm;
    // Production's CloudWatch answers nothing: staging's health alarms are staging's.
    clients.cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[]);
    let production = Arc::new(InMemoryProduction::new());
    let gate = Gate::with_production(clients, config, production.clone());
    Across {
        gate,
        production,
        sent,
        production_calls: calls,
        staging_calls: recording,
    }
}

#[tokio::test]
async fn a_clean_staging_run_in_its_account_pins_and_opens_production_in_this_one() {
    let Across {
        gate,
        production,
        sent,
        production_calls: calls,
        ..
    } = gate_across_accounts(Account {
        production_baselines: vec!["pb-0c10000000000000b"],
        ..Account::default()
    });
    let report = gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(true), "{:?}", report.checks);
    // Staging's execution, tasks and patch states were read in staging's account...
    assert!(*sent.task_reads.lock().unwrap() > 0);
    // ...production's baseline in this one, and nothing else.
    assert_eq!(
        *calls.lock().unwrap(),
        ["GetPatchBaseline pb-0c10000000000000b"]
    );
    let effects = production.effects();
    assert!(
        matches!(&effects[0], Effect::Pinned(p) if p.staging_baseline_id == "pb-0c10000000000000a")
    );
    assert!(matches!(&effects[1], Effect::Window { enabled: true, .. }));
}

#[tokio::test]
async fn a_staging_alarm_in_its_account_closes_production_in_this_one() {
    let Across {
        gate,
        production,
        production_calls: calls,
        ..
    } = gate_across_accounts(Account {
        composite_alarms: vec!["svc-checkout-health"],
        ..Account::default()
    });
    let report = gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    assert!(
        report
            .checks
            .iter()
            .any(|c| !c.passed && c.detail.contains("svc-checkout-health"))
    );
    // Closing looks for production's running executions in production's account.
    assert_eq!(
        *calls.lock().unwrap(),
        [format!("DescribeMaintenanceWindowExecutions {PRODUCTION}")]
    );
    assert!(matches!(
        production.effects()[0],
        Effect::Window { enabled: false, .. }
    ));
}

/// templates/staging-access.yaml as staging's account deploys it for the production stack
/// `patchpilot` in account 111122223333.
fn staging_access() -> (
    patchpilot_test_support::template::Template,
    Vec<(&'static str, &'static str)>,
) {
    let path = patchpilot_test_support::workspace_root().join("templates/staging-access.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    (
        patchpilot_test_support::template::Template::from_yaml(&text).unwrap(),
        vec![
            ("GateAccountId", "111122223333"),
            ("GateRegion", "eu-west-1"),
            ("GateStackName", "patchpilot"),
            ("StagingWindowId", STAGING),
        ],
    )
}

/// Every call the gate makes in staging's account, opening and closing, is allowed by the reader
/// role staging's template creates; the role allows reading only.
#[tokio::test]
async fn every_staging_read_is_allowed_by_the_role_stagings_template_creates() {
    use patchpilot_test_support::iam::{Decision, decide, requests, role};
    use patchpilot_test_support::template::Deployment;
    let mut calls = Vec::new();
    for account in [
        Account {
            production_baselines: vec!["pb-0c10000000000000b"],
            ..Account::default()
        },
        Account {
            composite_alarms: vec!["svc-checkout-health"],
            ..Account::default()
        },
    ] {
        let across = gate_across_accounts(account);
        across
            .gate
            .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
            .await
            .unwrap();
        calls.extend(across.staging_calls.0.lock().unwrap().clone());
    }
    let operations: std::collections::BTreeSet<String> = calls
        .iter()
        .map(|call| format!("{}:{}", call.service, call.operation))
        .collect();
    for expected in [
        "ssm:GetMaintenanceWindowExecution",
        "ssm:DescribeMaintenanceWindowExecutionTasks",
        "ssm:DescribeInstancePatchStatesForPatchGroup",
        "ssm:GetPatchBaseline",
        "cloudwatch:DescribeAlarms",
    ] {
        assert!(
            operations.contains(expected),
            "{expected} in {operations:?}"
        );
    }
    let (template, parameters) = staging_access();
    let deployment = Deployment::try_new(&template, &parameters).unwrap();
    let reader = role(&template, &deployment, "StagingReader").unwrap();
    for call in &calls {
        for request in requests(call, "222233334444", "eu-west-1", &BTreeMap::new()) {
            assert_eq!(
                decide(&reader.statements, &request).unwrap(),
                Decision::Allow,
                "{request:?}"
            );
        }
    }
    for statement in &reader.statements {
        for action in &statement.actions {
            let verb = action.split(':').nth(1).unwrap_or_default();
            assert!(
                ["Get", "Describe", "List"]
                    .iter()
                    .any(|read| verb.starts_with(read)),
                "the reader role allows {action}"
            );
        }
    }
}

/// Only the production stack's gate may assume the reader role: its account, and the role name
/// CloudFormation gives the gate's SAM-generated role.
#[test]
fn only_the_production_gate_may_assume_the_reader_role() {
    use patchpilot_test_support::template::Deployment;
    let (template, parameters) = staging_access();
    let deployment = Deployment::try_new(&template, &parameters).unwrap();
    let trust = deployment
        .resolve(&template.resource("StagingReaderRole")["Properties"]["AssumeRolePolicyDocument"])
        .unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(
        statement["Principal"]["AWS"],
        "arn:aws:iam::111122223333:root"
    );
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert_eq!(
        statement["Condition"]["ArnLike"]["aws:PrincipalArn"],
        "arn:aws:iam::111122223333:role/patchpilot-PatchGateFunctionRole-*"
    );
    // The gate's role is the one SAM generates (no Role of its own), named after its logical id.
    let gate = patchpilot_test_support::template::Template::load();
    assert!(gate.resource("PatchGateFunction")["Properties"]["Role"].is_null());
    assert_eq!(
        deployment
            .resolve(&template.resource("StagingReaderRole")["Properties"]["RoleName"])
            .unwrap(),
        "patchpilot-staging-reader"
    );
}

/// A staging account the gate cannot read (its role missing, or refusing the gate): a decision is an
/// error that names the refusal, so Lambda retries and then dead-letters it (the failure queue's alarm
/// pages), and production is not opened on facts nobody read.
#[tokio::test]
async fn a_staging_account_the_gate_cannot_read_opens_nothing_and_fails_loudly() {
    let across = gate_across(Account::default(), true);
    let err = across
        .gate
        .handle(event("SUCCESS", "2026-11-26T02:00:03.118Z"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("sts:AssumeRole"), "{text}");
    assert!(
        across.production.effects().is_empty(),
        "{:?}",
        across.production.effects()
    );
    assert!(across.sent.subjects.lock().unwrap().is_empty());
}

/// The re-check before production, when staging has become unreadable since an open decision:
/// production is closed, not left open on a judgement it can no longer confirm.
#[tokio::test]
async fn the_recheck_closes_production_when_staging_cannot_be_read() {
    let across = gate_across(
        Account {
            latest: Some((EXECUTION, STARTED, true)),
            decision_item: Some(std::collections::HashMap::from([(
                "record".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S(
                    serde_json::json!({"open": true, "failed_instances": []}).to_string(),
                ),
            )])),
            ..Account::default()
        },
        true,
    );
    let report = across.gate.handle(recheck_event()).await.unwrap();
    assert_eq!(report.open, Some(false), "{:?}", report.checks);
    assert!(
        report
            .checks
            .iter()
            .any(|check| !check.passed && check.detail.contains("sts:AssumeRole")),
        "{:?}",
        report.checks
    );
    assert!(
        across
            .production
            .effects()
            .iter()
            .any(|effect| matches!(effect, Effect::Window { enabled: false, .. })),
        "{:?}",
        across.production.effects()
    );
}
