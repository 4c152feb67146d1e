//! patch-gate: production patches only after staging has proved them. When the staging window's
//! execution ends, the gate judges staging's real results, enables or disables the production window,
//! pins production's baselines to exactly what staging tested, pages with its reasons, and records the
//! decision for audit.

pub mod config;
pub mod decide;
pub mod gather;
pub mod handler;
pub mod notify;
pub mod pin;
pub mod store;

pub use handler::{Clients, Gate, GateReport};
/// The trait the handler implements (`handle`, `handle_within`), re-exported for callers.
pub use patchpilot_shared::runtime::Handler;
