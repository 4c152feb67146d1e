//! Events that can never be handled go to the failure queue at once, not after Lambda's retries.
//!
//! Lambda retries an asynchronous invocation that returned an error (twice by default), whatever the
//! error: a `Permanent.*` failure (a malformed event, a refusal, access denied) would run three times
//! for nothing before it reached the on-failure destination. For such an event the function sends it
//! to the failure queue itself, in the shape Lambda's destination records have, and ends `Ok` with a
//! `dead_lettered` report, so it is kept for triage and replay and not retried. If that send fails,
//! the original error goes back to Lambda, which retries and dead-letters as before: nothing is lost.
//! Synchronous requests (operator requests, which carry no `detail-type`) get the error itself.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::error::{ErrorClass, FunctionError};

/// The variable naming the failure queue (template.yaml sets it to the stack's `FailureQueue`).
pub const QUEUE_VARIABLE: &str = "FAILURE_QUEUE_URL";

/// What to do with a failed invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Return the error to Lambda (it retries, then dead-letters; or the caller sees it).
    Return,
    /// Send the event to the failure queue now and end `Ok`.
    DeadLetter,
}

/// Permanent failures of asynchronous events (EventBridge's, which carry `detail-type`) are
/// dead-lettered at once; everything else is returned.
pub fn disposition(error: &FunctionError, payload: &Value) -> Disposition {
    let asynchronous = payload.get("detail-type").is_some();
    match error.class() {
        ErrorClass::Permanent if asynchronous => Disposition::DeadLetter,
        _ => Disposition::Return,
    }
}

/// The queue message: the shape of Lambda's on-failure destination record, so whatever reads the
/// queue reads both alike.
pub fn record(function: &str, request_id: &str, payload: &Value, error: &FunctionError) -> Value {
    json!({
        "version": "1.0",
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function,
            "condition": "PermanentError",
            "approximateInvokeCount": 1
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": error.error_type(), "errorMessage": error.to_string()}
    })
}

/// The failure queue, as a function sends to it.
#[derive(Clone)]
pub struct DeadLetter {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl DeadLetter {
    /// The queue at `queue_url`.
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// Sends the failed event; the report the invocation returns instead of the error.
    pub async fn send(
        &self,
        function: &str,
        request_id: &str,
        payload: &Value,
        error: &FunctionError,
    ) -> Result<Value, FunctionError> {
        let body = record(function, request_id, payload, error);
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body.to_string())
            .send()
            .await
            .map_err(|err| FunctionError::aws("sqs:SendMessage", err))?;
        Ok(json!({
            "outcome": "dead_lettered",
            "error_type": error.error_type(),
            "error": error.to_string(),
            "queue": self.queue_url,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn event() -> Value {
        json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
    }

    #[test]
    fn only_permanent_failures_of_events_are_dead_lettered_at_once() {
        let refused = FunctionError::Refused("no".into());
        let later = FunctionError::StoppedForTime("later".into());
        assert_eq!(disposition(&refused, &event()), Disposition::DeadLetter);
        assert_eq!(disposition(&later, &event()), Disposition::Return);
        // An operator's synchronous request: the caller gets the refusal itself.
        let request = json!({"operator_request": {"action": "hold"}});
        assert_eq!(disposition(&refused, &request), Disposition::Return);
    }

    #[tokio::test]
    async fn the_event_goes_to_the_queue_in_the_destination_record_shape() {
        let sent = mock!(aws_sdk_sqs::Client::send_message)
            .match_requests(|req| {
                let body: Value = serde_json::from_str(req.message_body().unwrap()).unwrap();
                req.queue_url() == Some("https://sqs/failures")
                    && body["requestPayload"]["detail-type"] == "Scheduled Event"
                    && body["responsePayload"]["errorType"] == "Permanent.Refused"
                    && body["requestContext"]["condition"] == "PermanentError"
            })
            .then_output(|| SendMessageOutput::builder().message_id("m").build());
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::Sequential, &[&sent]);
        let report = DeadLetter::new(sqs, "https://sqs/failures")
            .send(
                "patch-gate",
                "r-1",
                &event(),
                &FunctionError::Refused("no".into()),
            )
            .await
            .unwrap();
        assert_eq!(report["outcome"], "dead_lettered");
        assert_eq!(sent.num_calls(), 1);

        // The queue refuses: the error is the send's, so the caller returns the original one.
        let refused = mock!(aws_sdk_sqs::Client::send_message).then_error(|| {
            SendMessageError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .build(),
            )
        });
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::Sequential, &[&refused]);
        assert!(
            DeadLetter::new(sqs, "q")
                .send("f", "r", &event(), &FunctionError::Refused("no".into()))
                .await
                .is_err()
        );
    }
}
