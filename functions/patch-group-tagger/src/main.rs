//! Wiring only: settings validated once, clients built once, then the runtime.

use lambda_runtime::Error;
use patch_group_tagger::config::TaggerConfig;
use patch_group_tagger::{Clients, Tagger};
use patchpilot_shared::{FunctionError, ProcessEnv, clients, logging, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = TaggerConfig::from_env(&ProcessEnv).map_err(FunctionError::from)?;
    let sdk = clients::load_sdk_config(&config.common).await;
    let clients = Clients {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        ssm: aws_sdk_ssm::Client::new(&sdk),
    };
    let tagger = Tagger::new(clients, config).await?;
    let dead_letter = runtime::dead_letter_from_env(&sdk);
    runtime::serve(&tagger, dead_letter.as_ref()).await
}
