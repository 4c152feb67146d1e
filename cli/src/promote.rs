//! `patchpilot gate promote`: production's patch tasks pointed at the install list the gate writes
//! after each clean staging run (`AWS-RunPatchBaseline`'s `InstallOverrideList`), so production
//! installs exactly the versions staging runs, on every operating system, apt included.
//!
//! A task's Run Command parameters are read and sent back whole with the list added: whether the
//! service merges parameters into the task's or replaces them is not documented, and a patch task
//! that lost its `Operation` would fall back to the document's default, Scan.

use aws_sdk_ssm::types::{
    MaintenanceWindowRunCommandParameters, MaintenanceWindowTaskInvocationParameters,
};
use serde::Serialize;
use serde_json::json;

use crate::brake::{PatchTask, patch_tasks};
use crate::clients::Clients;
use crate::error::CliError;
use crate::output::{Output, Style, with_progress};
use crate::settings::Settings;

/// The document parameter that names the list.
pub const INSTALL_OVERRIDE_LIST: &str = "InstallOverrideList";
/// The document parameter that cannot be combined with it ("The patching document fails").
pub const BASELINE_OVERRIDE: &str = "BaselineOverride";

/// What a patch task runs with, as far as promotion is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskParameters {
    /// The task.
    pub task: PatchTask,
    /// `Operation` (absent: the document's default, `Scan`).
    pub operation: Option<String>,
    /// The install list it uses now.
    pub install_list: Option<String>,
    /// Whether it gives a `BaselineOverride`.
    pub baseline_override: bool,
}

/// What `promote` does to one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "detail")]
pub enum Step {
    /// The list is added.
    Attach,
    /// The task already uses the list.
    AlreadyAttached,
    /// The task uses another list, which `--replace` swaps for this one.
    Replace(String),
    /// The task uses another list and is left as it is.
    KeepOther(String),
    /// The task scans: Scan ignores install lists, nothing to do.
    ScanOnly,
    /// The task gives a `BaselineOverride`, which cannot be combined with a list.
    BaselineOverride,
}

impl Step {
    /// Whether the task will not install within the promoted list.
    pub fn leaves_unpromoted(&self) -> bool {
        matches!(self, Self::KeepOther(_) | Self::BaselineOverride)
    }
}

/// What to do to each task: pure, so every case is tested with plain data.
pub fn plan(tasks: &[TaskParameters], list: &str, replace: bool) -> Vec<(TaskParameters, Step)> {
    tasks
        .iter()
        .map(|task| {
            let step = if task.operation.as_deref().unwrap_or("Scan") != "Install" {
                Step::ScanOnly
            } else if task.baseline_override {
                Step::BaselineOverride
            } else {
                match task.install_list.as_deref() {
                    None => Step::Attach,
                    Some(current) if current == list => Step::AlreadyAttached,
                    Some(other) if replace => Step::Replace(other.to_owned()),
                    Some(other) => Step::KeepOther(other.to_owned()),
                }
            };
            (task.clone(), step)
        })
        .collect()
}

fn first_given(run_command: &MaintenanceWindowRunCommandParameters, name: &str) -> Option<String> {
    run_command
        .parameters()
        .and_then(|parameters| parameters.get(name))
        .and_then(|values| values.first())
        .filter(|value| !value.is_empty())
        .cloned()
}

/// Each patch task with its Run Command parameters (GetMaintenanceWindowTask: the task list does not
/// carry them).
pub async fn task_parameters(
    clients: &Clients,
    window: &str,
) -> Result<Vec<(TaskParameters, MaintenanceWindowRunCommandParameters)>, CliError> {
    let mut read = Vec::new();
    for task in patch_tasks(clients, window).await? {
        let detail = clients
            .ssm
            .get_maintenance_window_task()
            .window_id(window)
            .window_task_id(&task.window_task_id)
            .send()
            .await
            .map_err(|err| CliError::sdk("ssm:GetMaintenanceWindowTask", err))?;
        let run_command = detail
            .task_invocation_parameters()
            .and_then(|parameters| parameters.run_command())
            .cloned()
            .unwrap_or_else(|| MaintenanceWindowRunCommandParameters::builder().build());
        read.push((
            TaskParameters {
                task,
                operation: first_given(&run_command, "Operation"),
                install_list: first_given(&run_command, INSTALL_OVERRIDE_LIST),
                baseline_override: first_given(&run_command, BASELINE_OVERRIDE).is_some(),
            },
            run_command,
        ));
    }
    Ok(read)
}

/// The promotion list's URL, or an error naming the flag.
pub fn list_setting(settings: &Settings) -> Result<&str, CliError> {
    settings.promotion_list.as_deref().ok_or_else(|| {
        CliError::Usage(
            "the promotion list is not set (--promotion-list, or --stack with a stack that has the PromotionInstallList output)"
                .into(),
        )
    })
}

