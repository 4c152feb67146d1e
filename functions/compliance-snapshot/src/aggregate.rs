//! Fleet compliance from per-instance patch states: pure, streaming (one instance at a time, constant
//! memory per group), and the single definition of "compliant" the metrics use.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::summaries::SummaryStats;

/// The per-instance patch state fields the snapshot uses (from DescribeInstancePatchStatesForPatchGroup).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceState {
    /// Approved patches not installed.
    pub missing: i64,
    /// Patches whose install failed.
    pub failed: i64,
    /// Patches installed and awaiting a reboot.
    pub installed_pending_reboot: i64,
    /// Rejected patches that are installed.
    pub installed_rejected: i64,
    /// Non-compliant patches of Critical severity.
    pub critical_non_compliant: i64,
    /// Non-compliant security patches.
    pub security_non_compliant: i64,
    /// Other non-compliant patches.
    pub other_non_compliant: i64,
    /// When the last patch operation (Scan or Install) ended.
    pub operation_end: Option<DateTime<Utc>>,
}

impl InstanceState {
    /// Patch Manager's definition: an instance is non-compliant when any patch the baseline approves
    /// is missing or failed, is installed but awaiting a reboot, or is installed though rejected; or
    /// when Patch Manager itself counts non-compliant patches of any severity.
    pub fn is_compliant(&self) -> bool {
        self.missing
            + self.failed
            + self.installed_pending_reboot
            + self.installed_rejected
            + self.critical_non_compliant
            + self.security_non_compliant
            + self.other_non_compliant
            == 0
    }
}

/// Counts one instance's last patch operation into `stale` (older than `stale_after`, or without a
/// time: a state without one cannot be vouched for) and `oldest`. The per-instance pass and the
/// compliance summaries count by this one rule.
pub fn count_operation_end(
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stale_after: Duration,
    stale: &mut u64,
    oldest: &mut Option<DateTime<Utc>>,
) {
    match end {
        Some(end) => {
            *stale += u64::from(now - end > stale_after);
            if oldest.is_none_or(|oldest| end < oldest) {
                *oldest = Some(end);
            }
        }
        None => *stale += 1,
    }
}

/// What a group (or the fleet) adds up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupStats {
    /// Instances that reported.
    pub instances: u64,
    /// Instances compliant by [`InstanceState::is_compliant`].
    pub compliant: u64,
    /// Instances not compliant.
    pub non_compliant: u64,
    /// Instances with a failed patch.
    pub with_failed: u64,
    /// Instances with a missing patch.
    pub with_missing: u64,
    /// Instances with a non-compliant critical patch.
    pub with_critical: u64,
    /// Instances with a non-compliant security patch.
    pub with_security: u64,
    /// Instances awaiting a reboot.
    pub with_pending_reboot: u64,
    /// Missing patches, summed over the instances.
    pub missing_patches: u64,
    /// Failed patches, summed over the instances.
    pub failed_patches: u64,
    /// Reporting instances whose last operation is older than the stale threshold.
    pub stale: u64,
    /// The oldest last-operation time among reporting instances.
    pub oldest_operation: Option<DateTime<Utc>>,
}

