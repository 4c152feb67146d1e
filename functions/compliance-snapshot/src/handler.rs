//! Trigger → discover → read groups (bounded concurrency) → aggregate → publish → summarise.

use std::sync::Arc;

use chrono::Utc;
use patchpilot_shared::CommonConfig;
use patchpilot_shared::budget::Budget;
use patchpilot_shared::runtime::{Handled, Handler};
use patchpilot_shared::{Event, FunctionError};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::aggregate::{self, DataPoint, FleetFacts, GroupStats};
use crate::config::SnapshotConfig;
use crate::gather::{self, CallCounts};
use crate::publish;

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
    /// Groups not read before the stop time: left out of this snapshot, never published as zeros.
    pub groups_skipped_for_time: Vec<String>,
    /// The fleet inventory was not finished in time (never-reported and ungrouped counts left out).
    pub inventory_skipped_for_time: bool,
    /// Why the fleet inventory could not be read.
    pub inventory_error: Option<String>,
    /// Data points published (or, under DRY_RUN, computed).
    pub data_points: usize,
    /// PutMetricData calls made.
    pub put_metric_data_calls: usize,
    /// SSM calls made, by operation.
    pub ssm_calls: CallCounts,
    /// The fleet's headline figures.
    pub fleet: FleetSummary,
}

/// The snapshot taker: reads patch states, publishes metrics.
pub struct Snapshot {
    ssm: aws_sdk_ssm::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    config: SnapshotConfig,
}

impl Snapshot {
    /// The snapshot taker with its clients and settings.
    pub fn new(
        ssm: aws_sdk_ssm::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        config: SnapshotConfig,
    ) -> Self {
        Self {
            ssm,
            cloudwatch,
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
                inventory_skipped_for_time: false,
                inventory_error: None,
                data_points: 0,
                put_metric_data_calls: 0,
                ssm_calls: CallCounts::new(),
                fleet: FleetSummary::default(),
            };
            patchpilot_shared::logging::report("ignored", &summary);
            return Ok(summary);
        }
        self.run(budget).await
    }
}

