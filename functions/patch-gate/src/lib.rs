//! patch-gate: production patches only after staging has proved them. When the staging window's
//! execution ends, the gate judges staging's real results, enables or disables the production window,
//! pins production's baselines to exactly what staging tested, pages with its reasons, and records the
//! decision for audit.

mod act;
pub mod brake;
pub mod config;
pub mod decide;
pub mod gather;
pub mod handler;
mod judge;
pub mod notify;
pub mod operator;
pub mod pin;
pub mod production;
pub mod promote;
pub mod records;
pub mod report;
mod requests;
pub mod store;
mod verify;

pub use handler::{Clients, Gate};
/// The trait the handler implements (`handle`, `handle_within`), re-exported for callers.
pub use patchpilot_shared::runtime::Handler;
pub use report::{GateOutcome, GateReport, Trigger};

/// The output contract: the spellings scripts and alarms read from the gate's output and records.
#[cfg(test)]
mod output_contract {
    use super::decide::CheckName;
    use super::{GateOutcome, Trigger};
    use serde_json::json;

    #[test]
    fn outcome_trigger_and_check_spellings_do_not_change() {
        use GateOutcome::*;
        let outcomes = [Decided, Rechecked, Duplicate, Stale, Ignored, Verified].map(|o| json!(o));
        assert_eq!(
            outcomes,
            [
                "decided",
                "rechecked",
                "duplicate",
                "stale",
                "ignored",
                "verified"
            ]
            .map(|s| json!(s))
        );
        let triggers = [
            Trigger::StagingExecution,
            Trigger::ScheduledRecheck,
            Trigger::ProductionExecution,
        ];
        assert_eq!(
            triggers.map(|t| json!(t)),
            [
                "staging_execution",
                "scheduled_recheck",
                "production_execution"
            ]
            .map(|s| json!(s))
        );
        assert_eq!(
            triggers.map(|t| t.to_string()),
            triggers.map(|t| json!(t).as_str().unwrap().to_owned())
        );
        use CheckName::*;
        let checks = [
            ExecutionSucceeded,
            PatchTasksSucceeded,
            VerificationSucceeded,
            InstancesReported,
            NoFailedPatches,
            NoPendingReboot,
            HealthAlarmsOk,
            ProductionPinned,
            OperatorHold,
            NoNewInstallFailures,
        ];
        let spelled = [
            "execution_succeeded",
            "patch_tasks_succeeded",
            "verification_succeeded",
            "instances_reported",
            "no_failed_patches",
            "no_pending_reboot",
            "health_alarms_ok",
            "production_pinned",
            "operator_hold",
            "no_new_install_failures",
        ];
        assert_eq!(checks.map(|c| json!(c)), spelled.map(|s| json!(s)));
        assert_eq!(checks.map(CheckName::as_str), spelled);
    }
}
