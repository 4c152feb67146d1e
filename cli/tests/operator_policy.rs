//! The stack's `OperatorPolicy` (template.yaml) allows what `patchpilot gate brake` and `doctor`'s
//! brake check call, on exactly the resources they name, and no more: the brake is attached to the
//! production window's tasks, never the staging window's.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the tool).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchpilot_test_support::iam::{Decision, Request, Statement, decide};
use patchpilot_test_support::template::{Deployment, Template};

const ACCOUNT_WINDOWS: &str = "arn:aws:ssm:eu-west-1:000000000000:maintenancewindow";
const BRAKE_ARN: &str = "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:patchpilot-gate-closed";

fn operator_statements() -> Vec<Statement> {
    let template = Template::load();
    let mut deployment = Deployment::new(
        &template,
        &[
            ("StagingWindowId", "mw-0c50858d01ff4a3b1"),
            ("ProductionWindowId", "mw-0d61969e12ee5b4c2"),
            ("StagingPatchGroup", "staging"),
            ("ProductionBaselineIds", "pb-0c10000000000000b"),
        ],
    );
    for (resource, value) in [
        (
            "PatchGateFunction.Arn",
            "arn:aws:lambda:eu-west-1:000000000000:function:patch-gate",
        ),
        (
            "StateTable.Arn",
            "arn:aws:dynamodb:eu-west-1:000000000000:table/state",
        ),
        (
            "FailureQueue.Arn",
            "arn:aws:sqs:eu-west-1:000000000000:failures",
        ),
        ("GateBrakeAlarm.Arn", BRAKE_ARN),
    ] {
        deployment.resources.insert(resource.into(), value.into());
    }
    let document = deployment
        .resolve(&template.resource("OperatorPolicy")["Properties"]["PolicyDocument"])
        .unwrap();
    document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| Statement {
            policy: "OperatorPolicy".into(),
            sid: statement["Sid"].as_str().unwrap_or_default().into(),
            actions: vec![],
            resources: vec![],
            document: statement.clone(),
        })
        .collect()
}

fn allowed(action: &str, resource: &str) -> bool {
    let request = Request {
        action: action.into(),
        resource: resource.into(),
        context: Default::default(),
    };
    decide(&operator_statements(), &request).unwrap() == Decision::Allow
}

#[test]
fn operators_may_attach_the_brake_to_production_only() {
    let production = format!("{ACCOUNT_WINDOWS}/mw-0d61969e12ee5b4c2");
    let staging = format!("{ACCOUNT_WINDOWS}/mw-0c50858d01ff4a3b1");
    assert!(allowed("ssm:DescribeMaintenanceWindowTasks", &production));
    assert!(allowed("ssm:UpdateMaintenanceWindowTask", &production));
    assert!(!allowed("ssm:UpdateMaintenanceWindowTask", &staging));
    assert!(allowed("cloudwatch:DescribeAlarms", BRAKE_ARN));
    assert!(!allowed(
        "cloudwatch:DescribeAlarms",
        "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:someone-elses"
    ));
    // The brake is set, never taken off by the operator's policy: no alarm writes.
    assert!(!allowed("cloudwatch:SetAlarmState", BRAKE_ARN));
    assert!(!allowed("cloudwatch:DeleteAlarms", BRAKE_ARN));
}
