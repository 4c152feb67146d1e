//! `patchpilot gate brake`: the stack's gate alarm attached to production's patch tasks as their
//! `AlarmConfiguration`, so Systems Manager itself keeps those tasks from running while the gate is
//! closed or held, even if the gate's own `UpdateMaintenanceWindow` failed or someone re-enabled the
//! window. A task already watching another team's alarm is left alone unless `--replace`: a task
//! takes one alarm, so the two must be combined into a composite alarm first.

use aws_sdk_ssm::types::{Alarm, AlarmConfiguration, MaintenanceWindowTask};
use serde::Serialize;
use serde_json::json;

use crate::clients::Clients;
use crate::error::CliError;
use crate::output::{Output, Style, with_progress};
use crate::settings::Settings;

/// One of production's patch tasks and the alarm it watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchTask {
    /// The task's id in the window.
    pub window_task_id: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its document (`AWS-RunPatchBaseline`, or a document ARN).
    pub task_arn: String,
    /// The alarm it watches now.
    pub alarm: Option<String>,
}

/// What `brake` does to one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "other_alarm")]
pub enum Step {
    /// The task watches no alarm: the brake is attached.
    Attach,
    /// The task already watches the brake.
    AlreadyAttached,
    /// The task watches another alarm, which `--replace` swaps for the brake.
    Replace(String),
    /// The task watches another alarm and is left as it is.
    KeepOther(String),
}

/// Whether a window task patches: a Run Command task running one of AWS's patch documents
/// (`AWS-RunPatchBaseline`, `AWS-RunPatchBaselineWithHooks`, …), by name or by ARN.
pub fn is_patch_document(task_arn: &str) -> bool {
    task_arn
        .rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("AWS-RunPatchBaseline"))
}

/// What to do to each patch task: pure, so every case is tested with plain data.
pub fn plan(tasks: &[PatchTask], brake: &str, replace: bool) -> Vec<(PatchTask, Step)> {
    tasks
        .iter()
        .map(|task| {
            let step = match task.alarm.as_deref() {
                None => Step::Attach,
                Some(alarm) if alarm == brake => Step::AlreadyAttached,
                Some(other) if replace => Step::Replace(other.to_owned()),
                Some(other) => Step::KeepOther(other.to_owned()),
            };
            (task.clone(), step)
        })
        .collect()
}

fn patch_task(task: &MaintenanceWindowTask) -> Option<PatchTask> {
    let task_arn = task.task_arn()?;
    is_patch_document(task_arn).then(|| PatchTask {
        window_task_id: task.window_task_id().unwrap_or_default().to_owned(),
        name: task.name().map(str::to_owned),
        task_arn: task_arn.to_owned(),
        alarm: task
            .alarm_configuration()
            .and_then(|config| config.alarms().first())
            .map(|alarm| alarm.name().to_owned()),
    })
}

/// Production's patch tasks, every page read.
pub async fn patch_tasks(clients: &Clients, window: &str) -> Result<Vec<PatchTask>, CliError> {
    let mut pages = clients
        .ssm
        .describe_maintenance_window_tasks()
        .window_id(window)
        .into_paginator()
        .send();
    let mut tasks = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| CliError::sdk("ssm:DescribeMaintenanceWindowTasks", err))?;
        tasks.extend(page.tasks().iter().filter_map(patch_task));
    }
    Ok(tasks)
}

/// The two settings the brake needs.
pub fn settings(settings: &Settings) -> Result<(&str, &str), CliError> {
    let window = settings.production_window.as_deref().ok_or_else(|| {
        CliError::Usage("the production window is not set (--production-window or --stack)".into())
    })?;
    let alarm = settings.brake_alarm.as_deref().ok_or_else(|| {
        CliError::Usage(
            "the gate's brake alarm is not set (--brake-alarm, or --stack with a stack that has the GateBrakeAlarm output)"
                .into(),
        )
    })?;
    Ok((window, alarm))
}

