//! Wire-protocol fidelity: every served operation answers in its documented output shape, errors carry
//! AWS's codes and shapes, validation follows the service model, unknown operations are refused.

mod common;

use common::*;
use serde_json::json;
use ssm_sim::model::ServiceModel;

const STAGING_WINDOW: &str = "mw-0c50858d01ff4a3b1";
const STAGING_INSTANCE: &str = "i-00a00000000000001";

#[test]
fn every_operation_answers_in_its_documented_output_shape() {
    let sim = start(patch_week_state());
    let (status, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": STAGING_WINDOW})),
    );
    assert_eq!(status, 200, "{run}");
    let execution = run["window_execution_id"].as_str().unwrap().to_owned();
    let task = run["task_execution_ids"][0].as_str().unwrap().to_owned();
    let command = run["command_ids"][STAGING_INSTANCE]
        .as_str()
        .unwrap()
        .to_owned();
    let calls = [
        (
            "DescribeInstancePatchStates",
            json!({"InstanceIds": [STAGING_INSTANCE]}),
        ),
        (
            "DescribeInstancePatchStatesForPatchGroup",
            json!({"PatchGroup": "staging"}),
        ),
        (
            "DescribeInstancePatches",
            json!({"InstanceId": STAGING_INSTANCE}),
        ),
        ("DescribePatchGroupState", json!({"PatchGroup": "staging"})),
        ("DescribePatchGroups", json!({})),
        ("DescribeInstanceInformation", json!({})),
        (
            "ListResourceComplianceSummaries",
            json!({"Filters": [{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}]}),
        ),
        ("DescribePatchBaselines", json!({})),
        (
            "GetPatchBaseline",
            json!({"BaselineId": "pb-0c10000000000000a"}),
        ),
        (
            "DescribeEffectivePatchesForPatchBaseline",
            json!({"BaselineId": "pb-0c10000000000000a"}),
        ),
        (
            "GetPatchBaselineForPatchGroup",
            json!({"PatchGroup": "staging", "OperatingSystem": "AMAZON_LINUX_2023"}),
        ),
        (
            "UpdatePatchBaseline",
            json!({"BaselineId": "pb-0c10000000000000b", "RejectedPatches": ["python3.x86_64"]}),
        ),
        ("GetMaintenanceWindow", json!({"WindowId": STAGING_WINDOW})),
        (
            "UpdateMaintenanceWindow",
            json!({"WindowId": "mw-0d61969e12ee5b4c2", "Enabled": true}),
        ),
        ("DescribeMaintenanceWindows", json!({})),
        (
            "DescribeMaintenanceWindowTargets",
            json!({"WindowId": STAGING_WINDOW}),
        ),
        (
            "GetMaintenanceWindowExecution",
            json!({"WindowExecutionId": execution}),
        ),
        (
            "CancelMaintenanceWindowExecution",
            json!({"WindowExecutionId": execution}),
        ),
        (
            "DescribeMaintenanceWindowExecutions",
            json!({"WindowId": STAGING_WINDOW}),
        ),
        (
            "DescribeMaintenanceWindowExecutionTasks",
            json!({"WindowExecutionId": execution}),
        ),
        (
            "DescribeMaintenanceWindowExecutionTaskInvocations",
            json!({"WindowExecutionId": execution, "TaskId": task}),
        ),
        ("ListCommands", json!({})),
        (
            "ListCommandInvocations",
            json!({"CommandId": command, "Details": true}),
        ),
        (
            "GetCommandInvocation",
            json!({"CommandId": command, "InstanceId": STAGING_INSTANCE, "PluginName": "PatchLinux"}),
        ),
        (
            "PutParameter",
            json!({"Name": "/patchpilot/test", "Value": "x", "Type": "String"}),
        ),
        ("GetParameter", json!({"Name": "/patchpilot/test"})),
        (
            "LabelParameterVersion",
            json!({"Name": "/patchpilot/test", "Labels": ["prod", "1-not-a-label"]}),
        ),
        (
            "UpdateMaintenanceWindowTask",
            json!({"WindowId": STAGING_WINDOW, "WindowTaskId": "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7b",
                   "AlarmConfiguration": {"Alarms": [{"Name": "brake"}], "IgnorePollAlarmFailure": false}}),
        ),
        (
            "DescribeMaintenanceWindowTasks",
            json!({"WindowId": STAGING_WINDOW}),
        ),
        (
            "GetMaintenanceWindowTask",
            json!({"WindowId": STAGING_WINDOW, "WindowTaskId": "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7b"}),
        ),
    ];
    let model = ServiceModel::load();
    let served: Vec<&str> = model.operation_names().collect();
    assert_eq!(
        served.len(),
        calls.len(),
        "every operation in the model is exercised here"
    );
    for (operation, body) in calls {
        let (status, response) = raw(&sim, operation, &body);
        assert_eq!(status, 200, "{operation}: {response}");
        let problems = model.check_output(operation, &response);
        assert!(
            problems.is_empty(),
            "{operation} answered outside its output shape: {problems:#?}"
        );
    }
}

