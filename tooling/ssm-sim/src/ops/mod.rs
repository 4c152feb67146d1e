//! The SSM operations, one module per area. Each handler takes the state and a validated request and
//! returns the response body or an AWS-shaped error.

mod baselines;
mod commands;
mod compliance;
mod instances;
mod parameters;
mod patches;
mod secret_reference;
mod windows;

use std::sync::RwLock;

use crate::api::{ApiError, Body, Request};
use crate::state::State;

/// Runs `operation`; `None` when the simulator does not serve it.
pub fn dispatch(
    operation: &str,
    state: &RwLock<State>,
    request: &Request<'_>,
) -> Option<Result<Body, ApiError>> {
    let read = || {
        state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let write = || {
        state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    // The two operations that page through whole fleets serialize typed rows straight to text.
    match operation {
        "DescribeInstancePatchStates" => {
            return Some(patches::describe_instance_patch_states(&read(), request).map(Body::Text));
        }
        "DescribeInstancePatchStatesForPatchGroup" => {
            return Some(patches::describe_for_patch_group(&read(), request).map(Body::Text));
        }
        _ => {}
    }
    let json = match operation {
        "DescribeInstancePatches" => patches::describe_instance_patches(&read(), request),
        "DescribePatchGroupState" => patches::describe_patch_group_state(&read(), request),
        "DescribePatchGroups" => baselines::describe_patch_groups(&read(), request),
        "DescribePatchBaselines" => baselines::describe_patch_baselines(&read(), request),
        "GetPatchBaseline" => baselines::get_patch_baseline(&read(), request),
        "DescribeEffectivePatchesForPatchBaseline" => {
            baselines::describe_effective_patches(&read(), request)
        }
        "GetPatchBaselineForPatchGroup" => baselines::get_for_patch_group(&read(), request),
        "UpdatePatchBaseline" => baselines::update_patch_baseline(&mut write(), request),
        "DescribeInstanceInformation" => instances::describe_instance_information(&read(), request),
        "ListResourceComplianceSummaries" => {
            compliance::list_resource_compliance_summaries(&read(), request)
        }
        "GetMaintenanceWindow" => windows::get_window(&read(), request),
        "UpdateMaintenanceWindow" => windows::update_window(&mut write(), request),
        "DescribeMaintenanceWindows" => windows::describe_windows(&read(), request),
        "DescribeMaintenanceWindowTargets" => windows::describe_window_targets(&read(), request),
        "DescribeMaintenanceWindowExecutions" => windows::describe_executions(&read(), request),
        "GetMaintenanceWindowExecution" => windows::get_execution(&read(), request),
        "CancelMaintenanceWindowExecution" => windows::cancel_execution(&mut write(), request),
        "DescribeMaintenanceWindowTasks" => windows::describe_window_tasks(&read(), request),
        "GetMaintenanceWindowTask" => windows::get_window_task(&read(), request),
        "UpdateMaintenanceWindowTask" => windows::update_window_task(&mut write(), request),
        "DescribeMaintenanceWindowExecutionTasks" => {
            windows::describe_execution_tasks(&read(), request)
        }
        "DescribeMaintenanceWindowExecutionTaskInvocations" => {
            windows::describe_task_invocations(&read(), request)
        }
        "ListCommands" => commands::list_commands(&read(), request),
        "ListCommandInvocations" => commands::list_command_invocations(&read(), request),
        "GetCommandInvocation" => commands::get_command_invocation(&read(), request),
        "GetParameter" => parameters::get_parameter(&read(), request),
        "PutParameter" => parameters::put_parameter(&mut write(), request),
        "LabelParameterVersion" => parameters::label_parameter_version(&mut write(), request),
        _ => return None,
    };
    Some(json.map(Body::Json))
}

/// Decodes the request's NextToken, if any, into the key to continue after.
fn after_key(operation: &str, request: &Request<'_>) -> Result<Option<String>, ApiError> {
    request
        .str("NextToken")
        .map(|token| crate::pagination::decode(operation, token))
        .transpose()
}

/// One page of `rows`: sorted by their keys, starting strictly after the request's NextToken, at most
/// `MaxResults` (or `default_size`) long, with the token for the next page.
fn page_of(
    operation: &str,
    request: &Request<'_>,
    mut rows: Vec<(String, serde_json::Value)>,
    default_size: usize,
) -> Result<(Vec<serde_json::Value>, Option<String>), ApiError> {
    let after = after_key(operation, request)?;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let items = rows
        .into_iter()
        .filter(|(key, _)| after.as_deref().is_none_or(|after| key.as_str() > after));
    Ok(crate::pagination::take_page(
        operation,
        items,
        request.page_size(default_size),
    ))
}

/// `Filters` of the Key/Values shape (PatchOrchestratorFilter, MaintenanceWindowFilter) as
/// (key, values), refusing keys the operation does not know.
fn key_values_filters<'a>(
    request: &Request<'a>,
    allowed: &[&str],
) -> Result<Vec<(&'a str, Vec<&'a str>)>, ApiError> {
    request
        .list("Filters")
        .iter()
        .map(|filter| {
            let key = filter["Key"].as_str().unwrap_or_default();
            if !allowed.contains(&key) {
                return Err(ApiError::validation(format!(
                    "Invalid filter key {key:?}; valid keys are {}",
                    allowed.join(", ")
                )));
            }
            let values = filter["Values"]
                .as_array()
                .map(|values| crate::api::strings(values));
            Ok((key, values.unwrap_or_default()))
        })
        .collect()
}

/// Inserts `NextToken` into a response when there is another page.
fn with_token(mut body: serde_json::Value, token: Option<String>) -> serde_json::Value {
    if let Some(token) = token {
        body["NextToken"] = serde_json::Value::String(token);
    }
    body
}
