//! The tagger against LocalStack EC2 (each test in an account of its own) and, for rules kept in
//! Parameter Store, the SSM simulator. Tags are read back with DescribeTags; calls are counted by an
//! SDK interceptor, not by the code under test.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patch_group_tagger::Handler;
use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    Filter, HttpTokensState, InstanceMetadataOptionsRequest, InstanceMetadataTagsState,
    InstanceType, ResourceType, Tag, TagSpecification,
};
use patch_group_tagger::config::TaggerConfig;
use patch_group_tagger::decide::Action;
use patch_group_tagger::{Clients, Output, Tagger};
use patchpilot_test_support::{CallCounter, LocalAws, Simulator};
use serde_json::{Value, json};

const RULES: &str = r#"[
    {"name": "eks", "skip": true, "match": {"tag_present": ["eks:cluster-name"]}},
    {"name": "prod-web", "patch_group": "production-web", "match": {"tags": {"Environment": "production", "Role": "web"}}},
    {"name": "staging", "patch_group": "staging", "match": {"tags": {"Environment": "staging"}}}
]"#;

struct Fixture {
    ec2: aws_sdk_ec2::Client,
    calls: CallCounter,
    ssm: aws_sdk_ssm::Client,
    _sim: Simulator,
}

async fn fixture() -> Fixture {
    let config = LocalAws::shared().isolated_sdk_config().await;
    let calls = CallCounter::default();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let sim = Simulator::start(ssm_state());
    let ssm = sim.client().await;
    Fixture {
        ec2,
        calls,
        ssm,
        _sim: sim,
    }
}

fn ssm_state() -> patchpilot_test_support::ssm_sim::state::State {
    patchpilot_test_support::ssm_sim::state::State {
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        ..Default::default()
    }
}

async fn tagger(fixture: &Fixture, env: &[(&str, &str)]) -> Tagger {
    let env: std::collections::HashMap<&str, &str> = env.iter().copied().collect();
    let config = TaggerConfig::from_env(&env).unwrap();
    Tagger::new(
        Clients {
            ec2: fixture.ec2.clone(),
            ssm: fixture.ssm.clone(),
        },
        config,
    )
    .await
    .unwrap()
}

async fn launch(
    ec2: &aws_sdk_ec2::Client,
    count: i32,
    tags: &[(&str, &str)],
    metadata_tags: bool,
) -> Vec<String> {
    let mut request = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::T3Micro)
        .min_count(count)
        .max_count(count);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (key, value) in tags {
            spec = spec.tags(Tag::builder().key(*key).value(*value).build());
        }
        request = request.tag_specifications(spec.build());
    }
    if metadata_tags {
        request = request.metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
                .build(),
        );
    }
    let output = request.send().await.unwrap();
    output
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect()
}

async fn tags_of(ec2: &aws_sdk_ec2::Client, id: &str) -> BTreeMap<String, String> {
    let tags = ec2
        .describe_tags()
        .filters(Filter::builder().name("resource-id").values(id).build())
        .send()
        .await
        .unwrap();
    tags.tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect()
}

/// The `Patch Group` tag of an instance, read back from EC2.
async fn patch_group_of(ec2: &aws_sdk_ec2::Client, id: &str) -> Option<String> {
    tags_of(ec2, id).await.remove("Patch Group")
}

fn running_event(instance_id: &str, state: &str) -> Value {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/patch-group-tagger/instance-running.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&sample).unwrap();
    event["detail"]["instance-id"] = json!(instance_id);
    event["detail"]["state"] = json!(state);
    event
}

fn scheduled_event() -> Value {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/patch-group-tagger/scheduled-backfill.json"
    ))
    .unwrap();
    serde_json::from_str(&sample).unwrap()
}

async fn decision(tagger: &Tagger, event: Value) -> patch_group_tagger::decide::Decision {
    match tagger.handle(event).await.unwrap() {
        Output::Instance { decision } => decision,
        other => panic!("expected an instance decision, got {other:?}"),
    }
}

