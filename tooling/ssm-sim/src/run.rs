//! Runs a maintenance-window execution on the simulated fleet, the way Patch Manager would: one Run
//! Command command per target instance and task, patch states and reports updated from each
//! instance's outcome, task and execution records written, and the EventBridge events AWS would emit
//! returned in their real shapes (the patch-week driver forwards them to EventBridge).

use crate::error::SimError;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{
    Command, CommandInvocation, PatchReport, PatchState, State, TaskExecution, TaskInvocation,
    TaskKind, WindowExecution,
};

/// What one instance does in the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceOutcome {
    /// The Run Command status of the instance's patch invocation: `Success`, `Failed`, `TimedOut`,
    /// `DeliveryTimedOut`, `Cancelled`, `Undeliverable`, …
    #[serde(default = "success")]
    pub status: String,
    /// Catalog ids of the patches that fail to install (default for a failure: the first missing one).
    #[serde(default)]
    pub failed_patches: Vec<String>,
    /// Installed, but waiting for a reboot.
    #[serde(default)]
    pub pending_reboot: Vec<String>,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stderr: Option<String>,
    /// The instance is terminated while its patch task runs (a scale-in, a failed health check):
    /// the agent never answers, so the patch invocation ends `ExecutionTimedOut` whatever `status`
    /// says, later tasks cannot be delivered (`Undeliverable`), nothing is reported, and the
    /// instance leaves Systems Manager when the run ends (ledger row 23).
    #[serde(default)]
    pub terminated: bool,
}

fn success() -> String {
    "Success".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub window_id: String,
    /// Per-instance outcomes; instances not named succeed.
    #[serde(default)]
    pub outcomes: BTreeMap<String, InstanceOutcome>,
    /// Forces the execution's final status (e.g. `TIMED_OUT`, `CANCELLED`); by default it follows the tasks.
    #[serde(default)]
    pub status: Option<String>,
    /// Status of the post-patch verification task, if the window has one (default `Success`).
    #[serde(default)]
    pub verification: Option<String>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default = "five")]
    pub duration_minutes: i64,
    /// CloudWatch's alarm states when the window starts (name → `OK`, `ALARM`,
    /// `INSUFFICIENT_DATA`), as whoever drives the run read them. A task whose `AlarmConfiguration`
    /// names an alarm in `ALARM` runs no invocation; one naming an alarm absent here could not be
    /// read, and runs only with `IgnorePollAlarmFailure` (ledger row 26).
    #[serde(default)]
    pub alarm_states: BTreeMap<String, String>,
    /// The install override lists the run's tasks name (`InstallOverrideList` URL → the YAML it
    /// holds), as whoever drives the run downloaded them. A task naming a URL absent here could not
    /// download its list: its Install invocations fail and install nothing (ledger row 27).
    #[serde(default)]
    pub override_lists: BTreeMap<String, String>,
}

/// The install override list a patch task's Install runs with: `None` without one, or why the
/// patching document fails.
fn install_override(
    parameters: &BTreeMap<String, Vec<String>>,
    lists: &BTreeMap<String, String>,
) -> Option<Result<(String, Vec<crate::override_list::Entry>), String>> {
    let given = |name: &str| {
        parameters
            .get(name)
            .and_then(|values| values.first())
            .filter(|value| !value.is_empty())
    };
    let url = given("InstallOverrideList")?;
    if given("BaselineOverride").is_some() {
        return Some(Err(
            "BaselineOverride and InstallOverrideList cannot be used together: the patching document fails".to_owned(),
        ));
    }
    Some(match lists.get(url) {
        None => Err(format!(
            "could not download the install override list {url}"
        )),
        Some(text) => crate::override_list::parse(text).map(|entries| (url.clone(), entries)),
    })
}

