//! The `patchpilot` binary against a local account: LocalStack (EC2, SQS, CloudWatch, EventBridge,
//! STS, CloudFormation), moto (DynamoDB), the SSM simulator, and patch-gate's binary behind a local
//! Lambda Invoke API (LocalStack's Lambda needs Docker). Exit codes and one-line errors included.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use patchpilot_test_support::lambda_api::LambdaApi;
use patchpilot_test_support::lambda_host::FunctionHost;
use patchpilot_test_support::resources::Outbox;
use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
use patchpilot_test_support::ssm_sim::scenario::Scenario;
use patchpilot_test_support::ssm_sim::state::State;
use patchpilot_test_support::{
    LocalAws, REGION, Simulator, debug_binaries, unique_name, workspace_root,
};
use serde_json::{Value, json};

const PROMOTION_LIST: &str =
    "s3://patchpilot-promotion/promotion/mw-0d61969e12ee5b4c2/install-override.yaml";
const STAGING: &str = "mw-0c50858d01ff4a3b1";
const PRODUCTION: &str = "mw-0d61969e12ee5b4c2";
const PRODUCTION_BASELINE: &str = "pb-0c10000000000000b";
const RULES: &str = r#"[{"name":"eks-nodes","skip":true,"match":{"tag_present":["eks:cluster-name"]}},{"name":"staging","patch_group":"staging","match":{"tags":{"Environment":"staging"}}}]"#;

fn scenario() -> State {
    let text =
        std::fs::read_to_string(workspace_root().join("tooling/ssm-sim/scenarios/patch-week.json"))
            .unwrap();
    Scenario::from_json(&text).unwrap().into_state().unwrap()
}

/// One local account with patchpilot's resources and the gate running.
struct Account {
    outbox: Outbox,
    failure_queue: String,
    sim: Simulator,
    gate: Arc<FunctionHost>,
    lambda: LambdaApi,
    namespace: String,
    rule_prefix: String,
    brake_alarm: String,
}

