//! Trigger → idempotency → gather → decide → pin → act → notify → record → report.

use chrono::Utc;
use patchpilot_shared::CommonConfig;
use patchpilot_shared::budget::Budget;
use patchpilot_shared::events::WindowExecutionStatus;
use patchpilot_shared::runtime::{Handled, Handler};
use patchpilot_shared::{Event, FunctionError};
use serde_json::Value;

use crate::config::{GateConfig, promotion_key, promotion_record_key};
use crate::decide::{Check, CheckName, Decision, Execution, Facts, RecheckFacts, decide, recheck};
use crate::gather;
use crate::notify;
use crate::operator;
use crate::pin::pin;
use crate::production::{AwsProduction, Object, Page, Production};
use crate::promote;
use crate::report::{GateOutcome, GateReport, Promoted, Trigger};
use crate::store::{Latest, Pending, Recorded, Store};

/// The function name metrics carry (dimension `Function`).
pub const FUNCTION: &str = "patch-gate";
/// The decision metric: 1 open, 0 closed, per production window.
pub const GATE_METRIC: &str = "GateOpen";
/// Installs of a production run outside the promoted list (0 when it kept to it).
pub const EXCEEDED_METRIC: &str = "PromotionExceeded";
/// The dimension naming the production window the gate guards.
pub const GATE_DIMENSION: &str = "ProductionWindow";
/// Failed instances whose failed patches are read for production's rejected list.
const MAX_FAILED_INSTANCES_READ: usize = 100;

/// The AWS clients the gate calls, built once per execution environment.
#[derive(Clone)]
pub struct Clients {
    /// Maintenance windows, patch states and baselines.
    pub ssm: aws_sdk_ssm::Client,
    /// The decision's message.
    pub sns: aws_sdk_sns::Client,
    /// Health alarms.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Decision records.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Production's install ceiling (`PROMOTION_BUCKET`).
    pub s3: aws_sdk_s3::Client,
}

/// The S3 client: path-style requests (`endpoint/bucket/key`), which S3 serves for every bucket
/// name the template creates (no dots) and which an endpoint set by `AWS_ENDPOINT_URL` serves too.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Why a finished execution is no verdict on staging, if it is not one.
///
/// `SKIPPED_OVERLAPPING` means the window started while its previous execution was still running and
/// ran nothing: it patched nothing and proves nothing. Deciding it would close production and, as the
/// latest decision, make the real execution's later verdict look stale.
pub fn not_a_verdict(execution: &Execution) -> Option<String> {
    match &execution.status {
        WindowExecutionStatus::SkippedOverlapping => Some(format!(
            "execution {} was skipped (SKIPPED_OVERLAPPING): it patched nothing and is not a verdict on staging",
            execution.id
        )),
        status if !status.is_terminal() => Some(format!(
            "execution {} is {status} according to the service, not finished",
            execution.id
        )),
        _ => None,
    }
}

/// The gate: judges staging and acts on production, through `P` (AWS in the function).
pub struct Gate<P = AwsProduction> {
    pub(crate) clients: Clients,
    pub(crate) config: GateConfig,
    pub(crate) store: Store,
    pub(crate) production: P,
}

impl Gate {
    /// The gate with its clients and settings, acting on production through the same clients.
    pub fn new(clients: Clients, config: GateConfig) -> Self {
        let production =
            AwsProduction::new(clients.ssm.clone(), clients.sns.clone(), clients.s3.clone());
        Self::with_production(clients, config, production)
    }
}

impl<P: Production> Gate<P> {
    /// The gate reading through `clients` and acting on production through `production`.
    pub fn with_production(clients: Clients, config: GateConfig, production: P) -> Self {
        let store = Store::new(
            clients.dynamodb.clone(),
            config.table.clone(),
            config.decision_ttl_days,
        );
        Self {
            clients,
            config,
            store,
            production,
        }
    }

