//! DynamoDB helpers shared by the stores of patch-gate and install-alerts.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

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

/// Whether a conditional write failed because its condition did not hold (an expected outcome, not
/// an error), by the SDK's typed predicate.
pub fn is_condition_failure<E: ConditionFailure, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .is_some_and(ConditionFailure::condition_failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;

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
        assert_eq!(s("x"), AttributeValue::S("x".into()));
        assert_eq!(n(-3), AttributeValue::N("-3".into()));
    }
}
