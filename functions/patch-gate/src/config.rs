//! patch-gate's settings, validated once at cold start.

use std::collections::BTreeSet;

use patchpilot_shared::config::{CommonConfig, ConfigError, EnvSource, Vars};

use crate::decide::Policy;

/// Operating-system keys Patch Manager uses (the keys of `PRODUCTION_BASELINES`), as the SDK's
/// model lists them.
pub fn operating_systems() -> &'static [&'static str] {
    aws_sdk_ssm::types::OperatingSystem::values()
}

/// How many production baselines the gate pins: template.yaml's policy names each of them by ARN,
/// and builds that many entries (one per operating system is the intended use).
pub const MAX_PRODUCTION_BASELINES: usize = 8;

/// A production baseline the gate pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionBaseline {
    /// The operating system, when configured; otherwise read from the baseline.
    pub operating_system: Option<String>,
    /// The baseline id (`pb-` and 17 hex digits).
    pub id: String,
}

/// patch-gate's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// The settings every function shares.
    pub common: CommonConfig,
    /// `STAGING_WINDOW_ID`: the window whose executions are judged.
    pub staging_window_id: String,
    /// `PRODUCTION_WINDOW_ID`: the window enabled or disabled.
    pub production_window_id: String,
    /// `STAGING_PATCH_GROUP`: the patch group staging patches.
    pub staging_patch_group: String,
    /// The checks' thresholds (`MAX_FAILED_INSTANCES`, `MIN_REPORTED_PERCENT`, `ALLOW_PENDING_REBOOT`).
    pub policy: Policy,
    /// `HEALTH_ALARM_PREFIX`: alarms whose names start with it must not be in ALARM.
    pub health_alarm_prefix: Option<String>,
    /// `PRODUCTION_BASELINES`: production baseline ids, comma-separated, each optionally prefixed by
    /// its operating system (`AMAZON_LINUX_2023=pb-...`); without one, the baseline's own is read.
    pub production_baselines: Vec<ProductionBaseline>,
    /// `TOPIC_ARN`: where decisions are published.
    pub topic_arn: String,
    /// `STATE_TABLE`: where decisions are recorded.
    pub table: String,
    /// `PATCH_DOCUMENTS`: the documents that count as patch tasks.
    pub patch_documents: Vec<String>,
    /// `PATCH_GROUP_TAG_KEYS`: the tag keys a patch group is read from.
    pub tag_keys: Vec<String>,
    /// `DECISION_TTL_DAYS` (default 400): how long decision records are kept.
    pub decision_ttl_days: i64,
    /// `PROMOTION_BUCKET`: where production's install ceiling (`InstallOverrideList`) is written
    /// after a clean staging run; none: installs are not promoted.
    pub promotion_bucket: Option<String>,
    /// `MAX_PROMOTION_READS` (default 500): how many staging instances' installs are read; what only
    /// the others installed is held back from production (never added).
    pub max_promotion_reads: usize,
    /// Where staging lives when it is not in the gate's account and Region: every read about staging
    /// goes there, every change stays in production's account.
    pub staging_account: Option<StagingAccount>,
}

/// Staging in another account (and possibly Region), read through a role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingAccount {
    /// `STAGING_ROLE_ARN`: the read-only role staging's account gives the gate
    /// (templates/staging-access.yaml creates it).
    pub role_arn: String,
    /// The staging account's id, from the role's ARN.
    pub account_id: String,
    /// `STAGING_REGION`: staging's Region; none: the gate's own.
    pub region: Option<String>,
}

/// The account id of an IAM role ARN (`arn:<partition>:iam::<12 digits>:role/<path and name>`).
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("role/")?;
    (partition.starts_with("aws")
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && !name.ends_with('/'))
    .then_some(account)
}

fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// The key of production window `window`'s install ceiling in the promotion bucket.
pub fn promotion_key(window: &str) -> String {
    format!("promotion/{window}/install-override.yaml")
}

/// The key of the ceiling's record (entries and how they were drawn), beside the list.
pub fn promotion_record_key(window: &str) -> String {
    format!("promotion/{window}/promotion.json")
}

fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_window_id(id: &str) -> bool {
    id.len() == 20 && id.starts_with("mw-") && id[3..].chars().all(|c| c.is_ascii_hexdigit())
}

fn is_baseline_id(id: &str) -> bool {
    id.len() == 20 && id.starts_with("pb-") && id[3..].chars().all(|c| c.is_ascii_hexdigit())
}