    pub(crate) fn report(
        &self,
        outcome: GateOutcome,
        trigger: Trigger,
        reason: Option<String>,
    ) -> GateReport {
        GateReport {
            outcome,
            reason,
            trigger,
            staging_window_id: self.config.staging_window_id.clone(),
            production_window_id: self.config.production_window_id.clone(),
            execution: None,
            open: None,
            checks: Vec::new(),
            failed_instances: Vec::new(),
            actions: Vec::new(),
            pinned: Vec::new(),
            not_pinned: Vec::new(),
            dry_run: self.config.common.dry_run,
            decided_at: Utc::now(),
            approval: None,
            hold: None,
            failed_patches_unread: Vec::new(),
            promoted: None,
            verified: None,
        }
    }
}

impl<P: Production> Handler for Gate<P> {
    type Report = GateReport;

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }

    /// Handles one event inside `budget`: staging's results must be read before the stop time, so
    /// the margin is left for acting and recording; otherwise nothing changes and the invocation
    /// ends in a retryable error.
    ///
    /// Each branch's future is boxed: nested inline, the four SDK clients' futures make the
    /// invocation's future too deep for rustc to lay out without raising its recursion limit.
    async fn handle_within(&self, payload: Value, budget: &Budget) -> Handled<Self> {
        if let Some(request) = payload.get(operator::REQUEST_KEY) {
            let request = operator::parse(request)?;
            let report = Box::pin(self.operate(request)).await?;
            self.publish_state(&report).await;
            patchpilot_shared::logging::report("gate", &report);
            return Ok(report);
        }
        let report = match Event::parse(payload)? {
            Event::WindowExecution(_, detail)
                if detail.window_id == self.config.production_window_id
                    && detail.status.is_terminal() =>
            {
                Box::pin(self.verify_production(&detail.window_execution_id)).await?
            }
            Event::WindowExecution(_, detail) => {
                if detail.window_id != self.config.staging_window_id {
                    self.report(GateOutcome::Ignored, Trigger::StagingExecution, Some(format!(
                        "window {} is not the staging window {}",
                        detail.window_id, self.config.staging_window_id
                    )))
                } else if !detail.status.is_terminal() {
                    self.report(GateOutcome::Ignored, Trigger::StagingExecution, Some(format!(
                        "execution {} is {}, not finished",
                        detail.window_execution_id, detail.status
                    )))
                } else {
                    Box::pin(self.decide_event(&detail.window_execution_id, budget)).await?
                }
            }
            Event::Scheduled(..) => Box::pin(self.recheck(budget)).await?,
            other => self.report(GateOutcome::Ignored, Trigger::StagingExecution, Some(format!(
                "patch-gate handles the staging window's execution events and its schedule, not {:?}",
                other.meta().detail_type
            ))),
        };
        self.publish_state(&report).await;
        patchpilot_shared::logging::report("gate", &report);
        Ok(report)
    }
}

