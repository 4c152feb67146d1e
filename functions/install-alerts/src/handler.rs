//! Parse → plan → claim → gather → render → publish → record, for one event.

use chrono::Utc;
use patchpilot_shared::CommonConfig;
use patchpilot_shared::aws::sns::{Message, publish};
use patchpilot_shared::budget::Budget;
use patchpilot_shared::runtime::{Handled, Handler};
use patchpilot_shared::{Event, FunctionError};
use serde::Serialize;
use serde_json::Value;

use crate::config::AlertsConfig;
use crate::enrich::{self, Clients};
use crate::plan::{Origin, Plan, plan};
use crate::render::{self, AlertKind, InstanceAlertFacts, Rendered, SummaryFacts};
use crate::store::{Claim, Store};

const FUNCTION: &str = "install-alerts";

/// What an invocation did: the Lambda's return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// An alert or summary was published.
    Sent {
        /// Instance alert, command summary or window summary.
        kind: AlertKind,
        /// The deduplication key.
        key: String,
        /// The message's subject.
        subject: String,
        /// SNS's message id.
        message_id: Option<String>,
        /// What could not be read (the message went out without it).
        unreadable: Vec<String>,
        /// Set when a summary went out incomplete: what the time limit left uncounted or unnamed.
        #[serde(skip_serializing_if = "Option::is_none")]
        incomplete: Option<String>,
    },
    /// DRY_RUN: what would have been published.
    WouldSend {
        /// Instance alert, command summary or window summary.
        kind: AlertKind,
        /// The deduplication key.
        key: String,
        /// The message's subject.
        subject: String,
    },
    /// Storm control: this instance's failure goes into the command's summary.
    Suppressed {
        /// The alert's deduplication key.
        key: String,
        /// Why it was held back.
        reason: String,
    },
    /// The same alert was already handled (a retried or duplicated event).
    Duplicate {
        /// The alert's deduplication key.
        key: String,
        /// What the first delivery did (`sent` or `suppressed`).
        state: String,
    },
    /// Not an event that pages.
    Ignored {
        /// Why it does not page.
        reason: String,
    },
}

/// The key deduplicating one instance's alert.
pub fn alert_key(command_id: &str, instance_id: &str, status: &str) -> String {
    format!("alert#{command_id}#{instance_id}#{status}")
}

/// The key deduplicating a command's summary.
pub fn summary_key(command_id: &str, status: &str) -> String {
    format!("summary#{command_id}#{status}")
}

/// The run buckets (document × UTC hour) a window execution from `start` to `end` falls in, at most
/// a day's worth.
pub fn run_buckets(
    documents: &[String],
    start: Option<chrono::DateTime<Utc>>,
    end: Option<chrono::DateTime<Utc>>,
) -> Vec<String> {
    let end = end.unwrap_or_else(Utc::now);
    let start = start.unwrap_or(end);
    let mut hours = Vec::new();
    let mut hour = start;
    while hour <= end && hours.len() < 24 {
        hours.push(hour);
        hour += chrono::Duration::hours(1);
    }
    if hours
        .last()
        .is_some_and(|last| crate::plan::run_bucket("", *last) != crate::plan::run_bucket("", end))
        && hours.len() < 25
    {
        hours.push(end);
    }
    documents
        .iter()
        .flat_map(|document| {
            hours
                .iter()
                .map(|hour| crate::plan::run_bucket(document, *hour))
        })
        .collect()
}

/// A summary is due when more instances failed than storm control lets page individually, or when
/// any failed instance of this run was not paged on its own.
///
/// The second half is what makes suppression safe: storm buckets are per document and UTC hour across
/// the account (invocation events carry no window id), so another team's window can fill the hour and
/// suppress this run's only failure. Its own count is then within the threshold, yet nothing reached
/// a human unless this summary carries it. `paged` holds the run's failed instances that were paged
/// on their own; instances beyond those listed (`listed < failed_total`) are unknown and count as not
/// paged.
pub fn summary_needed(
    failed_total: usize,
    listed_failed: &[String],
    paged: &std::collections::BTreeSet<String>,
    threshold: usize,
) -> bool {
    failed_total > threshold
        || listed_failed.len() < failed_total
        || listed_failed.iter().any(|id| !paged.contains(id))
}

