//! The decision for one instance: pure, from its facts and the policy.

use std::sync::Arc;

use serde::Serialize;

use crate::facts::{InstanceFacts, KEY_WITH_SPACE, KEY_WITHOUT_SPACE};
use crate::rules::{RuleAction, Rules};

/// What happened (or, before acting, what should happen) to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The tag was written (before acting: should be written).
    Tagged,
    /// The instance already carries a patch group, which is kept.
    AlreadyTagged,
    /// A rule says to leave it untagged, or the tag key cannot be used on it.
    Skipped,
    /// No rule matched and there is no default patch group.
    NoMatch,
    /// Would have been tagged; DRY_RUN is on.
    DryRun,
    /// The instance no longer exists.
    NotFound,
    /// Decided for tagging, but the run stopped for time before writing it; the next run tags it.
    NotReached,
    /// Decided for tagging, but CreateTags failed (the reason says why); the run ends in an error
    /// so it is retried, and the next run tags it.
    TagFailed,
}

/// What the tagger decided for one instance, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The instance.
    pub instance_id: String,
    /// What was (or would be) done.
    pub action: Action,
    /// The patch group it belongs in, when one was decided.
    pub patch_group: Option<String>,
    /// The tag key written, when a tag is written.
    pub tag_key: Option<String>,
    /// The rule that matched, if any.
    pub rule: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// `PATCH_GROUP_TAG_KEY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKeyMode {
    /// `PatchGroup` where instance-metadata tags are on (they refuse spaces), `Patch Group` elsewhere.
    Auto,
    /// Always `Patch Group`.
    WithSpace,
    /// Always `PatchGroup`.
    WithoutSpace,
}

/// Everything a decision depends on besides the instance.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Shared with the warm container's cache: an invocation does not copy the rules.
    pub rules: Arc<Rules>,
    /// For instances no rule matches.
    pub default_patch_group: Option<String>,
    /// Which key is written.
    pub tag_key: TagKeyMode,
    /// Whether a different existing patch group is replaced.
    pub overwrite_existing: bool,
}

