//! A member stack's organization settings: the organization's alert topic (`CentralAlertTopicArn`,
//! templates/central-alerts.yaml), which both paging functions are told and may publish to (and
//! nowhere else) with its key; and the metrics link to the monitoring account (`MonitoringSinkArn`,
//! templates/monitoring.yaml), which shares exactly the namespaces the functions publish.

use patchpilot_test_support::iam::{Decision, Request, Statement, decide};
use patchpilot_test_support::template::{Deployment, Template};

const LOCAL_TOPIC: &str = "arn:aws:sns:eu-west-1:000000000000:patchpilot-alerts";
const LOCAL_KEY: &str = "arn:aws:kms:eu-west-1:000000000000:key/local";
const CENTRAL_TOPIC: &str = "arn:aws:sns:us-east-1:444455556666:patchpilot-central-alerts";
const CENTRAL_KEY: &str =
    "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const PAGERS: [&str; 2] = ["InstallAlertsFunction", "PatchGateFunction"];

fn deployment<'a>(template: &'a Template, extra: &[(&str, &str)]) -> Deployment<'a> {
    Deployment::sample(template, extra)
}

/// `function`'s inline statements for a deployment with `extra` parameters.
fn statements(function: &str, extra: &[(&str, &str)]) -> Vec<Statement> {
    let template = Template::load();
    patchpilot_test_support::iam::sam_inline_statements(&deployment(&template, extra), function)
        .unwrap_or_else(|err| panic!("{function}'s policies: {err}"))
}

fn allowed(statements: &[Statement], action: &str, resource: &str) -> bool {
    let request = Request {
        action: action.into(),
        resource: resource.into(),
        context: Default::default(),
    };
    decide(statements, &request).unwrap_or_else(|err| panic!("{err}")) == Decision::Allow
}

fn topic_told(function: &str, extra: &[(&str, &str)]) -> serde_json::Value {
    let template = Template::load();
    let variable =
        &template.resource(function)["Properties"]["Environment"]["Variables"]["ALERT_TOPIC_ARN"];
    deployment(&template, extra).resolve(variable).unwrap()
}

#[test]
fn with_a_central_topic_both_pagers_publish_there_with_its_key_and_nowhere_else() {
    let central = [
        ("CentralAlertTopicArn", CENTRAL_TOPIC),
        ("CentralAlertKeyArn", CENTRAL_KEY),
    ];
    for function in PAGERS {
        let granted = statements(function, &central);
        assert!(
            allowed(&granted, "sns:Publish", CENTRAL_TOPIC),
            "{function}"
        );
        assert!(!allowed(&granted, "sns:Publish", LOCAL_TOPIC), "{function}");
        assert!(
            allowed(&granted, "kms:GenerateDataKey", CENTRAL_KEY),
            "{function}"
        );
        assert!(allowed(&granted, "kms:Decrypt", CENTRAL_KEY), "{function}");
        assert!(
            !allowed(&granted, "kms:GenerateDataKey", LOCAL_KEY),
            "{function}"
        );
        assert_eq!(topic_told(function, &central), CENTRAL_TOPIC, "{function}");
    }
}

#[test]
fn an_unencrypted_central_topic_needs_no_key_and_none_is_granted() {
    let central = [("CentralAlertTopicArn", CENTRAL_TOPIC)];
    for function in PAGERS {
        let granted = statements(function, &central);
        assert!(
            allowed(&granted, "sns:Publish", CENTRAL_TOPIC),
            "{function}"
        );
        assert!(
            !allowed(&granted, "kms:GenerateDataKey", LOCAL_KEY),
            "{function}"
        );
        assert!(
            !allowed(&granted, "kms:GenerateDataKey", CENTRAL_KEY),
            "{function}"
        );
    }
}

#[test]
fn without_a_central_topic_both_pagers_use_the_stacks_own() {
    for function in PAGERS {
        let granted = statements(function, &[]);
        assert!(allowed(&granted, "sns:Publish", LOCAL_TOPIC), "{function}");
        assert!(
            !allowed(&granted, "sns:Publish", CENTRAL_TOPIC),
            "{function}"
        );
        assert!(
            allowed(&granted, "kms:GenerateDataKey", LOCAL_KEY),
            "{function}"
        );
        assert!(
            !allowed(&granted, "kms:GenerateDataKey", CENTRAL_KEY),
            "{function}"
        );
        assert_eq!(topic_told(function, &[]), LOCAL_TOPIC, "{function}");
    }
}

#[test]
fn the_central_topic_takes_the_organizations_publishers_through_its_own_key() {
    let text = std::fs::read_to_string(
        patchpilot_test_support::workspace_root().join("templates/central-alerts.yaml"),
    )
    .unwrap();
    let template = Template::from_yaml(&text).unwrap();
    let mut deployment = Deployment::new(&template, &[("OrganizationId", "o-abcdef1234")]);
    deployment.resources.insert(
        "CentralAlertTopic".into(),
        "arn:aws:sns:us-east-1:444455556666:central".into(),
    );
    let policy = deployment
        .resolve(&template.resource("CentralAlertTopicPolicy")["Properties"]["PolicyDocument"])
        .unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Action"], "sns:Publish");
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        "o-abcdef1234"
    );
    let key = deployment
        .resolve(&template.resource("CentralAlertKey")["Properties"]["KeyPolicy"])
        .unwrap();
    let organization = key["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "OrganizationPublishesThroughSns")
        .unwrap();
    assert_eq!(
        organization["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        "o-abcdef1234"
    );
    assert!(
        organization["Condition"]["StringEquals"]["kms:ViaService"]
            .as_str()
            .unwrap()
            .starts_with("sns.")
    );
    assert_eq!(
        template.resource("CentralAlertTopic")["Properties"]["KmsMasterKeyId"]["Ref"],
        "CentralAlertKey"
    );
}

#[test]
fn with_a_sink_the_stack_links_exactly_the_namespaces_its_functions_publish() {
    let template = Template::load();
    let link = template.resource("MetricsLink");
    assert_eq!(link["Condition"], "LinksMetrics");
    assert!(
        !deployment(&template, &[])
            .condition("LinksMetrics")
            .unwrap()
    );
    let sink = "arn:aws:oam:eu-west-1:444455556666:sink/a1b2c3d4-5678-90ab-cdef-000000000000";
    let linked = deployment(&template, &[("MonitoringSinkArn", sink)]);
    assert!(linked.condition("LinksMetrics").unwrap());
    let properties = linked.resolve(&link["Properties"]).unwrap();
    assert_eq!(properties["SinkIdentifier"], sink);
    assert_eq!(
        properties["ResourceTypes"],
        serde_json::json!(["AWS::CloudWatch::Metric"])
    );
    // The snapshot's namespace (the parameter's default) and the functions' own EMF namespace.
    assert_eq!(
        properties["LinkConfiguration"]["MetricConfiguration"]["Filter"],
        format!(
            "Namespace IN ('{}', '{}')",
            template.parameter_default("MetricNamespace"),
            patchpilot_shared::metrics::NAMESPACE
        )
    );
}