impl GateConfig {
    /// Reads and validates the settings from `source`.
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Result<Self, ConfigError> {
        let vars = Vars::new(source);
        let window = |name: &str| -> Result<String, ConfigError> {
            let id = vars.required(name, "a maintenance window id (mw- and 17 hex digits)")?;
            if is_window_id(&id) {
                Ok(id)
            } else {
                Err(vars.invalid(name, &id, "a maintenance window id (mw- and 17 hex digits)"))
            }
        };
        let staging_window_id = window("STAGING_WINDOW_ID")?;
        let production_window_id = window("PRODUCTION_WINDOW_ID")?;
        if staging_window_id == production_window_id {
            return Err(vars.invalid(
                "PRODUCTION_WINDOW_ID",
                &production_window_id,
                "a window other than STAGING_WINDOW_ID",
            ));
        }
        let mut production_baselines: Vec<ProductionBaseline> = Vec::new();
        let mut seen = BTreeSet::new();
        for entry in vars.list("PRODUCTION_BASELINES") {
            let expected = format!(
                "baseline ids (pb- and 17 hex digits), comma-separated, each optionally as OPERATING_SYSTEM=id; operating systems: {}",
                operating_systems().join(", ")
            );
            let (operating_system, id) = match entry.split_once('=') {
                Some((os, id)) => (Some(os.trim().to_ascii_uppercase()), id.trim()),
                None => (None, entry.trim()),
            };
            if operating_system
                .as_deref()
                .is_some_and(|os| !operating_systems().contains(&os))
                || !is_baseline_id(id)
            {
                return Err(vars.invalid("PRODUCTION_BASELINES", &entry, &expected));
            }
            if !seen.insert(id.to_owned()) {
                return Err(vars.invalid("PRODUCTION_BASELINES", &entry, "each baseline once"));
            }
            production_baselines.push(ProductionBaseline {
                operating_system,
                id: id.to_owned(),
            });
        }
        if production_baselines.len() > MAX_PRODUCTION_BASELINES {
            return Err(vars.invalid(
                "PRODUCTION_BASELINES",
                &vars.list("PRODUCTION_BASELINES").join(","),
                &format!("at most {MAX_PRODUCTION_BASELINES} baselines (one per operating system)"),
            ));
        }
        let topic_arn = vars.required("ALERT_TOPIC_ARN", "an SNS topic ARN")?;
        if !topic_arn.starts_with("arn:") {
            return Err(vars.invalid("ALERT_TOPIC_ARN", &topic_arn, "an SNS topic ARN"));
        }
        let mut patch_documents = vars.list("PATCH_DOCUMENTS");
        if patch_documents.is_empty() {
            patch_documents = patchpilot_shared::PATCH_DOCUMENTS
                .iter()
                .map(|d| (*d).to_owned())
                .collect();
        }
        let mut tag_keys = vars.list("PATCH_GROUP_TAG_KEYS");
        if tag_keys.is_empty() {
            tag_keys = patchpilot_shared::default_patch_group_tag_keys();
        }
        Ok(Self {
            common: CommonConfig::from_env(source)?,
            staging_window_id,
            production_window_id,
            staging_patch_group: vars
                .required("STAGING_PATCH_GROUP", "the staging patch group's name")?,
            policy: Policy {
                max_failed_instances: vars.number("MAX_FAILED_INSTANCES", 0, 0, 100_000)?,
                min_reported_percent: vars.number("MIN_REPORTED_PERCENT", 100.0, 0.0, 100.0)?,
                allow_pending_reboot: vars.flag("ALLOW_PENDING_REBOOT", false)?,
            },
            health_alarm_prefix: vars.optional("HEALTH_ALARM_PREFIX"),
            production_baselines,
            topic_arn,
            table: vars.required("STATE_TABLE", "a DynamoDB table name")?,
            patch_documents,
            tag_keys,
            decision_ttl_days: vars.number("DECISION_TTL_DAYS", 400, 1, 3650)?,
            promotion_bucket: match vars.optional("PROMOTION_BUCKET") {
                Some(bucket) if !is_bucket_name(&bucket) => {
                    return Err(vars.invalid(
                        "PROMOTION_BUCKET",
                        &bucket,
                        "an S3 bucket name (3 to 63 lower-case letters, digits, hyphens, dots)",
                    ));
                }
                bucket => bucket,
            },
            max_promotion_reads: vars.number("MAX_PROMOTION_READS", 500, 1, 100_000)?,
            staging_account: staging_account(&vars)?,
        })
    }
}

