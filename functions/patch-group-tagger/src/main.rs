//! Wiring only: settings validated once, clients built once, then the runtime.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use patch_group_tagger::config::TaggerConfig;
use patch_group_tagger::{Clients, Tagger};
use patchpilot_shared::budget::Budget;
use patchpilot_shared::{FunctionError, ProcessEnv, clients, logging};
use serde_json::Value;

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
    let tagger = &tagger;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = Budget::from_context(&event.context, tagger.deadline_margin());
        tagger.handle_within(event.payload, &budget).await
    }))
    .await
}