#[test]
fn unknown_operations_get_aws_unknown_operation_error() {
    let sim = start(patch_week_state());
    for target in [
        "AmazonSSM.SendCommand",
        "AmazonSSM.",
        "NotSSM.DescribePatchGroups",
        "",
    ] {
        let (status, body) = raw_text(&sim, target, "{}");
        assert_eq!(status, 400, "{target}");
        assert_eq!(
            body["__type"], "UnknownOperationException",
            "{target}: {body}"
        );
    }
}

#[test]
fn malformed_bodies_are_serialization_errors() {
    let sim = start(patch_week_state());
    for body in ["{not json", "[1,2]", "{\"MaxResults\": \"ten\"}"] {
        let (status, response) = raw_text(&sim, "AmazonSSM.DescribePatchGroups", body);
        assert_eq!(status, 400);
        assert_eq!(
            response["__type"], "SerializationException",
            "{body}: {response}"
        );
    }
    // An empty body is an empty request, as with the real service.
    let (status, _) = raw_text(&sim, "AmazonSSM.DescribePatchGroups", "");
    assert_eq!(status, 200);
}

#[test]
fn validation_follows_the_service_model_with_aws_wording() {
    let sim = start(patch_week_state());
    let (status, body) = raw(
        &sim,
        "DescribeInstancePatchStatesForPatchGroup",
        &json!({"PatchGroup": "staging", "MaxResults": 101}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
    );
    let (_, body) = raw(
        &sim,
        "DescribeInstancePatchStatesForPatchGroup",
        &json!({"MaxResults": 5}),
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("2 validation errors detected"),
        "{body}"
    );
    let (_, body) = raw(
        &sim,
        "GetPatchBaselineForPatchGroup",
        &json!({"PatchGroup": "web", "OperatingSystem": "TEMPLEOS"}),
    );
    assert!(
        body["message"].as_str().unwrap().contains("enum value set"),
        "{body}"
    );
    let (_, body) = raw(
        &sim,
        "DescribeInstanceInformation",
        &json!({"MaxResults": 51}),
    );
    assert_eq!(body["__type"], "ValidationException");
    let (_, body) = raw(&sim, "ListCommands", &json!({"Filters": []}));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("length greater than or equal to 1"),
        "{body}"
    );
}

#[test]
fn errors_carry_aws_codes() {
    let sim = start(patch_week_state());
    let cases = [
        (
            "DescribeInstancePatches",
            json!({"InstanceId": STAGING_INSTANCE, "MaxResults": 51}),
            "ValidationException",
        ),
        (
            "DescribeInstancePatches",
            json!({"InstanceId": "i-0ffffffffffffffff"}),
            "InvalidInstanceId",
        ),
        (
            "DescribeInstancePatches",
            json!({"InstanceId": STAGING_INSTANCE, "Filters": [{"Key": "Colour", "Values": ["red"]}]}),
            "InvalidFilter",
        ),
        (
            "DescribeInstancePatchStatesForPatchGroup",
            json!({"PatchGroup": "staging", "Filters": [{"Key": "Mood", "Values": ["1"], "Type": "Equal"}]}),
            "InvalidFilter",
        ),
        (
            "DescribeInstancePatchStatesForPatchGroup",
            json!({"PatchGroup": "staging", "NextToken": "00ff00"}),
            "InvalidNextToken",
        ),
        (
            "DescribeInstanceInformation",
            json!({"Filters": [{"Key": "Colour", "Values": ["red"]}]}),
            "InvalidFilterKey",
        ),
        (
            "GetPatchBaseline",
            json!({"BaselineId": "pb-0c1000000000000ff"}),
            "DoesNotExistException",
        ),
        (
            "GetPatchBaseline",
            json!({"BaselineId": "not_a_baseline_id_xyz"}),
            "InvalidResourceId",
        ),
        (
            "GetMaintenanceWindow",
            json!({"WindowId": "mw-0000000000000000f"}),
            "DoesNotExistException",
        ),
        (
            "DescribeMaintenanceWindowExecutionTasks",
            json!({"WindowExecutionId": "00000000-0000-4000-8000-000000000000"}),
            "DoesNotExistException",
        ),
        (
            "GetCommandInvocation",
            json!({"CommandId": "00000000-0000-4000-8000-000000000000", "InstanceId": STAGING_INSTANCE}),
            "InvocationDoesNotExist",
        ),
        (
            "GetParameter",
            json!({"Name": "/nope"}),
            "ParameterNotFound",
        ),
    ];
    for (operation, body, code) in cases {
        let (status, response) = raw(&sim, operation, &body);
        assert_eq!(status, 400, "{operation} {body}");
        assert_eq!(response["__type"], code, "{operation} {body}: {response}");
    }
}

#[test]
fn next_tokens_are_bound_to_their_operation() {
    let sim = start(generated(300, 1));
    let (_, first) = raw(
        &sim,
        "DescribeInstancePatchStatesForPatchGroup",
        &json!({"PatchGroup": "pg-0000", "MaxResults": 10}),
    );
    let token = first["NextToken"]
        .as_str()
        .expect("a second page exists")
        .to_owned();
    let (status, body) = raw(
        &sim,
        "DescribeInstanceInformation",
        &json!({"NextToken": token}),
    );
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidNextToken"))
    );
}
