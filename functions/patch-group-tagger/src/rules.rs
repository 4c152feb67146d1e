//! Tagging rules: an ordered list, first match wins.
//!
//! ```json
//! [
//!   {"name": "eks-nodes", "skip": true, "match": {"tag_present": ["eks:cluster-name"]}},
//!   {"name": "prod-web", "patch_group": "production-web",
//!    "match": {"tags": {"Environment": "production", "Role": "web"}, "platform": "linux"}},
//!   {"name": "databases", "patch_group": "databases", "match": {"instance_type": "r*.*"}},
//!   {"name": "everything-else", "patch_group": "general"}
//! ]
//! ```
//!
//! Every condition in `match` must hold; a rule without `match` matches every instance. Rules are
//! validated once, when loaded: a bad rule is refused with its position, name and field.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::facts::InstanceFacts;

/// One rule as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The rule's name, reported with each decision it makes.
    pub name: String,
    /// The patch group to put matching instances in (or set `skip`).
    #[serde(default)]
    pub patch_group: Option<String>,
    /// Leave matching instances untagged on purpose (e.g. EKS nodes patched by node-group rollouts).
    #[serde(default)]
    pub skip: bool,
    /// What an instance must match (every condition given).
    #[serde(default, rename = "match")]
    pub conditions: Conditions,
}

/// What an instance must look like for a rule to apply. Absent conditions are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Tags that must be present with exactly these values.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Tag keys that must be present, with any value.
    #[serde(default)]
    pub tag_present: Vec<String>,
    /// Tag keys that must be absent.
    #[serde(default)]
    pub tag_absent: Vec<String>,
    /// `linux`, `windows`, or an exact platform-details value such as `Red Hat Enterprise Linux`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Instance type glob, e.g. `m7g.*` or `t3.?large`.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Any of these AMI ids.
    #[serde(default)]
    pub image_ids: Vec<String>,
    /// Any of these VPC ids.
    #[serde(default)]
    pub vpc_ids: Vec<String>,
    /// Any of these subnet ids.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Auto Scaling group name glob (from the `aws:autoscaling:groupName` tag).
    #[serde(default)]
    pub auto_scaling_group: Option<String>,
}

/// What a matching rule says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// Put the instance in this patch group.
    Assign(String),
    /// Leave it untagged on purpose.
    Skip,
}

/// A validated, ordered rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// A rule set that cannot be used, pointing at the rule and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct RulesError {
    /// Where the rules came from, e.g. `TAG_RULES` or `SSM parameter /patchpilot/tag-rules`.
    pub source_name: String,
    /// What is wrong, naming the rule and field.
    pub message: String,
}

impl Rules {
    /// Parses and validates rules JSON. `source_name` is used in error messages.
    pub fn parse(json: &str, source_name: &str) -> Result<Self, RulesError> {
        let error = |message: String| RulesError {
            source_name: source_name.to_owned(),
            message,
        };
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let rules: Vec<Rule> =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
                let path = err.path().to_string();
                let (rule, field) = describe_path(&path, json);
                error(format!("{rule}field `{field}`: {}", err.into_inner()))
            })?;
        let mut names = HashSet::new();
        for (index, rule) in rules.iter().enumerate() {
            let at = |field: &str, message: &str| {
                error(format!(
                    "rule #{} ({:?}): field `{field}`: {message}",
                    index + 1,
                    rule.name
                ))
            };
            if rule.name.trim().is_empty() {
                return Err(at("name", "must not be empty"));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(at(
                    "name",
                    "is used by an earlier rule; names must be unique",
                ));
            }
            match (&rule.patch_group, rule.skip) {
                (Some(_), true) => {
                    return Err(at(
                        "patch_group",
                        "a rule either assigns a patch group or skips, not both",
                    ));
                }
                (None, false) => {
                    return Err(at(
                        "patch_group",
                        "is required unless the rule has \"skip\": true",
                    ));
                }
                (Some(group), false) => {
                    if let Err(problem) = check_patch_group(group) {
                        return Err(at("patch_group", &problem));
                    }
                }
                (None, true) => {}
            }
            let conditions = &rule.conditions;
            for key in conditions
                .tags
                .keys()
                .chain(&conditions.tag_present)
                .chain(&conditions.tag_absent)
            {
                if key.is_empty() || key.len() > 128 {
                    return Err(at("match", "tag keys must be 1 to 128 characters"));
                }
            }
            if let Some(platform) = &conditions.platform
                && platform.trim().is_empty()
            {
                return Err(at("match.platform", "must not be empty"));
            }
            for (field, glob) in [
                ("match.instance_type", &conditions.instance_type),
                ("match.auto_scaling_group", &conditions.auto_scaling_group),
            ] {
                if glob.as_deref().is_some_and(|glob| glob.trim().is_empty()) {
                    return Err(at(field, "must not be empty"));
                }
            }
        }
        Ok(Self { rules })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule that matches, and what it says.
    pub fn first_match(&self, instance: &InstanceFacts) -> Option<(&Rule, RuleAction)> {
        self.rules
            .iter()
            .find(|rule| rule.conditions.matches(instance))
            .map(|rule| {
                let action = match &rule.patch_group {
                    Some(group) if !rule.skip => RuleAction::Assign(group.clone()),
                    _ => RuleAction::Skip,
                };
                (rule, action)
            })
    }
}

