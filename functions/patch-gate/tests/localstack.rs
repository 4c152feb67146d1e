//! patch-gate against the SSM simulator (the patch-week scenario: staging and production windows,
//! baselines, a staging group), LocalStack (SNS topic with an SQS subscriber, CloudWatch alarms) and
//! moto (the decision table). Window states, baselines and messages are read back, not taken from the
//! function's report.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patch_gate::Handler;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use patch_gate::config::GateConfig;
use patch_gate::decide::CheckName;
use patch_gate::{Clients, Gate, GateOutcome};
use patchpilot_shared::ErrorClass;
use patchpilot_test_support::resources::Outbox;
use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
use patchpilot_test_support::ssm_sim::scenario::Scenario;
use patchpilot_test_support::ssm_sim::state::State;
use patchpilot_test_support::{Simulator, unique_name, workspace_root};
use serde_json::{Value, json};

const STAGING: &str = "mw-0c50858d01ff4a3b1";
const PRODUCTION: &str = "mw-0d61969e12ee5b4c2";
const PRODUCTION_BASELINE: &str = "pb-0c10000000000000b";

fn scenario() -> State {
    let text =
        std::fs::read_to_string(workspace_root().join("tooling/ssm-sim/scenarios/patch-week.json"))
            .unwrap();
    Scenario::from_json(&text).unwrap().into_state().unwrap()
}

struct Fixture {
    clients: Clients,
    outbox: Outbox,
    sim: Simulator,
}

async fn fixture() -> Fixture {
    let outbox = Outbox::create("gate").await;
    let sim = Simulator::start(scenario());
    Fixture {
        clients: Clients {
            ssm: sim.client().await,
            sns: outbox.sns.clone(),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&outbox.config),
            dynamodb: outbox.dynamodb.clone(),
            s3: patch_gate::handler::s3_client(&outbox.config),
            staging: None,
        },
        outbox,
        sim,
    }
}

impl Fixture {
    fn gate(&self, extra: &[(&str, &str)]) -> Gate {
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("STAGING_WINDOW_ID", STAGING),
            ("PRODUCTION_WINDOW_ID", PRODUCTION),
            ("STAGING_PATCH_GROUP", "staging"),
            // A bare id: the gate reads the baseline's operating system itself.
            ("PRODUCTION_BASELINES", PRODUCTION_BASELINE),
            ("ALERT_TOPIC_ARN", self.outbox.topic_arn.as_str()),
            ("STATE_TABLE", self.outbox.table.as_str()),
            ("RETRY_MAX_ATTEMPTS", "2"),
        ]);
        env.extend(extra.iter().copied());
        Gate::new(self.clients.clone(), GateConfig::from_env(&env).unwrap())
    }

    /// Runs the staging window in the simulator; returns its execution-finished event.
    fn run_staging(
        &self,
        outcomes: &[(&str, &str)],
        start: chrono::DateTime<chrono::Utc>,
    ) -> Value {
        let outcomes = outcomes
            .iter()
            .map(|(id, status)| {
                let outcome: InstanceOutcome =
                    serde_json::from_value(json!({"status": status})).unwrap();
                ((*id).to_owned(), outcome)
            })
            .collect();
        self.run_staging_with(outcomes, None, start)
    }

    /// Runs the staging window with these outcomes (and, when given, this execution status).
    fn run_staging_with(
        &self,
        outcomes: BTreeMap<String, InstanceOutcome>,
        status: Option<String>,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Value {
        let mut state = self.sim.sim.app.state.write().unwrap();
        let request = RunRequest {
            window_id: STAGING.into(),
            outcomes,
            status,
            verification: None,
            start: Some(start),
            duration_minutes: 30,
            alarm_states: Default::default(),
            override_lists: Default::default(),
        };
        run_window(&mut state, request, &mut fastrand::Rng::new())
            .unwrap()
            .events
            .into_iter()
            .find(|e| e["detail-type"] == "Maintenance Window Execution State-change Notification")
            .expect("the run emits the execution event")
    }

    async fn production_enabled(&self) -> bool {
        self.clients
            .ssm
            .get_maintenance_window()
            .window_id(PRODUCTION)
            .send()
            .await
            .unwrap()
            .enabled()
    }

    async fn set_production(&self, enabled: bool) {
        self.clients
            .ssm
            .update_maintenance_window()
            .window_id(PRODUCTION)
            .enabled(enabled)
            .send()
            .await
            .unwrap();
    }

    async fn production_cutoffs(&self) -> Vec<(Option<i32>, Option<String>)> {
        let baseline = self
            .clients
            .ssm
            .get_patch_baseline()
            .baseline_id(PRODUCTION_BASELINE)
            .send()
            .await
            .unwrap();
        baseline
            .approval_rules()
            .unwrap()
            .patch_rules()
            .iter()
            .map(|r| {
                (
                    r.approve_after_days(),
                    r.approve_until_date().map(str::to_owned),
                )
            })
            .collect()
    }

    async fn messages(&self, expected: usize) -> Vec<Value> {
        let wait = Duration::from_secs(15);
        self.outbox.messages(expected, wait).await
    }
}

