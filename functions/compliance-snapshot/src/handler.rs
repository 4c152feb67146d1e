//! Trigger → discover → read groups (bounded concurrency) → aggregate → publish → summarise.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use patchpilot_shared::CommonConfig;
use patchpilot_shared::budget::Budget;
use patchpilot_shared::runtime::{Handled, Handler};
use patchpilot_shared::{Event, FunctionError};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::aggregate::{self, DataPoint, FleetFacts, GroupCounts, GroupFigures, GroupStats};
use crate::config::SnapshotConfig;
use crate::coverage::{self, Coverage, ManagedIds};
use crate::gather::{self, CallCounts};
use crate::publish;
use crate::summaries::{self, Folded, Plan, SUMMARIES_PAGE, SummariesMode, SummariesReport};

/// A group that could not be read: left out of this snapshot, never published as zeros.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFailure {
    /// The group.
    pub patch_group: String,
    /// Why it could not be read.
    pub error: String,
}

/// The fleet's headline figures, in the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetSummary {
    /// Instances that reported, fleet-wide.
    pub instances: u64,
    /// Of those, compliant.
    pub compliant: u64,
    /// Compliant as a percentage; `None` with no instance.
    pub compliance_percent: Option<f64>,
    /// The group with the lowest compliance, and its percentage.
    pub worst_group: Option<(String, f64)>,
    /// Instances whose last patch operation is stale.
    pub stale: u64,
    /// Managed instances that never reported a patch state (with the inventory).
    pub never_reported: Option<u64>,
    /// Managed instances in no patch group (with the inventory).
    pub ungrouped: Option<u64>,
    /// Running EC2 instances Systems Manager does not manage (with EC2 coverage).
    pub unmanaged: Option<u64>,
}

/// What a snapshot invocation did (`outcome` in its output and log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotOutcome {
    /// The figures went to CloudWatch.
    Published,
    /// DRY_RUN: the figures were computed and logged, not published.
    DryRun,
    /// Not an event that takes a snapshot.
    Ignored,
}

/// What an invocation did: the Lambda's return value and the log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// What the invocation did.
    pub outcome: SnapshotOutcome,
    /// Why nothing was taken, when ignored.
    pub reason: Option<String>,
    /// The CloudWatch namespace published to.
    pub namespace: String,
    /// Groups whose figures were published.
    pub groups_published: Vec<String>,
    /// Groups that could not be read, with why.
    pub groups_failed: Vec<GroupFailure>,
    /// Every group and the inventory were read. False: the invocation's deadline came first and
    /// what was read in time was published (`groups_skipped_for_time`, `inventory_skipped_for_time`).
    pub complete: bool,
    /// Groups whose counts were not read before the stop time: left out of this snapshot, never
    /// published as zeros.
    pub groups_skipped_for_time: Vec<String>,
    /// Groups published from their counts alone: the per-instance pass did not read them in full
    /// before the stop time (or failed), so their patch totals and staleness are left out this time.
    pub groups_detail_skipped: Vec<String>,
    /// Of those, the groups whose compliance is a bound (the most the counts allow), not exact.
    pub groups_estimated: Vec<String>,
    /// Groups read in full whose `DescribePatchGroupState.Instances` differed from the instances
    /// the per-instance pass read (ledger row 10: what `Instances` counts is not published).
    pub groups_counts_disagree: Vec<aggregate::CountsDisagreement>,
    /// The fleet inventory was not finished in time (never-reported and ungrouped counts left out).
    pub inventory_skipped_for_time: bool,
    /// Why the fleet inventory could not be read.
    pub inventory_error: Option<String>,
    /// How the inventory counted the managed nodes carrying a patch-group tag, when it did.
    pub inventory_grouping: Option<InventoryGrouping>,
    /// Data points published (or, under DRY_RUN, computed).
    pub data_points: usize,
    /// PutMetricData calls made.
    pub put_metric_data_calls: usize,
    /// Data points the deadline kept from being published (the last batches; never the fleet's
    /// first).
    pub points_cut_for_time: usize,
    /// How long publishing took, in milliseconds (measured: what the reserve must cover).
    pub publish_ms: u64,
    /// The time the reads left for publishing beyond the margin, in milliseconds.
    pub publish_reserve_ms: u64,
    /// The fleet's compliance summaries: why they were listed or not, what they gave.
    pub compliance_summaries: Option<SummariesReport>,
    /// SSM calls made, by operation.
    pub ssm_calls: CallCounts,
    /// EC2 DescribeInstances calls made (coverage).
    pub ec2_calls: usize,
    /// The fleet's headline figures.
    pub fleet: FleetSummary,
}

