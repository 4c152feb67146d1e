//! The fleet's compliance summaries (`ListResourceComplianceSummaries`): one listing of every node's
//! patch compliance, 50 nodes a page, placed in patch groups by their EC2 tags. Where a group's
//! per-instance pages hold few states (the model caps them at 5: ledger row 30) the summaries give
//! every group's exact compliance, staleness and oldest report several times sooner than the group
//! pages (measured: docs/measured.md, "The per-instance pass's two sources"); the group pages then
//! add only the patch totals. Pure: the choice, and the fold of one summary at a time.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::aggregate::GroupFigures;

/// `ListResourceComplianceSummaries` answers at most 50 items a page.
pub const SUMMARIES_PAGE: usize = 50;

/// Whether to list the summaries, as configured (`COMPLIANCE_SUMMARIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SummariesMode {
    /// When they would read the fleet faster than the group pages ([`summaries_faster`]).
    Auto,
    /// Every run that lists EC2's instances.
    Always,
    /// Never.
    Never,
}

/// Whether one summaries cursor reads nodes faster than the group pages: both wait on the service
/// (measured: neither was throttled at 20 requests/s), so each call's worth is what it carries. A
/// group page carries at most `page` states and never more than its group holds; `concurrency` of
/// them are in flight at once; the summaries come one page of 50 at a time.
pub fn summaries_faster(page: usize, mean_group: f64, concurrency: usize) -> bool {
    let per_group_call = (page as f64).min(mean_group.max(1.0));
    per_group_call * (concurrency as f64) < SUMMARIES_PAGE as f64
}

/// What the summaries say of one group: whether each node complies, and when it last reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SummaryStats {
    /// Nodes with a patch compliance summary.
    pub instances: u64,
    /// Of those, `COMPLIANT`.
    pub compliant: u64,
    /// Of those, not.
    pub non_compliant: u64,
    /// Nodes whose last patch operation is older than the stale threshold (or has no time).
    pub stale: u64,
    /// The oldest last-operation time.
    pub oldest_operation: Option<DateTime<Utc>>,
}

impl SummaryStats {
    /// Counts one node in, by the same rules as the per-instance pass.
    pub fn add(
        &mut self,
        compliant: bool,
        execution: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) {
        self.instances += 1;
        if compliant {
            self.compliant += 1;
        } else {
            self.non_compliant += 1;
        }
        crate::aggregate::count_operation_end(
            execution,
            now,
            stale_after,
            &mut self.stale,
            &mut self.oldest_operation,
        );
    }
}

/// Every summary read, by the patch group EC2's tags put its node in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    /// By group.
    pub groups: BTreeMap<String, SummaryStats>,
    /// Nodes EC2 listed without a patch-group tag.
    pub ungrouped: u64,
    /// Nodes EC2 did not list (hybrid nodes, gone instances): no group can be told for them.
    pub unplaced: u64,
    /// Items of another resource type or without an id (not counted anywhere else).
    pub ignored: u64,
}

impl Folded {
    /// Counts one summary in, placed by `placement` (EC2's answer for its node: not listed, no tag,
    /// or the group its tag names).
    pub fn add(
        &mut self,
        placement: Option<Option<&str>>,
        compliant: bool,
        execution: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        stale_after: Duration,
    ) {
        match placement {
            None => self.unplaced += 1,
            Some(None) => self.ungrouped += 1,
            Some(Some(group)) => {
                if !self.groups.contains_key(group) {
                    self.groups
                        .insert(group.to_owned(), SummaryStats::default());
                }
                if let Some(stats) = self.groups.get_mut(group) {
                    stats.add(compliant, execution, now, stale_after);
                }
            }
        }
    }
}

/// What the groups' counts say for the choice, taken before the fleet is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// As configured.
    pub mode: SummariesMode,
    /// The group with the most instances and how many (the one whose page size shows), if any.
    pub largest: Option<(String, u64)>,
    /// Instances a group holds on average.
    pub mean_group: f64,
    /// Groups read at once.
    pub concurrency: usize,
}

impl Plan {
    /// The plan for the groups whose counts were read.
    pub fn new(
        mode: SummariesMode,
        counted: &[(String, GroupFigures)],
        concurrency: usize,
    ) -> Self {
        let total: u64 = counted.iter().map(|(_, f)| f.counts.instances).sum();
        Self {
            mode,
            largest: counted
                .iter()
                .max_by_key(|(_, f)| f.counts.instances)
                .map(|(group, f)| (group.clone(), f.counts.instances)),
            mean_group: total as f64 / counted.len().max(1) as f64,
            concurrency,
        }
    }

