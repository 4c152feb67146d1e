//! Steps 2 to 5 of the week: Thursday's staging window fails on some instances (one terminated
//! mid-run); alerts, storm control, the snapshot and its alarm, and the gate keeping production closed.

use crate::error::WeekError;
use crate::evidence::Evidence;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::world::World;
use crate::{
    Narrator, Options, STAGING_WINDOW, alarm_state, counts, delivery_summary, kind_of, kinds,
    messy, metric, percent, production_enabled, run_with_terminations,
};

/// Runs staging with `options.failures` of `staging` failing; returns when it ran (Thursday).
pub(crate) async fn staging_fails(
    world: &World,
    options: &Options,
    n: &mut Narrator,
    staging: &[String],
) -> Result<DateTime<Utc>, WeekError> {
    n.say("\n2. Thursday: the staging window runs and some installs fail");
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let mut failing = staging.to_vec();
    rng.shuffle(&mut failing);
    // One staging instance that would have succeeded is terminated mid-run (a scale-in).
    let terminated: Vec<String> = failing
        .iter()
        .skip(options.failures.min(staging.len()))
        .take(1)
        .cloned()
        .collect();
    failing.truncate(options.failures.min(staging.len()));
    failing.sort();
    messy::terminate_in_ec2(world, &terminated).await?;
    let thursday = Utc::now() - chrono::Duration::hours(3);
    let (execution, status, sent) =
        run_with_terminations(world, STAGING_WINDOW, &failing, &terminated, thursday).await?;
    n.say(format!(
        "   execution {execution} ended {status}; {sent} events sent to EventBridge; failing: {}; terminated mid-run: {}",
        failing.join(", "),
        terminated.join(", ")
    ));
    world.settle(crate::SETTLE).await?;
    let (by_function, errors) = delivery_summary(&world.take_deliveries().await);
    n.say(format!(
        "   deliveries: {}; {errors} errors",
        counts(&by_function)
    ));
    n.check(
        Evidence::StagingRun,
        status == "FAILED"
            && by_function.contains_key("install-alerts")
            && by_function.contains_key("patch-gate"),
        format!(
            "execution {status}; {sent} events delivered by the rules to {} functions",
            by_function.len()
        ),
    );

    n.say("\n3. Alerts arrive (read from a queue subscribed to the topic); storm control shows");
    let messages = world.alerts().await;
    let by_kind = kinds(&messages);
    for message in &messages {
        n.say(format!(
            "   [{}] {}",
            kind_of(message),
            message["Subject"].as_str().unwrap_or_default()
        ));
    }
    let instance_alerts = by_kind.get("instance_failure").copied().unwrap_or(0);
    let expected_alerts = (failing.len() + terminated.len()).min(options.storm_threshold);
    n.check(
        Evidence::Alerts,
        instance_alerts == expected_alerts,
        format!(
            "{instance_alerts} per-instance alerts for {} failures",
            failing.len()
        ),
    );
    let summaries = by_kind.get("window_summary").copied().unwrap_or(0);
    let storm = failing.len() + terminated.len() > options.storm_threshold;
    n.check(
        Evidence::StormControl,
        if storm {
            summaries == 1
        } else {
            summaries == 0
        },
        format!(
            "threshold {}: {summaries} window summary",
            options.storm_threshold
        ),
    );

    n.say(
        "\n4. The snapshot publishes (triggered by the window's end); the compliance alarm fires",
    );
    let staging_percent = metric(world, "CompliancePercent", "staging").await;
    let fleet_percent = metric(world, "CompliancePercent", "(fleet)").await;
    n.say(format!(
        "   CompliancePercent: staging {}, fleet {}",
        percent(staging_percent),
        percent(fleet_percent)
    ));
    n.check(
        Evidence::SnapshotMetrics,
        staging_percent.is_some() && fleet_percent.is_some_and(|p| p < 95.0),
        format!(
            "staging {}, fleet {}",
            percent(staging_percent),
            percent(fleet_percent)
        ),
    );
    let waited = Instant::now();
    let mut state = alarm_state(world, "FleetComplianceAlarm").await;
    while state != "ALARM" && waited.elapsed() < Duration::from_secs(100) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        state = alarm_state(world, "FleetComplianceAlarm").await;
    }
    n.check(
        Evidence::ComplianceAlarm,
        state == "ALARM",
        format!(
            "FleetComplianceAlarm {state} after {:.0} s",
            waited.elapsed().as_secs_f64()
        ),
    );

    n.say("\n5. The gate keeps production closed and says why");
    let gate_messages: Vec<&Value> = messages
        .iter()
        .filter(|m| m["MessageAttributes"]["kind"]["Value"] == "gate_decision")
        .collect();
    for message in &gate_messages {
        let doc: Value = serde_json::from_str(message["Message"].as_str().unwrap_or("{}"))
            .unwrap_or(Value::Null);
        for check in doc["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["passed"] == false)
        {
            n.say(format!(
                "   FAIL {}: {}",
                check["name"].as_str().unwrap_or_default(),
                check["detail"].as_str().unwrap_or_default()
            ));
        }
    }
    let enabled = production_enabled(world).await?;
    n.check(
        Evidence::GateClosed,
        !enabled
            && gate_messages
                .iter()
                .any(|m| m["MessageAttributes"]["gate"]["Value"] == "closed"),
        format!(
            "production window enabled: {enabled}; decision messages: {}",
            gate_messages.len()
        ),
    );

    Box::pin(messy::terminated_mid_window(
        world,
        n,
        &terminated,
        &messages,
        &gate_messages,
    ))
    .await?;
    Ok(thursday)
}
