//! DynamoDB helpers shared by the stores of patch-gate and install-alerts.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{FunctionError, HttpStatus};

/// One DynamoDB item, attribute name to value.
pub type Item = HashMap<String, AttributeValue>;

/// A table of items keyed by the string partition key `pk`, each expiring `ttl` after it is written
/// (DynamoDB's TTL on `expires_at`): the shape of both functions' state tables.
#[derive(Clone, Debug)]
pub struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
    ttl: Duration,
}

impl Table {
    /// The table `name`, through `client`, with items kept for `ttl`.
    pub fn new(client: aws_sdk_dynamodb::Client, name: String, ttl: Duration) -> Self {
        Self { client, name, ttl }
    }

    /// The client, for the writes each store shapes itself.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `expires_at` of an item written at `now`.
    pub fn expires_at(&self, now: DateTime<Utc>) -> AttributeValue {
        n((now + self.ttl).timestamp())
    }

    /// Reads the item keyed `key`, strongly consistent: both stores decide on what they read back,
    /// so a stale read could repeat a page or a production change.
    pub async fn get(&self, key: &str) -> Result<Option<Item>, FunctionError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| FunctionError::aws("dynamodb:GetItem", err))?;
        Ok(output.item)
    }
}

/// The string attribute `name` of `item`, if it is there and a string.
pub fn string_attribute(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|value| value.as_s().ok()).cloned()
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// An operation error that can say its condition expression was not met.
pub trait ConditionFailure {
    /// The write was refused because its condition did not hold.
    fn condition_failed(&self) -> bool;
}

impl ConditionFailure for PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailure for UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailure for DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// A conditional write's outcome: `Ok(true)` written, `Ok(false)` refused by its condition (an
/// expected outcome, not an error), otherwise the failure as `operation`'s error.
pub fn written<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &str,
) -> Result<bool, FunctionError>
where
    E: ConditionFailure + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(FunctionError::aws(operation, err)),
    }
}

/// Whether a conditional write failed because its condition did not hold (an expected outcome, not
/// an error), by the SDK's typed predicate.
pub fn is_condition_failure<E: ConditionFailure, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .is_some_and(ConditionFailure::condition_failed)
}

/// In-process doubles for the stores' tests: a client answering from `aws-smithy-mocks` rules.
#[cfg(feature = "dynamodb-mocks")]
pub mod mocks {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    /// A client answering each request from the next of `rules`, in order.
    pub fn client(rules: &[&Rule]) -> aws_sdk_dynamodb::Client {
        mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules)
    }

    /// A PutItem refused because its condition did not hold.
    pub fn refused_put() -> Rule {
        mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;

    /// A test's raw response: none, so no HTTP status.
    impl HttpStatus for () {
        fn http_status(&self) -> Option<u16> {
            None
        }
    }

    #[test]
    fn a_refused_condition_is_recognised_by_type_not_by_code() {
        // Built without error metadata: a code-string match would miss it.
        let refused: SdkError<PutItemError, ()> = SdkError::service_error(
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            ),
            (),
        );
        assert!(is_condition_failure(&refused));
        let other: SdkError<PutItemError, ()> = SdkError::timeout_error("slow");
        assert!(!is_condition_failure(&other));
        let written_ok: Result<(), SdkError<PutItemError, ()>> = Ok(());
        assert!(written(written_ok, "dynamodb:PutItem").unwrap());
        assert!(!written(Err::<(), _>(refused), "dynamodb:PutItem").unwrap());
        let failed = written(Err::<(), _>(other), "dynamodb:PutItem").unwrap_err();
        assert!(
            failed.to_string().starts_with("dynamodb:PutItem failed"),
            "{failed}"
        );
        assert_eq!(s("x"), AttributeValue::S("x".into()));
        assert_eq!(n(-3), AttributeValue::N("-3".into()));
    }
}
