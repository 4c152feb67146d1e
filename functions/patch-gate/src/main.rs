//! Wiring only: settings validated once, clients built once, then the runtime.

use lambda_runtime::Error;
use patch_gate::config::GateConfig;
use patch_gate::{Clients, Gate};
use patchpilot_shared::{FunctionError, ProcessEnv, clients, logging, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = GateConfig::from_env(&ProcessEnv).map_err(FunctionError::from)?;
    let sdk = clients::load_sdk_config(&config.common).await;
    let staging = match &config.staging_account {
        Some(staging) => {
            let sdk = patch_gate::handler::staging_sdk_config(&sdk, staging).await;
            Some(patch_gate::handler::StagingClients {
                ssm: aws_sdk_ssm::Client::new(&sdk),
                cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            })
        }
        None => None,
    };
    let clients = Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        // The central topic (CentralAlertTopicArn) may be in another Region.
        sns: patchpilot_shared::aws::sns::client_for_topic(&sdk, &config.topic_arn),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        s3: patch_gate::handler::s3_client(&sdk),
        staging,
    };
    let gate = Gate::new(clients, config);
    let dead_letter = runtime::dead_letter_from_env(&sdk);
    runtime::serve(&gate, dead_letter.as_ref()).await
}