/// How the fleet inventory counted the managed nodes carrying a patch-group tag (docs/functions.md,
/// "The fleet inventory"): from EC2's tags when EC2 listed every managed node, else by a second
/// Systems Manager listing filtered by tag key. The counts say why the second listing was needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InventoryGrouping {
    /// Where the count came from.
    pub by: GroupingSource,
    /// Managed EC2 instances EC2 did not list (terminated and gone, most often): any makes EC2's
    /// tags an incomplete answer. `None` without EC2's listing (`EC2_COVERAGE` off, or it failed).
    pub managed_not_in_ec2: Option<u64>,
    /// Managed nodes that are not EC2 instances (hybrid `mi-…`): their tags are Systems Manager's
    /// alone.
    pub other_nodes: u64,
}

/// The source of the inventory's grouped count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupingSource {
    /// The EC2 tags of the managed instances, from the join with EC2's listing.
    Ec2Tags,
    /// `DescribeInstanceInformation` filtered by the patch-group tag keys.
    TagFilter,
}

/// The snapshot taker: reads patch states, publishes metrics.
pub struct Snapshot {
    ssm: aws_sdk_ssm::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    ec2: aws_sdk_ec2::Client,
    config: SnapshotConfig,
}

impl Snapshot {
    /// The snapshot taker with its clients and settings.
    pub fn new(
        ssm: aws_sdk_ssm::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        ec2: aws_sdk_ec2::Client,
        config: SnapshotConfig,
    ) -> Self {
        Self {
            ssm,
            cloudwatch,
            ec2,
            config,
        }
    }
}

impl Handler for Snapshot {
    type Report = Summary;

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }

    /// Runs on a schedule or when a maintenance-window execution ends; ignores anything else.
    async fn handle_within(&self, payload: Value, budget: &Budget) -> Handled<Self> {
        let reason = match Event::parse(payload)? {
            Event::Scheduled(..) => None,
            Event::WindowExecution(_, _) if !self.config.on_window_end => Some(
                "SNAPSHOT_ON_WINDOW_END is false: only the schedule takes snapshots".to_owned(),
            ),
            Event::WindowExecution(_, detail) if detail.status.is_terminal() => None,
            Event::WindowExecution(_, detail) => Some(format!(
                "window execution {} is {}, not finished",
                detail.window_execution_id, detail.status
            )),
            other => Some(format!(
                "compliance-snapshot runs on schedules and window executions, not {:?}",
                other.meta().detail_type
            )),
        };
        if let Some(reason) = reason {
            let summary = Summary {
                outcome: SnapshotOutcome::Ignored,
                reason: Some(reason),
                namespace: self.config.namespace.clone(),
                groups_published: vec![],
                groups_failed: vec![],
                complete: true,
                groups_skipped_for_time: vec![],
                groups_detail_skipped: vec![],
                groups_estimated: vec![],
                groups_counts_disagree: vec![],
                inventory_skipped_for_time: false,
                inventory_error: None,
                inventory_grouping: None,
                data_points: 0,
                put_metric_data_calls: 0,
                points_cut_for_time: 0,
                publish_ms: 0,
                publish_reserve_ms: 0,
                compliance_summaries: None,
                ssm_calls: CallCounts::new(),
                ec2_calls: 0,
                fleet: FleetSummary::default(),
            };
            patchpilot_shared::logging::report("ignored", &summary);
            return Ok(summary);
        }
        self.run(budget).await
    }
}

