//! Patch compliance reads: per-instance states and patches, and patch-group summaries.

use std::ops::Bound;

use serde_json::{Value, json};

use super::{after_key, page_of, with_token};
use crate::api::{ApiError, ApiResult, Request, strings};
use crate::pagination::take_page;
use crate::state::{Instance, PatchCounts, PatchReport, PatchState, State, epoch};

/// The InstancePatchState of an instance that has reported.
fn patch_state_json(instance: &Instance, report: &PatchReport) -> Value {
    let counts = &instance.counts;
    let mut body = json!({
        "InstanceId": instance.id,
        "PatchGroup": instance.patch_group.clone().unwrap_or_default(),
        "BaselineId": report.baseline_id,
        "InstalledCount": counts.installed,
        "InstalledOtherCount": counts.installed_other,
        "InstalledPendingRebootCount": counts.installed_pending_reboot,
        "InstalledRejectedCount": counts.installed_rejected,
        "MissingCount": counts.missing,
        "FailedCount": counts.failed,
        "UnreportedNotApplicableCount": 0,
        "NotApplicableCount": counts.not_applicable,
        "AvailableSecurityUpdateCount": counts.available_security_update,
        "OperationStartTime": epoch(report.start),
        "OperationEndTime": epoch(report.end),
        "Operation": report.operation,
        "RebootOption": report.reboot_option,
        "CriticalNonCompliantCount": counts.critical_non_compliant,
        "SecurityNonCompliantCount": counts.security_non_compliant,
        "OtherNonCompliantCount": counts.other_non_compliant,
    });
    if let Some(snapshot) = &report.snapshot_id {
        body["SnapshotId"] = json!(snapshot);
    }
    if let Some(time) = report.last_no_reboot_install_operation_time {
        body["LastNoRebootInstallOperationTime"] = epoch(time);
    }
    body
}

pub fn describe_instance_patch_states(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeInstancePatchStates";
    let after = after_key(OP, request)?;
    let mut ids: Vec<&str> = strings(request.list("InstanceIds"));
    ids.sort_unstable();
    ids.dedup();
    let items = ids
        .into_iter()
        .filter(|id| after.as_deref().is_none_or(|after| *id > after))
        .filter_map(|id| state.instances.get(id))
        .filter_map(|instance| {
            instance
                .report
                .as_ref()
                .map(|report| (instance.id.clone(), patch_state_json(instance, report)))
        });
    let (page, next) = take_page(OP, items, request.page_size(50));
    Ok(with_token(json!({ "InstancePatchStates": page }), next))
}

/// A DescribeInstancePatchStatesForPatchGroup filter: a count compared with a number.
struct CountFilter {
    key: String,
    operator: String,
    value: i64,
}

impl CountFilter {
    fn parse(filter: &Value) -> Result<Self, ApiError> {
        let key = filter["Key"].as_str().unwrap_or_default().to_owned();
        if count_of(&PatchCounts::default(), &key).is_none() {
            return Err(ApiError::invalid_filter(format!(
                "Invalid filter key: {key}"
            )));
        }
        let raw = filter["Values"]
            .get(0)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = raw.parse::<i64>().map_err(|_| {
            ApiError::invalid_filter(format!(
                "Invalid filter value {raw:?} for key {key}: expected an integer"
            ))
        })?;
        Ok(Self {
            key,
            operator: filter["Type"].as_str().unwrap_or("Equal").to_owned(),
            value,
        })
    }

    fn matches(&self, counts: &PatchCounts) -> bool {
        let count = count_of(counts, &self.key).unwrap_or_default();
        match self.operator.as_str() {
            "Equal" => count == self.value,
            "NotEqual" => count != self.value,
            "LessThan" => count < self.value,
            "GreaterThan" => count > self.value,
            _ => false,
        }
    }
}

fn count_of(counts: &PatchCounts, key: &str) -> Option<i64> {
    Some(match key {
        "InstalledCount" => counts.installed,
        "InstalledOtherCount" => counts.installed_other,
        "InstalledPendingRebootCount" => counts.installed_pending_reboot,
        "InstalledRejectedCount" => counts.installed_rejected,
        "MissingCount" => counts.missing,
        "FailedCount" => counts.failed,
        "UnreportedNotApplicableCount" => 0,
        "NotApplicableCount" => counts.not_applicable,
        _ => return None,
    })
}

