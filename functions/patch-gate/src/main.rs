//! patch-gate: planned (see the README). The binary already has its final wiring — shared settings validated
//! at cold start, logging — and refuses every event with `Permanent.NotImplemented`, so nothing sent
//! to it is silently dropped.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use patchpilot_shared::{CommonConfig, FunctionError, ProcessEnv, logging};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    CommonConfig::from_env(&ProcessEnv).map_err(FunctionError::from)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        tracing::warn!(request_id = %event.context.request_id, "event refused: patch-gate is not implemented yet");
        Err::<Value, FunctionError>(FunctionError::NotImplemented("patch-gate"))
    }))
    .await
}