impl Snapshot {
    /// Takes and publishes one snapshot, in two passes. First every group's counts
    /// (`DescribePatchGroupState`, one call a group), alone: the alarmed figures, for every group.
    /// Then, with the time left, the per-instance pass group by group (exact compliance, patch
    /// totals, staleness), the groups whose counts leave compliance uncertain first, beside the fleet
    /// inventory. Groups
    /// that fail are left out and named; after publishing the rest, the invocation ends in a
    /// retryable error so the failure is seen. Reading stops at the budget's stop time: what was read
    /// is published, what was not is named and counted (`GroupsSkippedForTime` for counts,
    /// `GroupsDetailSkipped` for the per-instance pass), and the invocation ends `Ok`, since a retry
    /// would only repeat it.
    pub async fn run(&self, budget: &Budget) -> Result<Summary, FunctionError> {
        let now = Utc::now();
        let mut calls = CallCounts::new();
        let groups = self.groups(budget, &mut calls).await?;
        // The reads stop early enough to publish what they read: the margin, and the time the
        // PutMetricData calls for every group's points are allowed.
        let publishing =
            publish::publish_reserve(aggregate::most_points(groups.len()), budget.margin());
        let budget = &budget.reserving(publishing);
        let mut reading = self.read(&groups, now, budget, calls).await;
        self.read_unregistered_groups(&mut reading, &groups, now, budget)
            .await;
        reading.apply_summaries();
        let mut points: Vec<DataPoint> = reading
            .published
            .iter()
            .flat_map(|(group, figures)| aggregate::figures_points(group, figures, now))
            .collect();
        let fleet_points = aggregate::fleet_figures_points(&reading.published, &reading.facts, now);
        let stats: Vec<(String, GroupStats)> = reading
            .published
            .iter()
            .map(|(group, figures)| (group.clone(), figures.stats()))
            .collect();
        let mut fleet = fleet_summary(&stats, &fleet_points);
        points.extend(fleet_points);
        if let Some(coverage) = &reading.coverage {
            fleet.unmanaged = Some(coverage.fleet.unmanaged);
            points.extend(coverage::points(coverage, &reading.published));
        }
        // The fleet's points first, then each group's alarmed figures: if the deadline cuts
        // publishing short, what is lost is the least watched.
        points.sort_by_key(|point| (point.patch_group != aggregate::FLEET, publish_rank(point)));
        let publish_started = std::time::Instant::now();
        let (outcome, published) = if self.config.common.dry_run {
            (SnapshotOutcome::DryRun, publish::Published::default())
        } else {
            let namespace = &self.config.namespace;
            // Publishing may use the margin too, up to a second before the deadline.
            let last_second = budget.with_margin(Duration::from_secs(1));
            let published =
                publish::publish(&self.cloudwatch, namespace, &points, now, &last_second).await?;
            (SnapshotOutcome::Published, published)
        };
        let publish_ms = u64::try_from(publish_started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let groups_estimated = reading
            .published
            .iter()
            .filter(|(_, figures)| figures.is_estimate())
            .map(|(group, _)| group.clone())
            .collect();
        let groups_counts_disagree: Vec<aggregate::CountsDisagreement> = reading
            .published
            .iter()
            .filter_map(|(group, figures)| {
                let (counted, read) = figures.counts_disagree()?;
                Some(aggregate::CountsDisagreement {
                    patch_group: group.clone(),
                    counted,
                    read,
                })
            })
            .collect();
        if !groups_counts_disagree.is_empty() {
            tracing::warn!(
                groups = ?groups_counts_disagree,
                "DescribePatchGroupState.Instances differs from the instances the per-instance pass read: groups published from their counts alone may be off by as much (what Instances counts is not published; see the simulator's ledger row 10)"
            );
        }
        let summary = Summary {
            outcome,
            reason: None,
            namespace: self.config.namespace.clone(),
            groups_published: reading
                .published
                .into_iter()
                .map(|(group, _)| group)
                .collect(),
            groups_failed: reading.failed,
            complete: reading.skipped.is_empty()
                && reading.detail_skipped.is_empty()
                && !reading.inventory_skipped
                && published.points_cut == 0,
            groups_skipped_for_time: reading.skipped,
            groups_detail_skipped: reading.detail_skipped,
            groups_estimated,
            groups_counts_disagree,
            inventory_skipped_for_time: reading.inventory_skipped,
            inventory_error: reading.inventory_error,
            inventory_grouping: reading.inventory_grouping,
            data_points: points.len(),
            put_metric_data_calls: published.calls,
            points_cut_for_time: published.points_cut,
            publish_ms,
            publish_reserve_ms: u64::try_from(publishing.as_millis()).unwrap_or(u64::MAX),
            compliance_summaries: reading.summaries,
            ssm_calls: reading.calls,
            ec2_calls: reading.ec2_calls,
            fleet,
        };
        patchpilot_shared::logging::report("snapshot", &summary);
        if !summary.complete {
            tracing::warn!(
                groups_skipped_for_time = summary.groups_skipped_for_time.len(),
                groups_detail_skipped = summary.groups_detail_skipped.len(),
                inventory_skipped_for_time = summary.inventory_skipped_for_time,
                points_cut_for_time = summary.points_cut_for_time,
                "the deadline came first: what was read in time is published; the per-instance pass starts elsewhere next time; raise the timeout or CONCURRENCY, or narrow PATCH_GROUPS"
            );
        }
        ended(summary)
    }

    /// The configured groups, or every group with a baseline registered (which must be listed in time).
    async fn groups(
        &self,
        budget: &Budget,
        calls: &mut CallCounts,
    ) -> Result<Vec<String>, FunctionError> {
        if !self.config.patch_groups.is_empty() {
            return Ok(self.config.patch_groups.clone());
        }
        budget
            .run(gather::discover_groups(&self.ssm, calls))
            .await
            .unwrap_or_else(|| Err(FunctionError::Invariant(
                "no time left to list the patch groups (DescribePatchGroups did not finish before the stop time); raise the function's timeout".to_owned(),
            )))
    }

    /// Groups nobody registered with a baseline, found and counted when the inventory shows tagged
    /// instances the registered groups do not account for (only when groups are discovered, not
    /// configured). A failure here is named as a failed group `(unregistered groups)`: the rest is
    /// published, and the invocation ends in a retryable error as for any failed group.
    async fn read_unregistered_groups(
        &self,
        reading: &mut Reading,
        known: &[String],
        now: DateTime<Utc>,
        budget: &Budget,
    ) {
        let seen: u64 = reading
            .published
            .iter()
            .map(|(_, figures)| figures.counts.instances)
            .sum();
        let unaccounted = reading.facts.grouped.is_some_and(|grouped| grouped > seen);
        if !self.config.patch_groups.is_empty() || !unaccounted || !reading.failed.is_empty() {
            return;
        }
        let known: BTreeSet<String> = known.iter().cloned().collect();
        // EC2's tags named every managed instance's group: the unregistered ones are among them, and
        // no pass over the tagged instances is needed (their surplus is never-reported instances).
        if let Some(tagged) = &reading.tag_groups {
            let found: Vec<String> = tagged.difference(&known).cloned().collect();
            if !found.is_empty() {
                self.read_groups(reading, &found, now, budget).await;
            }
            return;
        }
        let mut calls = CallCounts::new();
        let found = budget
            .run(gather::unregistered_groups(
                &self.ssm,
                &self.config.tag_keys,
                &known,
                &mut calls,
            ))
            .await;
        for (operation, count) in calls {
            *reading.calls.entry(operation).or_default() += count;
        }
        let groups = match found {
            Some(Ok(groups)) => groups,
            Some(Err(err)) => {
                reading.failed.push(GroupFailure {
                    patch_group: "(unregistered groups)".to_owned(),
                    error: err.to_string(),
                });
                reading.facts.groups_failed = reading.failed.len() as u64;
                return;
            }
            None => {
                reading.skipped.push("(unregistered groups)".to_owned());
                reading.facts.groups_skipped_for_time = reading.skipped.len() as u64;
                return;
            }
        };
        self.read_groups(reading, &groups, now, budget).await;
    }

    /// Reads the groups' counts, then the fleet inventory's Systems Manager listing, then the
    /// per-instance pass with the time left (beside EC2's listing, which has its own rate).
    async fn read(
        &self,
        groups: &[String],
        now: DateTime<Utc>,
        budget: &Budget,
        calls: CallCounts,
    ) -> Reading {
        let mut reading = Reading {
            calls,
            ..Reading::default()
        };
        // The counts alone first: they are the alarmed figures, and the inventory's pages would
        // take half of a throttled account's rate from them.
        self.count_groups(&mut reading, groups, budget).await;
        // Then the inventory's listing before the per-instance pass, for up to two thirds of the
        // time left: at 500,000 instances the listing is 10,000 calls, which a throttled account
        // (20 a second) answers in about 500 s if nothing else asks, and never within the timeout
        // beside four group readers. The inventory is all or nothing each run, while the per-instance
        // pass resumes elsewhere next run; but a listing that cannot finish in that time would take
        // the whole run from the per-instance pass and still publish nothing, so the pass then
        // starts beside it.
        let plan = Plan::new(
            self.config.summaries,
            &reading.published,
            self.config.concurrency,
        );
        let listed = tokio::sync::Notify::new();
        let first = budget.remaining().mul_f64(INVENTORY_FIRST_SHARE);
        let fleet_read = self.read_fleet(budget, &listed, &plan, now);
        let (fleet, ()) = tokio::join!(fleet_read, async {
            let _ = tokio::time::timeout(first, listed.notified()).await;
            self.read_details(&mut reading, groups, now, budget).await;
        });
        *reading
            .calls
            .entry("DescribeInstanceInformation")
            .or_default() += fleet.information_calls;
        reading.ec2_calls = fleet.ec2_calls;
        for (operation, count) in fleet.summaries_calls {
            *reading.calls.entry(operation).or_default() += count;
        }
        reading.summaries = fleet.summaries_report;
        reading.folded = fleet.folded;
        reading.tag_groups = fleet.tag_groups;
        reading.inventory_grouping = fleet.grouping;
        match fleet.inventory {
            Some(Some(Ok(inventory))) => {
                reading.facts.managed = Some(inventory.managed);
                reading.facts.grouped = Some(inventory.grouped);
            }
            Some(Some(Err(err))) => reading.inventory_error = Some(err.to_string()),
            Some(None) => reading.inventory_skipped = true,
            None => {}
        }
        match fleet.coverage {
            Some(Some(Ok(coverage))) => reading.coverage = Some(coverage),
            Some(Some(Err(err))) => {
                reading.inventory_error = Some(format!("EC2 coverage: {err}"));
            }
            Some(None) => reading.inventory_skipped = true,
            None => {}
        }
        reading
    }

    /// The fleet inventory (when configured): the managed nodes and, with coverage, every EC2
    /// instance, read at once and joined; the nodes carrying a patch-group tag from EC2's tags when
    /// EC2 lists every managed node, else from Systems Manager's tag filter. `listed` is notified when
    /// the Systems Manager listing the inventory cannot do without is done (at once when there is
    /// none). Each read within the budget.
    async fn read_fleet(
        &self,
        budget: &Budget,
        listed: &tokio::sync::Notify,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> FleetRead {
        let mut fleet = FleetRead::default();
        if !self.config.fleet_inventory {
            listed.notify_one();
            return fleet;
        }
        let tag_keys = &self.config.tag_keys;
        let with_ec2 = self.config.ec2_coverage;
        let mut ec2_pages = 0;
        let ssm_side = async {
            let started = std::time::Instant::now();
            let mut pages = 0;
            let read = if with_ec2 {
                let managed = budget
                    .run(gather::managed(&self.ssm, true, &mut pages))
                    .await;
                // Hybrid nodes' tags are Systems Manager's alone: count by its filter at once.
                let tagged = match &managed {
                    Some(Ok(found)) if found.other_nodes > 0 => Some(
                        budget
                            .run(gather::tagged(&self.ssm, tag_keys, &mut pages))
                            .await,
                    ),
                    _ => None,
                };
                (managed, tagged)
            } else {
                let mut tagged_pages = 0;
                let (managed, tagged) = tokio::join!(
                    budget.run(gather::managed(&self.ssm, false, &mut pages)),
                    budget.run(gather::tagged(&self.ssm, tag_keys, &mut tagged_pages))
                );
                pages += tagged_pages;
                (managed, Some(tagged))
            };
            listed.notify_one();
            // The pace of one Systems Manager listing call in this account now, for the summaries'.
            let pace = started.elapsed() / u32::try_from(pages.max(1)).unwrap_or(u32::MAX);
            (read, pages, pace)
        };
        let ec2_side = async {
            if with_ec2 {
                Some(
                    budget
                        .run(gather::ec2_fleet(&self.ec2, tag_keys, &mut ec2_pages))
                        .await,
                )
            } else {
                None
            }
        };
        let (((managed, tagged), pages, pace), ec2) = tokio::join!(ssm_side, ec2_side);
        fleet.information_calls = pages;
        fleet.ec2_calls = ec2_pages;
        let managed = match managed {
            Some(Ok(managed)) => managed,
            Some(Err(err)) => {
                fleet.inventory = Some(Some(Err(err)));
                return fleet;
            }
            None => {
                fleet.inventory = Some(None);
                return fleet;
            }
        };
        let mut ec2_fleet = None;
        let joined = match (&managed.ids, ec2) {
            (Some(ids), Some(Some(Ok(ec2)))) => {
                let joined = ec2.join(ids);
                ec2_fleet = Some(ec2);
                Some(joined)
            }
            (_, Some(Some(Err(err)))) => {
                fleet.coverage = Some(Some(Err(err)));
                None
            }
            (_, Some(None)) => {
                fleet.coverage = Some(None);
                None
            }
            _ => None,
        };
        let managed_ec2 = managed.ids.as_ref().map_or(0, ManagedIds::len) as u64;
        let mut grouping = InventoryGrouping {
            by: GroupingSource::TagFilter,
            managed_not_in_ec2: joined
                .as_ref()
                .map(|joined| managed_ec2.saturating_sub(joined.managed_listed)),
            other_nodes: managed.other_nodes,
        };
        let from_ec2 = joined.as_ref().and_then(|joined| {
            joined
                .grouped(
                    managed.ids.as_ref().map_or(0, ManagedIds::len),
                    managed.other_nodes,
                )
                .map(|grouped| (grouped, joined.managed_groups.clone()))
        });
        if let Some(joined) = joined {
            fleet.coverage = Some(Some(Ok(joined.coverage)));
        }
        if self.config.ec2_coverage && plan.mode != SummariesMode::Never {
            let placed = ec2_fleet.filter(|_| from_ec2.is_some());
            // Every managed node that reported has a summary: the listing is at most this long.
            let listing = pace.saturating_mul(
                u32::try_from(managed.count.div_ceil(SUMMARIES_PAGE as u64)).unwrap_or(u32::MAX),
            );
            // Boxed: the fleet read's future is deep enough already for the compiler's layout
            // queries without this one nested in it.
            Box::pin(self.read_summaries(&mut fleet, placed, plan, listing, budget, now)).await;
        }
        let grouped = match (from_ec2, tagged) {
            (Some((grouped, groups)), _) => {
                fleet.tag_groups = Some(groups);
                grouping.by = GroupingSource::Ec2Tags;
                Some(Ok(grouped))
            }
            (None, Some(tagged)) => tagged,
            // EC2 did not account for every managed node: Systems Manager's filter counts them.
            (None, None) => {
                let mut pages = 0;
                let tagged = budget
                    .run(gather::tagged(&self.ssm, tag_keys, &mut pages))
                    .await;
                fleet.information_calls += pages;
                tagged
            }
        };
        if matches!(grouped, Some(Ok(_))) {
            fleet.grouping = Some(grouping);
        }
        fleet.inventory = Some(grouped.map(|grouped| {
            grouped.map(|grouped| gather::Inventory {
                managed: managed.count,
                grouped,
            })
        }));
        fleet
    }

    /// The fleet's compliance summaries, when the plan wants them and EC2's listing places every
    /// managed node (`placed`, else `None`): in auto mode the largest group's first page shows the
    /// service's page size first. Not listed when the listing would take (`listing`, estimated at
    /// the inventory's pace) more than the time left: a listing cut short gives nothing, and its
    /// calls would slow the group pages beside it. Filed in `fleet` with why they were or were not
    /// listed.
    async fn read_summaries(
        &self,
        fleet: &mut FleetRead,
        placed: Option<coverage::Ec2Fleet>,
        plan: &Plan,
        listing: Duration,
        budget: &Budget,
        now: DateTime<Utc>,
    ) {
        let mut report = SummariesReport::default();
        let Some(mut ec2) = placed else {
            report.unused_because = Some(
                "EC2's listing does not place every managed node in its group (hybrid nodes, or managed instances EC2 did not list): see inventory_grouping".to_owned(),
            );
            fleet.summaries_report = Some(report);
            return;
        };
        let page = match plan.group_to_probe() {
            None => None,
            Some(group) => {
                let probed = budget.run(gather::group_page_size(&self.ssm, group)).await;
                fleet
                    .summaries_calls
                    .push(("DescribeInstancePatchStatesForPatchGroup", 1));
                match probed {
                    Some(Ok(page)) => Some(page),
                    Some(Err(err)) => {
                        report.unused_because = Some(format!("the page-size probe failed: {err}"));
                        fleet.summaries_report = Some(report);
                        return;
                    }
                    None => {
                        report.unused_because = Some("the stop time came first".to_owned());
                        fleet.summaries_report = Some(report);
                        return;
                    }
                }
            }
        };
        report.listed_because = plan.reason(page);
        if report.listed_because.is_none() {
            report.unused_because = Some(if plan.largest.is_none() {
                "no group's counts were read".to_owned()
            } else {
                format!(
                    "the group pages read faster ({} states a page)",
                    page.map_or_else(|| "any number of".to_owned(), |page| page.to_string())
                )
            });
            fleet.summaries_report = Some(report);
            return;
        }
        let left = budget.remaining();
        if listing > left {
            report.unused_because = Some(format!(
                "the listing would take about {} s at the inventory's pace, and {} s are left",
                listing.as_secs(),
                left.as_secs()
            ));
            fleet.summaries_report = Some(report);
            return;
        }
        ec2.seal();
        let mut pages = 0;
        let read = budget
            .run(gather::compliance_summaries(
                &self.ssm,
                &ec2,
                now,
                self.config.stale_after,
                &mut pages,
            ))
            .await;
        fleet
            .summaries_calls
            .push(("ListResourceComplianceSummaries", pages));
        match read {
            Some(Ok(folded)) => {
                report.complete = true;
                report.nodes = folded.groups.values().map(|g| g.instances).sum::<u64>()
                    + folded.ungrouped
                    + folded.unplaced;
                report.unplaced = folded.unplaced;
                fleet.folded = Some(folded);
            }
            Some(Err(err)) => {
                tracing::warn!(error = %err, "the compliance summaries could not be read: the groups are published from their counts and the per-instance pass");
                report.unused_because = Some(err.to_string());
            }
            None => report.unused_because = Some("the stop time came first".to_owned()),
        }
        fleet.summaries_report = Some(report);
    }

    /// `groups`' counts, then their per-instance pass with the time left; the groups are filed in
    /// `reading`, kept sorted.
    async fn read_groups(
        &self,
        reading: &mut Reading,
        groups: &[String],
        now: DateTime<Utc>,
        budget: &Budget,
    ) {
        self.count_groups(reading, groups, budget).await;
        self.read_details(reading, groups, now, budget).await;
    }

    /// `groups`' counts, filed in `reading` (kept sorted).
    async fn count_groups(&self, reading: &mut Reading, groups: &[String], budget: &Budget) {
        let (read, count_calls) = self.read_counts(groups, budget).await;
        *reading.calls.entry("DescribePatchGroupState").or_default() += count_calls;
        reading.record(read);
        reading.published.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Every group's counts, one call each.
    async fn read_counts(
        &self,
        groups: &[String],
        budget: &Budget,
    ) -> (Vec<(String, GroupRead<GroupCounts>)>, usize) {
        self.read_each(groups, budget, |ssm, group, calls| async move {
            calls.fetch_add(1, Ordering::Relaxed);
            gather::group_counts(&ssm, &group).await
        })
        .await
    }

    /// The per-instance pass over those of `groups` whose counts were published, in
    /// [`detail_order`], with the time left: each group read in full gets its exact figures; the
    /// rest keep their counts and are named.
    async fn read_details(
        &self,
        reading: &mut Reading,
        groups: &[String],
        now: DateTime<Utc>,
        budget: &Budget,
    ) {
        let wanted: std::collections::BTreeSet<&String> = groups.iter().collect();
        let candidates: Vec<(String, GroupFigures)> = reading
            .published
            .iter()
            .filter(|(group, _)| wanted.contains(group))
            .cloned()
            .collect();
        let order = detail_order(&candidates, now);
        let stale_after = self.config.stale_after;
        let (read, pages) = self
            .read_each(&order, budget, move |ssm, group, pages| async move {
                gather::read_group(&ssm, &group, now, stale_after, &pages).await
            })
            .await;
        *reading
            .calls
            .entry("DescribeInstancePatchStatesForPatchGroup")
            .or_default() += pages;
        for (group, result) in read {
            let Ok(at) = reading
                .published
                .binary_search_by(|(published, _)| published.cmp(&group))
            else {
                continue;
            };
            match result {
                GroupRead::Read(stats) => reading.published[at].1.detail = Some(stats),
                GroupRead::Failed(error) => {
                    reading.detail_skipped.push(group.clone());
                    reading.failed.push(GroupFailure {
                        patch_group: group,
                        error: format!("per-instance pass (its counts are published): {error}"),
                    });
                }
                GroupRead::OutOfTime => reading.detail_skipped.push(group),
            }
        }
        reading.detail_skipped.sort();
        reading.facts.groups_failed = reading.failed.len() as u64;
    }

    /// Reads every group with `read` (given a counter of the calls it makes, which stays right when
    /// the stop time cuts a read off), at most `concurrency` at a time, each cut off at the budget's
    /// stop time. Results come back sorted by group with the calls made; every group comes back, a
    /// reader that panicked as failed.
    async fn read_each<T, F, Fut>(
        &self,
        groups: &[String],
        budget: &Budget,
        read: F,
    ) -> (Vec<(String, GroupRead<T>)>, usize)
    where
        T: Send + 'static,
        F: Fn(aws_sdk_ssm::Client, String, Arc<AtomicUsize>) -> Fut,
        Fut: std::future::Future<Output = Result<T, FunctionError>> + Send + 'static,
    {
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for group in groups {
            let (permits, budget) = (permits.clone(), *budget);
            let reading = read(self.ssm.clone(), group.clone(), calls.clone());
            let name = group.clone();
            let handle = tasks.spawn(async move {
                let Some(_permit) = budget.run(permits.acquire_owned()).await else {
                    return (name, GroupRead::OutOfTime);
                };
                match budget.run(reading).await {
                    Some(Ok(value)) => (name, GroupRead::Read(value)),
                    Some(Err(err)) => (name, GroupRead::Failed(err.to_string())),
                    None => (name, GroupRead::OutOfTime),
                }
            });
            names.insert(handle.id(), group.clone());
        }
        let mut results = Vec::with_capacity(groups.len());
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, (group, read))) => results.push((group, read)),
                Err(err) => {
                    tracing::error!(error = %err, "a group reader stopped unexpectedly");
                    if let Some(group) = names.remove(&err.id()) {
                        results.push((
                            group,
                            GroupRead::Failed(format!("the reader stopped unexpectedly: {err}")),
                        ));
                    }
                }
            }
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        (results, calls.load(Ordering::Relaxed))
    }
}

