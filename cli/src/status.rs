//! `patchpilot status`: the gate's state and what caused it (decision, re-check, approval, hold), the
//! history that led there, the latest decision with its checks and pins; the last compliance
//! snapshot and its age; the failure queue's depth.

use chrono::{DateTime, Utc};
use patch_gate::GateReport;
use patch_gate::decide::Check;
use patch_gate::operator::Hold;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::CliError;
use crate::metrics::{self, FLEET, Resolution, Series};
use crate::output::{Output, Style, age, with_progress};
use crate::records;
use crate::settings::Settings;

/// How far back the last snapshot is looked for.
const SNAPSHOT_LOOKBACK_MINUTES: i64 = 7 * 24 * 60;

/// Whether the production window is enabled, as SSM says.
pub async fn window_enabled(clients: &Clients, window: &str) -> Result<bool, CliError> {
    Ok(clients
        .ssm
        .get_maintenance_window()
        .window_id(window)
        .send()
        .await
        .map_err(|err| CliError::sdk("ssm:GetMaintenanceWindow", err))?
        .enabled())
}

/// Messages waiting (and in flight) in the failure queue.
pub async fn queue_depth(clients: &Clients, queue_url: &str) -> Result<u64, CliError> {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|err| CliError::sdk("sqs:GetQueueAttributes", err))?;
    let count = |name: Name| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(count(Name::ApproximateNumberOfMessages)
        + count(Name::ApproximateNumberOfMessagesNotVisible))
}

/// Which groups' last snapshot to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The fleet's figure only (`doctor`: is the snapshot recent?): no ListMetrics.
    Fleet,
    /// Every group publishing in the namespace, for the worst one (`status`).
    Groups,
}

/// The last snapshot: the fleet's series and the worst group's. Reads only what it shows: the last
/// two snapshot intervals first (a point or two per group and metric), then the 7-day lookback, by
/// the hour, only for the groups that had none in that window, so a group that stopped publishing
/// still shows its age (to the hour) and last figure. At G groups that is ⌈(G+1)/500⌉ ListMetrics pages and ⌈2(G+1)/500⌉ GetMetricData calls
/// when every group is current (no page of points overflows: at most a few points per query).
pub async fn last_snapshot(
    clients: &Clients,
    namespace: &str,
    interval_minutes: u32,
    reach: Reach,
) -> Result<(Option<Series>, Option<Series>), CliError> {
    let groups = match reach {
        Reach::Fleet => vec![FLEET.to_owned()],
        Reach::Groups => metrics::groups(clients, namespace).await?,
    };
    let recent = 2 * i64::from(interval_minutes) + 5;
    let mut series =
        metrics::read(clients, namespace, &groups, recent, Resolution::Snapshots).await?;
    let quiet: Vec<String> = series
        .iter()
        .filter(|s| s.latest().is_none())
        .map(|s| s.group.clone())
        .collect();
    if !quiet.is_empty() {
        series.retain(|s| s.latest().is_some());
        let lookback = SNAPSHOT_LOOKBACK_MINUTES;
        let hourly = Resolution::Hourly;
        series.extend(metrics::read(clients, namespace, &quiet, lookback, hourly).await?);
    }
    let (fleet, groups): (Vec<Series>, Vec<Series>) =
        series.into_iter().partition(|s| s.group == FLEET);
    let worst = groups
        .into_iter()
        .filter(|s| s.latest().is_some())
        .min_by(|a, b| {
            let (a, b) = (a.latest().map(|l| l.1), b.latest().map(|l| l.1));
            a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
        });
    Ok((fleet.into_iter().next(), worst))
}

/// The brake alarm's state as CloudWatch reports it (`None`: no such alarm).
async fn brake_state(clients: &Clients, alarm: &str) -> Result<Option<String>, CliError> {
    let found = clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(alarm)
        .send()
        .await
        .map_err(|err| CliError::sdk("cloudwatch:DescribeAlarms", err))?;
    Ok(found
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value().map(|s| s.as_str().to_owned())))
}