fn positive(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

impl GroupStats {
    /// Counts one instance's state in.
    pub fn add(&mut self, state: &InstanceState, now: DateTime<Utc>, stale_after: Duration) {
        self.instances += 1;
        if state.is_compliant() {
            self.compliant += 1;
        } else {
            self.non_compliant += 1;
        }
        let flag = |count: i64| u64::from(count > 0);
        self.with_failed += flag(state.failed);
        self.with_missing += flag(state.missing);
        self.with_critical += flag(state.critical_non_compliant);
        self.with_security += flag(state.security_non_compliant);
        self.with_pending_reboot += flag(state.installed_pending_reboot);
        self.missing_patches += positive(state.missing);
        self.failed_patches += positive(state.failed);
        count_operation_end(
            state.operation_end,
            now,
            stale_after,
            &mut self.stale,
            &mut self.oldest_operation,
        );
    }

    /// Adds another group's figures (the fleet is the merge of its groups).
    pub fn merge(&mut self, other: &GroupStats) {
        self.instances += other.instances;
        self.compliant += other.compliant;
        self.non_compliant += other.non_compliant;
        self.with_failed += other.with_failed;
        self.with_missing += other.with_missing;
        self.with_critical += other.with_critical;
        self.with_security += other.with_security;
        self.with_pending_reboot += other.with_pending_reboot;
        self.missing_patches += other.missing_patches;
        self.failed_patches += other.failed_patches;
        self.stale += other.stale;
        self.oldest_operation = match (self.oldest_operation, other.oldest_operation) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Compliant share in percent; `None` for a group with no reporting instance (never NaN).
    pub fn compliance_percent(&self) -> Option<f64> {
        (self.instances > 0).then(|| self.compliant as f64 * 100.0 / self.instances as f64)
    }

    /// Hours since the oldest last operation; `None` when nothing reported.
    pub fn oldest_scan_age_hours(&self, now: DateTime<Utc>) -> Option<f64> {
        self.oldest_operation
            .map(|oldest| ((now - oldest).num_seconds().max(0) as f64) / 3600.0)
    }
}

/// One group's figures from `DescribePatchGroupState`: how many instances have at least one patch in
/// each state. One call per group whatever the group's size (the per-instance pages may hold as few as
/// 5 states each: ledger row 30), so every group gets these in every snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupCounts {
    /// Instances in the group (`Instances`).
    pub instances: u64,
    /// With a missing patch.
    pub with_missing: u64,
    /// With a failed patch.
    pub with_failed: u64,
    /// With a patch installed and awaiting a reboot.
    pub with_pending_reboot: u64,
    /// With a rejected patch installed.
    pub with_rejected: u64,
    /// With a non-compliant critical patch.
    pub with_critical: u64,
    /// With a non-compliant security patch.
    pub with_security: u64,
    /// With another non-compliant patch.
    pub with_other: u64,
}

impl GroupCounts {
    fn reasons(&self) -> [u64; 7] {
        [
            self.with_missing,
            self.with_failed,
            self.with_pending_reboot,
            self.with_rejected,
            self.with_critical,
            self.with_security,
            self.with_other,
        ]
    }

    /// The non-compliant instances (by [`InstanceState::is_compliant`]) these counts allow: at least
    /// the largest count (those instances certainly are), at most their sum (if no instance had two
    /// reasons), never more than the group. The counts do not say how the sets overlap.
    pub fn non_compliant_bounds(&self) -> (u64, u64) {
        let reasons = self.reasons();
        let least = reasons
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .min(self.instances);
        let most = reasons.iter().sum::<u64>().min(self.instances);
        (least, most)
    }

    /// Whether the counts fix the non-compliant number exactly (every instance compliant, every one
    /// not, or a single reason).
    pub fn is_exact(&self) -> bool {
        let (least, most) = self.non_compliant_bounds();
        least == most
    }

    /// The counts as group stats: non-compliant at its lower bound, so compliance is the most the
    /// counts allow (exact when [`Self::is_exact`]). The per-instance figures (patch totals,
    /// staleness, oldest operation) stay zero: only the per-instance pass knows them.
    pub fn as_stats(&self) -> GroupStats {
        let (non_compliant, _) = self.non_compliant_bounds();
        GroupStats {
            instances: self.instances,
            compliant: self.instances - non_compliant,
            non_compliant,
            with_failed: self.with_failed,
            with_missing: self.with_missing,
            with_critical: self.with_critical,
            with_security: self.with_security,
            with_pending_reboot: self.with_pending_reboot,
            ..GroupStats::default()
        }
    }
}

/// What a snapshot knows of one group: its counts, and its per-instance stats when the per-instance
/// pass read it in full this time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupFigures {
    /// From `DescribePatchGroupState`.
    pub counts: GroupCounts,
    /// From `DescribeInstancePatchStatesForPatchGroup`, every page read.
    pub detail: Option<GroupStats>,
    /// From the fleet's compliance summaries, when they counted as many nodes in the group as its
    /// counts did: exact compliance and staleness without the per-instance pass.
    pub summary: Option<SummaryStats>,
}