/// Whether a task's alarm lets it run, and if not, the `TriggeredAlarms` entry and the task's status.
fn alarm_stop(
    configuration: Option<&Value>,
    states: &BTreeMap<String, String>,
) -> Option<(Value, &'static str, String)> {
    let configuration = configuration?;
    let ignore_poll_failure = configuration["IgnorePollAlarmFailure"]
        .as_bool()
        .unwrap_or(false);
    let name = configuration["Alarms"][0]["Name"].as_str()?;
    match states.get(name).map(String::as_str) {
        Some("ALARM") => Some((
            json!({"Name": name, "State": "ALARM"}),
            "CANCELLED",
            format!("CloudWatch alarm {name} is in ALARM: the task's invocations did not run"),
        )),
        None if !ignore_poll_failure => Some((
            json!({"Name": name, "State": "UNKNOWN"}),
            "FAILED",
            format!(
                "CloudWatch alarm {name} could not be read and IgnorePollAlarmFailure is false"
            ),
        )),
        _ => None,
    }
}

fn five() -> i64 {
    5
}

/// A run outcome (as events spell it, e.g. `DeliveryTimedOut`) as the Run Command API reports it: a
/// `Status` from the API's enum (`Pending | InProgress | Delayed | Success | Cancelled | TimedOut |
/// Failed | Cancelling`) and a `StatusDetails` string as documented (`Delivery Timed Out`, `Execution
/// Timed Out`, `Undeliverable`, `Terminated`, `Access Denied`, …).
pub fn api_status(outcome: &str) -> (&'static str, String) {
    match outcome {
        "Success" => ("Success", "Success".to_owned()),
        "Cancelled" => ("Cancelled", "Cancelled".to_owned()),
        "TimedOut" | "ExecutionTimedOut" => ("TimedOut", "Execution Timed Out".to_owned()),
        "DeliveryTimedOut" => ("TimedOut", "Delivery Timed Out".to_owned()),
        "Undeliverable" => ("Failed", "Undeliverable".to_owned()),
        "Terminated" => ("Failed", "Terminated".to_owned()),
        "InvalidPlatform" => ("Failed", "Invalid Platform".to_owned()),
        "AccessDenied" => ("Failed", "Access Denied".to_owned()),
        "Pending" => ("Pending", "Pending".to_owned()),
        "InProgress" => ("InProgress", "InProgress".to_owned()),
        _ => ("Failed", "Failed".to_owned()),
    }
}

pub fn is_terminal_command_status(status: &str) -> bool {
    !matches!(status, "Pending" | "InProgress" | "Delayed" | "Cancelling")
}

/// The task-invocation status a command status maps to.
fn window_status(command_status: &str) -> &'static str {
    match command_status {
        "Success" => "SUCCESS",
        "TimedOut" | "DeliveryTimedOut" | "ExecutionTimedOut" => "TIMED_OUT",
        "Cancelled" => "CANCELLED",
        _ => "FAILED",
    }
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        0x8000 | rng.u16(..0x4000),
        rng.u64(..1 << 48)
    )
}

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn event(
    state: &State,
    detail_type: &str,
    resources: Vec<String>,
    time: DateTime<Utc>,
    detail: Value,
    rng: &mut fastrand::Rng,
) -> Value {
    json!({
        "version": "0",
        "id": uuid(rng),
        "detail-type": detail_type,
        "source": "aws.ssm",
        "account": state.account,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": state.region,
        "resources": resources,
        "detail": detail,
    })
}

/// What a run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    pub window_execution_id: String,
    pub status: String,
    pub task_execution_ids: Vec<String>,
    pub command_ids: BTreeMap<String, String>,
    pub events: Vec<Value>,
}