/// What the brake does now, beside the gate's own state: the one case to act on is a brake in ALARM
/// while the gate is open (a close and an open within one of its periods).
pub fn describe_brake(alarm: &str, state: Option<&str>, gate_open: bool, style: Style) -> String {
    match (state, gate_open) {
        (None, _) => style.bad(&format!(
            "alarm {alarm} does not exist (patchpilot doctor: brake_attached)"
        )),
        (Some("ALARM"), false) => format!(
            "{} ({alarm} in ALARM): production's braked tasks do not run",
            style.good("engaged")
        ),
        (Some("ALARM"), true) => style.warn(&format!(
            "{alarm} is in ALARM while the gate is open: production's braked tasks will not run until the gate publishes its state again (its re-check before production, a decision or an operator request)"
        )),
        (Some("OK"), true) => format!("released ({alarm} OK)"),
        (Some("OK"), false) => style.warn(&format!(
            "{alarm} is OK while the gate is closed: it follows within seconds of the gate's metric; if it stays OK, check that the gate's GateOpen metric reaches CloudWatch"
        )),
        (Some(other), _) => format!(
            "{alarm} {other}: no data yet, which does not stop tasks (until the gate's first decision)"
        ),
    }
}

/// The last production run's check against the promoted list, in one line.
pub fn describe_verification(verified: &patch_gate::promote::Verification, style: Style) -> String {
    if verified.exceeded.is_empty() {
        format!(
            "  Verified:   production execution {}: {} installs on {} instances, all within what staging ran ({})",
            verified.production_execution_id,
            verified.installs,
            verified.instances_checked,
            style.good("Promotion kept")
        )
    } else {
        format!(
            "  Verified:   production execution {}: {}",
            verified.production_execution_id,
            style.bad(&format!(
                "Promotion.Exceeded: {} install(s) outside what staging ran",
                verified.exceeded.len()
            ))
        )
    }
}