/// Runs `patchpilot gate promote`.
pub async fn run(
    clients: &Clients,
    settings: &Settings,
    replace: bool,
    style: Style,
) -> Result<Output, CliError> {
    let window = settings.production_window.as_deref().ok_or_else(|| {
        CliError::Usage("the production window is not set (--production-window or --stack)".into())
    })?;
    let list = list_setting(settings)?;
    let read = with_progress("production's tasks", task_parameters(clients, window)).await?;
    if read.is_empty() {
        return Err(CliError::Usage(format!(
            "production window {window} has no AWS-RunPatchBaseline task; register its patch task first"
        )));
    }
    let tasks: Vec<TaskParameters> = read.iter().map(|(task, _)| task.clone()).collect();
    let steps = plan(&tasks, list, replace);
    let mut lines = Vec::new();
    for ((task, step), (_, run_command)) in steps.iter().zip(&read) {
        if matches!(step, Step::Attach | Step::Replace(_)) {
            let mut run_command = run_command.clone();
            run_command
                .parameters
                .get_or_insert_with(Default::default)
                .insert(INSTALL_OVERRIDE_LIST.to_owned(), vec![list.to_owned()]);
            clients
                .ssm
                .update_maintenance_window_task()
                .window_id(window)
                .window_task_id(&task.task.window_task_id)
                .task_invocation_parameters(
                    MaintenanceWindowTaskInvocationParameters::builder()
                        .run_command(run_command)
                        .build(),
                )
                .send()
                .await
                .map_err(|err| CliError::sdk("ssm:UpdateMaintenanceWindowTask", err))?;
        }
        let label = task
            .task
            .name
            .as_deref()
            .unwrap_or(&task.task.window_task_id);
        lines.push(match step {
            Step::Attach => style.good(&format!("attached   {label} ({})", task.task.task_arn)),
            Step::AlreadyAttached => format!("unchanged  {label}: already installs from {list}"),
            Step::Replace(other) => style.warn(&format!(
                "replaced   {label}: installed from {other}, now {list}"
            )),
            Step::KeepOther(other) => style.bad(&format!(
                "kept       {label}: installs from {other}; run again with --replace to install only what staging runs"
            )),
            Step::ScanOnly => format!("unchanged  {label}: scans only (Scan ignores install lists)"),
            Step::BaselineOverride => style.bad(&format!(
                "kept       {label}: gives a BaselineOverride, which AWS-RunPatchBaseline cannot combine with an install list"
            )),
        });
    }
    let unpromoted = steps
        .iter()
        .filter(|(_, step)| step.leaves_unpromoted())
        .count();
    let text = format!(
        "{}\n{}\n{}\n",
        style.heading(&format!(
            "Production window {window} installs from the promoted list {list}"
        )),
        lines.join("\n"),
        if unpromoted == 0 {
            "Production installs only the versions staging runs, once the gate has promoted a clean staging run.".to_owned()
        } else {
            format!("{unpromoted} patch task(s) do not install from the promoted list.")
        }
    );
    Ok(Output {
        text,
        json: json!({
            "window": window,
            "list": list,
            "tasks": steps.iter().map(|(task, step)| json!({"task": task, "step": step})).collect::<Vec<_>>(),
            "promoted": unpromoted == 0,
        }),
        findings: unpromoted > 0,
        incomplete: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "s3://stack-promotion/promotion/mw-0d61969e12ee5b4c2/install-override.yaml";

    fn task(
        operation: Option<&str>,
        list: Option<&str>,
        baseline_override: bool,
    ) -> TaskParameters {
        TaskParameters {
            task: PatchTask {
                window_task_id: "t".to_owned(),
                name: None,
                task_arn: "AWS-RunPatchBaseline".to_owned(),
                alarm: None,
            },
            operation: operation.map(str::to_owned),
            install_list: list.map(str::to_owned),
            baseline_override,
        }
    }

    #[test]
    fn installs_get_the_list_scans_are_left_and_conflicts_are_reported() {
        let tasks = [
            task(Some("Install"), None, false),
            task(Some("Install"), Some(LIST), false),
            task(Some("Install"), Some("s3://theirs/list.yaml"), false),
            task(None, None, false),
            task(Some("Scan"), None, false),
            task(Some("Install"), None, true),
        ];
        let steps: Vec<Step> = plan(&tasks, LIST, false)
            .into_iter()
            .map(|(_, step)| step)
            .collect();
        assert_eq!(
            steps,
            [
                Step::Attach,
                Step::AlreadyAttached,
                Step::KeepOther("s3://theirs/list.yaml".into()),
                Step::ScanOnly,
                Step::ScanOnly,
                Step::BaselineOverride,
            ]
        );
        assert_eq!(
            plan(&tasks, LIST, true)[2].1,
            Step::Replace("s3://theirs/list.yaml".into())
        );
        assert!(steps.iter().filter(|s| s.leaves_unpromoted()).count() == 2);
    }
}
