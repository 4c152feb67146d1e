//! DescribeInstanceInformation: the managed-node inventory.

use serde_json::{Value, json};

use super::patches::instances_after;
use super::{after_key, with_token};
use crate::api::{ApiError, ApiResult, Request, strings};
use crate::pagination::take_page;
use crate::state::{Instance, State, epoch};

fn information(instance: &Instance) -> Value {
    let mut body = json!({
        "InstanceId": instance.id,
        "PingStatus": instance.ping_status,
        "LastPingDateTime": epoch(instance.last_ping),
        "AgentVersion": instance.agent_version,
        "IsLatestVersion": true,
        "PlatformType": instance.platform_type,
        "PlatformName": instance.platform_name,
        "PlatformVersion": instance.platform_version,
        "ResourceType": "EC2Instance",
        "IPAddress": instance.ip_address,
        "ComputerName": instance.computer_name,
    });
    if let Some(name) = &instance.name {
        body["Name"] = json!(name);
    }
    body
}

/// One filter over instances: a key and the values any of which may match.
struct Filter<'a> {
    key: &'a str,
    values: Vec<&'a str>,
}

impl Filter<'_> {
    fn matches(&self, instance: &Instance) -> bool {
        let any = |field: &str| self.values.contains(&field);
        match self.key {
            "InstanceIds" => any(&instance.id),
            "PingStatus" => any(&instance.ping_status),
            "PlatformTypes" => any(&instance.platform_type),
            "ResourceType" => any("EC2Instance"),
            "AgentVersion" => any(&instance.agent_version),
            "tag-key" => self.values.iter().any(|key| tag(instance, key).is_some()),
            key => match key.strip_prefix("tag:") {
                Some(tag_key) => tag(instance, tag_key).is_some_and(|value| any(&value)),
                None => false,
            },
        }
    }
}

/// Tags as Systems Manager sees them. An instance carries its patch group under one key, as in an
/// account: the key its tags use, else `Patch Group`.
fn tag(instance: &Instance, key: &str) -> Option<String> {
    if let Some(value) = instance.tags.get(key) {
        return Some(value.clone());
    }
    let tagged_without_space = instance.tags.contains_key("PatchGroup");
    match (key, &instance.patch_group) {
        ("Patch Group", Some(group)) if !tagged_without_space => Some(group.clone()),
        _ => None,
    }
}

const LIST_KEYS: &[&str] = &[
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
    "AssociationStatus",
];

pub fn describe_instance_information(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeInstanceInformation";
    if request.has("InstanceInformationFilterList") && request.has("Filters") {
        return Err(ApiError::validation(
            "InstanceInformationFilterList and Filters cannot be used together",
        ));
    }
    let mut filters = Vec::new();
    for filter in request.list("InstanceInformationFilterList") {
        let key = filter["key"].as_str().unwrap_or_default();
        filters.push(Filter {
            key,
            values: filter["valueSet"]
                .as_array()
                .map(|v| strings(v))
                .unwrap_or_default(),
        });
    }
    for filter in request.list("Filters") {
        let key = filter["Key"].as_str().unwrap_or_default();
        if !(LIST_KEYS.contains(&key) || key == "tag-key" || key.starts_with("tag:")) {
            return Err(ApiError::new(
                "InvalidFilterKey",
                format!("The filter key {key} is not valid."),
            ));
        }
        filters.push(Filter {
            key,
            values: filter["Values"]
                .as_array()
                .map(|v| strings(v))
                .unwrap_or_default(),
        });
    }
    for filter in &filters {
        if filter.key == "InstanceIds"
            && let Some(bad) = filter
                .values
                .iter()
                .find(|id| !(id.starts_with("i-") || id.starts_with("mi-")))
        {
            return Err(ApiError::new(
                "InvalidInstanceId",
                format!("Instance Id {bad} is not valid"),
            ));
        }
    }
    let after = after_key(OP, request)?;
    let items = instances_after(state, after.as_deref())
        .filter(|instance| filters.iter().all(|filter| filter.matches(instance)))
        .map(|instance| (instance.id.clone(), information(instance)));
    let (page, next) = take_page(OP, items, request.page_size(50));
    Ok(with_token(json!({ "InstanceInformationList": page }), next))
}
