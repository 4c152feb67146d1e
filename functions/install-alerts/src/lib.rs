//! install-alerts: pages through SNS when a patch install fails, saying which patches failed on which
//! instance; storms become one summary, duplicates are sent once, and a read that fails degrades the
//! alert instead of dropping it.

pub mod config;
pub mod enrich;
pub mod handler;
pub mod plan;
pub mod render;
pub mod store;

pub use enrich::Clients;
pub use handler::{Alerts, Outcome};
/// The trait the handler implements (`handle`, `handle_within`), re-exported for callers.
pub use patchpilot_shared::runtime::Handler;