impl<P: Production> Gate<P> {
    /// The gate's state as a metric, whenever an invocation set it. A close is recorded first, and
    /// an open within the brake alarm's period of the last close is published again once that
    /// period has ended, so the alarm releases (brake.rs). Recording or reading the close can fail
    /// without failing the invocation, which has already acted: the open is then published once, and
    /// the brake releases at the gate's next publication at the latest (the re-check before
    /// production).
    async fn publish_state(&self, report: &GateReport) {
        let Some(open) = report.open else {
            return;
        };
        let window = &self.config.production_window_id;
        if self.config.common.dry_run {
            self.emit_state(open);
            return;
        }
        if !open {
            if let Err(err) = self.store.brake_engaged(window, Utc::now()).await {
                tracing::warn!(error = %err, "the close is not on record: an open within the brake's period may leave the brake engaged until the gate next publishes");
            }
            self.emit_state(false);
            return;
        }
        let engaged_at = self.store.brake_engaged_at(window).await;
        self.emit_state(true);
        let engaged_at = match engaged_at {
            Ok(at) => at,
            Err(err) => {
                tracing::warn!(error = %err, "the last close could not be read: the open is published once");
                return;
            }
        };
        let Some(wait) = crate::brake::republish_open_after(engaged_at, Utc::now()) else {
            return;
        };
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "the gate closed less than a brake period ago: the open is published again when that period has ended"
        );
        tokio::time::sleep(wait).await;
        // A close published meanwhile must keep the brake engaged: publish again only if none was.
        match self.store.brake_engaged_at(window).await {
            Ok(now) if now == engaged_at => self.emit_state(true),
            Ok(_) => {
                tracing::info!("the gate closed again meanwhile: the open is not published again")
            }
            Err(err) => {
                tracing::warn!(error = %err, "the last close could not be read again: the open is not published again")
            }
        }
    }

    fn emit_state(&self, open: bool) {
        patchpilot_shared::metrics::emit_with(
            FUNCTION,
            &[(GATE_DIMENSION, &self.config.production_window_id)],
            &[(GATE_METRIC, if open { 1.0 } else { 0.0 })],
            // The brake alarm evaluates 10-second periods (template.yaml GateBrakeAlarm).
            patchpilot_shared::metrics::Resolution::High,
        );
    }
}

impl<P: Production> Gate<P> {
    /// Staging's facts, read before the budget's stop time or not at all.
    async fn facts_within(
        &self,
        execution: Execution,
        budget: &Budget,
    ) -> Result<Facts, FunctionError> {
        let id = execution.id.clone();
        budget.run(self.facts(execution)).await.ok_or_else(|| {
            FunctionError::StoppedForTime(format!(
                "reading staging execution {id}'s results did not finish before the stop time; nothing was changed, and a retry reads them again"
            ))
        })
    }

    /// What the re-check reads, before the budget's stop time or not at all.
    async fn recheck_facts_within(
        &self,
        execution: Execution,
        budget: &Budget,
    ) -> Result<RecheckFacts, FunctionError> {
        let id = execution.id.clone();
        let read = async {
            let (members, alarms) = tokio::join!(
                gather::members(
                    &self.clients.ssm,
                    &self.config.staging_patch_group,
                    &self.config.tag_keys
                ),
                self.alarms()
            );
            RecheckFacts {
                execution,
                members: members.map_err(|e| e.to_string()),
                alarms,
            }
        };
        budget.run(read).await.ok_or_else(|| {
            FunctionError::StoppedForTime(format!(
                "re-reading staging execution {id}'s group did not finish before the stop time; nothing was changed"
            ))
        })
    }

    async fn alarms(&self) -> Option<Result<Vec<String>, String>> {
        let prefix = self.config.health_alarm_prefix.as_ref()?;
        Some(
            gather::alarms_firing(&self.clients.cloudwatch, prefix)
                .await
                .map_err(|e| e.to_string()),
        )
    }

    async fn facts(&self, execution: Execution) -> Facts {
        let ssm = &self.clients.ssm;
        let (tasks, members, alarms) = tokio::join!(
            gather::tasks(ssm, &execution.id, &self.config.patch_documents),
            gather::members(ssm, &self.config.staging_patch_group, &self.config.tag_keys),
            self.alarms()
        );
        Facts {
            execution,
            tasks: tasks.map_err(|e| e.to_string()),
            members: members.map_err(|e| e.to_string()),
            alarms,
        }
    }

    /// A finished staging execution named by an event: judged on what the service says of it.
    async fn decide_event(
        &self,
        execution_id: &str,
        budget: &Budget,
    ) -> Result<GateReport, FunctionError> {
        let ignored = |reason: String| {
            self.report(
                GateOutcome::Ignored,
                Trigger::StagingExecution,
                Some(reason),
            )
        };
        let window = &self.config.staging_window_id;
        let Some(execution) = gather::execution(&self.clients.ssm, window, execution_id).await?
        else {
            return Ok(ignored(format!(
                "the service lists no execution {execution_id} of the staging window {window}; the event is not acted on"
            )));
        };
        if let Some(reason) = not_a_verdict(&execution) {
            let mut report = ignored(reason);
            report.execution = Some(execution);
            return Ok(report);
        }
        self.decide_execution(execution, budget).await
    }