pub fn describe_for_patch_group(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeInstancePatchStatesForPatchGroup";
    let group = request.required_str("PatchGroup")?;
    let filters = request
        .list("Filters")
        .iter()
        .map(CountFilter::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let after = after_key(OP, request)?;
    let members = state
        .group_members
        .get(group)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let start = match &after {
        Some(after) => members.partition_point(|id| id.as_str() <= after.as_str()),
        None => 0,
    };
    let items = members[start..]
        .iter()
        .filter_map(|id| state.instances.get(id))
        .filter(|instance| {
            filters
                .iter()
                .all(|filter| filter.matches(&instance.counts))
        })
        .filter_map(|instance| {
            instance
                .report
                .as_ref()
                .map(|report| (instance.id.clone(), patch_state_json(instance, report)))
        });
    let (page, next) = take_page(OP, items, request.page_size(50));
    Ok(with_token(json!({ "InstancePatchStates": page }), next))
}

/// The live service refuses pages larger than this, although the model allows 100.
const INSTANCE_PATCHES_MAX_RESULTS: i64 = 50;

pub fn describe_instance_patches(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeInstancePatches";
    if let Some(size) = request.int("MaxResults")
        && size > INSTANCE_PATCHES_MAX_RESULTS
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {INSTANCE_PATCHES_MAX_RESULTS}"
        )));
    }
    let instance_id = request.required_str("InstanceId")?;
    let instance = state.instances.get(instance_id).ok_or_else(|| {
        ApiError::new(
            "InvalidInstanceId",
            format!("Instance Id {instance_id} is not valid"),
        )
    })?;
    let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
    for filter in request.list("Filters") {
        let key = filter["Key"].as_str().unwrap_or_default();
        if !matches!(key, "Classification" | "KBId" | "Severity" | "State") {
            return Err(ApiError::invalid_filter(format!(
                "Invalid filter key {key:?}; valid keys are Classification, KBId, Severity, State"
            )));
        }
        let values = filter["Values"]
            .as_array()
            .map(|values| strings(values))
            .unwrap_or_default();
        if key == "State"
            && let Some(bad) = values
                .iter()
                .find(|value| PatchState::parse(value).is_none())
        {
            return Err(ApiError::invalid_filter(format!(
                "Invalid value {bad:?} for filter key State"
            )));
        }
        filters.push((key, values));
    }
    let rows: Vec<(String, Value)> = instance
        .patches
        .iter()
        .filter_map(|entry| {
            let info = &state.catalog[entry.patch as usize];
            let keep = filters.iter().all(|(key, values)| {
                let field = match *key {
                    "Classification" => info.classification.as_str(),
                    "KBId" => info.id.as_str(),
                    "Severity" => info.severity.as_str(),
                    _ => entry.state.as_str(),
                };
                values.is_empty() || values.contains(&field)
            });
            keep.then(|| {
                let mut row = json!({
                    "Title": info.title,
                    "KBId": info.id,
                    "Classification": info.classification,
                    "Severity": info.severity,
                    "State": entry.state.as_str(),
                    // Not installed: AWS reports the epoch.
                    "InstalledTime": entry.installed_time.map(epoch).unwrap_or(json!(0)),
                });
                if let Some(cves) = &info.cve_ids {
                    row["CVEIds"] = json!(cves);
                }
                (info.id.clone(), row)
            })
        })
        .collect();
    let (page, next) = page_of(OP, request, rows, 10)?;
    Ok(with_token(json!({ "Patches": page }), next))
}

pub fn describe_patch_group_state(state: &State, request: &Request<'_>) -> ApiResult {
    let group = request.required_str("PatchGroup")?;
    let members = state
        .group_members
        .get(group)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut summary = GroupSummary::default();
    for instance in members.iter().filter_map(|id| state.instances.get(id)) {
        if instance.report.is_some() {
            summary.add(&instance.counts);
        }
    }
    Ok(summary.to_json())
}

/// Instances with at least one patch in each state, over the group's reporting instances.
#[derive(Default)]
struct GroupSummary {
    instances: i64,
    installed: i64,
    installed_other: i64,
    installed_pending_reboot: i64,
    installed_rejected: i64,
    missing: i64,
    failed: i64,
    not_applicable: i64,
    critical: i64,
    security: i64,
    other: i64,
    available_security: i64,
}

impl GroupSummary {
    fn add(&mut self, counts: &PatchCounts) {
        let flag = |count: i64| i64::from(count > 0);
        self.instances += 1;
        self.installed += flag(counts.installed);
        self.installed_other += flag(counts.installed_other);
        self.installed_pending_reboot += flag(counts.installed_pending_reboot);
        self.installed_rejected += flag(counts.installed_rejected);
        self.missing += flag(counts.missing);
        self.failed += flag(counts.failed);
        self.not_applicable += flag(counts.not_applicable);
        self.critical += flag(counts.critical_non_compliant);
        self.security += flag(counts.security_non_compliant);
        self.other += flag(counts.other_non_compliant);
        self.available_security += flag(counts.available_security_update);
    }

    fn to_json(&self) -> Value {
        json!({
            "Instances": self.instances,
            "InstancesWithInstalledPatches": self.installed,
            "InstancesWithInstalledOtherPatches": self.installed_other,
            "InstancesWithInstalledPendingRebootPatches": self.installed_pending_reboot,
            "InstancesWithInstalledRejectedPatches": self.installed_rejected,
            "InstancesWithMissingPatches": self.missing,
            "InstancesWithFailedPatches": self.failed,
            "InstancesWithNotApplicablePatches": self.not_applicable,
            "InstancesWithUnreportedNotApplicablePatches": 0,
            "InstancesWithCriticalNonCompliantPatches": self.critical,
            "InstancesWithSecurityNonCompliantPatches": self.security,
            "InstancesWithOtherNonCompliantPatches": self.other,
            "InstancesWithAvailableSecurityUpdates": self.available_security,
        })
    }
}

/// Iterates instances in id order after `after` (used by fleet-wide listings).
pub fn instances_after<'a>(
    state: &'a State,
    after: Option<&'a str>,
) -> impl Iterator<Item = &'a Instance> + 'a {
    let lower = match after {
        Some(after) => Bound::Excluded(after.to_owned()),
        None => Bound::Unbounded,
    };
    state
        .instances
        .range((lower, Bound::Unbounded))
        .map(|(_, instance)| instance)
}
