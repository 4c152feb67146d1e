//! What a gate invocation did, as its return value, its log line, its message and its record say:
//! the types the handler fills and the notifier and the operator requests read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decide::{Check, Execution};
use crate::operator::{Approval, Hold};
use crate::pin::{NotPinned, Pinned};

/// What one gate invocation did (`outcome` in its output and log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// Judged a finished staging execution and acted on production.
    Decided,
    /// Re-judged the latest decision on the schedule.
    Rechecked,
    /// The execution was already decided (a redelivered event): nothing changed.
    Duplicate,
    /// A newer staging execution was already decided: nothing changed.
    Stale,
    /// Not the gate's event (another window, not finished, nothing to re-check).
    Ignored,
    /// An operator opened production over a closed decision's failures.
    Approved,
    /// An operator put production on hold.
    Held,
    /// An operator released the hold.
    Released,
    /// Checked a finished production execution's installs against the promoted list.
    Verified,
}

/// What started a gate invocation (`trigger` in its output and message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The staging window's execution changed state.
    StagingExecution,
    /// The re-check schedule.
    ScheduledRecheck,
    /// An operator's request (`patchpilot gate ...`).
    Operator,
    /// The production window's execution ended.
    ProductionExecution,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::StagingExecution => "staging_execution",
            Self::ScheduledRecheck => "scheduled_recheck",
            Self::Operator => "operator",
            Self::ProductionExecution => "production_execution",
        })
    }
}

/// What an invocation did: the return value, the log line, and (for decisions) the audit record.
/// Read back (`patchpilot status`) as the gate wrote it; members added since a record was written
/// read as empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// What the invocation did.
    pub outcome: GateOutcome,
    /// Why nothing was decided (ignored, duplicate, stale).
    pub reason: Option<String>,
    /// What started it.
    pub trigger: Trigger,
    /// The staging window.
    pub staging_window_id: String,
    /// The production window.
    pub production_window_id: String,
    /// The staging execution judged.
    pub execution: Option<Execution>,
    /// Whether production may patch; `None` when nothing was decided.
    pub open: Option<bool>,
    /// Every check's result.
    pub checks: Vec<Check>,
    /// Instances that failed in staging.
    #[serde(default)]
    pub failed_instances: Vec<String>,
    /// What was done (under DRY_RUN: what would have been done).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Production baselines pinned to what staging tested.
    #[serde(default)]
    pub pinned: Vec<Pinned>,
    /// Production baselines that could not be pinned, with why.
    #[serde(default)]
    pub not_pinned: Vec<NotPinned>,
    /// Under `DRY_RUN`: nothing was changed.
    #[serde(default)]
    pub dry_run: bool,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// The operator's approval this decision stands on (approve, and re-checks of approved decisions).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approval: Option<Approval>,
    /// The operator's hold that kept (or, on release, had kept) production closed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hold: Option<Hold>,
    /// Failed instances whose failed patches could not be read when pinning (Systems Manager no
    /// longer answers for them, e.g. terminated mid-run), each with why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub failed_patches_unread: Vec<String>,
    /// Production's install ceiling written after a clean staging run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub promoted: Option<Promoted>,
    /// A production run checked against the promoted list.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verified: Option<crate::promote::Verification>,
}

/// What the gate promoted, as the report and the page tell it (the entries themselves are in the
/// bucket: a fleet's list can outgrow a page and a record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promoted {
    /// `s3://bucket/key` of the `InstallOverrideList`.
    pub url: String,
    /// Entries (exact versions) in it.
    pub entries: usize,
    /// Of them, installed by staging during this run.
    pub installed_this_run: usize,
    /// Staging instances read.
    pub instances_read: usize,
    /// Staging instances not read.
    pub instances_unread: usize,
    /// The first few unread or refused, with why.
    pub examples: Vec<String>,
}

impl Promoted {
    /// The summary of `promotion`, written at `url`.
    pub fn of(promotion: &crate::promote::Promotion, url: &str) -> Self {
        Self {
            url: url.to_owned(),
            entries: promotion.entries.len(),
            installed_this_run: promotion.installed_this_run,
            instances_read: promotion.instances_read,
            instances_unread: promotion.instances_unread.len(),
            examples: promotion
                .instances_unread
                .iter()
                .chain(&promotion.refused)
                .take(10)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::CheckName;
    use serde_json::json;

    #[test]
    fn a_report_reads_back_as_written_and_an_older_record_reads_with_its_missing_members_empty() {
        let report = GateReport {
            outcome: GateOutcome::Decided,
            reason: None,
            trigger: Trigger::StagingExecution,
            staging_window_id: "mw-0c50858d01ff4a3b1".into(),
            production_window_id: "mw-0d61969e12ee5b4c2".into(),
            execution: None,
            open: Some(false),
            checks: vec![Check {
                name: CheckName::NoFailedPatches,
                passed: false,
                detail: "2 instances failed".into(),
            }],
            failed_instances: vec!["i-0a1b2c3d4e5f60718".into()],
            actions: vec!["disable production window mw-0d61969e12ee5b4c2".into()],
            pinned: vec![],
            not_pinned: vec![],
            dry_run: false,
            decided_at: Utc::now(),
            approval: None,
            hold: None,
            failed_patches_unread: vec!["i-0gone000000000001: InvalidInstanceId: gone".into()],
            promoted: None,
            verified: None,
        };
        let written = serde_json::to_value(&report).unwrap();
        let read: GateReport = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(read, report);

        // A record from before `not_pinned`, `failed_patches_unread` and `dry_run` existed.
        let mut older = written;
        for member in ["not_pinned", "failed_patches_unread", "dry_run"] {
            older.as_object_mut().unwrap().remove(member);
        }
        let read: GateReport = serde_json::from_value(older).unwrap();
        assert!(read.not_pinned.is_empty() && read.failed_patches_unread.is_empty());
        assert_eq!(read.checks, report.checks);
        assert!(serde_json::from_value::<GateReport>(json!({"outcome": "decided"})).is_err());
    }
}