/// Runs `status`.
pub async fn run(clients: &Clients, settings: &Settings, style: Style) -> Result<Output, CliError> {
    let table = Settings::required(&settings.table, "--table")?;
    let staging = Settings::required(&settings.staging_window, "--staging-window")?;
    let production = Settings::required(&settings.production_window, "--production-window")?;
    let queue_url = Settings::required(&settings.failure_queue_url, "--failure-queue-url")?;
    let (latest, hold, verified, enabled, snapshot, depth) =
        with_progress("the gate, the snapshot and the failure queue", async {
            tokio::join!(
                records::latest(clients, table, staging),
                records::hold(clients, table, staging),
                records::verification(clients, table, production),
                window_enabled(clients, production),
                last_snapshot(
                    clients,
                    &settings.namespace,
                    settings.snapshot_minutes,
                    Reach::Groups
                ),
                queue_depth(clients, queue_url),
            )
        })
        .await;
    let (latest, hold, verified, enabled, (fleet, worst), depth) =
        (latest?, hold?, verified?, enabled?, snapshot?, depth?);
    let brake = match &settings.brake_alarm {
        Some(alarm) => Some((alarm.clone(), brake_state(clients, alarm).await?)),
        None => None,
    };
    let now = Utc::now();
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    line(style.heading(&format!(
        "Production window {production} (staging {staging}{}{})",
        settings
            .staging_group
            .as_deref()
            .map(|g| format!(", group {g}"))
            .unwrap_or_default(),
        settings
            .staging_account()
            .map(|account| format!(", in account {account}"))
            .unwrap_or_default()
    )));
    line(format!(
        "  Window:     {}",
        if enabled {
            style.good("enabled")
        } else {
            style.bad("disabled")
        }
    ));
    let state = explain(latest.as_ref(), hold.as_ref());
    if let Some((alarm, alarm_state)) = &brake {
        line(format!(
            "  Brake:      {}",
            describe_brake(alarm, alarm_state.as_deref(), state.open, style)
        ));
    }
    describe_state(&mut line, &state, now, style);
    if let Some(latest) = &latest {
        describe_decision(&mut line, latest, now, style);
    }
    if let Some(verified) = &verified {
        line(describe_verification(verified, style));
        for excess in verified.exceeded.iter().take(10) {
            line(format!(
                "              {} {} on {}",
                excess.id, excess.title, excess.instance_id
            ));
        }
    }
    line(String::new());
    let snapshot_json = match &fleet {
        Some(fleet) if fleet.latest().is_some() => {
            let (at, percent) = fleet.latest().unwrap_or((now, 0.0));
            line(style.heading(&format!(
                "Compliance ({}, last snapshot {} ago)",
                settings.namespace,
                age(now - at)
            )));
            line(format!(
                "  Fleet:       {percent:.1} % compliant of {} instances",
                fleet
                    .instances
                    .map_or("?".to_owned(), |n| format!("{n:.0}"))
            ));
            if let Some((group, (_, worst_percent))) = worst
                .as_ref()
                .and_then(|w| w.latest().map(|l| (&w.group, l)))
            {
                line(format!("  Worst group: {group} {worst_percent:.1} %"));
            }
            json!({
                "namespace": settings.namespace,
                "at": at,
                "age_seconds": (now - at).num_seconds(),
                "fleet_compliance_percent": percent,
                "fleet_instances": fleet.instances,
                "worst_group": worst.as_ref().and_then(|w| w.latest().map(|(_, p)| json!({"patch_group": w.group, "compliance_percent": p}))),
            })
        }
        _ => {
            line(style.heading(&format!("Compliance ({})", settings.namespace)));
            line(format!(
                "  {}",
                style.warn("no snapshot in the last 7 days")
            ));
            Value::Null
        }
    };
    line(String::new());
    line(format!(
        "Failure queue: {}",
        if depth == 0 {
            style.good("empty")
        } else {
            style.bad(&format!("{depth} message(s) waiting"))
        }
    ));
    let json = json!({
        "production_window": production,
        "staging_window": staging,
        "production_window_enabled": enabled,
        "brake": brake.as_ref().map(|(alarm, state)| json!({"alarm": alarm, "state": state})),
        "hold": hold,
        "verified": verified,
        "state": state,
        "decision": latest.as_ref().map(|l| json!({
            "execution_id": l.execution_id,
            "execution_start": l.start,
            "open": l.open,
            "record": l.record,
        })),
        "snapshot": snapshot_json,
        "failure_queue_messages": depth,
    });
    Ok(Output {
        text,
        json,
        findings: false,
        incomplete: false,
    })
}

/// The gate's state as an operator needs it first: open or not, what made it so, when, and why;
/// then the events that led there, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateState {
    /// Production may patch (a hold or a closing verdict makes this false).
    pub open: bool,
    /// What set it: `decision`, `recheck`, `approval`, `hold`, or `none` (nothing decided yet).
    pub cause: &'static str,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// Who, for an approval or a hold.
    pub by: Option<String>,
    /// Why: the failed checks (`name: detail`), or the operator's reason.
    pub why: Vec<String>,
    /// The staging execution the state rests on.
    pub execution_id: Option<String>,
    /// What led here.
    pub history: Vec<HistoryEntry>,
}

/// One event in the gate's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// When (unknown for records that did not say).
    pub at: Option<DateTime<Utc>>,
    /// `decision`, `approval`, `recheck` or `hold`.
    pub event: &'static str,
    /// Production's state after it.
    pub open: bool,
    /// What happened, in one line.
    pub summary: String,
}

/// `name: detail` of each failed check.
fn failed_checks(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| format!("{}: {}", check.name, check.detail))
        .collect()
}

/// A stored record read as the gate's report (`None`: absent or not a report).
fn report_of(record: Option<&Value>) -> Option<GateReport> {
    record.and_then(|record| serde_json::from_value(record.clone()).ok())
}

