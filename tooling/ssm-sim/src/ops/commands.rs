//! Run Command history: commands, their per-instance invocations and output.

use serde_json::{Value, json};

use super::{page_of, with_token};
use crate::api::{ApiError, ApiResult, Request};
use crate::state::{Command, CommandInvocation, State, epoch};

/// GetCommandInvocation returns at most this much of each stream, as the service does.
const STDOUT_LIMIT: usize = 24_000;
const STDERR_LIMIT: usize = 8_000;

fn check_command_id(id: &str) -> Result<(), ApiError> {
    let uuid = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if uuid {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidCommandId",
            format!("Command id {id} is not valid"),
        ))
    }
}

/// ListCommands / ListCommandInvocations filters (key/value, lower-case members).
struct CommandFilters {
    filters: Vec<(String, String)>,
}

impl CommandFilters {
    fn parse(request: &Request<'_>) -> Result<Self, ApiError> {
        let mut filters = Vec::new();
        for filter in request.list("Filters") {
            let key = filter["key"].as_str().unwrap_or_default().to_owned();
            let value = filter["value"].as_str().unwrap_or_default().to_owned();
            if matches!(key.as_str(), "InvokedAfter" | "InvokedBefore")
                && chrono::DateTime::parse_from_rfc3339(&value).is_err()
            {
                return Err(ApiError::new(
                    "InvalidFilterKey",
                    format!("Filter {key} takes an ISO 8601 timestamp"),
                ));
            }
            filters.push((key, value));
        }
        Ok(Self { filters })
    }

    fn matches(&self, command: &Command, status: &str) -> bool {
        self.filters.iter().all(|(key, value)| match key.as_str() {
            "Status" => status.eq_ignore_ascii_case(value),
            "DocumentName" => command.document_name == *value,
            "InvokedAfter" => {
                chrono::DateTime::parse_from_rfc3339(value).is_ok_and(|t| command.requested >= t)
            }
            "InvokedBefore" => {
                chrono::DateTime::parse_from_rfc3339(value).is_ok_and(|t| command.requested <= t)
            }
            // ExecutionStage: Executing / Complete.
            _ => {
                let complete = crate::run::is_terminal_command_status(status);
                value.eq_ignore_ascii_case(if complete { "Complete" } else { "Executing" })
            }
        })
    }
}

/// Status `TimedOut` with details `Delivery Timed Out`: the agent never got the command.
fn delivery_timed_out(invocation: &CommandInvocation) -> bool {
    invocation.status_details.as_deref() == Some("Delivery Timed Out")
}

fn command_json(command: &Command) -> Value {
    let count = |pred: fn(&CommandInvocation) -> bool| {
        command.invocations.iter().filter(|i| pred(i)).count()
    };
    json!({
        "CommandId": command.id,
        "DocumentName": command.document_name,
        "DocumentVersion": document_version(&command.document_name),
        "ExpiresAfter": epoch(command.expires_after),
        "Parameters": command.parameters,
        "InstanceIds": command.instance_ids(),
        "Targets": [],
        "RequestedDateTime": epoch(command.requested),
        "Status": command.status,
        "StatusDetails": command.status_details.clone().unwrap_or_else(|| command.status.clone()),
        "MaxConcurrency": "50",
        "MaxErrors": "0",
        "TargetCount": command.invocations.len(),
        "CompletedCount": count(|i| crate::run::is_terminal_command_status(&i.status)),
        "ErrorCount": count(|i| !matches!(i.status.as_str(), "Success" | "Pending" | "InProgress" | "Delayed") && !delivery_timed_out(i)),
        "DeliveryTimedOutCount": count(delivery_timed_out),
        "TimeoutSeconds": 3600,
        // Returned even when unset, as the AWS CLI's list-commands example shows.
        "ServiceRole": "",
        "OutputS3BucketName": "",
        "OutputS3KeyPrefix": "",
        "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false},
        // An empty comment is an empty string, not absent (the list-commands example: ledger row 25).
        "Comment": command.comment.clone().unwrap_or_default(),
    })
}

