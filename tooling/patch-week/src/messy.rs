//! The account is not a clean room: between the decision and production, other things happen. A daily
//! Scan overwrites every staging instance's last operation, a staging execution is skipped because the
//! previous one overlapped, and EventBridge delivers the decided execution's event again. None of them
//! is a verdict on staging: production stays as the decision left it, and nobody is paged.

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

fn scheduled_recheck() -> Value {
    json!({
        "version": "0", "id": format!("{:032x}", fastrand::u128(..)),
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": patchpilot_test_support::ACCOUNT, "time": Utc::now().to_rfc3339(),
        "region": patchpilot_test_support::REGION, "resources": [], "detail": {}
    })
}

/// Step 7b: a scan, a skipped execution and a redelivered event, each with its evidence row.
pub(crate) async fn other_things_happen(world: &World, n: &mut Narrator) -> Result<(), String> {
    n.say("\n7b. Other things happen in the account: a daily Scan, a skipped staging execution, a redelivered event");
    let settle = std::time::Duration::from_secs(60);
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;

    // Quick Setup's daily scan runs on every staging instance after the decision.
    let staging: Vec<String> = {
        let state = world
            .sim
            .app
            .state
            .read()
            .map_err(|_| "simulator state poisoned")?;
        state
            .group_members
            .get("staging")
            .cloned()
            .unwrap_or_default()
    };
    {
        let mut state = world
            .sim
            .app
            .state
            .write()
            .map_err(|_| "simulator state poisoned")?;
        let at = Utc::now() - chrono::Duration::minutes(10);
        scan(&mut state, &staging, at, at + chrono::Duration::minutes(3))?;
    }
    n.say(format!(
        "   a Scan on all {} staging instances: their last operation is now a Scan",
        staging.len()
    ));
    world.schedule("patch-gate", &scheduled_recheck()).await?;
    world.settle(settle).await?;
    let outcomes = gate_outcomes(world).await;
    let pages = gate_messages(world).await;
    let enabled = production_enabled(world).await?;
    n.check(
        "a scan is no verdict",
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
    };
    let (skipped, _) = tokio::task::spawn_blocking(move || app.run_window(request))
        .await
        .map_err(|err| err.to_string())??;
    n.say(format!(
        "   staging execution {} ended SKIPPED_OVERLAPPING",
        skipped.window_execution_id
    ));
    world.settle(settle).await?;
    let outcomes = gate_outcomes(world).await;
    let pages = gate_messages(world).await;
    let enabled = production_enabled(world).await?;
    n.check(
        "a skipped execution is no verdict",
        enabled
            && pages == 0
            && !outcomes.is_empty()
            && outcomes.iter().all(|(o, _)| o == "ignored"),
        format!("gate {outcomes:?}; production enabled: {enabled}; gate messages: {pages}"),
    );

    // EventBridge delivers the decided execution's event once more (at least once delivery).
    let decided = {
        let state = world
            .sim
            .app
            .state
            .read()
            .map_err(|_| "simulator state poisoned")?;
        state
            .executions
            .values()
            .filter(|e| e.window_id == STAGING_WINDOW && e.status == "SUCCESS")
            .max_by_key(|e| e.start)
            .map(|e| (e.id.clone(), e.start, e.end))
            .ok_or("no successful staging execution to redeliver")?
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
        "a redelivered event repeats nothing",
        enabled && pages == 0 && outcomes.iter().any(|(o, _)| o == "duplicate"),
        format!("execution {id} again: gate {outcomes:?}; production enabled: {enabled}; gate messages: {pages}"),
    );
    Ok(())
}