/// The order the per-instance pass reads groups in: those whose counts leave compliance uncertain
/// first (only the pass can say), then the rest; within each, starting at a point that moves with
/// the minute, so a pass the deadline cuts short reaches other groups next time instead of the same
/// ones first again.
fn detail_order(published: &[(String, GroupFigures)], now: DateTime<Utc>) -> Vec<String> {
    let minute = u64::try_from(now.timestamp() / 60).unwrap_or(0);
    // A multiplicative hash of the minute: consecutive runs start far apart.
    let mixed = minute.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
    let rotated = |exact: bool| {
        let class: Vec<&String> = published
            .iter()
            .filter(|(_, figures)| figures.counts.is_exact() == exact)
            .map(|(group, _)| group)
            .collect();
        let start = if class.is_empty() {
            0
        } else {
            (mixed % class.len() as u64) as usize
        };
        let (before, after) = class.split_at(start);
        after
            .iter()
            .chain(before)
            .map(|group| (*group).clone())
            .collect::<Vec<_>>()
    };
    let mut order = rotated(false);
    order.extend(rotated(true));
    order
}

/// The order points are published in within the fleet's and then the groups': the alarmed and
/// headline figures first.
fn publish_rank(point: &DataPoint) -> u8 {
    match point.metric {
        "GroupsReported" | "GroupsSkippedForTime" | "CompliancePercent" => 0,
        "WorstGroupCompliancePercent" | "StaleInstances" | "UnmanagedInstances" | "Instances" => 1,
        "CompliantInstances" | "NonCompliantInstances" | "InstancesWithFailedPatches" => 2,
        _ => 3,
    }
}