#[tokio::test]
async fn launch_events_tag_by_rules_and_keep_human_choices() {
    let fixture = fixture().await;
    let tagger = tagger(&fixture, &[("TAG_RULES", RULES)]).await;
    let web = launch(
        &fixture.ec2,
        1,
        &[("Environment", "production"), ("Role", "web")],
        false,
    )
    .await
    .remove(0);
    let human = launch(
        &fixture.ec2,
        1,
        &[
            ("Environment", "production"),
            ("Role", "web"),
            ("Patch Group", "hand-picked"),
        ],
        false,
    )
    .await
    .remove(0);
    let metadata = launch(&fixture.ec2, 1, &[("Environment", "staging")], true)
        .await
        .remove(0);
    let eks = launch(
        &fixture.ec2,
        1,
        &[("Environment", "staging"), ("eks:cluster-name", "main")],
        false,
    )
    .await
    .remove(0);
    let stray = launch(&fixture.ec2, 1, &[], false).await.remove(0);

    let d = decision(&tagger, running_event(&web, "running")).await;
    assert_eq!(
        (d.action, d.patch_group.as_deref(), d.rule.as_deref()),
        (Action::Tagged, Some("production-web"), Some("prod-web"))
    );
    assert_eq!(
        patch_group_of(&fixture.ec2, &web).await.as_deref(),
        Some("production-web")
    );

    let d = decision(&tagger, running_event(&human, "running")).await;
    assert_eq!(d.action, Action::AlreadyTagged);
    assert_eq!(
        patch_group_of(&fixture.ec2, &human).await.as_deref(),
        Some("hand-picked"),
        "a human's tag survives"
    );

    let d = decision(&tagger, running_event(&metadata, "running")).await;
    assert_eq!(
        (d.action, d.tag_key.as_deref()),
        (Action::Tagged, Some("PatchGroup"))
    );
    let tags = tags_of(&fixture.ec2, &metadata).await;
    assert_eq!(tags.get("PatchGroup").map(String::as_str), Some("staging"));
    assert!(!tags.contains_key("Patch Group"));

    assert_eq!(
        decision(&tagger, running_event(&eks, "running"))
            .await
            .action,
        Action::Skipped
    );
    assert!(
        !tags_of(&fixture.ec2, &eks)
            .await
            .contains_key("Patch Group")
    );
    assert_eq!(
        decision(&tagger, running_event(&stray, "running"))
            .await
            .action,
        Action::NoMatch
    );
    assert_eq!(
        decision(&tagger, running_event(&web, "pending"))
            .await
            .action,
        Action::Skipped
    );

    // A second delivery of the same event changes nothing.
    fixture.calls.reset();
    assert_eq!(
        decision(&tagger, running_event(&web, "running"))
            .await
            .action,
        Action::AlreadyTagged
    );
    assert_eq!(fixture.calls.count("CreateTags"), 0);
}

#[tokio::test]
async fn vanished_instances_are_not_found_not_errors() {
    let fixture = fixture().await;
    let tagger = tagger(
        &fixture,
        &[("TAG_RULES", RULES), ("DEFAULT_PATCH_GROUP", "general")],
    )
    .await;
    let d = decision(&tagger, running_event("i-0123456789abcdef0", "running")).await;
    assert_eq!(d.action, Action::NotFound);
}

#[tokio::test]
async fn dry_run_decides_without_writing() {
    let fixture = fixture().await;
    let tagger = tagger(&fixture, &[("TAG_RULES", RULES), ("DRY_RUN", "true")]).await;
    let web = launch(
        &fixture.ec2,
        1,
        &[("Environment", "production"), ("Role", "web")],
        false,
    )
    .await
    .remove(0);
    let d = decision(&tagger, running_event(&web, "running")).await;
    assert_eq!(
        (d.action, d.patch_group.as_deref()),
        (Action::DryRun, Some("production-web"))
    );
    assert!(
        !tags_of(&fixture.ec2, &web)
            .await
            .contains_key("Patch Group")
    );
    assert_eq!(fixture.calls.count("CreateTags"), 0);
}

