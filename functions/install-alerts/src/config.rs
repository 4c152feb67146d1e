//! install-alerts' settings, validated once at cold start.

use patchpilot_shared::config::{CommonConfig, ConfigError, EnvSource, Vars};

/// The patch documents alerts are raised for when `PATCH_DOCUMENTS` is unset.
pub use patchpilot_shared::PATCH_DOCUMENTS as DEFAULT_DOCUMENTS;

/// install-alerts' settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// The settings every function shares.
    pub common: CommonConfig,
    /// `ALERT_TOPIC_ARN`: where alerts are published.
    pub topic_arn: String,
    /// `STATE_TABLE` (formerly `IDEMPOTENCY_TABLE`, still read): the DynamoDB table that remembers what was sent (key `pk`, TTL `expires_at`).
    pub table: String,
    /// `PATCH_DOCUMENTS`: document names (comma-separated) whose failures page.
    pub documents: Vec<String>,
    /// `ALERT_STORM_THRESHOLD`: per-instance alerts per command before the rest are summarised.
    pub storm_threshold: usize,
    /// `SUMMARY_MAX_INSTANCES`: instances a storm summary lists by name.
    pub summary_max_instances: usize,
    /// `OUTPUT_TAIL_BYTES`: how much of the end of stdout and stderr an alert quotes.
    pub output_tail_bytes: usize,
    /// `MAX_LISTED_PATCHES`: failed patches an alert lists (the count covers all of them).
    pub max_listed_patches: usize,
    /// `IDEMPOTENCY_TTL_HOURS`: how long a sent alert suppresses duplicates.
    pub idempotency_ttl_hours: i64,
}

impl AlertsConfig {
    /// Reads and validates the settings from `source`.
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Result<Self, ConfigError> {
        let vars = Vars::new(source);
        let topic_arn = vars.required("ALERT_TOPIC_ARN", "an SNS topic ARN")?;
        if !topic_arn.starts_with("arn:") || topic_arn.split(':').count() != 6 {
            return Err(vars.invalid(
                "ALERT_TOPIC_ARN",
                &topic_arn,
                "an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)",
            ));
        }
        let mut documents = vars.list("PATCH_DOCUMENTS");
        if documents.is_empty() {
            documents = DEFAULT_DOCUMENTS.iter().map(|d| (*d).to_owned()).collect();
        }
        Ok(Self {
            common: CommonConfig::from_env(source)?,
            topic_arn,
            table: state_table(&vars)?,
            documents,
            storm_threshold: vars.number("ALERT_STORM_THRESHOLD", 10, 1, 1000)?,
            summary_max_instances: vars.number("SUMMARY_MAX_INSTANCES", 20, 1, 500)?,
            output_tail_bytes: vars.number("OUTPUT_TAIL_BYTES", 4096, 0, 65536)?,
            max_listed_patches: vars.number("MAX_LISTED_PATCHES", 200, 1, 5000)?,
            idempotency_ttl_hours: vars.number("IDEMPOTENCY_TTL_HOURS", 72, 1, 24 * 90)?,
        })
    }
}

/// `STATE_TABLE`, the one name every function uses for the stack's table. `IDEMPOTENCY_TABLE`, its
/// name before, is still read, with a deprecation line in the log.
fn state_table<E: EnvSource + ?Sized>(vars: &Vars<'_, E>) -> Result<String, ConfigError> {
    if let Some(table) = vars.optional("STATE_TABLE") {
        return Ok(table);
    }
    match vars.optional("IDEMPOTENCY_TABLE") {
        Some(table) => {
            tracing::warn!(
                "IDEMPOTENCY_TABLE is deprecated and will be removed: set STATE_TABLE (the same table)"
            );
            Ok(table)
        }
        None => vars.required("STATE_TABLE", "a DynamoDB table name"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:patchpilot-alerts";

    #[test]
    fn defaults() {
        let env: HashMap<&str, &str> =
            [("ALERT_TOPIC_ARN", TOPIC), ("IDEMPOTENCY_TABLE", "t")].into();
        let config = AlertsConfig::from_env(&env).unwrap();
        assert_eq!(config.storm_threshold, 10);
        assert_eq!(config.documents, DEFAULT_DOCUMENTS);
        assert_eq!(config.topic_arn, TOPIC);
    }

    #[test]
    fn errors_name_the_variable() {
        let env: HashMap<&str, &str> = [("IDEMPOTENCY_TABLE", "t")].into();
        let err = AlertsConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("ALERT_TOPIC_ARN"), "{err}");
        let env: HashMap<&str, &str> =
            [("ALERT_TOPIC_ARN", "my-topic"), ("IDEMPOTENCY_TABLE", "t")].into();
        let err = AlertsConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("ALERT_TOPIC_ARN=\"my-topic\""), "{err}");
        let env: HashMap<&str, &str> = [
            ("ALERT_TOPIC_ARN", TOPIC),
            ("IDEMPOTENCY_TABLE", "t"),
            ("ALERT_STORM_THRESHOLD", "0"),
        ]
        .into();
        let err = AlertsConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("ALERT_STORM_THRESHOLD"), "{err}");
    }

    #[test]
    fn the_table_is_state_table_and_the_old_name_still_works() {
        let env: HashMap<&str, &str> = [("ALERT_TOPIC_ARN", TOPIC), ("STATE_TABLE", "new")].into();
        assert_eq!(AlertsConfig::from_env(&env).unwrap().table, "new");
        let env: HashMap<&str, &str> = [
            ("ALERT_TOPIC_ARN", TOPIC),
            ("STATE_TABLE", "new"),
            ("IDEMPOTENCY_TABLE", "old"),
        ]
        .into();
        assert_eq!(AlertsConfig::from_env(&env).unwrap().table, "new");
        let env: HashMap<&str, &str> = [("ALERT_TOPIC_ARN", TOPIC)].into();
        let err = AlertsConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("STATE_TABLE is not set"), "{err}");
    }

    #[test]
    fn documents_are_configurable() {
        let env: HashMap<&str, &str> = [
            ("ALERT_TOPIC_ARN", TOPIC),
            ("IDEMPOTENCY_TABLE", "t"),
            ("PATCH_DOCUMENTS", "Custom-Patch, AWS-RunPatchBaseline"),
        ]
        .into();
        let config = AlertsConfig::from_env(&env).unwrap();
        assert_eq!(config.documents, ["Custom-Patch", "AWS-RunPatchBaseline"]);
    }
}
