//! The SSM operations, one module per area. Each handler takes the state and a validated request and
//! returns the response body or an AWS-shaped error.

mod baselines;
mod commands;
mod instances;
mod parameters;
mod patches;
mod windows;

use std::sync::RwLock;

use crate::api::{ApiError, ApiResult, Request};
use crate::state::State;

/// Runs `operation`; `None` when the simulator does not serve it.
pub fn dispatch(
    operation: &str,
    state: &RwLock<State>,
    request: &Request<'_>,
) -> Option<ApiResult> {
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
    Some(match operation {
        "DescribeInstancePatchStates" => patches::describe_instance_patch_states(&read(), request),
        "DescribeInstancePatchStatesForPatchGroup" => {
            patches::describe_for_patch_group(&read(), request)
        }
        "DescribeInstancePatches" => patches::describe_instance_patches(&read(), request),
        "DescribePatchGroupState" => patches::describe_patch_group_state(&read(), request),
        "DescribePatchGroups" => baselines::describe_patch_groups(&read(), request),
        "DescribePatchBaselines" => baselines::describe_patch_baselines(&read(), request),
        "GetPatchBaseline" => baselines::get_patch_baseline(&read(), request),
        "GetPatchBaselineForPatchGroup" => baselines::get_for_patch_group(&read(), request),
        "UpdatePatchBaseline" => baselines::update_patch_baseline(&mut write(), request),
        "DescribeInstanceInformation" => instances::describe_instance_information(&read(), request),
        "GetMaintenanceWindow" => windows::get_window(&read(), request),
        "UpdateMaintenanceWindow" => windows::update_window(&mut write(), request),
        "DescribeMaintenanceWindows" => windows::describe_windows(&read(), request),
        "DescribeMaintenanceWindowExecutions" => windows::describe_executions(&read(), request),
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
        _ => return None,
    })
}

/// Decodes the request's NextToken, if any, into the key to continue after.
fn after_key(operation: &str, request: &Request<'_>) -> Result<Option<String>, ApiError> {
    request
        .str("NextToken")
        .map(|token| crate::pagination::decode(operation, token))
        .transpose()
}

/// Inserts `NextToken` into a response when there is another page.
fn with_token(mut body: serde_json::Value, token: Option<String>) -> serde_json::Value {
    if let Some(token) = token {
        body["NextToken"] = serde_json::Value::String(token);
    }
    body
}
