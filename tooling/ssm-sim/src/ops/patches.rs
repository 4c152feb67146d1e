//! Patch compliance reads: per-instance states and patches, and patch-group summaries.

use std::ops::Bound;

use serde::Serialize;
use serde_json::{Value, json};

use super::{after_key, page_of, with_token};
use crate::api::{ApiError, ApiResult, Request, strings};
use crate::pagination::take_page;
use crate::state::{Instance, PatchCounts, PatchReport, PatchState, State, epoch};

/// The InstancePatchState of an instance that has reported, as typed fields: pages of these are
/// serialized straight to JSON text, without a map per instance.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PatchStateRow<'a> {
    instance_id: &'a str,
    patch_group: &'a str,
    baseline_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    install_override_list: Option<&'a str>,
    /// Empty when none was given, as the service returns it.
    owner_information: &'a str,
    installed_count: i64,
    installed_other_count: i64,
    installed_pending_reboot_count: i64,
    installed_rejected_count: i64,
    missing_count: i64,
    failed_count: i64,
    unreported_not_applicable_count: i64,
    not_applicable_count: i64,
    available_security_update_count: i64,
    operation_start_time: f64,
    operation_end_time: f64,
    operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_no_reboot_install_operation_time: Option<f64>,
    reboot_option: &'a str,
    critical_non_compliant_count: i64,
    security_non_compliant_count: i64,
    other_non_compliant_count: i64,
}

fn seconds(time: chrono::DateTime<chrono::Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

fn patch_state_row<'a>(instance: &'a Instance, report: &'a PatchReport) -> PatchStateRow<'a> {
    let counts = &instance.counts;
    PatchStateRow {
        instance_id: &instance.id,
        patch_group: instance.patch_group.as_deref().unwrap_or_default(),
        baseline_id: &report.baseline_id,
        snapshot_id: report.snapshot_id.as_deref(),
        install_override_list: report.install_override_list.as_deref(),
        owner_information: "",
        installed_count: counts.installed,
        installed_other_count: counts.installed_other,
        installed_pending_reboot_count: counts.installed_pending_reboot,
        installed_rejected_count: counts.installed_rejected,
        missing_count: counts.missing,
        failed_count: counts.failed,
        unreported_not_applicable_count: 0,
        not_applicable_count: counts.not_applicable,
        available_security_update_count: counts.available_security_update,
        operation_start_time: seconds(report.start),
        operation_end_time: seconds(report.end),
        operation: &report.operation,
        last_no_reboot_install_operation_time: report
            .last_no_reboot_install_operation_time
            .map(seconds),
        reboot_option: &report.reboot_option,
        critical_non_compliant_count: counts.critical_non_compliant,
        security_non_compliant_count: counts.security_non_compliant,
        other_non_compliant_count: counts.other_non_compliant,
    }
}

/// The response of both patch-state operations.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PatchStatesPage<'a> {
    instance_patch_states: Vec<PatchStateRow<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn page_text(
    instance_patch_states: Vec<PatchStateRow<'_>>,
    next_token: Option<String>,
) -> Result<String, ApiError> {
    serde_json::to_string(&PatchStatesPage {
        instance_patch_states,
        next_token,
    })
    .map_err(|err| ApiError::internal(err.to_string()))
}

pub fn describe_instance_patch_states(
    state: &State,
    request: &Request<'_>,
) -> Result<String, ApiError> {
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
                .map(|report| (instance.id.clone(), patch_state_row(instance, report)))
        });
    let (page, next) = take_page(OP, items, request.page_size(50));
    page_text(page, next)
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

pub fn describe_for_patch_group(state: &State, request: &Request<'_>) -> Result<String, ApiError> {
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
                .map(|report| (instance.id.clone(), patch_state_row(instance, report)))
        });
    // At most what the response may hold, whatever MaxResults asks (ledger row 30).
    let size = request.page_size(50).min(state.group_page_cap());
    let (page, next) = take_page(OP, items, size);
    page_text(page, next)
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
        .filter(|entry| entry.state.is_reported())
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
        // Row 10: reporting instances, or (the other reading) every member.
        if instance.report.is_some() || state.group_state_counts_members {
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