    /// The group whose first page shows the service's page size: the largest, when it holds more
    /// than the fewest a page may hold (a smaller group fits any page, so its size cannot matter).
    pub fn group_to_probe(&self) -> Option<&str> {
        match (&self.mode, &self.largest) {
            (SummariesMode::Auto, Some((group, instances)))
                if *instances > FEWEST_A_PAGE as u64 =>
            {
                Some(group)
            }
            _ => None,
        }
    }

    /// Why to list the summaries, given the page size probed (`None`: not probed); `None` when not
    /// to.
    pub fn reason(&self, page: Option<usize>) -> Option<String> {
        match self.mode {
            SummariesMode::Never => None,
            SummariesMode::Always => Some("COMPLIANCE_SUMMARIES is always".to_owned()),
            SummariesMode::Auto if self.largest.is_none() => None,
            SummariesMode::Auto => {
                let page = page.unwrap_or(usize::MAX);
                summaries_faster(page, self.mean_group, self.concurrency).then(|| {
                    let per_call = (page as f64).min(self.mean_group.max(1.0));
                    format!(
                        "group pages carry {per_call:.0} states a call ({} a page, {:.0} instances a group on average), {} groups at a time: fewer than the summaries' {SUMMARIES_PAGE} a page",
                        if page == usize::MAX { "any".to_owned() } else { page.to_string() },
                        self.mean_group,
                        self.concurrency
                    )
                })
            }
        }
    }
}

/// The fewest states a per-instance page may hold: the model's output cap (ledger row 30).
pub const FEWEST_A_PAGE: usize = 5;

/// Gives each group the summaries' figures when they counted exactly as many of its nodes as its
/// counts did; returns the groups given them and the groups they disagreed with (whose summaries are
/// not used: a node tagged into the group since it last reported, or one the summaries lack).
pub fn apply(folded: &Folded, groups: &mut [(String, GroupFigures)]) -> (usize, Vec<String>) {
    let (mut used, mut disagree) = (0, Vec::new());
    for (group, figures) in groups.iter_mut() {
        let read = folded.groups.get(group.as_str());
        let read_instances = read.map_or(0, |stats| stats.instances);
        if read_instances != figures.counts.instances {
            disagree.push(group.clone());
            continue;
        }
        if let Some(stats) = read {
            figures.summary = Some(stats.clone());
            used += 1;
        }
    }
    (used, disagree)
}

