//! Patch baselines and patch-group registrations.

use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};

use super::{after_key, key_values_filters, page_of, with_token};
use crate::api::{ApiError, ApiResult, Request, strings};
use crate::pagination::take_page;
use crate::state::{Baseline, State, epoch};

fn identity(state: &State, baseline: &Baseline) -> Value {
    let mut body = json!({
        "BaselineId": state.baseline_public_id(baseline),
        "BaselineName": baseline.name,
        "OperatingSystem": baseline.operating_system,
        "DefaultBaseline": baseline.default_baseline,
    });
    if let Some(description) = &baseline.description {
        body["BaselineDescription"] = json!(description);
    }
    body
}

pub fn describe_patch_groups(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribePatchGroups";
    let filters = key_values_filters(request, &["NAME_PREFIX", "OPERATING_SYSTEM"])?;
    let mut mappings: Vec<(String, Value)> = Vec::new();
    for baseline in state.baselines.values() {
        for group in &baseline.patch_groups {
            let keep = filters.iter().all(|(key, values)| match *key {
                "NAME_PREFIX" => values.iter().any(|prefix| group.starts_with(prefix)),
                _ => values.contains(&baseline.operating_system.as_str()),
            });
            if keep {
                let key = format!("{group}\u{0}{}", baseline.id);
                mappings.push((
                    key,
                    json!({"PatchGroup": group, "BaselineIdentity": identity(state, baseline)}),
                ));
            }
        }
    }
    let (page, next) = page_of(OP, request, mappings, 100)?;
    Ok(with_token(json!({ "Mappings": page }), next))
}

pub fn describe_patch_baselines(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribePatchBaselines";
    let filters = key_values_filters(request, &["NAME_PREFIX", "OWNER", "OPERATING_SYSTEM"])?;
    let after = after_key(OP, request)?;
    let items = state
        .baselines
        .values()
        .filter(|baseline| {
            after
                .as_deref()
                .is_none_or(|after| baseline.id.as_str() > after)
        })
        .filter(|baseline| {
            filters.iter().all(|(key, values)| match *key {
                "NAME_PREFIX" => values
                    .iter()
                    .any(|prefix| baseline.name.starts_with(prefix)),
                // AWS's own baselines apart from the account's (ledger row 17).
                "OWNER" => values.iter().any(|owner| match *owner {
                    "AWS" => baseline.is_aws_owned(),
                    "Self" => !baseline.is_aws_owned(),
                    _ => *owner == "All",
                }),
                _ => values.contains(&baseline.operating_system.as_str()),
            })
        })
        .map(|baseline| (baseline.id.clone(), identity(state, baseline)));
    let (page, next) = take_page(OP, items, request.page_size(100));
    Ok(with_token(json!({ "BaselineIdentities": page }), next))
}

/// Baseline ids are `pb-` and 17 hex digits (or the ARN of an AWS-managed one).
fn check_baseline_id(id: &str) -> Result<(), ApiError> {
    let short = id.rsplit('/').next().unwrap_or(id);
    let well_formed = short.len() == 20
        && short.starts_with("pb-")
        && short[3..].chars().all(|c| c.is_ascii_hexdigit());
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidResourceId",
            format!("Invalid baseline id {id}"),
        ))
    }
}

/// The baseline `id` names. An AWS-provided baseline is found only by its full ARN in AWS's account
/// ("specify the full ARN", GetPatchBaseline's reference); by its bare id it does not exist in the
/// caller's account, which makes that client mistake visible.
fn find<'a>(state: &'a State, id: &str) -> Result<&'a Baseline, ApiError> {
    check_baseline_id(id)?;
    let short = id.rsplit('/').next().unwrap_or(id);
    state
        .baselines
        .get(short)
        .filter(|baseline| !baseline.is_aws_owned() || id == state.baseline_public_id(baseline))
        .ok_or_else(|| ApiError::does_not_exist(format!("Patch Baseline {id} does not exist.")))
}

fn full(state: &State, baseline: &Baseline, with_groups: bool) -> Value {
    let mut body = json!({
        "BaselineId": state.baseline_public_id(baseline),
        "Name": baseline.name,
        "OperatingSystem": baseline.operating_system,
        "ApprovedPatches": baseline.approved_patches,
        "ApprovedPatchesComplianceLevel": baseline.approved_patches_compliance_level,
        "ApprovedPatchesEnableNonSecurity": baseline.approved_patches_enable_non_security,
        "RejectedPatches": baseline.rejected_patches,
        "RejectedPatchesAction": baseline.rejected_patches_action,
        "Sources": baseline.sources,
        "CreatedDate": epoch(baseline.created),
        "ModifiedDate": epoch(baseline.modified),
    });
    if let Some(filters) = &baseline.global_filters {
        body["GlobalFilters"] = filters.clone();
    } else {
        body["GlobalFilters"] = json!({"PatchFilters": []});
    }
    if let Some(rules) = &baseline.approval_rules {
        body["ApprovalRules"] = rules.clone();
    }
    if let Some(description) = &baseline.description {
        body["Description"] = json!(description);
    }
    if let Some(status) = &baseline.available_security_updates_compliance_status {
        body["AvailableSecurityUpdatesComplianceStatus"] = json!(status);
    }
    if with_groups {
        body["PatchGroups"] = json!(baseline.patch_groups);
    }
    body
}

