//! What the tagger knows about an instance: the parts of DescribeInstances its rules and tag-key
//! choice look at, as plain data.

use std::collections::BTreeMap;

/// The documented patch-group key, with a space.
pub const KEY_WITH_SPACE: &str = patchpilot_shared::PATCH_GROUP_TAG_KEYS[0];
/// The key for instances with instance-metadata tags, which refuse spaces.
pub const KEY_WITHOUT_SPACE: &str = patchpilot_shared::PATCH_GROUP_TAG_KEYS[1];

/// What the tagger knows about an instance (from DescribeInstances).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFacts {
    /// The instance id.
    pub instance_id: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// `Platform` from EC2: `windows` or absent.
    pub platform: Option<String>,
    /// e.g. `Linux/UNIX`, `Windows`, `Red Hat Enterprise Linux`.
    pub platform_details: Option<String>,
    /// E.g. `m7g.large`.
    pub instance_type: Option<String>,
    /// The AMI.
    pub image_id: Option<String>,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The subnet.
    pub subnet_id: Option<String>,
    /// Instance metadata tags enabled: tag keys with spaces are refused.
    pub metadata_tags_enabled: bool,
    /// `pending`, `running`, `stopped`, …
    pub state: Option<String>,
}

impl InstanceFacts {
    /// Whether EC2 reports the instance as Windows.
    pub fn is_windows(&self) -> bool {
        self.platform
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("windows"))
            || self
                .platform_details
                .as_deref()
                .is_some_and(|d| d.to_ascii_lowercase().starts_with("windows"))
    }

    /// The Auto Scaling group that launched it, from its `aws:autoscaling:groupName` tag.
    pub fn auto_scaling_group(&self) -> Option<&str> {
        self.tags
            .get("aws:autoscaling:groupName")
            .map(String::as_str)
    }

    /// The patch group the instance already carries, and under which key.
    pub fn existing_patch_group(&self) -> Option<(&'static str, &str)> {
        [KEY_WITH_SPACE, KEY_WITHOUT_SPACE]
            .into_iter()
            .find_map(|key| self.tags.get(key).map(|value| (key, value.as_str())))
    }
}

impl From<&aws_sdk_ec2::types::Instance> for InstanceFacts {
    fn from(instance: &aws_sdk_ec2::types::Instance) -> Self {
        Self {
            instance_id: instance.instance_id().unwrap_or_default().to_owned(),
            tags: instance
                .tags()
                .iter()
                .filter_map(|tag| {
                    Some((
                        tag.key()?.to_owned(),
                        tag.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            platform: instance.platform().map(|p| p.as_str().to_owned()),
            platform_details: instance.platform_details().map(str::to_owned),
            instance_type: instance.instance_type().map(|t| t.as_str().to_owned()),
            image_id: instance.image_id().map(str::to_owned),
            vpc_id: instance.vpc_id().map(str::to_owned),
            subnet_id: instance.subnet_id().map(str::to_owned),
            metadata_tags_enabled: instance
                .metadata_options()
                .and_then(|options| options.instance_metadata_tags())
                .is_some_and(|state| state.as_str() == "enabled"),
            state: instance
                .state()
                .and_then(|s| s.name())
                .map(|name| name.as_str().to_owned()),
        }
    }
}
