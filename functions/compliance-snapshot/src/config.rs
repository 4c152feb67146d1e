//! compliance-snapshot's settings, validated once at cold start.

use chrono::Duration;
use patchpilot_shared::config::{CommonConfig, ConfigError, EnvSource, RetryMode, Vars};

pub use crate::summaries::SummariesMode;

/// compliance-snapshot's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotConfig {
    /// The settings every function shares.
    pub common: CommonConfig,
    /// `METRIC_NAMESPACE` (default `PatchCompliance`).
    pub namespace: String,
    /// `PATCH_GROUPS`: the groups to report; empty means every group DescribePatchGroups lists.
    pub patch_groups: Vec<String>,
    /// `STALE_AFTER_HOURS` (default 168): a last patch operation older than this is stale.
    pub stale_after: Duration,
    /// `CONCURRENCY` (default 4): groups read at the same time.
    pub concurrency: usize,
    /// `FLEET_INVENTORY` (default true): also count managed instances that never reported or are in
    /// no patch group (two DescribeInstanceInformation passes over the fleet).
    pub fleet_inventory: bool,
    /// `EC2_COVERAGE` (default: as `FLEET_INVENTORY`): also count running EC2 instances Systems
    /// Manager does not manage (DescribeInstances beside the inventory's managed listing).
    pub ec2_coverage: bool,
    /// `PATCH_GROUP_TAG_KEYS` (default `Patch Group,PatchGroup`): tag keys that put an instance in a group.
    pub tag_keys: Vec<String>,
    /// `SNAPSHOT_ON_WINDOW_END` (default true): a finished maintenance-window execution triggers a snapshot.
    pub on_window_end: bool,
    /// `COMPLIANCE_SUMMARIES` (default `auto`): when to list the fleet's compliance summaries for
    /// every group's exact compliance and staleness: `auto` when they read faster than the group
    /// pages, `always`, or `never`. They need EC2's listing (`EC2_COVERAGE`) to place nodes in groups.
    pub summaries: SummariesMode,
}

impl SnapshotConfig {
    /// Reads and validates the settings from `source`.
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Result<Self, ConfigError> {
        let vars = Vars::new(source);
        let namespace = vars
            .optional("METRIC_NAMESPACE")
            .unwrap_or_else(|| "PatchCompliance".to_owned());
        if namespace.starts_with("AWS/") || namespace.len() > 255 || !namespace.is_ascii() {
            return Err(vars.invalid(
                "METRIC_NAMESPACE",
                &namespace,
                "an ASCII namespace of at most 255 characters not starting with AWS/",
            ));
        }
        let mut tag_keys = vars.list("PATCH_GROUP_TAG_KEYS");
        if tag_keys.is_empty() {
            tag_keys = patchpilot_shared::default_patch_group_tag_keys();
        }
        let mut common = CommonConfig::from_env(source)?;
        // A bulk reader of one API family, tolerant of latency: the case the SDKs' guide names for
        // adaptive retry. Against a 20 requests/s limit it threw 4–7 times fewer throttled calls than
        // standard and never ran out of retries where standard lost groups (README, "Measured").
        if vars.optional("RETRY_MODE").is_none() {
            common.retry_mode = RetryMode::Adaptive;
        }
        let fleet_inventory = vars.flag("FLEET_INVENTORY", true)?;
        let ec2_coverage = vars.flag("EC2_COVERAGE", fleet_inventory)?;
        if ec2_coverage && !fleet_inventory {
            return Err(vars.invalid(
                "EC2_COVERAGE",
                "true",
                "false while FLEET_INVENTORY is false (coverage joins the running instances with the inventory's managed ones)",
            ));
        }
        let summaries = match vars.optional("COMPLIANCE_SUMMARIES").as_deref() {
            None | Some("auto") => SummariesMode::Auto,
            Some("always") => SummariesMode::Always,
            Some("never") => SummariesMode::Never,
            Some(other) => {
                return Err(vars.invalid("COMPLIANCE_SUMMARIES", other, "auto, always or never"));
            }
        };
        if summaries == SummariesMode::Always && !ec2_coverage {
            return Err(vars.invalid(
                "COMPLIANCE_SUMMARIES",
                "always",
                "auto or never while EC2_COVERAGE is false (the summaries are placed in patch groups by EC2's tags)",
            ));
        }
        Ok(Self {
            common,
            summaries,
            namespace,
            patch_groups: vars.list("PATCH_GROUPS"),
            stale_after: Duration::hours(vars.number("STALE_AFTER_HOURS", 168, 1, 24 * 365)?),
            concurrency: vars.number("CONCURRENCY", 4, 1, 32)?,
            fleet_inventory,
            ec2_coverage,
            tag_keys,
            on_window_end: vars.flag("SNAPSHOT_ON_WINDOW_END", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_errors() {
        let config = SnapshotConfig::from_env(&HashMap::<&str, &str>::new()).unwrap();
        assert_eq!(config.namespace, "PatchCompliance");
        assert_eq!(config.stale_after, Duration::hours(168));
        assert_eq!(config.concurrency, 4);
        assert_eq!(
            config.common.retry_mode,
            RetryMode::Adaptive,
            "the snapshot reads adaptively by default"
        );
        assert!(config.fleet_inventory);
        assert!(config.ec2_coverage);
        let env = HashMap::from([("FLEET_INVENTORY", "false")]);
        assert!(!SnapshotConfig::from_env(&env).unwrap().ec2_coverage);
        let env = HashMap::from([("FLEET_INVENTORY", "false"), ("EC2_COVERAGE", "true")]);
        let err = SnapshotConfig::from_env(&env).unwrap_err().to_string();
        assert!(
            err.contains("EC2_COVERAGE") && err.contains("FLEET_INVENTORY"),
            "{err}"
        );
        assert!(config.patch_groups.is_empty());
        let env = HashMap::from([("METRIC_NAMESPACE", "AWS/SSM")]);
        let err = SnapshotConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("METRIC_NAMESPACE"), "{err}");
        let env = HashMap::from([("CONCURRENCY", "0")]);
        assert!(
            SnapshotConfig::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("CONCURRENCY")
        );
        let env = HashMap::from([("RETRY_MODE", "standard")]);
        assert_eq!(
            SnapshotConfig::from_env(&env).unwrap().common.retry_mode,
            RetryMode::Standard
        );
        assert_eq!(config.summaries, SummariesMode::Auto);
        for (value, mode) in [
            ("always", SummariesMode::Always),
            ("never", SummariesMode::Never),
        ] {
            let env = HashMap::from([("COMPLIANCE_SUMMARIES", value)]);
            assert_eq!(SnapshotConfig::from_env(&env).unwrap().summaries, mode);
        }
        let env = HashMap::from([("COMPLIANCE_SUMMARIES", "sometimes")]);
        let err = SnapshotConfig::from_env(&env).unwrap_err().to_string();
        assert!(
            err.contains("COMPLIANCE_SUMMARIES") && err.contains("sometimes"),
            "{err}"
        );
        let env = HashMap::from([
            ("COMPLIANCE_SUMMARIES", "always"),
            ("EC2_COVERAGE", "false"),
        ]);
        let err = SnapshotConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("EC2_COVERAGE"), "{err}");
        let env = HashMap::from([("PATCH_GROUPS", "web, db")]);
        assert_eq!(
            SnapshotConfig::from_env(&env).unwrap().patch_groups,
            ["web", "db"]
        );
    }
}