/// What the summaries did in a snapshot (in its summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SummariesReport {
    /// Why they were listed; `None`: they were not.
    pub listed_because: Option<String>,
    /// Whether the listing finished (a listing cut short is used for nothing: a group's figures
    /// need every one of its nodes).
    pub complete: bool,
    /// Nodes read.
    pub nodes: u64,
    /// Nodes EC2 did not list, so no group could be told for them.
    pub unplaced: u64,
    /// Groups published with the summaries' compliance and staleness.
    pub groups_used: usize,
    /// Groups whose summaries did not count as many nodes as `DescribePatchGroupState` did: their
    /// summaries are not used (a node tagged since it last reported, or one EC2 did not place).
    pub groups_disagree: Vec<String>,
    /// Why they were not listed or nothing was used, when so.
    pub unused_because: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summaries_are_chosen_when_a_group_call_carries_fewer_nodes_than_a_summaries_page() {
        // Pages of 5, four groups at a time: 20 nodes a call against 50.
        assert!(summaries_faster(5, 450.0, 4));
        // Pages of 100: 400 against 50.
        assert!(!summaries_faster(100, 450.0, 4));
        // Pages of 100 but groups of 10: a call per group whatever its size, 40 against 50.
        assert!(summaries_faster(100, 10.0, 4));
        assert!(!summaries_faster(100, 13.0, 4));
        // Ten groups read at once at 5 a page: 50 against 50, no gain.
        assert!(!summaries_faster(5, 450.0, 10));
        // Empty groups still cost a call each.
        assert!(summaries_faster(100, 0.0, 4));
    }

    #[test]
    fn a_summary_counts_as_the_per_instance_pass_counts_it() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let week = Duration::days(7);
        let mut stats = SummaryStats::default();
        stats.add(true, Some(now - Duration::hours(1)), now, week);
        stats.add(false, Some(now - Duration::days(8)), now, week);
        stats.add(true, None, now, week);
        stats.add(true, Some(now - week), now, week);
        assert_eq!(
            stats,
            SummaryStats {
                instances: 4,
                compliant: 3,
                non_compliant: 1,
                stale: 2,
                oldest_operation: Some(now - Duration::days(8)),
            }
        );
        let mut per_instance = crate::aggregate::GroupStats::default();
        for (missing, end) in [
            (0, Some(now - Duration::hours(1))),
            (1, Some(now - Duration::days(8))),
            (0, None),
            (0, Some(now - week)),
        ] {
            let state = crate::aggregate::InstanceState {
                missing,
                operation_end: end,
                ..Default::default()
            };
            per_instance.add(&state, now, week);
        }
        assert_eq!(
            (
                per_instance.compliant,
                per_instance.non_compliant,
                per_instance.stale,
                per_instance.oldest_operation
            ),
            (
                stats.compliant,
                stats.non_compliant,
                stats.stale,
                stats.oldest_operation
            )
        );
    }

    fn counted(instances: u64) -> GroupFigures {
        GroupFigures::counted(crate::aggregate::GroupCounts {
            instances,
            ..Default::default()
        })
    }

    #[test]
    fn the_plan_probes_the_largest_group_and_says_why_it_lists() {
        let groups = vec![
            ("db".to_owned(), counted(40)),
            ("web".to_owned(), counted(400)),
            ("empty".to_owned(), counted(0)),
        ];
        let plan = Plan::new(SummariesMode::Auto, &groups, 4);
        assert_eq!(plan.group_to_probe(), Some("web"));
        assert_eq!(plan.mean_group, 440.0 / 3.0);
        let reason = plan.reason(Some(5)).expect("pages of 5");
        assert!(
            reason.contains("5 a page") && reason.contains("4 groups"),
            "{reason}"
        );
        assert_eq!(plan.reason(Some(100)), None);
        assert_eq!(
            plan.reason(None),
            None,
            "not probed: pages as large as asked"
        );
        // Groups no larger than the fewest a page holds: nothing to probe, the group size decides.
        let small = vec![("a".to_owned(), counted(5)), ("b".to_owned(), counted(3))];
        let plan = Plan::new(SummariesMode::Auto, &small, 4);
        assert_eq!(plan.group_to_probe(), None);
        assert!(plan.reason(None).is_some(), "4 nodes a call, 4 at a time");
        let none: Vec<(String, GroupFigures)> = vec![];
        assert_eq!(Plan::new(SummariesMode::Auto, &none, 4).reason(None), None);
        let always = Plan::new(SummariesMode::Always, &groups, 4);
        assert_eq!(always.group_to_probe(), None);
        assert!(always.reason(None).is_some());
        let never = Plan::new(SummariesMode::Never, &small, 4);
        assert_eq!((never.group_to_probe(), never.reason(None)), (None, None));
    }

    #[test]
    fn a_group_gets_the_summaries_only_when_they_counted_it_whole() {
        let now = Utc::now();
        let week = Duration::days(7);
        let mut folded = Folded::default();
        for (group, nodes) in [("web", 3), ("db", 2)] {
            for _ in 0..nodes {
                folded.add(Some(Some(group)), true, Some(now), now, week);
            }
        }
        let mut groups = vec![
            ("db".to_owned(), counted(3)),
            ("empty".to_owned(), counted(0)),
            ("missing".to_owned(), counted(1)),
            ("web".to_owned(), counted(3)),
        ];
        let (used, disagree) = apply(&folded, &mut groups);
        assert_eq!(used, 1);
        assert_eq!(disagree, ["db", "missing"]);
        assert_eq!(groups[3].1.summary.as_ref().map(|s| s.instances), Some(3));
        assert!(groups[0].1.summary.is_none(), "2 read against 3 counted");
        assert!(groups[1].1.summary.is_none(), "nothing to give");
    }

    #[test]
    fn summaries_are_placed_by_ec2_or_counted_apart() {
        let now = Utc::now();
        let mut folded = Folded::default();
        let week = Duration::days(7);
        folded.add(Some(Some("web")), true, Some(now), now, week);
        folded.add(Some(Some("web")), false, Some(now), now, week);
        folded.add(Some(Some("db")), true, Some(now), now, week);
        folded.add(Some(None), true, Some(now), now, week);
        folded.add(None, false, Some(now), now, week);
        assert_eq!(folded.groups["web"].instances, 2);
        assert_eq!(folded.groups["web"].non_compliant, 1);
        assert_eq!(folded.groups["db"].compliant, 1);
        assert_eq!((folded.ungrouped, folded.unplaced), (1, 1));
    }
}
