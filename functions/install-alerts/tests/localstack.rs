//! install-alerts against real local services: the SSM simulator supplies commands, invocations,
//! failed patches and output; LocalStack serves EC2, the SNS topic and an SQS queue subscribed to it
//! (what a subscriber receives is read back from the queue); moto serves the DynamoDB table.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use install_alerts::Handler;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use install_alerts::config::AlertsConfig;
use install_alerts::render::AlertKind;
use install_alerts::{Alerts, Clients, Outcome};
use patchpilot_shared::ErrorClass;
use patchpilot_test_support::resources::Outbox;
use patchpilot_test_support::ssm_sim::generate::{GenerateOptions, generate};
use patchpilot_test_support::ssm_sim::state::{Command, CommandInvocation, PatchState, State};
use patchpilot_test_support::{LocalAws, Simulator};
use serde_json::{Value, json};

const STDERR: &str = "Error: Transaction check error:\n  file /usr/lib64/libssl.so.3 conflicts between attempted installs\n";

struct Fixture {
    clients: Clients,
    outbox: Outbox,
    /// Where the alerts go: the outbox's topic, or (to make publishing fail) another.
    topic_arn: String,
    sim: Simulator,
}

impl Fixture {
    fn alerts(&self, extra: &[(&str, &str)]) -> Alerts {
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("ALERT_TOPIC_ARN", self.topic_arn.as_str()),
            ("STATE_TABLE", self.outbox.table.as_str()),
            ("RETRY_MAX_ATTEMPTS", "1"),
        ]);
        env.extend(extra.iter().copied());
        Alerts::new(self.clients.clone(), AlertsConfig::from_env(&env).unwrap())
    }

    async fn messages(&self, expected: usize) -> Vec<Value> {
        let wait = Duration::from_secs(20);
        self.outbox.messages(expected, wait).await
    }
}

/// A fleet of `instances` in one patch group, every one with failed patches, plus one command that
/// failed on the first `failed` of them and succeeded on the rest.
/// Failed invocations in [`fleet`] whose command was never delivered.
const DELIVERY_TIMED_OUT: usize = 5;

fn fleet(instances: usize, failed: usize, command_id: &str) -> State {
    let mut state = generate(&GenerateOptions {
        seed: 7,
        instances,
        groups: 1,
        failed: 1.0,
        never_reported: 0.0,
        stale: 0.0,
        ..GenerateOptions::default()
    });
    let ids = state.instances.keys().cloned().collect::<Vec<_>>();
    let now = patchpilot_test_support::ssm_sim::state::now();
    let invocations = ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            // As the API reports them: the first few failed because the agent never got the
            // command (Status TimedOut, StatusDetails "Delivery Timed Out"), the rest Failed.
            let (status, details) = match index {
                i if i < failed.min(DELIVERY_TIMED_OUT) => ("TimedOut", "Delivery Timed Out"),
                i if i < failed => ("Failed", "Failed"),
                _ => ("Success", "Success"),
            };
            CommandInvocation {
                instance_id: id.clone(),
                instance_name: None,
                status: status.into(),
                status_details: Some(details.into()),
                response_code: if index < failed { 1 } else { 0 },
                start: now,
                end: Some(now),
                stdout: "Loaded plugins\nInstalling 3 packages\n".into(),
                stderr: if index < failed {
                    STDERR.into()
                } else {
                    String::new()
                },
            }
        })
        .collect();
    state.commands.insert(
        command_id.to_owned(),
        Command {
            id: command_id.to_owned(),
            document_name: "AWS-RunPatchBaseline".into(),
            comment: None,
            parameters: BTreeMap::from([("Operation".into(), vec!["Install".into()])]),
            requested: now,
            expires_after: now,
            status: "Failed".into(),
            status_details: Some("Failed".into()),
            invocations,
        },
    );
    state
}

async fn fixture(state: State) -> Fixture {
    let outbox = Outbox::create("alerts").await;
    let sim = Simulator::start(state);
    let clients = Clients {
        ssm: sim.client().await,
        ec2: aws_sdk_ec2::Client::new(&outbox.config),
        sns: outbox.sns.clone(),
        dynamodb: outbox.dynamodb.clone(),
    };
    Fixture {
        clients,
        topic_arn: outbox.topic_arn.clone(),
        outbox,
        sim,
    }
}