impl GroupFigures {
    /// Figures from the counts alone.
    pub fn counted(counts: GroupCounts) -> Self {
        Self {
            counts,
            detail: None,
            summary: None,
        }
    }

    /// The stats to publish: the per-instance ones when read (exact), else the counts' with the
    /// summaries' compliance and staleness when they were read.
    pub fn stats(&self) -> GroupStats {
        if let Some(detail) = &self.detail {
            return detail.clone();
        }
        let mut stats = self.counts.as_stats();
        if let Some(summary) = &self.summary {
            stats.compliant = summary.compliant;
            stats.non_compliant = summary.non_compliant;
            stats.stale = summary.stale;
            stats.oldest_operation = summary.oldest_operation;
        }
        stats
    }

    /// Compliance published as a bound (the most the counts allow), not an exact figure.
    pub fn is_estimate(&self) -> bool {
        self.detail.is_none() && self.summary.is_none() && !self.counts.is_exact()
    }

    /// When the per-instance pass read the group in full and found a different number of instances
    /// than `DescribePatchGroupState.Instances` said: (counted, read). Nobody has published whether
    /// `Instances` counts only the instances that reported or every one in the group (ledger row
    /// 10); a difference is the live service answering that, or instances reporting between the
    /// two reads, and either way the count-only groups' compliance may be off by as much.
    pub fn counts_disagree(&self) -> Option<(u64, u64)> {
        let read = self.detail.as_ref()?.instances;
        (read != self.counts.instances).then_some((self.counts.instances, read))
    }
}

/// A group whose `DescribePatchGroupState.Instances` differed from what its per-instance pass read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountsDisagreement {
    /// The group.
    pub patch_group: String,
    /// `DescribePatchGroupState.Instances`.
    pub counted: u64,
    /// Instances the per-instance pass read.
    pub read: u64,
}

/// A CloudWatch unit, as the metrics use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// A count of instances or patches.
    Count,
    /// A percentage, 0 to 100.
    Percent,
    /// Hours have no CloudWatch unit; the metric name says `Hours`.
    None,
}

/// One data point to publish: metric name, dimension value, unit, value (always finite).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataPoint {
    /// The metric name.
    pub metric: &'static str,
    /// The `PatchGroup` dimension (`ALL` for the fleet).
    pub patch_group: String,
    /// Its unit.
    pub unit: Unit,
    /// Its value.
    pub value: f64,
}

/// The dimension value of fleet-wide data points. Patch group names cannot contain parentheses, so
/// it never collides with a group.
pub const FLEET: &str = "(fleet)";

/// The metrics a group publishes: every metric when its per-instance pass was read, else those the
/// counts give (the patch totals, staleness and oldest operation are left out, never published as
/// zeros), with staleness and oldest operation when the summaries gave them.
pub fn figures_points(
    patch_group: &str,
    figures: &GroupFigures,
    now: DateTime<Utc>,
) -> Vec<DataPoint> {
    let points = group_points(patch_group, &figures.stats(), now);
    if figures.detail.is_some() {
        return points;
    }
    let left_out = if figures.summary.is_some() {
        PATCH_TOTALS
    } else {
        PER_INSTANCE_ONLY
    };
    points
        .into_iter()
        .filter(|point| !left_out.contains(&point.metric))
        .collect()
}

/// The metrics only the group pages give: the summaries count nodes, not patches.
pub const PATCH_TOTALS: &[&str] = &["MissingPatches", "FailedPatches"];