/// One instance's failed patch invocation, as planned: what its alert is about.
struct FailedInvocation {
    origin: Origin,
    command_id: String,
    instance_id: String,
    document: String,
    status: String,
    run_bucket: String,
}

/// install-alerts: turns failed patch runs into alerts and summaries.
pub struct Alerts {
    clients: Clients,
    config: AlertsConfig,
    store: Store,
}

impl Alerts {
    /// The function with its clients and settings.
    pub fn new(clients: Clients, config: AlertsConfig) -> Self {
        let store = Store::new(
            clients.dynamodb.clone(),
            config.table.clone(),
            config.idempotency_ttl_hours,
        );
        Self {
            clients,
            config,
            store,
        }
    }
}

impl Handler for Alerts {
    type Report = Outcome;

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }

    /// Handles one event inside `budget`. A summary whose reads the stop time cut short still goes
    /// out, saying what it did not count or name (a page late is worse than a page incomplete), and
    /// the invocation ends `Ok`: a retry would find the summary already sent.
    async fn handle_within(&self, payload: Value, budget: &Budget) -> Handled<Self> {
        let event = Event::parse(payload)?;
        let outcome = match plan(&event, &self.config.documents) {
            Plan::Ignore { reason } => Outcome::Ignored { reason },
            Plan::InstanceAlert {
                origin,
                command_id,
                instance_id,
                document,
                status,
                run_bucket,
            } => {
                let failed = FailedInvocation {
                    origin,
                    command_id,
                    instance_id,
                    document,
                    status: status.to_string(),
                    run_bucket,
                };
                self.instance_alert(failed, budget).await?
            }
            Plan::WindowSummary {
                origin,
                window_id,
                window_execution_id,
                status,
                start,
                end,
            } => {
                self.window_summary(
                    origin,
                    window_id,
                    window_execution_id,
                    status,
                    (start, end),
                    budget,
                )
                .await?
            }
            Plan::CommandSummary {
                origin,
                command_id,
                document,
                status,
            } => {
                self.command_summary(origin, command_id, document, status.to_string(), budget)
                    .await?
            }
        };
        report(&outcome);
        Ok(outcome)
    }
}

impl Alerts {
    async fn instance_alert(
        &self,
        failed: FailedInvocation,
        budget: &Budget,
    ) -> Result<Outcome, FunctionError> {
        let FailedInvocation {
            origin,
            command_id,
            instance_id,
            document,
            status,
            run_bucket,
        } = failed;
        let key = alert_key(&command_id, &instance_id, &status);
        let now = Utc::now();
        if self.config.common.dry_run {
            // Dry runs claim nothing and count nothing: they only show what would be sent.
        } else {
            if let Some(duplicate) = self.claim(&key, now, budget).await? {
                return Ok(duplicate);
            }
            // The run's scope first (a window's many one-instance commands), then the command's own.
            let threshold = self.config.storm_threshold;
            let admitted = match self
                .store
                .admit(
                    &format!("storm-run#{run_bucket}"),
                    &instance_id,
                    threshold,
                    now,
                )
                .await
            {
                Ok(true) => {
                    self.store
                        .admit(&format!("storm#{command_id}"), &instance_id, threshold, now)
                        .await
                }
                other => other,
            };
            match admitted {
                Ok(true) => {}
                Ok(false) => {
                    self.store.complete(&key, "suppressed", None).await?;
                    return Ok(Outcome::Suppressed {
                        key,
                        reason: format!(
                            "{} instances already paged for command {command_id} or this hour's {document} runs; it goes into the summary",
                            self.config.storm_threshold
                        ),
                    });
                }
                Err(err) => {
                    self.store.release(&key).await.ok();
                    return Err(err);
                }
            }
        }
        let mut unreadable = Vec::new();
        let ssm = &self.clients.ssm;
        let command = enrich::command(ssm, &command_id, &mut unreadable).await;
        let instance = enrich::instance(&self.clients, &instance_id, &mut unreadable).await;
        let (failed_patches, failed_patches_total) = enrich::failed_patches(
            ssm,
            &instance_id,
            self.config.max_listed_patches,
            &mut unreadable,
        )
        .await;
        let output = enrich::invocation_output(
            ssm,
            &command_id,
            &instance_id,
            &document,
            instance.platform.as_deref(),
            self.config.output_tail_bytes,
            &mut unreadable,
        )
        .await;
        let facts = InstanceAlertFacts {
            origin,
            command_id,
            instance_id,
            document,
            status,
            operation: command.operation,
            status_details: output.status_details,
            response_code: output.response_code,
            instance,
            failed_patches,
            failed_patches_total,
            stdout_tail: output.stdout_tail,
            stderr_tail: output.stderr_tail,
            unreadable,
        };
        let rendered = render::instance_alert(&facts);
        self.send(
            AlertKind::InstanceFailure,
            key,
            rendered,
            facts.unreadable,
            None,
        )
        .await
    }