pub fn get_patch_baseline(state: &State, request: &Request<'_>) -> ApiResult {
    Ok(full(
        state,
        find(state, request.required_str("BaselineId")?)?,
        true,
    ))
}

pub fn get_for_patch_group(state: &State, request: &Request<'_>) -> ApiResult {
    let group = request.required_str("PatchGroup")?;
    let operating_system = request.str("OperatingSystem").unwrap_or("WINDOWS");
    let baseline = state
        .baseline_for(Some(group), operating_system)
        .ok_or_else(|| {
            ApiError::does_not_exist(format!(
                "No baseline for patch group {group} and {operating_system}"
            ))
        })?;
    Ok(
        json!({"BaselineId": state.baseline_public_id(baseline), "PatchGroup": group, "OperatingSystem": operating_system}),
    )
}

/// `KB` and digits, or `MS`, two digits, `-`, three digits.
fn is_windows_patch_name(entry: &str) -> bool {
    let kb = entry
        .strip_prefix("KB")
        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
    let bulletin = entry.strip_prefix("MS").is_some_and(|rest| {
        let bytes = rest.as_bytes();
        bytes.len() == 6
            && bytes[2] == b'-'
            && rest[..2].chars().all(|c| c.is_ascii_digit())
            && rest[3..].chars().all(|c| c.is_ascii_digit())
    });
    kb || bulletin
}

/// Operating systems whose approval rules take neither ApproveAfterDays nor ApproveUntilDate.
const NO_APPROVAL_DELAY: &[&str] = &["UBUNTU", "DEBIAN"];

/// The checks AWS makes on approval rules beyond the model's constraints.
fn check_rules(operating_system: &str, rules: &Value) -> Result<(), ApiError> {
    for rule in rules["PatchRules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let after_days = rule.get("ApproveAfterDays").filter(|v| !v.is_null());
        let until = rule.get("ApproveUntilDate").filter(|v| !v.is_null());
        if NO_APPROVAL_DELAY.contains(&operating_system)
            && (after_days.is_some() || until.is_some())
        {
            return Err(ApiError::validation(format!(
                "ApproveAfterDays and ApproveUntilDate are not supported for operating system {operating_system}"
            )));
        }
        if after_days.is_some() && until.is_some() {
            return Err(ApiError::validation(
                "A patch rule can have either ApproveAfterDays or ApproveUntilDate, not both",
            ));
        }
        if let Some(date) = until.and_then(Value::as_str)
            && NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err()
        {
            return Err(ApiError::validation(format!(
                "ApproveUntilDate {date:?} is not a date of the form YYYY-MM-DD"
            )));
        }
    }
    Ok(())
}