impl Snapshot {
    /// Takes and publishes one snapshot. Groups that fail are left out and named; after publishing the
    /// rest, the invocation ends in a retryable error so the failure is seen. Reading stops at the
    /// budget's stop time: what was read is published, what was not is named and counted
    /// (`GroupsSkippedForTime`), and the invocation ends `Ok`, since a retry would only repeat it.
    pub async fn run(&self, budget: &Budget) -> Result<Summary, FunctionError> {
        let now = Utc::now();
        let mut calls = CallCounts::new();
        let groups = self.groups(budget, &mut calls).await?;
        let mut reading = self.read(&groups, now, budget, calls).await;
        self.read_unregistered_groups(&mut reading, &groups, now, budget)
            .await;
        let mut points: Vec<DataPoint> = reading
            .published
            .iter()
            .flat_map(|(group, stats)| aggregate::group_points(group, stats, now))
            .collect();
        let fleet_points = aggregate::fleet_points(&reading.published, &reading.facts, now);
        let fleet = fleet_summary(&reading.published, &fleet_points);
        points.extend(fleet_points);
        let (outcome, put_calls) = if self.config.common.dry_run {
            (SnapshotOutcome::DryRun, 0)
        } else {
            let namespace = &self.config.namespace;
            let calls = publish::publish(&self.cloudwatch, namespace, &points, now).await?;
            (SnapshotOutcome::Published, calls)
        };
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
            complete: reading.skipped.is_empty() && !reading.inventory_skipped,
            groups_skipped_for_time: reading.skipped,
            inventory_skipped_for_time: reading.inventory_skipped,
            inventory_error: reading.inventory_error,
            data_points: points.len(),
            put_metric_data_calls: put_calls,
            ssm_calls: reading.calls,
            fleet,
        };
        patchpilot_shared::logging::report("snapshot", &summary);
        if !summary.complete {
            tracing::warn!(
                groups_skipped_for_time = summary.groups_skipped_for_time.len(),
                inventory_skipped_for_time = summary.inventory_skipped_for_time,
                "the deadline came first: what was read in time is published; raise the timeout or CONCURRENCY, or narrow PATCH_GROUPS"
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

    /// Groups nobody registered with a baseline, found and read when the inventory shows tagged
    /// instances the registered groups do not account for (only when groups are discovered, not
    /// configured). A failure here is named as a failed group `(unregistered groups)`: the rest is
    /// published, and the invocation ends in a retryable error as for any failed group.
    async fn read_unregistered_groups(
        &self,
        reading: &mut Reading,
        known: &[String],
        now: chrono::DateTime<Utc>,
        budget: &Budget,
    ) {
        let seen: u64 = reading.published.iter().map(|(_, s)| s.instances).sum();
        let unaccounted = reading.facts.grouped.is_some_and(|grouped| grouped > seen);
        if !self.config.patch_groups.is_empty() || !unaccounted || !reading.failed.is_empty() {
            return;
        }
        let known: std::collections::BTreeSet<String> = known.iter().cloned().collect();
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
        let (read, group_calls) = self.read_groups(&groups, now, budget).await;
        *reading
            .calls
            .entry("DescribeInstancePatchStatesForPatchGroup")
            .or_default() += group_calls;
        reading.record(read);
        reading.published.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Reads the groups and (when configured) the fleet inventory side by side.
    async fn read(
        &self,
        groups: &[String],
        now: chrono::DateTime<Utc>,
        budget: &Budget,
        mut calls: CallCounts,
    ) -> Reading {
        let ((read, group_calls), (inventory, inventory_calls)) =
            tokio::join!(self.read_groups(groups, now, budget), async {
                let mut inventory_calls = CallCounts::new();
                let inventory = if self.config.fleet_inventory {
                    let tag_keys = &self.config.tag_keys;
                    let read = gather::inventory(&self.ssm, tag_keys, &mut inventory_calls);
                    Some(budget.run(read).await)
                } else {
                    None
                };
                (inventory, inventory_calls)
            });
        *calls
            .entry("DescribeInstancePatchStatesForPatchGroup")
            .or_default() += group_calls;
        for (operation, count) in inventory_calls {
            *calls.entry(operation).or_default() += count;
        }
        let mut reading = Reading {
            calls,
            ..Reading::default()
        };
        reading.record(read);
        match inventory {
            Some(Some(Ok((managed, grouped)))) => {
                reading.facts.managed = Some(managed);
                reading.facts.grouped = Some(grouped);
            }
            Some(Some(Err(err))) => reading.inventory_error = Some(err.to_string()),
            Some(None) => reading.inventory_skipped = true,
            None => {}
        }
        reading
    }

    /// Reads every group, at most `concurrency` at a time, each cut off at the budget's stop time.
    /// Results come back sorted by group; every group comes back, a reader that panicked as failed.
    async fn read_groups(
        &self,
        groups: &[String],
        now: chrono::DateTime<Utc>,
        budget: &Budget,
    ) -> (Vec<(String, GroupRead)>, usize) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks = JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for group in groups {
            let (ssm, group, permits, budget) =
                (self.ssm.clone(), group.clone(), permits.clone(), *budget);
            let stale_after = self.config.stale_after;
            let name = group.clone();
            let handle = tasks.spawn(async move {
                let Some(_permit) = budget.run(permits.acquire_owned()).await else {
                    return (group, GroupRead::OutOfTime, 0);
                };
                let mut pages = 0;
                let read = budget
                    .run(gather::read_group(
                        &ssm,
                        &group,
                        now,
                        stale_after,
                        &mut pages,
                    ))
                    .await;
                let read = match read {
                    Some(Ok(stats)) => GroupRead::Read(stats),
                    Some(Err(err)) => GroupRead::Failed(err.to_string()),
                    None => GroupRead::OutOfTime,
                };
                (group, read, pages)
            });
            names.insert(handle.id(), name);
        }
        let mut results = Vec::with_capacity(groups.len());
        let mut pages = 0;
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, (group, read, group_pages))) => {
                    pages += group_pages;
                    results.push((group, read));
                }
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
        (results, pages)
    }
}

/// How reading one group ended.
#[derive(Debug)]
enum GroupRead {
    Read(GroupStats),
    Failed(String),
    /// Not finished before the stop time.
    OutOfTime,
}

/// What one snapshot read, sorted for publishing.
#[derive(Default)]
struct Reading {
    /// Groups read in full, with their figures.
    published: Vec<(String, GroupStats)>,
    /// Groups whose read failed, with why.
    failed: Vec<GroupFailure>,
    /// Groups not read before the stop time.
    skipped: Vec<String>,
    /// The fleet-level facts (inventory counts, failed and skipped group counts).
    facts: FleetFacts,
    inventory_error: Option<String>,
    inventory_skipped: bool,
    calls: CallCounts,
}

impl Reading {
    /// Files each group's read as published, failed or skipped, and updates the fleet's counts.
    fn record(&mut self, read: Vec<(String, GroupRead)>) {
        for (group, result) in read {
            match result {
                GroupRead::Read(stats) => self.published.push((group, stats)),
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
    }
}
