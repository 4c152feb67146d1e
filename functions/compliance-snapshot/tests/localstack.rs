//! compliance-snapshot end to end: a simulator fleet, the handler, then LocalStack CloudWatch's
//! GetMetricData returns, per group and for the fleet, values computed here independently from the
//! simulator's own state.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use compliance_snapshot::Handler;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime as SmithyDateTime;
use compliance_snapshot::config::SnapshotConfig;
use compliance_snapshot::{GroupingSource, InventoryGrouping, Snapshot, SnapshotOutcome};
use patchpilot_shared::ErrorClass;
use patchpilot_test_support::ssm_sim::faults::FaultSettings;
use patchpilot_test_support::ssm_sim::generate::{GenerateOptions, generate};
use patchpilot_test_support::ssm_sim::state::State;
use patchpilot_test_support::{LocalAws, Simulator, unique_name};
use serde_json::json;

fn fleet() -> State {
    generate(&GenerateOptions {
        seed: 11,
        instances: 400,
        groups: 4,
        failed: 0.1,
        missing: 0.2,
        never_reported: 0.05,
        ungrouped: 0.05,
        stale: 0.05,
        ..GenerateOptions::default()
    })
}

/// Expected values, straight from the simulator's state (not through the function's code).
#[derive(Debug, Default)]
struct Expected {
    instances: f64,
    compliant: f64,
    failed_patches: f64,
    /// Reported more than the default stale limit (168 hours) ago.
    stale: f64,
}

fn expected(state: &State) -> (BTreeMap<String, Expected>, f64, f64) {
    let mut groups: BTreeMap<String, Expected> = BTreeMap::new();
    let (mut never_reported, mut ungrouped) = (0.0, 0.0);
    for instance in state.instances.values() {
        let Some(group) = &instance.patch_group else {
            ungrouped += 1.0;
            continue;
        };
        if instance.report.is_none() {
            never_reported += 1.0;
            continue;
        }
        let entry = groups.entry(group.clone()).or_default();
        entry.instances += 1.0;
        entry.compliant += f64::from(u8::from(instance.counts.is_compliant()));
        entry.failed_patches += instance.counts.failed as f64;
        let age = chrono::Utc::now()
            - instance
                .report
                .as_ref()
                .map_or(chrono::Utc::now(), |r| r.end);
        entry.stale += f64::from(u8::from(age > chrono::Duration::hours(168)));
    }
    (groups, never_reported, ungrouped)
}

struct Fixture {
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// EC2 in an account of the fixture's own: only the instances its test launches run there.
    ec2: aws_sdk_ec2::Client,
    namespace: String,
    sim: Simulator,
}

impl Fixture {
    async fn new(state: State) -> Self {
        let config = LocalAws::shared().sdk_config().await;
        Self {
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&LocalAws::shared().isolated_sdk_config().await),
            namespace: unique_name("PatchCompliance"),
            sim: Simulator::start(state),
        }
    }

    async fn snapshot(&self, extra: &[(&str, &str)]) -> Snapshot {
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("METRIC_NAMESPACE", self.namespace.as_str()),
            ("RETRY_MAX_ATTEMPTS", "10"),
        ]);
        env.extend(extra.iter().copied());
        let config = SnapshotConfig::from_env(&env).unwrap();
        // The SSM client retries as the function's own would (RETRY_MODE, RETRY_MAX_ATTEMPTS).
        let sdk = patchpilot_test_support::sdk_config(&self.sim.sim.url).await;
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&sdk)
                .retry_config(patchpilot_shared::clients::retry_config(&config.common))
                .build(),
        );
        Snapshot::new(ssm, self.cloudwatch.clone(), self.ec2.clone(), config)
    }

    /// The fixture with EC2 answered by the simulator's EC2 face (ledger row 35): the fleet listed by
    /// both services, as in an account.
    async fn with_simulated_ec2(mut self) -> Self {
        self.ec2 =
            aws_sdk_ec2::Client::new(&patchpilot_test_support::sdk_config(&self.sim.sim.url).await);
        self
    }

    /// One dry-run snapshot's summary.
    async fn dry_run(&self) -> compliance_snapshot::Summary {
        self.snapshot(&[("DRY_RUN", "true")])
            .await
            .handle(scheduled())
            .await
            .unwrap()
    }

    /// The latest value of `metric` for `group`, read back through GetMetricData.
    async fn value(&self, metric: &str, group: &str) -> Option<f64> {
        let now = chrono::Utc::now().timestamp();
        let query = MetricDataQuery::builder()
            .id("q")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(&self.namespace)
                            .metric_name(metric)
                            .dimensions(
                                Dimension::builder().name("PatchGroup").value(group).build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let output = self
            .cloudwatch
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(SmithyDateTime::from_secs(now - 900))
            .end_time(SmithyDateTime::from_secs(now + 300))
            .send()
            .await
            .unwrap();
        output.metric_data_results()[0].values().first().copied()
    }
}

