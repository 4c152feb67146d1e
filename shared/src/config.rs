//! Configuration from environment variables, validated once at cold start.
//!
//! Functions read variables through [`EnvSource`] so tests can hand them a map instead of mutating the
//! process environment. Every failure names the variable and the form it expects.

use std::collections::HashMap;
use std::str::FromStr;

/// Where variables come from.
pub trait EnvSource {
    /// The variable's value, if it is set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvSource for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|value| (*value).to_owned())
    }
}

/// A variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {variable} is not set; expected {expected}")]
    Missing {
        /// The variable's name.
        variable: String,
        /// What it should hold.
        expected: String,
    },
    /// A variable is set to something it cannot hold.
    #[error("environment variable {variable}={value:?} is invalid; expected {expected}")]
    Invalid {
        /// The variable's name.
        variable: String,
        /// What it holds.
        value: String,
        /// What it should hold.
        expected: String,
    },
}

/// Typed reads over an [`EnvSource`]. Empty and whitespace-only values count as unset.
pub struct Vars<'a, E: EnvSource + ?Sized> {
    source: &'a E,
}

impl<'a, E: EnvSource + ?Sized> Vars<'a, E> {
    /// Reads from `source`.
    pub fn new(source: &'a E) -> Self {
        Self { source }
    }

    /// The trimmed value, if set and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.source
            .var(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value of `name`; an error saying what was `expected` when it is unset.
    pub fn required(&self, name: &str, expected: &str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::Missing {
            variable: name.to_owned(),
            expected: expected.to_owned(),
        })
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, any case); `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(self.invalid(name, &value, "true or false")),
            },
        }
    }

    /// A number within `min..=max`; `default` when unset.
    pub fn number<T>(&self, name: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(value) => match value.parse::<T>() {
                Ok(number) if number >= min && number <= max => Ok(number),
                _ => Err(self.invalid(name, &value, &format!("a number from {min} to {max}"))),
            },
        }
    }

    /// One of `choices` (case-insensitive), returned in the case given in `choices`.
    pub fn choice(
        &self,
        name: &str,
        default: &'static str,
        choices: &[&'static str],
    ) -> Result<&'static str, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(value) => choices
                .iter()
                .copied()
                .find(|choice| choice.eq_ignore_ascii_case(&value))
                .ok_or_else(|| {
                    self.invalid(name, &value, &format!("one of {}", choices.join(", ")))
                }),
        }
    }

    /// A comma-separated list, entries trimmed, empty entries dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|value| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The error for `name` holding `value` where `expected` was due.
    pub fn invalid(&self, name: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            variable: name.to_owned(),
            value: value.to_owned(),
            expected: expected.to_owned(),
        }
    }
}

/// How the SDK retries throttling and transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// The SDK's standard mode: exponential backoff with jitter, a retry quota.
    Standard,
    /// Standard plus client-side rate limiting that slows down on throttling.
    Adaptive,
}

/// Settings every function shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    /// `DRY_RUN`: decide and report everything, change nothing.
    pub dry_run: bool,
    /// `RETRY_MODE`: `standard` (default) or `adaptive` (client-side rate limiting once throttled).
    pub retry_mode: RetryMode,
    /// `RETRY_MAX_ATTEMPTS`: total attempts per call, 1 to 20 (default 5).
    pub retry_max_attempts: u32,
    /// `DEADLINE_MARGIN_SECONDS`: time kept before the invocation's deadline to publish and report,
    /// 1 to 120; unset, 5 % of the invocation's time between 3 and 30 seconds (see [`crate::budget`]).
    pub deadline_margin: Option<std::time::Duration>,
}

impl CommonConfig {
    /// Reads and validates the shared variables from `source`.
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Result<Self, ConfigError> {
        let vars = Vars::new(source);
        Ok(Self {
            dry_run: vars.flag("DRY_RUN", false)?,
            // Standard by default, as the AWS SDKs' guide recommends for most workloads; a bulk
            // reader (compliance-snapshot) defaults to adaptive in its own settings.
            retry_mode: match vars.choice("RETRY_MODE", "standard", &["standard", "adaptive"])? {
                "adaptive" => RetryMode::Adaptive,
                _ => RetryMode::Standard,
            },
            retry_max_attempts: vars.number("RETRY_MAX_ATTEMPTS", 5, 1, 20)?,
            deadline_margin: match vars.optional("DEADLINE_MARGIN_SECONDS") {
                None => None,
                Some(_) => Some(std::time::Duration::from_secs(vars.number(
                    "DEADLINE_MARGIN_SECONDS",
                    0,
                    1,
                    120,
                )?)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let config = CommonConfig::from_env(&env(&[])).unwrap();
        assert_eq!(
            config,
            CommonConfig {
                dry_run: false,
                retry_mode: RetryMode::Standard,
                retry_max_attempts: 5,
                deadline_margin: None,
            }
        );
    }

    #[test]
    fn values_are_parsed() {
        let config = CommonConfig::from_env(&env(&[
            ("DRY_RUN", "TRUE"),
            ("RETRY_MODE", "Adaptive"),
            ("RETRY_MAX_ATTEMPTS", " 8 "),
            ("DEADLINE_MARGIN_SECONDS", "12"),
        ]))
        .unwrap();
        assert_eq!(
            config.deadline_margin,
            Some(std::time::Duration::from_secs(12))
        );
        assert!(config.dry_run);
        assert_eq!(config.retry_mode, RetryMode::Adaptive);
        assert_eq!(config.retry_max_attempts, 8);
    }

    #[test]
    fn errors_name_the_variable_and_the_expected_form() {
        let err = CommonConfig::from_env(&env(&[("DRY_RUN", "maybe")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable DRY_RUN=\"maybe\" is invalid; expected true or false"
        );
        let err = CommonConfig::from_env(&env(&[("RETRY_MAX_ATTEMPTS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RETRY_MAX_ATTEMPTS") && err.contains("from 1 to 20"),
            "{err}"
        );
        let err = CommonConfig::from_env(&env(&[("DEADLINE_MARGIN_SECONDS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DEADLINE_MARGIN_SECONDS") && err.contains("from 1 to 120"),
            "{err}"
        );
        let err = CommonConfig::from_env(&env(&[("RETRY_MODE", "eager")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RETRY_MODE") && err.contains("standard, adaptive"),
            "{err}"
        );
        let vars_env = env(&[("BLANK", "  ")]);
        let vars = Vars::new(&vars_env);
        let err = vars
            .required("BLANK", "a topic ARN")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable BLANK is not set; expected a topic ARN"
        );
    }

    #[test]
    fn lists_drop_empty_entries() {
        let source = env(&[("PATCH_GROUPS", " web, ,db ,")]);
        assert_eq!(Vars::new(&source).list("PATCH_GROUPS"), vec!["web", "db"]);
    }
}
