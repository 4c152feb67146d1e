//! The brake Systems Manager enforces. Production's patch task watches the gate's alarm
//! (`patchpilot gate brake`, once at deployment), so while the gate is closed a production window
//! someone re-enables behind the gate's back, or one the gate failed to disable, runs nothing: the
//! task's invocations are skipped and its execution names the alarm in `TriggeredAlarms`.

use crate::error::{Call, WeekError};
use crate::evidence::Evidence;
use std::time::Duration;

use chrono::Utc;

use crate::world::World;
use crate::{BRAKE_ALARM, Narrator, PRODUCTION_WINDOW, run_with_terminations, wait_for_alarm};

/// Instances of `group` and how many patches they miss, as the simulator holds them.
fn missing(world: &World, group: &str) -> Result<(usize, i64), WeekError> {
    let state = world.sim_state()?;
    let members = state.group_members.get(group).cloned().unwrap_or_default();
    let missing = members
        .iter()
        .filter_map(|id| state.instances.get(id))
        .map(|instance| instance.counts.missing)
        .sum();
    Ok((members.len(), missing))
}

/// Step 5c: production re-enabled while the gate is closed patches nothing.
pub(crate) async fn behind_the_gates_back(
    world: &World,
    n: &mut Narrator,
) -> Result<(), WeekError> {
    n.say("\n5c. Someone re-enables production behind the gate's back; the brake keeps it from patching");
    world.settle(Duration::from_secs(60)).await?;
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;
    // The gate published GateOpen 0 when it closed; CloudWatch evaluates the brake from that.
    let brake = wait_for_alarm(world, BRAKE_ALARM, "ALARM", Duration::from_secs(60)).await;
    n.say(format!("   {BRAKE_ALARM}: {brake}"));
    world
        .ssm
        .update_maintenance_window()
        .window_id(PRODUCTION_WINDOW)
        .enabled(true)
        .send()
        .await
        .call("ssm:UpdateMaintenanceWindow")?;
    n.say(format!(
        "   $ aws ssm update-maintenance-window --window-id {PRODUCTION_WINDOW} --enabled   # someone"
    ));
    let (instances, missing_before) = missing(world, "production")?;
    let (execution, status, _) =
        run_with_terminations(world, PRODUCTION_WINDOW, &[], &[], Utc::now()).await?;
    let tasks = world
        .ssm
        .describe_maintenance_window_execution_tasks()
        .window_execution_id(&execution)
        .send()
        .await
        .call("ssm:DescribeMaintenanceWindowExecutionTasks")?;
    let mut stopped = Vec::new();
    let mut invocations = 0;
    for task in tasks.window_execution_task_identities() {
        let task_id = task.task_execution_id().unwrap_or_default();
        invocations += world
            .ssm
            .describe_maintenance_window_execution_task_invocations()
            .window_execution_id(&execution)
            .task_id(task_id)
            .send()
            .await
            .call("ssm:DescribeMaintenanceWindowExecutionTaskInvocations")?
            .window_execution_task_invocation_identities()
            .len();
        stopped.extend(task.triggered_alarms().iter().map(|alarm| {
            format!(
                "{} stopped by {} ({})",
                task.task_arn().unwrap_or_default(),
                alarm.name(),
                alarm.state().as_str()
            )
        }));
    }
    for line in &stopped {
        n.say(format!("   production run {status}: {line}"));
    }
    let (_, missing_after) = missing(world, "production")?;
    n.say(format!(
        "   {invocations} invocations; the {instances} production instances still miss {missing_after} patches ({missing_before} before)"
    ));
    // The operator puts the window back as the gate left it.
    world
        .ssm
        .update_maintenance_window()
        .window_id(PRODUCTION_WINDOW)
        .enabled(false)
        .send()
        .await
        .call("ssm:UpdateMaintenanceWindow")?;
    world.settle(Duration::from_secs(60)).await?;
    let _ = world.take_deliveries().await;
    let paged: Vec<String> = world.alerts().await.iter().map(crate::kind_of).collect();
    n.say(format!(
        "   pages about the stopped run: {}",
        if paged.is_empty() {
            "none".to_owned()
        } else {
            paged.join(", ")
        }
    ));
    n.check(
        Evidence::BrakeStopsProduction,
        brake == "ALARM"
            && invocations == 0
            && stopped.iter().any(|line| line.contains(BRAKE_ALARM))
            && missing_after == missing_before,
        format!(
            "{BRAKE_ALARM} {brake}; {invocations} invocations; TriggeredAlarms: {}",
            stopped.join("; ")
        ),
    );
    Ok(())
}

/// At the week's end: an operator's hold and release in one breath, the gate closing and opening
/// within one 10-second period of the brake alarm (`Minimum`). The gate publishes the open again once
/// that period has ended, so the brake releases and agrees with the gate (released while production
/// is enabled, engaged while it is not), as CloudWatch evaluates the gate's last published state.
pub(crate) async fn follows_the_gate(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    n.say(
        "\n12. An operator holds and releases production in one breath; the brake follows the gate",
    );
    let before = crate::production_enabled(world).await?;
    let (held, released) = if before {
        crate::operator::hold_and_release_at_once(world, n).await?
    } else {
        (false, false)
    };
    let waited = std::time::Instant::now();
    let state = wait_for_alarm(world, BRAKE_ALARM, "OK", Duration::from_secs(60)).await;
    let after = waited.elapsed().as_secs_f64();
    n.say(format!("   {BRAKE_ALARM}: {state} after {after:.0} s"));
    n.check(
        Evidence::BrakeFollowsGate,
        before && !held && released && state == "OK",
        format!(
            "production enabled before: {before}; held: {held}; released: {released}; {BRAKE_ALARM} {state} after {after:.0} s"
        ),
    );
    Ok(())
}