fn scheduled() -> serde_json::Value {
    serde_json::from_str(include_str!(
        "../../../events/compliance-snapshot/scheduled.json"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_per_group_and_for_the_fleet_match_the_fleet() {
    let state = fleet();
    let (groups, never_reported, ungrouped) = expected(&state);
    let fixture = Fixture::new(state).await;
    let summary = fixture
        .snapshot(&[])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    assert_eq!(summary.outcome, SnapshotOutcome::Published);
    assert_eq!(
        summary.groups_published,
        groups.keys().cloned().collect::<Vec<_>>()
    );
    assert!(summary.groups_failed.is_empty());
    // Calls: discovery, ceil(reported / 5) per group (the simulator answers at the model's output
    // cap, whatever the 100 asked for), and the two inventory passes of 50.
    let minimum_group_pages: usize = groups
        .values()
        .map(|g| (g.instances as usize).div_ceil(5).max(1))
        .sum();
    assert_eq!(
        summary.ssm_calls["DescribeInstancePatchStatesForPatchGroup"],
        minimum_group_pages
    );
    assert_eq!(summary.ssm_calls["DescribePatchGroups"], 1);
    assert_eq!(
        summary.ssm_calls["DescribePatchGroupState"],
        groups.len(),
        "one counts call a group"
    );
    assert!(summary.complete && summary.groups_detail_skipped.is_empty());
    assert!(summary.groups_estimated.is_empty());
    assert_eq!(summary.put_metric_data_calls, 1);

    for (group, expected) in &groups {
        assert_eq!(
            fixture.value("Instances", group).await,
            Some(expected.instances),
            "{group}"
        );
        assert_eq!(
            fixture.value("CompliantInstances", group).await,
            Some(expected.compliant),
            "{group}"
        );
        assert_eq!(
            fixture.value("FailedPatches", group).await,
            Some(expected.failed_patches),
            "{group}"
        );
        let percent = fixture.value("CompliancePercent", group).await.unwrap();
        assert!(
            (percent - expected.compliant * 100.0 / expected.instances).abs() < 1e-9,
            "{group}"
        );
    }
    let fleet_instances: f64 = groups.values().map(|g| g.instances).sum();
    let fleet_compliant: f64 = groups.values().map(|g| g.compliant).sum();
    assert_eq!(
        fixture.value("Instances", "(fleet)").await,
        Some(fleet_instances)
    );
    assert_eq!(
        fixture.value("CompliantInstances", "(fleet)").await,
        Some(fleet_compliant)
    );
    assert_eq!(
        fixture.value("NeverReportedInstances", "(fleet)").await,
        Some(never_reported)
    );
    assert_eq!(
        fixture.value("UngroupedInstances", "(fleet)").await,
        Some(ungrouped)
    );
    assert_eq!(fixture.value("GroupsFailed", "(fleet)").await, Some(0.0));
    let worst = groups
        .values()
        .map(|g| g.compliant * 100.0 / g.instances)
        .fold(f64::INFINITY, f64::min);
    let published_worst = fixture
        .value("WorstGroupCompliancePercent", "(fleet)")
        .await
        .unwrap();
    assert!((published_worst - worst).abs() < 1e-9);
    assert!(
        never_reported > 0.0 && ungrouped > 0.0,
        "the fleet exercises both"
    );
}

/// A group left on its operating system's default baseline is never listed by DescribePatchGroups
/// (it lists groups "registered with patch baselines"). Its instances report all the same: they are
/// found through their tags, published as their group, and not counted as never reported. When EC2
/// lists the fleet its tags name the group; otherwise the tagged instances are paged and their patch
/// states name it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_nobody_registered_is_found_and_not_counted_as_never_reported() {
    let mut state = fleet();
    let (groups, never_reported, _) = expected(&state);
    let unregistered = groups.keys().next().unwrap().clone();
    for baseline in state.baselines.values_mut() {
        baseline.patch_groups.retain(|group| group != &unregistered);
    }
    for ec2_lists_the_fleet in [false, true] {
        let mut fixture = Fixture::new(state.clone()).await;
        if ec2_lists_the_fleet {
            fixture = fixture.with_simulated_ec2().await;
        }
        let summary = fixture
            .snapshot(&[])
            .await
            .handle(scheduled())
            .await
            .unwrap();
        assert!(
            summary.groups_failed.is_empty(),
            "{:?}",
            summary.groups_failed
        );
        assert!(
            summary.groups_published.contains(&unregistered),
            "{:?}",
            summary.groups_published
        );
        assert_eq!(
            fixture.value("Instances", &unregistered).await,
            Some(groups[&unregistered].instances)
        );
        assert_eq!(
            fixture.value("NeverReportedInstances", "(fleet)").await,
            Some(never_reported),
            "only the instances that really never reported"
        );
        let paged = summary
            .ssm_calls
            .get("DescribeInstancePatchStates")
            .copied()
            .unwrap_or(0);
        assert_eq!(paged > 0, !ec2_lists_the_fleet, "{summary:?}");
    }
}

/// Launches one running EC2 instance in the fixture's account, tagged into `group` when given.
async fn launch(ec2: &aws_sdk_ec2::Client, group: Option<&str>) -> String {
    use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
    let mut request = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1);
    if let Some(group) = group {
        request = request.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("Patch Group").value(group).build())
                .build(),
        );
    }
    let launched = request.send().await.unwrap();
    launched.instances()[0].instance_id().unwrap().to_owned()
}