fn invocation_event(command_id: &str, instance_id: &str, status: &str) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../events/install-alerts/invocation-failed.json"
    ))
    .unwrap();
    event["detail"]["command-id"] = json!(command_id);
    event["detail"]["instance-id"] = json!(instance_id);
    event["detail"]["status"] = json!(status);
    event["resources"] = json!([format!(
        "arn:aws:ec2:eu-west-1:111122223333:instance/{instance_id}"
    )]);
    event
}

fn command_event(command_id: &str, status: &str) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../events/install-alerts/command-failed.json"
    ))
    .unwrap();
    event["detail"]["command-id"] = json!(command_id);
    event["detail"]["status"] = json!(status);
    event
}

/// The sim's failed patch ids of `instance_id`, as DescribeInstancePatches names them (KBId).
fn failed_patch_ids(state: &State, instance_id: &str) -> Vec<String> {
    let instance = &state.instances[instance_id];
    instance
        .patches
        .iter()
        .filter(|patch| patch.state == PatchState::Failed)
        .map(|patch| state.catalog[patch.patch as usize].id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_install_pages_once_with_what_failed_where() {
    let command_id = "11111111-2222-4333-8444-555555555555";
    let mut state = fleet(3, 1, command_id);
    let sim_instance = state.instances.keys().next().unwrap().clone();
    // A real EC2 instance for the alert's Name tag and patch group.
    let config = LocalAws::shared().isolated_sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let launched = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("Name").value("web-01").build())
                .tags(Tag::builder().key("Patch Group").value("web-prod").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let instance_id = launched.instances()[0].instance_id().unwrap().to_owned();
    assert!(state.rename_instance(&sim_instance, &instance_id));
    let expected_patches = failed_patch_ids(&state, &instance_id);
    assert!(!expected_patches.is_empty());
    let mut fixture = fixture(state).await;
    fixture.clients.ec2 = ec2;
    let alerts = fixture.alerts(&[]);

    let event = invocation_event(command_id, &instance_id, "Failed");
    let first = alerts.handle(event.clone()).await.unwrap();
    assert!(
        matches!(&first, Outcome::Sent { unreadable, .. } if unreadable.is_empty()),
        "{first:?}"
    );
    // EventBridge delivers at least once: the same event again pages nobody.
    let second = alerts.handle(event).await.unwrap();
    assert!(
        matches!(second, Outcome::Duplicate { ref state, .. } if state == "sent"),
        "{second:?}"
    );

    let messages = fixture.messages(1).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let notification = &messages[0];
    let subject = notification["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!(
            "Patch Install Failed: web-01 ({instance_id}) in web-prod, {} failed patch{}",
            expected_patches.len(),
            if expected_patches.len() == 1 {
                ""
            } else {
                "es"
            }
        )
    );
    // The SQS subscriber gets the structured document.
    let doc: Value = serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["schema"], "patchpilot.install-alert/v1");
    assert_eq!(doc["instance"]["id"], instance_id);
    assert_eq!(doc["instance"]["name"], "web-01");
    assert_eq!(doc["instance"]["patch_group"], "web-prod");
    assert_eq!(doc["command"]["operation"], "Install");
    assert_eq!(doc["command"]["id"], command_id);
    let listed: Vec<&str> = doc["failed_patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kb_id"].as_str().unwrap())
        .collect();
    let mut expected_sorted = expected_patches.clone();
    expected_sorted.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, expected_sorted);
    assert!(
        doc["output"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("conflicts between attempted installs")
    );
    assert_eq!(doc["account"], "111122223333");
    let attributes = &notification["MessageAttributes"];
    assert_eq!(attributes["patch_group"]["Value"], "web-prod");
    assert_eq!(attributes["instance_id"]["Value"], instance_id);
    assert_eq!(attributes["status"]["Value"], "Failed");
    assert_eq!(attributes["region"]["Value"], "eu-west-1");
    assert!(attributes["severity"]["Value"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_instance_failure_sends_the_threshold_then_one_summary() {
    let command_id = "22222222-3333-4444-8555-666666666666";
    let state = fleet(60, 50, command_id);
    let failed: Vec<(String, &str)> = state.commands[command_id]
        .invocations
        .iter()
        .filter(|i| i.status != "Success")
        .map(|i| {
            // Events spell the detailed outcome without spaces.
            let event_status = if i.status == "TimedOut" {
                "DeliveryTimedOut"
            } else {
                "Failed"
            };
            (i.instance_id.clone(), event_status)
        })
        .collect();
    let fixture = fixture(state).await;
    let alerts = Arc::new(fixture.alerts(&[("ALERT_STORM_THRESHOLD", "10")]));

    // The invocation events arrive concurrently, as they would from EventBridge.
    let mut tasks = Vec::new();
    for (instance, status) in &failed {
        let alerts = alerts.clone();
        let event = invocation_event(command_id, instance, status);
        tasks.push(tokio::spawn(async move { alerts.handle(event).await }));
    }
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        let kind = match outcome {
            Outcome::Sent { .. } => "sent",
            Outcome::Suppressed { .. } => "suppressed",
            other => panic!("unexpected {other:?}"),
        };
        *outcomes.entry(kind).or_default() += 1;
    }
    assert_eq!(outcomes, BTreeMap::from([("sent", 10), ("suppressed", 40)]));

    let summary = alerts
        .handle(command_event(command_id, "Failed"))
        .await
        .unwrap();
    assert!(
        matches!(
            &summary,
            Outcome::Sent {
                kind: AlertKind::CommandSummary,
                ..
            }
        ),
        "{summary:?}"
    );
    let again = alerts
        .handle(command_event(command_id, "Failed"))
        .await
        .unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");

    let messages = fixture.messages(11).await;
    assert_eq!(messages.len(), 11, "10 alerts and one summary");
    let summaries: Vec<&Value> = messages
        .iter()
        .filter(|m| m["MessageAttributes"]["kind"]["Value"] == "command_summary")
        .collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        summaries[0]["Subject"],
        "Patch Install Failed on 50 instances: 10 paged, 40 summarised here"
    );
    let doc: Value = serde_json::from_str(summaries[0]["Message"].as_str().unwrap()).unwrap();
    // Counted as the console shows them: by the detailed outcome, whichever way AWS spells it.
    assert_eq!(
        doc["counts_by_status"],
        json!({"DeliveryTimedOut": 5, "Failed": 45, "Success": 10})
    );
    assert_eq!(doc["instances"].as_array().unwrap().len(), 20);
    assert_eq!(doc["patch_groups"], json!(["pg-0000"]));
    assert_eq!(doc["suppressed"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_failure_needs_no_summary() {
    let command_id = "33333333-4444-4555-8666-777777777777";
    let state = fleet(5, 2, command_id);
    let failed: Vec<String> = state.commands[command_id]
        .invocations
        .iter()
        .filter(|i| i.status != "Success")
        .map(|i| i.instance_id.clone())
        .collect();
    let fixture = fixture(state).await;
    let alerts = fixture.alerts(&[]);
    // Each failed instance paged on its own (DeliveryTimedOut: the fleet's first five time out).
    for instance in &failed {
        let outcome = alerts
            .handle(invocation_event(command_id, instance, "DeliveryTimedOut"))
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    }
    let outcome = alerts
        .handle(command_event(command_id, "Failed"))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored { reason } if reason.contains("within the storm threshold")),
        "{outcome:?}"
    );
    assert_eq!(
        fixture.messages(2).await.len(),
        2,
        "the two alerts, no summary"
    );
}

/// The command's event came before its instances' (EventBridge does not order them): nobody was
/// paged yet, so the summary goes out rather than count on alerts that may never come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_failure_nobody_was_paged_for_is_summarised() {
    let command_id = "33333333-4444-4555-8666-777777777778";
    let fixture = fixture(fleet(5, 2, command_id)).await;
    let alerts = fixture.alerts(&[]);
    let outcome = alerts
        .handle(command_event(command_id, "Failed"))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Sent { kind: AlertKind::CommandSummary, subject, .. } if subject.contains("0 paged, 2 summarised here")),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_enrichment_degrades_the_alert_and_never_drops_it() {
    // The instance exists nowhere (terminated long ago) and the command is unknown (expired).
    let fixture = fixture(State {
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        ..Default::default()
    })
    .await;
    let alerts = fixture.alerts(&[]);
    let command_id = "44444444-5555-4666-8777-888888888888";
    let outcome = alerts
        .handle(invocation_event(
            command_id,
            "i-0deadbeef00000000",
            "TimedOut",
        ))
        .await
        .unwrap();
    let Outcome::Sent { unreadable, .. } = &outcome else {
        panic!("expected Sent, got {outcome:?}");
    };
    let joined = unreadable.join("\n");
    for expected in ["instance details", "command output", "failed patches"] {
        assert!(
            joined.contains(expected),
            "{expected} missing from {joined}"
        );
    }
    let messages = fixture.messages(1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["Subject"],
        "Patch command TimedOut: i-0deadbeef00000000 in no patch group"
    );
    let doc: Value = serde_json::from_str(messages[0]["Message"].as_str().unwrap()).unwrap();
    assert!(!doc["unreadable"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_is_retryable_and_does_not_block_the_retry() {
    let command_id = "55555555-6666-4777-8888-999999999999";
    let state = fleet(2, 1, command_id);
    let instance = state.commands[command_id].invocations[0]
        .instance_id
        .clone();
    let mut fixture = fixture(state).await;
    // First attempt: the topic does not exist (yet).
    let real_topic = fixture.topic_arn.clone();
    fixture.topic_arn = format!("{real_topic}-missing");
    let broken = fixture.alerts(&[]);
    let event = invocation_event(command_id, &instance, "Failed");
    let err = broken.handle(event.clone()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert!(err.to_string().contains("sns:Publish"), "{err}");
    // The retry, once the topic is reachable, sends the alert: the failed attempt left no record.
    fixture.topic_arn = real_topic;
    let outcome = fixture.alerts(&[]).handle(event).await.unwrap();
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    assert_eq!(fixture.messages(1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_and_sends_nothing() {
    let command_id = "66666666-7777-4888-8999-aaaaaaaaaaaa";
    let state = fleet(2, 1, command_id);
    let instance = state.commands[command_id].invocations[0]
        .instance_id
        .clone();
    let fixture = fixture(state).await;
    let alerts = fixture.alerts(&[("DRY_RUN", "true")]);
    let outcome = alerts
        .handle(invocation_event(command_id, &instance, "Failed"))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::WouldSend { subject, .. } if subject.contains(&instance)),
        "{outcome:?}"
    );
    assert!(fixture.messages(0).await.is_empty());
    let _ = &fixture.sim;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_event_is_an_error_naming_the_field() {
    let fixture = fixture(State::default()).await;
    let alerts = fixture.alerts(&[]);
    let mut event = invocation_event("c", "i-1", "Failed");
    event["detail"]
        .as_object_mut()
        .unwrap()
        .remove("instance-id");
    let err = alerts.handle(event).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.to_string().contains("instance-id"), "{err}");
}

/// A maintenance window sends one command per instance: the storm shows in the hour's run bucket, and
/// the window execution's end brings the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_window_run_sends_the_threshold_then_one_window_summary() {
    use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
    let mut state = generate(&GenerateOptions {
        seed: 9,
        instances: 30,
        groups: 1,
        failed: 0.0,
        missing: 1.0,
        never_reported: 0.0,
        stale: 0.0,
        ..GenerateOptions::default()
    });
    let window: patchpilot_test_support::ssm_sim::state::Window = serde_json::from_value(json!({
        "id": "mw-0c50858d01ff4a3b9", "name": "fleet", "enabled": true,
        "schedule": "cron(0 2 ? * THU *)", "duration": 3, "cutoff": 1,
        "targets": [{"id": "4c0f0e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5c", "patch_groups": ["pg-0000"]}],
        "tasks": [{"id": "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7c", "document": "AWS-RunPatchBaseline",
                   "kind": "patch", "operation": "Install"}],
        "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z"
    }))
    .unwrap();
    state.windows.insert(window.id.clone(), window);
    let failing: Vec<String> = state.instances.keys().take(25).cloned().collect();
    let outcomes = failing
        .iter()
        .map(|id| {
            let outcome: InstanceOutcome =
                serde_json::from_value(json!({"status": "Failed"})).unwrap();
            (id.clone(), outcome)
        })
        .collect();
    let request: RunRequest = RunRequest {
        window_id: "mw-0c50858d01ff4a3b9".into(),
        outcomes,
        status: None,
        verification: None,
        start: Some(chrono::Utc::now() - chrono::Duration::minutes(30)),
        duration_minutes: 20,
        alarm_states: Default::default(),
        override_lists: Default::default(),
    };
    let run = run_window(&mut state, request, &mut fastrand::Rng::with_seed(4)).unwrap();
    let fixture = fixture(state).await;
    let alerts = fixture.alerts(&[("ALERT_STORM_THRESHOLD", "10")]);
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut window_event = None;
    for event in run.events {
        match event["detail-type"].as_str().unwrap() {
            "EC2 Command Invocation Status-change Notification" => {
                let kind = match alerts.handle(event).await.unwrap() {
                    Outcome::Sent { .. } => "sent",
                    Outcome::Suppressed { .. } => "suppressed",
                    Outcome::Ignored { .. } => "ignored",
                    other => panic!("{other:?}"),
                };
                *outcomes.entry(kind).or_default() += 1;
            }
            "Maintenance Window Execution State-change Notification" => window_event = Some(event),
            _ => {}
        }
    }
    assert_eq!(outcomes.get("sent"), Some(&10), "{outcomes:?}");
    assert_eq!(outcomes.get("suppressed"), Some(&15), "{outcomes:?}");
    let summary = alerts
        .handle(window_event.expect("the run ends"))
        .await
        .unwrap();
    assert!(
        matches!(
            &summary,
            Outcome::Sent {
                kind: AlertKind::WindowSummary,
                ..
            }
        ),
        "{summary:?}"
    );
    let messages = fixture.messages(11).await;
    assert_eq!(messages.len(), 11);
    let window_summary = messages
        .iter()
        .find(|m| m["MessageAttributes"]["kind"]["Value"] == "window_summary")
        .expect("one window summary");
    assert_eq!(
        window_summary["Subject"],
        "Patch window mw-0c50858d01ff4a3b9 FAILED: 25 instances failed, 10 paged, 15 summarised here"
    );
}

/// Another team's window fails in the same hour: its storm fills the hour's bucket (invocation events
/// carry no window id, so the bucket is per document and hour), and team B's one failed instance is
/// suppressed. B's own count is within the threshold, yet its window summary must go out and carry the
/// suppressed instance: before, it was skipped and nothing reached a human.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_suppressed_by_another_teams_storm_is_carried_by_its_own_summary() {
    use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
    let mut state = generate(&GenerateOptions {
        seed: 11,
        instances: 40,
        groups: 2,
        failed: 0.0,
        missing: 1.0,
        never_reported: 0.0,
        stale: 0.0,
        ..GenerateOptions::default()
    });
    let window = |id: &str, group: &str, target: &str, task: &str| {
        serde_json::from_value::<patchpilot_test_support::ssm_sim::state::Window>(json!({
            "id": id, "name": id, "enabled": true,
            "schedule": "cron(0 2 ? * THU *)", "duration": 3, "cutoff": 1,
            "targets": [{"id": target, "patch_groups": [group]}],
            "tasks": [{"id": task, "document": "AWS-RunPatchBaseline", "kind": "patch", "operation": "Install"}],
            "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z"
        }))
        .unwrap()
    };
    let team_a = window(
        "mw-0a0000000000000a1",
        "pg-0000",
        "4c0f0e2a-1b3d-4e5f-8a9b-0c1d2e3f4a51",
        "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a71",
    );
    let team_b = window(
        "mw-0b0000000000000b1",
        "pg-0001",
        "4c0f0e2a-1b3d-4e5f-8a9b-0c1d2e3f4a52",
        "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a72",
    );
    state.windows.insert(team_a.id.clone(), team_a);
    state.windows.insert(team_b.id.clone(), team_b);
    let members = |state: &State, group: &str| state.group_members[group].to_vec();
    let failed: InstanceOutcome = serde_json::from_value(json!({"status": "Failed"})).unwrap();
    let start = chrono::Utc::now() - chrono::Duration::minutes(40);
    let run = |state: &mut State, window: &str, failing: Vec<String>, seed: u64| {
        let request = RunRequest {
            window_id: window.into(),
            outcomes: failing.into_iter().map(|id| (id, failed.clone())).collect(),
            status: None,
            verification: None,
            start: Some(start),
            duration_minutes: 20,
            alarm_states: Default::default(),
            override_lists: Default::default(),
        };
        run_window(state, request, &mut fastrand::Rng::with_seed(seed)).unwrap()
    };
    let a_failing: Vec<String> = members(&state, "pg-0000").into_iter().take(12).collect();
    let b_failing: Vec<String> = members(&state, "pg-0001").into_iter().take(1).collect();
    let run_a = run(&mut state, "mw-0a0000000000000a1", a_failing, 5);
    let run_b = run(&mut state, "mw-0b0000000000000b1", b_failing.clone(), 6);
    let fixture = fixture(state).await;
    let alerts = fixture.alerts(&[("ALERT_STORM_THRESHOLD", "10")]);
    let mut window_events = Vec::new();
    let mut suppressed = Vec::new();
    for event in run_a.events.into_iter().chain(run_b.events) {
        match event["detail-type"].as_str().unwrap() {
            "EC2 Command Invocation Status-change Notification" => {
                let instance = event["detail"]["instance-id"].as_str().unwrap().to_owned();
                if let Outcome::Suppressed { .. } = alerts.handle(event).await.unwrap() {
                    suppressed.push(instance);
                }
            }
            "Maintenance Window Execution State-change Notification" => window_events.push(event),
            _ => {}
        }
    }
    assert!(
        suppressed.contains(&b_failing[0]),
        "B's failure fell into A's full hour: {suppressed:?}"
    );
    let mut summaries = Vec::new();
    for event in window_events {
        let window = event["detail"]["window-id"].as_str().unwrap().to_owned();
        if let Outcome::Sent {
            kind: AlertKind::WindowSummary,
            ..
        } = alerts.handle(event).await.unwrap()
        {
            summaries.push(window);
        }
    }
    summaries.sort();
    assert_eq!(
        summaries,
        ["mw-0a0000000000000a1", "mw-0b0000000000000b1"],
        "B's summary carries its suppressed failure"
    );
    let messages = fixture.messages(12).await;
    let b_summary = messages
        .iter()
        .find(|m| {
            m["Subject"]
                .as_str()
                .unwrap()
                .starts_with("Patch window mw-0b0000000000000b1")
        })
        .expect("team B's summary");
    assert!(
        b_summary["Message"]
            .as_str()
            .unwrap()
            .contains(&b_failing[0]),
        "{b_summary}"
    );
}

/// A window run too large for the time left: 300 one-instance commands failed, every SSM call takes
/// 50 ms, and the budget stops reading after about a second. The summary still goes out, counts
/// every invocation, names the failed instances it reached, and says how many it did not; a run
/// with no time to count at all is an error to retry, never a silent "no storm".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_summary_cut_short_by_its_deadline_goes_out_and_says_what_it_did_not_reach() {
    use patchpilot_shared::budget::{Budget, MIN_MARGIN};
    use patchpilot_test_support::ssm_sim::faults::FaultSettings;
    use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
    let mut state = generate(&GenerateOptions {
        seed: 19,
        instances: 300,
        groups: 1,
        failed: 0.0,
        missing: 1.0,
        never_reported: 0.0,
        stale: 0.0,
        ..GenerateOptions::default()
    });
    let window: patchpilot_test_support::ssm_sim::state::Window = serde_json::from_value(json!({
        "id": "mw-0c50858d01ff4a3b8", "name": "fleet", "enabled": true,
        "schedule": "cron(0 2 ? * THU *)", "duration": 3, "cutoff": 1,
        "targets": [{"id": "4c0f0e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5d", "patch_groups": ["pg-0000"]}],
        "tasks": [{"id": "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7d", "document": "AWS-RunPatchBaseline",
                   "kind": "patch", "operation": "Install"}],
        "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z"
    }))
    .unwrap();
    state.windows.insert(window.id.clone(), window);
    let outcomes = state
        .instances
        .keys()
        .map(|id| {
            let outcome: InstanceOutcome =
                serde_json::from_value(json!({"status": "Failed"})).unwrap();
            (id.clone(), outcome)
        })
        .collect();
    let request = RunRequest {
        window_id: "mw-0c50858d01ff4a3b8".into(),
        outcomes,
        status: None,
        verification: None,
        start: Some(chrono::Utc::now() - chrono::Duration::minutes(30)),
        duration_minutes: 20,
        alarm_states: Default::default(),
        override_lists: Default::default(),
    };
    let run = run_window(&mut state, request, &mut fastrand::Rng::with_seed(4)).unwrap();
    let window_event = run
        .events
        .into_iter()
        .find(|e| e["detail-type"] == "Maintenance Window Execution State-change Notification")
        .expect("the run ends");
    let fixture = fixture(state).await;
    fixture.sim.sim.app.faults.set(FaultSettings {
        latency_ms: 50,
        ..FaultSettings::default()
    });
    let alerts = fixture.alerts(&[("ALERT_STORM_THRESHOLD", "10")]);

    // No time to count anything: not "no storm", but an error Lambda retries.
    let spent = Budget::new(Duration::ZERO, Duration::ZERO);
    let err = alerts
        .handle_within(window_event.clone(), &spent)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Retryable.StoppedForTime", "{err}");
    assert!(
        err.to_string()
            .contains("whether a summary is due is unknown"),
        "{err}"
    );

    // Counting stops 1 s in; the margin after it is production's smallest (`MIN_MARGIN`): what the
    // page's publish may take, on a loaded test machine as in an account.
    let deadline = Duration::from_millis(1000) + MIN_MARGIN;
    let budget = Budget::new(deadline, MIN_MARGIN);
    let started = std::time::Instant::now();
    let outcome = alerts.handle_within(window_event, &budget).await.unwrap();
    let took = started.elapsed();
    assert!(took < deadline, "sent within the deadline: {took:?}");
    let Outcome::Sent {
        kind: AlertKind::WindowSummary,
        incomplete: Some(incomplete),
        ..
    } = &outcome
    else {
        panic!("expected an incomplete window summary, got {outcome:?}")
    };
    let not_named: usize = incomplete
        .split(" failed invocations were not named")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the shortfall is counted: {incomplete}"));
    assert!((1..300).contains(&not_named), "{incomplete}");
    let messages = fixture.messages(1).await;
    let summary = &messages[0];
    let document: Value = serde_json::from_str(summary["Message"].as_str().unwrap()).unwrap();
    assert_eq!(document["complete"], false);
    assert_eq!(
        document["invocations_total"], 300,
        "every invocation was counted"
    );
    assert_eq!(document["failed_total"], 300);
    assert!(
        document["incomplete"]
            .as_str()
            .unwrap()
            .contains(&format!("{not_named} failed invocations were not named")),
        "{document}"
    );
    let listed = document["instances"].as_array().unwrap().len();
    assert!(
        listed <= 300 - not_named,
        "only instances named in time are listed ({listed})"
    );
}

/// With `CentralAlertTopicArn` the page goes to the organization's topic, in another account and
/// Region, through the client the function's wiring builds for it; it names the account and Region
/// the failure happened in, and nothing reaches the stack's own topic.
#[tokio::test]
async fn a_failed_install_pages_the_central_topic_in_another_account_and_region() {
    let command_id = "21111111-2222-4333-8444-555555555555";
    let state = fleet(2, 1, command_id);
    let instance_id = state.instances.keys().next().unwrap().clone();
    let mut fixture = fixture(state).await;
    // The organization's topic: its own account, us-east-1 (the function runs in eu-west-1).
    let aws = LocalAws::shared();
    let central = patchpilot_test_support::sdk_config_as(
        &aws.localstack_url,
        &patchpilot_test_support::isolated_account(),
    )
    .await
    .into_builder()
    .region(aws_config::Region::new("us-east-1"))
    .build();
    let (central_sqs, central_topic) = (
        aws_sdk_sqs::Client::new(&central),
        aws_sdk_sns::Client::new(&central),
    );
    let name = patchpilot_test_support::unique_name("central-alerts");
    let (topic_arn, queue_url) =
        patchpilot_test_support::resources::topic_with_queue(&central_topic, &central_sqs, &name)
            .await;
    assert!(
        topic_arn.starts_with("arn:aws:sns:us-east-1:"),
        "{topic_arn}"
    );
    // As main.rs wires it: a client for the topic's Region, the function's credentials.
    fixture.clients.sns =
        patchpilot_shared::aws::sns::client_for_topic(&fixture.outbox.config, &topic_arn);
    assert_eq!(
        fixture.clients.sns.config().region().map(|r| r.as_ref()),
        Some("us-east-1")
    );
    fixture.topic_arn = topic_arn;
    let alerts = fixture.alerts(&[]);

    let outcome = alerts
        .handle(invocation_event(command_id, &instance_id, "Failed"))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let messages = patchpilot_test_support::resources::drain_queue(
        &central_sqs,
        &queue_url,
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let attributes = &messages[0]["MessageAttributes"];
    assert_eq!(attributes["account"]["Value"], "111122223333");
    assert_eq!(attributes["region"]["Value"], "eu-west-1");
    assert_eq!(attributes["instance_id"]["Value"], instance_id);
    let text = messages[0]["Message"].as_str().unwrap();
    let doc: Value = serde_json::from_str(text).unwrap();
    assert_eq!(doc["account"], "111122223333");
    assert_eq!(
        fixture.messages(0).await,
        Vec::<Value>::new(),
        "the stack's own topic stays quiet"
    );
}
