//! What every patchpilot function stands on.
//!
//! - [`aws`]: the AWS layer (DynamoDB helpers behind feature `dynamodb`).
//! - [`budget`]: the invocation's deadline less a safety margin, so long work stops cleanly and reports.
//! - [`events`]: typed models of the EventBridge events the functions consume, tolerant of what real
//!   accounts send (unknown fields, omitted fields, new status values, string-encoded parameters).
//! - [`config`]: environment variables into typed settings, validated once at cold start.
//! - [`clients`]: the shared AWS SDK configuration (endpoint overrides, retry policy).
//! - [`logging`]: structured logs honouring Lambda's log-format and log-level settings.
//! - [`error`]: one error type that tells retryable failures from permanent ones.
//! - [`dead_letter`]: events that can never be handled go to the failure queue at once, not retried.
//! - [`live_values`]: values the live service spells differently from the SDK's model, read in both
//!   spellings.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`runtime`]: the [`runtime::Handler`] every function implements, and the Lambda loop serving it.

pub mod aws;
pub mod budget;
pub mod clients;
pub mod config;
pub mod dead_letter;
pub mod error;
pub mod events;
pub mod live_values;
pub mod logging;
pub mod metrics;
pub mod runtime;

/// The two tag keys Patch Manager reads a patch group from, in the order they are preferred: `Patch
/// Group` (the documented key) and `PatchGroup` (for instances with instance-metadata tags, which
/// refuse keys with spaces).
pub const PATCH_GROUP_TAG_KEYS: [&str; 2] = ["Patch Group", "PatchGroup"];

/// [`PATCH_GROUP_TAG_KEYS`] as owned strings: the default of every `PATCH_GROUP_TAG_KEYS` setting.
pub fn default_patch_group_tag_keys() -> Vec<String> {
    PATCH_GROUP_TAG_KEYS
        .iter()
        .map(|key| (*key).to_owned())
        .collect()
}

/// The Run Command documents that patch, as Patch Manager and maintenance windows run them.
pub const PATCH_DOCUMENTS: &[&str] = &[
    "AWS-RunPatchBaseline",
    "AWS-RunPatchBaselineAssociation",
    "AWS-RunPatchBaselineWithHooks",
];

pub use config::{CommonConfig, ConfigError, EnvSource, ProcessEnv};
pub use error::{ErrorClass, FunctionError};
pub use events::{Event, EventError, EventMeta};
