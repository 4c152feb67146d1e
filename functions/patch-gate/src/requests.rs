//! Carrying out operator requests: checks first (a refused request changes nothing), then production,
//! then the records and the message.

use chrono::Utc;
use patchpilot_shared::FunctionError;
use serde::Deserialize;
use serde_json::Value;

use crate::decide::{Check, Decision, Execution};
use crate::handler::Gate;
use crate::operator::{Approval, ApprovedOver, Hold, Operator, OperatorRequest, Request};
use crate::production::Production;
use crate::report::{GateOutcome, GateReport, Trigger};

/// The parts of a recorded decision an approval reads back.
#[derive(Deserialize)]
struct Recorded {
    #[serde(default)]
    checks: Vec<Check>,
    #[serde(default)]
    failed_instances: Vec<String>,
    #[serde(default)]
    approval: Option<Approval>,
}

impl<P: Production> Gate<P> {
    /// Carries out an operator request.
    pub(crate) async fn operate(
        &self,
        request: OperatorRequest,
    ) -> Result<GateReport, FunctionError> {
        let OperatorRequest { request, operator } = request;
        match request {
            Request::Approve {
                execution_id,
                reason,
            } => self.approve(&execution_id, reason, operator).await,
            Request::Hold { reason } => self.hold(reason, operator).await,
            Request::Release { reason } => self.release(reason, operator).await,
        }
    }

    /// The approval recorded on `execution_id`'s decision, if any.
    pub(crate) async fn approval_of(
        &self,
        execution_id: &str,
    ) -> Result<Option<Approval>, FunctionError> {
        Ok(self
            .recorded(execution_id)
            .await?
            .and_then(|recorded| recorded.approval))
    }

    async fn recorded(&self, execution_id: &str) -> Result<Option<Recorded>, FunctionError> {
        self.store
            .decision(execution_id)
            .await?
            .map(|record| {
                serde_json::from_value(record).map_err(|err| {
                    FunctionError::Invariant(format!(
                        "the decision recorded for {execution_id} does not parse: {err}"
                    ))
                })
            })
            .transpose()
    }

    fn window(&self) -> &str {
        &self.config.staging_window_id
    }

    /// Opens production over the failures of the latest decision, pinned exactly as an automatic
    /// open pins it.
    async fn approve(
        &self,
        execution_id: &str,
        reason: String,
        operator: Operator,
    ) -> Result<GateReport, FunctionError> {
        let refuse = |why: String| Err(FunctionError::Refused(why));
        if let Some(hold) = self.store.hold(self.window()).await? {
            return refuse(format!(
                "production is {}; release the hold before approving",
                hold.describe()
            ));
        }
        let Some(latest) = self.store.latest(self.window()).await? else {
            return refuse(format!(
                "no staging execution of {} has been decided yet",
                self.window()
            ));
        };
        let Some(recorded) = self.recorded(execution_id).await? else {
            return refuse(format!(
                "no decision is recorded for staging execution {execution_id} (the latest decided is {})",
                latest.execution_id
            ));
        };
        if latest.execution_id != execution_id {
            return refuse(format!(
                "staging execution {execution_id} is not the latest decided ({} is); only the latest can be approved",
                latest.execution_id
            ));
        }
        if latest.open {
            return refuse(format!(
                "the decision for staging execution {execution_id} is already open"
            ));
        }
        let closed = Decision {
            open: false,
            checks: recorded.checks,
            failed_instances: recorded.failed_instances,
        };
        let approval = Approval {
            by: operator,
            reason,
            at: Utc::now(),
            approved_over: ApprovedOver::of(&closed),
        };
        let mut report = self.report(GateOutcome::Approved, Trigger::Operator, None);
        report.execution = Some(Execution {
            id: latest.execution_id.clone(),
            status: latest.status.as_str().into(),
            start: latest.start,
        });
        report.approval = Some(approval);
        // Approved over its failures: open, pinned as an automatic open would be.
        self.act(
            &mut report,
            Decision {
                open: true,
                ..closed
            },
            true,
        )
        .await?;
        if report.open != Some(true) {
            let failed: Vec<String> = report
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            return Err(FunctionError::Invariant(format!(
                "the approval could not be carried out, production stays disabled: {}",
                failed.last().cloned().unwrap_or_default()
            )));
        }
        if !self.config.common.dry_run {
            let record = serde_json::to_value(&report).unwrap_or(Value::Null);
            if !self
                .store
                .save_approval(self.window(), execution_id, &record)
                .await?
            {
                tracing::warn!(
                    execution = execution_id,
                    "another approval was recorded first; production is open either way"
                );
            }
            self.record(&report).await?;
        }
        Ok(report)
    }

