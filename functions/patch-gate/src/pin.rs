//! Exact promotion: production's baseline becomes staging's baseline frozen at the staging run.
//!
//! A rule approving `ApproveAfterDays N` had, when staging ran at time T, approved exactly the patches
//! released on or before T − N days. Production gets the same rule with `ApproveUntilDate` = the date of
//! T minus N days, so nothing released since can slip in untested. A rule that already uses
//! `ApproveUntilDate D` keeps the earlier of D and T's date. Staging's explicit approvals and
//! rejections are copied, and the patches that failed in staging are rejected too. Pure: plain data in,
//! plain data out.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;

/// AWS's limit on ApprovedPatches and RejectedPatches.
pub const MAX_PATCH_LIST: usize = 50;

/// Operating systems whose baselines take neither ApproveAfterDays nor ApproveUntilDate.
pub const NO_APPROVAL_DATES: &[&str] = &["UBUNTU", "DEBIAN"];

/// A patch filter: key and values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub filters: Vec<Filter>,
    pub compliance_level: Option<String>,
    pub approve_after_days: Option<i32>,
    /// `YYYY-MM-DD`.
    pub approve_until_date: Option<String>,
    pub enable_non_security: Option<bool>,
}

/// The parts of a baseline that decide what is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Baseline {
    pub id: String,
    pub operating_system: String,
    pub global_filters: Vec<Filter>,
    pub rules: Vec<Rule>,
    pub approved_patches: Vec<String>,
    pub approved_patches_compliance_level: Option<String>,
    pub approved_patches_enable_non_security: Option<bool>,
    pub rejected_patches: Vec<String>,
    pub rejected_patches_action: Option<String>,
}

/// How one rule's cutoff was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cutoff {
    pub rule: usize,
    /// What staging's rule said, e.g. `ApproveAfterDays 2` or `ApproveUntilDate 2026-11-30`.
    pub staging: String,
    pub approve_until_date: String,
}

/// What production's baseline becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pinned {
    pub production_baseline_id: String,
    pub staging_baseline_id: String,
    pub operating_system: String,
    pub global_filters: Vec<Filter>,
    pub rules: Vec<Rule>,
    pub cutoffs: Vec<Cutoff>,
    pub approved_patches: Vec<String>,
    pub approved_patches_compliance_level: Option<String>,
    pub approved_patches_enable_non_security: Option<bool>,
    pub rejected_patches: Vec<String>,
    pub rejected_patches_action: Option<String>,
    /// Entries that did not fit the 50-entry lists (reported, not applied).
    pub approved_overflow: Vec<String>,
    pub rejected_overflow: Vec<String>,
}

/// Why a production baseline was not pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotPinned {
    pub production_baseline_id: String,
    pub operating_system: String,
    pub reason: String,
}

/// The approval cutoff for a rule approving after `days`, for a staging run started at `start`.
pub fn cutoff_date(start: DateTime<Utc>, days: u32) -> NaiveDate {
    start
        .date_naive()
        .checked_sub_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN)
}

fn capped(items: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut unique: Vec<String> = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    let overflow = if unique.len() > MAX_PATCH_LIST {
        unique.split_off(MAX_PATCH_LIST)
    } else {
        Vec::new()
    };
    (unique, overflow)
}