pub fn list_commands(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "ListCommands";
    if let Some(id) = request.str("CommandId") {
        check_command_id(id)?;
    }
    let filters = CommandFilters::parse(request)?;
    let instance = request.str("InstanceId");
    let rows: Vec<(String, Value)> = state
        .commands
        .values()
        .filter(|command| request.str("CommandId").is_none_or(|id| command.id == id))
        .filter(|command| {
            instance.is_none_or(|instance| {
                command
                    .invocations
                    .iter()
                    .any(|i| i.instance_id == instance)
            })
        })
        .filter(|command| filters.matches(command, &command.status))
        .map(|command| {
            (
                format!(
                    "{:020}-{}",
                    i64::MAX - command.requested.timestamp_millis(),
                    command.id
                ),
                command_json(command),
            )
        })
        .collect();
    let (page, next) = page_of(OP, request, rows, 50)?;
    Ok(with_token(json!({ "Commands": page }), next))
}

/// The document version that ran, as Run Command reports it: the number the default version resolved
/// to, never the `$DEFAULT` a request may name. The AWS CLI's list-commands example shows `"1"` for
/// AWS-RunPatchBaseline and AWS-RunShellScript and an empty string for a document it does not
/// resolve (AWS-UpdateSSMAgent); the current default versions are not published (ledger row 25).
fn document_version(document: &str) -> &'static str {
    if document.starts_with("AWS-RunPatchBaseline") || document == "AWS-RunShellScript" {
        "1"
    } else {
        ""
    }
}

/// AWS-RunPatchBaseline's steps, one per platform (the document's `mainSteps`, each with a
/// `platformType` precondition): the step a platform runs, and the platform each step is for.
const PATCH_STEPS: [(&str, &str); 3] = [
    ("Windows", "PatchWindows"),
    ("Linux", "PatchLinux"),
    ("MacOS", "PatchMacOS"),
];

/// The steps (plugins) of a document the simulator runs.
fn steps(document: &str) -> Vec<&'static str> {
    if document.starts_with("AWS-RunPatchBaseline") {
        PATCH_STEPS.iter().map(|(_, step)| *step).collect()
    } else if document == "AWS-RunPowerShellScript" {
        vec!["aws:runPowerShellScript"]
    } else {
        vec!["aws:runShellScript"]
    }
}

/// The step that ran on the instance: a patch document's step for the instance's platform (Linux
/// when the instance has left Systems Manager), otherwise the document's only step.
fn step_run(state: &State, document: &str, instance_id: &str) -> &'static str {
    if !document.starts_with("AWS-RunPatchBaseline") {
        return steps(document)[0];
    }
    let platform = state
        .instances
        .get(instance_id)
        .map_or("Linux", |instance| instance.platform_type.as_str());
    PATCH_STEPS
        .iter()
        .find(|(os, _)| *os == platform)
        .map_or("PatchLinux", |(_, step)| step)
}

/// What a step whose precondition did not hold reports (it succeeds without running).
fn skipped_output(step: &str) -> String {
    let platform = PATCH_STEPS
        .iter()
        .find(|(_, name)| *name == step)
        .map_or("", |(os, _)| os);
    format!(
        "Step execution skipped due to unsatisfied preconditions: '\"StringEquals\": [platformType, {platform}]'. Step name: {step}"
    )
}

fn invocation_json(
    state: &State,
    command: &Command,
    invocation: &CommandInvocation,
    details: bool,
) -> Value {
    let region = state.region.as_str();
    let mut body = json!({
        "CommandId": command.id,
        "InstanceId": invocation.instance_id,
        "DocumentName": command.document_name,
        "DocumentVersion": document_version(&command.document_name),
        "RequestedDateTime": epoch(command.requested),
        "Status": invocation.status,
        "StatusDetails": invocation.status_details.clone().unwrap_or_else(|| invocation.status.clone()),
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        "CommandPlugins": [],
        // Returned even when unset, as the AWS CLI's list-command-invocations example shows.
        "ServiceRole": "",
        "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false},
    });
    if let Some(name) = &invocation.instance_name {
        body["InstanceName"] = json!(name);
    }
    body["Comment"] = json!(command.comment.clone().unwrap_or_default());
    if details {
        let ran = step_run(state, &command.document_name, &invocation.instance_id);
        let mut plugin = json!({
            "Name": ran,
            "Status": invocation.status,
            "StatusDetails": invocation.status_details.clone().unwrap_or_else(|| invocation.status.clone()),
            "ResponseCode": invocation.response_code,
            "ResponseStartDateTime": epoch(invocation.start),
            "Output": tail(&invocation.stdout, 2500),
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "OutputS3Region": region,
            "OutputS3BucketName": "",
            "OutputS3KeyPrefix": "",
        });
        if let Some(end) = invocation.end {
            plugin["ResponseFinishDateTime"] = epoch(end);
        }
        // Every step of the document is listed; those for other platforms were skipped.
        let plugins: Vec<Value> = steps(&command.document_name)
            .into_iter()
            .map(|step| {
                if step == ran {
                    return plugin.clone();
                }
                let mut skipped = plugin.clone();
                skipped["Name"] = json!(step);
                skipped["Status"] = json!("Success");
                skipped["StatusDetails"] = json!("Success");
                skipped["ResponseCode"] = json!(0);
                skipped["Output"] = json!(skipped_output(step));
                skipped
            })
            .collect();
        body["CommandPlugins"] = json!(plugins);
    }
    body
}