/// The metrics only the per-instance pass can give.
pub const PER_INSTANCE_ONLY: &[&str] = &[
    "MissingPatches",
    "FailedPatches",
    "StaleInstances",
    "OldestScanAgeHours",
];

/// The metrics every group and the fleet publish, from their stats.
pub fn group_points(patch_group: &str, stats: &GroupStats, now: DateTime<Utc>) -> Vec<DataPoint> {
    let point = |metric, unit, value: f64| DataPoint {
        metric,
        patch_group: patch_group.to_owned(),
        unit,
        value,
    };
    let mut points = vec![
        point("Instances", Unit::Count, stats.instances as f64),
        point("CompliantInstances", Unit::Count, stats.compliant as f64),
        point(
            "NonCompliantInstances",
            Unit::Count,
            stats.non_compliant as f64,
        ),
        point(
            "InstancesWithFailedPatches",
            Unit::Count,
            stats.with_failed as f64,
        ),
        point(
            "InstancesWithMissingPatches",
            Unit::Count,
            stats.with_missing as f64,
        ),
        point(
            "InstancesWithCriticalNonCompliantPatches",
            Unit::Count,
            stats.with_critical as f64,
        ),
        point(
            "InstancesWithSecurityNonCompliantPatches",
            Unit::Count,
            stats.with_security as f64,
        ),
        point(
            "InstancesWithPendingRebootPatches",
            Unit::Count,
            stats.with_pending_reboot as f64,
        ),
        point("MissingPatches", Unit::Count, stats.missing_patches as f64),
        point("FailedPatches", Unit::Count, stats.failed_patches as f64),
        point("StaleInstances", Unit::Count, stats.stale as f64),
    ];
    if let Some(percent) = stats.compliance_percent() {
        points.push(point("CompliancePercent", Unit::Percent, percent));
    }
    if let Some(hours) = stats.oldest_scan_age_hours(now) {
        points.push(point("OldestScanAgeHours", Unit::None, hours));
    }
    points
}

/// Facts about the whole fleet beyond the sum of its groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetFacts {
    /// Managed instances (DescribeInstanceInformation), when the inventory ran.
    pub managed: Option<u64>,
    /// Managed instances carrying a patch-group tag, when the inventory ran.
    pub grouped: Option<u64>,
    /// Groups whose read failed.
    pub groups_failed: u64,
    /// Groups not read before the invocation's stop time.
    pub groups_skipped_for_time: u64,
}

/// The fleet's data points from the groups' figures: as [`fleet_points`] over each group's stats,
/// plus how many groups were published from counts alone (`GroupsDetailSkipped`) and how many of
/// those have a compliance that is a bound (`GroupsEstimated`). The fleet's per-instance figures
/// (stale, patch totals) sum the groups read in full (staleness also those the summaries read).
pub fn fleet_figures_points(
    groups: &[(String, GroupFigures)],
    facts: &FleetFacts,
    now: DateTime<Utc>,
) -> Vec<DataPoint> {
    let stats: Vec<(String, GroupStats)> = groups
        .iter()
        .map(|(group, figures)| (group.clone(), figures.stats()))
        .collect();
    let mut points = fleet_points(&stats, facts, now);
    let count = |keep: fn(&GroupFigures) -> bool| {
        groups.iter().filter(|(_, figures)| keep(figures)).count() as f64
    };
    for (metric, value) in [
        ("GroupsDetailSkipped", count(|f| f.detail.is_none())),
        ("GroupsEstimated", count(GroupFigures::is_estimate)),
    ] {
        points.push(DataPoint {
            metric,
            patch_group: FLEET.to_owned(),
            unit: Unit::Count,
            value,
        });
    }
    points
}