async fn account() -> Account {
    let aws = LocalAws::shared();
    let outbox = Outbox::create("cli").await;
    let failure_queue = outbox
        .sqs
        .create_queue()
        .queue_name(unique_name("cli-failures"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let sim = Simulator::start(scenario());
    let binary = debug_binaries(&["patch-gate"]).join("patch-gate");
    let env: Vec<(String, String)> = [
        ("STAGING_WINDOW_ID", STAGING),
        ("PRODUCTION_WINDOW_ID", PRODUCTION),
        ("STAGING_PATCH_GROUP", "staging"),
        ("PRODUCTION_BASELINES", PRODUCTION_BASELINE),
        ("ALERT_TOPIC_ARN", outbox.topic_arn.as_str()),
        ("STATE_TABLE", outbox.table.as_str()),
        ("RETRY_MAX_ATTEMPTS", "2"),
        ("AWS_ENDPOINT_URL", aws.localstack_url.as_str()),
        ("AWS_ENDPOINT_URL_SSM", sim.sim.url.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", aws.dynamodb_url.as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", outbox.account.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let logs = std::env::temp_dir().join(unique_name("cli-logs"));
    let gate = FunctionHost::start(
        "patch-gate",
        &binary,
        &env,
        128,
        Duration::from_secs(30),
        &logs,
    )
    .await
    .unwrap();
    gate.wait_ready(Duration::from_secs(20)).await.unwrap();
    let gate = Arc::new(gate);
    let lambda = LambdaApi::start(BTreeMap::from([("patch-gate".to_owned(), gate.clone())]))
        .await
        .unwrap();
    Account {
        outbox,
        failure_queue,
        sim,
        gate,
        lambda,
        namespace: unique_name("PatchCompliance"),
        rule_prefix: format!("{}-", unique_name("patchpilot")),
        brake_alarm: unique_name("gate-closed"),
    }
}

/// What a run of the binary printed, and its exit status.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}\n{}", self.stdout, self.stderr))
    }
}

impl Account {
    /// The stack's brake alarm (template.yaml `GateBrakeAlarm`), in LocalStack.
    async fn create_brake_alarm(&self) {
        aws_sdk_cloudwatch::Client::new(&self.outbox.config)
            .put_metric_alarm()
            .alarm_name(&self.brake_alarm)
            .namespace("patchpilot")
            .metric_name("GateOpen")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Minimum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
            .treat_missing_data("ignore")
            .send()
            .await
            .unwrap();
    }

    /// The alarm production's patch task watches, as the simulator holds it.
    fn production_task_alarm(&self) -> Option<String> {
        self.sim.sim.app.state.read().unwrap().windows[PRODUCTION].tasks[0]
            .alarm_configuration
            .as_ref()
            .and_then(|config| config["Alarms"][0]["Name"].as_str().map(str::to_owned))
    }

    /// The deployment's settings as flags (what `--stack` would read).
    fn flags(&self) -> Vec<String> {
        self.flags_with(&[])
    }

    /// The same, with some values replaced.
    fn flags_with(&self, replaced: &[(&str, &str)]) -> Vec<String> {
        [
            ("--table", self.outbox.table.as_str()),
            ("--failure-queue-url", self.failure_queue.as_str()),
            ("--staging-window", STAGING),
            ("--production-window", PRODUCTION),
            ("--staging-group", "staging"),
            ("--production-baselines", PRODUCTION_BASELINE),
            ("--gate-function", "patch-gate"),
            ("--namespace", self.namespace.as_str()),
            ("--tag-rules", RULES),
            ("--rule-prefix", self.rule_prefix.as_str()),
            ("--brake-alarm", self.brake_alarm.as_str()),
            ("--promotion-list", PROMOTION_LIST),
        ]
        .iter()
        .flat_map(|(flag, value)| {
            let value = replaced
                .iter()
                .find(|(f, _)| f == flag)
                .map_or(*value, |(_, v)| *v);
            [(*flag).to_owned(), value.to_owned()]
        })
        .collect()
    }

    /// Runs `patchpilot` with the deployment's flags, then `args`.
    async fn cli(&self, args: &[&str]) -> Run {
        let mut all = self.flags();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        self.cli_raw(all).await
    }

    /// Runs `patchpilot` with exactly `args` (and the local endpoints).
    async fn cli_raw(&self, args: Vec<String>) -> Run {
        let aws = LocalAws::shared();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_patchpilot"));
        command
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &aws.localstack_url)
            .env("AWS_ENDPOINT_URL_SSM", &self.sim.sim.url)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &aws.dynamodb_url)
            .env("AWS_ENDPOINT_URL_LAMBDA", &self.lambda.url)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", &self.outbox.account)
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs the staging window with these failures and hands its end to the gate, as EventBridge would.
    async fn staging_run(&self, failing: &[&str]) -> Value {
        let event = {
            let mut state = self.sim.sim.app.state.write().unwrap();
            let outcomes = failing
                .iter()
                .map(|id| {
                    let outcome: InstanceOutcome =
                        serde_json::from_value(json!({"status": "Failed"})).unwrap();
                    ((*id).to_owned(), outcome)
                })
                .collect();
            let request = RunRequest {
                window_id: STAGING.into(),
                outcomes,
                status: None,
                verification: None,
                start: Some(chrono::Utc::now() - chrono::Duration::hours(6)),
                duration_minutes: 30,
                alarm_states: Default::default(),
                override_lists: Default::default(),
            };
            run_window(&mut state, request, &mut fastrand::Rng::new())
                .unwrap()
                .events
                .into_iter()
                .find(|e| {
                    e["detail-type"] == "Maintenance Window Execution State-change Notification"
                })
                .unwrap()
        };
        self.gate.invoke(event).await.unwrap()
    }

    fn production_enabled(&self) -> bool {
        self.sim.sim.app.state.read().unwrap().windows[PRODUCTION].enabled
    }

    /// Publishes compliance figures as the snapshot does, `minutes_ago` in the past.
    async fn publish(&self, points: &[(&str, &str, f64)], minutes_ago: i64) {
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        let data: Vec<MetricDatum> = points
            .iter()
            .map(|(metric, group, value)| {
                MetricDatum::builder()
                    .metric_name(*metric)
                    .dimensions(
                        Dimension::builder()
                            .name("PatchGroup")
                            .value(*group)
                            .build(),
                    )
                    .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
                    .unit(if *metric == "CompliancePercent" {
                        StandardUnit::Percent
                    } else {
                        StandardUnit::Count
                    })
                    .value(*value)
                    .build()
            })
            .collect();
        aws_sdk_cloudwatch::Client::new(&self.outbox.config)
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_approves_holds_and_releases_through_the_gate() {
    let account = account().await;
    let closed = account.staging_run(&["i-00a00000000000002"]).await;
    assert_eq!(closed["open"], false);
    let execution = closed["execution"]["id"].as_str().unwrap().to_owned();

    let status = account.cli(&["--json", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status = status.json();
    assert_eq!(status["decision"]["execution_id"], execution.as_str());
    assert_eq!(status["decision"]["open"], false);
    assert_eq!(status["production_window_enabled"], false);

    // Bad requests: one line each, exit 2, nothing changed.
    for (args, says) in [
        (
            vec![
                "gate",
                "approve",
                "--execution",
                "e-0123456789abcdef0",
                "--reason",
                "r",
            ],
            "the gate refused: no decision is recorded for staging execution e-0123456789abcdef0",
        ),
        (
            vec!["gate", "release"],
            "the gate refused: production is not held",
        ),
    ] {
        let run = account.cli(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.starts_with("patchpilot: "), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    assert!(!account.production_enabled());

    let approve = account
        .cli(&[
            "gate",
            "approve",
            "--execution",
            &execution,
            "--reason",
            "i-…02 is a known-flaky canary (CHG-1234)",
        ])
        .await;
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    assert!(
        approve
            .stdout
            .starts_with("Approved: production window mw-0d61969e12ee5b4c2 enabled"),
        "{}",
        approve.stdout
    );
    assert!(account.production_enabled());
    let status = account.cli(&["status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let caller = format!("arn:aws:iam::{}:root", account.outbox.account);
    assert!(
        status.stdout.contains(&format!("Approval:   by {caller}")),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("(CHG-1234)"), "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains(&format!("Gate:       OPEN, by an approval by {caller} at ")),
        "{}",
        status.stdout
    );
    let state = account.cli(&["--json", "status"]).await.json()["state"].clone();
    assert_eq!(state["cause"], "approval", "{state}");
    assert_eq!(state["by"], caller.as_str());
    let events: Vec<&str> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["decision", "approval"]);
    assert!(
        status
            .stdout
            .contains(&format!("Pinned:     {PRODUCTION_BASELINE}")),
        "{}",
        status.stdout
    );
    let again = account
        .cli(&[
            "gate",
            "approve",
            "--execution",
            &execution,
            "--reason",
            "again",
        ])
        .await;
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already open"), "{}", again.stderr);

    let hold = account
        .cli(&["gate", "hold", "--reason", "change freeze"])
        .await;
    assert_eq!(hold.code, 0, "{}", hold.stderr);
    assert!(!account.production_enabled());
    let twice = account.cli(&["gate", "hold", "--reason", "again"]).await;
    assert_eq!(twice.code, 2);
    assert!(
        twice.stderr.contains(&format!("already held by {caller}")),
        "{}",
        twice.stderr
    );
    let held = account.cli(&["--json", "status"]).await.json();
    assert_eq!(held["hold"]["reason"], "change freeze");
    assert_eq!(held["hold"]["by"]["arn"], caller.as_str());

    let release = account
        .cli(&["gate", "release", "--reason", "freeze over"])
        .await;
    assert_eq!(release.code, 0, "{}", release.stderr);
    // The latest decision is the approved (open) one: production runs again.
    assert!(
        release.stdout.contains("enabled again"),
        "{}",
        release.stdout
    );
    assert!(account.production_enabled());
    let subjects: Vec<String> = account
        .outbox
        .messages(4, Duration::from_secs(15))
        .await
        .iter()
        .map(|m| m["Subject"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Patch gate OPEN by approval")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.starts_with("Patch gate HELD")),
        "{subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compliance_is_worst_first_with_its_trend_and_status_shows_the_snapshot() {
    let account = account().await;
    for (minutes_ago, web, db, fleet) in [
        (180, 100.0, 90.0, 95.0),
        (120, 90.0, 95.0, 92.5),
        (60, 80.0, 100.0, 90.0),
    ] {
        account
            .publish(
                &[
                    ("CompliancePercent", "web", web),
                    ("CompliancePercent", "db", db),
                    ("CompliancePercent", "(fleet)", fleet),
                    ("Instances", "web", 10.0),
                    ("Instances", "db", 10.0),
                    ("Instances", "(fleet)", 20.0),
                ],
                minutes_ago,
            )
            .await;
    }
    let run = account
        .cli(&["--json", "compliance", "--snapshots", "3"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let groups = run.json()["groups"].as_array().unwrap().clone();
    let order: Vec<&str> = groups
        .iter()
        .map(|g| g["patch_group"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["web", "db", "(fleet)"]);
    assert_eq!(groups[0]["trend"], json!([100.0, 90.0, 80.0]));
    assert_eq!(groups[0]["instances"], 10.0);
    let table = account.cli(&["compliance", "--snapshots", "2"]).await;
    assert!(
        table.stdout.contains("90.0 → 80.0 (-10.0)"),
        "{}",
        table.stdout
    );
    let web = table.stdout.find("  web ").unwrap();
    let db = table.stdout.find("  db ").unwrap();
    assert!(web < db, "worst first:\n{}", table.stdout);

    let status = account.cli(&["--json", "status"]).await.json();
    let snapshot = &status["snapshot"];
    assert_eq!(snapshot["fleet_compliance_percent"], 90.0);
    assert_eq!(snapshot["worst_group"]["patch_group"], "web");
    let age = snapshot["age_seconds"].as_i64().unwrap();
    assert!((3500..3800).contains(&age), "{age}");
    assert_eq!(
        status["decision"],
        Value::Null,
        "no staging execution decided yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tag_preview_uses_the_taggers_decisions_and_writes_nothing() {
    let account = account().await;
    let ec2 = aws_sdk_ec2::Client::new(&account.outbox.config);
    let launch = |tags: Vec<(&'static str, &'static str)>| {
        let ec2 = ec2.clone();
        async move {
            let mut spec = aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance);
            for (key, value) in tags {
                spec = spec.tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build(),
                );
            }
            ec2.run_instances()
                .image_id("ami-0123456789abcdef0")
                .min_count(1)
                .max_count(1)
                .tag_specifications(spec.build())
                .send()
                .await
                .unwrap()
                .instances()[0]
                .instance_id()
                .unwrap()
                .to_owned()
        }
    };
    let staging = launch(vec![("Environment", "staging")]).await;
    let eks = launch(vec![("eks:cluster-name", "c1")]).await;
    let bare = launch(vec![("Name", "bare")]).await;
    let tagged = launch(vec![("Patch Group", "legacy"), ("Environment", "staging")]).await;

    let run = account.cli(&["--json", "tag", "preview"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    let action = |id: &str| {
        json["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["instance_id"] == id)
            .map(|d| {
                (
                    d["action"].as_str().unwrap().to_owned(),
                    d["patch_group"].clone(),
                )
            })
            .unwrap()
    };
    assert_eq!(action(&staging), ("tagged".to_owned(), json!("staging")));
    assert_eq!(action(&eks).0, "skipped");
    assert_eq!(action(&bare).0, "no_match");
    assert_eq!(
        action(&tagged),
        ("already_tagged".to_owned(), json!("legacy"))
    );
    // Nothing was written.
    let tags = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(&staging)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(tags.tags().iter().all(|t| t.key() != Some("Patch Group")));

    let bad = std::env::temp_dir()
        .join(unique_name("rules"))
        .with_extension("json");
    std::fs::write(
        &bad,
        r#"[{"name": "web", "patch_group": "web", "match": {"colour": "blue"}}]"#,
    )
    .unwrap();
    let run = account
        .cli(&["tag", "preview", "--rules-file", bad.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
}

/// `compliance --coverage` joins EC2's running instances with Systems Manager's managed nodes and
/// their patch states: each gap once, by id, and exit 1 while there is any.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coverage_lists_each_instance_patching_does_not_reach_by_id() {
    let account = account().await;
    let ec2 = aws_sdk_ec2::Client::new(&account.outbox.config);
    let launch = |group: Option<&'static str>| {
        let ec2 = ec2.clone();
        async move {
            let mut request = ec2
                .run_instances()
                .image_id("ami-0123456789abcdef0")
                .min_count(1)
                .max_count(1);
            if let Some(group) = group {
                request = request.tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                        .tags(
                            aws_sdk_ec2::types::Tag::builder()
                                .key("Patch Group")
                                .value(group)
                                .build(),
                        )
                        .build(),
                );
            }
            request.send().await.unwrap().instances()[0]
                .instance_id()
                .unwrap()
                .to_owned()
        }
    };
    let fresh = launch(Some("staging")).await;
    let never = launch(Some("staging")).await;
    let unmanaged_grouped = launch(Some("staging")).await;
    let unmanaged_bare = launch(None).await;
    let (stale, never_reported, managed) = {
        let mut state = account.sim.sim.app.state.write().unwrap();
        let ids: Vec<String> = state.instances.keys().cloned().collect();
        assert!(state.rename_instance(&ids[0], &fresh));
        assert!(state.rename_instance(&ids[1], &never));
        let now = chrono::Utc::now();
        for instance in state.instances.values_mut() {
            if let Some(report) = instance.report.as_mut() {
                // Every other node last reported 8 days ago (stale at the default 168 h).
                report.end = now - chrono::Duration::days(8);
                report.start = report.end - chrono::Duration::minutes(4);
            }
        }
        let report = state
            .instances
            .get_mut(&fresh)
            .unwrap()
            .report
            .as_mut()
            .unwrap();
        report.end = now - chrono::Duration::hours(1);
        report.start = report.end - chrono::Duration::minutes(4);
        state.instances.get_mut(&never).unwrap().report = None;
        let stale = state
            .instances
            .values()
            .filter(|i| i.report.is_some())
            .count()
            - 1;
        let never_reported = state
            .instances
            .values()
            .filter(|i| i.report.is_none() && i.patch_group.is_some())
            .count();
        assert!(never_reported >= 1);
        (stale, never_reported, state.instances.len())
    };

    let run = account.cli(&["--json", "compliance", "--coverage"]).await;
    assert_eq!(run.code, 1, "findings exit 1: {}", run.stderr);
    let json = run.json();
    assert_eq!(json["running_instances"], 4);
    assert_eq!(json["managed_nodes"], managed);
    assert_eq!(json["unmanaged"], 2);
    assert_eq!(json["never_reported"], never_reported);
    assert_eq!(json["stale"], stale);
    let gap = |id: &str| {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["instance_id"] == id)
            .map(|f| {
                (
                    f["gap"].as_str().unwrap().to_owned(),
                    f["patch_group"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        gap(&unmanaged_grouped),
        [("unmanaged".to_owned(), json!("staging"))]
    );
    assert_eq!(
        gap(&unmanaged_bare),
        [("unmanaged".to_owned(), Value::Null)]
    );
    assert_eq!(
        gap(&never),
        [("never_reported".to_owned(), json!("staging"))]
    );
    assert!(gap(&fresh).is_empty(), "reported an hour ago: covered");

    let run = account
        .cli(&["compliance", "--coverage", "--stale-hours", "240"])
        .await;
    assert_eq!(run.code, 1);
    let summary =
        format!("2 not managed by Systems Manager, {never_reported} never reported a patch state.");
    assert!(run.stdout.contains(&summary), "{}", run.stdout);
    assert!(
        !run.stdout.contains("too old"),
        "8 days is within 240 h: {}",
        run.stdout
    );
    let run = account.cli(&["compliance", "--stale-hours", "240"]).await;
    assert_eq!(
        run.code, 2,
        "--stale-hours without --coverage is a usage error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_is_clean_on_a_good_deployment_and_names_each_fault_with_its_fix() {
    let account = account().await;
    let events = aws_sdk_eventbridge::Client::new(&account.outbox.config);
    for rule in ["gate-staging", "snapshot-schedule"] {
        events
            .put_rule()
            .name(format!("{}{rule}", account.rule_prefix))
            .schedule_expression("rate(1 hour)")
            .send()
            .await
            .unwrap();
    }
    account
        .publish(&[("CompliancePercent", "(fleet)", 100.0)], 5)
        .await;
    account.create_brake_alarm().await;
    let unbraked = account.cli(&["--json", "doctor"]).await;
    assert_eq!(unbraked.code, 1, "{}", unbraked.stdout);
    let brake = account.cli(&["gate", "brake"]).await;
    assert_eq!(brake.code, 0, "{}\n{}", brake.stdout, brake.stderr);
    let unpromoted = account.cli(&["--json", "doctor"]).await;
    assert_eq!(unpromoted.code, 1, "{}", unpromoted.stdout);
    let promote = account.cli(&["gate", "promote"]).await;
    assert_eq!(promote.code, 0, "{}\n{}", promote.stdout, promote.stderr);
    let clean = account.cli(&["--json", "doctor"]).await;
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!(clean.json()["complete"], true);
    let findings = clean.json()["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 11);
    for finding in &findings {
        assert_eq!(finding["verdict"], "pass", "{finding}");
    }

    // Staging left on its OS's default baseline (AWS's own): nothing to fix, and doctor says which.
    let staging_baseline = account
        .sim
        .sim
        .app
        .state
        .write()
        .unwrap()
        .baselines
        .get_mut("pb-0c10000000000000a")
        .map(|b| std::mem::take(&mut b.patch_groups))
        .unwrap();
    let defaulted = account.cli(&["--json", "doctor"]).await;
    let registered = defaulted.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "baselines_registered")
        .cloned()
        .unwrap();
    assert_eq!(registered["verdict"], "pass", "{registered}");
    assert!(
        registered["detail"]
            .as_str()
            .unwrap()
            .contains("staging uses the default baseline arn:aws:ssm:"),
        "{registered}"
    );
    account
        .sim
        .sim
        .app
        .state
        .write()
        .unwrap()
        .baselines
        .get_mut("pb-0c10000000000000a")
        .unwrap()
        .patch_groups = staging_baseline;

    // Faults, one per check.
    {
        let mut state = account.sim.sim.app.state.write().unwrap();
        state.windows.get_mut(STAGING).unwrap().targets[0].patch_groups = vec!["elsewhere".into()];
        state
            .baselines
            .get_mut("pb-0c10000000000000a")
            .unwrap()
            .patch_groups
            .clear();
        let production = state.baselines.get_mut(PRODUCTION_BASELINE).unwrap();
        production.operating_system = "UBUNTU".into();
        // Registered for no group: production instances would patch on the default baseline.
        production.patch_groups.clear();
    }
    events
        .disable_rule()
        .name(format!("{}gate-staging", account.rule_prefix))
        .send()
        .await
        .unwrap();
    account
        .outbox
        .sqs
        .send_message()
        .queue_url(&account.failure_queue)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    // The functions reserve concurrency the account cannot keep unreserved.
    *account.lambda.concurrency.lock().unwrap() =
        patchpilot_test_support::lambda_api::AccountConcurrency {
            limit: 105,
            unreserved: 96,
            reserved: Some(1),
        };
    // Another window that does not exist, a namespace whose last snapshot is old, rules that do not parse.
    let mut args = account.flags_with(&[
        ("--production-window", "mw-0ffffffffffffffff"),
        ("--namespace", "Stale/Namespace"),
        ("--tag-rules", r#"[{"name": "x"}]"#),
    ]);
    args.extend(["--json".to_owned(), "doctor".to_owned()]);
    let faulty = account.cli_raw(args).await;
    assert_eq!(faulty.code, 1, "{}\n{}", faulty.stdout, faulty.stderr);
    let json = faulty.json();
    let failed: BTreeMap<String, (String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "fail")
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                (
                    f["detail"].as_str().unwrap().to_owned(),
                    f["fix"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let names: Vec<&str> = failed.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "account_concurrency",
            "baselines_registered",
            "brake_attached",
            "failure_queue_empty",
            "promotion_attached",
            "rules_enabled",
            "snapshot_recent",
            "staging_targets_group",
            "tag_rules_parse",
            "windows",
        ]
    );
    assert!(failed["windows"].0.contains("mw-0ffffffffffffffff"));
    assert!(
        failed["staging_targets_group"]
            .1
            .contains("register-target-with-maintenance-window")
    );
    assert!(
        failed["baselines_registered"]
            .0
            .contains("production baseline pb-0c10000000000000b is registered for no patch group"),
        "{}",
        failed["baselines_registered"].0
    );
    // The production baseline is Ubuntu's: exact only through the promoted list, which this
    // deployment has (doctor's unit test shows the failure without it).
    assert!(
        failed["promotion_attached"]
            .0
            .contains("mw-0ffffffffffffffff")
            || failed["promotion_attached"].0.contains("DoesNotExist"),
        "{}",
        failed["promotion_attached"].0
    );
    assert!(failed["rules_enabled"].1.contains("enable-rule"));
    assert!(failed["failure_queue_empty"].0.contains("1 event(s)"));
    assert!(failed["tag_rules_parse"].0.contains("TAG_RULES"));
    assert!(failed["snapshot_recent"].0.contains("Stale/Namespace"));
    assert!(
        failed["account_concurrency"]
            .1
            .contains("ReserveConcurrency=false")
    );
    let text = account.cli(&["doctor"]).await;
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("FAIL staging_targets_group"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("     fix: "), "{}", text.stdout);

    // Nothing configured: the checks that need a setting are skipped and counted, "No finding" is
    // not said, and the exit status says the deployment could not be checked.
    // (Only the namespace is given, so the snapshot check passes and nothing fails.)
    let namespace = ["--namespace".to_owned(), account.namespace.clone()];
    let bare = account
        .cli_raw([&namespace[..], &["doctor".to_owned()]].concat())
        .await;
    assert_eq!(bare.code, 2, "{}\n{}", bare.stdout, bare.stderr);
    assert!(bare.stdout.contains("not fully checked"), "{}", bare.stdout);
    assert!(!bare.stdout.contains("No finding:"), "{}", bare.stdout);
    let bare = account
        .cli_raw([&namespace[..], &["--json".to_owned(), "doctor".to_owned()]].concat())
        .await;
    assert_eq!(bare.code, 2);
    assert_eq!(bare.json()["complete"], false);
    assert!(bare.json()["skipped"].as_u64().unwrap() >= 6);
}

/// `patchpilot gate brake` attaches the gate's alarm to production's patch task once, says so when
/// run again, keeps another team's alarm unless told to replace it, and refuses without its settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_brake_is_attached_once_and_another_teams_alarm_is_kept() {
    let account = account().await;
    account.create_brake_alarm().await;
    let first = account.cli(&["--json", "gate", "brake"]).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.json()["tasks"][0]["step"]["action"], "attach");
    assert_eq!(
        account.production_task_alarm(),
        Some(account.brake_alarm.clone())
    );
    let again = account.cli(&["gate", "brake"]).await;
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);

    account
        .sim
        .sim
        .app
        .state
        .write()
        .unwrap()
        .windows
        .get_mut(PRODUCTION)
        .unwrap()
        .tasks[0]
        .alarm_configuration =
        Some(json!({"Alarms": [{"Name": "web-health"}], "IgnorePollAlarmFailure": false}));
    let kept = account.cli(&["gate", "brake"]).await;
    assert_eq!(kept.code, 1, "{}", kept.stdout);
    assert!(kept.stdout.contains("composite alarm"), "{}", kept.stdout);
    assert_eq!(
        account.production_task_alarm().as_deref(),
        Some("web-health")
    );
    let replaced = account.cli(&["gate", "brake", "--replace"]).await;
    assert_eq!(replaced.code, 0, "{}", replaced.stdout);
    assert_eq!(
        account.production_task_alarm(),
        Some(account.brake_alarm.clone())
    );

    let unset = account
        .cli_raw(vec![
            "--production-window".into(),
            PRODUCTION.into(),
            "gate".into(),
            "brake".into(),
        ])
        .await;
    assert_eq!(unset.code, 2);
    assert!(unset.stderr.contains("--brake-alarm"), "{}", unset.stderr);
}

/// The Run Command parameters of production's patch task, as the simulator keeps them.
fn production_task_parameters(
    account: &Account,
) -> (Option<String>, BTreeMap<String, Vec<String>>) {
    let state = account.sim.sim.app.state.read().unwrap();
    let task = &state.windows[PRODUCTION].tasks[0];
    (task.operation.clone(), task.parameters.clone())
}

/// `patchpilot gate promote` points production's Install task at the gate's promoted list once,
/// sending the task's other parameters back with it (its Operation and RebootOption survive), keeps
/// another list unless told to replace it, and refuses without its settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_promoted_list_is_attached_once_and_the_tasks_parameters_survive() {
    let account = account().await;
    let reboot_before = account.sim.sim.app.state.read().unwrap().windows[PRODUCTION].tasks[0]
        .reboot_option
        .clone();
    let first = account.cli(&["--json", "gate", "promote"]).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.json()["tasks"][0]["step"]["action"], "attach");
    let (operation, parameters) = production_task_parameters(&account);
    assert_eq!(
        operation.as_deref(),
        Some("Install"),
        "the task still installs"
    );
    assert_eq!(parameters["InstallOverrideList"], [PROMOTION_LIST]);
    assert_eq!(
        account.sim.sim.app.state.read().unwrap().windows[PRODUCTION].tasks[0].reboot_option,
        reboot_before
    );
    let again = account.cli(&["gate", "promote"]).await;
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);

    account
        .sim
        .sim
        .app
        .state
        .write()
        .unwrap()
        .windows
        .get_mut(PRODUCTION)
        .unwrap()
        .tasks[0]
        .parameters
        .insert(
            "InstallOverrideList".into(),
            vec!["s3://theirs/list.yaml".into()],
        );
    let kept = account.cli(&["gate", "promote"]).await;
    assert_eq!(kept.code, 1, "{}", kept.stdout);
    assert!(kept.stdout.contains("--replace"), "{}", kept.stdout);
    let replaced = account.cli(&["gate", "promote", "--replace"]).await;
    assert_eq!(replaced.code, 0, "{}", replaced.stdout);
    assert_eq!(
        production_task_parameters(&account).1["InstallOverrideList"],
        [PROMOTION_LIST]
    );

    let unset = account
        .cli_raw(vec![
            "--production-window".into(),
            PRODUCTION.into(),
            "gate".into(),
            "promote".into(),
        ])
        .await;
    assert_eq!(unset.code, 2);
    assert!(
        unset.stderr.contains("--promotion-list"),
        "{}",
        unset.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stack_outputs_supply_the_settings_and_a_missing_stack_is_one_line() {
    let account = account().await;
    let stack = unique_name("patchpilot");
    let template = json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateTableName": {"Value": account.outbox.table},
            "FailureQueueUrl": {"Value": account.failure_queue},
            "StagingWindow": {"Value": STAGING},
            "ProductionWindow": {"Value": PRODUCTION},
            "StagingGroup": {"Value": "staging"},
            "ComplianceNamespace": {"Value": account.namespace},
            "SnapshotMinutes": {"Value": "60"},
            "PatchGateFunctionArn": {"Value": format!("arn:aws:lambda:{REGION}:{}:function:patch-gate", account.outbox.account)},
        }
    });
    let cloudformation = aws_sdk_cloudformation::Client::new(&account.outbox.config);
    cloudformation
        .create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    for _ in 0..60 {
        let described = cloudformation
            .describe_stacks()
            .stack_name(&stack)
            .send()
            .await
            .unwrap();
        let status = described.stacks()[0]
            .stack_status()
            .unwrap()
            .as_str()
            .to_owned();
        if status == "CREATE_COMPLETE" {
            break;
        }
        assert!(!status.ends_with("FAILED"), "{status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let closed = account.staging_run(&["i-00a00000000000002"]).await;
    let status = account
        .cli_raw(
            ["--stack", stack.as_str(), "--json", "status"]
                .map(str::to_owned)
                .to_vec(),
        )
        .await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(
        status.json()["decision"]["execution_id"],
        closed["execution"]["id"]
    );
    // A flag overrides the stack's value.
    let overridden = account
        .cli_raw(
            [
                "--stack",
                stack.as_str(),
                "--staging-window",
                "mw-0ffffffffffffffff",
                "--json",
                "status",
            ]
            .map(str::to_owned)
            .to_vec(),
        )
        .await;
    assert_eq!(overridden.json()["decision"], Value::Null);
    // The gate is reached through the stack's ARN.
    let hold = account
        .cli_raw(
            [
                "--stack",
                stack.as_str(),
                "gate",
                "hold",
                "--reason",
                "audit",
            ]
            .map(str::to_owned)
            .to_vec(),
        )
        .await;
    assert_eq!(hold.code, 0, "{}", hold.stderr);

    let missing = account
        .cli_raw(
            ["--stack", "no-such-stack", "status"]
                .map(str::to_owned)
                .to_vec(),
        )
        .await;
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr.trim(),
        "patchpilot: stack no-such-stack does not exist in this account and region"
    );
    let unset = account.cli_raw(vec!["status".to_owned()]).await;
    assert_eq!(unset.code, 2);
    assert!(
        unset.stderr.contains("--table is not set"),
        "{}",
        unset.stderr
    );
}