/// Explains the gate from its records: the latest decision (with any approval in it), the re-check
/// that last closed it, and a hold. Pure, so every combination is tested with plain data.
pub fn explain(latest: Option<&records::Latest>, hold: Option<&Hold>) -> GateState {
    let mut history = Vec::new();
    let mut state = GateState {
        open: false,
        cause: "none",
        at: None,
        by: None,
        why: vec!["no staging execution has been decided yet".to_owned()],
        execution_id: None,
        history: Vec::new(),
    };
    if let Some(latest) = latest {
        let report = report_of(latest.record.as_ref());
        let execution = &latest.execution_id;
        let approval = report.as_ref().and_then(|r| r.approval.as_ref());
        match (&report, approval) {
            (_, Some(approval)) => {
                let over: Vec<&str> = approval
                    .approved_over
                    .checks
                    .iter()
                    .map(|c| c.as_str())
                    .collect();
                history.push(HistoryEntry {
                    at: None,
                    event: "decision",
                    open: false,
                    summary: format!(
                        "staging execution {execution} decided CLOSED: failed {}",
                        over.join(", ")
                    ),
                });
                history.push(HistoryEntry {
                    at: Some(approval.at),
                    event: "approval",
                    open: true,
                    summary: format!("approved by {}: {}", approval.by.arn, approval.reason),
                });
            }
            (Some(report), None) => {
                let failed = failed_checks(&report.checks);
                let open = report.open.unwrap_or(latest.open);
                history.push(HistoryEntry {
                    at: Some(report.decided_at),
                    event: "decision",
                    open,
                    summary: if failed.is_empty() {
                        format!(
                            "staging execution {execution} decided {}: every check passed ({})",
                            if open { "OPEN" } else { "CLOSED" },
                            report.checks.len()
                        )
                    } else {
                        format!(
                            "staging execution {execution} decided CLOSED: {}",
                            failed.join("; ")
                        )
                    },
                });
            }
            (None, None) => history.push(HistoryEntry {
                at: None,
                event: "decision",
                open: latest.open,
                summary: format!(
                    "staging execution {execution} decided {} (its record could not be read)",
                    if latest.open { "OPEN" } else { "CLOSED" }
                ),
            }),
        }
        let recheck = latest
            .cause
            .as_ref()
            .filter(|cause| cause.kind == "recheck");
        let recheck_failed = recheck
            .and_then(|cause| report_of(cause.recheck.as_ref()))
            .map(|report| failed_checks(&report.checks));
        if let Some(cause) = recheck {
            history.push(HistoryEntry {
                at: cause.at,
                event: "recheck",
                open: false,
                summary: format!(
                    "the re-check closed production: {}",
                    match &recheck_failed {
                        Some(failed) if !failed.is_empty() => failed.join("; "),
                        _ => "(its record could not be read)".to_owned(),
                    }
                ),
            });
        }
        let last = history.last().cloned();
        let last_event = last.as_ref().map(|entry| entry.event);
        state = GateState {
            open: latest.open,
            cause: last_event.unwrap_or("decision"),
            at: last.as_ref().and_then(|entry| entry.at),
            by: approval
                .filter(|_| last_event == Some("approval"))
                .map(|approval| approval.by.arn.clone()),
            why: match last_event {
                Some("recheck") => recheck_failed.unwrap_or_default(),
                Some("approval") => approval
                    .map(|approval| vec![approval.reason.clone()])
                    .unwrap_or_default(),
                _ => report
                    .as_ref()
                    .map(|report| failed_checks(&report.checks))
                    .unwrap_or_default(),
            },
            execution_id: Some(execution.clone()),
            history: Vec::new(),
        };
    }
    if let Some(hold) = hold {
        history.push(HistoryEntry {
            at: Some(hold.since),
            event: "hold",
            open: false,
            summary: hold.describe(),
        });
        state.open = false;
        state.cause = "hold";
        state.at = Some(hold.since);
        state.by = Some(hold.by.label());
        state.why = vec![hold.reason.clone()];
    }
    state.history = history;
    state
}