/// The fleet's data points: the merged stats of every group read, plus never-reported and ungrouped
/// instances, the worst group's compliance, and how many groups could not be read.
pub fn fleet_points(
    groups: &[(String, GroupStats)],
    facts: &FleetFacts,
    now: DateTime<Utc>,
) -> Vec<DataPoint> {
    let mut fleet = GroupStats::default();
    for (_, stats) in groups {
        fleet.merge(stats);
    }
    let never_reported = facts
        .grouped
        .map(|grouped| grouped.saturating_sub(fleet.instances));
    // Never-reported instances cannot be vouched for: they are stale too.
    fleet.stale += never_reported.unwrap_or(0);
    let mut points = group_points(FLEET, &fleet, now);
    let point = |metric, unit, value: f64| DataPoint {
        metric,
        patch_group: FLEET.to_owned(),
        unit,
        value,
    };
    if let Some(never) = never_reported {
        points.push(point("NeverReportedInstances", Unit::Count, never as f64));
    }
    if let (Some(managed), Some(grouped)) = (facts.managed, facts.grouped) {
        points.push(point(
            "UngroupedInstances",
            Unit::Count,
            managed.saturating_sub(grouped) as f64,
        ));
    }
    let worst = groups
        .iter()
        .filter_map(|(_, stats)| stats.compliance_percent())
        .fold(None, |worst: Option<f64>, percent| {
            Some(worst.map_or(percent, |w| w.min(percent)))
        });
    if let Some(worst) = worst {
        points.push(point("WorstGroupCompliancePercent", Unit::Percent, worst));
    }
    points.push(point("GroupsReported", Unit::Count, groups.len() as f64));
    points.push(point(
        "GroupsFailed",
        Unit::Count,
        facts.groups_failed as f64,
    ));
    points.push(point(
        "GroupsSkippedForTime",
        Unit::Count,
        facts.groups_skipped_for_time as f64,
    ));
    points
}

/// The most data points one group publishes ([`group_points`] with every figure present).
pub const POINTS_PER_GROUP: usize = 13;

/// The most data points a snapshot of `groups` groups publishes: each group's and the fleet's.
pub fn most_points(groups: usize) -> usize {
    groups * (POINTS_PER_GROUP + crate::coverage::POINTS_PER_GROUP) + METRIC_NAMES.len()
}

/// Every metric name the function can publish (the template's alarms and dashboard are tested
/// against this list).
pub const METRIC_NAMES: &[&str] = &[
    "Instances",
    "CompliantInstances",
    "NonCompliantInstances",
    "InstancesWithFailedPatches",
    "InstancesWithMissingPatches",
    "InstancesWithCriticalNonCompliantPatches",
    "InstancesWithSecurityNonCompliantPatches",
    "InstancesWithPendingRebootPatches",
    "MissingPatches",
    "FailedPatches",
    "StaleInstances",
    "CompliancePercent",
    "OldestScanAgeHours",
    "NeverReportedInstances",
    "UngroupedInstances",
    "UnmanagedInstances",
    "WorstGroupCompliancePercent",
    "GroupsReported",
    "GroupsFailed",
    "GroupsSkippedForTime",
    "GroupsDetailSkipped",
    "GroupsEstimated",
];

#[cfg(test)]
mod tests {

    #[test]
    fn counts_and_a_full_read_that_differ_are_named_with_both_numbers() {
        let counts = GroupCounts {
            instances: 10,
            ..GroupCounts::default()
        };
        let read = |instances| GroupStats {
            instances,
            ..GroupStats::default()
        };
        let figures = |detail| GroupFigures {
            detail,
            ..GroupFigures::counted(counts.clone())
        };
        assert_eq!(figures(None).counts_disagree(), None, "not read in full");
        assert_eq!(figures(Some(read(10))).counts_disagree(), None);
        assert_eq!(figures(Some(read(8))).counts_disagree(), Some((10, 8)));
        assert_eq!(figures(Some(read(12))).counts_disagree(), Some((10, 12)));
    }

    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn reported(hours_ago: i64) -> InstanceState {
        InstanceState {
            operation_end: Some(now() - Duration::hours(hours_ago)),
            ..Default::default()
        }
    }