/// How reading one group ended.
#[derive(Debug)]
enum GroupRead<T> {
    Read(T),
    Failed(String),
    /// Not finished before the stop time.
    OutOfTime,
}

/// The share of the time left after the counts that the inventory's Systems Manager listing has to
/// itself before the per-instance pass starts beside it (see `Snapshot::read`).
const INVENTORY_FIRST_SHARE: f64 = 2.0 / 3.0;

/// What one snapshot read, sorted for publishing.
#[derive(Default)]
struct Reading {
    /// Groups whose counts were read, with their figures (sorted by group).
    published: Vec<(String, GroupFigures)>,
    /// Groups with a read that failed, with why.
    failed: Vec<GroupFailure>,
    /// Groups whose counts were not read before the stop time.
    skipped: Vec<String>,
    /// Published groups the per-instance pass did not read in full.
    detail_skipped: Vec<String>,
    /// The fleet-level facts (inventory counts, failed and skipped group counts).
    facts: FleetFacts,
    inventory_error: Option<String>,
    inventory_skipped: bool,
    /// Running EC2 instances and the unmanaged among them, when coverage ran in time.
    coverage: Option<Coverage>,
    /// The patch groups managed instances are tagged into, when the inventory knows them exactly
    /// (from EC2's tags).
    tag_groups: Option<BTreeSet<String>>,
    /// How the inventory's grouped count was made, when it was.
    inventory_grouping: Option<InventoryGrouping>,
    calls: CallCounts,
    ec2_calls: usize,
    /// The compliance summaries, when listed in full, until given to the groups.
    folded: Option<Folded>,
    /// What the compliance summaries did.
    summaries: Option<SummariesReport>,
}

