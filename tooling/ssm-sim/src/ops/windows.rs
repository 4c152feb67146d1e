//! Maintenance windows and their execution history.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{after_key, key_values_filters, page_of, with_token};
use std::collections::BTreeMap;

use crate::api::{ApiError, ApiResult, Request, strings};
use crate::pagination::take_page;
use crate::state::{State, TaskKind, Window, WindowExecution, WindowTask, epoch};

fn find<'a>(state: &'a State, id: &str) -> Result<&'a Window, ApiError> {
    state
        .windows
        .get(id)
        .ok_or_else(|| ApiError::does_not_exist(format!("Maintenance window {id} does not exist")))
}

fn common(window: &Window) -> Value {
    let mut body = json!({
        "WindowId": window.id,
        "Name": window.name,
        "Schedule": window.schedule,
        "Duration": window.duration,
        "Cutoff": window.cutoff,
        "AllowUnassociatedTargets": window.allow_unassociated_targets,
        "Enabled": window.enabled,
    });
    for (member, value) in [
        ("Description", window.description.clone()),
        ("ScheduleTimezone", window.schedule_timezone.clone()),
        ("StartDate", window.start_date.clone()),
        ("EndDate", window.end_date.clone()),
    ] {
        if let Some(value) = value {
            body[member] = json!(value);
        }
    }
    if let Some(offset) = window.schedule_offset {
        body["ScheduleOffset"] = json!(offset);
    }
    body
}

pub fn get_window(state: &State, request: &Request<'_>) -> ApiResult {
    let window = find(state, request.required_str("WindowId")?)?;
    let mut body = common(window);
    body["CreatedDate"] = epoch(window.created);
    body["ModifiedDate"] = epoch(window.modified);
    if let Some(next) = next_execution(window) {
        body["NextExecutionTime"] = json!(next);
    }
    Ok(body)
}

