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

/// The output contract: the spellings subscribers' filter policies and scripts read.
#[cfg(test)]
mod output_contract {
    use super::Outcome;
    use super::render::AlertKind::{self, *};
    use serde_json::json;

    #[test]
    fn kind_and_outcome_spellings_do_not_change() {
        let kinds = [InstanceFailure, CommandSummary, WindowSummary];
        let spelled = ["instance_failure", "command_summary", "window_summary"];
        assert_eq!(kinds.map(|k| json!(k)), spelled.map(|s| json!(s)));
        assert_eq!(kinds.map(AlertKind::as_str), spelled);
        let sent = Outcome::WouldSend {
            kind: WindowSummary,
            key: "k".into(),
            subject: "s".into(),
        };
        assert_eq!(
            json!(sent),
            json!({"outcome": "would_send", "kind": "window_summary", "key": "k", "subject": "s"})
        );
        let ignored = Outcome::Ignored { reason: "r".into() };
        assert_eq!(json!(ignored), json!({"outcome": "ignored", "reason": "r"}));
    }
}
