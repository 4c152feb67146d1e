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
/// inside a [`Budget`] drawn from its own deadline.
pub async fn serve<H: Handler>(handler: &H) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = Budget::from_context(&event.context, handler.common().deadline_margin);
        handler.handle_within(event.payload, &budget).await
    }))
    .await
}