/// When an enabled window runs next, as ISO 8601 text (the service's form for this member).
fn next_execution(window: &Window) -> Option<String> {
    if !window.enabled || window.schedule_timezone.is_some() {
        return None;
    }
    crate::schedule::next_execution(&window.schedule, chrono::Utc::now())
        .map(|next| next.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn update_window(state: &mut State, request: &Request<'_>) -> ApiResult {
    let id = find(state, request.required_str("WindowId")?)?.id.clone();
    let replace = request.bool("Replace").unwrap_or(false);
    let mut window = state.windows[&id].clone();
    if replace {
        // Replace=true requires every required field of a window to be given again.
        for required in [
            "Name",
            "Schedule",
            "Duration",
            "Cutoff",
            "AllowUnassociatedTargets",
        ] {
            if !request.has(required) {
                return Err(ApiError::validation(format!(
                    "{required} is required when Replace is true"
                )));
            }
        }
    }
    if let Some(name) = request.str("Name") {
        window.name = name.to_owned();
    }
    if let Some(schedule) = request.str("Schedule") {
        window.schedule = schedule.to_owned();
    }
    if let Some(duration) = request.int("Duration") {
        window.duration = duration;
    }
    if let Some(cutoff) = request.int("Cutoff") {
        window.cutoff = cutoff;
    }
    if window.cutoff >= window.duration {
        return Err(ApiError::validation("Cutoff must be less than Duration"));
    }
    if let Some(flag) = request.bool("AllowUnassociatedTargets") {
        window.allow_unassociated_targets = flag;
    }
    if let Some(flag) = request.bool("Enabled") {
        window.enabled = flag;
    }
    let optional = |name: &str, current: &Option<String>| -> Option<String> {
        match request.str(name) {
            Some(value) => Some(value.to_owned()),
            None if replace => None,
            None => current.clone(),
        }
    };
    window.description = optional("Description", &window.description);
    window.schedule_timezone = optional("ScheduleTimezone", &window.schedule_timezone);
    window.start_date = optional("StartDate", &window.start_date);
    window.end_date = optional("EndDate", &window.end_date);
    if let Some(offset) = request.int("ScheduleOffset") {
        window.schedule_offset = Some(offset);
    } else if replace {
        window.schedule_offset = None;
    }
    window.modified = Utc::now();
    let body = common(&window);
    state.windows.insert(id, window);
    Ok(body)
}

pub fn describe_windows(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeMaintenanceWindows";
    let filters = key_values_filters(request, &["Name", "Enabled"])?;
    let after = after_key(OP, request)?;
    let items = state
        .windows
        .values()
        .filter(|window| {
            after
                .as_deref()
                .is_none_or(|after| window.id.as_str() > after)
        })
        .filter(|window| {
            filters.iter().all(|(key, values)| match *key {
                "Name" => values.contains(&window.name.as_str()),
                _ => values
                    .iter()
                    .any(|value| value.eq_ignore_ascii_case(&window.enabled.to_string())),
            })
        })
        .map(|window| {
            let mut body = common(window);
            if let Some(object) = body.as_object_mut() {
                object.remove("AllowUnassociatedTargets");
            }
            if let Some(next) = next_execution(window) {
                body["NextExecutionTime"] = json!(next);
            }
            (window.id.clone(), body)
        });
    let (page, next) = take_page(OP, items, request.page_size(10));
    Ok(with_token(json!({ "WindowIdentities": page }), next))
}

/// DescribeMaintenanceWindowTargets: the window's targets. The simulator's targets are patch groups,
/// so each is shown as the documented patch-group tag target (`Key=tag:Patch Group`).
pub fn describe_window_targets(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeMaintenanceWindowTargets";
    let window = find(state, request.required_str("WindowId")?)?;
    let filters = key_values_filters(request, &["WindowTargetId", "OwnerInformation"])?;
    let after = after_key(OP, request)?;
    let items = window
        .targets
        .iter()
        .filter(|target| {
            after
                .as_deref()
                .is_none_or(|after| target.id.as_str() > after)
        })
        .filter(|target| {
            filters.iter().all(|(key, values)| match *key {
                "WindowTargetId" => values.contains(&target.id.as_str()),
                _ => target
                    .owner_information
                    .as_deref()
                    .is_some_and(|owner| values.contains(&owner)),
            })
        })
        .map(|target| {
            let mut body = json!({
                "WindowId": window.id,
                "WindowTargetId": target.id,
                "ResourceType": "INSTANCE",
                "Targets": [{"Key": "tag:Patch Group", "Values": target.patch_groups}],
            });
            if let Some(owner) = &target.owner_information {
                body["OwnerInformation"] = json!(owner);
            }
            (target.id.clone(), body)
        });
    let (page, next) = take_page(OP, items, request.page_size(10));
    Ok(with_token(json!({ "Targets": page }), next))
}

fn parse_time(key: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::validation(format!(
                "Filter {key} takes an ISO 8601 timestamp, got {value:?}"
            ))
        })
}

/// Newest first, as the console and CLI show them; the key sorts that way.
fn execution_key(execution: &WindowExecution) -> String {
    format!(
        "{:020}-{}",
        i64::MAX - execution.start.timestamp_millis(),
        execution.id
    )
}

pub fn describe_executions(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeMaintenanceWindowExecutions";
    let window_id = request.required_str("WindowId")?;
    let filters = key_values_filters(request, &["ExecutedBefore", "ExecutedAfter"])?;
    let mut bounds = Vec::new();
    for (key, values) in filters {
        let value = values.first().copied().unwrap_or_default();
        bounds.push((key, parse_time(key, value)?));
    }
    let rows: Vec<(String, Value)> = state
        .executions
        .values()
        .filter(|execution| execution.window_id == window_id)
        .filter(|execution| {
            bounds.iter().all(|(key, time)| match *key {
                "ExecutedBefore" => execution.start < *time,
                _ => execution.start > *time,
            })
        })
        .map(|execution| {
            let mut body = json!({
                "WindowId": execution.window_id,
                "WindowExecutionId": execution.id,
                "Status": execution.status,
                "StartTime": epoch(execution.start),
            });
            if let Some(end) = execution.end.filter(|_| finished(&execution.status)) {
                body["EndTime"] = epoch(end);
            }
            if let Some(details) = &execution.status_details {
                body["StatusDetails"] = json!(details);
            }
            (execution_key(execution), body)
        })
        .collect();
    let (page, next) = page_of(OP, request, rows, 10)?;
    Ok(with_token(json!({ "WindowExecutions": page }), next))
}

