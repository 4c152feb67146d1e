//! Acting on a verdict: pin every production baseline, promote what staging runs, set the window,
//! stop what runs when closing, and page — each change through `Production`.

use chrono::Utc;
use patchpilot_shared::FunctionError;

use crate::config::{promotion_key, promotion_record_key};
use crate::decide::{Check, CheckName, Decision};
use crate::gather;
use crate::handler::Gate;
use crate::notify;
use crate::pin::pin;
use crate::production::{Message, Object, Production};
use crate::promote;
use crate::report::{GateReport, Promoted};

/// Failed instances whose failed patches are read for production's rejected list.
const MAX_FAILED_INSTANCES_READ: usize = 100;

impl<P: Production> Gate<P> {
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
    pub(crate) async fn stop_running_production(
        &self,
        report: &mut GateReport,
    ) -> Result<(), FunctionError> {
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
    pub(crate) async fn promote(
        &self,
        report: &mut GateReport,
        bucket: &str,
    ) -> Result<(), String> {
        let execution = report.execution.clone().ok_or("no execution to promote")?;
        // What staging's instances run, read in staging's account.
        let ssm = self.clients.staging_ssm();
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

    /// Computes and (unless DRY_RUN) applies every production baseline's pin. An error closes the gate.
    pub(crate) async fn pin_all(
        &self,
        report: &mut GateReport,
        failed_instances: &[String],
    ) -> Result<(), String> {
        // Staging's failed patches and baseline are read in staging's account; production's
        // baselines in this one.
        let ssm = self.clients.staging_ssm();
        let production_ssm = &self.clients.ssm;
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
                    gather::baseline(production_ssm, production_id)
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
        self.production.page(&self.config.topic_arn, &message).await
    }

    /// Publishes a `MessageStructure=json` message with string attributes to the alert topic; a
    /// failure is retryable.
    pub(crate) async fn publish(
        &self,
        subject: String,
        envelope: String,
        attributes: &[(&str, &str)],
    ) -> Result<(), FunctionError> {
        let message = Message {
            subject,
            envelope,
            attributes: attributes
                .iter()
                .map(|(name, value)| ((*name).to_owned(), "String".to_owned(), (*value).to_owned()))
                .collect(),
        };
        self.production.page(&self.config.topic_arn, &message).await
    }
}
