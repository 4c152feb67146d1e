//! Wiring only: settings validated once, clients built once, then the runtime.

use install_alerts::config::AlertsConfig;
use install_alerts::{Alerts, Clients};
use lambda_runtime::Error;
use patchpilot_shared::{FunctionError, ProcessEnv, clients, logging, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = AlertsConfig::from_env(&ProcessEnv).map_err(FunctionError::from)?;
    let sdk = clients::load_sdk_config(&config.common).await;
    let clients = Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        ec2: aws_sdk_ec2::Client::new(&sdk),
        // The central topic (CentralAlertTopicArn) may be in another Region.
        sns: patchpilot_shared::aws::sns::client_for_topic(&sdk, &config.topic_arn),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
    };
    let alerts = Alerts::new(clients, config);
    let dead_letter = runtime::dead_letter_from_env(&sdk);
    runtime::serve(&alerts, dead_letter.as_ref()).await
}