/// `EndTime` is "the time the execution finished": an execution, task or invocation that has not
/// finished has none, whatever the stored record says (ledger row 24).
fn finished(status: &str) -> bool {
    !matches!(status, "PENDING" | "IN_PROGRESS" | "CANCELLING")
}

/// An execution by id: status, times and its task ids (the output names no window).
pub fn get_execution(state: &State, request: &Request<'_>) -> ApiResult {
    let execution = find_execution(state, request.required_str("WindowExecutionId")?)?;
    let mut body = json!({
        "WindowExecutionId": execution.id,
        "TaskIds": execution.tasks.iter().map(|task| task.id.as_str()).collect::<Vec<_>>(),
        "Status": execution.status,
        "StartTime": epoch(execution.start),
    });
    if let Some(end) = execution.end.filter(|_| finished(&execution.status)) {
        body["EndTime"] = epoch(end);
    }
    if let Some(details) = &execution.status_details {
        body["StatusDetails"] = json!(details);
    }
    Ok(body)
}

/// Stops an unfinished execution: its tasks that have not started are cancelled, tasks already
/// running are left to finish (they are synchronous here, so already finished), and the execution
/// ends `CANCELLED`. A finished execution is left as it is (ledger row 20).
pub fn cancel_execution(state: &mut State, request: &Request<'_>) -> ApiResult {
    let id = request.required_str("WindowExecutionId")?;
    let execution = state.executions.get_mut(id).ok_or_else(|| {
        ApiError::does_not_exist(format!("Maintenance window execution {id} does not exist"))
    })?;
    if matches!(
        execution.status.as_str(),
        "PENDING" | "IN_PROGRESS" | "CANCELLING"
    ) {
        let now = chrono::Utc::now();
        for task in &mut execution.tasks {
            if matches!(task.status.as_str(), "PENDING") {
                task.status = "CANCELLED".to_owned();
                task.end = Some(now);
            }
        }
        execution.status = "CANCELLED".to_owned();
        execution.status_details =
            Some("Cancelled by a CancelMaintenanceWindowExecution request".to_owned());
        execution.end = Some(now);
    }
    Ok(json!({ "WindowExecutionId": id }))
}

fn find_execution<'a>(state: &'a State, id: &str) -> Result<&'a WindowExecution, ApiError> {
    state.executions.get(id).ok_or_else(|| {
        ApiError::does_not_exist(format!("Maintenance window execution {id} does not exist"))
    })
}

pub fn describe_execution_tasks(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeMaintenanceWindowExecutionTasks";
    let execution = find_execution(state, request.required_str("WindowExecutionId")?)?;
    let filters = key_values_filters(request, &["Status"])?;
    let rows = execution
        .tasks
        .iter()
        .filter(|task| {
            filters
                .iter()
                .all(|(_, values)| values.contains(&task.status.as_str()))
        })
        .map(|task| {
            let mut body = json!({
                "WindowExecutionId": execution.id,
                "TaskExecutionId": task.id,
                "Status": task.status,
                "StartTime": epoch(task.start),
                "TaskArn": task.task_arn,
                "TaskType": "RUN_COMMAND",
            });
            if let Some(end) = task.end.filter(|_| finished(&task.status)) {
                body["EndTime"] = epoch(end);
            }
            if let Some(details) = &task.status_details {
                body["StatusDetails"] = json!(details);
            }
            if let Some(alarms) = &task.alarm_configuration {
                body["AlarmConfiguration"] = alarms.clone();
            }
            if !task.triggered_alarms.is_empty() {
                body["TriggeredAlarms"] = json!(task.triggered_alarms);
            }
            (task.id.clone(), body)
        })
        .collect();
    let (page, next) = page_of(OP, request, rows, 10)?;
    Ok(with_token(
        json!({ "WindowExecutionTaskIdentities": page }),
        next,
    ))
}

