//! The tagger's settings, validated once at cold start.

use std::sync::Arc;
use std::time::Duration;

use patchpilot_shared::config::{CommonConfig, ConfigError, EnvSource, Vars};

use crate::decide::TagKeyMode;
use crate::rules::{Rules, check_patch_group};

/// Where the rules come from.
#[derive(Debug, Clone, PartialEq)]
pub enum RulesSource {
    /// `TAG_RULES`: parsed and validated at cold start.
    Inline(Arc<Rules>),
    /// `TAG_RULES_PARAMETER`: read from Parameter Store, cached per warm container for `ttl`.
    Parameter {
        /// The parameter's name.
        name: String,
        /// How long a warm container keeps what it read.
        ttl: Duration,
    },
}

/// patch-group-tagger's settings.
#[derive(Debug, Clone)]
pub struct TaggerConfig {
    /// The settings every function shares.
    pub common: CommonConfig,
    /// Where the rules come from.
    pub rules: RulesSource,
    /// `DEFAULT_PATCH_GROUP`: for instances no rule matches.
    pub default_patch_group: Option<String>,
    /// `PATCH_GROUP_TAG_KEY`: which key is written.
    pub tag_key: TagKeyMode,
    /// `OVERWRITE_EXISTING`: whether a different existing patch group is replaced.
    pub overwrite_existing: bool,
}

impl TaggerConfig {
    /// Reads and validates the settings from `source` (inline rules are parsed now).
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Result<Self, ConfigError> {
        let vars = Vars::new(source);
        let common = CommonConfig::from_env(source)?;
        let rules = match (
            vars.optional("TAG_RULES"),
            vars.optional("TAG_RULES_PARAMETER"),
        ) {
            (Some(_), Some(_)) => {
                return Err(vars.invalid(
                    "TAG_RULES_PARAMETER",
                    "(set)",
                    "only one of TAG_RULES and TAG_RULES_PARAMETER",
                ));
            }
            (Some(json), None) => {
                RulesSource::Inline(Arc::new(Rules::parse(&json, "TAG_RULES").map_err(
                    |err| vars.invalid("TAG_RULES", &abbreviate(&json), &err.to_string()),
                )?))
            }
            (None, Some(name)) => RulesSource::Parameter {
                ttl: Duration::from_secs(vars.number("TAG_RULES_CACHE_SECONDS", 60u64, 0, 3600)?),
                name,
            },
            (None, None) => RulesSource::Inline(Arc::default()),
        };
        let default_patch_group = vars.optional("DEFAULT_PATCH_GROUP");
        if let Some(group) = &default_patch_group {
            check_patch_group(group).map_err(|problem| {
                vars.invalid(
                    "DEFAULT_PATCH_GROUP",
                    group,
                    &format!("a valid patch group name: {problem}"),
                )
            })?;
        }
        let tag_key = match vars.choice(
            "PATCH_GROUP_TAG_KEY",
            "auto",
            &["auto", "Patch Group", "PatchGroup"],
        )? {
            "Patch Group" => TagKeyMode::WithSpace,
            "PatchGroup" => TagKeyMode::WithoutSpace,
            _ => TagKeyMode::Auto,
        };
        Ok(Self {
            common,
            rules,
            default_patch_group,
            tag_key,
            overwrite_existing: vars.flag("OVERWRITE_EXISTING", false)?,
        })
    }
}

/// Long rule JSON is cut in error messages; the rule and field named in the message are what matter.
fn abbreviate(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(80).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn defaults() {
        let config = TaggerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(config.rules, RulesSource::Inline(Arc::default()));
        assert_eq!(config.tag_key, TagKeyMode::Auto);
        assert!(!config.overwrite_existing);
        assert_eq!(config.default_patch_group, None);
    }

    #[test]
    fn parameter_source_with_ttl() {
        let config = TaggerConfig::from_env(&env(&[
            ("TAG_RULES_PARAMETER", "/patchpilot/rules"),
            ("TAG_RULES_CACHE_SECONDS", "30"),
        ]))
        .unwrap();
        assert_eq!(
            config.rules,
            RulesSource::Parameter {
                name: "/patchpilot/rules".into(),
                ttl: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn invalid_settings_fail_with_the_variable_named() {
        let cases = [
            (vec![("TAG_RULES", r#"[{"name": "x"}]"#)], "TAG_RULES"),
            (
                vec![("TAG_RULES", "[]"), ("TAG_RULES_PARAMETER", "/p")],
                "only one of TAG_RULES and TAG_RULES_PARAMETER",
            ),
            (
                vec![("PATCH_GROUP_TAG_KEY", "Patch_Group")],
                "one of auto, Patch Group, PatchGroup",
            ),
            (vec![("DEFAULT_PATCH_GROUP", "a|b")], "DEFAULT_PATCH_GROUP"),
            (
                vec![("OVERWRITE_EXISTING", "sometimes")],
                "OVERWRITE_EXISTING",
            ),
        ];
        for (pairs, expected) in cases {
            let err = TaggerConfig::from_env(&env(&pairs))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
        let err = TaggerConfig::from_env(&env(&[(
            "TAG_RULES",
            r#"[{"name": "web", "patch_group": "x", "match": {"tags": "Role=web"}}]"#,
        )]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("rule #1 (\"web\"): field `match.tags`"),
            "{err}"
        );
    }
}