/// What the fleet-wide reads returned: `None` when not configured; `Some(None)` when the stop time
/// came first.
#[derive(Default)]
struct FleetRead {
    inventory: Option<Option<Result<gather::Inventory, FunctionError>>>,
    coverage: Option<Option<Result<Coverage, FunctionError>>>,
    information_calls: usize,
    ec2_calls: usize,
    /// The patch groups managed instances are tagged into, when EC2's tags tell them exactly.
    tag_groups: Option<BTreeSet<String>>,
    /// How the grouped count was made, when it was.
    grouping: Option<InventoryGrouping>,
    /// The compliance summaries, when listed in full.
    folded: Option<Folded>,
    /// Why they were or were not listed, when they could have been.
    summaries_report: Option<SummariesReport>,
    /// Calls made for them, by operation.
    summaries_calls: Vec<(&'static str, usize)>,
}

impl Reading {
    /// Gives the groups the compliance summaries' figures (every group read by now, the
    /// unregistered ones too), and says in the report what they gave.
    fn apply_summaries(&mut self) {
        let Some(folded) = self.folded.take() else {
            return;
        };
        let (used, disagree) = summaries::apply(&folded, &mut self.published);
        if !disagree.is_empty() {
            tracing::warn!(groups = ?disagree, "the compliance summaries counted other numbers of nodes than DescribePatchGroupState: those groups are published from their counts and the per-instance pass");
        }
        if let Some(report) = self.summaries.as_mut() {
            report.groups_used = used;
            report.groups_disagree = disagree;
        }
    }

