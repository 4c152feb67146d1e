//! The dashboard in template.yaml graphs the gate metric the function really emits, with its dimensions.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patch_gate::handler::{FUNCTION, GATE_DIMENSION, GATE_METRIC};
use patchpilot_test_support::template::Template;

#[test]
fn dashboard_graphs_the_gate_metric_with_its_dimensions() {
    let body = Template::load().sub_text("ComplianceDashboard", "DashboardBody");
    let expected = format!(
        r#"["patchpilot", "{GATE_METRIC}", "Function", "{FUNCTION}", "{GATE_DIMENSION}", "${{ProductionWindowId}}"]"#
    );
    assert!(body.contains(&expected), "the dashboard lacks {expected}");
}

/// The gate's inline statements in template.yaml, resolved for a deployment with every required
/// parameter set.
fn gate_statements() -> Vec<patchpilot_test_support::iam::Statement> {
    use patchpilot_test_support::template::Deployment;
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
            "AlertTopic",
            "arn:aws:sns:eu-west-1:000000000000:patchpilot-alerts",
        ),
        ("AlertKey.Arn", "arn:aws:kms:eu-west-1:000000000000:key/k"),
        (
            "StateTable.Arn",
            "arn:aws:dynamodb:eu-west-1:000000000000:table/state",
        ),
        (
            "FailureQueue.Arn",
            "arn:aws:sqs:eu-west-1:000000000000:failures",
        ),
        ("PromotionBucket", "stack-promotionbucket-1"),
        (
            "PromotionBucket.Arn",
            "arn:aws:s3:::stack-promotionbucket-1",
        ),
    ] {
        deployment.resources.insert(resource.into(), value.into());
    }
    let policies = deployment
        .resolve(&template.resource("PatchGateFunction")["Properties"]["Policies"])
        .unwrap();
    policies
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| policy["Statement"].as_array().cloned().unwrap_or_default())
        .map(|document| patchpilot_test_support::iam::Statement {
            policy: "inline".into(),
            sid: document["Sid"].as_str().unwrap_or_default().into(),
            actions: vec![],
            resources: vec![],
            document,
        })
        .collect()
}

fn allowed(action: &str, resource: &str) -> bool {
    use patchpilot_test_support::iam::{Request, decide};
    let request = Request {
        action: action.into(),
        resource: resource.into(),
        context: Default::default(),
    };
    decide(&gate_statements(), &request).unwrap() == patchpilot_test_support::iam::Decision::Allow
}

#[test]
fn the_gate_reads_an_aws_managed_default_baseline_by_its_arn() {
    // GetPatchBaseline's documented form for an AWS-provided baseline: an ARN in AWS's own account.
    let aws_owned = "arn:aws:ssm:eu-west-1:733109147000:patchbaseline/pb-0c10e65780EXAMPLE";
    assert!(allowed("ssm:GetPatchBaseline", aws_owned));
    assert!(allowed(
        "ssm:DescribeEffectivePatchesForPatchBaseline",
        aws_owned
    ));
    // Reading is all: AWS's baselines are never updated.
    assert!(!allowed("ssm:UpdatePatchBaseline", aws_owned));
}

#[test]
fn the_gate_may_stop_production_and_read_executions() {
    assert!(allowed("ssm:GetMaintenanceWindowExecution", "*"));
    assert!(allowed("ssm:DescribeMaintenanceWindowExecutions", "*"));
    assert!(allowed("ssm:CancelMaintenanceWindowExecution", "*"));
}

#[test]
fn the_gate_writes_the_promoted_list_under_the_production_windows_prefix_only() {
    let bucket = "arn:aws:s3:::stack-promotionbucket-1";
    let list = patch_gate::config::promotion_key("mw-0d61969e12ee5b4c2");
    let record = patch_gate::config::promotion_record_key("mw-0d61969e12ee5b4c2");
    assert!(allowed("s3:PutObject", &format!("{bucket}/{list}")));
    assert!(allowed("s3:PutObject", &format!("{bucket}/{record}")));
    assert!(!allowed(
        "s3:PutObject",
        &format!("{bucket}/promotion/mw-0c50858d01ff4a3b1/install-override.yaml")
    ));
    assert!(!allowed("s3:DeleteObject", &format!("{bucket}/{list}")));
    assert!(!allowed(
        "s3:PutObject",
        "arn:aws:s3:::someone-elses/promotion/x"
    ));
}