    async fn command_summary(
        &self,
        origin: Origin,
        command_id: String,
        document: String,
        status: String,
        budget: &Budget,
    ) -> Result<Outcome, FunctionError> {
        let ssm = &self.clients.ssm;
        let census =
            enrich::census(ssm, &command_id, self.config.summary_max_instances, budget).await?;
        // The instances paged on their own; unreadable: none known, so the summary goes out.
        let paged: std::collections::BTreeSet<String> = self
            .store
            .alerted(&format!("storm#{command_id}"))
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        if !summary_needed(
            census.failed_total,
            &census.failed_ids,
            &paged,
            self.config.storm_threshold,
        ) {
            if !census.counted_all {
                return Err(counting_cut_short(&command_id, &census));
            }
            return Ok(Outcome::Ignored {
                reason: format!(
                    "command {command_id}: {} failed instances, within the storm threshold of {}; each was paged on its own",
                    census.failed_total, self.config.storm_threshold
                ),
            });
        }
        let key = summary_key(&command_id, &status);
        if !self.config.common.dry_run
            && let Some(duplicate) = self.claim(&key, Utc::now(), budget).await?
        {
            return Ok(duplicate);
        }
        let mut unreadable = Vec::new();
        let alerted = match self.store.alerted(&format!("storm#{command_id}")).await {
            Ok(alerted) => alerted.len(),
            Err(err) => {
                unreadable.push(format!("instances already paged ({err})"));
                self.config.storm_threshold
            }
        };
        let command = enrich::command(ssm, &command_id, &mut unreadable).await;
        let incomplete = census.shortfall();
        let (instances, patch_groups) = enrich::with_patch_groups(
            ssm,
            census.failed,
            &census.failed_ids,
            &mut unreadable,
            budget,
        )
        .await;
        let facts = SummaryFacts {
            origin,
            command_id,
            window_id: None,
            document,
            status,
            operation: command.operation,
            invocations_total: census.total,
            counts_by_status: census.counts_by_status,
            failed_total: census.failed_total,
            alerted,
            instances,
            patch_groups,
            unreadable,
            incomplete,
        };
        let rendered = render::summary(&facts);
        self.send(
            AlertKind::CommandSummary,
            key,
            rendered,
            facts.unreadable,
            facts.incomplete,
        )
        .await
    }

    async fn window_summary(
        &self,
        origin: Origin,
        window_id: String,
        window_execution_id: String,
        status: String,
        (start, end): (Option<chrono::DateTime<Utc>>, Option<chrono::DateTime<Utc>>),
        budget: &Budget,
    ) -> Result<Outcome, FunctionError> {
        let ssm = &self.clients.ssm;
        let census = enrich::window_census(
            ssm,
            &window_execution_id,
            &self.config.documents,
            self.config.summary_max_instances,
            budget,
        )
        .await?;
        let mut unreadable = Vec::new();
        // Instances paged on their own: the run buckets the execution's hours fall in.
        let failed: std::collections::BTreeSet<&String> = census.failed_ids.iter().collect();
        let mut paged = std::collections::BTreeSet::new();
        for bucket in run_buckets(&self.config.documents, start, end) {
            match self.store.alerted(&format!("storm-run#{bucket}")).await {
                Ok(ids) => paged.extend(ids.into_iter().filter(|id| failed.contains(id))),
                Err(err) => unreadable.push(format!("instances already paged ({err})")),
            }
        }
        if !summary_needed(
            census.failed_total,
            &census.failed_ids,
            &paged,
            self.config.storm_threshold,
        ) {
            if !census.counted_all {
                return Err(counting_cut_short(&window_execution_id, &census));
            }
            return Ok(Outcome::Ignored {
                reason: format!(
                    "window execution {window_execution_id}: {} failed patch invocations, within the storm threshold of {}",
                    census.failed_total, self.config.storm_threshold
                ),
            });
        }
        let key = format!("summary#{window_execution_id}#{status}");
        if !self.config.common.dry_run
            && let Some(duplicate) = self.claim(&key, Utc::now(), budget).await?
        {
            return Ok(duplicate);
        }
        let incomplete = census.shortfall();
        let (instances, patch_groups) = enrich::with_patch_groups(
            ssm,
            census.failed,
            &census.failed_ids,
            &mut unreadable,
            budget,
        )
        .await;
        let facts = SummaryFacts {
            origin,
            command_id: window_execution_id,
            window_id: Some(window_id),
            document: self.config.documents.join(", "),
            status,
            operation: None,
            invocations_total: census.total,
            counts_by_status: census.counts_by_status,
            failed_total: census.failed_total,
            alerted: paged.len(),
            instances,
            patch_groups,
            unreadable,
            incomplete,
        };
        let rendered = render::summary(&facts);
        self.send(
            AlertKind::WindowSummary,
            key,
            rendered,
            facts.unreadable,
            facts.incomplete,
        )
        .await
    }