    /// The counts `DescribePatchGroupState` would give for `states`.
    fn counts_of(states: &[InstanceState]) -> GroupCounts {
        let with = |field: fn(&InstanceState) -> i64| {
            states.iter().filter(|state| field(state) > 0).count() as u64
        };
        GroupCounts {
            instances: states.len() as u64,
            with_missing: with(|s| s.missing),
            with_failed: with(|s| s.failed),
            with_pending_reboot: with(|s| s.installed_pending_reboot),
            with_rejected: with(|s| s.installed_rejected),
            with_critical: with(|s| s.critical_non_compliant),
            with_security: with(|s| s.security_non_compliant),
            with_other: with(|s| s.other_non_compliant),
        }
    }

    /// For any group, the counts' bounds hold the true non-compliant number, an exact verdict is
    /// right, and the compliance published from counts is never below the truth by construction
    /// (it is the most the counts allow) and equals it when exact.
    #[test]
    fn counts_bound_the_true_compliance_of_any_group() {
        let mut rng = fastrand::Rng::with_seed(26);
        for _ in 0..5_000 {
            let size = rng.usize(0..40);
            // Sparse reasons, so groups with none, one and several reasons all occur.
            let mut draw = || i64::from(rng.u8(0..10) == 0) * rng.i64(1..4);
            let states: Vec<InstanceState> = (0..size)
                .map(|_| InstanceState {
                    missing: draw(),
                    failed: draw(),
                    installed_pending_reboot: draw(),
                    installed_rejected: draw(),
                    critical_non_compliant: draw(),
                    security_non_compliant: draw(),
                    other_non_compliant: draw(),
                    operation_end: Some(now()),
                })
                .collect();
            let mut truth = GroupStats::default();
            for state in &states {
                truth.add(state, now(), Duration::hours(168));
            }
            let counts = counts_of(&states);
            let (least, most) = counts.non_compliant_bounds();
            assert!(
                least <= truth.non_compliant && truth.non_compliant <= most,
                "{counts:?}: {least}..={most} vs {}",
                truth.non_compliant
            );
            let estimated = counts.as_stats();
            assert_eq!(estimated.instances, truth.instances);
            assert!(estimated.compliant >= truth.compliant);
            if counts.is_exact() {
                assert_eq!(estimated.compliant, truth.compliant, "{counts:?}");
            }
            for (a, b) in [
                (estimated.with_failed, truth.with_failed),
                (estimated.with_missing, truth.with_missing),
                (estimated.with_critical, truth.with_critical),
                (estimated.with_security, truth.with_security),
                (estimated.with_pending_reboot, truth.with_pending_reboot),
            ] {
                assert_eq!(a, b, "the per-reason counts are exact");
            }
        }
    }

    #[test]
    fn the_publishing_estimate_covers_every_point() {
        let full = GroupStats {
            instances: 3,
            compliant: 1,
            oldest_operation: Some(now()),
            ..GroupStats::default()
        };
        assert_eq!(group_points("web", &full, now()).len(), POINTS_PER_GROUP);
        let groups: Vec<(String, GroupStats)> =
            (0..5).map(|n| (format!("g{n}"), full.clone())).collect();
        let facts = FleetFacts {
            managed: Some(20),
            grouped: Some(18),
            ..FleetFacts::default()
        };
        let figures: Vec<(String, GroupFigures)> = groups
            .iter()
            .map(|(group, stats)| {
                (
                    group.clone(),
                    GroupFigures {
                        detail: Some(stats.clone()),
                        ..GroupFigures::counted(GroupCounts::default())
                    },
                )
            })
            .collect();
        let fleet = fleet_figures_points(&figures, &facts, now());
        assert!(5 * POINTS_PER_GROUP + fleet.len() <= most_points(5));
    }