/// Runs `patchpilot gate brake`.
pub async fn run(
    clients: &Clients,
    settings: &Settings,
    replace: bool,
    style: Style,
) -> Result<Output, CliError> {
    let (window, brake) = self::settings(settings)?;
    let tasks = with_progress("production's tasks", patch_tasks(clients, window)).await?;
    if tasks.is_empty() {
        return Err(CliError::Usage(format!(
            "production window {window} has no AWS-RunPatchBaseline task to brake; register its patch task first"
        )));
    }
    let configuration = AlarmConfiguration::builder()
        .alarms(
            Alarm::builder()
                .name(brake)
                .build()
                .map_err(|err| CliError::Usage(format!("alarm {brake:?}: {err}")))?,
        )
        // An alarm CloudWatch cannot answer for stops the task too: the brake fails closed.
        .ignore_poll_alarm_failure(false)
        .build()
        .map_err(|err| CliError::Usage(format!("alarm configuration: {err}")))?;
    let steps = plan(&tasks, brake, replace);
    let mut lines = Vec::new();
    for (task, step) in &steps {
        if matches!(step, Step::Attach | Step::Replace(_)) {
            clients
                .ssm
                .update_maintenance_window_task()
                .window_id(window)
                .window_task_id(&task.window_task_id)
                .alarm_configuration(configuration.clone())
                .send()
                .await
                .map_err(|err| CliError::sdk("ssm:UpdateMaintenanceWindowTask", err))?;
        }
        let label = task.name.as_deref().unwrap_or(&task.window_task_id);
        lines.push(match step {
            Step::Attach => style.good(&format!("attached   {label} ({})", task.task_arn)),
            Step::AlreadyAttached => format!("unchanged  {label}: already watches {brake}"),
            Step::Replace(other) => style.warn(&format!(
                "replaced   {label}: watched {other}, now {brake}"
            )),
            Step::KeepOther(other) => style.bad(&format!(
                "kept       {label}: watches {other}; a task takes one alarm. Make a composite alarm of {other} and {brake}, attach that, or run again with --replace"
            )),
        });
    }
    let kept = steps
        .iter()
        .filter(|(_, step)| matches!(step, Step::KeepOther(_)))
        .count();
    let text = format!(
        "{}\n{}\n{}\n",
        style.heading(&format!(
            "The gate's brake ({brake}) on production window {window}"
        )),
        lines.join("\n"),
        if kept == 0 {
            "Production's patch tasks run only while the gate is open.".to_owned()
        } else {
            format!("{kept} patch task(s) are not braked.")
        }
    );
    Ok(Output {
        text,
        json: json!({
            "window": window,
            "alarm": brake,
            "tasks": steps.iter().map(|(task, step)| json!({"task": task, "step": step})).collect::<Vec<_>>(),
            "braked": kept == 0,
        }),
        findings: kept > 0,
        incomplete: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, alarm: Option<&str>) -> PatchTask {
        PatchTask {
            window_task_id: id.to_owned(),
            name: None,
            task_arn: "AWS-RunPatchBaseline".to_owned(),
            alarm: alarm.map(str::to_owned),
        }
    }

    #[test]
    fn patch_documents_are_known_by_name_or_arn() {
        assert!(is_patch_document("AWS-RunPatchBaseline"));
        assert!(is_patch_document("AWS-RunPatchBaselineWithHooks"));
        assert!(is_patch_document(
            "arn:aws:ssm:eu-west-1::document/AWS-RunPatchBaseline"
        ));
        assert!(!is_patch_document("AWS-RunShellScript"));
        assert!(!is_patch_document("MyTeam-RunPatchBaseline"));
    }

    #[test]
    fn another_teams_alarm_is_kept_unless_replacing() {
        let tasks = [
            task("a", None),
            task("b", Some("stack-gate-closed")),
            task("c", Some("web-health")),
        ];
        let steps: Vec<Step> = plan(&tasks, "stack-gate-closed", false)
            .into_iter()
            .map(|(_, step)| step)
            .collect();
        assert_eq!(
            steps,
            [
                Step::Attach,
                Step::AlreadyAttached,
                Step::KeepOther("web-health".into())
            ]
        );
        let replaced = plan(&tasks, "stack-gate-closed", true);
        assert_eq!(replaced[2].1, Step::Replace("web-health".into()));
        assert_eq!(replaced[1].1, Step::AlreadyAttached);
    }
}
