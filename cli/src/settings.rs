//! Where the deployment is: the stack's outputs, each overridable by its flag.

use std::collections::BTreeMap;

use crate::args::Global;
use crate::error::CliError;

/// The template's default metric namespace (`MetricNamespace`).
pub const DEFAULT_NAMESPACE: &str = "PatchCompliance";
/// The template's default snapshot interval (`SnapshotIntervalMinutes`).
pub const DEFAULT_SNAPSHOT_MINUTES: u32 = 60;

/// The resolved settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The stack they came from, if any.
    pub stack: Option<String>,
    /// The patch-gate function.
    pub gate_function: Option<String>,
    /// The state table.
    pub table: Option<String>,
    /// The failure queue's URL.
    pub failure_queue_url: Option<String>,
    /// The staging window.
    pub staging_window: Option<String>,
    /// The production window.
    pub production_window: Option<String>,
    /// The staging patch group.
    pub staging_group: Option<String>,
    /// The role the gate reads staging through, when staging is in another account.
    pub staging_role_arn: Option<String>,
    /// Production baselines the gate pins (entries as configured: `pb-...` or `OS=pb-...`).
    pub production_baselines: Vec<String>,
    /// The compliance namespace.
    pub namespace: String,
    /// The snapshot interval, in minutes.
    pub snapshot_minutes: u32,
    /// The tagger's inline rules (JSON).
    pub tag_rules: Option<String>,
    /// The tagger's rules parameter.
    pub tag_rules_parameter: Option<String>,
    /// The tagger's default patch group.
    pub default_patch_group: Option<String>,
    /// The tagger's tag key mode.
    pub tag_key: Option<String>,
    /// The prefix of the deployment's EventBridge rules.
    pub rule_prefix: Option<String>,
    /// The gate's brake alarm.
    pub brake_alarm: Option<String>,
    /// The `s3://` URL of the install list the gate promotes to production.
    pub promotion_list: Option<String>,
}

