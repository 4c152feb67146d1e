//! Exact promotion: production's baseline becomes staging's baseline frozen at the staging run.
//!
//! AWS's pages read `ApproveAfterDays N` two ways: the API reference approves a patch N days after its
//! release *time* (released 2025-11-09T18:00Z, N = 7: approved after 2025-11-16T18:00Z); the
//! CloudFormation reference counts whole UTC days. `ApproveUntilDate D` approves every patch released on
//! or before D, the whole UTC day. Production's cutoff must approve a subset of what staging had
//! approved when it ran at T under *both* readings, and the largest such subset:
//!
//! - `ApproveAfterDays N` → D = date(T) − N − 1. The timestamp reading approved releases up to T − N
//!   days, which ends part-way through the day date(T) − N; only the days before it are wholly
//!   approved. (The whole-day reading approved all of date(T) − N: the tighter reading decides.)
//! - `ApproveUntilDate D₀` → min(D₀, date(T) − 1): at T staging could only have installed what was
//!   released by T, and the only whole days released by then are those before date(T).
//! - neither (approve at once) → date(T) − 1, for the same reason.
//!
//! What is held back (released on the boundary day and approved by staging under one reading) is
//! approved by the next staging run's cutoff. Staging's explicit approvals and rejections, global
//! filters, rule filters, compliance levels, the non-security switch, the rejected-patch action,
//! `Sources` and `AvailableSecurityUpdatesComplianceStatus` are copied, and the patches that failed in
//! staging are rejected too. Pure: plain data in, plain data out.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// AWS's limit on ApprovedPatches and RejectedPatches.
pub const MAX_PATCH_LIST: usize = 50;

/// Operating systems whose baselines take neither ApproveAfterDays nor ApproveUntilDate.
pub const NO_APPROVAL_DATES: &[&str] = &["UBUNTU", "DEBIAN"];

/// A patch filter: key and values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The filter key, e.g. `CLASSIFICATION`.
    pub key: String,
    /// The values it matches.
    pub values: Vec<String>,
}

/// An approval rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The patches it approves.
    pub filters: Vec<Filter>,
    /// How missing approved patches are reported.
    pub compliance_level: Option<String>,
    /// Days after release a patch is approved.
    pub approve_after_days: Option<i32>,
    /// `YYYY-MM-DD`.
    pub approve_until_date: Option<String>,
    /// Whether non-security updates are approved too (Linux).
    pub enable_non_security: Option<bool>,
}

/// A patch that failed on a staging instance, as DescribeInstancePatches names it (one type for
/// every function).
pub use patchpilot_shared::aws::ssm::FailedPatch;

/// Operating systems whose rejected-patch lists take package names (user guide: "Package name
/// formats for approved and rejected patch lists"): name, name.arch, name-version-release.arch …,
/// not advisory or CVE ids.
const PACKAGE_NAMED: &[&str] = &[
    "AMAZON_LINUX",
    "AMAZON_LINUX_2",
    "AMAZON_LINUX_2022",
    "AMAZON_LINUX_2023",
    "REDHAT_ENTERPRISE_LINUX",
    "CENTOS",
    "ORACLE_LINUX",
    "ROCKY_LINUX",
    "ALMA_LINUX",
    "SUSE",
];

/// Advisory and CVE id prefixes: not package names.
const ADVISORY_PREFIXES: &[&str] = &[
    "ALAS", "RHSA", "RHBA", "RHEA", "ELSA", "ELBA", "CESA", "RLSA", "ALSA", "SUSE-", "CVE-",
];

fn is_advisory(id: &str) -> bool {
    ADVISORY_PREFIXES
        .iter()
        .any(|prefix| id.starts_with(prefix))
}

