//! The Lambda side every function shares: one event in, a report out, inside the invocation's deadline.
//!
//! A function implements [`Handler`]; its `main.rs` builds it once and hands it to [`serve`]. Tools,
//! tests and benchmarks drive the same handler in-process with [`Handler::handle`].

use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::budget::Budget;
use crate::config::CommonConfig;
use crate::dead_letter::{DeadLetter, Disposition, disposition};
use crate::error::FunctionError;

/// What handling one event ends in: the handler's report, or a typed error for Lambda.
pub type Handled<H> = Result<<H as Handler>::Report, FunctionError>;

/// One patchpilot function: an event in, a typed report (the invocation's output) out.
pub trait Handler: Sync {
    /// What an invocation returns (and logs).
    type Report: Serialize;

    /// The settings every function shares (the deadline margin among them).
    fn common(&self) -> &CommonConfig;

    /// Handles one event inside `budget`: work that would run past the stop time is left undone and
    /// reported, as each function's documentation says.
    fn handle_within(
        &self,
        payload: Value,
        budget: &Budget,
    ) -> impl Future<Output = Handled<Self>> + Send;

    /// [`Handler::handle_within`] with no deadline: a tool, test or benchmark driving it in-process.
    fn handle(&self, payload: Value) -> impl Future<Output = Handled<Self>> + Send {
        async move { self.handle_within(payload, &Budget::unbounded()).await }
    }
}

/// Runs `handler` under the Lambda runtime until the execution environment ends, each invocation
/// inside a [`Budget`] drawn from its own deadline. With `dead_letter`, an event that failed for good
/// goes to the failure queue at once instead of through Lambda's retries ([`crate::dead_letter`]).
pub async fn serve<H: Handler>(
    handler: &H,
    dead_letter: Option<&DeadLetter>,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = Budget::from_context(&event.context, handler.common().deadline_margin);
        let payload = event.payload;
        let kept = dead_letter.map(|_| payload.clone());
        let error = match handler.handle_within(payload, &budget).await {
            Ok(report) => return Ok(serde_json::to_value(report).unwrap_or(Value::Null)),
            Err(error) => error,
        };
        let (Some(queue), Some(payload)) = (dead_letter, kept) else {
            return Err(error);
        };
        if disposition(&error, &payload) == Disposition::Return {
            return Err(error);
        }
        let context = &event.context;
        match queue
            .send(&context.invoked_function_arn, &context.request_id, &payload, &error)
            .await
        {
            Ok(report) => {
                tracing::error!(error_type = %error.error_type(), error = %error, "the event can never be handled: sent to the failure queue, not retried");
                Ok(report)
            }
            Err(send) => {
                tracing::error!(error = %send, "could not send the failed event to the failure queue; Lambda retries it");
                Err(error)
            }
        }
    }))
    .await
}

/// The failure queue named by `FAILURE_QUEUE_URL`, if set.
pub fn dead_letter_from_env(sdk: &aws_config::SdkConfig) -> Option<DeadLetter> {
    let url = std::env::var(crate::dead_letter::QUEUE_VARIABLE).ok()?;
    (!url.trim().is_empty()).then(|| DeadLetter::new(aws_sdk_sqs::Client::new(sdk), url))
}