/// The stack output each setting is read from.
pub mod output {
    /// The gate function's ARN.
    pub const GATE_FUNCTION: &str = "PatchGateFunctionArn";
    /// The state table's name.
    pub const TABLE: &str = "StateTableName";
    /// The failure queue's URL.
    pub const FAILURE_QUEUE: &str = "FailureQueueUrl";
    /// The staging window.
    pub const STAGING_WINDOW: &str = "StagingWindow";
    /// The production window.
    pub const PRODUCTION_WINDOW: &str = "ProductionWindow";
    /// The staging patch group.
    pub const STAGING_GROUP: &str = "StagingGroup";
    /// The role the gate reads staging through, when staging is in another account.
    pub const STAGING_ROLE: &str = "StagingRoleArn";
    /// The pinned production baselines (comma-separated; absent when none).
    pub const PRODUCTION_BASELINES: &str = "PinnedBaselines";
    /// The compliance namespace.
    pub const NAMESPACE: &str = "ComplianceNamespace";
    /// The snapshot interval.
    pub const SNAPSHOT_MINUTES: &str = "SnapshotMinutes";
    /// The tagger's inline rules.
    pub const TAG_RULES: &str = "TaggerRules";
    /// The tagger's rules parameter (absent when unused).
    pub const TAG_RULES_PARAMETER: &str = "TaggerRulesParameter";
    /// The tagger's default patch group (absent when none).
    pub const DEFAULT_PATCH_GROUP: &str = "TaggerDefaultPatchGroup";
    /// The tagger's tag key mode.
    pub const TAG_KEY: &str = "TaggerTagKey";
    /// The gate's brake alarm.
    pub const BRAKE_ALARM: &str = "GateBrakeAlarm";
    /// The install list the gate promotes.
    pub const PROMOTION_LIST: &str = "PromotionInstallList";
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Settings {
    /// `outputs` (from the stack, possibly none) with every flag given taking precedence.
    pub fn resolve(global: &Global, outputs: &BTreeMap<String, String>) -> Result<Self, CliError> {
        let pick = |flag: &Option<String>, key: &str| {
            non_empty(flag.clone()).or_else(|| non_empty(outputs.get(key).cloned()))
        };
        let snapshot_minutes = match global.snapshot_minutes {
            Some(minutes) => minutes,
            None => match outputs.get(output::SNAPSHOT_MINUTES) {
                Some(text) => text.trim().parse().map_err(|_| {
                    CliError::Usage(format!(
                        "stack output {} is {text:?}, not a number of minutes",
                        output::SNAPSHOT_MINUTES
                    ))
                })?,
                None => DEFAULT_SNAPSHOT_MINUTES,
            },
        };
        if snapshot_minutes == 0 {
            return Err(CliError::Usage(
                "--snapshot-minutes must be at least 1".to_owned(),
            ));
        }
        Ok(Self {
            stack: global.stack.clone(),
            gate_function: pick(&global.gate_function, output::GATE_FUNCTION),
            table: pick(&global.table, output::TABLE),
            failure_queue_url: pick(&global.failure_queue_url, output::FAILURE_QUEUE),
            staging_window: pick(&global.staging_window, output::STAGING_WINDOW),
            production_window: pick(&global.production_window, output::PRODUCTION_WINDOW),
            staging_group: pick(&global.staging_group, output::STAGING_GROUP),
            staging_role_arn: pick(&global.staging_role_arn, output::STAGING_ROLE),
            production_baselines: pick(&global.production_baselines, output::PRODUCTION_BASELINES)
                .map(|list| {
                    list.split(',')
                        .map(|entry| entry.trim().to_owned())
                        .filter(|entry| !entry.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            namespace: pick(&global.namespace, output::NAMESPACE)
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            snapshot_minutes,
            tag_rules: pick(&global.tag_rules, output::TAG_RULES),
            tag_rules_parameter: pick(&global.tag_rules_parameter, output::TAG_RULES_PARAMETER),
            default_patch_group: pick(&global.default_patch_group, output::DEFAULT_PATCH_GROUP),
            tag_key: pick(&global.tag_key, output::TAG_KEY),
            brake_alarm: pick(&global.brake_alarm, output::BRAKE_ALARM),
            promotion_list: pick(&global.promotion_list, output::PROMOTION_LIST),
            rule_prefix: non_empty(global.rule_prefix.clone())
                .or_else(|| global.stack.as_ref().map(|stack| format!("{stack}-"))),
        })
    }

    /// A setting a command cannot do without, or an error naming its flag.
    pub fn required<'a>(value: &'a Option<String>, flag: &str) -> Result<&'a str, CliError> {
        value.as_deref().ok_or_else(|| {
            CliError::Usage(format!(
                "{flag} is not set: pass {flag}, or --stack to read it from the stack's outputs"
            ))
        })
    }

    /// The production baseline ids (without their `OS=` prefixes).
    pub fn production_baseline_ids(&self) -> Vec<String> {
        self.production_baselines
            .iter()
            .map(|entry| {
                entry
                    .split_once('=')
                    .map_or(entry.as_str(), |(_, id)| id)
                    .trim()
                    .to_owned()
            })
            .collect()
    }
}

impl Settings {
    /// Staging's account, when the deployment reads staging in another one (its role's account).
    pub fn staging_account(&self) -> Option<&str> {
        self.staging_role_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4))
            .filter(|account| !account.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_outputs_and_defaults_fill_the_rest() {
        let outputs = BTreeMap::from([
            (
                output::STAGING_WINDOW.to_owned(),
                "mw-0aaaaaaaaaaaaaaaa".to_owned(),
            ),
            (
                output::PRODUCTION_WINDOW.to_owned(),
                "mw-0bbbbbbbbbbbbbbbb".to_owned(),
            ),
            (
                output::PRODUCTION_BASELINES.to_owned(),
                "AMAZON_LINUX_2023=pb-0aaaaaaaaaaaaaaaa, pb-0bbbbbbbbbbbbbbbb".to_owned(),
            ),
            (output::SNAPSHOT_MINUTES.to_owned(), "30".to_owned()),
        ]);
        let global = Global {
            stack: Some("patchpilot".into()),
            production_window: Some("mw-0ccccccccccccccccc".into()),
            ..Global::default()
        };
        let settings = Settings::resolve(&global, &outputs).unwrap();
        assert_eq!(
            settings.staging_window.as_deref(),
            Some("mw-0aaaaaaaaaaaaaaaa")
        );
        assert_eq!(
            settings.production_window.as_deref(),
            Some("mw-0ccccccccccccccccc")
        );
        assert_eq!(
            settings.production_baseline_ids(),
            ["pb-0aaaaaaaaaaaaaaaa", "pb-0bbbbbbbbbbbbbbbb"]
        );
        assert_eq!(settings.snapshot_minutes, 30);
        assert_eq!(settings.namespace, DEFAULT_NAMESPACE);
        assert_eq!(settings.rule_prefix.as_deref(), Some("patchpilot-"));
        let missing = Settings::required(&settings.table, "--table").unwrap_err();
        assert!(
            missing.to_string().contains("--table is not set"),
            "{missing}"
        );
        let bad = BTreeMap::from([(output::SNAPSHOT_MINUTES.to_owned(), "hourly".to_owned())]);
        assert!(Settings::resolve(&Global::default(), &bad).is_err());
    }
}
