//! patch-group-tagger: puts every instance in the right patch group by ordered rules, on launch and by
//! a scheduled backfill. See docs/functions.md.

pub mod config;
pub mod decide;
pub mod facts;
pub mod handler;
pub mod rules;

pub use handler::{Clients, Output, Tagger};
/// The trait the handler implements (`handle`, `handle_within`), re-exported for callers.
pub use patchpilot_shared::runtime::Handler;