/// Coverage: running EC2 instances that Systems Manager does not manage are counted for the fleet
/// and for the group their tag names; managed ones, stopped ones, and managed nodes EC2 does not run
/// are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_instances_systems_manager_does_not_manage_are_counted_per_group_and_for_the_fleet()
{
    let mut state = fleet();
    let (groups, _, _) = expected(&state);
    let group = groups.keys().next().unwrap().clone();
    let ec2 = &aws_sdk_ec2::Client::new(&LocalAws::shared().isolated_sdk_config().await);
    // Two of the group's simulated (managed) instances take the ids of two real ones.
    let members: Vec<String> = state.group_members[&group][..2].to_vec();
    for member in &members {
        let id = launch(ec2, Some(&group)).await;
        assert!(state.rename_instance(member, &id));
    }
    // Unmanaged: two in the group, one with no group tag. Stopped: one, not counted.
    for tag in [Some(group.as_str()), Some(group.as_str()), None] {
        launch(ec2, tag).await;
    }
    let stopped = launch(ec2, Some(&group)).await;
    ec2.stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .unwrap();
    let mut fixture = Fixture::new(state).await;
    fixture.ec2 = ec2.clone();

    let summary = fixture
        .snapshot(&[])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    assert_eq!(summary.fleet.unmanaged, Some(3), "{summary:?}");
    assert_eq!(summary.ec2_calls, 1);
    assert_eq!(
        fixture.value("UnmanagedInstances", "(fleet)").await,
        Some(3.0)
    );
    assert_eq!(fixture.value("UnmanagedInstances", &group).await, Some(2.0));
    let other = groups.keys().nth(1).unwrap();
    assert_eq!(
        fixture.value("UnmanagedInstances", other).await,
        Some(0.0),
        "a published group with no unmanaged instance says 0"
    );

    // Without the inventory there is no coverage, and no EC2 call.
    let summary = fixture
        .snapshot(&[("FLEET_INVENTORY", "false"), ("DRY_RUN", "true")])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    assert_eq!((summary.fleet.unmanaged, summary.ec2_calls), (None, 0));
}

/// When EC2 lists every managed node (the simulator's EC2 face, ledger row 35), the fleet's grouping
/// comes from EC2's tags: one Systems Manager listing instead of two, and the same never-reported and
/// ungrouped figures as Systems Manager's tag filter gives. When it cannot (EC2 lists none of them, or
/// a hybrid node whose tags only Systems Manager holds), the tag filter counts them, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_is_grouped_by_ec2s_tags_when_ec2_lists_every_managed_node() {
    let mut state = fleet();
    let (_, never_reported, ungrouped) = expected(&state);
    let managed = state.instances.len();
    let grouped = state
        .instances
        .values()
        .filter(|i| i.patch_group.is_some())
        .count();
    let pages = |n: usize| n.div_ceil(50);

    // EC2 lists the whole fleet: one listing, and the never-reported instances (tagged, more than
    // the groups count) do not send the snapshot looking for unregistered groups.
    let fixture = Fixture::new(state.clone()).await.with_simulated_ec2().await;
    let summary = fixture.dry_run().await;
    assert_eq!(
        summary.ssm_calls["DescribeInstanceInformation"],
        pages(managed),
        "{summary:?}"
    );
    assert_eq!(summary.ec2_calls, 1);
    assert!(
        !summary
            .ssm_calls
            .contains_key("DescribeInstancePatchStates")
    );
    assert_eq!(summary.fleet.never_reported, Some(never_reported as u64));
    assert_eq!(summary.fleet.ungrouped, Some(ungrouped as u64));
    assert_eq!(
        summary.inventory_grouping,
        Some(InventoryGrouping {
            by: GroupingSource::Ec2Tags,
            managed_not_in_ec2: Some(0),
            other_nodes: 0,
        }),
        "the summary says how the grouped count was made, and why"
    );
    assert_eq!(summary.fleet.unmanaged, Some(0));
    let summaries = summary.compliance_summaries.as_ref().unwrap();
    assert!(
        summaries.listed_because.is_some() && summaries.complete,
        "pages of 5, groups of about 90: {summaries:?}"
    );
    assert_eq!(summaries.groups_used, 4);

    // EC2 lists none of them (an account of its own in LocalStack): the tag filter counts, and the
    // tagged instances are paged once more looking for unregistered groups, since the never-reported
    // ones make the tagged count exceed the groups'.
    let fixture = Fixture::new(state.clone()).await;
    let summary = fixture.dry_run().await;
    assert_eq!(
        summary.ssm_calls["DescribeInstanceInformation"],
        pages(managed) + 2 * pages(grouped)
    );
    assert_eq!(summary.fleet.never_reported, Some(never_reported as u64));
    assert_eq!(summary.fleet.ungrouped, Some(ungrouped as u64));
    assert_eq!(
        summary.inventory_grouping,
        Some(InventoryGrouping {
            by: GroupingSource::TagFilter,
            managed_not_in_ec2: Some(managed as u64),
            other_nodes: 0,
        }),
        "the summary says how the grouped count was made, and why"
    );

    // A hybrid node: EC2 cannot tell its tags, so the tag filter counts, with EC2 listing the rest.
    let member = state.group_members.values().next().unwrap()[0].clone();
    assert!(state.rename_instance(&member, "mi-0123456789abcdef0"));
    let fixture = Fixture::new(state).await.with_simulated_ec2().await;
    let summary = fixture.dry_run().await;
    assert_eq!(
        summary.ssm_calls["DescribeInstanceInformation"],
        pages(managed) + 2 * pages(grouped)
    );
    assert_eq!(summary.fleet.never_reported, Some(never_reported as u64));
    assert_eq!(summary.fleet.ungrouped, Some(ungrouped as u64));
    assert_eq!(
        summary.inventory_grouping,
        Some(InventoryGrouping {
            by: GroupingSource::TagFilter,
            managed_not_in_ec2: Some(0),
            other_nodes: 1,
        }),
        "the summary says how the grouped count was made, and why"
    );
    let summaries = summary.compliance_summaries.unwrap();
    assert!(
        summaries.listed_because.is_none()
            && summaries
                .unused_because
                .unwrap()
                .contains("does not place every managed node"),
        "a node EC2 cannot place: the summaries are not listed"
    );
    assert!(
        !summary
            .ssm_calls
            .contains_key("ListResourceComplianceSummaries")
    );
}

