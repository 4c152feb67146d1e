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

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::dynamodb::{
    Table, is_condition_failure, n, s, string_attribute, written,
};

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
    Done {
        /// What was done with it.
        state: String,
    },
    /// Another invocation is sending it right now.
    InProgress,
}

/// Deduplication and storm-control records (DynamoDB).
#[derive(Clone)]
pub struct Store {
    table: Table,
}

impl Store {
    /// The store on `table`, records kept `ttl_hours`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, ttl_hours: i64) -> Self {
        Self {
            table: Table::new(client, table, Duration::hours(ttl_hours)),
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
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(key))
            .item("state", s("in_progress"))
            .item("lease_until", n((now + lease).timestamp()))
            .item("expires_at", self.table.expires_at(now))
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
        Ok(self
            .table
            .get(key)
            .await?
            .and_then(|item| string_attribute(&item, "state")))
    }

    /// Marks a claimed message as finished (`sent` or `suppressed`), with the SNS message id if any.
    pub async fn complete(
        &self,
        key: &str,
        state: &str,
        message_id: Option<&str>,
    ) -> Result<(), FunctionError> {
        let mut update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
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
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s(key))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        // Refused: the claim was completed or taken over meanwhile; nothing to release.
        written(deleted, "dynamodb:DeleteItem").map(|_| ())
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
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(scope))
            .update_expression("ADD alerted :instance SET expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(alerted) OR size(alerted) < :threshold OR contains(alerted, :id)",
            )
            .expression_attribute_values(":instance", AttributeValue::Ss(vec![instance_id.to_owned()]))
            .expression_attribute_values(":id", s(instance_id))
            .expression_attribute_values(":threshold", n(threshold as i64))
            .expression_attribute_values(":expires", self.table.expires_at(now))
            .send()
            .await;
        written(update, "dynamodb:UpdateItem")
    }

    /// The instances that had their own alert in storm scope `scope`.
    pub async fn alerted(&self, scope: &str) -> Result<Vec<String>, FunctionError> {
        let mut alerted = self
            .table
            .get(scope)
            .await?
            .and_then(|item| {
                item.get("alerted")
                    .and_then(|value| value.as_ss().ok())
                    .cloned()
            })
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

/// In-process tests of every conditional write, lease and failure path, with the DynamoDB client
/// answered by `aws-smithy-mocks`: no service needed, and paths a real table rarely shows (a claim
/// that expired between the write and the read, a throttled write) are as easy as the happy one.
/// The moto-backed tests in `tests/localstack.rs` stay for what only a real evaluator proves.
#[cfg(test)]
mod mocked {
    use super::*;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
    use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
    };
    use aws_smithy_mocks::{Rule, mock};
    use chrono::TimeZone;
    use patchpilot_shared::aws::dynamodb::mocks::{self, refused_put};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 3, 0, 0).unwrap()
    }

    fn store(rules: &[&Rule]) -> Store {
        Store::new(mocks::client(rules), "alerts".into(), 72)
    }

    fn state_is(state: Option<&'static str>) -> Rule {
        mock!(Client::get_item)
            .match_requests(|req| req.consistent_read() == Some(true))
            .then_output(move || {
                let mut output = GetItemOutput::builder();
                if let Some(state) = state {
                    output = output.item("state", AttributeValue::S(state.to_owned()));
                }
                output.build()
            })
    }

    #[tokio::test]
    async fn a_free_key_is_claimed_with_a_lease_and_a_take_over_condition() {
        let lease = Duration::seconds(88);
        let put = mock!(Client::put_item)
            .match_requests(move |req| {
                let item = req.item().unwrap();
                let values = req.expression_attribute_values().unwrap();
                req.table_name() == Some("alerts")
                    && item["pk"] == AttributeValue::S("alert#c#i#Failed".into())
                    && item["state"] == AttributeValue::S("in_progress".into())
                    && item["lease_until"] == AttributeValue::N((now() + lease).timestamp().to_string())
                    && item["expires_at"] == AttributeValue::N((now() + Duration::hours(72)).timestamp().to_string())
                    // An expired lease is taken over: the condition compares it with now.
                    && req.condition_expression()
                        == Some("attribute_not_exists(pk) OR (#state = :in_progress AND lease_until < :now)")
                    && values[":now"] == AttributeValue::N(now().timestamp().to_string())
            })
            .then_output(|| PutItemOutput::builder().build());
        let store = store(&[&put]);
        assert_eq!(
            store.claim("alert#c#i#Failed", now(), lease).await.unwrap(),
            Claim::Claimed
        );
        assert_eq!(
            put.num_calls(),
            1,
            "the request carried the lease and the condition"
        );
    }

    #[tokio::test]
    async fn a_held_claim_is_in_progress_a_finished_one_a_duplicate() {
        for (state, expected) in [
            (Some("in_progress"), Claim::InProgress),
            (
                Some("sent"),
                Claim::Done {
                    state: "sent".into(),
                },
            ),
            (
                Some("suppressed"),
                Claim::Done {
                    state: "suppressed".into(),
                },
            ),
            // Expired and removed between the write and the read: the retry will see.
            (None, Claim::InProgress),
        ] {
            let (put, get) = (refused_put(), state_is(state));
            let store = store(&[&put, &get]);
            assert_eq!(
                store
                    .claim("k", now(), Duration::seconds(60))
                    .await
                    .unwrap(),
                expected,
                "{state:?}"
            );
            assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
        }
    }

    #[tokio::test]
    async fn a_throttled_claim_is_a_retryable_error_naming_the_call() {
        let put = mock!(Client::put_item).then_error(|| {
            // As the service sends it: the code in the error's metadata.
            PutItemError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder()
                    .message("slow down")
                    .meta(
                        aws_sdk_dynamodb::error::ErrorMetadata::builder()
                            .code("ProvisionedThroughputExceededException")
                            .message("slow down")
                            .build(),
                    )
                    .build(),
            )
        });
        let store = store(&[&put]);
        let err = store
            .claim("k", now(), Duration::seconds(60))
            .await
            .unwrap_err();
        assert_eq!(
            err.error_type(),
            "Retryable.Aws.ProvisionedThroughputExceededException"
        );
        assert!(
            err.to_string().starts_with("dynamodb:PutItem failed"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn release_deletes_only_a_claim_still_in_progress() {
        let delete = mock!(Client::delete_item)
            .match_requests(|req| req.condition_expression() == Some("#state = :in_progress"))
            .then_output(|| DeleteItemOutput::builder().build());
        store(&[&delete]).release("k").await.unwrap();
        assert_eq!(delete.num_calls(), 1);
        // Already completed by someone else: nothing to give back, not an error.
        let finished = mock!(Client::delete_item).then_error(|| {
            DeleteItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        store(&[&finished]).release("k").await.unwrap();
        assert_eq!(finished.num_calls(), 1);
    }

    #[tokio::test]
    async fn admission_is_one_conditional_add_and_a_full_scope_says_no() {
        let admitted = mock!(Client::update_item)
            .match_requests(|req| {
                let values = req.expression_attribute_values().unwrap();
                req.update_expression() == Some("ADD alerted :instance SET expires_at = :expires")
                    && values[":threshold"] == AttributeValue::N("10".into())
                    && values[":instance"] == AttributeValue::Ss(vec!["i-1".into()])
            })
            .then_output(|| UpdateItemOutput::builder().build());
        assert!(
            store(&[&admitted])
                .admit("storm#c", "i-1", 10, now())
                .await
                .unwrap()
        );
        assert_eq!(admitted.num_calls(), 1);
        let full = mock!(Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        assert!(
            !store(&[&full])
                .admit("storm#c", "i-11", 10, now())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn complete_records_the_state_and_the_message_id() {
        let complete = mock!(Client::update_item)
            .match_requests(|req| {
                let values = req.expression_attribute_values().unwrap();
                values[":state"] == AttributeValue::S("sent".into())
                    && values[":message_id"] == AttributeValue::S("m-1".into())
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let no_id = mock!(Client::update_item)
            .match_requests(|req| {
                req.expression_attribute_values().unwrap()[":message_id"]
                    == AttributeValue::Null(true)
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let store = store(&[&complete, &no_id]);
        store.complete("k", "sent", Some("m-1")).await.unwrap();
        store.complete("k", "suppressed", None).await.unwrap();
        assert_eq!((complete.num_calls(), no_id.num_calls()), (1, 1));
    }
}