/// The name under which `operating_system`'s baselines accept `patch` in `RejectedPatches`, or why
/// it has none. Windows takes KB ids; package-named systems take a package (`name.arch`, from the
/// KBId, or from a title `name.arch:epoch:version-release`); others take the id as reported.
pub fn rejectable_name(operating_system: &str, patch: &FailedPatch) -> Result<String, String> {
    let kb = patch.kb_id.trim();
    if operating_system == "WINDOWS" {
        let digits = kb.strip_prefix("KB").unwrap_or_default();
        let bulletin = kb.strip_prefix("MS").is_some_and(|rest| {
            rest.len() == 6
                && rest.as_bytes()[2] == b'-'
                && rest.chars().filter(char::is_ascii_digit).count() == 5
        });
        return if (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())) || bulletin {
            Ok(kb.to_owned())
        } else {
            Err(format!(
                "{kb:?} is not a KB article id (KB4013429) or security bulletin id (MS17-023)"
            ))
        };
    }
    if !PACKAGE_NAMED.contains(&operating_system) {
        return Ok(kb.to_owned());
    }
    if !kb.is_empty() && !is_advisory(kb) && !kb.contains(char::is_whitespace) {
        return Ok(kb.to_owned());
    }
    // name.arch:epoch:version-release → name.arch
    let from_title = patch.title.split(':').next().unwrap_or_default().trim();
    if patch.title.contains(':')
        && !from_title.is_empty()
        && !from_title.contains(char::is_whitespace)
    {
        return Ok(from_title.to_owned());
    }
    Err(format!(
        "{kb:?} is an advisory, not a package, and its title {:?} names no package; {operating_system} rejected lists take package names",
        patch.title
    ))
}

/// An alternative patch repository (Linux): copied as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The repository's name.
    pub name: String,
    /// The products it serves.
    pub products: Vec<String>,
    /// The repository configuration (yum or zypper syntax).
    pub configuration: String,
}

/// The parts of a baseline that decide what is approved and how compliance is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Baseline {
    /// The baseline id.
    pub id: String,
    /// Its operating system.
    pub operating_system: String,
    /// Filters every rule is subject to.
    pub global_filters: Vec<Filter>,
    /// The approval rules.
    pub rules: Vec<Rule>,
    /// Patches approved explicitly.
    pub approved_patches: Vec<String>,
    /// How missing explicitly approved patches are reported.
    pub approved_patches_compliance_level: Option<String>,
    /// Whether explicit approvals include non-security updates (Linux).
    pub approved_patches_enable_non_security: Option<bool>,
    /// Patches rejected explicitly.
    pub rejected_patches: Vec<String>,
    /// `ALLOW_AS_DEPENDENCY` or `BLOCK`.
    pub rejected_patches_action: Option<String>,
    /// Alternative patch repositories.
    pub sources: Vec<Source>,
    /// Windows: `COMPLIANT` or `NON_COMPLIANT` for available security updates not approved.
    pub available_security_updates_compliance_status: Option<String>,
}

/// How one rule's cutoff was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutoff {
    /// The rule's position in the baseline (0-based).
    pub rule: usize,
    /// What staging's rule said, e.g. `ApproveAfterDays 2` or `ApproveUntilDate 2026-11-30`.
    pub staging: String,
    /// Production's `YYYY-MM-DD` cutoff.
    pub approve_until_date: String,
    /// Why this date: the subset rule applied to this rule and run.
    pub why: String,
    /// The first release day production does not get this cycle (held back until the next run).
    pub held_back_from: String,
}

