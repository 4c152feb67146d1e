//! Judging: staging's facts read within the budget, then decided (decide.rs) for a finished staging
//! execution or for the re-check before production.

use chrono::Utc;
use patchpilot_shared::FunctionError;
use patchpilot_shared::budget::Budget;
use patchpilot_shared::events::WindowExecutionStatus;
use serde_json::Value;

use crate::decide::{Execution, Facts, RecheckFacts, decide, recheck};
use crate::gather;
use crate::handler::{Gate, not_a_verdict};
use crate::operator;
use crate::production::Production;
use crate::report::{GateOutcome, GateReport, Trigger};
use crate::store::{Latest, Pending, Recorded};

impl<P: Production> Gate<P> {
    /// Staging's facts, read before the budget's stop time or not at all.
    pub(crate) async fn facts_within(
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
    pub(crate) async fn recheck_facts_within(
        &self,
        execution: Execution,
        budget: &Budget,
    ) -> Result<RecheckFacts, FunctionError> {
        let id = execution.id.clone();
        let read = async {
            let (members, alarms) = tokio::join!(
                gather::members(
                    self.clients.staging_ssm(),
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

    pub(crate) async fn alarms(&self) -> Option<Result<Vec<String>, String>> {
        let prefix = self.config.health_alarm_prefix.as_ref()?;
        Some(
            gather::alarms_firing(self.clients.staging_cloudwatch(), prefix)
                .await
                .map_err(|e| e.to_string()),
        )
    }

    pub(crate) async fn facts(&self, execution: Execution) -> Facts {
        let ssm = self.clients.staging_ssm();
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
    pub(crate) async fn decide_event(
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
        let Some(execution) =
            gather::execution(self.clients.staging_ssm(), window, execution_id).await?
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
    pub(crate) async fn decide_execution(
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
    pub(crate) async fn recheck(&self, budget: &Budget) -> Result<GateReport, FunctionError> {
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
}