    /// Puts production on hold: the window is disabled and stays so until released.
    async fn hold(&self, reason: String, operator: Operator) -> Result<GateReport, FunctionError> {
        if let Some(hold) = self.store.hold(self.window()).await? {
            return Err(FunctionError::Refused(format!(
                "production is already {}",
                hold.describe()
            )));
        }
        let hold = Hold {
            by: operator,
            reason,
            since: Utc::now(),
        };
        if !self.config.common.dry_run && !self.store.put_hold(self.window(), &hold).await? {
            return Err(FunctionError::Refused(
                "another operator placed a hold at the same moment; see `patchpilot status`"
                    .to_owned(),
            ));
        }
        let mut report = self.report(GateOutcome::Held, Trigger::Operator, None);
        report.hold = Some(hold);
        self.set_production(&mut report, false).await?;
        if !self.config.common.dry_run {
            self.record(&report).await?;
        }
        Ok(report)
    }

    /// Ends the hold; production returns to what the latest decision says.
    async fn release(
        &self,
        reason: Option<String>,
        operator: Operator,
    ) -> Result<GateReport, FunctionError> {
        let Some(hold) = self.store.hold(self.window()).await? else {
            return Err(FunctionError::Refused("production is not held".to_owned()));
        };
        if !self.config.common.dry_run && !self.store.delete_hold(self.window()).await? {
            return Err(FunctionError::Refused(
                "the hold was released by someone else meanwhile".to_owned(),
            ));
        }
        let latest = self.store.latest(self.window()).await?;
        let open = latest.as_ref().is_some_and(|latest| latest.open);
        let mut report = self.report(
            GateOutcome::Released,
            Trigger::Operator,
            Some(format!(
                "released by {}{}; production follows the latest decision ({})",
                operator.label(),
                reason.map(|r| format!(": {r}")).unwrap_or_default(),
                match &latest {
                    Some(latest) if latest.open => format!("{}: open", latest.execution_id),
                    Some(latest) => format!("{}: closed", latest.execution_id),
                    None => "none yet: closed".to_owned(),
                }
            )),
        );
        report.execution = latest.map(|latest| Execution {
            id: latest.execution_id,
            status: latest.status.as_str().into(),
            start: latest.start,
        });
        report.hold = Some(hold);
        self.set_production(&mut report, open).await?;
        if !self.config.common.dry_run {
            self.record(&report).await?;
        }
        Ok(report)
    }

    /// Enables or disables the production window (nothing pinned: a hold and its release change
    /// only whether production runs).
    async fn set_production(
        &self,
        report: &mut GateReport,
        open: bool,
    ) -> Result<(), FunctionError> {
        self.act(
            report,
            Decision {
                open,
                checks: Vec::new(),
                failed_instances: Vec::new(),
            },
            false,
        )
        .await
    }

    /// The audit record and the message of a request carried out.
    async fn record(&self, report: &GateReport) -> Result<(), FunctionError> {
        let record = serde_json::to_value(report).unwrap_or(Value::Null);
        self.store
            .save_operator_action(self.window(), &record, Utc::now())
            .await?;
        self.notify(report).await
    }
}