    /// Files each group's counts as published, failed or skipped, and updates the fleet's counts.
    fn record(&mut self, read: Vec<(String, GroupRead<GroupCounts>)>) {
        for (group, result) in read {
            match result {
                GroupRead::Read(counts) => {
                    self.published.push((group, GroupFigures::counted(counts)))
                }
                GroupRead::Failed(error) => self.failed.push(GroupFailure {
                    patch_group: group,
                    error,
                }),
                GroupRead::OutOfTime => self.skipped.push(group),
            }
        }
        self.facts.groups_failed = self.failed.len() as u64;
        self.facts.groups_skipped_for_time = self.skipped.len() as u64;
    }
}

/// How the invocation ends: `Ok` when every read that finished succeeded; otherwise, after
/// publishing the rest, a partial failure naming what was left out (so a retry and the alarm see it).
fn ended(summary: Summary) -> Result<Summary, FunctionError> {
    if summary.groups_failed.is_empty() && summary.inventory_error.is_none() {
        return Ok(summary);
    }
    let mut problems: Vec<String> = summary
        .groups_failed
        .iter()
        .map(|failure| format!("group {}: {}", failure.patch_group, failure.error))
        .collect();
    problems.extend(
        summary
            .inventory_error
            .iter()
            .map(|e| format!("inventory: {e}")),
    );
    Err(FunctionError::Partial(format!(
        "published {} groups; left out (not published as zeros): {}",
        summary.groups_published.len(),
        problems.join("; ")
    )))
}

fn fleet_summary(groups: &[(String, GroupStats)], fleet_points: &[DataPoint]) -> FleetSummary {
    let value = |name: &str| {
        fleet_points
            .iter()
            .find(|point| point.metric == name)
            .map(|point| point.value)
    };
    let worst_group = groups
        .iter()
        .filter_map(|(group, stats)| stats.compliance_percent().map(|p| (group.clone(), p)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    FleetSummary {
        instances: value("Instances").unwrap_or(0.0) as u64,
        compliant: value("CompliantInstances").unwrap_or(0.0) as u64,
        compliance_percent: value("CompliancePercent"),
        worst_group,
        stale: value("StaleInstances").unwrap_or(0.0) as u64,
        never_reported: value("NeverReportedInstances").map(|v| v as u64),
        ungrouped: value("UngroupedInstances").map(|v| v as u64),
        unmanaged: None,
    }
}