    /// Claim → act → notify → complete. The verdict is recorded before production is touched, so a
    /// retry (after a throttled write, a timeout) carries out the same verdict instead of judging again
    /// on facts that may have changed, and never sends a contradicting page.
    async fn decide_execution(
        &self,
        execution: Execution,
        budget: &Budget,
    ) -> Result<GateReport, FunctionError> {
        let window = self.config.staging_window_id.clone();
        let dry_run = self.config.common.dry_run;
        let mut resumed = None;
        if !dry_run {
            match self.store.recorded(&execution.id).await? {
                Some(Recorded::Done(previous)) => {
                    let mut report = self.report(
                        GateOutcome::Duplicate,
                        Trigger::StagingExecution,
                        Some(format!(
                            "execution {} was already decided; nothing is repeated",
                            execution.id
                        )),
                    );
                    report.open = previous.get("open").and_then(Value::as_bool);
                    report.execution = Some(execution);
                    return Ok(report);
                }
                Some(Recorded::Pending(pending)) => resumed = Some(*pending),
                None => {
                    if let Some(latest) = self.store.latest(&window).await?
                        && latest.start > execution.start
                    {
                        let mut report = self.report(
                            GateOutcome::Stale,
                            Trigger::StagingExecution,
                            Some(format!(
                                "execution {} started before {}, which was already decided",
                                execution.id, latest.execution_id
                            )),
                        );
                        report.execution = Some(execution);
                        return Ok(report);
                    }
                }
            }
        }
        let pending = match resumed {
            Some(pending) => {
                tracing::warn!(execution = %execution.id, "carrying out the verdict an earlier invocation recorded and did not finish");
                pending
            }
            None => {
                let facts = self.facts_within(execution.clone(), budget).await?;
                let hold = self.store.hold(&window).await?;
                let decision =
                    operator::under_hold(decide(&facts, &self.config.policy), hold.as_ref());
                let pending = Pending {
                    execution: execution.clone(),
                    decision,
                    hold,
                };
                if !dry_run
                    && !self
                        .store
                        .claim_decision(&window, &pending, Utc::now())
                        .await?
                {
                    return Err(FunctionError::Partial(format!(
                        "another invocation is deciding execution {}; a retry reads its verdict",
                        execution.id
                    )));
                }
                pending
            }
        };
        let Pending {
            execution,
            decision,
            hold,
        } = pending;
        let mut report = self.report(GateOutcome::Decided, Trigger::StagingExecution, None);
        report.execution = Some(execution.clone());
        report.hold = hold;
        self.act(&mut report, decision, true).await?;
        if !dry_run {
            let latest = Latest {
                execution_id: execution.id.clone(),
                start: execution.start,
                status: execution.status.to_string(),
                open: report.open.unwrap_or(false),
            };
            let record = serde_json::to_value(&report).unwrap_or(Value::Null);
            if !self
                .store
                .save_decision(&window, &latest, &record, Utc::now())
                .await?
            {
                tracing::warn!(execution = %execution.id, "another invocation completed this execution's decision first");
                return Ok(report);
            }
            self.notify(&report).await?;
        }
        Ok(report)
    }