/// The first `limit` characters, as the service truncates output.
fn tail(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

pub fn list_command_invocations(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "ListCommandInvocations";
    if let Some(id) = request.str("CommandId") {
        check_command_id(id)?;
    }
    let filters = CommandFilters::parse(request)?;
    let details = request.bool("Details").unwrap_or(false);
    let instance = request.str("InstanceId");
    let mut rows = Vec::new();
    for command in state
        .commands
        .values()
        .filter(|c| request.str("CommandId").is_none_or(|id| c.id == id))
    {
        for invocation in &command.invocations {
            if instance.is_some_and(|instance| invocation.instance_id != instance) {
                continue;
            }
            if !filters.matches(command, &invocation.status) {
                continue;
            }
            let key = format!("{}\u{0}{}", command.id, invocation.instance_id);
            rows.push((key, invocation_json(state, command, invocation, details)));
        }
    }
    let (page, next) = page_of(OP, request, rows, 50)?;
    Ok(with_token(json!({ "CommandInvocations": page }), next))
}

pub fn get_command_invocation(state: &State, request: &Request<'_>) -> ApiResult {
    let command_id = request.required_str("CommandId")?;
    check_command_id(command_id)?;
    let instance_id = request.required_str("InstanceId")?;
    let missing = || ApiError::new("InvocationDoesNotExist", "");
    let command = state.commands.get(command_id).ok_or_else(missing)?;
    let invocation = command
        .invocations
        .iter()
        .find(|i| i.instance_id == instance_id)
        .ok_or_else(missing)?;
    // "If the document contains more than one step, you must specify the name of the step" (API
    // reference, PluginName): AWS-RunPatchBaseline has three.
    let document_steps = steps(&command.document_name);
    let ran = step_run(state, &command.document_name, instance_id);
    let step = match request.str("PluginName") {
        None if document_steps.len() > 1 => {
            return Err(ApiError::new(
                "InvalidPluginName",
                format!(
                    "{} has more than one step: name one of {} in PluginName",
                    command.document_name,
                    document_steps.join(", ")
                ),
            ));
        }
        None => ran,
        Some(plugin) => document_steps
            .iter()
            .copied()
            .find(|step| *step == plugin)
            .ok_or_else(|| {
                ApiError::new("InvalidPluginName", format!("Plugin {plugin} is not valid"))
            })?,
    };
    let elapsed = invocation
        .end
        .map(|end| {
            let total = (end - invocation.start).num_milliseconds().max(0);
            format!("PT{}.{:03}S", total / 1000, total % 1000)
        })
        .unwrap_or_default();
    let mut body = json!({
        "CommandId": command.id,
        "InstanceId": invocation.instance_id,
        "DocumentName": command.document_name,
        "DocumentVersion": document_version(&command.document_name),
        "PluginName": step,
        "ResponseCode": invocation.response_code,
        "ExecutionStartDateTime": invocation.start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "ExecutionElapsedTime": elapsed,
        "ExecutionEndDateTime": invocation.end.map(|end| end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).unwrap_or_default(),
        "Status": invocation.status,
        "StatusDetails": invocation.status_details.clone().unwrap_or_else(|| invocation.status.clone()),
        "StandardOutputContent": tail(&invocation.stdout, STDOUT_LIMIT),
        "StandardOutputUrl": "",
        "StandardErrorContent": tail(&invocation.stderr, STDERR_LIMIT),
        "StandardErrorUrl": "",
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false},
    });
    body["Comment"] = json!(command.comment.clone().unwrap_or_default());
    if step != ran {
        // A step for another platform: skipped by its precondition, successfully, with no output of
        // the run (the live answer's exact words are not published: ledger row 33).
        body["Status"] = json!("Success");
        body["StatusDetails"] = json!("Success");
        body["ResponseCode"] = json!(0);
        body["StandardOutputContent"] = json!(skipped_output(step));
        body["StandardErrorContent"] = json!("");
    }
    Ok(body)
}