/// At the model's page size (5 states a page) four groups of about 400 read two at a time carry 10
/// nodes a call, the compliance summaries 50: the snapshot lists them (after a one-call probe of the
/// largest group's page), and every group's compliance, staleness and oldest report come from them,
/// exact, also for the groups whose pages the stop time cut off; those leave only the patch totals
/// out. At 100 a page the summaries are not listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_five_states_a_page_the_compliance_summaries_give_every_group_exact_compliance() {
    let mut state = generate(&GenerateOptions {
        seed: 13,
        instances: 1600,
        groups: 4,
        failed: 0.1,
        missing: 0.2,
        stale: 0.1,
        never_reported: 0.03,
        ungrouped: 0.03,
        ..GenerateOptions::default()
    });
    let (groups, never_reported, _) = expected(&state);
    let reporting = state
        .instances
        .values()
        .filter(|i| i.report.is_some())
        .count();
    let fixture = Fixture::new(state.clone()).await.with_simulated_ec2().await;
    fixture.sim.sim.app.faults.set(FaultSettings {
        latency_ms: 40,
        ..FaultSettings::default()
    });
    let snapshot = fixture
        .snapshot(&[
            ("CONCURRENCY", "2"),
            (
                "PATCH_GROUPS",
                &groups.keys().cloned().collect::<Vec<_>>().join(","),
            ),
        ])
        .await;
    // Reading stops 5 s in: the listings (32 pages each) take under 3 s; the group pages (about
    // 310 of them, two at a time) more than 6.
    let summary = within(&snapshot, Duration::from_millis(5000)).await;
    let summaries = summary.compliance_summaries.clone().unwrap();
    assert!(summaries.complete, "{summaries:?}");
    assert!(
        summaries
            .listed_because
            .as_ref()
            .unwrap()
            .contains("5 a page"),
        "{summaries:?}"
    );
    assert_eq!(summaries.groups_used, groups.len());
    assert!(summaries.groups_disagree.is_empty());
    assert_eq!(summaries.unplaced, 0);
    assert_eq!(summaries.nodes, reporting as u64);
    assert_eq!(
        summary.ssm_calls["ListResourceComplianceSummaries"],
        reporting.div_ceil(50)
    );
    let skipped = &summary.groups_detail_skipped;
    assert!(!skipped.is_empty(), "the group pages did not all finish");
    assert!(summary.groups_estimated.is_empty(), "{summary:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (group, expected) in &groups {
        let percent = fixture.value("CompliancePercent", group).await.unwrap();
        let exact = expected.compliant * 100.0 / expected.instances;
        assert!(
            (percent - exact).abs() < 1e-9,
            "{group}: {percent} against {exact}"
        );
        assert_eq!(
            fixture.value("StaleInstances", group).await,
            Some(expected.stale),
            "{group}"
        );
        assert!(fixture.value("OldestScanAgeHours", group).await.is_some());
        let failed = fixture.value("FailedPatches", group).await;
        if skipped.contains(group) {
            assert_eq!(failed, None, "{group}: patch totals only from its pages");
        } else {
            assert_eq!(failed, Some(expected.failed_patches), "{group}");
        }
    }
    let stale: f64 = groups.values().map(|g| g.stale).sum();
    assert_eq!(
        fixture.value("StaleInstances", "(fleet)").await,
        Some(stale + never_reported),
        "every group's stale instances and the never-reported ones"
    );

    // Reading stopped soon after the inventory's listing (32 calls, about 1.3 s): the summaries'
    // listing, as long, would not finish, so it is not made, and the groups keep their counts.
    // Tried at 2 s, then half as long again while a loaded machine cuts the inventory's listing
    // itself short: the first stop time it finishes by leaves less than a third of it.
    let mut reading = Duration::from_millis(2000);
    let summary = loop {
        let summary = within(&snapshot, reading).await;
        if !summary.inventory_skipped_for_time || reading > Duration::from_secs(10) {
            break summary;
        }
        reading = reading.mul_f64(1.5);
    };
    let summaries = summary.compliance_summaries.unwrap();
    assert!(
        !summaries.complete
            && summaries
                .unused_because
                .as_ref()
                .unwrap()
                .contains("would take"),
        "{summaries:?}"
    );
    assert!(
        !summary
            .ssm_calls
            .contains_key("ListResourceComplianceSummaries")
    );
    assert_eq!(summary.groups_published.len(), groups.len());

    // At 100 a page the group pages carry more a call: the probe, and no listing.
    state.wide_group_pages = true;
    let fixture = Fixture::new(state).await.with_simulated_ec2().await;
    let summary = fixture.dry_run().await;
    let summaries = summary.compliance_summaries.unwrap();
    assert!(summaries.listed_because.is_none(), "{summaries:?}");
    assert!(
        summaries
            .unused_because
            .unwrap()
            .contains("100 states a page")
    );
    assert!(
        !summary
            .ssm_calls
            .contains_key("ListResourceComplianceSummaries")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_cannot_be_read_is_left_out_not_zeroed() {
    let fixture = Fixture::new(fleet()).await;
    // A name SSM refuses (over 256 characters): its read fails, the other group's does not.
    let bad = "b".repeat(300);
    let groups = format!("pg-0000,{bad}");
    let err = fixture
        .snapshot(&[("PATCH_GROUPS", &groups)])
        .await
        .handle(scheduled())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert!(err.to_string().contains("left out"), "{err}");
    assert!(
        fixture
            .value("Instances", "pg-0000")
            .await
            .is_some_and(|v| v > 0.0)
    );
    assert_eq!(fixture.value("Instances", &bad[..255]).await, None);
    assert_eq!(fixture.value("GroupsFailed", "(fleet)").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_the_snapshot_completes() {
    let state = fleet();
    let (groups, _, _) = expected(&state);
    let fixture = Fixture::new(state).await;
    fixture.sim.sim.app.faults.set(FaultSettings {
        throttle_rate: 0.3,
        seed: 5,
        ..FaultSettings::default()
    });
    let summary = fixture
        .snapshot(&[("RETRY_MODE", "standard")])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    assert!(summary.groups_failed.is_empty());
    let throttled: u64 = fixture
        .sim
        .sim
        .app
        .faults
        .stats()
        .values()
        .map(|s| s.throttled)
        .sum();
    assert!(throttled > 0, "the simulator throttled some calls");
    for (group, expected) in &groups {
        assert_eq!(
            fixture.value("Instances", group).await,
            Some(expected.instances),
            "{group}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_executions_and_other_events_are_ignored_and_dry_run_publishes_nothing() {
    let fixture = Fixture::new(fleet()).await;
    let snapshot = fixture.snapshot(&[]).await;
    let mut window: serde_json::Value = serde_json::from_str(include_str!(
        "../../../events/compliance-snapshot/window-execution-finished.json"
    ))
    .unwrap();
    window["detail"]["status"] = json!("IN_PROGRESS");
    let summary = snapshot.handle(window).await.unwrap();
    assert_eq!(summary.outcome, SnapshotOutcome::Ignored);
    let dry = fixture.snapshot(&[("DRY_RUN", "true")]).await;
    let summary = dry.handle(scheduled()).await.unwrap();
    assert_eq!(summary.outcome, SnapshotOutcome::DryRun);
    assert!(summary.data_points > 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fixture.value("Instances", "(fleet)").await, None);
}

/// Every alarm and dashboard graph in template.yaml on the snapshot's namespace watches a metric and
/// dimension the function really published (read back with ListMetrics), so none watches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_alarms_and_dashboard_watch_published_metrics() {
    let fixture = Fixture::new(fleet()).await;
    fixture
        .snapshot(&[])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    let mut published: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut pages = fixture
        .cloudwatch
        .list_metrics()
        .namespace(&fixture.namespace)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for metric in page.unwrap().metrics() {
            let dims = metric
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap().to_owned(), d.value().unwrap().to_owned()))
                .collect();
            published.push((metric.metric_name().unwrap().to_owned(), dims));
        }
    }
    let template = patchpilot_test_support::template::Template::load();
    let mut watched = 0;
    for alarm in template.alarms() {
        let (id, metric, dimensions) = (alarm.id, alarm.metric, alarm.dimensions);
        if alarm.namespace != "${MetricNamespace}" {
            continue;
        }
        watched += 1;
        assert!(
            published.contains(&(metric.clone(), dimensions.clone())),
            "alarm {id} watches {metric} {dimensions:?}, which the snapshot does not publish"
        );
    }
    assert!(
        watched >= 4,
        "the four compliance alarms are checked ({watched})"
    );
    let dashboard = template.sub_text("ComplianceDashboard", "DashboardBody");
    let graph = regex_lite(&dashboard, r#"["${MetricNamespace}", ""#);
    assert!(graph.len() >= 6, "{graph:?}");
    for (metric, dimension_value) in graph {
        assert!(
            published.contains(&(
                metric.clone(),
                vec![("PatchGroup".into(), dimension_value.clone())]
            )),
            "the dashboard graphs {metric} {dimension_value}, which the snapshot does not publish"
        );
    }
    // The body is valid JSON once CloudFormation has filled in the placeholders.
    let body = filled_dashboard(&dashboard, "${Period}");
    assert!(body["widgets"].as_array().is_some_and(|w| w.len() >= 4));
    // The SEARCH expression's metric is published per group.
    assert!(dashboard.contains(r#"MetricName=\"CompliancePercent\""#));
    assert!(
        published
            .iter()
            .any(|(m, d)| m == "CompliancePercent" && d[0].1 == "pg-0000")
    );
    monitoring_account_watches_published_metrics(&published);
}

/// templates/monitoring.yaml, the organization's monitoring account: each account's alarms watch a
/// metric and dimension the snapshot published, and its dashboard's searches name published metrics.
fn monitoring_account_watches_published_metrics(published: &[(String, Vec<(String, String)>)]) {
    let text = std::fs::read_to_string(
        patchpilot_test_support::workspace_root().join("templates/monitoring.yaml"),
    )
    .unwrap();
    let template = patchpilot_test_support::template::Template::from_yaml(&text).unwrap();
    // Fn::ForEach::AccountAlarms: [identifier, collection, { logical id template: resource }].
    let alarms = template.root["Resources"]["Fn::ForEach::AccountAlarms"][2]
        .as_object()
        .unwrap();
    assert_eq!(alarms.len(), 3);
    for (id, alarm) in alarms {
        let query = &alarm["Properties"]["Metrics"][0];
        assert_eq!(
            query["AccountId"]["Ref"], "AccountId",
            "{id} names its account"
        );
        let metric = &query["MetricStat"]["Metric"];
        assert_eq!(metric["Namespace"]["Ref"], "MetricNamespace", "{id}");
        let name = metric["MetricName"].as_str().unwrap().to_owned();
        let dimensions: Vec<(String, String)> = metric["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap().to_owned(),
                    d["Value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            published.contains(&(name.clone(), dimensions.clone())),
            "monitoring alarm {id} watches {name} {dimensions:?}, which the snapshot does not publish"
        );
    }
    let body = template.sub_text("Dashboard", "DashboardBody");
    let searched: Vec<&str> = body
        .split(r#"MetricName=\""#)
        .skip(1)
        .filter_map(|rest| rest.split('\\').next())
        .collect();
    assert!(searched.len() >= 4, "{searched:?}");
    for metric in searched {
        let ours = published.iter().any(|(m, _)| m == metric) || metric == patch_gate_metric_name();
        assert!(
            ours,
            "the monitoring dashboard searches {metric}, which nothing publishes"
        );
    }
    let parsed = filled_dashboard(&body, "${SnapshotPeriodSeconds}");
    assert_eq!(parsed["widgets"].as_array().map(Vec::len), Some(4));
}

/// A dashboard body as CloudFormation fills it in (`period` names the template's period
/// placeholder), which must then be JSON.
fn filled_dashboard(body: &str, period: &str) -> serde_json::Value {
    let filled = body
        .replace("${AWS::Region}", "eu-west-1")
        .replace("${MetricNamespace}", "PatchCompliance")
        .replace(period, "3600")
        .replace("${ComplianceThreshold}", "95");
    serde_json::from_str(&filled)
        .unwrap_or_else(|err| panic!("dashboard body is not JSON: {err}\n{filled}"))
}

/// The gate's metric (the monitoring dashboard graphs it too); patch-gate is not a dependency of
/// this crate, so its name is read from the member template's gate alarm.
fn patch_gate_metric_name() -> String {
    let template = patchpilot_test_support::template::Template::load();
    template.resource("GateBrakeAlarm")["Properties"]["MetricName"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The (metric, dimension value) of every `["<prefix>metric", "PatchGroup", "value"]` graph line.
fn regex_lite(text: &str, prefix: &str) -> Vec<(String, String)> {
    text.match_indices(prefix)
        .filter_map(|(index, _)| {
            let rest = &text[index + prefix.len()..];
            let end = rest.find(']')?;
            let fields: Vec<&str> = rest[..end]
                .split(',')
                .map(|f| f.trim().trim_matches('"'))
                .collect();
            (fields.len() == 3 && fields[1] == "PatchGroup")
                .then(|| (fields[0].to_owned(), fields[2].to_owned()))
        })
        .collect()
}

/// A Windows-style baseline with `AvailableSecurityUpdatesComplianceStatus = NON_COMPLIANT`: instances
/// with available (unapproved) security updates are non-compliant, and the snapshot counts them so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn available_security_updates_count_when_the_baseline_says_so() {
    use patchpilot_test_support::ssm_sim::state::PatchState;
    for (status, expected_percent) in [("NON_COMPLIANT", 70.0), ("COMPLIANT", 100.0)] {
        let mut state = generate(&GenerateOptions {
            seed: 5,
            instances: 10,
            groups: 1,
            failed: 0.0,
            missing: 0.0,
            pending_reboot: 0.0,
            never_reported: 0.0,
            ungrouped: 0.0,
            stale: 0.0,
            ..GenerateOptions::default()
        });
        for baseline in state.baselines.values_mut() {
            baseline.available_security_updates_compliance_status = Some(status.to_owned());
        }
        let security: Vec<u32> = state
            .catalog
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_security())
            .map(|(i, _)| i as u32)
            .collect();
        let ids: Vec<String> = state.instances.keys().take(3).cloned().collect();
        for id in &ids {
            let instance = state.instances.get_mut(id).unwrap();
            for patch in instance
                .patches
                .iter_mut()
                .filter(|p| security.contains(&p.patch))
                .take(1)
            {
                patch.state = PatchState::AvailableSecurityUpdate;
                patch.installed_time = None;
            }
        }
        state.recount_all();
        let group = state.instances[&ids[0]].patch_group.clone().unwrap();
        let fixture = Fixture::new(state).await;
        fixture
            .snapshot(&[("FLEET_INVENTORY", "false")])
            .await
            .handle(scheduled())
            .await
            .unwrap();
        assert_eq!(
            fixture.value("CompliancePercent", &group).await,
            Some(expected_percent),
            "AvailableSecurityUpdatesComplianceStatus {status}"
        );
    }
}

/// A fleet generated for the deadline tests: eight groups of about 450 reporting instances, 100 ms
/// per SSM call, and the snapshot reading the groups `concurrency` at a time.
async fn slow_fleet(concurrency: &str) -> (BTreeMap<String, Expected>, Fixture, Snapshot) {
    let mut state = generate(&GenerateOptions {
        seed: 12,
        instances: 4000,
        groups: 8,
        failed: 0.1,
        missing: 0.2,
        ..GenerateOptions::default()
    });
    // Pages of 100: five a group, so some groups' per-instance pass finishes inside the budget.
    state.wide_group_pages = true;
    let (groups, _, _) = expected(&state);
    let fixture = Fixture::new(state).await;
    fixture.sim.sim.app.faults.set(FaultSettings {
        latency_ms: 100,
        ..FaultSettings::default()
    });
    let snapshot = fixture
        .snapshot(&[
            ("CONCURRENCY", concurrency),
            (
                "PATCH_GROUPS",
                &groups.keys().cloned().collect::<Vec<_>>().join(","),
            ),
        ])
        .await;
    (groups, fixture, snapshot)
}

/// The margin the deadline tests keep after reading stops, for publishing. LocalStack's CloudWatch
/// commits every data point to SQLite on a connection of its own under one lock for all its
/// callers, so a call of 150 points took more than the 2 s production's smallest margin leaves
/// (`MIN_MARGIN` less the last second) while a dozen tests published at once on CI's 2 cores (stop
/// 37: the call cut off, half its points stored). What these tests check is where reading stops
/// and what is published of it, so publishing gets room; the reserve itself is measured by
/// `tooling/bench.sh budgets` (`publish_ms`). It costs nothing when publishing is quick: the
/// reads stop at the same time.
const PUBLISH_MARGIN: Duration = Duration::from_secs(10);

/// Runs `snapshot` with reading stopped `reading` in, then [`PUBLISH_MARGIN`] for publishing. The
/// snapshot must have answered within the deadline and published every point.
async fn within(snapshot: &Snapshot, reading: Duration) -> compliance_snapshot::Summary {
    use patchpilot_shared::budget::Budget;
    let deadline = reading + PUBLISH_MARGIN;
    let budget = Budget::new(deadline, PUBLISH_MARGIN);
    let started = std::time::Instant::now();
    let summary = snapshot.handle_within(scheduled(), &budget).await.unwrap();
    let took = started.elapsed();
    assert!(
        took < deadline,
        "stopped and published within the deadline: {took:?}"
    );
    assert_eq!(
        summary.points_cut_for_time, 0,
        "every point published ({} ms publishing)",
        summary.publish_ms
    );
    summary
}

/// A snapshot slower than its deadline: every group's counts come first (eight calls, two at a time),
/// then the inventory's listing (80 pages, 8 s: more than the run has) alone for two thirds of the
/// time left, then the per-instance pass (five pages a group) beside it until reading stops 4 s in.
/// Every group's
/// alarmed figures are published; the groups the per-instance pass read publish exact figures, the
/// others publish their counts, leave staleness and patch totals out (never zeros), and are named
/// and counted in `GroupsDetailSkipped`; the inventory's figures are left out; and the invocation
/// ends `Ok`, since a retry would only repeat it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_cut_short_publishes_every_groups_counts_and_names_what_it_did_not_read_in_full()
{
    let (groups, fixture, snapshot) = slow_fleet("2").await;
    let summary = within(&snapshot, Duration::from_millis(4000)).await;
    assert!(!summary.complete);
    assert!(summary.inventory_skipped_for_time);
    assert!(summary.groups_failed.is_empty());
    assert!(summary.groups_skipped_for_time.is_empty(), "{summary:?}");
    assert_eq!(
        summary.groups_published,
        groups.keys().cloned().collect::<Vec<_>>(),
        "every group's counts"
    );
    assert_eq!(summary.ssm_calls["DescribePatchGroupState"], groups.len());
    let skipped = &summary.groups_detail_skipped;
    let detailed: Vec<&String> = groups.keys().filter(|g| !skipped.contains(g)).collect();
    assert!(
        !detailed.is_empty() && !skipped.is_empty(),
        "{detailed:?} / {skipped:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (group, expected) in &groups {
        assert_eq!(
            fixture.value("Instances", group).await,
            Some(expected.instances),
            "{group}"
        );
        let percent = fixture.value("CompliancePercent", group).await.unwrap();
        let exact = expected.compliant * 100.0 / expected.instances;
        if skipped.contains(group) {
            assert!(
                percent >= exact - 1e-9,
                "{group}: the most the counts allow"
            );
            assert_eq!(
                fixture.value("StaleInstances", group).await,
                None,
                "{group}: staleness not read, not published as zero"
            );
        } else {
            assert!((percent - exact).abs() < 1e-9, "{group}: exact");
            assert_eq!(
                fixture.value("FailedPatches", group).await,
                Some(expected.failed_patches),
                "{group}"
            );
        }
    }
    assert_eq!(
        fixture.value("GroupsDetailSkipped", "(fleet)").await,
        Some(skipped.len() as f64)
    );
    assert_eq!(
        fixture.value("GroupsSkippedForTime", "(fleet)").await,
        Some(0.0)
    );
    let fleet_instances: f64 = groups.values().map(|g| g.instances).sum();
    assert_eq!(
        fixture.value("Instances", "(fleet)").await,
        Some(fleet_instances)
    );
    assert_eq!(
        fixture.value("NeverReportedInstances", "(fleet)").await,
        None,
        "the inventory did not finish"
    );
}

/// A deadline that comes before even the counts are read (one group at a time, reading stopped
/// 350 ms in): the groups counted are published, the rest are named, counted in
/// `GroupsSkippedForTime` (which pages) and never published as zeros.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_whose_counts_the_deadline_cut_off_are_named_and_never_published_as_zeros() {
    let (groups, fixture, snapshot) = slow_fleet("1").await;
    let summary = within(&snapshot, Duration::from_millis(350)).await;
    assert!(!summary.complete);
    let (published, skipped) = (&summary.groups_published, &summary.groups_skipped_for_time);
    assert!(
        !published.is_empty() && !skipped.is_empty(),
        "{published:?} / {skipped:?}"
    );
    let mut all: Vec<&String> = published.iter().chain(skipped).collect();
    all.sort();
    assert_eq!(
        all,
        groups.keys().collect::<Vec<_>>(),
        "every group is published or named as skipped"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for group in published {
        assert_eq!(
            fixture.value("Instances", group).await,
            Some(groups[group].instances),
            "{group}"
        );
    }
    for group in skipped {
        assert_eq!(
            fixture.value("Instances", group).await,
            None,
            "{group} is not published as zeros"
        );
    }
    assert_eq!(
        fixture.value("GroupsSkippedForTime", "(fleet)").await,
        Some(skipped.len() as f64)
    );
}

/// What `DescribePatchGroupState.Instances` counts is not published (ledger row 10). Under the other
/// reading — every instance tagged into the group, reporting or not — the groups the per-instance
/// pass reads in full say so in the summary (`groups_counts_disagree`: counted, read), so the first
/// snapshot in a live account answers the question; under the simulator's default, nothing is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_count_that_differs_from_the_instances_read_is_named() {
    let state = fleet();
    // Each group's members that never reported: what the other reading adds to `Instances`.
    let mut unreported: BTreeMap<String, u64> = BTreeMap::new();
    for instance in state.instances.values() {
        if let (Some(group), None) = (&instance.patch_group, &instance.report) {
            *unreported.entry(group.clone()).or_default() += 1;
        }
    }
    assert!(
        !unreported.is_empty(),
        "the fleet has never-reported members"
    );

    let fixture = Fixture::new(state.clone()).await;
    let summary = fixture
        .snapshot(&[])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    assert!(summary.complete);
    assert_eq!(summary.groups_counts_disagree, vec![]);

    let mut members_counted = state;
    members_counted.group_state_counts_members = true;
    let fixture = Fixture::new(members_counted).await;
    let summary = fixture
        .snapshot(&[])
        .await
        .handle(scheduled())
        .await
        .unwrap();
    let named: BTreeMap<String, u64> = summary
        .groups_counts_disagree
        .iter()
        .map(|d| (d.patch_group.clone(), d.counted - d.read))
        .collect();
    assert_eq!(named, unreported);
}
