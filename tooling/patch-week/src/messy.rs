//! The account is not a clean room: between the decision and production, other things happen. A daily
//! Scan overwrites every staging instance's last operation, a staging execution is skipped because the
//! previous one overlapped, and EventBridge delivers the decided execution's event again. None of them
//! is a verdict on staging: production stays as the decision left it, and nobody is paged.

use crate::error::{Call, WeekError};
use crate::evidence::Evidence;
use chrono::Utc;
use patchpilot_test_support::ssm_sim::run::{RunRequest, scan};
use serde_json::{Value, json};

use crate::world::World;
use crate::{Narrator, STAGING_WINDOW, production_enabled};

/// The gate's deliveries since the last call: (outcome, reason) of each.
async fn gate_outcomes(world: &World) -> Vec<(String, String)> {
    world
        .take_deliveries()
        .await
        .into_iter()
        .filter(|d| d.function == "patch-gate")
        .map(|d| match d.result {
            Ok(report) => (
                report["outcome"].as_str().unwrap_or_default().to_owned(),
                report["reason"].as_str().unwrap_or_default().to_owned(),
            ),
            Err(err) => ("error".to_owned(), err),
        })
        .collect()
}

/// Gate messages on the alert topic since the last call.
async fn gate_messages(world: &World) -> usize {
    world
        .alerts()
        .await
        .iter()
        .filter(|m| m["MessageAttributes"]["kind"]["Value"] == "gate_decision")
        .count()
}

pub(crate) fn scheduled_recheck() -> Value {
    json!({
        "version": "0", "id": format!("{:032x}", fastrand::u128(..)),
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": patchpilot_test_support::ACCOUNT, "time": Utc::now().to_rfc3339(),
        "region": patchpilot_test_support::REGION, "resources": [], "detail": {}
    })
}

/// Step 7b: a scan, a skipped execution and a redelivered event, each with its evidence row.
pub(crate) async fn other_things_happen(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    n.say("\n7b. Other things happen in the account: a daily Scan, a skipped staging execution, a redelivered event");
    let settle = std::time::Duration::from_secs(60);
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;

    // Quick Setup's daily scan runs on every staging instance after the decision.
    let staging: Vec<String> = {
        let state = world.sim_state()?;
        state
            .group_members
            .get("staging")
            .cloned()
            .unwrap_or_default()
    };
    let (first, last) = {
        let mut state = world.sim_state_mut()?;
        // Each instance scans at a time of its own, between the decided run's end and now.
        let decided_end = state
            .executions
            .values()
            .filter(|e| e.window_id == STAGING_WINDOW && e.status == "SUCCESS")
            .filter_map(|e| e.end)
            .max()
            .ok_or_else(|| WeekError::Account("no decided staging execution".to_owned()))?;
        let now = Utc::now();
        let span = (now - decided_end - chrono::Duration::minutes(2))
            .num_seconds()
            .max(1);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut times = Vec::new();
        for id in &staging {
            let at = decided_end + chrono::Duration::seconds(rng.i64(0..span));
            scan(
                &mut state,
                std::slice::from_ref(id),
                at,
                at + chrono::Duration::seconds(rng.i64(20..120)),
            )?;
            times.push(at);
        }
        (times.iter().min().copied(), times.iter().max().copied())
    };
    let clock = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_default()
    };
    n.say(format!(
        "   a Scan on each of the {} staging instances, each at its own time ({} to {} UTC): their last operation is now a Scan",
        staging.len(),
        clock(first),
        clock(last)
    ));
    world.schedule("patch-gate", &scheduled_recheck()).await?;
    world.settle(settle).await?;
    let outcomes = gate_outcomes(world).await;
    let pages = gate_messages(world).await;
    let enabled = production_enabled(world).await?;
    n.check(
        Evidence::ScanIsNoVerdict,
        enabled && pages == 0 && outcomes.iter().any(|(o, _)| o == "rechecked"),
        format!("re-check {outcomes:?}; production enabled: {enabled}; gate messages: {pages}"),
    );

    // The staging window starts while its previous execution still runs: SKIPPED_OVERLAPPING.
    let app = world.sim.app.clone();
    let request = RunRequest {
        window_id: STAGING_WINDOW.to_owned(),
        outcomes: Default::default(),
        status: Some("SKIPPED_OVERLAPPING".to_owned()),
        verification: None,
        start: Some(Utc::now() - chrono::Duration::minutes(5)),
        duration_minutes: 1,
        alarm_states: Default::default(),
        override_lists: Default::default(),
    };
    let (skipped, _) = tokio::task::spawn_blocking(move || app.run_window(request)).await??;
    n.say(format!(
        "   staging execution {} ended SKIPPED_OVERLAPPING",
        skipped.window_execution_id
    ));
    world.settle(settle).await?;
    let outcomes = gate_outcomes(world).await;
    let pages = gate_messages(world).await;
    let enabled = production_enabled(world).await?;
    n.check(
        Evidence::SkippedIsNoVerdict,
        enabled
            && pages == 0
            && !outcomes.is_empty()
            && outcomes.iter().all(|(o, _)| o == "ignored"),
        format!("gate {outcomes:?}; production enabled: {enabled}; gate messages: {pages}"),
    );

    // EventBridge delivers the decided execution's event once more (at least once delivery).
    let decided = {
        let state = world.sim_state()?;
        state
            .executions
            .values()
            .filter(|e| e.window_id == STAGING_WINDOW && e.status == "SUCCESS")
            .max_by_key(|e| e.start)
            .map(|e| (e.id.clone(), e.start, e.end))
            .ok_or_else(|| {
                WeekError::Account("no successful staging execution to redeliver".to_owned())
            })?
    };
    let (id, start, end) = decided;
    let event = json!({
        "version": "0", "id": format!("{:032x}", fastrand::u128(..)),
        "detail-type": "Maintenance Window Execution State-change Notification",
        "source": "aws.ssm", "account": patchpilot_test_support::ACCOUNT,
        "time": end.unwrap_or(start).to_rfc3339(), "region": patchpilot_test_support::REGION,
        "resources": [], "detail": {
            "start-time": start.to_rfc3339(), "end-time": end.unwrap_or(start).to_rfc3339(),
            "window-id": STAGING_WINDOW, "window-execution-id": id, "status": "SUCCESS"
        }
    });
    world.schedule("patch-gate", &event).await?;
    world.settle(settle).await?;
    let outcomes = gate_outcomes(world).await;
    let pages = gate_messages(world).await;
    let enabled = production_enabled(world).await?;
    n.check(
        Evidence::RedeliveredRepeatsNothing,
        enabled && pages == 0 && outcomes.iter().any(|(o, _)| o == "duplicate"),
        format!("execution {id} again: gate {outcomes:?}; production enabled: {enabled}; gate messages: {pages}"),
    );
    Ok(())
}