/// Decides one instance's patch group: a pure function of its facts and the policy.
pub fn decide(instance: &InstanceFacts, policy: &Policy) -> Decision {
    let decision = |action,
                    patch_group: Option<&str>,
                    tag_key: Option<&str>,
                    rule: Option<&str>,
                    reason: String| Decision {
        instance_id: instance.instance_id.clone(),
        action,
        patch_group: patch_group.map(str::to_owned),
        tag_key: tag_key.map(str::to_owned),
        rule: rule.map(str::to_owned),
        reason,
    };
    let existing = instance.existing_patch_group();
    if let Some((key, value)) = existing
        && !policy.overwrite_existing
    {
        return decision(
            Action::AlreadyTagged,
            Some(value),
            Some(key),
            None,
            format!(
                "already carries {key}={value}; OVERWRITE_EXISTING is off, so a human's choice is kept"
            ),
        );
    }

    let (group, rule) = match policy.rules.first_match(instance) {
        Some((rule, RuleAction::Skip)) => {
            return decision(
                Action::Skipped,
                None,
                None,
                Some(&rule.name),
                format!("rule {:?} says to leave it untagged", rule.name),
            );
        }
        Some((rule, RuleAction::Assign(group))) => (group, Some(rule.name.clone())),
        None => match &policy.default_patch_group {
            Some(group) => (group.clone(), None),
            None => {
                return decision(
                    Action::NoMatch,
                    None,
                    None,
                    None,
                    "no rule matched and DEFAULT_PATCH_GROUP is not set".to_owned(),
                );
            }
        },
    };
    let why = match &rule {
        Some(name) => format!("rule {name:?} matched"),
        None => "no rule matched; DEFAULT_PATCH_GROUP applies".to_owned(),
    };

    // When overwriting, keep the key the instance already uses if it is allowed there.
    let key = match (existing, policy.tag_key) {
        (Some((key, _)), TagKeyMode::Auto)
            if !(key == KEY_WITH_SPACE && instance.metadata_tags_enabled) =>
        {
            key
        }
        (_, TagKeyMode::Auto) if instance.metadata_tags_enabled => KEY_WITHOUT_SPACE,
        (_, TagKeyMode::Auto) | (_, TagKeyMode::WithSpace) => KEY_WITH_SPACE,
        (_, TagKeyMode::WithoutSpace) => KEY_WITHOUT_SPACE,
    };
    if key == KEY_WITH_SPACE && instance.metadata_tags_enabled {
        return decision(
            Action::Skipped,
            Some(&group),
            Some(key),
            rule.as_deref(),
            format!(
                "{why}, but PATCH_GROUP_TAG_KEY=\"Patch Group\" and instance-metadata tags are on, which refuse keys with spaces; use auto or PatchGroup"
            ),
        );
    }
    if let Some((existing_key, value)) = existing
        && existing_key == key
        && value == group
    {
        return decision(
            Action::AlreadyTagged,
            Some(&group),
            Some(key),
            rule.as_deref(),
            format!("{why}; already carries {key}={group}"),
        );
    }
    decision(
        Action::Tagged,
        Some(&group),
        Some(key),
        rule.as_deref(),
        why,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Rules {
        Rules::parse(json, "TAG_RULES").unwrap()
    }

    fn instance(tags: &[(&str, &str)]) -> InstanceFacts {
        InstanceFacts {
            instance_id: "i-0a1b2c3d4e5f60718".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            platform_details: Some("Linux/UNIX".into()),
            instance_type: Some("m7g.large".into()),
            image_id: Some("ami-0abc".into()),
            vpc_id: Some("vpc-1".into()),
            subnet_id: Some("subnet-1".into()),
            state: Some("running".into()),
            ..InstanceFacts::default()
        }
    }

    fn policy(json: &str) -> Policy {
        Policy {
            rules: Arc::new(rules(json)),
            default_patch_group: None,
            tag_key: TagKeyMode::Auto,
            overwrite_existing: false,
        }
    }

    const EXAMPLE: &str = r#"[
        {"name": "eks", "skip": true, "match": {"tag_present": ["eks:cluster-name"]}},
        {"name": "prod-web", "patch_group": "production-web", "match": {"tags": {"Environment": "production", "Role": "web"}, "platform": "linux"}},
        {"name": "db", "patch_group": "databases", "match": {"instance_type": "r*.*"}},
        {"name": "windows", "patch_group": "windows", "match": {"platform": "windows"}},
        {"name": "asg", "patch_group": "batch", "match": {"auto_scaling_group": "batch-*"}},
        {"name": "lab", "patch_group": "lab", "match": {"vpc_ids": ["vpc-lab"], "tag_absent": ["Owner"]}}
    ]"#;

    #[test]
    fn first_matching_rule_wins() {
        let policy = policy(EXAMPLE);
        let web = instance(&[("Environment", "production"), ("Role", "web")]);
        let decision = decide(&web, &policy);
        assert_eq!(
            (
                decision.action,
                decision.patch_group.as_deref(),
                decision.rule.as_deref()
            ),
            (Action::Tagged, Some("production-web"), Some("prod-web"))
        );
        assert_eq!(decision.tag_key.as_deref(), Some("Patch Group"));

        let mut eks_web = web.clone();
        eks_web
            .tags
            .insert("eks:cluster-name".into(), "main".into());
        assert_eq!(
            decide(&eks_web, &policy).action,
            Action::Skipped,
            "skip comes first"
        );
    }

    #[test]
    fn every_condition() {
        let policy = policy(EXAMPLE);
        let mut db = instance(&[]);
        db.instance_type = Some("r6i.2xlarge".into());
        assert_eq!(
            decide(&db, &policy).patch_group.as_deref(),
            Some("databases")
        );

        let mut windows = instance(&[]);
        windows.platform = Some("windows".into());
        windows.platform_details = Some("Windows".into());
        assert_eq!(
            decide(&windows, &policy).patch_group.as_deref(),
            Some("windows")
        );

        let batch = instance(&[("aws:autoscaling:groupName", "batch-workers")]);
        assert_eq!(
            decide(&batch, &policy).patch_group.as_deref(),
            Some("batch")
        );

        let mut lab = instance(&[]);
        lab.vpc_id = Some("vpc-lab".into());
        assert_eq!(decide(&lab, &policy).patch_group.as_deref(), Some("lab"));
        lab.tags.insert("Owner".into(), "ana".into());
        assert_eq!(
            decide(&lab, &policy).action,
            Action::NoMatch,
            "tag_absent fails"
        );

        let web_on_windows = {
            let mut i = instance(&[("Environment", "production"), ("Role", "web")]);
            i.platform_details = Some("Windows".into());
            i
        };
        assert_eq!(
            decide(&web_on_windows, &policy).rule.as_deref(),
            None.or(Some("windows")),
            "platform linux fails, the windows rule matches"
        );

        let exact = policy_for(
            r#"[{"name": "rhel", "patch_group": "rhel", "match": {"platform": "Red Hat Enterprise Linux", "image_ids": ["ami-1", "ami-0abc"], "subnet_ids": ["subnet-1"]}}]"#,
        );
        let mut rhel = instance(&[]);
        rhel.platform_details = Some("red hat enterprise linux".into());
        assert_eq!(decide(&rhel, &exact).action, Action::Tagged);
        rhel.image_id = Some("ami-other".into());
        assert_eq!(decide(&rhel, &exact).action, Action::NoMatch);
    }

    fn policy_for(json: &str) -> Policy {
        policy(json)
    }

    #[test]
    fn default_group_and_no_match() {
        let mut policy = policy(EXAMPLE);
        let plain = instance(&[]);
        let decision = decide(&plain, &policy);
        assert_eq!(
            (decision.action, decision.patch_group),
            (Action::NoMatch, None)
        );
        policy.default_patch_group = Some("general".into());
        let decision = decide(&plain, &policy);
        assert_eq!(
            (
                decision.action,
                decision.patch_group.as_deref(),
                decision.rule
            ),
            (Action::Tagged, Some("general"), None)
        );
        assert!(decision.reason.contains("DEFAULT_PATCH_GROUP"));
    }

    #[test]
    fn existing_tags_are_kept_unless_overwrite() {
        let mut policy = policy(EXAMPLE);
        let human = instance(&[
            ("Environment", "production"),
            ("Role", "web"),
            ("Patch Group", "hand-picked"),
        ]);
        let decision = decide(&human, &policy);
        assert_eq!(
            (
                decision.action,
                decision.patch_group.as_deref(),
                decision.tag_key.as_deref()
            ),
            (
                Action::AlreadyTagged,
                Some("hand-picked"),
                Some("Patch Group")
            )
        );
        let no_space = instance(&[("PatchGroup", "mine")]);
        assert_eq!(decide(&no_space, &policy).action, Action::AlreadyTagged);

        policy.overwrite_existing = true;
        let decision = decide(&human, &policy);
        assert_eq!(
            (
                decision.action,
                decision.patch_group.as_deref(),
                decision.tag_key.as_deref()
            ),
            (Action::Tagged, Some("production-web"), Some("Patch Group"))
        );
        let settled = instance(&[
            ("Environment", "production"),
            ("Role", "web"),
            ("Patch Group", "production-web"),
        ]);
        assert_eq!(
            decide(&settled, &policy).action,
            Action::AlreadyTagged,
            "idempotent when overwriting"
        );
    }

    #[test]
    fn tag_key_choice() {
        let mut policy = policy(r#"[{"name": "all", "patch_group": "general"}]"#);
        let mut metadata = instance(&[]);
        metadata.metadata_tags_enabled = true;
        assert_eq!(
            decide(&metadata, &policy).tag_key.as_deref(),
            Some("PatchGroup")
        );
        assert_eq!(
            decide(&instance(&[]), &policy).tag_key.as_deref(),
            Some("Patch Group")
        );

        policy.tag_key = TagKeyMode::WithoutSpace;
        assert_eq!(
            decide(&instance(&[]), &policy).tag_key.as_deref(),
            Some("PatchGroup")
        );

        policy.tag_key = TagKeyMode::WithSpace;
        let decision = decide(&metadata, &policy);
        assert_eq!(decision.action, Action::Skipped);
        assert!(
            decision.reason.contains("refuse keys with spaces"),
            "{}",
            decision.reason
        );

        // Overwriting on a metadata-tags instance moves to the key it accepts.
        policy.tag_key = TagKeyMode::Auto;
        policy.overwrite_existing = true;
        let mut legacy = instance(&[("Patch Group", "old")]);
        legacy.metadata_tags_enabled = true;
        assert_eq!(
            decide(&legacy, &policy).tag_key.as_deref(),
            Some("PatchGroup")
        );
    }

    #[test]
    fn invalid_rules_point_at_the_rule_and_field() {
        let cases = [
            (
                r#"[{"name": "a", "patch_group": "x", "match": {"platfrom": "linux"}}]"#,
                "rule #1 (\"a\"): field `match.platfrom`: unknown field",
            ),
            (
                r#"[{"name": "a", "patch_group": "x"}, {"name": "b"}]"#,
                "rule #2 (\"b\"): field `patch_group`: is required",
            ),
            (
                r#"[{"name": "a", "patch_group": "x"}, {"name": "a", "patch_group": "y"}]"#,
                "rule #2 (\"a\"): field `name`",
            ),
            (
                r#"[{"name": "a", "patch_group": "x", "skip": true}]"#,
                "not both",
            ),
            (
                r#"[{"name": "a", "patch_group": "bad|group"}]"#,
                "contains '|'",
            ),
            (
                r#"[{"name": "a", "patch_group": "x", "match": {"instance_type": 5}}]"#,
                "field `match.instance_type`",
            ),
            (r#"[{"name": "", "patch_group": "x"}]"#, "must not be empty"),
            (r#"{"name": "a"}"#, "invalid type"),
            ("not json", "expected"),
        ];
        for (json, expected) in cases {
            let err = Rules::parse(json, "TAG_RULES").unwrap_err().to_string();
            assert!(err.starts_with("TAG_RULES: "), "{err}");
            assert!(
                err.contains(expected),
                "{json}\n  gave: {err}\n  expected to contain: {expected}"
            );
        }
    }

    #[test]
    fn globs() {
        use crate::rules::glob_match;
        assert!(glob_match("m7g.*", "m7g.large"));
        assert!(glob_match("t3.?large", "t3.xlarge"));
        assert!(!glob_match("t3.?large", "t3.2xlarge"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*.*large", "r6i.2xlarge"));
        assert!(!glob_match("r*", "m5.large"));
    }
}