#[tokio::test]
async fn rules_from_parameter_store_are_read_and_bad_ones_fail_cold_start() {
    let fixture = fixture().await;
    fixture
        .ssm
        .put_parameter()
        .name("/patchpilot/tag-rules")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .value(RULES)
        .send()
        .await
        .unwrap();
    let tagger = tagger(
        &fixture,
        &[("TAG_RULES_PARAMETER", "/patchpilot/tag-rules")],
    )
    .await;
    let web = launch(
        &fixture.ec2,
        1,
        &[("Environment", "production"), ("Role", "web")],
        false,
    )
    .await
    .remove(0);
    assert_eq!(
        decision(&tagger, running_event(&web, "running"))
            .await
            .patch_group
            .as_deref(),
        Some("production-web")
    );

    fixture
        .ssm
        .put_parameter()
        .name("/patchpilot/bad-rules")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .value(r#"[{"name": "x", "patch_group": "y", "match": {"colour": "red"}}]"#)
        .send()
        .await
        .unwrap();
    let env: std::collections::HashMap<&str, &str> =
        [("TAG_RULES_PARAMETER", "/patchpilot/bad-rules")]
            .into_iter()
            .collect();
    let config = TaggerConfig::from_env(&env).unwrap();
    let err = Tagger::new(
        Clients {
            ec2: fixture.ec2.clone(),
            ssm: fixture.ssm.clone(),
        },
        config,
    )
    .await
    .err()
    .expect("bad rules fail init");
    let message = err.to_string();
    assert!(
        message.contains("SSM parameter /patchpilot/bad-rules")
            && message.contains("rule #1 (\"x\"): field `match.colour`"),
        "{message}"
    );
    assert_eq!(err.error_type(), "Permanent.Configuration");
}

#[tokio::test]
async fn bad_events_are_errors_that_name_the_problem() {
    let fixture = fixture().await;
    let tagger = tagger(&fixture, &[("TAG_RULES", RULES)]).await;
    let err = tagger.handle(json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {"state": "running"}})).await.unwrap_err();
    assert!(err.to_string().contains("instance-id"), "{err}");
    assert_eq!(err.error_type(), "Permanent.BadEvent");
    let err = tagger.handle(json!({"detail-type": "EC2 Command Status-change Notification", "source": "aws.ssm", "detail": {"command-id": "c", "status": "Success"}})).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("handles EC2 Instance State-change Notification"),
        "{err}"
    );
}

#[tokio::test]
async fn backfill_tags_thousands_in_batches_and_is_idempotent() {
    let fixture = fixture().await;
    let tagger = tagger(
        &fixture,
        &[("TAG_RULES", RULES), ("DEFAULT_PATCH_GROUP", "general")],
    )
    .await;
    let mut production = Vec::new();
    for _ in 0..3 {
        production.extend(
            launch(
                &fixture.ec2,
                500,
                &[("Environment", "production"), ("Role", "web")],
                false,
            )
            .await,
        );
    }
    let general = launch(&fixture.ec2, 500, &[], false).await;
    let human = launch(&fixture.ec2, 20, &[("Patch Group", "hand-picked")], false).await;
    fixture.calls.reset();

    let Output::Backfill(report) = tagger.handle(scheduled_event()).await.unwrap() else {
        panic!("expected a backfill")
    };
    assert_eq!(report.instances_seen, 2020);
    assert_eq!(report.counts[&Action::Tagged], 2000);
    assert_eq!(report.counts[&Action::AlreadyTagged], 20);
    // The minimum: one CreateTags per (group, key) per 1,000 instances, and the DescribeInstances pages.
    assert_eq!(
        fixture.calls.count("CreateTags"),
        2 + 1,
        "{:?}",
        fixture.calls.all()
    );
    assert_eq!(
        fixture.calls.count("DescribeInstances"),
        report.describe_instances_pages
    );
    // At most one page per 1,000 instances (LocalStack may answer in fewer, larger pages).
    assert!(fixture.calls.count("DescribeInstances") <= 2020usize.div_ceil(1000));
    println!("backfill of 2,000: {:?}", fixture.calls.all());

    assert_eq!(
        patch_group_of(&fixture.ec2, &production[1234])
            .await
            .as_deref(),
        Some("production-web")
    );
    assert_eq!(
        patch_group_of(&fixture.ec2, &general[7]).await.as_deref(),
        Some("general")
    );
    assert_eq!(
        patch_group_of(&fixture.ec2, &human[3]).await.as_deref(),
        Some("hand-picked")
    );

    fixture.calls.reset();
    let Output::Backfill(again) = tagger.handle(scheduled_event()).await.unwrap() else {
        panic!("expected a backfill")
    };
    assert_eq!(
        again.counts.get(&Action::Tagged),
        None,
        "a second run changes nothing"
    );
    assert_eq!(again.counts[&Action::AlreadyTagged], 2020);
    assert_eq!(fixture.calls.count("CreateTags"), 0);
}

