//! compliance-snapshot: fleet patch compliance as CloudWatch metrics per patch group and for the
//! whole fleet, so ordinary alarms page on a drop and a dashboard shows it.

pub mod aggregate;
pub mod config;
pub mod gather;
pub mod handler;
pub mod publish;

pub use handler::{Snapshot, Summary};
/// The trait the handler implements (`handle`, `handle_within`), re-exported for callers.
pub use patchpilot_shared::runtime::Handler;