/// What production's baseline becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    /// The production baseline written.
    pub production_baseline_id: String,
    /// The staging baseline it copies.
    pub staging_baseline_id: String,
    /// Their operating system.
    pub operating_system: String,
    /// Staging's global filters.
    #[serde(default)]
    pub global_filters: Vec<Filter>,
    /// Staging's rules, each with a fixed cutoff.
    pub rules: Vec<Rule>,
    /// How each cutoff was set.
    pub cutoffs: Vec<Cutoff>,
    /// Staging's explicit approvals (at most 50).
    #[serde(default)]
    pub approved_patches: Vec<String>,
    /// As staging's.
    #[serde(default)]
    pub approved_patches_compliance_level: Option<String>,
    /// As staging's.
    #[serde(default)]
    pub approved_patches_enable_non_security: Option<bool>,
    /// Staging's rejections plus the patches that failed in staging (at most 50).
    #[serde(default)]
    pub rejected_patches: Vec<String>,
    /// As staging's.
    #[serde(default)]
    pub rejected_patches_action: Option<String>,
    /// Staging's alternative repositories.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// As staging's (Windows).
    #[serde(default)]
    pub available_security_updates_compliance_status: Option<String>,
    /// Entries that did not fit the 50-entry lists (reported, not applied).
    #[serde(default)]
    pub approved_overflow: Vec<String>,
    /// Rejections that did not fit the 50-entry list (reported, not applied).
    #[serde(default)]
    pub rejected_overflow: Vec<String>,
    /// Failed patches the production baseline's operating system cannot name in its rejected list,
    /// with why (reported, never silently dropped).
    #[serde(default)]
    pub unrejectable: Vec<String>,
    /// What staging approved that production does not get this cycle (filled in by the handler).
    #[serde(default)]
    pub held_back: Option<HeldBack>,
}

/// Patches staging had approved at its run that production will not get this cycle (released on the
/// boundary day or after), as the service's effective-patch list tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    /// How many.
    pub patches: usize,
    /// The first few, by id.
    pub examples: Vec<String>,
    /// Why the count is unknown, when the list could not be read.
    pub unreadable: Option<String>,
}

/// Why a production baseline was not pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotPinned {
    /// The production baseline.
    pub production_baseline_id: String,
    /// Its operating system, as far as known.
    pub operating_system: String,
    /// Why it was left as it is.
    pub reason: String,
}

/// Production's `ApproveUntilDate` for a staging rule approving after `days`, for a staging run
/// started at `start`: date(start) − days − 1 (see the module's documentation).
pub fn cutoff_date(start: DateTime<Utc>, days: u32) -> NaiveDate {
    start
        .date_naive()
        .checked_sub_days(Days::new(u64::from(days) + 1))
        .unwrap_or(NaiveDate::MIN)
}

/// Production's `ApproveUntilDate` for a staging rule approving until `until` (or at once, `None`).
pub fn cutoff_until(start: DateTime<Utc>, until: Option<NaiveDate>) -> NaiveDate {
    let last_whole_day = start.date_naive().pred_opt().unwrap_or(NaiveDate::MIN);
    until.map_or(last_whole_day, |date| date.min(last_whole_day))
}