#[tokio::test]
async fn a_secure_string_rules_parameter_is_refused_at_cold_start_by_name() {
    let fixture = fixture().await;
    fixture
        .ssm
        .put_parameter()
        .name("/patchpilot/secret-rules")
        .value(RULES)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let env: std::collections::HashMap<&str, &str> =
        [("TAG_RULES_PARAMETER", "/patchpilot/secret-rules")]
            .into_iter()
            .collect();
    let err = Tagger::new(
        Clients {
            ec2: fixture.ec2.clone(),
            ssm: fixture.ssm.clone(),
        },
        TaggerConfig::from_env(&env).unwrap(),
    )
    .await
    .err()
    .expect("a SecureString fails init");
    let message = err.to_string();
    assert!(
        message.contains("TAG_RULES_PARAMETER") && message.contains("SecureString"),
        "{message}"
    );
    assert_eq!(err.error_type(), "Permanent.Configuration");
}

/// Instances in this account carrying `Patch Group`, read back from EC2.
async fn tagged_count(ec2: &aws_sdk_ec2::Client) -> usize {
    let mut count = 0;
    let mut pages = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag-key")
                .values("Patch Group")
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        count += page
            .unwrap()
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
    }
    count
}

/// A tagger whose EC2 answers CreateTags after `delay` (a delaying proxy in front of LocalStack), with
/// the proxy, which stops when dropped.
async fn slow_tagger(
    fixture: &Fixture,
    delay: std::time::Duration,
) -> (Tagger, patchpilot_test_support::recorder::RecordingProxy) {
    use patchpilot_test_support::recorder::{Recorder, RecordingProxy, Upstreams};
    let proxy = RecordingProxy::start_delayed(
        "patch-group-tagger",
        Upstreams {
            ssm: String::new(),
            dynamodb: String::new(),
            localstack: LocalAws::shared().localstack_url.clone(),
        },
        Recorder::default(),
        BTreeMap::from([("CreateTags".to_owned(), delay)]),
    )
    .await
    .unwrap();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        fixture
            .ec2
            .config()
            .to_builder()
            .endpoint_url(&proxy.url)
            .build(),
    );
    let env: std::collections::HashMap<&str, &str> = [("TAG_RULES", RULES)].into_iter().collect();
    let tagger = Tagger::new(
        Clients {
            ec2,
            ssm: fixture.ssm.clone(),
        },
        TaggerConfig::from_env(&env).unwrap(),
    )
    .await
    .unwrap();
    (tagger, proxy)
}