pub fn run_window(
    state: &mut State,
    request: RunRequest,
    rng: &mut fastrand::Rng,
) -> Result<RunResult, SimError> {
    let window = state
        .windows
        .get(&request.window_id)
        .cloned()
        .ok_or_else(|| SimError::NoSuchWindow(request.window_id.clone()))?;
    for instance in request.outcomes.keys() {
        if !state.instances.contains_key(instance) {
            return Err(SimError::UnknownInstance {
                request: "outcome",
                instance: instance.clone(),
            });
        }
    }
    let start = request.start.unwrap_or_else(Utc::now);
    let end = start + Duration::minutes(request.duration_minutes.max(1));
    // A window that starts while its previous execution still runs is skipped: the execution is
    // recorded and announced as SKIPPED_OVERLAPPING, and no task runs (ledger row 21).
    let skipped = request.status.as_deref() == Some("SKIPPED_OVERLAPPING");
    let mut targets: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for target in window.targets.iter().filter(|_| !skipped) {
        for group in &target.patch_groups {
            for id in state.group_members.get(group).into_iter().flatten() {
                targets.push((
                    id.clone(),
                    Some(target.id.clone()),
                    target.owner_information.clone(),
                ));
            }
        }
    }
    targets.sort();
    targets.dedup_by(|a, b| a.0 == b.0);

    let execution_id = uuid(rng);
    let window_arn = state.arn("maintenancewindow", &window.id);
    let mut events = Vec::new();
    let mut tasks = Vec::new();
    let mut command_ids = BTreeMap::new();

    for task in window.tasks.iter().filter(|_| !skipped) {
        let task_execution_id = uuid(rng);
        let mut invocations = Vec::new();
        let stopped = alarm_stop(task.alarm_configuration.as_ref(), &request.alarm_states);
        if let Some((triggered, status, details)) = stopped {
            events.push(event(state, "Maintenance Window Task Execution State-change Notification", vec![window_arn.clone()], start, json!({
                "start-time": iso(start), "task-execution-id": task_execution_id, "end-time": iso(start),
                "window-id": window.id, "window-execution-id": execution_id, "status": status,
            }), rng));
            tasks.push(TaskExecution {
                id: task_execution_id,
                task_id: task.id.clone(),
                task_arn: task.document.clone(),
                status: status.to_owned(),
                status_details: Some(details),
                start,
                end: Some(start),
                invocations,
                alarm_configuration: task.alarm_configuration.clone(),
                triggered_alarms: vec![triggered],
            });
            continue;
        }
        for (instance_id, target_id, owner) in &targets {
            let outcome = request
                .outcomes
                .get(instance_id)
                .cloned()
                .unwrap_or(InstanceOutcome {
                    status: success(),
                    failed_patches: Vec::new(),
                    pending_reboot: Vec::new(),
                    stdout: None,
                    stderr: None,
                    terminated: false,
                });
            let operation = task
                .operation
                .clone()
                .unwrap_or_else(|| "Install".to_owned());
            // Scan ignores the list (user guide); an Install whose list cannot be used fails.
            let override_list = (task.kind == TaskKind::Patch && operation == "Install")
                .then(|| install_override(&task.parameters, &request.override_lists))
                .flatten();
            let unusable = override_list
                .as_ref()
                .and_then(|list| list.as_ref().err().cloned());
            let status = match task.kind {
                TaskKind::Patch if outcome.terminated => "ExecutionTimedOut".to_owned(),
                TaskKind::Patch if unusable.is_some() => "Failed".to_owned(),
                TaskKind::Patch => outcome.status.clone(),
                _ if outcome.terminated => "Undeliverable".to_owned(),
                _ => request.verification.clone().unwrap_or_else(success),
            };
            let command_id = uuid(rng);
            let (stdout, stderr) = match (task.kind, &unusable) {
                (TaskKind::Patch, Some(why)) if !outcome.terminated => {
                    (String::new(), format!("{why}\n"))
                }
                (TaskKind::Patch, _) => apply_patch_outcome(
                    state,
                    instance_id,
                    &operation,
                    &task.reboot_option,
                    &outcome,
                    override_list.as_ref().and_then(|list| list.as_ref().ok()),
                    start,
                    end,
                ),
                _ => (format!("verification {status}\n"), String::new()),
            };
            let mut parameters = BTreeMap::new();
            if task.kind == TaskKind::Patch {
                parameters.insert("Operation".to_owned(), vec![operation]);
                parameters.insert("RebootOption".to_owned(), vec![task.reboot_option.clone()]);
                parameters.extend(task.parameters.clone());
            }
            let command_parameters = parameters.clone();
            let name = state
                .instances
                .get(instance_id)
                .and_then(|i| i.name.clone());
            let (api, details) = api_status(&status);
            let command = Command {
                id: command_id.clone(),
                document_name: task.document.clone(),
                comment: Some(format!("Maintenance window {} task {}", window.id, task.id)),
                parameters,
                requested: start,
                expires_after: start + Duration::hours(2),
                status: api.to_owned(),
                status_details: Some(details.clone()),
                invocations: vec![CommandInvocation {
                    instance_id: instance_id.clone(),
                    instance_name: name,
                    status: api.to_owned(),
                    status_details: Some(details.clone()),
                    response_code: if status == "Success" { 0 } else { 1 },
                    start,
                    end: Some(end),
                    stdout,
                    stderr,
                }],
            };
            let instance_arn = format!(
                "arn:aws:ec2:{}:{}:instance/{instance_id}",
                state.region, state.account
            );
            events.push(event(state, "EC2 Command Invocation Status-change Notification", vec![instance_arn.clone()], end, json!({
                "command-id": command_id, "document-name": task.document, "instance-id": instance_id,
                "requested-date-time": iso(start), "status": status,
            }), rng));
            events.push(event(state, "EC2 Command Status-change Notification", vec![instance_arn], end, json!({
                "command-id": command_id, "document-name": task.document, "expire-after": iso(command.expires_after),
                "parameters": command.parameters, "requested-date-time": iso(start), "status": status,
            }), rng));
            state.commands.insert(command_id.clone(), command);
            if task.kind == TaskKind::Patch {
                command_ids.insert(instance_id.clone(), command_id.clone());
            }
            let invocation_status = window_status(&status).to_owned();
            events.push(event(state, "Maintenance Window Task Target Invocation State-change Notification", vec![window_arn.clone()], end, json!({
                "start-time": iso(start), "end-time": iso(end), "window-id": window.id,
                "window-execution-id": execution_id, "task-execution-id": task_execution_id,
                "window-target-id": target_id, "status": invocation_status, "owner-information": owner,
            }), rng));
            invocations.push(TaskInvocation {
                id: uuid(rng),
                execution_id: command_id,
                instance_id: instance_id.clone(),
                status: invocation_status,
                status_details: Some(details),
                start,
                end: Some(end),
                window_target_id: target_id.clone(),
                owner_information: owner.clone(),
                // The members the AWS CLI's describe-maintenance-window-execution-task-invocations
                // example shows (ledger row 24), as the Run Command request the window sent.
                parameters: Some(
                    json!({
                        "documentName": task.document,
                        "instanceIds": [instance_id],
                        "parameters": command_parameters,
                        "maxConcurrency": "50",
                        "maxErrors": "0",
                    })
                    .to_string(),
                ),
            });
        }
        let task_status = if invocations.iter().all(|i| i.status == "SUCCESS") {
            "SUCCESS"
        } else {
            "FAILED"
        };
        events.push(event(state, "Maintenance Window Task Execution State-change Notification", vec![window_arn.clone()], end, json!({
            "start-time": iso(start), "task-execution-id": task_execution_id, "end-time": iso(end),
            "window-id": window.id, "window-execution-id": execution_id, "status": task_status,
        }), rng));
        tasks.push(TaskExecution {
            id: task_execution_id,
            task_id: task.id.clone(),
            task_arn: task.document.clone(),
            status: task_status.to_owned(),
            status_details: None,
            start,
            end: Some(end),
            invocations,
            alarm_configuration: task.alarm_configuration.clone(),
            triggered_alarms: Vec::new(),
        });
    }
    let status = request.status.clone().unwrap_or_else(|| {
        if tasks.iter().all(|task| task.status == "SUCCESS") {
            "SUCCESS".to_owned()
        } else {
            "FAILED".to_owned()
        }
    });
    events.push(event(
        state,
        "Maintenance Window Execution State-change Notification",
        vec![window_arn],
        end,
        json!({
            "start-time": iso(start), "end-time": iso(end), "window-id": window.id,
            "window-execution-id": execution_id, "status": status,
        }),
        rng,
    ));
    // Terminated instances leave Systems Manager; their command history stays (user guide,
    // "Deregistering managed nodes": command history is kept for 30 days).
    let terminated: Vec<&String> = request
        .outcomes
        .iter()
        .filter(|(_, outcome)| outcome.terminated && !skipped)
        .map(|(id, _)| id)
        .collect();
    if !terminated.is_empty() {
        for id in terminated {
            state.instances.remove(id);
        }
        state.reindex_groups();
    }
    let task_execution_ids = tasks.iter().map(|task| task.id.clone()).collect();
    state.executions.insert(
        execution_id.clone(),
        WindowExecution {
            id: execution_id.clone(),
            window_id: window.id.clone(),
            // The live service's words for a run whose task failed (the AWS CLI's
            // describe-maintenance-window-executions example); none for a success.
            status_details: (status == "FAILED")
                .then(|| "One or more tasks in the orchestration failed.".to_owned()),
            status: status.clone(),
            start,
            end: Some(end),
            tasks,
        },
    );
    Ok(RunResult {
        window_execution_id: execution_id,
        status,
        task_execution_ids,
        command_ids,
        events,
    })
}

