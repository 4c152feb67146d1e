//! Wiring only: settings validated once, clients built once, then the runtime.

use compliance_snapshot::Snapshot;
use compliance_snapshot::config::SnapshotConfig;
use lambda_runtime::Error;
use patchpilot_shared::{FunctionError, ProcessEnv, clients, logging, runtime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = SnapshotConfig::from_env(&ProcessEnv).map_err(FunctionError::from)?;
    let sdk = clients::load_sdk_config(&config.common).await;
    let snapshot = Snapshot::new(
        aws_sdk_ssm::Client::new(&sdk),
        aws_sdk_cloudwatch::Client::new(&sdk),
        aws_sdk_ec2::Client::new(&sdk),
        config,
    );
    let dead_letter = runtime::dead_letter_from_env(&sdk);
    runtime::serve(&snapshot, dead_letter.as_ref()).await
}