/// A backfill slower than its deadline: EC2's CreateTags answers slowly (a delaying proxy in front of
/// LocalStack), 1,500 instances need two calls, and the budget fits the read and one call, not two.
/// The first run keeps every tag it wrote, reports what it did not reach and asks for a retry; the
/// next run finishes the rest without writing anything twice. A run with no time at all writes
/// nothing and says it stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_cut_short_by_its_deadline_keeps_its_work_and_the_next_run_finishes() {
    use patchpilot_shared::budget::{Budget, MIN_MARGIN};
    use std::time::Duration;

    let fixture = fixture().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.extend(
            launch(
                &fixture.ec2,
                500,
                &[("Environment", "production"), ("Role", "web")],
                false,
            )
            .await,
        );
    }
    // The read's own time here (LocalStack answers 1,500 instances in one page), so the budget fits
    // the read and one CreateTags, and a second CreateTags cannot fit whatever the machine's speed.
    let started = std::time::Instant::now();
    fixture.ec2.describe_instances().send().await.unwrap();
    let read = started.elapsed().mul_f64(1.5);
    let create_tags = Duration::from_secs(3) + read * 2;
    let stop = read + create_tags + Duration::from_secs(1);
    let (slow, _proxy) = slow_tagger(&fixture, create_tags).await;

    // No time at all: nothing read, nothing written, Ok (a retry would repeat it), stalled.
    let spent = Budget::new(Duration::ZERO, Duration::ZERO);
    let Output::Backfill(stalled) = slow.handle_within(scheduled_event(), &spent).await.unwrap()
    else {
        panic!("expected a backfill")
    };
    assert!(
        !stalled.complete && stalled.stalled(),
        "{:?}",
        stalled.stopped_for_time
    );
    assert_eq!(stalled.describe_instances_pages, 0);
    assert_eq!(tagged_count(&fixture.ec2).await, 0);

    let budget = Budget::new(stop + MIN_MARGIN, MIN_MARGIN);
    let started = std::time::Instant::now();
    let err = match slow.handle_within(scheduled_event(), &budget).await {
        Err(err) => err,
        Ok(Output::Backfill(report)) => panic!(
            "expected a retryable stop; got {:?} with {:?} ({stop:?} budget)",
            report.stopped_for_time, report.counts
        ),
        Ok(other) => panic!("expected a backfill, got {other:?}"),
    };
    let took = started.elapsed();
    assert!(
        took < stop + MIN_MARGIN,
        "stopped at its stop time, within the deadline: {took:?}"
    );
    assert_eq!(err.error_type(), "Retryable.StoppedForTime", "{err}");
    let first = tagged_count(&fixture.ec2).await;
    assert!((1000..1500).contains(&first), "first run tagged {first}");
    assert!(
        err.to_string().contains(&format!(
            "{first} tagged, {} decided but not reached",
            1500 - first
        )),
        "the error says what was done and what was not: {err}"
    );

    // The next run tags exactly the rest: the read and the one CreateTags left, with a second to
    // spare (less than another page would take: the last page ends the run, not the clock).
    let budget = Budget::new(stop + MIN_MARGIN, MIN_MARGIN);
    let report = slow.backfill(&budget).await.unwrap();
    assert!(
        report.complete && report.stopped_for_time.is_none(),
        "{:?} {:?}",
        report.stopped_for_time,
        report.counts
    );
    assert_eq!(report.counts[&Action::AlreadyTagged], first);
    assert_eq!(report.counts[&Action::Tagged], 1500 - first);
    assert_eq!(tagged_count(&fixture.ec2).await, 1500);
    assert_eq!(
        patch_group_of(&fixture.ec2, &ids[1499]).await.as_deref(),
        Some("production-web")
    );
}

/// The report a cut-short page leaves: instances decided but not reached are `not_reached`, listed
/// with that action, and never counted as tagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_not_reached_are_reported_as_such() {
    use patchpilot_shared::budget::Budget;
    use std::time::Duration;

    let fixture = fixture().await;
    launch(&fixture.ec2, 30, &[("Environment", "staging")], false).await;
    let (slow, _proxy) = slow_tagger(&fixture, Duration::from_secs(10)).await;
    let budget = Budget::new(Duration::from_secs(3), Duration::from_millis(500));
    let report = slow.backfill(&budget).await.unwrap();
    assert!(
        !report.complete && report.stalled(),
        "{:?}",
        report.stopped_for_time
    );
    let stop = report.stopped_for_time.as_ref().unwrap();
    assert_eq!((stop.after_pages, stop.not_reached), (0, 30));
    assert_eq!(report.counts.get(&Action::Tagged), None);
    assert_eq!(report.counts[&Action::NotReached], 30);
    assert!(
        report
            .decisions
            .iter()
            .all(|d| d.action == Action::NotReached && d.reason.contains("stopped for time"))
    );
    assert_eq!(tagged_count(&fixture.ec2).await, 0);
}