    /// The scheduled re-check before production runs: the latest decided staging execution, judged
    /// again. Still clean: nothing changes. Not clean any more: production is disabled and people paged.
    async fn recheck(&self, budget: &Budget) -> Result<GateReport, FunctionError> {
        let Some(latest) = self.store.latest(&self.config.staging_window_id).await? else {
            return Ok(self.report(
                GateOutcome::Ignored,
                Trigger::ScheduledRecheck,
                Some("no staging execution has been decided yet".to_owned()),
            ));
        };
        let execution = Execution {
            id: latest.execution_id.clone(),
            status: WindowExecutionStatus::from(latest.status.as_str()),
            start: latest.start,
        };
        if let Some(hold) = self.store.hold(&self.config.staging_window_id).await? {
            let mut report = self.report(
                GateOutcome::Ignored,
                Trigger::ScheduledRecheck,
                Some(format!(
                    "production is {}; the re-check resumes after release",
                    hold.describe()
                )),
            );
            report.execution = Some(execution);
            report.open = Some(false);
            report.hold = Some(hold);
            return Ok(report);
        }
        if !latest.open {
            let mut report = self.report(
                GateOutcome::Ignored,
                Trigger::ScheduledRecheck,
                Some(format!(
                    "the gate is already closed for execution {}",
                    latest.execution_id
                )),
            );
            report.execution = Some(execution);
            report.open = Some(false);
            return Ok(report);
        }
        let decided_failed: Vec<String> = match self.store.decision(&execution.id).await? {
            Some(record) => {
                serde_json::from_value(record["failed_instances"].clone()).unwrap_or_default()
            }
            None => Vec::new(),
        };
        let facts = self.recheck_facts_within(execution.clone(), budget).await?;
        let decision = recheck(&facts, &decided_failed, &self.config.policy);
        let mut report = self.report(GateOutcome::Rechecked, Trigger::ScheduledRecheck, None);
        report.execution = Some(execution.clone());
        report.approval = self.approval_of(&execution.id).await?;
        if let Some(approval) = &report.approval
            && !decision.open
        {
            let new = approval.approved_over.new_failures(&decision);
            if new.is_empty() {
                report.open = Some(true);
                report.checks = decision.checks;
                report.failed_instances = decision.failed_instances;
                report.actions.push(format!(
                    "none: approved by {} over these failures, and nothing new failed; production stays enabled",
                    approval.by.label()
                ));
                return Ok(report);
            }
            report.reason = Some(format!(
                "new since the approval by {}: {}",
                approval.by.label(),
                new.join("; ")
            ));
        }
        if decision.open {
            report.open = Some(true);
            report.checks = decision.checks;
            report
                .actions
                .push("none: staging is still clean; production stays enabled".to_owned());
            return Ok(report);
        }
        self.act(&mut report, decision, false).await?;
        if !self.config.common.dry_run {
            let record = serde_json::to_value(&report).unwrap_or(Value::Null);
            self.store
                .save_recheck(
                    &self.config.staging_window_id,
                    &execution.id,
                    &record,
                    Utc::now(),
                )
                .await?;
            self.notify(&report).await?;
        }
        Ok(report)
    }

    /// Pins (when opening with production baselines configured) and sets the production window.
    pub(crate) async fn act(
        &self,
        report: &mut GateReport,
        decision: Decision,
        may_pin: bool,
    ) -> Result<(), FunctionError> {
        let Decision {
            mut open,
            mut checks,
            failed_instances,
        } = decision;
        let dry_run = self.config.common.dry_run;
        let would = if dry_run { "would " } else { "" };
        if open
            && may_pin
            && !self.config.production_baselines.is_empty()
            && let Err(reason) = self.pin_all(report, &failed_instances).await
        {
            open = false;
            checks.push(Check {
                name: CheckName::ProductionPinned,
                passed: false,
                detail: reason,
            });
        }
        if open
            && may_pin
            && let Some(bucket) = self.config.promotion_bucket.clone()
            && let Err(reason) = self.promote(report, &bucket).await
        {
            open = false;
            checks.push(Check {
                name: CheckName::ProductionPinned,
                passed: false,
                detail: reason,
            });
        }
        if open {
            for pinned in &report.pinned {
                let cutoffs: Vec<String> = pinned
                    .cutoffs
                    .iter()
                    .map(|c| format!("rule {} ApproveUntilDate {}", c.rule, c.approve_until_date))
                    .collect();
                report.actions.push(format!(
                    "{would}pin {} to staging's {} ({})",
                    pinned.production_baseline_id,
                    pinned.staging_baseline_id,
                    cutoffs.join(", ")
                ));
            }
        }
        let window = &self.config.production_window_id;
        if !dry_run {
            self.production.set_window(window, open).await?;
        }
        report.actions.push(format!(
            "{would}{} production window {window}",
            if open { "enable" } else { "disable" }
        ));
        if !open {
            self.stop_running_production(report).await?;
        }
        report.open = Some(open);
        report.checks = checks;
        report.failed_instances = failed_instances;
        Ok(())
    }