pub fn update_patch_baseline(state: &mut State, request: &Request<'_>) -> ApiResult {
    let found = find(state, request.required_str("BaselineId")?)?;
    if found.is_aws_owned() {
        // AWS-provided baselines cannot be changed; the error the service gives is not documented,
        // so the simulator answers as IAM would for a resource in another account.
        return Err(ApiError::new(
            "AccessDeniedException",
            format!(
                "{} is provided by AWS and cannot be updated",
                state.baseline_public_id(found)
            ),
        ));
    }
    let id = found.id.clone();
    let replace = request.bool("Replace").unwrap_or(false);
    let mut baseline = state.baselines[&id].clone();
    if let Some(rules) = request.get("ApprovalRules") {
        check_rules(&baseline.operating_system, rules)?;
    }
    for list in ["ApprovedPatches", "RejectedPatches"] {
        if request.list(list).len() > 50 {
            return Err(ApiError::validation(format!(
                "{list} holds at most 50 entries"
            )));
        }
        // Windows lists name KB articles or security bulletins (fidelity ledger, row 18).
        if baseline.operating_system == "WINDOWS"
            && let Some(bad) = request
                .list(list)
                .iter()
                .filter_map(Value::as_str)
                .find(|entry| !is_windows_patch_name(entry))
        {
            return Err(ApiError::validation(format!(
                "{list} entry {bad:?} is not a KB article id (KB4013429) or security bulletin id (MS17-023)"
            )));
        }
    }
    // Replace=true resets every optional member the request leaves out.
    let take = |name: &str| request.get(name).cloned();
    if let Some(name) = request.str("Name") {
        baseline.name = name.to_owned();
    }
    match take("Description") {
        Some(value) => baseline.description = value.as_str().map(str::to_owned),
        None if replace => baseline.description = None,
        None => {}
    }
    match take("GlobalFilters") {
        Some(value) => baseline.global_filters = Some(value),
        None if replace => baseline.global_filters = None,
        None => {}
    }
    match take("ApprovalRules") {
        Some(value) => baseline.approval_rules = Some(value),
        None if replace => baseline.approval_rules = None,
        None => {}
    }
    let string_list = |name: &str| {
        strings(request.list(name))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    if request.has("ApprovedPatches") || replace {
        baseline.approved_patches = string_list("ApprovedPatches");
    }
    if request.has("RejectedPatches") || replace {
        baseline.rejected_patches = string_list("RejectedPatches");
    }
    if let Some(level) = request.str("ApprovedPatchesComplianceLevel") {
        baseline.approved_patches_compliance_level = level.to_owned();
    } else if replace {
        baseline.approved_patches_compliance_level = "UNSPECIFIED".to_owned();
    }
    if let Some(flag) = request.bool("ApprovedPatchesEnableNonSecurity") {
        baseline.approved_patches_enable_non_security = flag;
    } else if replace {
        baseline.approved_patches_enable_non_security = false;
    }
    if let Some(action) = request.str("RejectedPatchesAction") {
        baseline.rejected_patches_action = action.to_owned();
    } else if replace {
        baseline.rejected_patches_action = "ALLOW_AS_DEPENDENCY".to_owned();
    }
    if request.has("Sources") || replace {
        baseline.sources = request.list("Sources").to_vec();
    }
    if let Some(status) = request.str("AvailableSecurityUpdatesComplianceStatus") {
        baseline.available_security_updates_compliance_status = Some(status.to_owned());
    } else if replace {
        baseline.available_security_updates_compliance_status = None;
    }
    baseline.modified = Utc::now();
    let body = full(state, &baseline, false);
    state.baselines.insert(id, baseline);
    Ok(body)
}

/// DescribeEffectivePatchesForPatchBaseline: every catalog patch the baseline selects, with its
/// deployment status and approval date now (see `crate::approval` for the reading it follows).
pub fn describe_effective_patches(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "DescribeEffectivePatchesForPatchBaseline";
    let baseline = find(state, request.required_str("BaselineId")?)?;
    let now = Utc::now();
    let rows: Vec<(String, Value)> = state
        .catalog
        .iter()
        .filter_map(|info| {
            let approval = crate::approval::evaluate(baseline, info);
            if approval == crate::approval::Approval::NotSelected {
                return None;
            }
            let approval_date = match &approval {
                crate::approval::Approval::Approved(from)
                | crate::approval::Approval::Pending(from) => Some(*from),
                _ => None,
            };
            let mut patch = json!({
                "Id": info.id,
                "Title": info.title,
                "Classification": info.classification,
                "Severity": info.severity,
            });
            if let Some(release) = info.release_date {
                patch["ReleaseDate"] = epoch(release);
            }
            if let Some(cves) = &info.cve_ids {
                patch["CVEIds"] = json!(cves.split(',').collect::<Vec<_>>());
            }
            let mut status = json!({
                "DeploymentStatus": approval.deployment_status(now),
                "ComplianceLevel": info.compliance_level,
            });
            if let Some(date) = approval_date.filter(|d| *d > chrono::DateTime::<Utc>::MIN_UTC) {
                status["ApprovalDate"] = epoch(date);
            }
            Some((
                info.id.clone(),
                json!({"Patch": patch, "PatchStatus": status}),
            ))
        })
        .collect();
    let (page, next) = page_of(OP, request, rows, 100)?;
    Ok(with_token(json!({ "EffectivePatches": page }), next))
}

#[cfg(test)]
mod tests {
    use super::is_windows_patch_name;

    #[test]
    fn windows_lists_take_kb_and_bulletin_ids() {
        for ok in ["KB2032276", "MS10-048", "KB4480979"] {
            assert!(is_windows_patch_name(ok), "{ok}");
        }
        for bad in [
            "openssl.x86_64",
            "KB",
            "MS10048",
            "ALAS2023-2026-1101",
            "kb2032276",
        ] {
            assert!(!is_windows_patch_name(bad), "{bad}");
        }
    }
}