    #[test]
    fn a_group_without_its_per_instance_pass_leaves_those_metrics_out() {
        let counts = GroupCounts {
            instances: 10,
            with_missing: 3,
            with_critical: 2,
            ..GroupCounts::default()
        };
        let figures = GroupFigures::counted(counts.clone());
        assert!(figures.is_estimate(), "two reasons: 3 to 5 non-compliant");
        let points = figures_points("web", &figures, now());
        let value = |metric: &str| points.iter().find(|p| p.metric == metric).map(|p| p.value);
        assert_eq!(
            value("CompliancePercent"),
            Some(70.0),
            "the most the counts allow"
        );
        assert_eq!(value("InstancesWithMissingPatches"), Some(3.0));
        for metric in PER_INSTANCE_ONLY {
            assert_eq!(value(metric), None, "{metric} is not published as zero");
        }
        let read = GroupFigures {
            summary: None,
            counts,
            detail: Some(GroupStats {
                instances: 10,
                compliant: 6,
                non_compliant: 4,
                stale: 1,
                ..GroupStats::default()
            }),
        };
        assert!(!read.is_estimate());
        let points = figures_points("web", &read, now());
        let value = |metric: &str| points.iter().find(|p| p.metric == metric).map(|p| p.value);
        assert_eq!(
            value("CompliancePercent"),
            Some(60.0),
            "the per-instance figure wins"
        );
        assert_eq!(value("StaleInstances"), Some(1.0));
        let fleet = fleet_figures_points(
            &[("a".into(), figures), ("b".into(), read)],
            &FleetFacts::default(),
            now(),
        );
        let value = |metric: &str| fleet.iter().find(|p| p.metric == metric).map(|p| p.value);
        assert_eq!(value("GroupsDetailSkipped"), Some(1.0));
        assert_eq!(value("GroupsEstimated"), Some(1.0));
        assert_eq!(value("CompliantInstances"), Some(13.0));
    }

    #[test]
    fn a_group_the_summaries_read_publishes_exact_compliance_and_staleness_but_no_patch_totals() {
        let counts = GroupCounts {
            instances: 10,
            with_missing: 3,
            with_critical: 2,
            ..GroupCounts::default()
        };
        let oldest = now() - Duration::hours(30);
        let figures = GroupFigures {
            summary: Some(SummaryStats {
                instances: 10,
                compliant: 6,
                non_compliant: 4,
                stale: 2,
                oldest_operation: Some(oldest),
            }),
            ..GroupFigures::counted(counts)
        };
        assert!(!figures.is_estimate(), "the summaries say exactly");
        let points = figures_points("web", &figures, now());
        let value = |metric: &str| points.iter().find(|p| p.metric == metric).map(|p| p.value);
        assert_eq!(value("CompliancePercent"), Some(60.0));
        assert_eq!(value("NonCompliantInstances"), Some(4.0));
        assert_eq!(value("StaleInstances"), Some(2.0));
        assert_eq!(value("OldestScanAgeHours"), Some(30.0));
        assert_eq!(
            value("InstancesWithMissingPatches"),
            Some(3.0),
            "the counts"
        );
        for metric in PATCH_TOTALS {
            assert_eq!(value(metric), None, "{metric} is not published as zero");
        }
        let fleet = fleet_figures_points(&[("web".into(), figures)], &FleetFacts::default(), now());
        let value = |metric: &str| fleet.iter().find(|p| p.metric == metric).map(|p| p.value);
        assert_eq!(value("StaleInstances"), Some(2.0));
        assert_eq!(value("GroupsEstimated"), Some(0.0));
        assert_eq!(
            value("GroupsDetailSkipped"),
            Some(1.0),
            "the pages were not read"
        );
    }

    #[test]
    fn each_kind_of_non_compliance_counts() {
        assert!(reported(1).is_compliant());
        for state in [
            InstanceState {
                missing: 1,
                ..reported(1)
            },
            InstanceState {
                failed: 2,
                ..reported(1)
            },
            InstanceState {
                installed_pending_reboot: 1,
                ..reported(1)
            },
            InstanceState {
                installed_rejected: 1,
                ..reported(1)
            },
            InstanceState {
                critical_non_compliant: 1,
                ..reported(1)
            },
            InstanceState {
                security_non_compliant: 1,
                ..reported(1)
            },
            InstanceState {
                other_non_compliant: 1,
                ..reported(1)
            },
        ] {
            assert!(!state.is_compliant(), "{state:?}");
        }
    }

