//! The runtime loop of a function that is not built yet: shared settings validated at cold start,
//! logging, and every event refused with `Permanent.NotImplemented`, so nothing sent to it is dropped.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use crate::{CommonConfig, FunctionError, ProcessEnv, logging};

pub async fn run(function: &'static str) -> Result<(), Error> {
    logging::init();
    CommonConfig::from_env(&ProcessEnv).map_err(FunctionError::from)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        tracing::warn!(request_id = %event.context.request_id, function, "event refused: not implemented yet");
        Err::<Value, FunctionError>(FunctionError::NotImplemented(function))
    }))
    .await
}
