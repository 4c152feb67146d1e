//! The AWS CLI (botocore) reads the simulator's answers, pages through them and reports its errors,
//! exactly as it would with the real service.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

fn json_output(result: (i32, String, String)) -> Value {
    let (code, stdout, stderr) = result;
    assert_eq!(code, 0, "aws failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

#[test]
fn cli_reads_patch_groups_baselines_and_windows() {
    let sim = start(patch_week_state());
    let groups = json_output(aws_ssm(&sim, &["describe-patch-groups"]));
    let names: Vec<&str> = groups["Mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["PatchGroup"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "staging"]);

    let baseline = json_output(aws_ssm(
        &sim,
        &[
            "get-patch-baseline",
            "--baseline-id",
            "pb-0c10000000000000a",
        ],
    ));
    assert_eq!(
        baseline["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"],
        2
    );
    assert_eq!(baseline["PatchGroups"][0], "staging");
    // Epoch seconds on the wire; CLI v1 prints them as it got them. 2026-10-01T00:00:00Z:
    assert_eq!(baseline["CreatedDate"].as_f64(), Some(1_790_812_800.0));

    let window = json_output(aws_ssm(
        &sim,
        &[
            "get-maintenance-window",
            "--window-id",
            "mw-0d61969e12ee5b4c2",
        ],
    ));
    assert_eq!(window["Enabled"], false);
    json_output(aws_ssm(
        &sim,
        &[
            "update-maintenance-window",
            "--window-id",
            "mw-0d61969e12ee5b4c2",
            "--enabled",
        ],
    ));
    let window = json_output(aws_ssm(
        &sim,
        &[
            "get-maintenance-window",
            "--window-id",
            "mw-0d61969e12ee5b4c2",
        ],
    ));
    assert_eq!(window["Enabled"], true);
}

#[test]
fn cli_paginates_a_large_group_without_gaps_or_duplicates() {
    let state = generated(1_500, 2);
    let expected: BTreeSet<String> = state.group_members["pg-0001"]
        .iter()
        .filter(|id| state.instances[*id].report.is_some())
        .cloned()
        .collect();
    let sim = start(state);
    let all = json_output(aws_ssm(
        &sim,
        &[
            "describe-instance-patch-states-for-patch-group",
            "--patch-group",
            "pg-0001",
            "--page-size",
            "40",
        ],
    ));
    let ids: Vec<String> = all["InstancePatchStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["InstanceId"].as_str().unwrap().to_owned())
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len());
    assert_eq!(unique, expected);
    let (_, stats) = control(&sim, "GET", "/_sim/stats", None);
    let pages = stats["operations"]["DescribeInstancePatchStatesForPatchGroup"]["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(
        pages as usize,
        expected.len().div_ceil(5),
        "the CLI followed every NextToken (5 a page: the model's output cap, below the 40 asked for)"
    );
}

#[test]
fn cli_reports_service_errors_by_name() {
    let sim = start(patch_week_state());
    let (code, _, stderr) = aws_ssm(
        &sim,
        &[
            "describe-instance-patches",
            "--instance-id",
            "i-00a00000000000001",
            "--max-results",
            "60",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("ValidationException") && stderr.contains("less than or equal to 50"),
        "{stderr}"
    );
    let (code, _, stderr) = aws_ssm(
        &sim,
        &[
            "get-patch-baseline",
            "--baseline-id",
            "pb-0c1000000000000ff",
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("DoesNotExistException"), "{stderr}");
    let (code, _, stderr) = aws_ssm(
        &sim,
        &[
            "describe-instance-patch-states-for-patch-group",
            "--patch-group",
            "staging",
            "--starting-token",
            "bm90IGEgdG9rZW4=",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("InvalidNextToken") || stderr.contains("token"),
        "{stderr}"
    );
}

#[test]
fn cli_reads_command_output_after_a_window_run() {
    let sim = start(patch_week_state());
    let (_, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&serde_json::json!({
            "window_id": "mw-0c50858d01ff4a3b1",
            "outcomes": {"i-00a00000000000003": {"status": "Failed", "stderr": "E: dpkg was interrupted"}}
        })),
    );
    let command = run["command_ids"]["i-00a00000000000003"].as_str().unwrap();
    let invocation = json_output(aws_ssm(
        &sim,
        &[
            "get-command-invocation",
            "--command-id",
            command,
            "--instance-id",
            "i-00a00000000000003",
            "--plugin-name",
            "PatchLinux",
        ],
    ));
    assert_eq!(invocation["Status"], "Failed");
    assert_eq!(
        invocation["StandardErrorContent"],
        "E: dpkg was interrupted"
    );
    let executions = json_output(aws_ssm(
        &sim,
        &[
            "describe-maintenance-window-executions",
            "--window-id",
            "mw-0c50858d01ff4a3b1",
        ],
    ));
    assert_eq!(executions["WindowExecutions"][0]["Status"], "FAILED");
}
