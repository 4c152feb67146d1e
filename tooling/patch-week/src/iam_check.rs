//! After the week: every call the four binaries made (recorded by their proxies) checked against the
//! roles of the template CloudFormation would receive for this deployment's parameters.

use crate::error::WeekError;
use std::collections::BTreeMap;
use std::process::Command;

use patchpilot_test_support::iam::{self, Findings};
use patchpilot_test_support::template::{Deployment, Template};
use patchpilot_test_support::{ACCOUNT, REGION, installed_tool, workspace_root};

use crate::world::{FUNCTIONS, World};

/// Grants the Lambda service uses itself (the on-failure destination), not the function's code.
const RUNTIME_POLICIES: &[&str] = &["EventInvokeConfigOnFailure"];

/// Actions a role needs that the patch week cannot reach, each with where it is exercised instead.
const NOT_REACHED_IN_THE_WEEK: &[(&str, &str, &str)] = &[
    (
        "InstallAlertsFunction",
        "dynamodb:DeleteItem",
        "releases a claim only when a publish fails: install-alerts' a_failed_publish_is_retryable_and_does_not_block_the_retry",
    ),
    (
        "PatchGateFunction",
        "ssm:DescribeInstancePatches",
        "reads failed patches only when the gate opens over tolerated failures (MAX_FAILED_INSTANCES > 0; the week uses 0): patch-gate's a_tolerated_failure_opens_and_rejects_its_patches",
    ),
];

/// The template translated by the SAM transform for this deployment's parameters.
fn translate(parameters: &[(String, String)]) -> Result<Template, WeekError> {
    let python = installed_tool("venv/bin/python")?;
    let out = std::env::temp_dir().join(format!("patchpilot-translated-{}", std::process::id()));
    let values: serde_json::Map<String, serde_json::Value> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let output = Command::new(python)
        .arg(workspace_root().join("tooling/template/translate.py"))
        .arg(&out)
        .args(["--parameters", "deployment"])
        .arg(serde_json::Value::Object(values).to_string())
        .output()
        .map_err(WeekError::file("tooling/template/translate.py"))?;
    if !output.status.success() {
        return Err(WeekError::Account(format!(
            "translate.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(Template::from_json_file(&out.join("deployment.json"))?)
}

/// Per function: the findings, or an error if the check could not run.
pub fn check(world: &World) -> Result<BTreeMap<String, Findings>, WeekError> {
    let translated = translate(&world.parameters)?;
    let overrides: Vec<(&str, &str)> = world
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut deployment = Deployment::try_new(&translated, &overrides)?;
    deployment.resources = world.resources.clone();
    let key_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/patchpilot-alert-key");
    deployment
        .resources
        .insert("AlertKey.Arn".into(), key_arn.clone());
    deployment.resources.insert(
        "StateTable.Arn".into(),
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}", world.table),
    );
    let keys: BTreeMap<String, String> = [(world.topic_arn.clone(), key_arn)].into_iter().collect();
    let calls = world.recorder.calls();
    let mut findings = BTreeMap::new();
    for (logical_id, _) in FUNCTIONS {
        let role = iam::role(&translated, &deployment, logical_id)?;
        let mine: Vec<_> = calls
            .iter()
            .filter(|call| call.function == *logical_id)
            .cloned()
            .collect();
        let excused: Vec<(&str, &str)> = NOT_REACHED_IN_THE_WEEK
            .iter()
            .filter(|(function, _, _)| function == logical_id)
            .map(|(_, action, why)| (*action, *why))
            .collect();
        findings.insert(
            (*logical_id).to_owned(),
            iam::check(&role, &mine, &keys, RUNTIME_POLICIES, &excused)?,
        );
    }
    Ok(findings)
}

/// One line per function for the report, and whether all passed.
///
/// Only a call the role denies fails the row. A grant this week did not exercise is not a defect of
/// the template (the function's tests cover every path; a small fleet or a week without a storm skips
/// some of them): it is named as "not exercised this week", so a reader sees what the week did not reach.
pub fn summarise(findings: &BTreeMap<String, Findings>) -> (bool, String) {
    let mut ok = true;
    let mut lines = Vec::new();
    for (function, found) in findings {
        ok &= found.denied.is_empty();
        let mut line = format!("{function}: {} distinct calls allowed", found.allowed.len());
        for (request, decision) in &found.denied {
            line.push_str(&format!(
                "; DENIED {} on {} {:?} ({decision})",
                request.action, request.resource, request.context
            ));
        }
        if !found.unused.is_empty() {
            line.push_str(&format!(
                "; not exercised this week: {}",
                found.unused.join(", ")
            ));
        }
        lines.push(line);
    }
    (ok, lines.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchpilot_test_support::iam::Request;

    #[test]
    fn only_a_denied_call_fails_the_row_and_unexercised_grants_are_named() {
        let unexercised = Findings {
            unused: vec![
                "PatchGateFunctionRolePolicy0/ReadStagingResults ssm:DescribeInstancePatchStates"
                    .into(),
            ],
            ..Findings::default()
        };
        let (ok, line) = summarise(&BTreeMap::from([(
            "InstallAlertsFunction".to_owned(),
            unexercised,
        )]));
        assert!(ok, "{line}");
        assert!(
            line.contains("not exercised this week: PatchGateFunctionRolePolicy0"),
            "{line}"
        );
        let denied = Findings {
            denied: vec![(
                Request {
                    action: "ssm:UpdateMaintenanceWindow".into(),
                    resource: "arn:aws:ssm:us-east-1:000000000000:maintenancewindow/mw-1".into(),
                    context: BTreeMap::new(),
                },
                "Deny".into(),
            )],
            ..Findings::default()
        };
        let (ok, line) = summarise(&BTreeMap::from([("PatchGateFunction".to_owned(), denied)]));
        assert!(!ok);
        assert!(
            line.contains("DENIED ssm:UpdateMaintenanceWindow"),
            "{line}"
        );
    }
}