    /// Publishes (or, under DRY_RUN, describes) a rendered message and records it as sent. A failed
    /// publish releases the claim and is a retryable error.
    async fn send(
        &self,
        kind: AlertKind,
        key: String,
        rendered: Rendered,
        unreadable: Vec<String>,
        incomplete: Option<String>,
    ) -> Result<Outcome, FunctionError> {
        if self.config.common.dry_run {
            return Ok(Outcome::WouldSend {
                kind,
                key,
                subject: rendered.subject,
            });
        }
        let message = Message {
            subject: rendered.subject.clone(),
            envelope: rendered.envelope(),
            attributes: rendered
                .attributes
                .iter()
                .map(|(name, (data_type, value))| {
                    ((*name).to_owned(), (*data_type).to_owned(), value.clone())
                })
                .collect(),
        };
        let message_id = match publish(&self.clients.sns, &self.config.topic_arn, &message).await {
            Ok(id) => id,
            Err(err) => {
                if let Err(release) = self.store.release(&key).await {
                    tracing::warn!(key, error = %release, "could not release the claim; it expires with its lease");
                }
                // A publish that failed must be retried, whatever SNS said (the publisher makes it
                // retryable); a message too large for SNS is not sent at all.
                return Err(err);
            }
        };
        self.store
            .complete(&key, "sent", message_id.as_deref())
            .await?;
        Ok(Outcome::Sent {
            kind,
            key,
            subject: rendered.subject,
            message_id,
            unreadable,
            incomplete,
        })
    }
}

impl Alerts {
    /// Claims `key` for sending: `None` to go ahead, the duplicate's outcome when it was already
    /// handled, an error (retried later) while another invocation holds it.
    async fn claim(
        &self,
        key: &str,
        now: chrono::DateTime<Utc>,
        budget: &Budget,
    ) -> Result<Option<Outcome>, FunctionError> {
        let lease = crate::store::lease_for(budget.until_deadline());
        match self.store.claim(key, now, lease).await? {
            Claim::Claimed => Ok(None),
            Claim::Done { state } => Ok(Some(Outcome::Duplicate {
                key: key.to_owned(),
                state,
            })),
            Claim::InProgress => Err(in_progress(key)),
        }
    }
}

/// The stop time came before the invocations were all counted, and those counted do not make a
/// storm: whether a summary is due is unknown, so the event is not dropped but retried.
fn counting_cut_short(id: &str, census: &enrich::InvocationCensus) -> FunctionError {
    FunctionError::StoppedForTime(format!(
        "{id}: the stop time came after counting {} invocations ({} failed), before all were counted; whether a summary is due is unknown, so a retry counts again",
        census.total, census.failed_total
    ))
}

fn in_progress(key: &str) -> FunctionError {
    FunctionError::Partial(format!(
        "another invocation is sending {key}; retrying later avoids a duplicate page"
    ))
}

/// Every metric the function emits (EMF, namespace `patchpilot`, dimension `Function`).
pub const METRIC_NAMES: &[&str] = &[
    "AlertsSent",
    "SummariesSent",
    "AlertsWouldSend",
    "AlertsSuppressed",
    "DuplicatesIgnored",
    "EventsIgnored",
    "AlertsDegraded",
    "SummariesIncomplete",
];