fn staging_account<E: EnvSource + ?Sized>(
    vars: &Vars<'_, E>,
) -> Result<Option<StagingAccount>, ConfigError> {
    let region = match vars.optional("STAGING_REGION") {
        Some(region) if !is_region(&region) => {
            return Err(vars.invalid("STAGING_REGION", &region, "a Region name such as eu-west-1"));
        }
        region => region,
    };
    let Some(role_arn) = vars.optional("STAGING_ROLE_ARN") else {
        if region.is_some() {
            return Err(vars.invalid(
                "STAGING_REGION",
                region.as_deref().unwrap_or_default(),
                "set only with STAGING_ROLE_ARN (staging elsewhere is read through its role)",
            ));
        }
        return Ok(None);
    };
    let account_id = role_account(&role_arn)
        .ok_or_else(|| {
            vars.invalid(
                "STAGING_ROLE_ARN",
                &role_arn,
                "an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)",
            )
        })?
        .to_owned();
    Ok(Some(StagingAccount {
        role_arn,
        account_id,
        region,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("STAGING_WINDOW_ID", "mw-0c50858d01ff4a3b1"),
            ("PRODUCTION_WINDOW_ID", "mw-0d61969e12ee5b4c2"),
            ("STAGING_PATCH_GROUP", "staging"),
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:eu-west-1:111122223333:alerts",
            ),
            ("STATE_TABLE", "patchpilot"),
        ])
    }

    #[test]
    fn staging_in_another_account_is_read_through_its_role() {
        assert_eq!(GateConfig::from_env(&base()).unwrap().staging_account, None);
        let mut env = base();
        env.insert(
            "STAGING_ROLE_ARN",
            "arn:aws:iam::222233334444:role/patchpilot/staging-reader",
        );
        assert_eq!(
            GateConfig::from_env(&env).unwrap().staging_account,
            Some(StagingAccount {
                role_arn: "arn:aws:iam::222233334444:role/patchpilot/staging-reader".to_owned(),
                account_id: "222233334444".to_owned(),
                region: None,
            })
        );
        env.insert("STAGING_REGION", "eu-central-1");
        let staging = GateConfig::from_env(&env).unwrap().staging_account.unwrap();
        assert_eq!(staging.region.as_deref(), Some("eu-central-1"));
        env.insert(
            "STAGING_ROLE_ARN",
            "arn:aws-us-gov:iam::222233334444:role/r",
        );
        assert!(GateConfig::from_env(&env).is_ok(), "other partitions");
    }

    #[test]
    fn a_staging_role_or_region_that_cannot_be_one_is_refused_by_name() {
        for (name, value) in [
            ("STAGING_ROLE_ARN", "staging-reader"),
            ("STAGING_ROLE_ARN", "arn:aws:iam::2222:role/r"),
            ("STAGING_ROLE_ARN", "arn:aws:iam::222233334444:user/someone"),
            (
                "STAGING_ROLE_ARN",
                "arn:aws:sts::222233334444:assumed-role/r/s",
            ),
            ("STAGING_ROLE_ARN", "arn:aws:iam::222233334444:role/"),
        ] {
            let mut env = base();
            env.insert(name, value);
            let err = GateConfig::from_env(&env).unwrap_err().to_string();
            assert!(
                err.contains(name) && err.contains("IAM role ARN"),
                "{value}: {err}"
            );
        }
        let mut env = base();
        env.insert(
            "STAGING_ROLE_ARN",
            "arn:aws:iam::222233334444:role/staging-reader",
        );
        env.insert("STAGING_REGION", "Frankfurt");
        let err = GateConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("STAGING_REGION"), "{err}");
        let mut env = base();
        env.insert("STAGING_REGION", "eu-central-1");
        let err = GateConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("only with STAGING_ROLE_ARN"), "{err}");
    }

    #[test]
    fn strict_defaults() {
        let config = GateConfig::from_env(&base()).unwrap();
        assert_eq!(config.policy, Policy::default());
        assert!(config.production_baselines.is_empty());
        assert_eq!(config.patch_documents.len(), 3);
    }

    #[test]
    fn at_most_eight_production_baselines() {
        let nine: Vec<String> = (1..=9).map(|n| format!("pb-{n:017x}")).collect();
        let joined = nine.join(",");
        let mut env = base();
        env.insert("PRODUCTION_BASELINES", &joined);
        let err = GateConfig::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("at most 8"), "{err}");
        let eight = nine[..8].join(",");
        env.insert("PRODUCTION_BASELINES", &eight);
        assert_eq!(
            GateConfig::from_env(&env)
                .unwrap()
                .production_baselines
                .len(),
            8
        );
    }

    #[test]
    fn production_baselines_parse_and_errors_name_the_variable() {
        let mut env = base();
        env.insert(
            "PRODUCTION_BASELINES",
            "amazon_linux_2023=pb-0c10000000000000b, pb-0123456789abcdef0",
        );
        let config = GateConfig::from_env(&env).unwrap();
        assert_eq!(
            config.production_baselines,
            [
                ProductionBaseline {
                    operating_system: Some("AMAZON_LINUX_2023".into()),
                    id: "pb-0c10000000000000b".into()
                },
                ProductionBaseline {
                    operating_system: None,
                    id: "pb-0123456789abcdef0".into()
                },
            ]
        );
        for bad in [
            "pb-0123456789abcdef0,pb-0123456789abcdef0",
            "AMAZON_LINUX_2023",
            "PLAN9=pb-0c10000000000000b",
            "WINDOWS=pb-1",
        ] {
            env.insert("PRODUCTION_BASELINES", bad);
            let err = GateConfig::from_env(&env).unwrap_err().to_string();
            assert!(err.contains("PRODUCTION_BASELINES"), "{err}");
        }
        let mut env = base();
        env.insert("PRODUCTION_WINDOW_ID", "mw-0c50858d01ff4a3b1");
        assert!(
            GateConfig::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("other than STAGING_WINDOW_ID")
        );
        let mut env = base();
        env.insert("STAGING_WINDOW_ID", "staging");
        assert!(
            GateConfig::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("STAGING_WINDOW_ID")
        );
        let mut env = base();
        env.insert("MIN_REPORTED_PERCENT", "120");
        assert!(
            GateConfig::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("MIN_REPORTED_PERCENT")
        );
    }
}
