//! compliance-snapshot: fleet patch compliance as CloudWatch metrics per patch group and for the
//! whole fleet, so ordinary alarms page on a drop and a dashboard shows it.

pub mod aggregate;
pub mod config;
pub mod coverage;
pub mod gather;
pub mod handler;
pub mod publish;
pub mod summaries;

pub use handler::{GroupingSource, InventoryGrouping, Snapshot, SnapshotOutcome, Summary};
/// The trait the handler implements (`handle`, `handle_within`), re-exported for callers.
pub use patchpilot_shared::runtime::Handler;

/// The output contract: the spellings scripts read from the snapshot's output.
#[cfg(test)]
mod output_contract {
    use super::SnapshotOutcome::*;
    use serde_json::json;

    #[test]
    fn outcome_spellings_do_not_change() {
        assert_eq!(
            [Published, DryRun, Ignored].map(|o| json!(o)),
            ["published", "dry_run", "ignored"].map(|s| json!(s))
        );
    }
}
