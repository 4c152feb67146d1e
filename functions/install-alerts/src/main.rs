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
        sns: aws_sdk_sns::Client::new(&sdk),
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
    };
    let alerts = Alerts::new(clients, config);
    let dead_letter = runtime::dead_letter_from_env(&sdk);
    runtime::serve(&alerts, dead_letter.as_ref()).await
}
