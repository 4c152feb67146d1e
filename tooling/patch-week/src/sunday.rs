//! Step 7 of the week: Sunday's production run after the re-check; the snapshot shows the fleet
//! compliant and counts the unmanaged; production installed exactly what staging ran.

use crate::error::WeekError;
use crate::evidence::Evidence;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use crate::rerun::Rerun;
use crate::world::World;
use crate::{
    BRAKE_ALARM, Narrator, PRODUCTION_WINDOW, boundary_installs, delivery_summary, launch,
    list_or_none, messy, metric_stat, percent, promotion, run, wait_for_alarm,
};

/// Production runs on Sunday.
pub(crate) async fn production_runs(
    world: &World,
    n: &mut Narrator,
    Rerun { ubuntu, boundary }: Rerun,
) -> Result<(), WeekError> {
    n.say("\n7. Sunday: production runs; the snapshot shows the fleet compliant");
    // Days pass between the gate's opening and Sunday; before production the re-check runs on its
    // schedule (RecheckSchedule), and the gate publishes its state again: the brake follows it.
    // LocalStack judges an alarm on every point of its last three periods (CloudWatch on the latest
    // period), so the week lets three of the brake's 10-second periods pass after the operator's
    // hold, release and the opening, which came within seconds of each other.
    tokio::time::sleep(Duration::from_secs(31)).await;
    world
        .schedule("patch-gate", &messy::scheduled_recheck())
        .await?;
    world.settle(crate::SETTLE).await?;
    let _ = world.take_deliveries().await;
    let waited = Instant::now();
    let brake = wait_for_alarm(world, BRAKE_ALARM, "OK", Duration::from_secs(60)).await;
    n.say(format!(
        "   the re-check before production: {BRAKE_ALARM} {brake} after {:.0} s",
        waited.elapsed().as_secs_f64()
    ));
    // A vendor appliance: it runs, but no agent ever registers it with Systems Manager, so no
    // compliance figure can show it; only the snapshot's coverage (EC2 against the managed nodes) does.
    let appliance = launch(&world.ec2, 1, &[("Name", "vendor-appliance")], false).await?;
    let production_start = Utc::now() - chrono::Duration::minutes(50);
    let (execution, status, _) = run(world, PRODUCTION_WINDOW, &[], production_start).await?;
    n.say(format!("   execution {execution} ended {status}"));
    world.settle(crate::SETTLE).await?;
    let deliveries = world.take_deliveries().await;
    let (_, errors) = delivery_summary(&deliveries);
    let _ = world.alerts().await;
    // The gate's own check of the run against the promoted list.
    let gate_verified = deliveries
        .iter()
        .filter(|d| d.function == "patch-gate")
        .filter_map(|d| d.result.as_ref().ok())
        .find_map(|report| report.get("verified").cloned())
        .unwrap_or(Value::Null);
    // The snapshot the production run's end triggered, as the function reported it; and the metric
    // (several snapshots can share a minute, so the newest shows as the period's maximum).
    let snapshot = deliveries
        .iter()
        .rev()
        .find(|d| d.function == "compliance-snapshot")
        .and_then(|d| d.result.as_ref().ok());
    let reported = snapshot.and_then(|summary| summary["fleet"]["compliance_percent"].as_f64());
    let unmanaged = snapshot.and_then(|summary| summary["fleet"]["unmanaged"].as_u64());
    let unmanaged_metric = metric_stat(world, "UnmanagedInstances", "(fleet)", "Maximum").await;
    let fleet = metric_stat(world, "CompliancePercent", "(fleet)", "Maximum").await;
    let staging = metric_stat(world, "CompliancePercent", "staging", "Maximum").await;
    let production = metric_stat(world, "CompliancePercent", "production", "Maximum").await;
    // The human's `staging-canary` group has no baseline registered and no window: DescribePatchGroups
    // never lists it, yet the snapshot finds it through its tag, so the fleet figure includes it.
    let canary = metric_stat(world, "Instances", "staging-canary", "Maximum").await;
    n.say(format!(
        "   snapshot: fleet CompliancePercent {}; CloudWatch shows {} (staging {}, production {}; the unregistered staging-canary group has {} instance(s))",
        percent(reported),
        percent(fleet),
        percent(staging),
        percent(production),
        canary.map_or("no".to_owned(), |c| c.to_string())
    ));
    let summaries = snapshot.map(|summary| &summary["compliance_summaries"]);
    n.say(format!(
        "   compliance summaries: {}",
        match summaries {
            Some(s) if s["complete"] == true => format!(
                "listed ({}), {} node(s), {} group(s) published from them",
                s["listed_because"].as_str().unwrap_or("?"),
                s["nodes"],
                s["groups_used"]
            ),
            Some(s) if s.is_object() =>
                format!("not used: {}", s["unused_because"].as_str().unwrap_or("?")),
            _ => "not considered".to_owned(),
        }
    ));
    n.check(
        Evidence::FleetCompliant,
        status == "SUCCESS"
            && staging == Some(100.0)
            && production == Some(100.0)
            && canary == Some(1.0)
            && reported.zip(fleet).is_some_and(|(r, f)| (r - f).abs() < 1e-6)
            && errors == 0,
        format!(
            "production {status}; the windows' groups staging {} and production {}; fleet CompliancePercent {} (CloudWatch {}) with the unregistered staging-canary group found",
            percent(staging),
            percent(production),
            percent(reported),
            percent(fleet)
        ),
    );

    n.check(
        Evidence::CoverageCountsUnmanaged,
        unmanaged == Some(1) && unmanaged_metric == Some(1.0),
        format!(
            "{} runs without an agent: the snapshot counts {} running instance(s) Systems Manager does not manage (CloudWatch UnmanagedInstances {})",
            appliance.join(", "),
            unmanaged.map_or("no".to_owned(), |u| u.to_string()),
            unmanaged_metric.map_or("none".to_owned(), |u| u.to_string())
        ),
    );

    // The date pin alone would hold back what staging approved on the boundary day; the promoted
    // list installs it in production as staging ran it, and what staging did not approve stays out.
    let (staging_has, production_has) = boundary_installs(world, &boundary)?;
    n.check(
        Evidence::BoundaryDay,
        production_has == staging_has
            && staging_has.len() == boundary.iter().filter(|b| b.2).count(),
        format!(
            "installed in staging: {}; in production: {}",
            list_or_none(&staging_has),
            list_or_none(&production_has)
        ),
    );
    let (installed, excess) = match promotion::promoted(world).await {
        Ok(record) => promotion::production_within(
            &record,
            &promotion::installs_of(world, "production")?,
            (
                production_start,
                production_start + chrono::Duration::minutes(40),
            ),
        ),
        Err(err) => (0, vec![err.to_string()]),
    };
    n.check(
        Evidence::ProductionInstalledOnlyStagings,
        installed > 0
            && excess.is_empty()
            && gate_verified["exceeded"].as_array().is_some_and(Vec::is_empty)
            && gate_verified["installs"].as_u64() == Some(installed as u64),
        format!(
            "{installed} installs in production's run; outside the promoted list: {}; the gate's check when the run ended: {} installs on {} instances, {} outside",
            list_or_none(&excess),
            gate_verified["installs"],
            gate_verified["instances_checked"],
            gate_verified["exceeded"].as_array().map_or(0, Vec::len)
        ),
    );
    Box::pin(promotion::ubuntu_pair_promoted(
        world,
        n,
        (&ubuntu.0, &ubuntu.1),
    ))
    .await?;
    Box::pin(promotion::late_package_stays_out(world, n)).await?;
    Ok(())
}