/// Step 10: the staging group is left on its operating system's default baseline, which AWS provides
/// and names by an ARN in AWS's own account. A clean staging run opens production, pinned to AWS's
/// baseline as staging ran it; reading it by its ARN is allowed by the gate's role.
pub(crate) async fn staging_on_the_aws_default_baseline(
    world: &World,
    n: &mut Narrator,
) -> Result<(), WeekError> {
    n.say("\n10. The staging group is moved to its OS's default baseline, which AWS provides; staging runs clean; the gate pins production to it");
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;
    // The health signal recovered: the alarm is gone.
    world
        .cloudwatch
        .delete_alarms()
        .alarm_names("staging-health-canary")
        .send()
        .await
        .call("cloudwatch:DeleteAlarms")?;
    let aws_baseline = {
        let mut state = world.sim_state_mut()?;
        for baseline in state.baselines.values_mut() {
            baseline.patch_groups.retain(|group| group != "staging");
        }
        let default = state
            .baselines
            .values()
            .find(|b| b.default_baseline && b.operating_system == "AMAZON_LINUX_2023")
            .ok_or_else(|| {
                WeekError::Account(
                    "the scenario has no default AMAZON_LINUX_2023 baseline".to_owned(),
                )
            })?;
        state.baseline_public_id(default)
    };
    n.say(format!("   staging's baseline is now AWS's {aws_baseline}"));
    let start = Utc::now() - chrono::Duration::minutes(20);
    let (execution, status, _) = crate::run(world, STAGING_WINDOW, &[], start).await?;
    n.say(format!("   execution {execution} ended {status}"));
    world.settle(std::time::Duration::from_secs(60)).await?;
    let decision = world
        .take_deliveries()
        .await
        .into_iter()
        .filter(|d| d.function == "patch-gate")
        .filter_map(|d| d.result.ok())
        .find(|report| report["outcome"] == "decided");
    let pinned_to: Vec<String> = decision
        .iter()
        .flat_map(|report| report["pinned"].as_array().cloned().unwrap_or_default())
        .filter_map(|pinned| pinned["staging_baseline_id"].as_str().map(str::to_owned))
        .collect();
    let open = decision.as_ref().and_then(|r| r["open"].as_bool());
    let enabled = production_enabled(world).await?;
    let _ = world.alerts().await;
    n.check(
        Evidence::AwsManagedBaselinePinned,
        open == Some(true) && enabled && pinned_to == std::slice::from_ref(&aws_baseline),
        format!("decision open: {open:?}; production enabled: {enabled}; pinned to {pinned_to:?}"),
    );
    Ok(())
}