impl Conditions {
    /// Whether `instance` meets every condition.
    pub fn matches(&self, instance: &InstanceFacts) -> bool {
        let tag = |key: &str| instance.tags.get(key);
        self.tags.iter().all(|(key, value)| tag(key) == Some(value))
            && self.tag_present.iter().all(|key| tag(key).is_some())
            && self.tag_absent.iter().all(|key| tag(key).is_none())
            && self
                .platform
                .as_deref()
                .is_none_or(|platform| platform_matches(platform, instance))
            && self.instance_type.as_deref().is_none_or(|glob| {
                instance
                    .instance_type
                    .as_deref()
                    .is_some_and(|t| glob_match(glob, t))
            })
            && any_of(&self.image_ids, instance.image_id.as_deref())
            && any_of(&self.vpc_ids, instance.vpc_id.as_deref())
            && any_of(&self.subnet_ids, instance.subnet_id.as_deref())
            && self.auto_scaling_group.as_deref().is_none_or(|glob| {
                instance
                    .auto_scaling_group()
                    .is_some_and(|group| glob_match(glob, group))
            })
    }
}

fn any_of(allowed: &[String], actual: Option<&str>) -> bool {
    allowed.is_empty()
        || actual.is_some_and(|actual| allowed.iter().any(|candidate| candidate == actual))
}

/// `linux` and `windows` compare the platform family; anything else the exact platform details.
fn platform_matches(wanted: &str, instance: &InstanceFacts) -> bool {
    match wanted.to_ascii_lowercase().as_str() {
        "windows" => instance.is_windows(),
        "linux" => !instance.is_windows(),
        _ => instance
            .platform_details
            .as_deref()
            .is_some_and(|details| details.eq_ignore_ascii_case(wanted)),
    }
}

/// Shell-style glob with `*` (any run) and `?` (one character), case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Patch group names follow the SSM PatchGroup constraints: 1 to 256 letters, spaces, digits, `_.:/=+-@`.
pub fn check_patch_group(group: &str) -> Result<(), String> {
    let length = group.chars().count();
    if !(1..=256).contains(&length) {
        return Err(format!("{group:?} must be 1 to 256 characters"));
    }
    match group
        .chars()
        .find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(*c)))
    {
        Some(bad) => Err(format!(
            "{group:?} contains {bad:?}; patch groups allow letters, digits, spaces and _.:/=+-@"
        )),
        None => Ok(()),
    }
}

/// Turns a serde path like `[2].match.platform` into "rule #3 (\"name\"): " and `match.platform`.
fn describe_path(path: &str, json: &str) -> (String, String) {
    let Some(rest) = path.strip_prefix('[') else {
        return (String::new(), path.to_owned());
    };
    let Some((index, field)) = rest.split_once(']') else {
        return (String::new(), path.to_owned());
    };
    let Ok(index) = index.parse::<usize>() else {
        return (String::new(), path.to_owned());
    };
    let name = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|value| value.get(index)?.get("name")?.as_str().map(str::to_owned));
    let rule = match name {
        Some(name) => format!("rule #{} ({name:?}): ", index + 1),
        None => format!("rule #{}: ", index + 1),
    };
    let field = field.trim_start_matches('.');
    (
        rule,
        if field.is_empty() {
            "(the rule itself)".to_owned()
        } else {
            field.to_owned()
        },
    )
}