    /// Disabling a window does not stop an execution already under way. When the gate closes,
    /// production's unfinished executions are cancelled (CancelMaintenanceWindowExecution): tasks that
    /// have not started do not run; a task already running (a patch command on its instances) runs to
    /// its end, as the service documents. Each cancellation is in the report's actions.
    async fn stop_running_production(&self, report: &mut GateReport) -> Result<(), FunctionError> {
        let window = &self.config.production_window_id;
        let since = Utc::now() - chrono::Duration::days(2);
        let ssm = &self.clients.ssm;
        let running = gather::unfinished_executions(ssm, window, since)
            .await
            .map_err(FunctionError::retryable)?;
        for execution in running {
            if !self.config.common.dry_run {
                self.production.cancel_execution(&execution).await?;
            }
            let would = if self.config.common.dry_run {
                "would "
            } else {
                ""
            };
            report.actions.push(format!(
                "{would}cancel production execution {execution} (tasks not yet started do not run; a task already running finishes)"
            ));
        }
        Ok(())
    }

    /// Draws production's install ceiling from what staging's instances run and (unless DRY_RUN)
    /// writes it to the promotion bucket: the `InstallOverrideList` production's patch task reads,
    /// and its record beside it. An error closes the gate; so does reading no staging instance at all
    /// (the list would hold nothing and production would install nothing while the gate said open).
    async fn promote(&self, report: &mut GateReport, bucket: &str) -> Result<(), String> {
        let execution = report.execution.clone().ok_or("no execution to promote")?;
        let ssm = &self.clients.ssm;
        let (instances, members) = gather::promotion_reads(
            ssm,
            &self.config.staging_patch_group,
            &self.config.tag_keys,
            self.config.max_promotion_reads,
        )
        .await
        .map_err(|err| {
            format!("could not list staging's instances to promote what they installed: {err}")
        })?;
        let mut promotion =
            promote::promotion(&execution.id, execution.start, Utc::now(), &instances);
        if promotion.instances_read == 0 && members > 0 {
            return Err(format!(
                "could not read what any of staging's {members} instances installed ({}); production would install nothing",
                promotion
                    .instances_unread
                    .first()
                    .map_or("", String::as_str)
            ));
        }
        let window = &self.config.production_window_id;
        let url = format!("s3://{bucket}/{}", promotion_key(window));
        promotion.url = Some(url.clone());
        let dry_run = self.config.common.dry_run;
        if !dry_run {
            let record = serde_json::to_vec(&promotion).unwrap_or_default();
            for (key, body, content_type) in [
                (promotion_record_key(window), record, "application/json"),
                (
                    promotion_key(window),
                    promote::render(&promotion).into_bytes(),
                    "application/yaml",
                ),
            ] {
                let object = Object {
                    bucket: bucket.to_owned(),
                    key: key.clone(),
                    body,
                    content_type: content_type.to_owned(),
                };
                self.production
                    .put_object(object)
                    .await
                    .map_err(|err| format!("could not write s3://{bucket}/{key}: {err}"))?;
            }
        }
        let would = if dry_run { "would " } else { "" };
        report.actions.push(format!(
            "{would}promote the {} exact versions staging runs ({} installed in this run, from {} of {} instances) as production's install list {url}",
            promotion.entries.len(),
            promotion.installed_this_run,
            promotion.instances_read,
            members
        ));
        report.promoted = Some(Promoted::of(&promotion, &url));
        Ok(())
    }