    #[test]
    fn stats_add_up() {
        let mut stats = GroupStats::default();
        let stale_after = Duration::hours(168);
        stats.add(&reported(2), now(), stale_after);
        stats.add(
            &InstanceState {
                missing: 3,
                critical_non_compliant: 1,
                ..reported(10)
            },
            now(),
            stale_after,
        );
        stats.add(
            &InstanceState {
                failed: 2,
                security_non_compliant: 2,
                ..reported(200)
            },
            now(),
            stale_after,
        );
        stats.add(
            &InstanceState {
                installed_pending_reboot: 1,
                ..reported(5)
            },
            now(),
            stale_after,
        );
        assert_eq!(stats.instances, 4);
        assert_eq!(stats.compliant, 1);
        assert_eq!(stats.non_compliant, 3);
        assert_eq!(stats.with_missing, 1);
        assert_eq!(stats.with_failed, 1);
        assert_eq!(stats.with_critical, 1);
        assert_eq!(stats.with_security, 1);
        assert_eq!(stats.with_pending_reboot, 1);
        assert_eq!(stats.missing_patches, 3);
        assert_eq!(stats.failed_patches, 2);
        assert_eq!(stats.stale, 1);
        assert_eq!(stats.compliance_percent(), Some(25.0));
        assert_eq!(stats.oldest_scan_age_hours(now()), Some(200.0));
    }

    #[test]
    fn empty_groups_publish_no_nan_or_infinity() {
        let points = group_points("empty", &GroupStats::default(), now());
        assert!(points.iter().all(|p| p.value.is_finite()));
        assert!(!points.iter().any(|p| p.metric == "CompliancePercent"));
        let fleet = fleet_points(
            &[("empty".into(), GroupStats::default())],
            &FleetFacts::default(),
            now(),
        );
        assert!(fleet.iter().all(|p| p.value.is_finite()));
        assert!(
            !fleet
                .iter()
                .any(|p| p.metric == "WorstGroupCompliancePercent")
        );
    }

    #[test]
    fn fleet_adds_never_reported_ungrouped_and_the_worst_group() {
        let mut good = GroupStats::default();
        let mut bad = GroupStats::default();
        for _ in 0..4 {
            good.add(&reported(1), now(), Duration::hours(168));
        }
        bad.add(&reported(1), now(), Duration::hours(168));
        bad.add(
            &InstanceState {
                missing: 1,
                ..reported(1)
            },
            now(),
            Duration::hours(168),
        );
        let facts = FleetFacts {
            managed: Some(10),
            grouped: Some(8),
            groups_failed: 1,
            groups_skipped_for_time: 3,
        };
        let points = fleet_points(&[("good".into(), good), ("bad".into(), bad)], &facts, now());
        let value = |name: &str| points.iter().find(|p| p.metric == name).map(|p| p.value);
        assert_eq!(value("Instances"), Some(6.0));
        assert_eq!(value("NeverReportedInstances"), Some(2.0));
        assert_eq!(value("StaleInstances"), Some(2.0));
        assert_eq!(value("UngroupedInstances"), Some(2.0));
        assert_eq!(value("WorstGroupCompliancePercent"), Some(50.0));
        assert_eq!(value("GroupsFailed"), Some(1.0));
        assert_eq!(value("GroupsSkippedForTime"), Some(3.0));
        assert!(points.iter().all(|p| p.patch_group == FLEET));
        for point in &points {
            assert!(
                METRIC_NAMES.contains(&point.metric),
                "{} undeclared",
                point.metric
            );
        }
    }
}
