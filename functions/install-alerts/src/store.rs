//! The DynamoDB table that makes alerts idempotent and bounds storms.
//!
//! Items (key `pk`, TTL attribute `expires_at`):
//! - `alert#<command>#<instance>#<status>` and `summary#<command>#<status>`: one per message, claimed with
//!   a conditional write before publishing and marked `sent` (or `suppressed`) after. A claim left
//!   `in_progress` by an invocation that died is taken over once its lease has passed; a publish that
//!   fails deletes the claim, so the retry can send.
//! - `storm#<command>` and `storm-run#<document>#<hour>`: the string sets of instances alerted for a
//!   command, and for every patch run of a document requested in one UTC hour (maintenance windows send
//!   one command per instance, so only this scope sees a window storm). An instance is admitted while
//!   the set is smaller than the threshold (or already holds it, so retries stay admitted): one
//!   conditional `ADD`, atomic across concurrent invocations.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use patchpilot_shared::FunctionError;

/// How long a claim protects a send in progress: longer than the function's timeout.
pub const LEASE_SECONDS: i64 = 120;
/// Added to the time left before the deadline: clock skew between Lambda hosts and DynamoDB.
pub const LEASE_SLACK_SECONDS: i64 = 30;

/// How long a claim is held: past the claiming invocation's own deadline (it cannot be running
/// after that), so no other invocation takes over a send still in flight, whatever the timeout.
/// Without a deadline (a tool), [`LEASE_SECONDS`].
pub fn lease_for(until_deadline: std::time::Duration) -> Duration {
    match i64::try_from(until_deadline.as_secs()) {
        Ok(seconds) if seconds < 24 * 3600 => {
            Duration::seconds(seconds.saturating_add(LEASE_SLACK_SECONDS))
        }
        _ => Duration::seconds(LEASE_SECONDS),
    }
}

/// The result of trying to claim a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This invocation sends it.
    Claimed,
    /// Already handled (`sent` or `suppressed`): a duplicate event.
    Done { state: String },
    /// Another invocation is sending it right now.
    InProgress,
}

#[derive(Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .and_then(|service| service.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, ttl_hours: i64) -> Self {
        Self {
            client,
            table,
            ttl: Duration::hours(ttl_hours),
        }
    }

    /// Claims `key` for sending, for `lease` (see [`lease_for`]).
    pub async fn claim(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, FunctionError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(key))
            .item("state", s("in_progress"))
            .item("lease_until", n((now + lease).timestamp()))
            .item("expires_at", n((now + self.ttl).timestamp()))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :in_progress AND lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) if is_condition_failure(&err) => {
                let state = self.state(key).await?;
                Ok(match state.as_deref() {
                    Some("in_progress") => Claim::InProgress,
                    Some(state) => Claim::Done {
                        state: state.to_owned(),
                    },
                    // Expired and removed between the two calls: treat as in progress, the retry will see.
                    None => Claim::InProgress,
                })
            }
            Err(err) => Err(FunctionError::aws("dynamodb:PutItem", err)),
        }
    }

    async fn state(&self, key: &str) -> Result<Option<String>, FunctionError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| FunctionError::aws("dynamodb:GetItem", err))?;
        Ok(item
            .item()
            .and_then(|item| item.get("state"))
            .and_then(|value| value.as_s().ok())
            .cloned())
    }

    /// Marks a claimed message as finished (`sent` or `suppressed`), with the SNS message id if any.
    pub async fn complete(
        &self,
        key: &str,
        state: &str,
        message_id: Option<&str>,
    ) -> Result<(), FunctionError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET #state = :state, message_id = :message_id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state));
        update = update.expression_attribute_values(
            ":message_id",
            message_id.map_or(AttributeValue::Null(true), s),
        );
        update
            .send()
            .await
            .map(|_| ())
            .map_err(|err| FunctionError::aws("dynamodb:UpdateItem", err))
    }

    /// Gives a claim back after a failed publish, so the retry is not mistaken for a duplicate.
    pub async fn release(&self, key: &str) -> Result<(), FunctionError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(FunctionError::aws("dynamodb:DeleteItem", err)),
        }
    }

    /// Whether `instance_id` may have its own alert in storm scope `scope` (`storm#<command>` or
    /// `storm-run#<document>#<hour>`): true for the first `threshold` instances (and again for any of
    /// them), false once the scope is storming.
    pub async fn admit(
        &self,
        scope: &str,
        instance_id: &str,
        threshold: usize,
        now: DateTime<Utc>,
    ) -> Result<bool, FunctionError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(scope))
            .update_expression("ADD alerted :instance SET expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(alerted) OR size(alerted) < :threshold OR contains(alerted, :id)",
            )
            .expression_attribute_values(":instance", AttributeValue::Ss(vec![instance_id.to_owned()]))
            .expression_attribute_values(":id", s(instance_id))
            .expression_attribute_values(":threshold", n(threshold as i64))
            .expression_attribute_values(":expires", n((now + self.ttl).timestamp()))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(FunctionError::aws("dynamodb:UpdateItem", err)),
        }
    }

    /// The instances that had their own alert in storm scope `scope`.
    pub async fn alerted(&self, scope: &str) -> Result<Vec<String>, FunctionError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(scope))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| FunctionError::aws("dynamodb:GetItem", err))?;
        let empty = HashMap::new();
        let mut alerted = item
            .item()
            .unwrap_or(&empty)
            .get("alerted")
            .and_then(|value| value.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        alerted.sort();
        Ok(alerted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlives_the_claiming_invocation() {
        use std::time::Duration as Std;
        assert_eq!(lease_for(Std::from_secs(58)), Duration::seconds(88));
        assert_eq!(lease_for(Std::from_secs(895)), Duration::seconds(925));
        assert_eq!(lease_for(Std::ZERO), Duration::seconds(LEASE_SLACK_SECONDS));
        assert_eq!(
            lease_for(Std::MAX),
            Duration::seconds(LEASE_SECONDS),
            "no deadline: the fixed lease"
        );
    }
}