/// Freezes `staging` at `start` for `production_baseline_id`, rejecting `failed_patches` as well.
pub fn pin(
    staging: &Baseline,
    production_baseline_id: &str,
    start: DateTime<Utc>,
    failed_patches: &[String],
) -> Result<Pinned, NotPinned> {
    if NO_APPROVAL_DATES.contains(&staging.operating_system.as_str()) {
        return Err(NotPinned {
            production_baseline_id: production_baseline_id.to_owned(),
            operating_system: staging.operating_system.clone(),
            reason: format!(
                "{} baselines support neither ApproveAfterDays nor ApproveUntilDate, so production cannot be frozen at the staging run; it keeps its own rules",
                staging.operating_system
            ),
        });
    }
    let run_date = start.date_naive();
    let mut rules = Vec::with_capacity(staging.rules.len());
    let mut cutoffs = Vec::new();
    for (index, rule) in staging.rules.iter().enumerate() {
        let mut frozen = rule.clone();
        let (described, until) = match (rule.approve_after_days, &rule.approve_until_date) {
            (Some(days), _) => (
                format!("ApproveAfterDays {days}"),
                cutoff_date(start, u32::try_from(days).unwrap_or(0)),
            ),
            (None, Some(date)) => {
                let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|err| NotPinned {
                    production_baseline_id: production_baseline_id.to_owned(),
                    operating_system: staging.operating_system.clone(),
                    reason: format!("staging rule {index} has an unreadable ApproveUntilDate {date:?}: {err}"),
                })?;
                (format!("ApproveUntilDate {date}"), date.min(run_date))
            }
            // A rule with neither approves at once: frozen at the run's own date.
            (None, None) => ("no approval delay".to_owned(), run_date),
        };
        frozen.approve_after_days = None;
        frozen.approve_until_date = Some(until.format("%Y-%m-%d").to_string());
        cutoffs.push(Cutoff {
            rule: index,
            staging: described,
            approve_until_date: until.format("%Y-%m-%d").to_string(),
        });
        rules.push(frozen);
    }
    let (approved, approved_overflow) = capped(staging.approved_patches.clone());
    let mut rejected = staging.rejected_patches.clone();
    rejected.extend(failed_patches.iter().cloned());
    let (rejected, rejected_overflow) = capped(rejected);
    Ok(Pinned {
        production_baseline_id: production_baseline_id.to_owned(),
        staging_baseline_id: staging.id.clone(),
        operating_system: staging.operating_system.clone(),
        global_filters: staging.global_filters.clone(),
        rules,
        cutoffs,
        approved_patches: approved,
        approved_patches_compliance_level: staging.approved_patches_compliance_level.clone(),
        approved_patches_enable_non_security: staging.approved_patches_enable_non_security,
        rejected_patches: rejected,
        rejected_patches_action: staging.rejected_patches_action.clone(),
        approved_overflow,
        rejected_overflow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn rule(after: Option<i32>, until: Option<&str>) -> Rule {
        Rule {
            filters: vec![Filter {
                key: "CLASSIFICATION".into(),
                values: vec!["Security".into()],
            }],
            compliance_level: Some("CRITICAL".into()),
            approve_after_days: after,
            approve_until_date: until.map(str::to_owned),
            enable_non_security: Some(false),
        }
    }

    fn staging(rules: Vec<Rule>) -> Baseline {
        Baseline {
            id: "pb-staging".into(),
            operating_system: "AMAZON_LINUX_2023".into(),
            global_filters: vec![Filter {
                key: "PRODUCT".into(),
                values: vec!["AmazonLinux2023".into()],
            }],
            rules,
            approved_patches: vec!["kernel-6.1.100".into()],
            approved_patches_compliance_level: Some("HIGH".into()),
            approved_patches_enable_non_security: Some(false),
            rejected_patches: vec!["openssl-3.0.0".into()],
            rejected_patches_action: Some("BLOCK".into()),
        }
    }

    #[test]
    fn cutoffs_cross_month_and_year_boundaries() {
        assert_eq!(
            cutoff_date(at(2026, 11, 26, 2), 2),
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
        );
        assert_eq!(
            cutoff_date(at(2026, 3, 1, 2), 1),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(
            cutoff_date(at(2028, 3, 1, 2), 1),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(),
            "leap year"
        );
        assert_eq!(
            cutoff_date(at(2027, 1, 3, 23), 7),
            NaiveDate::from_ymd_opt(2026, 12, 27).unwrap()
        );
        assert_eq!(
            cutoff_date(at(2026, 11, 26, 23), 0),
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            "ApproveAfterDays 0"
        );
        assert_eq!(
            cutoff_date(at(2026, 11, 26, 2), 100),
            NaiveDate::from_ymd_opt(2026, 8, 18).unwrap()
        );
    }

    #[test]
    fn every_rule_is_frozen_and_the_rest_copied() {
        let base = staging(vec![
            rule(Some(2), None),
            rule(Some(0), None),
            rule(None, Some("2026-12-31")),
            rule(None, Some("2026-10-01")),
        ]);
        let pinned = pin(
            &base,
            "pb-production",
            at(2026, 11, 26, 2),
            &["ALAS-1".into()],
        )
        .unwrap();
        let dates: Vec<&str> = pinned
            .rules
            .iter()
            .map(|r| r.approve_until_date.as_deref().unwrap())
            .collect();
        assert_eq!(
            dates,
            ["2026-11-24", "2026-11-26", "2026-11-26", "2026-10-01"]
        );
        assert!(pinned.rules.iter().all(|r| r.approve_after_days.is_none()));
        assert_eq!(
            pinned.rules[0].filters, base.rules[0].filters,
            "same filters"
        );
        assert_eq!(
            pinned.rules[0].compliance_level.as_deref(),
            Some("CRITICAL")
        );
        assert_eq!(pinned.cutoffs[0].staging, "ApproveAfterDays 2");
        assert_eq!(pinned.cutoffs[2].staging, "ApproveUntilDate 2026-12-31");
        assert_eq!(pinned.global_filters, base.global_filters);
        assert_eq!(pinned.approved_patches, ["kernel-6.1.100"]);
        assert_eq!(pinned.rejected_patches, ["openssl-3.0.0", "ALAS-1"]);
        assert_eq!(pinned.rejected_patches_action.as_deref(), Some("BLOCK"));
        assert_eq!(
            pinned.approved_patches_compliance_level.as_deref(),
            Some("HIGH")
        );
        assert_eq!(pinned.production_baseline_id, "pb-production");
    }

    #[test]
    fn lists_hold_fifty_and_report_the_overflow() {
        let base = staging(vec![rule(Some(1), None)]);
        let failed: Vec<String> = (0..60).map(|n| format!("ALAS-{n}")).collect();
        let pinned = pin(&base, "pb-p", at(2026, 11, 26, 2), &failed).unwrap();
        assert_eq!(pinned.rejected_patches.len(), 50);
        assert_eq!(pinned.rejected_overflow.len(), 11);
        assert_eq!(pinned.rejected_overflow.last().unwrap(), "ALAS-59");
        // Duplicates are not counted twice.
        let pinned = pin(
            &base,
            "pb-p",
            at(2026, 11, 26, 2),
            &["openssl-3.0.0".into()],
        )
        .unwrap();
        assert_eq!(pinned.rejected_patches, ["openssl-3.0.0"]);
    }

    #[test]
    fn ubuntu_and_debian_are_not_pinned_with_a_reason() {
        for os in ["UBUNTU", "DEBIAN"] {
            let mut base = staging(vec![rule(None, None)]);
            base.operating_system = os.into();
            let err = pin(&base, "pb-p", at(2026, 11, 26, 2), &[]).unwrap_err();
            assert!(err.reason.contains("support neither"), "{}", err.reason);
            assert_eq!(err.operating_system, os);
        }
    }
}