/// Whether staging's rule had approved a patch released at `release` when it ran at `start`, under
/// the timestamp reading (`whole_days = false`) or the whole-day reading.
pub fn staging_approved(
    rule_days: Option<u32>,
    rule_until: Option<NaiveDate>,
    start: DateTime<Utc>,
    release: DateTime<Utc>,
    whole_days: bool,
) -> bool {
    if release > start {
        return false;
    }
    match (rule_days, rule_until) {
        (Some(days), _) => {
            if whole_days {
                release
                    .date_naive()
                    .checked_add_days(Days::new(u64::from(days)))
                    .is_some_and(|approved| approved <= start.date_naive())
            } else {
                release + chrono::Duration::days(i64::from(days)) <= start
            }
        }
        (None, Some(until)) => release.date_naive() <= until,
        (None, None) => true,
    }
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
    failed_patches: &[FailedPatch],
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
    let mut rules = Vec::with_capacity(staging.rules.len());
    let mut cutoffs = Vec::new();
    for (index, rule) in staging.rules.iter().enumerate() {
        let mut frozen = rule.clone();
        let (described, until, why) = match (rule.approve_after_days, &rule.approve_until_date) {
            (Some(days), _) => {
                let days = u32::try_from(days).unwrap_or(0);
                (
                    format!("ApproveAfterDays {days}"),
                    cutoff_date(start, days),
                    format!(
                        "staging approved releases up to {} (N days before its start); the last whole day before that is the cutoff",
                        (start - chrono::Duration::days(i64::from(days)))
                            .format("%Y-%m-%d %H:%M UTC")
                    ),
                )
            }
            (None, Some(date)) => {
                let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|err| NotPinned {
                    production_baseline_id: production_baseline_id.to_owned(),
                    operating_system: staging.operating_system.clone(),
                    reason: format!("staging rule {index} has an unreadable ApproveUntilDate {date:?}: {err}"),
                })?;
                let until = cutoff_until(start, Some(date));
                let why = if until < date {
                    "staging's date is on or after the run's day: only whole days released before the run are promoted".to_owned()
                } else {
                    "staging's own date, wholly before the run".to_owned()
                };
                (format!("ApproveUntilDate {date}"), until, why)
            }
            // A rule with neither approves at once: frozen at the last whole day before the run.
            (None, None) => (
                "no approval delay".to_owned(),
                cutoff_until(start, None),
                "approves at once: only whole days released before the run are promoted".to_owned(),
            ),
        };
        frozen.approve_after_days = None;
        frozen.approve_until_date = Some(until.format("%Y-%m-%d").to_string());
        cutoffs.push(Cutoff {
            rule: index,
            staging: described,
            approve_until_date: until.format("%Y-%m-%d").to_string(),
            why,
            held_back_from: until
                .succ_opt()
                .unwrap_or(until)
                .format("%Y-%m-%d")
                .to_string(),
        });
        rules.push(frozen);
    }
    let (approved, approved_overflow) = capped(staging.approved_patches.clone());
    let mut rejected = staging.rejected_patches.clone();
    let mut unrejectable = Vec::new();
    for patch in failed_patches {
        match rejectable_name(&staging.operating_system, patch) {
            Ok(name) => rejected.push(name),
            Err(why) => unrejectable.push(why),
        }
    }
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
        sources: staging.sources.clone(),
        available_security_updates_compliance_status: staging
            .available_security_updates_compliance_status
            .clone(),
        approved_overflow,
        rejected_overflow,
        unrejectable,
        held_back: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn failed(kb_id: &str, title: &str) -> FailedPatch {
        FailedPatch {
            kb_id: kb_id.into(),
            title: title.into(),
            classification: "Security".into(),
            severity: "Important".into(),
        }
    }

    #[test]
    fn failed_patches_are_rejected_in_the_form_their_os_accepts() {
        let name = |os: &str, kb: &str, title: &str| rejectable_name(os, &failed(kb, title));
        assert_eq!(
            name("WINDOWS", "KB5031364", "2023-10 Cumulative Update").unwrap(),
            "KB5031364"
        );
        assert!(name("WINDOWS", "openssl.x86_64", "x").is_err());
        assert_eq!(name("WINDOWS", "MS10-048", "x").unwrap(), "MS10-048");
        assert_eq!(
            name(
                "AMAZON_LINUX_2023",
                "java-1.7.0-openjdk.x86_64",
                "java-1.7.0-openjdk.x86_64:1:1.7.0.211-2.6.17.1.amzn2.0.1"
            )
            .unwrap(),
            "java-1.7.0-openjdk.x86_64"
        );
        assert_eq!(
            name(
                "REDHAT_ENTERPRISE_LINUX",
                "RHSA-2026:1234",
                "openssl.x86_64:1:3.0.7-27.el9"
            )
            .unwrap(),
            "openssl.x86_64",
            "an advisory id with a package title: the package"
        );
        let err = name(
            "AMAZON_LINUX_2023",
            "ALAS2023-2026-1101",
            "ALAS2023-2026-1101",
        )
        .unwrap_err();
        assert!(err.contains("advisory"), "{err}");
        assert_eq!(name("UBUNTU", "libssl3", "libssl3").unwrap(), "libssl3");
    }

    #[test]
    fn an_unnameable_failed_patch_is_reported_not_dropped() {
        let base = staging(vec![rule(Some(1), None)]);
        let pinned = pin(
            &base,
            "pb-p",
            at(2026, 11, 26, 2),
            &[failed("ALAS2023-2026-9", "Amazon Linux 2023 advisory")],
        )
        .unwrap();
        assert_eq!(pinned.rejected_patches, ["openssl-3.0.0"]);
        assert_eq!(pinned.unrejectable.len(), 1);
        assert!(pinned.unrejectable[0].contains("ALAS2023-2026-9"));
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
            sources: vec![Source {
                name: "internal-mirror".into(),
                products: vec!["AmazonLinux2023".into()],
                configuration: "[internal]\nbaseurl=https://mirror.example/al2023".into(),
            }],
            available_security_updates_compliance_status: None,
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn cutoffs_cross_month_and_year_boundaries() {
        // Staging Thursday 02:00 UTC, N = 2: it approved releases up to Tuesday 02:00; Monday is
        // the last whole day.
        assert_eq!(cutoff_date(at(2026, 11, 26, 2), 2), day(2026, 11, 23));
        assert_eq!(cutoff_date(at(2026, 3, 2, 2), 1), day(2026, 2, 28));
        assert_eq!(
            cutoff_date(at(2028, 3, 2, 2), 1),
            day(2028, 2, 29),
            "leap year"
        );
        assert_eq!(cutoff_date(at(2027, 1, 3, 23), 7), day(2026, 12, 26));
        assert_eq!(
            cutoff_date(at(2026, 11, 26, 23), 0),
            day(2026, 11, 25),
            "ApproveAfterDays 0: the day before the run"
        );
        assert_eq!(
            cutoff_date(at(2026, 11, 26, 0), 0),
            day(2026, 11, 25),
            "midnight"
        );
        assert_eq!(cutoff_date(at(2026, 11, 26, 2), 100), day(2026, 8, 17));
        assert_eq!(
            cutoff_until(at(2026, 11, 26, 2), Some(day(2026, 12, 31))),
            day(2026, 11, 25)
        );
        assert_eq!(
            cutoff_until(at(2026, 11, 26, 2), Some(day(2026, 11, 26))),
            day(2026, 11, 25)
        );
        assert_eq!(
            cutoff_until(at(2026, 11, 26, 2), Some(day(2026, 10, 1))),
            day(2026, 10, 1)
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
            &[failed(
                "ALAS2023-2026-1",
                "openssl-libs.x86_64:1:3.0.8-1.amzn2023.0.18",
            )],
        )
        .unwrap();
        let dates: Vec<&str> = pinned
            .rules
            .iter()
            .map(|r| r.approve_until_date.as_deref().unwrap())
            .collect();
        assert_eq!(
            dates,
            ["2026-11-23", "2026-11-25", "2026-11-25", "2026-10-01"]
        );
        assert_eq!(pinned.cutoffs[0].held_back_from, "2026-11-24");
        assert_eq!(
            pinned.sources, base.sources,
            "alternative repositories copied"
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
        assert_eq!(
            pinned.rejected_patches,
            ["openssl-3.0.0", "openssl-libs.x86_64"]
        );
        assert!(pinned.unrejectable.is_empty());
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
        let many: Vec<FailedPatch> = (0..60)
            .map(|n| failed(&format!("pkg{n}.x86_64"), &format!("pkg{n}.x86_64:0:1.0-1")))
            .collect();
        let pinned = pin(&base, "pb-p", at(2026, 11, 26, 2), &many).unwrap();
        assert_eq!(pinned.rejected_patches.len(), 50);
        assert_eq!(pinned.rejected_overflow.len(), 11);
        assert_eq!(pinned.rejected_overflow.last().unwrap(), "pkg59.x86_64");
        // Duplicates are not counted twice.
        let pinned = pin(
            &base,
            "pb-p",
            at(2026, 11, 26, 2),
            &[failed("openssl-3.0.0", "openssl-3.0.0")],
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
