//! The AWS layer the functions share, each service behind a cargo feature so a function links only
//! the SDKs it calls (the tagger's binary carries no DynamoDB client).
//!
//! - [`dynamodb`] (feature `dynamodb`): attribute values and the conditional-write test, read with
//!   the SDK's typed error predicates rather than by code string.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