/// The state line (what production is, and why), then the history that led there.
fn describe_state(
    line: &mut impl FnMut(String),
    state: &GateState,
    now: DateTime<Utc>,
    style: Style,
) {
    let verdict = if state.open {
        style.good("OPEN")
    } else {
        style.bad("CLOSED")
    };
    let when = state
        .at
        .map(|t| {
            format!(
                " at {} ({} ago)",
                t.format("%Y-%m-%d %H:%M UTC"),
                age(now - t)
            )
        })
        .unwrap_or_default();
    let by = state
        .by
        .as_deref()
        .map(|by| format!(" by {by}"))
        .unwrap_or_default();
    let cause = match state.cause {
        "none" => "nothing decided yet".to_owned(),
        "decision" => format!("by the decision{when}"),
        "recheck" => format!("by the re-check{when}"),
        "approval" => format!("by an approval{by}{when}"),
        "hold" => format!("held{by}{when}"),
        other => other.to_owned(),
    };
    line(format!("  Gate:       {verdict}, {cause}"));
    for reason in &state.why {
        line(format!("              {reason}"));
    }
    if !state.history.is_empty() {
        line("  History:".to_owned());
        for entry in &state.history {
            line(format!(
                "    {}  {}",
                entry.at.map_or_else(
                    || "(time not recorded)".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
                ),
                entry.summary
            ));
        }
    }
}

fn describe_decision(
    line: &mut impl FnMut(String),
    latest: &records::Latest,
    now: DateTime<Utc>,
    style: Style,
) {
    let Some(report) = report_of(latest.record.as_ref()) else {
        line(format!(
            "  Decision:   staging execution {}: {}",
            latest.execution_id,
            style.warn("its record is missing or could not be read")
        ));
        return;
    };
    // An approved decision was a closed one; the approval opened production.
    let open = report.approval.is_none() && report.open.unwrap_or(latest.open);
    line(format!(
        "  Decision:   {} for staging execution {}, decided {} ({} ago)",
        if open {
            style.good("OPEN")
        } else {
            style.bad("CLOSED")
        },
        latest.execution_id,
        report.decided_at.format("%Y-%m-%d %H:%M UTC"),
        age(now - report.decided_at)
    ));
    if let Some(approval) = &report.approval {
        let over: Vec<&str> = approval
            .approved_over
            .checks
            .iter()
            .map(|c| c.as_str())
            .collect();
        line(format!(
            "  Approval:   by {} at {}: {}",
            approval.by.arn,
            approval.at.format("%Y-%m-%d %H:%M UTC"),
            approval.reason
        ));
        line(format!("              over: {}", over.join(", ")));
    }
    line("  Checks:".to_owned());
    for check in &report.checks {
        line(format!(
            "    [{}] {}: {}",
            if check.passed {
                style.good("pass")
            } else {
                style.bad("FAIL")
            },
            check.name,
            check.detail
        ));
    }
    for pinned in &report.pinned {
        line(format!(
            "  Pinned:     {} ({}) to staging's {}",
            pinned.production_baseline_id, pinned.operating_system, pinned.staging_baseline_id
        ));
        for cutoff in &pinned.cutoffs {
            line(format!(
                "              rule {}: {} -> ApproveUntilDate {}",
                cutoff.rule, cutoff.staging, cutoff.approve_until_date
            ));
        }
    }
    if let Some(promoted) = &report.promoted {
        line(format!(
            "  Promoted:   {} exact versions staging runs ({} installed in its run; {} of {} instances read) -> {}",
            promoted.entries,
            promoted.installed_this_run,
            promoted.instances_read,
            promoted.instances_read + promoted.instances_unread,
            promoted.url
        ));
        for example in &promoted.examples {
            line(format!("              not promoted: {example}"));
        }
    }
}