fn start() -> chrono::DateTime<chrono::Utc> {
    // A Thursday 02:00 in the recent past, so every report is "after the execution started".
    chrono::Utc::now() - chrono::Duration::hours(6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_staging_run_opens_production_and_pins_its_baseline_once() {
    let fixture = fixture().await;
    assert!(
        !fixture.production_enabled().await,
        "the scenario starts with production disabled"
    );
    let started = start();
    let event = fixture.run_staging(&[], started);
    let report = fixture.gate(&[]).handle(event.clone()).await.unwrap();
    assert_eq!(report.outcome, GateOutcome::Decided);
    assert_eq!(report.open, Some(true), "{:#?}", report.checks);
    assert!(fixture.production_enabled().await);
    // ApproveAfterDays 2: the last whole day before (start − 2 days).
    let expected_cutoff = (started.date_naive() - chrono::Days::new(3))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        fixture.production_cutoffs().await,
        vec![(None, Some(expected_cutoff.clone()))]
    );
    let messages = fixture.messages(1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["Subject"],
        format!("Patch gate OPEN: {PRODUCTION} enabled after staging passed")
    );
    let doc: Value = serde_json::from_str(messages[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc["pinned"][0]["cutoffs"][0]["approve_until_date"],
        expected_cutoff
    );
    assert_eq!(messages[0]["MessageAttributes"]["gate"]["Value"], "open");

    // The same event again (EventBridge retried it): nothing is repeated.
    fixture.set_production(false).await;
    let again = fixture.gate(&[]).handle(event).await.unwrap();
    assert_eq!(again.outcome, GateOutcome::Duplicate);
    assert_eq!(again.open, Some(true));
    assert!(
        !fixture.production_enabled().await,
        "a duplicate changes nothing"
    );
    assert!(fixture.messages(0).await.is_empty());
}

/// The exact versions the simulator's staging instances run: what the promoted list must hold.
fn staging_runs(fixture: &Fixture) -> Vec<(String, String)> {
    use patchpilot_test_support::ssm_sim::state::PatchState;
    let state = fixture.sim.sim.app.state.read().unwrap();
    let mut runs: Vec<(String, String)> = state.group_members["staging"]
        .iter()
        .flat_map(|id| &state.instances[id].patches)
        .filter(|patch| patch.state == PatchState::Installed)
        .map(|patch| {
            let info = &state.catalog[patch.patch as usize];
            (info.id.clone(), info.title.clone())
        })
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_staging_run_promotes_exactly_the_versions_staging_runs() {
    let fixture = fixture().await;
    let (bucket, s3) = promotion_bucket(&fixture).await;
    let event = fixture.run_staging(&[], start());
    let report = fixture
        .gate(&[("PROMOTION_BUCKET", bucket.as_str())])
        .handle(event)
        .await
        .unwrap();
    assert_eq!(report.open, Some(true), "{:#?}", report.checks);
    let expected = staging_runs(&fixture);
    assert!(!expected.is_empty(), "the staging run installed patches");

    let key = patch_gate::config::promotion_key(PRODUCTION);
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    let list: serde_yaml::Value = serde_yaml::from_slice(&body).unwrap();
    let listed: Vec<(String, String)> = list["patches"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["id"].as_str().unwrap().to_owned(),
                entry["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(listed, expected);
    let promoted = report.promoted.expect("the report says what was promoted");
    assert_eq!(promoted.url, format!("s3://{bucket}/{key}"));
    assert_eq!(promoted.entries, expected.len());
    assert_eq!(promoted.instances_unread, 0);
    assert!(promoted.installed_this_run > 0, "{promoted:?}");
    // The record beside the list reads back as the gate's own type.
    let record = s3
        .get_object()
        .bucket(&bucket)
        .key(patch_gate::config::promotion_record_key(PRODUCTION))
        .send()
        .await
        .unwrap();
    let record: patch_gate::promote::Promotion =
        serde_json::from_slice(&record.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(record.entries.len(), expected.len());
}

/// A bucket in the fixture's LocalStack account and the gate's S3 client.
async fn promotion_bucket(fixture: &Fixture) -> (String, aws_sdk_s3::Client) {
    let bucket = unique_name("promotion").to_ascii_lowercase();
    let s3 = patch_gate::handler::s3_client(&fixture.outbox.config);
    let region = fixture.outbox.config.region().unwrap().to_string();
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    (bucket, s3)
}

/// Production's run, installing from the promoted list, checked by the gate when it ends: within the
/// list it says so and pages nobody; an install outside it (a package someone installed by hand
/// during the run) pages `Promotion.Exceeded` naming package, version and instance, and is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_run_outside_the_promoted_list_pages_promotion_exceeded() {
    use patchpilot_test_support::ssm_sim::state::{InstancePatch, PatchInfo, PatchState};
    let fixture = fixture().await;
    let (bucket, s3) = promotion_bucket(&fixture).await;
    let gate = fixture.gate(&[("PROMOTION_BUCKET", bucket.as_str())]);
    let staged = start();
    let report = gate.handle(fixture.run_staging(&[], staged)).await.unwrap();
    assert_eq!(report.open, Some(true), "{:#?}", report.checks);
    assert_eq!(fixture.messages(1).await.len(), 1, "the opening");

    // Production's task installs from the list, as `patchpilot gate promote` leaves it.
    let key = patch_gate::config::promotion_key(PRODUCTION);
    let url = format!("s3://{bucket}/{key}");
    let list = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let list = String::from_utf8(list.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    let production_start = staged + chrono::Duration::hours(1);
    let run = |plant: bool| {
        let mut state = fixture.sim.sim.app.state.write().unwrap();
        state.windows.get_mut(PRODUCTION).unwrap().tasks[0]
            .parameters
            .insert("InstallOverrideList".into(), vec![url.clone()]);
        if plant {
            let index = state.catalog.len() as u32;
            state.catalog.push(PatchInfo {
                id: "telnet.x86_64".into(),
                title: "telnet.x86_64:1:0.17-85.amzn2023".into(),
                classification: "Bugfix".into(),
                severity: "Low".into(),
                compliance_level: "LOW".into(),
                cve_ids: None,
                release_date: None,
                repository: None,
            });
            state.catalog_index.insert("telnet.x86_64".into(), index);
            let instance = state.instances.get_mut("i-00a00000000000065").unwrap();
            instance.patches.push(InstancePatch {
                patch: index,
                state: PatchState::Installed,
                installed_time: Some(production_start + chrono::Duration::minutes(5)),
            });
        }
        let request = RunRequest {
            window_id: PRODUCTION.into(),
            outcomes: BTreeMap::new(),
            status: None,
            verification: None,
            start: Some(production_start),
            duration_minutes: 30,
            alarm_states: Default::default(),
            override_lists: BTreeMap::from([(url.clone(), list.clone())]),
        };
        run_window(&mut state, request, &mut fastrand::Rng::new())
            .unwrap()
            .events
            .into_iter()
            .find(|e| e["detail-type"] == "Maintenance Window Execution State-change Notification")
            .unwrap()
    };

    let clean = gate.handle(run(false)).await.unwrap();
    assert_eq!(clean.outcome, GateOutcome::Verified, "{:?}", clean.reason);
    let verified = clean.verified.unwrap();
    assert!(verified.installs > 0, "{verified:?}");
    assert!(verified.exceeded.is_empty(), "{verified:?}");
    assert!(
        fixture.messages(0).await.is_empty(),
        "within the list: no page"
    );

    let planted = gate.handle(run(true)).await.unwrap();
    let verified = planted.verified.unwrap();
    assert_eq!(
        verified
            .exceeded
            .iter()
            .map(|e| (e.id.as_str(), e.title.as_str(), e.instance_id.as_str()))
            .collect::<Vec<_>>(),
        [(
            "telnet.x86_64",
            "telnet.x86_64:1:0.17-85.amzn2023",
            "i-00a00000000000065"
        )]
    );
    let pages = fixture.messages(1).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(
        pages[0]["Subject"],
        format!("Promotion exceeded: {PRODUCTION} installed 1 version staging never ran")
    );
    assert_eq!(
        pages[0]["MessageAttributes"]["kind"]["Value"],
        "promotion_exceeded"
    );
    let doc: Value = serde_json::from_str(pages[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["kind"], "Promotion.Exceeded");
    assert_eq!(
        doc["verification"]["exceeded"][0]["instance_id"],
        "i-00a00000000000065"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_bucket_the_gate_cannot_write_keeps_production_closed() {
    let fixture = fixture().await;
    let event = fixture.run_staging(&[], start());
    let missing = unique_name("no-such-bucket").to_ascii_lowercase();
    let report = fixture
        .gate(&[("PROMOTION_BUCKET", missing.as_str())])
        .handle(event)
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    let check = report
        .checks
        .iter()
        .find(|check| check.name == CheckName::ProductionPinned)
        .expect("the pin check says why");
    assert!(!check.passed);
    assert!(check.detail.contains(&missing), "{}", check.detail);
    assert!(!fixture.production_enabled().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_install_in_staging_closes_production_and_says_why() {
    let fixture = fixture().await;
    fixture.set_production(true).await;
    let event = fixture.run_staging(&[("i-00a00000000000002", "Failed")], start());
    let report = fixture.gate(&[]).handle(event).await.unwrap();
    assert_eq!(report.open, Some(false));
    assert_eq!(report.failed_instances, ["i-00a00000000000002"]);
    assert!(!fixture.production_enabled().await);
    let before = fixture.production_cutoffs().await;
    assert_eq!(before, vec![(Some(5), None)], "a closed gate pins nothing");
    let messages = fixture.messages(1).await;
    assert_eq!(messages.len(), 1);
    let subject = messages[0]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!("Patch gate CLOSED: {PRODUCTION} disabled")),
        "{subject}"
    );
    let doc: Value = serde_json::from_str(messages[0]["Message"].as_str().unwrap()).unwrap();
    let failed: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "execution_succeeded",
            "patch_tasks_succeeded",
            "no_failed_patches"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_health_alarm_closes_the_gate() {
    let fixture = fixture().await;
    let prefix = unique_name("staging-health");
    let alarm = format!("{prefix}-5xx");
    let cloudwatch = &fixture.clients.cloudwatch;
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("Staging")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let event = fixture.run_staging(&[], start());
    let report = fixture
        .gate(&[("HEALTH_ALARM_PREFIX", &prefix)])
        .handle(event)
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    let health = report
        .checks
        .iter()
        .find(|c| c.name == CheckName::HealthAlarmsOk)
        .unwrap();
    assert!(
        !health.passed && health.detail.contains(&alarm),
        "{health:?}"
    );
    assert!(!fixture.production_enabled().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_the_changes_and_makes_none() {
    let fixture = fixture().await;
    let event = fixture.run_staging(&[], start());
    let report = fixture
        .gate(&[("DRY_RUN", "true")])
        .handle(event)
        .await
        .unwrap();
    assert_eq!(report.open, Some(true));
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.starts_with("would pin pb-0c10000000000000b")),
        "{:?}",
        report.actions
    );
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.starts_with("would enable production window"))
    );
    assert!(!fixture.production_enabled().await);
    assert_eq!(fixture.production_cutoffs().await, vec![(Some(5), None)]);
    assert!(fixture.messages(0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_execution_after_a_newer_decision_is_ignored() {
    let fixture = fixture().await;
    let older = fixture.run_staging(
        &[("i-00a00000000000001", "Failed")],
        start() - chrono::Duration::days(7),
    );
    let newer = fixture.run_staging(&[], start());
    let gate = fixture.gate(&[]);
    assert_eq!(gate.handle(newer).await.unwrap().open, Some(true));
    let late = gate.handle(older).await.unwrap();
    assert_eq!(late.outcome, GateOutcome::Stale);
    assert!(
        fixture.production_enabled().await,
        "the late failure does not undo the newer decision"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_staging_group_fails_closed() {
    let fixture = fixture().await;
    fixture.set_production(true).await;
    let event = fixture.run_staging(&[], start());
    let bad_group = "g".repeat(300);
    let report = fixture
        .gate(&[("STAGING_PATCH_GROUP", &bad_group)])
        .handle(event)
        .await
        .unwrap();
    assert_eq!(report.open, Some(false));
    let reported = report
        .checks
        .iter()
        .find(|c| c.name == CheckName::InstancesReported)
        .unwrap();
    assert!(
        reported.detail.starts_with("could not read"),
        "{reported:?}"
    );
    assert!(!fixture.production_enabled().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_disabling_fails_the_error_is_retryable() {
    let fixture = fixture().await;
    let event = fixture.run_staging(&[("i-00a00000000000001", "Failed")], start());
    // Every SSM call fails from now on: the gate can neither read nor disable.
    fixture
        .sim
        .sim
        .app
        .faults
        .set(patchpilot_test_support::ssm_sim::faults::FaultSettings {
            error_rate: 1.0,
            ..Default::default()
        });
    // The gate reads the execution's real state first: that read fails, nothing is decided, and the
    // error is one Lambda retries (the in-process tests cover a failing UpdateMaintenanceWindow).
    let err = fixture.gate(&[]).handle(event).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert!(err.to_string().contains("ssm:"), "{err}");
    assert!(fixture.messages(0).await.is_empty(), "nobody paged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recheck_closes_production_when_staging_went_bad_since() {
    let fixture = fixture().await;
    let gate = fixture.gate(&[]);
    let event = fixture.run_staging(&[], start());
    assert_eq!(gate.handle(event).await.unwrap().open, Some(true));
    let scheduled: Value = serde_json::from_str(include_str!(
        "../../../events/patch-gate/scheduled-recheck.json"
    ))
    .unwrap();
    let clean = gate.handle(scheduled.clone()).await.unwrap();
    assert_eq!(
        (clean.outcome, clean.open),
        (GateOutcome::Rechecked, Some(true))
    );
    assert!(fixture.production_enabled().await);
    // During the soak an instance reports a failed Install (the re-check judges what is new).
    {
        let mut state = fixture.sim.sim.app.state.write().unwrap();
        let instance = state.instances.get_mut("i-00a00000000000003").unwrap();
        instance.counts.failed = 1;
    }
    let bad = gate.handle(scheduled).await.unwrap();
    assert_eq!(
        (bad.outcome, bad.open),
        (GateOutcome::Rechecked, Some(false))
    );
    assert!(!fixture.production_enabled().await);
    let messages = fixture.messages(2).await;
    assert_eq!(messages.len(), 2, "the opening and the re-check's closing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_windows_and_unfinished_executions_are_ignored() {
    let fixture = fixture().await;
    let gate = fixture.gate(&[]);
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../events/patch-gate/staging-window-success.json"
    ))
    .unwrap();
    event["detail"]["window-id"] = json!("mw-0e72a7af23ff6c5d3");
    assert_eq!(
        gate.handle(event.clone()).await.unwrap().outcome,
        GateOutcome::Ignored
    );
    event["detail"]["window-id"] = json!(STAGING);
    event["detail"]["status"] = json!("IN_PROGRESS");
    assert_eq!(
        gate.handle(event).await.unwrap().outcome,
        GateOutcome::Ignored
    );
    assert!(fixture.messages(0).await.is_empty());
}

/// Runs staging with `failing` failing on `patch` while the execution still ends SUCCESS (a task whose
/// MaxErrors tolerates them).
fn run_staging_tolerated(
    fixture: &Fixture,
    failing: &str,
    patch: &str,
    start: chrono::DateTime<chrono::Utc>,
) -> Value {
    let outcome: InstanceOutcome =
        serde_json::from_value(json!({"status": "Failed", "failed_patches": [patch]})).unwrap();
    fixture.run_staging_with(
        BTreeMap::from([(failing.to_owned(), outcome)]),
        Some("SUCCESS".into()),
        start,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tolerated_failure_opens_and_rejects_its_patches() {
    let fixture = fixture().await;
    let event = run_staging_tolerated(&fixture, "i-00a00000000000002", "kernel.x86_64", start());
    let report = fixture
        .gate(&[("MAX_FAILED_INSTANCES", "1")])
        .handle(event)
        .await
        .unwrap();
    assert_eq!(report.open, Some(true), "{:#?}", report.checks);
    assert_eq!(report.failed_instances, ["i-00a00000000000002"]);
    // The simulator answers DescribeInstancePatches in the live spelling (State "Failed"); the gate
    // still finds the failed patch and rejects it by package name, as Amazon Linux takes it.
    let production = fixture
        .clients
        .ssm
        .get_patch_baseline()
        .baseline_id(PRODUCTION_BASELINE)
        .send()
        .await
        .unwrap();
    assert_eq!(production.rejected_patches(), ["kernel.x86_64"]);
    let messages = fixture.messages(1).await;
    let doc: Value = serde_json::from_str(messages[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc["pinned"][0]["rejected_patches"],
        json!(["kernel.x86_64"])
    );
    assert_eq!(doc["pinned"][0]["unrejectable"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_becomes_a_field_by_field_copy_of_staging_frozen_at_the_run() {
    let fixture = fixture().await;
    // Staging's baseline uses every field that changes what is approved or how compliance is
    // reported; production starts out different in each.
    {
        let mut state = fixture.sim.sim.app.state.write().unwrap();
        let staging = state.baselines.get_mut("pb-0c10000000000000a").unwrap();
        staging.global_filters = Some(json!({"PatchFilters": [
            {"Key": "PRODUCT", "Values": ["AmazonLinux2023"]},
            {"Key": "CLASSIFICATION", "Values": ["Security", "Bugfix"]}
        ]}));
        staging.approval_rules = Some(json!({"PatchRules": [
            {"PatchFilterGroup": {"PatchFilters": [{"Key": "SEVERITY", "Values": ["Critical", "Important"]}]},
             "ComplianceLevel": "CRITICAL", "ApproveAfterDays": 2, "EnableNonSecurity": false},
            {"PatchFilterGroup": {"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Bugfix"]}]},
             "ComplianceLevel": "LOW", "ApproveUntilDate": "2099-12-31", "EnableNonSecurity": true}
        ]}));
        staging.approved_patches = vec!["curl.x86_64".into()];
        staging.approved_patches_compliance_level = "HIGH".into();
        staging.approved_patches_enable_non_security = true;
        staging.rejected_patches = vec!["python3.x86_64".into()];
        staging.rejected_patches_action = "BLOCK".into();
        staging.sources = vec![json!({
            "Name": "internal-mirror", "Products": ["AmazonLinux2023"],
            "Configuration": "[internal]\nname=Internal\nbaseurl=https://mirror.example/al2023\nenabled=1"
        })];
        let production = state.baselines.get_mut(PRODUCTION_BASELINE).unwrap();
        production.sources = vec![json!({
            "Name": "old-mirror", "Products": ["AmazonLinux2023"],
            "Configuration": "[old]\nbaseurl=https://old.example"
        })];
        production.approved_patches = vec!["glibc.x86_64".into()];
    }
    let started = start();
    let event = fixture.run_staging(&[], started);
    let report = fixture.gate(&[]).handle(event).await.unwrap();
    assert_eq!(report.open, Some(true), "{:#?}", report.checks);

    let read = |id: &'static str| {
        let ssm = fixture.clients.ssm.clone();
        async move {
            ssm.get_patch_baseline()
                .baseline_id(id)
                .send()
                .await
                .unwrap()
        }
    };
    let staging = read("pb-0c10000000000000a").await;
    let production = read(PRODUCTION_BASELINE).await;
    assert_eq!(production.operating_system(), staging.operating_system());
    assert_eq!(
        production.global_filters(),
        staging.global_filters(),
        "global filters"
    );
    let (s_rules, p_rules) = (
        staging.approval_rules().unwrap().patch_rules(),
        production.approval_rules().unwrap().patch_rules(),
    );
    assert_eq!(p_rules.len(), s_rules.len());
    let day = |offset: u64| {
        (started.date_naive() - chrono::Days::new(offset))
            .format("%Y-%m-%d")
            .to_string()
    };
    for (index, (s, p)) in s_rules.iter().zip(p_rules).enumerate() {
        assert_eq!(
            p.patch_filter_group(),
            s.patch_filter_group(),
            "rule {index} filters"
        );
        assert_eq!(
            p.compliance_level(),
            s.compliance_level(),
            "rule {index} compliance level"
        );
        assert_eq!(
            p.enable_non_security(),
            s.enable_non_security(),
            "rule {index} non-security"
        );
        assert_eq!(
            p.approve_after_days(),
            None,
            "rule {index}: no relative approval left"
        );
    }
    assert_eq!(
        p_rules[0].approve_until_date(),
        Some(day(3).as_str()),
        "ApproveAfterDays 2"
    );
    assert_eq!(
        p_rules[1].approve_until_date(),
        Some(day(1).as_str()),
        "an ApproveUntilDate after the run: the last whole day before it"
    );
    assert_eq!(production.approved_patches(), staging.approved_patches());
    assert_eq!(
        production.approved_patches_compliance_level(),
        staging.approved_patches_compliance_level()
    );
    assert_eq!(
        production.approved_patches_enable_non_security(),
        staging.approved_patches_enable_non_security()
    );
    assert_eq!(production.rejected_patches(), staging.rejected_patches());
    assert_eq!(
        production.rejected_patches_action(),
        staging.rejected_patches_action()
    );
    assert_eq!(
        production.sources(),
        staging.sources(),
        "alternative repositories"
    );
    assert_eq!(
        production.available_security_updates_compliance_status(),
        staging.available_security_updates_compliance_status()
    );
}

/// Staging's results read too slowly for the time left (1 s per SSM call, 1.4 s to read them in,
/// and the reads take several calls one after another): nothing is decided, production is not touched, no decision is recorded, and the error is
/// one Lambda retries; the retry, with time, decides normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_out_of_time_changes_nothing_and_is_retried() {
    use patchpilot_shared::budget::Budget;
    use patchpilot_test_support::ssm_sim::faults::FaultSettings;
    let fixture = fixture().await;
    let event = fixture.run_staging(&[], start());
    fixture.sim.sim.app.faults.set(FaultSettings {
        latency_ms: 1000,
        ..FaultSettings::default()
    });
    let gate = fixture.gate(&[]);
    let budget = Budget::new(
        std::time::Duration::from_millis(1500),
        std::time::Duration::from_millis(100),
    );
    let err = gate
        .handle_within(event.clone(), &budget)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Retryable.StoppedForTime", "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    fixture.sim.sim.app.faults.set(FaultSettings::default());
    assert!(!fixture.production_enabled().await, "production untouched");
    assert!(
        fixture.messages(0).await.is_empty(),
        "nobody paged for a decision not taken"
    );
    let report = gate.handle(event).await.unwrap();
    assert_eq!(
        report.outcome,
        GateOutcome::Decided,
        "the retry decides: nothing was recorded before"
    );
    assert_eq!(report.open, Some(true));
}

fn operator_request(action: &str, execution_id: Option<&str>, reason: Option<&str>) -> Value {
    json!({"operator_request": {
        "action": action,
        "execution_id": execution_id,
        "reason": reason,
        "operator": {"arn": "arn:aws:iam::111122223333:user/ana", "account": "111122223333"},
    }})
}

fn scheduled_recheck() -> Value {
    serde_json::from_str(include_str!(
        "../../../events/patch-gate/scheduled-recheck.json"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_opens_and_pins_and_the_recheck_closes_only_on_new_failures() {
    let fixture = fixture().await;
    let gate = fixture.gate(&[]);
    let event = fixture.run_staging(&[("i-00a00000000000002", "Failed")], start());
    let closed = gate.handle(event).await.unwrap();
    assert_eq!(closed.open, Some(false));
    let execution_id = closed.execution.unwrap().id;
    // Refusals change nothing and say what is wrong.
    for (request, says) in [
        (
            operator_request("approve", Some("e-nope"), Some("r")),
            "no decision is recorded for staging execution e-nope",
        ),
        (
            operator_request("release", None, None),
            "production is not held",
        ),
        (
            operator_request("approve", Some(&execution_id), None),
            "approve needs a reason",
        ),
    ] {
        let err = gate.handle(request).await.unwrap_err();
        assert_eq!(err.error_type(), "Permanent.Refused");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(!fixture.production_enabled().await);

    let approved = gate
        .handle(operator_request(
            "approve",
            Some(&execution_id),
            Some("i-…02 is a known-flaky canary"),
        ))
        .await
        .unwrap();
    assert_eq!(
        (approved.outcome, approved.open),
        (GateOutcome::Approved, Some(true))
    );
    assert!(fixture.production_enabled().await);
    let approval = approved.approval.clone().unwrap();
    assert_eq!(approval.by.arn, "arn:aws:iam::111122223333:user/ana");
    assert_eq!(
        approval.approved_over.failed_instances,
        ["i-00a00000000000002"]
    );
    // Pinned exactly as an automatic open pins: a fixed cutoff instead of staging's relative rule.
    let cutoffs = fixture.production_cutoffs().await;
    assert!(
        cutoffs[0].1.is_some() && cutoffs[0].0.is_none(),
        "{cutoffs:?}"
    );
    let again = gate
        .handle(operator_request(
            "approve",
            Some(&execution_id),
            Some("again"),
        ))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already open"), "{again}");

    // The same failures at the re-check: the approval holds.
    let recheck = gate.handle(scheduled_recheck()).await.unwrap();
    assert_eq!(
        (recheck.outcome, recheck.open),
        (GateOutcome::Rechecked, Some(true))
    );
    assert!(recheck.approval.is_some());
    assert!(fixture.production_enabled().await);
    // A new failure: closed again, saying what is new.
    {
        let mut state = fixture.sim.sim.app.state.write().unwrap();
        state
            .instances
            .get_mut("i-00a00000000000003")
            .unwrap()
            .counts
            .failed = 1;
    }
    let recheck = gate.handle(scheduled_recheck()).await.unwrap();
    assert_eq!(recheck.open, Some(false));
    let reason = recheck.reason.unwrap();
    assert!(
        reason.contains("i-00a00000000000003 failed in staging"),
        "{reason}"
    );
    assert!(!fixture.production_enabled().await);
    let subjects: Vec<String> = fixture
        .messages(3)
        .await
        .iter()
        .map(|m| m["Subject"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        subjects[1].starts_with("Patch gate OPEN by approval"),
        "{subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_keeps_production_closed_until_released() {
    let fixture = fixture().await;
    let gate = fixture.gate(&[]);
    fixture.set_production(true).await;
    let held = gate
        .handle(operator_request(
            "hold",
            None,
            Some("change freeze until Monday"),
        ))
        .await
        .unwrap();
    assert_eq!((held.outcome, held.open), (GateOutcome::Held, Some(false)));
    assert!(!fixture.production_enabled().await);
    let twice = gate
        .handle(operator_request("hold", None, Some("again")))
        .await
        .unwrap_err();
    assert!(
        twice
            .to_string()
            .contains("already held by arn:aws:iam::111122223333:user/ana"),
        "{twice}"
    );
    // A clean staging run under the hold: decided, recorded, and closed by the hold.
    let event = fixture.run_staging(&[], start());
    let decided = gate.handle(event).await.unwrap();
    assert_eq!(decided.open, Some(false));
    let hold_check = decided
        .checks
        .iter()
        .find(|c| c.name == CheckName::OperatorHold)
        .unwrap();
    assert!(hold_check.detail.contains("change freeze until Monday"));
    assert!(!fixture.production_enabled().await);
    let refused = gate
        .handle(operator_request(
            "approve",
            Some(&decided.execution.unwrap().id),
            Some("r"),
        ))
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("release the hold before approving"),
        "{refused}"
    );
    let recheck = gate.handle(scheduled_recheck()).await.unwrap();
    assert_eq!(recheck.outcome, GateOutcome::Ignored);
    assert!(recheck.hold.is_some());

    let released = gate
        .handle(operator_request("release", None, Some("freeze over")))
        .await
        .unwrap();
    assert_eq!(released.outcome, GateOutcome::Released);
    // The latest decision was closed (by the hold): production stays disabled until approved.
    assert_eq!(released.open, Some(false));
    assert!(!fixture.production_enabled().await);
    assert!(
        gate.handle(operator_request("release", None, None))
            .await
            .is_err()
    );
}
