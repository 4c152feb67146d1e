//! Every function can dead-letter an event that can never be handled, at once: it is told the
//! failure queue (`FAILURE_QUEUE_URL`) and its role may send to that queue and no other.

use patchpilot_shared::dead_letter::QUEUE_VARIABLE;
use patchpilot_test_support::iam::{Decision, Request, Statement, decide};
use patchpilot_test_support::template::{Deployment, Template};

const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/000000000000/patchpilot-failures";
const QUEUE_ARN: &str = "arn:aws:sqs:eu-west-1:000000000000:patchpilot-failures";

#[test]
fn every_function_is_told_the_failure_queue_and_may_send_only_there() {
    let template = Template::load();
    let mut deployment = Deployment::new(
        &template,
        &[
            ("StagingWindowId", "mw-0c50858d01ff4a3b1"),
            ("ProductionWindowId", "mw-0d61969e12ee5b4c2"),
            ("StagingPatchGroup", "staging"),
        ],
    );
    for (resource, value) in [
        ("FailureQueue", QUEUE_URL),
        ("FailureQueue.Arn", QUEUE_ARN),
        ("AlertTopic", "arn:aws:sns:eu-west-1:000000000000:alerts"),
        ("AlertKey.Arn", "arn:aws:kms:eu-west-1:000000000000:key/k"),
        ("StateTable", "state"),
        ("PromotionBucket", "stack-promotionbucket-1"),
        (
            "PromotionBucket.Arn",
            "arn:aws:s3:::stack-promotionbucket-1",
        ),
        (
            "StateTable.Arn",
            "arn:aws:dynamodb:eu-west-1:000000000000:table/state",
        ),
        (
            "TagRulesParameterArn",
            "arn:aws:ssm:eu-west-1:000000000000:parameter/rules",
        ),
    ] {
        deployment.resources.insert(resource.into(), value.into());
    }
    let functions = template.resources_of_type("AWS::Serverless::Function");
    assert_eq!(functions.len(), 4, "{functions:?}");
    for function in functions {
        let environment = deployment.environment(&function).unwrap();
        assert!(
            environment
                .iter()
                .any(|(name, value)| name == QUEUE_VARIABLE && value == QUEUE_URL),
            "{function} is not told the failure queue: {environment:?}"
        );
        let policies = deployment
            .resolve(&template.resource(&function)["Properties"]["Policies"])
            .unwrap();
        let statements: Vec<Statement> = policies
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|policy| policy["Statement"].as_array().cloned().unwrap_or_default())
            .map(|document| Statement {
                policy: function.clone(),
                sid: document["Sid"].as_str().unwrap_or_default().into(),
                actions: vec![],
                resources: vec![],
                document,
            })
            .collect();
        let send = |resource: &str| Request {
            action: "sqs:SendMessage".into(),
            resource: resource.into(),
            context: Default::default(),
        };
        assert_eq!(
            decide(&statements, &send(QUEUE_ARN)).unwrap(),
            Decision::Allow,
            "{function} may not dead-letter"
        );
        assert_ne!(
            decide(
                &statements,
                &send("arn:aws:sqs:eu-west-1:000000000000:other")
            )
            .unwrap(),
            Decision::Allow,
            "{function} may send elsewhere"
        );
    }
}
