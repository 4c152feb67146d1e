//! The AWS clients, from the standard SDK configuration: `AWS_PROFILE`, `AWS_REGION` and
//! `AWS_ENDPOINT_URL*` work as in every AWS tool.

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::error::CliError;

/// One client per service the tool calls.
#[derive(Clone)]
pub struct Clients {
    /// Windows, baselines, patch groups, parameters.
    pub ssm: aws_sdk_ssm::Client,
    /// Compliance metrics.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Decision records and holds (read only).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The failure queue's depth.
    pub sqs: aws_sdk_sqs::Client,
    /// The fleet, for tag previews.
    pub ec2: aws_sdk_ec2::Client,
    /// The deployment's rules.
    pub events: aws_sdk_eventbridge::Client,
    /// Operator requests to the gate.
    pub lambda: aws_sdk_lambda::Client,
    /// Who is asking.
    pub sts: aws_sdk_sts::Client,
    /// The stack's outputs.
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Clients {
    /// Every client from the default configuration chain.
    pub async fn load() -> Self {
        let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Self::from_config(&config)
    }

    /// Every client from `config`.
    pub fn from_config(config: &SdkConfig) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
        }
    }

    /// The outputs of `stack`, by key.
    pub async fn stack_outputs(&self, stack: &str) -> Result<BTreeMap<String, String>, CliError> {
        let described = self
            .cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|err| {
                let missing = err
                    .as_service_error()
                    .and_then(|e| {
                        aws_smithy_types::error::metadata::ProvideErrorMetadata::message(e)
                    })
                    .is_some_and(|m| m.contains("does not exist"));
                if missing {
                    CliError::Usage(format!(
                        "stack {stack} does not exist in this account and region"
                    ))
                } else {
                    CliError::sdk("cloudformation:DescribeStacks", err)
                }
            })?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| CliError::Usage(format!("stack {stack} does not exist")))?;
        Ok(stack
            .outputs()
            .iter()
            .filter_map(|output| {
                Some((
                    output.output_key()?.to_owned(),
                    output.output_value()?.to_owned(),
                ))
            })
            .collect())
    }
}
