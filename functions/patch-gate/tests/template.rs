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
/// parameter set and `extra`.
fn gate_statements_with(extra: &[(&str, &str)]) -> Vec<patchpilot_test_support::iam::Statement> {
    let template = Template::load();
    let deployment = patchpilot_test_support::template::Deployment::sample(&template, extra);
    patchpilot_test_support::iam::sam_inline_statements(&deployment, "PatchGateFunction").unwrap()
}

fn allowed(action: &str, resource: &str) -> bool {
    allowed_with(&[], action, resource)
}

fn allowed_with(extra: &[(&str, &str)], action: &str, resource: &str) -> bool {
    use patchpilot_test_support::iam::{Request, decide};
    let request = Request {
        action: action.into(),
        resource: resource.into(),
        context: Default::default(),
    };
    decide(&gate_statements_with(extra), &request).unwrap()
        == patchpilot_test_support::iam::Decision::Allow
}

const STAGING_ROLE: &str = "arn:aws:iam::222233334444:role/patchpilot-staging-reader";

#[test]
fn with_staging_elsewhere_the_gate_may_assume_exactly_its_role() {
    let elsewhere = [("StagingRoleArn", STAGING_ROLE)];
    assert!(allowed_with(&elsewhere, "sts:AssumeRole", STAGING_ROLE));
    assert!(!allowed_with(
        &elsewhere,
        "sts:AssumeRole",
        "arn:aws:iam::222233334444:role/admin"
    ));
    assert!(!allowed("sts:AssumeRole", STAGING_ROLE), "not without it");
}

#[test]
fn with_staging_elsewhere_the_gate_is_told_and_the_bus_takes_that_accounts_events_only() {
    use patchpilot_test_support::template::Deployment;
    let template = Template::load();
    let base = [
        ("StagingWindowId", "mw-0c50858d01ff4a3b1"),
        ("ProductionWindowId", "mw-0d61969e12ee5b4c2"),
        ("StagingPatchGroup", "staging"),
    ];
    let here = Deployment::new(&template, &base);
    assert!(!here.condition("StagingElsewhere").unwrap());
    let mut parameters = base.to_vec();
    parameters.extend([
        ("StagingRoleArn", STAGING_ROLE),
        ("StagingRegion", "eu-central-1"),
    ]);
    let elsewhere = Deployment::new(&template, &parameters);
    assert!(elsewhere.condition("StagingElsewhere").unwrap());
    assert_eq!(
        template.resource("StagingEventsPolicy")["Condition"],
        "StagingElsewhere"
    );
    let policy = elsewhere
        .resolve(&template.resource("StagingEventsPolicy")["Properties"])
        .unwrap();
    assert_eq!(
        policy["Statement"]["Principal"]["AWS"],
        "arn:aws:iam::222233334444:root"
    );
    assert_eq!(policy["Statement"]["Action"], "events:PutEvents");
    assert_eq!(policy["EventBusName"], "default");
    let variables =
        &template.resource("PatchGateFunction")["Properties"]["Environment"]["Variables"];
    let variable = |name: &str| elsewhere.resolve(&variables[name]).unwrap();
    assert_eq!(variable("STAGING_ROLE_ARN"), STAGING_ROLE);
    assert_eq!(variable("STAGING_REGION"), "eu-central-1");
    // What the function reads them as.
    let environment = std::collections::HashMap::from([
        ("STAGING_WINDOW_ID", "mw-0c50858d01ff4a3b1"),
        ("PRODUCTION_WINDOW_ID", "mw-0d61969e12ee5b4c2"),
        ("STAGING_PATCH_GROUP", "staging"),
        ("ALERT_TOPIC_ARN", "arn:aws:sns:eu-west-1:000000000000:t"),
        ("STATE_TABLE", "state"),
        ("STAGING_ROLE_ARN", STAGING_ROLE),
        ("STAGING_REGION", "eu-central-1"),
    ]);
    let staging = patch_gate::config::GateConfig::from_env(&environment)
        .unwrap()
        .staging_account
        .unwrap();
    assert_eq!(staging.account_id, "222233334444");
    // Empty, as the template passes it when staging is here: no staging account.
    let mut here = environment.clone();
    here.insert("STAGING_ROLE_ARN", "");
    here.insert("STAGING_REGION", "");
    assert_eq!(
        patch_gate::config::GateConfig::from_env(&here)
            .unwrap()
            .staging_account,
        None
    );
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