    /// A finished production execution, checked against the promoted list: every install of the run
    /// on the instances its patch task ran on must be a version staging runs. Anything outside it
    /// pages (`Promotion.Exceeded`: package, version, instance), is counted in the
    /// `PromotionExceeded` metric and recorded for `patchpilot status`. Without a promotion bucket
    /// or a list there is nothing to check against.
    async fn verify_production(&self, execution_id: &str) -> Result<GateReport, FunctionError> {
        let ignored = |reason: String| {
            let mut report = self.report(
                GateOutcome::Ignored,
                Trigger::ProductionExecution,
                Some(reason),
            );
            report.execution = None;
            report
        };
        let Some(bucket) = self.config.promotion_bucket.clone() else {
            return Ok(ignored(format!(
                "production execution {execution_id}: installs are not promoted (no PROMOTION_BUCKET), nothing to check"
            )));
        };
        let ssm = &self.clients.ssm;
        let window = &self.config.production_window_id;
        let Some(execution) = gather::execution(ssm, window, execution_id)
            .await
            .map_err(FunctionError::retryable)?
        else {
            return Ok(ignored(format!(
                "execution {execution_id} is not one of production window {window}'s"
            )));
        };
        let key = promotion_record_key(window);
        let read = self
            .clients
            .s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await;
        let object = match read {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(ignored(format!(
                    "production execution {execution_id}: no list promoted yet (s3://{bucket}/{key}), nothing to check"
                )));
            }
            Err(err) => return Err(FunctionError::aws("s3:GetObject", err).retryable()),
        };
        let body = object.body.collect().await.map_err(|err| {
            FunctionError::Invariant(format!("s3://{bucket}/{key} could not be read: {err}"))
        })?;
        let promotion: promote::Promotion =
            serde_json::from_slice(&body.into_bytes()).map_err(|err| {
                FunctionError::Invariant(format!(
                    "s3://{bucket}/{key} is not a promotion record: {err}"
                ))
            })?;
        let mut instances =
            gather::patched_instances(ssm, execution_id, &self.config.patch_documents)
                .await
                .map_err(FunctionError::retryable)?;
        instances.truncate(self.config.max_promotion_reads);
        // Installs outside the baseline are reported `InstalledOther`: a listed version the pinned
        // baseline does not approve, or a package someone installed by hand. Both are read.
        let reads = gather::installed_patches(
            ssm,
            &instances,
            &[
                patchpilot_shared::live_values::PatchState::Installed,
                patchpilot_shared::live_values::PatchState::InstalledOther,
            ],
        )
        .await;
        let verified = promote::verify(
            &promotion,
            execution_id,
            execution.start,
            Utc::now(),
            &reads,
        );
        patchpilot_shared::metrics::emit_with(
            FUNCTION,
            &[(GATE_DIMENSION, window)],
            &[(EXCEEDED_METRIC, verified.exceeded.len() as f64)],
            patchpilot_shared::metrics::Resolution::Standard,
        );
        let mut report = self.report(GateOutcome::Verified, Trigger::ProductionExecution, None);
        report.execution = Some(execution);
        report.verified = Some(verified.clone());
        if !self.config.common.dry_run {
            if !verified.exceeded.is_empty() {
                self.page_exceeded(&verified).await?;
            }
            let record = serde_json::to_value(&report).unwrap_or(Value::Null);
            self.store
                .save_verification(window, &record, Utc::now())
                .await
                .map_err(FunctionError::retryable)?;
        }
        Ok(report)
    }

    /// Pages `Promotion.Exceeded`: production installed versions staging never ran.
    async fn page_exceeded(&self, verified: &promote::Verification) -> Result<(), FunctionError> {
        let window = &self.config.production_window_id;
        let count = verified.exceeded.len();
        let subject = patchpilot_shared::aws::sns::subject(&format!(
            "Promotion exceeded: {window} installed {count} version{} staging never ran",
            if count == 1 { "" } else { "s" }
        ));
        let mut text = format!(
            "Production execution {} installed {count} version(s) outside the list promoted from staging execution {}:\n",
            verified.production_execution_id, verified.staging_execution_id
        );
        for excess in verified.exceeded.iter().take(50) {
            text.push_str(&format!(
                "  {} {} on {}\n",
                excess.id, excess.title, excess.instance_id
            ));
        }
        let mut document =
            serde_json::json!({"kind": "Promotion.Exceeded", "verification": verified});
        if let Some(list) = document["verification"]["exceeded"].as_array_mut() {
            list.truncate(1_000);
        }
        self.publish(
            subject,
            patchpilot_shared::aws::sns::envelope(&text, &document.to_string()),
            &[
                ("kind", "promotion_exceeded"),
                ("severity", "High"),
                ("window_id", window.as_str()),
            ],
        )
        .await
    }

    /// Computes and (unless DRY_RUN) applies every production baseline's pin. An error closes the gate.
    async fn pin_all(
        &self,
        report: &mut GateReport,
        failed_instances: &[String],
    ) -> Result<(), String> {
        let ssm = &self.clients.ssm;
        let execution = report.execution.clone().ok_or("no execution to pin to")?;
        let instances: Vec<String> = failed_instances
            .iter()
            .filter(|id| id.starts_with("i-") || id.starts_with("mi-"))
            .take(MAX_FAILED_INSTANCES_READ)
            .cloned()
            .collect();
        let reads = gather::failed_patches(ssm, &instances)
            .await
            .map_err(|err| format!("could not read staging's failed patches: {err}"))?;
        report.failed_patches_unread = reads.unread;
        let failed_patches = reads.patches;
        for production in &self.config.production_baselines {
            let production_id = &production.id;
            let operating_system = match &production.operating_system {
                Some(os) => os.clone(),
                None => {
                    gather::baseline(ssm, production_id)
                        .await
                        .map_err(|err| {
                            format!("could not read production baseline {production_id}: {err}")
                        })?
                        .operating_system
                }
            };
            let operating_system = operating_system.as_str();
            let staging =
                gather::baseline_for_group(ssm, &self.config.staging_patch_group, operating_system)
                    .await
                    .map_err(|err| {
                        format!("could not read staging's {operating_system} baseline: {err}")
                    })?;
            match pin(&staging, production_id, execution.start, &failed_patches) {
                Ok(mut pinned) => {
                    if let Some(latest) = pinned
                        .rules
                        .iter()
                        .filter_map(|r| r.approve_until_date.as_deref())
                        .filter_map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .max()
                    {
                        pinned.held_back = Some(
                            gather::held_back(ssm, &staging.id, execution.start, latest).await,
                        );
                    }
                    if !self.config.common.dry_run {
                        self.production
                            .pin_baseline(&pinned)
                            .await
                            .map_err(|err| format!("could not pin {production_id}: {err}"))?;
                    }
                    report.pinned.push(pinned);
                }
                Err(not_pinned) => report.not_pinned.push(not_pinned),
            }
        }
        Ok(())
    }

    pub(crate) async fn notify(&self, report: &GateReport) -> Result<(), FunctionError> {
        let message = notify::message(report, &self.config.staging_patch_group);
        let attributes: Vec<(&str, &str)> = message
            .attributes
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        self.publish(message.subject, message.envelope, &attributes)
            .await
    }

    /// Publishes a `MessageStructure=json` message with string attributes to the alert topic; a
    /// failure is retryable.
    async fn publish(
        &self,
        subject: String,
        envelope: String,
        attributes: &[(&str, &str)],
    ) -> Result<(), FunctionError> {
        let page = Page {
            subject,
            envelope,
            attributes: attributes
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        };
        self.production.page(&self.config.topic_arn, &page).await
    }
}
