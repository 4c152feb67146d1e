//! Which patches a baseline approves, and when: what a window run installs and what
//! DescribeEffectivePatchesForPatchBaseline reports.
//!
//! The simulator follows the API reference's reading of `ApproveAfterDays N`: a patch is approved N
//! days after its release *time* (released 2025-11-09T18:00Z with N = 7: approved from
//! 2025-11-16T18:00Z). `ApproveUntilDate D` approves every patch released on or before D, the whole
//! UTC day. Explicit approvals approve at once, rejections win over everything. Filters are matched on
//! the keys the catalog carries (CLASSIFICATION, SEVERITY, MSRC_SEVERITY, PATCH_ID); other keys
//! (PRODUCT, PRIORITY, SECTION, …) are not modelled and match every patch. Rules are evaluated in
//! order; the first whose filters match decides.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::state::{Baseline, PatchInfo};

/// How a baseline treats one patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Approved by a rule; from when.
    Approved(DateTime<Utc>),
    /// A rule selects it but its approval date is still ahead.
    Pending(DateTime<Utc>),
    ExplicitlyApproved,
    ExplicitlyRejected,
    /// No rule selects it.
    NotSelected,
}

impl Approval {
    /// Approved at `at`.
    pub fn approved_at(&self, at: DateTime<Utc>) -> bool {
        match self {
            Self::Approved(from) => *from <= at,
            Self::ExplicitlyApproved => true,
            _ => false,
        }
    }

    /// The DeploymentStatus DescribeEffectivePatchesForPatchBaseline reports now.
    pub fn deployment_status(&self, now: DateTime<Utc>) -> &'static str {
        match self {
            Self::Approved(from) if *from <= now => "APPROVED",
            Self::Approved(_) | Self::Pending(_) => "PENDING_APPROVAL",
            Self::ExplicitlyApproved => "EXPLICIT_APPROVED",
            Self::ExplicitlyRejected => "EXPLICIT_REJECTED",
            Self::NotSelected => "PENDING_APPROVAL",
        }
    }
}

fn filters_of(group: Option<&Value>) -> Vec<(String, Vec<String>)> {
    group
        .and_then(|g| g["PatchFilters"].as_array())
        .into_iter()
        .flatten()
        .map(|filter| {
            (
                filter["Key"].as_str().unwrap_or_default().to_owned(),
                filter["Values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .collect()
}

fn matches(filters: &[(String, Vec<String>)], patch: &PatchInfo) -> bool {
    filters.iter().all(|(key, values)| {
        let field = match key.as_str() {
            "CLASSIFICATION" => patch.classification.as_str(),
            "SEVERITY" | "MSRC_SEVERITY" => patch.severity.as_str(),
            "PATCH_ID" => patch.id.as_str(),
            _ => return true,
        };
        values.iter().any(|value| value == "*" || value == field)
    })
}

/// Whether `name` in an approved or rejected list names `patch` (its id, or the package part of its
/// title).
fn names(name: &str, patch: &PatchInfo) -> bool {
    name == patch.id || patch.title.split(':').next() == Some(name) || name == patch.title
}

/// How `baseline` treats `patch`.
pub fn evaluate(baseline: &Baseline, patch: &PatchInfo) -> Approval {
    if baseline.rejected_patches.iter().any(|n| names(n, patch)) {
        return Approval::ExplicitlyRejected;
    }
    if baseline.approved_patches.iter().any(|n| names(n, patch)) {
        return Approval::ExplicitlyApproved;
    }
    if !matches(&filters_of(baseline.global_filters.as_ref()), patch) {
        return Approval::NotSelected;
    }
    let rules = baseline
        .approval_rules
        .as_ref()
        .and_then(|rules| rules["PatchRules"].as_array())
        .cloned()
        .unwrap_or_default();
    for rule in rules {
        if !matches(&filters_of(rule.get("PatchFilterGroup")), patch) {
            continue;
        }
        // A patch without a release date (older scenarios) counts as long released.
        let Some(release) = patch.release_date else {
            return Approval::Approved(DateTime::<Utc>::MIN_UTC);
        };
        if let Some(days) = rule["ApproveAfterDays"].as_i64() {
            return Approval::Approved(release + Duration::days(days));
        }
        if let Some(until) = rule["ApproveUntilDate"]
            .as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            return if release.date_naive() <= until {
                Approval::Approved(release)
            } else {
                Approval::Pending(release)
            };
        }
        return Approval::Approved(release);
    }
    Approval::NotSelected
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn patch(released: DateTime<Utc>) -> PatchInfo {
        PatchInfo {
            id: "openssl.x86_64".into(),
            title: "openssl.x86_64:1:3.0.8-1.amzn2023.0.18".into(),
            classification: "Security".into(),
            severity: "Critical".into(),
            compliance_level: "CRITICAL".into(),
            cve_ids: None,
            release_date: Some(released),
            repository: None,
        }
    }

    fn baseline(rule: Value) -> Baseline {
        serde_json::from_value(serde_json::json!({
            "id": "pb-0c10000000000000a", "name": "b", "operating_system": "AMAZON_LINUX_2023",
            "approval_rules": {"PatchRules": [rule]}
        }))
        .unwrap()
    }

    #[test]
    fn approve_after_days_counts_from_the_release_time() {
        let released = Utc.with_ymd_and_hms(2025, 11, 9, 18, 0, 0).unwrap();
        let b = baseline(
            serde_json::json!({"PatchFilterGroup": {"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Security"]}]}, "ApproveAfterDays": 7}),
        );
        let approval = evaluate(&b, &patch(released));
        assert!(!approval.approved_at(Utc.with_ymd_and_hms(2025, 11, 16, 17, 59, 59).unwrap()));
        assert!(approval.approved_at(Utc.with_ymd_and_hms(2025, 11, 16, 18, 0, 0).unwrap()));
    }

    #[test]
    fn approve_until_date_takes_the_whole_day_and_lists_win() {
        let b = baseline(
            serde_json::json!({"PatchFilterGroup": {"PatchFilters": []}, "ApproveUntilDate": "2026-11-23"}),
        );
        let late = Utc.with_ymd_and_hms(2026, 11, 23, 23, 59, 59).unwrap();
        let next = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        assert!(evaluate(&b, &patch(late)).approved_at(next));
        assert!(!evaluate(&b, &patch(next)).approved_at(next + Duration::days(30)));
        let mut rejecting = b.clone();
        rejecting.rejected_patches = vec!["openssl.x86_64".into()];
        assert_eq!(
            evaluate(&rejecting, &patch(late)),
            Approval::ExplicitlyRejected
        );
        let mut filtered = b;
        filtered.global_filters = Some(
            serde_json::json!({"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Bugfix"]}]}),
        );
        assert_eq!(evaluate(&filtered, &patch(late)), Approval::NotSelected);
    }
}