/// The metric an outcome is counted in.
pub fn metric_of(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Sent { kind, .. } if kind.is_summary() => "SummariesSent",
        Outcome::Sent { .. } => "AlertsSent",
        Outcome::WouldSend { .. } => "AlertsWouldSend",
        Outcome::Suppressed { .. } => "AlertsSuppressed",
        Outcome::Duplicate { .. } => "DuplicatesIgnored",
        Outcome::Ignored { .. } => "EventsIgnored",
    }
}

fn report(outcome: &Outcome) {
    let metric = metric_of(outcome);
    let mut metrics = vec![(metric, 1.0)];
    if let Outcome::Sent {
        unreadable,
        incomplete,
        ..
    } = outcome
    {
        if !unreadable.is_empty() {
            metrics.push(("AlertsDegraded", 1.0));
        }
        if incomplete.is_some() {
            metrics.push(("SummariesIncomplete", 1.0));
        }
    }
    patchpilot_shared::metrics::emit(FUNCTION, &metrics);
    patchpilot_shared::logging::report("handled", outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_failure_has_the_same_key_and_others_do_not() {
        let key = alert_key("c-1", "i-1", "Failed");
        assert_eq!(key, alert_key("c-1", "i-1", "Failed"));
        assert_ne!(key, alert_key("c-1", "i-2", "Failed"));
        assert_ne!(key, alert_key("c-2", "i-1", "Failed"));
        assert_ne!(key, alert_key("c-1", "i-1", "TimedOut"));
        assert_ne!(summary_key("c-1", "Failed"), key);
    }

    #[test]
    fn every_outcome_counts_in_a_declared_metric() {
        let key = String::new();
        for outcome in [
            Outcome::Sent {
                kind: AlertKind::InstanceFailure,
                key: key.clone(),
                subject: key.clone(),
                message_id: None,
                unreadable: vec![],
                incomplete: None,
            },
            Outcome::Sent {
                kind: AlertKind::CommandSummary,
                key: key.clone(),
                subject: key.clone(),
                message_id: None,
                unreadable: vec![],
                incomplete: None,
            },
            Outcome::WouldSend {
                kind: AlertKind::InstanceFailure,
                key: key.clone(),
                subject: key.clone(),
            },
            Outcome::Suppressed {
                key: key.clone(),
                reason: key.clone(),
            },
            Outcome::Duplicate {
                key: key.clone(),
                state: key.clone(),
            },
            Outcome::Ignored {
                reason: key.clone(),
            },
        ] {
            assert!(METRIC_NAMES.contains(&metric_of(&outcome)), "{outcome:?}");
        }
    }

    #[test]
    fn run_buckets_cover_every_hour_of_the_execution() {
        use chrono::TimeZone;
        let documents = vec!["AWS-RunPatchBaseline".to_owned()];
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap();
        assert_eq!(
            run_buckets(&documents, Some(at(2, 50)), Some(at(4, 10))),
            [
                "AWS-RunPatchBaseline#2026-11-26T02",
                "AWS-RunPatchBaseline#2026-11-26T03",
                "AWS-RunPatchBaseline#2026-11-26T04"
            ]
        );
        assert_eq!(
            run_buckets(&documents, Some(at(2, 0)), Some(at(2, 30))),
            ["AWS-RunPatchBaseline#2026-11-26T02"]
        );
    }

    #[test]
    fn summaries_follow_storms_and_any_failure_nobody_was_paged_for() {
        let ids = |n: usize| (0..n).map(|i| format!("i-{i}")).collect::<Vec<_>>();
        let all = |n: usize| {
            ids(n)
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert!(!summary_needed(0, &[], &all(0), 10));
        assert!(
            !summary_needed(10, &ids(10), &all(10), 10),
            "each paged on its own"
        );
        assert!(summary_needed(11, &ids(11), &all(10), 10));
        assert!(summary_needed(300, &ids(300), &all(10), 10));
        // Another team's window filled the hour: this run's one failure was suppressed.
        assert!(summary_needed(1, &ids(1), &all(0), 10));
        // Failures counted but not all listed: the unlisted ones are not known to be paged.
        assert!(summary_needed(3, &ids(2), &all(2), 10));
    }
}