/// A Scan on each of `instance_ids` outside any window (Quick Setup's daily scan, a State Manager
/// association, an operator): nothing is installed, and the instance's patch state now describes this
/// Scan: `Operation`, its start and end (ledger row 22). Unknown ids are refused.
pub fn scan(
    state: &mut State,
    instance_ids: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), SimError> {
    if let Some(unknown) = instance_ids
        .iter()
        .find(|id| !state.instances.contains_key(*id))
    {
        return Err(SimError::UnknownInstance {
            request: "scan",
            instance: unknown.clone(),
        });
    }
    let outcome = InstanceOutcome {
        status: success(),
        failed_patches: Vec::new(),
        pending_reboot: Vec::new(),
        stdout: None,
        stderr: None,
        terminated: false,
    };
    for id in instance_ids {
        apply_patch_outcome(state, id, "Scan", "NoReboot", &outcome, None, start, end);
    }
    Ok(())
}

/// Updates an instance's patches and report for its patch invocation; returns (stdout, stderr).
/// With an install override list (its URL and entries), an Install installs the listed versions
/// instead of the baseline's approved patches: an available patch no entry names is not installed
/// (its state stays as the baseline says), and one whose id is listed at another version only is
/// reported Failed, not replaced by the version available (ledger row 27).
#[allow(clippy::too_many_arguments)]
fn apply_patch_outcome(
    state: &mut State,
    instance_id: &str,
    operation: &str,
    reboot_option: &str,
    outcome: &InstanceOutcome,
    override_list: Option<&(String, Vec<crate::override_list::Entry>)>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> (String, String) {
    if outcome.terminated {
        return (
            String::new(),
            "the instance was terminated while the command ran\n".to_owned(),
        );
    }
    // Statuses in which the agent never ran: nothing is reported.
    if matches!(
        outcome.status.as_str(),
        "DeliveryTimedOut" | "Undeliverable" | "InvalidPlatform" | "AccessDenied"
    ) {
        return (
            String::new(),
            format!(
                "{}: the command never reached the instance\n",
                outcome.status
            ),
        );
    }
    let Some(instance) = state.instances.get(instance_id) else {
        return (String::new(), String::new());
    };
    let baseline = state
        .baseline_for(instance.patch_group.as_deref(), &instance.operating_system)
        .cloned();
    let baseline_id = baseline
        .as_ref()
        .map(|baseline| state.baseline_public_id(baseline))
        .unwrap_or_else(|| "pb-0000000000000000".to_owned());
    let catalog = state.catalog.clone();
    let product = crate::sources::product_of(instance);
    // Whether the repositories the instance patches from carry it (ledger row 29).
    let served =
        |info: &crate::state::PatchInfo| crate::sources::served(baseline.as_ref(), &product, info);
    // What the instance's baseline approves when the operation starts (no baseline: everything),
    // among what its repositories serve.
    let approved = |info: &crate::state::PatchInfo| {
        served(info)
            && baseline
                .as_ref()
                .is_none_or(|b| crate::approval::evaluate(b, info).approved_at(start))
    };
    let failed_ok = outcome.status == "Success";
    let instance = state.instances.get_mut(instance_id).expect("checked above");
    let mut failed_names = Vec::new();
    if operation == "Install" {
        let mut to_fail: Vec<String> = outcome.failed_patches.clone();
        if !failed_ok
            && to_fail.is_empty()
            && let Some(first) = instance.patches.iter().find(|p| {
                matches!(p.state, PatchState::Missing | PatchState::Failed)
                    && approved(&catalog[p.patch as usize])
            })
        {
            to_fail.push(catalog[first.patch as usize].id.clone());
        }
        for patch in &mut instance.patches {
            let id = &catalog[patch.patch as usize].id;
            let not_installed = matches!(
                patch.state,
                PatchState::Missing | PatchState::Failed | PatchState::NotApproved
            );
            if let Some((_, entries)) = override_list {
                let info = &catalog[patch.patch as usize];
                if !not_installed && patch.state != PatchState::InstalledPendingReboot {
                    continue;
                }
                match crate::override_list::listed(entries, &info.id, &info.title) {
                    crate::override_list::Listed::NotListed => {
                        if not_installed && !approved(info) {
                            patch.state = PatchState::NotApproved;
                        }
                    }
                    crate::override_list::Listed::OtherVersion(wanted) => {
                        patch.state = PatchState::Failed;
                        patch.installed_time = None;
                        failed_names.push(format!(
                            "{} (the list wants {wanted}; not available)",
                            info.title
                        ));
                    }
                    crate::override_list::Listed::Install if !served(info) => {
                        patch.state = PatchState::Failed;
                        patch.installed_time = None;
                        failed_names.push(format!(
                            "{} (not in the repositories the baseline patches from)",
                            info.title
                        ));
                    }
                    crate::override_list::Listed::Install if to_fail.contains(id) => {
                        patch.state = PatchState::Failed;
                        patch.installed_time = None;
                        failed_names.push(info.title.clone());
                    }
                    crate::override_list::Listed::Install => {
                        patch.state = if outcome.pending_reboot.contains(id) {
                            PatchState::InstalledPendingReboot
                        } else if approved(info) {
                            PatchState::Installed
                        } else {
                            PatchState::InstalledOther
                        };
                        patch.installed_time = Some(end);
                    }
                }
                continue;
            }
            if !approved(&catalog[patch.patch as usize]) {
                // Not approved at this operation: neither installed nor reported.
                if not_installed {
                    patch.state = PatchState::NotApproved;
                }
                continue;
            }
            if to_fail.contains(id) {
                patch.state = PatchState::Failed;
                patch.installed_time = None;
                failed_names.push(catalog[patch.patch as usize].title.clone());
            } else if not_installed || patch.state == PatchState::InstalledPendingReboot {
                patch.state = if outcome.pending_reboot.contains(id) {
                    PatchState::InstalledPendingReboot
                } else {
                    PatchState::Installed
                };
                patch.installed_time = Some(end);
            }
        }
    }
    instance.report = Some(PatchReport {
        operation: operation.to_owned(),
        start,
        end,
        baseline_id,
        snapshot_id: None,
        reboot_option: reboot_option.to_owned(),
        last_no_reboot_install_operation_time: None,
        install_override_list: override_list.map(|(url, _)| url.clone()),
    });
    state.recount(instance_id);
    let stdout = outcome.stdout.clone().unwrap_or_else(|| {
        format!(
            "Patch {operation} started\nInstalling approved patches\n{}\n",
            if failed_names.is_empty() {
                "All patches installed".to_owned()
            } else {
                format!("Failed: {}", failed_names.join(", "))
            }
        )
    });
    let stderr = outcome.stderr.clone().unwrap_or_else(|| {
        if failed_names.is_empty() {
            String::new()
        } else {
            format!("ERROR: failed to install {}\n", failed_names.join(", "))
        }
    });
    (stdout, stderr)
}
