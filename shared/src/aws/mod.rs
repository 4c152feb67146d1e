//! The AWS layer the functions share, each service behind a cargo feature so a function links only
//! the SDKs it calls (the tagger's binary carries no DynamoDB client).
//!
//! - [`dynamodb`] (feature `dynamodb`): attribute values and the conditional-write test, read with
//!   the SDK's typed error predicates rather than by code string.
//! - [`pages`]: paginated reads page by page, a failure typed as its operation's error.
//! - [`sns`]: the one subject sanitiser and the JSON envelope every notification goes through.
//! - [`ssm`] (feature `ssm`): the Systems Manager reads more than one function makes.
//! - [`time`]: the SDK's timestamps as `chrono` times.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod pages;
pub mod sns;
#[cfg(feature = "ssm")]
pub mod ssm;
pub mod time;