pub fn describe_task_invocations(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeMaintenanceWindowExecutionTaskInvocations";
    let execution = find_execution(state, request.required_str("WindowExecutionId")?)?;
    let task_id = request.required_str("TaskId")?;
    let task = execution
        .tasks
        .iter()
        .find(|task| task.id == task_id)
        .ok_or_else(|| {
            ApiError::does_not_exist(format!("Task execution {task_id} does not exist"))
        })?;
    let filters = key_values_filters(request, &["Status"])?;
    let rows: Vec<(String, Value)> = task
        .invocations
        .iter()
        .filter(|invocation| {
            filters
                .iter()
                .all(|(_, values)| values.contains(&invocation.status.as_str()))
        })
        .map(|invocation| {
            let mut body = json!({
                "WindowExecutionId": execution.id,
                "TaskExecutionId": task.id,
                "InvocationId": invocation.id,
                "ExecutionId": invocation.execution_id,
                "TaskType": "RUN_COMMAND",
                "Status": invocation.status,
                "StartTime": epoch(invocation.start),
            });
            if let Some(end) = invocation.end.filter(|_| finished(&invocation.status)) {
                body["EndTime"] = epoch(end);
            }
            for (member, value) in [
                ("StatusDetails", &invocation.status_details),
                ("OwnerInformation", &invocation.owner_information),
                ("WindowTargetId", &invocation.window_target_id),
                ("Parameters", &invocation.parameters),
            ] {
                if let Some(value) = value {
                    body[member] = json!(value);
                }
            }
            (invocation.id.clone(), body)
        })
        .collect();
    let (page, next) = page_of(OP, request, rows, 10)?;
    Ok(with_token(
        json!({ "WindowExecutionTaskInvocationIdentities": page }),
        next,
    ))
}

/// The window's targets as a task names them (`WindowTargetIds`).
fn task_targets(window: &Window) -> Value {
    json!([{
        "Key": "WindowTargetIds",
        "Values": window.targets.iter().map(|target| target.id.as_str()).collect::<Vec<_>>(),
    }])
}

/// A task as DescribeMaintenanceWindowTasks lists it (`MaintenanceWindowTask`).
fn task_summary(state: &State, window: &Window, task: &WindowTask) -> Value {
    let mut body = json!({
        // A task registered without a role runs as Systems Manager's service-linked role, which
        // the service then reports (user guide: "Using service-linked roles for Systems Manager").
        "ServiceRoleArn": task.service_role_arn.clone().unwrap_or_else(|| format!(
            "arn:aws:iam::{}:role/aws-service-role/ssm.amazonaws.com/AWSServiceRoleForAmazonSSM",
            state.account
        )),
        "TaskParameters": {},
        "WindowId": window.id,
        "WindowTaskId": task.id,
        "TaskArn": task.document,
        "Type": "RUN_COMMAND",
        "Targets": task_targets(window),
        "Priority": 1,
        "MaxConcurrency": "50",
        "MaxErrors": "0",
        "CutoffBehavior": "CONTINUE_TASK",
    });
    if let Some(name) = &task.name {
        body["Name"] = json!(name);
    }
    if let Some(description) = &task.description {
        body["Description"] = json!(description);
    }
    if let Some(alarms) = &task.alarm_configuration {
        body["AlarmConfiguration"] = alarms.clone();
    }
    body
}

/// A task as GetMaintenanceWindowTask and UpdateMaintenanceWindowTask return it: the summary's
/// members with `TaskType` for `Type` and the Run Command parameters the task sends.
fn task_detail(state: &State, window: &Window, task: &WindowTask) -> Value {
    let mut body = task_summary(state, window, task);
    if let Some(object) = body.as_object_mut() {
        object.remove("Type");
        object.insert("TaskType".to_owned(), json!("RUN_COMMAND"));
    }
    let mut parameters = serde_json::Map::new();
    if task.kind == TaskKind::Patch {
        parameters.insert(
            "Operation".to_owned(),
            json!([task.operation.as_deref().unwrap_or("Install")]),
        );
        parameters.insert("RebootOption".to_owned(), json!([task.reboot_option]));
    }
    for (name, values) in &task.parameters {
        parameters.insert(name.clone(), json!(values));
    }
    body["TaskInvocationParameters"] = json!({"RunCommand": {"Parameters": parameters}});
    body
}

fn find_task<'a>(window: &'a Window, id: &str) -> Result<&'a WindowTask, ApiError> {
    window
        .tasks
        .iter()
        .find(|task| task.id == id)
        .ok_or_else(|| {
            ApiError::does_not_exist(format!(
                "Maintenance window task {id} does not exist in window {}",
                window.id
            ))
        })
}