/// What `status` and `doctor` read from CloudWatch, against a mocked CloudWatch that counts calls.
#[cfg(test)]
mod reads {
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::operation::list_metrics::ListMetricsOutput;
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataResult};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    /// Every group published a minute ago except `quiet`, whose last point is three days old.
    fn cloudwatch(
        groups: usize,
        windows: Arc<Mutex<Vec<(i64, usize, i32)>>>,
    ) -> (aws_sdk_cloudwatch::Client, Vec<aws_smithy_mocks::Rule>) {
        let list = mock!(aws_sdk_cloudwatch::Client::list_metrics).then_output(move || {
            let mut out = ListMetricsOutput::builder();
            for group in std::iter::once(FLEET.to_owned())
                .chain((0..groups).map(|i| format!("g{i}")))
                .chain(std::iter::once("quiet".to_owned()))
            {
                out = out.metrics(
                    Metric::builder()
                        .metric_name("CompliancePercent")
                        .dimensions(Dimension::builder().name("PatchGroup").value(group).build())
                        .build(),
                );
            }
            out.build()
        });
        let data =
            mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_compute_output(move |req| {
                let now = Utc::now().timestamp();
                let start = req.start_time().map_or(0, |t| t.secs());
                let period = req
                    .metric_data_queries()
                    .first()
                    .and_then(|q| q.metric_stat())
                    .and_then(|s| s.period())
                    .unwrap_or_default();
                windows.lock().unwrap().push((
                    now - start,
                    req.metric_data_queries().len(),
                    period,
                ));
                let mut out = GetMetricDataOutput::builder();
                for query in req.metric_data_queries() {
                    let group = query
                        .metric_stat()
                        .and_then(|s| s.metric())
                        .and_then(|m| m.dimensions().first())
                        .and_then(|d| d.value())
                        .unwrap_or_default();
                    let at = if group == "quiet" {
                        now - 3 * 86_400
                    } else {
                        now - 60
                    };
                    let mut result = MetricDataResult::builder().id(query.id().unwrap_or_default());
                    if at >= start {
                        let value = if group == "quiet" { 40.0 } else { 95.0 };
                        result = result
                            .timestamps(aws_smithy_types::DateTime::from_secs(at))
                            .values(value);
                    }
                    out = out.metric_data_results(result.build());
                }
                out.build()
            });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&list, &data]);
        (client, vec![list, data])
    }

    fn clients(cloudwatch: aws_sdk_cloudwatch::Client) -> Clients {
        let mut clients = Clients::from_config(
            &aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        );
        clients.cloudwatch = cloudwatch;
        clients
    }

    #[tokio::test]
    async fn status_reads_the_last_two_intervals_and_looks_back_only_for_quiet_groups() {
        let windows = Arc::new(Mutex::new(Vec::new()));
        let (cloudwatch, rules) = cloudwatch(998, windows.clone());
        let (fleet, worst) = last_snapshot(&clients(cloudwatch), "ns", 60, Reach::Groups)
            .await
            .unwrap();
        assert_eq!(fleet.unwrap().latest().unwrap().1, 95.0);
        let worst = worst.unwrap();
        assert_eq!(
            (worst.group.as_str(), worst.latest().unwrap().1),
            ("quiet", 40.0),
            "a group that stopped publishing still shows, with its last figure"
        );
        // 1,000 groups and the fleet (the mock lists them in one page; CloudWatch pages by 500):
        // 2,000 queries in 4 calls over the last two intervals, then one call over 7 days for the
        // quiet group's two metrics, by the hour.
        assert_eq!(rules[0].num_calls(), 1);
        let windows = windows.lock().unwrap().clone();
        let recent = 2 * 60 * 60 + 5 * 60;
        let calls: Vec<(bool, usize, i32)> = windows
            .iter()
            .map(|(span, queries, period)| ((span - recent).abs() <= 5, *queries, *period))
            .collect();
        assert_eq!(
            calls,
            [
                (true, 500, 60),
                (true, 500, 60),
                (true, 500, 60),
                (true, 500, 60),
                (false, 2, 3600)
            ]
        );
    }

    /// The README's table: GetMetricData calls `status` makes at 10, 200 and 1,000 groups (and the
    /// fleet), every group current but the one quiet group the mock adds, which costs one call more.
    #[tokio::test]
    async fn status_calls_at_10_200_and_1000_groups() {
        for (groups, expected) in [(10, 1), (200, 1), (1_000, 5)] {
            let windows = Arc::new(Mutex::new(Vec::new()));
            // The mock adds a quiet group: `groups - 1` current ones, the quiet one and the fleet.
            let (cloudwatch, _rules) = cloudwatch(groups - 1, windows.clone());
            last_snapshot(&clients(cloudwatch), "ns", 60, Reach::Groups)
                .await
                .unwrap();
            let windows = windows.lock().unwrap();
            let recent = windows
                .iter()
                .filter(|(_, _, period)| *period == 60)
                .count();
            assert_eq!((groups, recent), (groups, expected));
            assert_eq!(
                windows.len(),
                recent + 1,
                "one look back for the quiet group"
            );
        }
    }

    #[tokio::test]
    async fn doctor_reads_the_fleet_figure_only() {
        let windows = Arc::new(Mutex::new(Vec::new()));
        let (cloudwatch, rules) = cloudwatch(998, windows.clone());
        let (fleet, _) = last_snapshot(&clients(cloudwatch), "ns", 60, Reach::Fleet)
            .await
            .unwrap();
        assert!(fleet.is_some());
        assert_eq!(rules[0].num_calls(), 0, "no ListMetrics");
        assert_eq!(windows.lock().unwrap().len(), 1);
        assert_eq!(windows.lock().unwrap()[0].1, 2);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_brake_is_read_beside_the_gate() {
        let plain = Style::plain();
        assert!(describe_brake("b", Some("ALARM"), false, plain).starts_with("engaged"));
        assert!(describe_brake("b", Some("OK"), true, plain).starts_with("released"));
        let stuck = describe_brake("b", Some("ALARM"), true, plain);
        assert!(stuck.contains("while the gate is open"), "{stuck}");
        assert!(describe_brake("b", None, true, plain).contains("does not exist"));
        assert!(
            describe_brake("b", Some("INSUFFICIENT_DATA"), false, plain)
                .contains("does not stop tasks")
        );
    }

    use super::*;
    use crate::records::{Cause, Latest};
    use patch_gate::operator::Operator;

    fn at(minute: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 12, 6, 7, minute, 0).unwrap()
    }

    /// A record as the gate writes it, with `members` over the required ones.
    fn record(members: Value) -> Value {
        let mut record = json!({
            "outcome": "decided", "trigger": "staging_execution",
            "staging_window_id": "mw-0c50858d01ff4a3b1", "production_window_id": "mw-0d61969e12ee5b4c2",
            "checks": [], "decided_at": at(10).to_rfc3339(),
        });
        for (key, value) in members.as_object().unwrap() {
            record[key] = value.clone();
        }
        record
    }

    fn decided(open: bool, failed: &[&str]) -> Latest {
        let mut checks =
            vec![json!({"name": "execution_succeeded", "passed": true, "detail": "ok"})];
        checks.extend(
            failed
                .iter()
                .map(|name| json!({"name": name, "passed": false, "detail": "it failed"})),
        );
        Latest {
            execution_id: "e-1".into(),
            start: Some(at(0)),
            open,
            record: Some(record(json!({"open": open, "checks": checks}))),
            cause: Some(Cause {
                kind: "decision".into(),
                at: Some(at(10)),
                recheck: None,
            }),
        }
    }

    #[test]
    fn nothing_decided_is_closed_and_says_so() {
        let state = explain(None, None);
        assert_eq!((state.open, state.cause), (false, "none"));
        assert!(state.history.is_empty());
    }

    #[test]
    fn an_open_decision_is_its_own_cause() {
        let state = explain(Some(&decided(true, &[])), None);
        assert_eq!(
            (state.open, state.cause, state.at),
            (true, "decision", Some(at(10)))
        );
        assert!(state.why.is_empty());
        assert_eq!(state.history.len(), 1);
        assert_eq!(
            state.history[0].summary,
            "staging execution e-1 decided OPEN: every check passed (1)"
        );
    }

    #[test]
    fn a_recheck_that_closed_production_is_named_with_the_check_that_failed() {
        let mut latest = decided(true, &[]);
        latest.open = false;
        latest.cause = Some(Cause {
            kind: "recheck".into(),
            at: Some(at(40)),
            recheck: Some(record(
                json!({"outcome": "rechecked", "trigger": "scheduled_recheck", "checks": [
                    {"name": "no_new_install_failures", "passed": true, "detail": "none"},
                    {"name": "health_alarms_ok", "passed": false, "detail": "alarm staging-health-canary in ALARM"}
                ]}),
            )),
        });
        let state = explain(Some(&latest), None);
        assert_eq!(
            (state.open, state.cause, state.at),
            (false, "recheck", Some(at(40)))
        );
        assert_eq!(
            state.why,
            ["health_alarms_ok: alarm staging-health-canary in ALARM"]
        );
        let events: Vec<(&str, bool)> = state.history.iter().map(|e| (e.event, e.open)).collect();
        assert_eq!(events, [("decision", true), ("recheck", false)]);
        let mut text = String::new();
        describe_state(
            &mut |l: String| {
                text.push_str(&l);
                text.push('\n');
            },
            &state,
            at(45),
            Style::plain(),
        );
        assert!(
            text.starts_with(
                "  Gate:       CLOSED, by the re-check at 2026-12-06 07:40 UTC (5 min ago)\n"
            ),
            "{text}"
        );
        assert!(text.contains("staging-health-canary"), "{text}");
    }

    #[test]
    fn an_approval_names_who_and_why_over_the_closed_decision() {
        let mut latest = decided(true, &[]);
        latest.cause = Some(Cause {
            kind: "approval".into(),
            at: Some(at(20)),
            recheck: None,
        });
        latest.record = Some(record(json!({
            "open": true,
            "checks": [{"name": "no_failed_patches", "passed": false, "detail": "2 failed"}],
            "approval": {
                "by": {"arn": "arn:aws:iam::111122223333:user/ana"},
                "reason": "known-bad image (CHG-1)",
                "at": at(20).to_rfc3339(),
                "approved_over": {"checks": ["no_failed_patches"], "failed_instances": ["i-1"]}
            }
        })));
        let state = explain(Some(&latest), None);
        assert_eq!((state.open, state.cause), (true, "approval"));
        assert_eq!(
            state.by.as_deref(),
            Some("arn:aws:iam::111122223333:user/ana")
        );
        assert_eq!(state.why, ["known-bad image (CHG-1)"]);
        let events: Vec<(&str, bool)> = state.history.iter().map(|e| (e.event, e.open)).collect();
        assert_eq!(events, [("decision", false), ("approval", true)]);
    }

    #[test]
    fn a_hold_closes_whatever_was_decided_and_says_who_and_why() {
        let hold = Hold {
            by: Operator {
                arn: "arn:aws:iam::111122223333:user/ana".into(),
                account: None,
                user_id: None,
                claimed: true,
            },
            reason: "change freeze".into(),
            since: at(30),
        };
        let state = explain(Some(&decided(true, &[])), Some(&hold));
        assert_eq!(
            (state.open, state.cause, state.at),
            (false, "hold", Some(at(30)))
        );
        assert_eq!(state.why, ["change freeze"]);
        assert_eq!(state.history.last().map(|e| e.event), Some("hold"));
    }
}