/// Step 11: another team's window on the same document fails on one instance in the hour of
/// Thursday's storm. Storm buckets are per document and hour across the account (invocation events
/// carry no window id): if Thursday filled the hour, the one failure is suppressed, and only its own
/// window's summary can carry it. Either way it must reach a human.
pub(crate) async fn another_teams_window(
    world: &World,
    n: &mut Narrator,
    thursday: chrono::DateTime<Utc>,
) -> Result<(), WeekError> {
    const TEAM_B: &str = "mw-0b0000000000000b1";
    n.say("\n11. Another team's window fails on one instance in the hour of Thursday's storm");
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;
    let canary = {
        let mut state = world.sim_state_mut()?;
        let window = serde_json::from_value(json!({
            "id": TEAM_B, "name": "team-b-canary", "enabled": true,
            "schedule": "cron(0 2 ? * THU *)", "duration": 3, "cutoff": 1,
            "targets": [{"id": "7e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "patch_groups": ["staging-canary"]}],
            "tasks": [{"id": "8f2a1b3c-4d5e-4f60-9a1b-2c3d4e5f6a7b", "document": "AWS-RunPatchBaseline",
                       "kind": "patch", "operation": "Install"}],
            "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z"
        }))
        .map_err(|err| WeekError::Setup(format!("team B's window: {err}")))?;
        state.windows.insert(TEAM_B.to_owned(), window);
        state
            .group_members
            .get("staging-canary")
            .and_then(|members| members.first().cloned())
            .ok_or_else(|| WeekError::Account("no instance in staging-canary".to_owned()))?
    };
    let (execution, status, _) =
        crate::run(world, TEAM_B, std::slice::from_ref(&canary), thursday).await?;
    n.say(format!(
        "   team B's execution {execution} ended {status}; failed: {canary}"
    ));
    world.settle(std::time::Duration::from_secs(60)).await?;
    let alerts_outcomes: Vec<String> = world
        .take_deliveries()
        .await
        .into_iter()
        .filter(|d| d.function == "install-alerts")
        .filter_map(|d| d.result.ok())
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
        .collect();
    let messages = world.alerts().await;
    let carried: Vec<String> = messages
        .iter()
        .filter(|m| {
            m["Message"]
                .as_str()
                .is_some_and(|text| text.contains(&canary))
        })
        .filter_map(|m| m["Subject"].as_str().map(str::to_owned))
        .collect();
    for subject in &carried {
        n.say(format!("   [{subject}]"));
    }
    n.check(
        Evidence::AnotherTeamsFailure,
        !carried.is_empty(),
        format!(
            "install-alerts outcomes {alerts_outcomes:?}; messages naming {canary}: {carried:?}"
        ),
    );
    Ok(())
}

/// Terminates instances in EC2 (LocalStack), as a scale-in during the staging window would.
pub(crate) async fn terminate_in_ec2(world: &World, instances: &[String]) -> Result<(), WeekError> {
    if instances.is_empty() {
        return Ok(());
    }
    world
        .ec2
        .terminate_instances()
        .set_instance_ids(Some(instances.to_vec()))
        .send()
        .await
        .call("ec2:TerminateInstances")?;
    Ok(())
}

/// Step 5b: the staging instance terminated mid-run. Staging cannot vouch for it, so the gate counts
/// it among the failed instances (it stays closed); the page says the instance is gone rather than
/// listing no failed patch; and it is no longer a member of the group the next run targets.
pub(crate) async fn terminated_mid_window(
    world: &World,
    n: &mut Narrator,
    terminated: &[String],
    messages: &[Value],
    gate_messages: &[&Value],
) -> Result<(), WeekError> {
    n.say("\n5b. An instance was terminated mid-window (a scale-in)");
    let Some(gone) = terminated.first() else {
        n.check(
            Evidence::InstanceTerminatedMidWindow,
            false,
            "no staging instance was left to terminate (fewer staging instances than failures)"
                .into(),
        );
        return Ok(());
    };
    let body = |message: &Value| -> Value {
        serde_json::from_str(message["Message"].as_str().unwrap_or("{}")).unwrap_or(Value::Null)
    };
    let counted_by_gate = gate_messages.iter().any(|message| {
        body(message)["failed_instances"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id == gone.as_str()))
    });
    let alert = messages
        .iter()
        .find(|message| body(message)["instance"]["id"] == gone.as_str());
    let paged = match alert {
        Some(alert) => {
            let subject = alert["Subject"].as_str().unwrap_or_default();
            n.say(format!("   [instance_failure] {subject}"));
            subject.ends_with("instance terminated")
                && body(alert)["instance"]["state"] == "terminated"
        }
        // Storm control: the window's summary carries it.
        None => messages.iter().any(|message| {
            message["MessageAttributes"]["kind"]["Value"] == "window_summary"
                && message["Message"]
                    .as_str()
                    .is_some_and(|m| m.contains(gone.as_str()))
        }),
    };
    let still_member = {
        let state = world.sim_state()?;
        state
            .group_members
            .get("staging")
            .is_some_and(|members| members.contains(gone))
    };
    n.check(
        Evidence::InstanceTerminatedMidWindow,
        counted_by_gate && paged && !still_member,
        format!(
            "{gone}: counted by the gate as failed (fails closed): {counted_by_gate}; page says it is gone: {paged}; still a staging member: {still_member}"
        ),
    );
    Ok(())
}