/// DescribeMaintenanceWindowTasks: the window's registered tasks, filtered by `WindowTaskId`,
/// `TaskArn`, `Priority` or `TaskType` (API reference).
pub fn describe_window_tasks(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeMaintenanceWindowTasks";
    let window = find(state, request.required_str("WindowId")?)?;
    let filters = key_values_filters(
        request,
        &["WindowTaskId", "TaskArn", "Priority", "TaskType"],
    )?;
    let rows = window
        .tasks
        .iter()
        .filter(|task| {
            filters.iter().all(|(key, values)| match *key {
                "WindowTaskId" => values.contains(&task.id.as_str()),
                "TaskArn" => values.contains(&task.document.as_str()),
                "Priority" => values.contains(&"1"),
                _ => values.contains(&"RUN_COMMAND"),
            })
        })
        .map(|task| (task.id.clone(), task_summary(state, window, task)))
        .collect();
    let (page, next) = page_of(OP, request, rows, 10)?;
    Ok(with_token(json!({ "Tasks": page }), next))
}

pub fn get_window_task(state: &State, request: &Request<'_>) -> ApiResult {
    let window = find(state, request.required_str("WindowId")?)?;
    let task = find_task(window, request.required_str("WindowTaskId")?)?;
    Ok(task_detail(state, window, task))
}

/// UpdateMaintenanceWindowTask: the simulator keeps `AlarmConfiguration`, `Name`, `Description`,
/// `ServiceRoleArn` and the Run Command parameters; with `Replace` true, those not given are removed (API
/// reference: "fields that aren't specified are set to null"). Given `TaskInvocationParameters`,
/// the task's parameters become exactly those given: a parameter left out is gone, and a patch
/// task without `Operation` falls back to the document's default, `Scan` (whether the service merges
/// the parameters is not documented: the worse case, ledger row 27). Other members are checked
/// against the model and not kept (ledger row 26).
pub fn update_window_task(state: &mut State, request: &Request<'_>) -> ApiResult {
    let window_id = find(state, request.required_str("WindowId")?)?.id.clone();
    let task_id = request.required_str("WindowTaskId")?;
    let replace = request.bool("Replace").unwrap_or(false);
    let window = state.windows.get_mut(&window_id).expect("found above");
    find_task(window, task_id)?;
    let task = window
        .tasks
        .iter_mut()
        .find(|task| task.id == task_id)
        .expect("found above");
    match request.get("AlarmConfiguration") {
        Some(alarms) => task.alarm_configuration = Some(alarms.clone()),
        None if replace => task.alarm_configuration = None,
        None => {}
    }
    for (member, kept) in [
        ("Name", &mut task.name),
        ("Description", &mut task.description),
        ("ServiceRoleArn", &mut task.service_role_arn),
    ] {
        match request.str(member) {
            Some(value) => *kept = Some(value.to_owned()),
            None if replace => *kept = None,
            None => {}
        }
    }
    if let Some(run_command) = request
        .get("TaskInvocationParameters")
        .map(|p| &p["RunCommand"])
        .filter(|run_command| run_command.is_object())
    {
        let mut given: BTreeMap<String, Vec<String>> = run_command["Parameters"]
            .as_object()
            .map(|parameters| {
                parameters
                    .iter()
                    .map(|(name, values)| {
                        let values = values
                            .as_array()
                            .map(|values| strings(values).into_iter().map(str::to_owned).collect())
                            .unwrap_or_default();
                        (name.clone(), values)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if task.kind == TaskKind::Patch {
            let first = |values: Option<Vec<String>>| values.and_then(|v| v.into_iter().next());
            task.operation =
                Some(first(given.remove("Operation")).unwrap_or_else(|| "Scan".to_owned()));
            task.reboot_option =
                first(given.remove("RebootOption")).unwrap_or_else(|| "RebootIfNeeded".to_owned());
        }
        task.parameters = given;
    }
    window.modified = Utc::now();
    let window = &state.windows[&window_id];
    let task = find_task(window, task_id)?;
    // The update's answer is the task without its type (UpdateMaintenanceWindowTaskResult).
    let mut body = task_detail(state, window, task);
    if let Some(object) = body.as_object_mut() {
        object.remove("TaskType");
    }
    Ok(body)
}
