//! The stack's `OperatorPolicy` (template.yaml) allows every call `patchpilot` makes, on the
//! resources it names, and no more: the brake is attached to the production window's tasks, never the
//! staging window's.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the tool).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchpilot_test_support::iam::{Decision, Request, Statement, decide};
use patchpilot_test_support::template::{Deployment, Template};

const ACCOUNT_WINDOWS: &str = "arn:aws:ssm:eu-west-1:000000000000:maintenancewindow";
const BRAKE_ARN: &str = "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:patchpilot-gate-closed";

fn operator_statements() -> Vec<Statement> {
    let template = Template::load();
    let deployment = Deployment::sample(&template, &[]);
    let document = deployment
        .resolve(&template.resource("OperatorPolicy")["Properties"]["PolicyDocument"])
        .unwrap();
    patchpilot_test_support::iam::statements_of("OperatorPolicy", &document)
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
    assert!(allowed("ssm:GetMaintenanceWindowTask", &production));
    assert!(!allowed("ssm:GetMaintenanceWindowTask", &staging));
    assert!(allowed("cloudwatch:DescribeAlarms", BRAKE_ARN));
    assert!(!allowed(
        "cloudwatch:DescribeAlarms",
        "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:someone-elses"
    ));
    // A task's service role passes back to Systems Manager only.
    let role = "arn:aws:iam::000000000000:role/maintenance-window";
    let pass = |service: &str| Request {
        action: "iam:PassRole".into(),
        resource: role.into(),
        context: [("iam:PassedToService".to_owned(), vec![service.to_owned()])].into(),
    };
    assert_eq!(
        decide(&operator_statements(), &pass("ssm.amazonaws.com")).unwrap(),
        Decision::Allow
    );
    assert_ne!(
        decide(&operator_statements(), &pass("ec2.amazonaws.com")).unwrap(),
        Decision::Allow
    );
    // The brake is set, never taken off by the operator's policy: no alarm writes.
    assert!(!allowed("cloudwatch:SetAlarmState", BRAKE_ARN));
    assert!(!allowed("cloudwatch:DeleteAlarms", BRAKE_ARN));
}

/// Every AWS operation the command's code calls (`cli/src`, read from the source so a new call cannot
/// be missed), each with the resource it names in the test deployment.
#[test]
fn every_call_the_command_makes_is_allowed() {
    let windows = format!("{ACCOUNT_WINDOWS}/mw-0d61969e12ee5b4c2");
    let resources: &[(&str, &str)] = &[
        (
            "cloudformation:DescribeStacks",
            "arn:aws:cloudformation:eu-west-1:000000000000:stack/patchpilot/1",
        ),
        ("cloudwatch:DescribeAlarms", BRAKE_ARN),
        ("cloudwatch:GetMetricData", "*"),
        ("cloudwatch:ListMetrics", "*"),
        (
            "dynamodb:GetItem",
            "arn:aws:dynamodb:eu-west-1:000000000000:table/state",
        ),
        ("ec2:DescribeInstances", "*"),
        ("ssm:DescribeInstanceInformation", "*"),
        ("ssm:DescribeInstancePatchStates", "*"),
        ("events:ListRules", "*"),
        ("lambda:GetAccountSettings", "*"),
        (
            "lambda:GetFunctionConcurrency",
            "arn:aws:lambda:eu-west-1:000000000000:function:patch-gate",
        ),
        (
            "lambda:InvokeFunction",
            "arn:aws:lambda:eu-west-1:000000000000:function:patch-gate",
        ),
        (
            "sqs:GetQueueAttributes",
            "arn:aws:sqs:eu-west-1:000000000000:failures",
        ),
        ("ssm:DescribeMaintenanceWindowTargets", &windows),
        ("ssm:DescribeMaintenanceWindowTasks", &windows),
        ("ssm:DescribePatchGroups", "*"),
        ("ssm:GetMaintenanceWindow", &windows),
        ("ssm:GetMaintenanceWindowTask", &windows),
        (
            "ssm:GetPatchBaseline",
            "arn:aws:ssm:eu-west-1:000000000000:patchbaseline/pb-0c10000000000000b",
        ),
        ("ssm:GetPatchBaselineForPatchGroup", "*"),
        ("ssm:UpdateMaintenanceWindowTask", &windows),
    ];
    // sts:GetCallerIdentity needs no permission; ssm:GetParameter is granted when the tagger's rules
    // come from a parameter (a deployment with TagRulesParameter set).
    let needs_none = ["sts:GetCallerIdentity", "ssm:GetParameter"];
    let mut called = std::collections::BTreeSet::new();
    let call = regex::Regex::new(
        r"\.(ssm|cloudwatch|dynamodb|sqs|ec2|events|lambda|sts|cloudformation)\s*\.([a-z_]+)\(\)",
    )
    .unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&source).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for found in call.captures_iter(&text) {
            let operation: String = found[2]
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    chars
                        .next()
                        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                        .unwrap_or_default()
                })
                .collect();
            let service = &found[1];
            let operation = if service == "lambda" && operation == "Invoke" {
                "InvokeFunction".to_owned()
            } else {
                operation
            };
            called.insert(format!("{service}:{operation}"));
        }
    }
    assert!(called.len() >= 15, "{called:?}");
    for action in &called {
        if needs_none.contains(&action.as_str()) {
            continue;
        }
        let resource = resources
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("{action}: the test names no resource for it"));
        assert!(
            allowed(action, resource),
            "OperatorPolicy denies {action} on {resource}"
        );
    }
}
