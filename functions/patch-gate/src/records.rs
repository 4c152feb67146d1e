//! The gate's items in the state table, one key and one mapping per kind, written by the gate
//! (store.rs) and read by `patchpilot` (cli/src/records.rs) through these same functions, so the
//! two cannot spell an attribute differently. What each kind holds is listed in store.rs.

use chrono::{DateTime, Utc};
use patchpilot_shared::aws::dynamodb::{Item, n, s, string_attribute};
use serde_json::Value;

/// The `pk` of each kind.
pub mod key {
    use chrono::{DateTime, Utc};

    /// A staging execution's decision (claimed, then completed).
    pub fn decision(execution_id: &str) -> String {
        format!("gate#{execution_id}")
    }

    /// The newest decided staging execution of a staging window, and what last set its `open`.
    pub fn latest(staging_window_id: &str) -> String {
        format!("gate-latest#{staging_window_id}")
    }

    /// A re-check that closed the gate.
    pub fn recheck(execution_id: &str, at: DateTime<Utc>) -> String {
        format!("gate-recheck#{execution_id}#{}", at.to_rfc3339())
    }

    /// An operator's hold on a staging window's production.
    pub fn hold(staging_window_id: &str) -> String {
        format!("gate-hold#{staging_window_id}")
    }

    /// An operator request carried out.
    pub fn operator(staging_window_id: &str, at: DateTime<Utc>) -> String {
        format!("gate-operator#{staging_window_id}#{}", at.to_rfc3339())
    }

    /// The latest check of a production run against the promoted list.
    pub fn verified(production_window_id: &str) -> String {
        format!("gate-verified#{production_window_id}")
    }

    /// When the gate last engaged the brake on a production window.
    pub fn brake(production_window_id: &str) -> String {
        format!("gate-brake#{production_window_id}")
    }
}

/// The `kind` attribute of each kind.
pub mod kind {
    /// `gate#…`.
    pub const DECISION: &str = "gate_decision";
    /// `gate-recheck#…`.
    pub const RECHECK: &str = "gate_recheck";
    /// `gate-hold#…`.
    pub const HOLD: &str = "gate_hold";
    /// `gate-operator#…`.
    pub const OPERATOR: &str = "gate_operator";
    /// `gate-verified#…`.
    pub const VERIFICATION: &str = "gate_verification";
    /// `gate-brake#…`.
    pub const BRAKE: &str = "gate_brake";
}

/// The newest decided staging execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// The staging execution.
    pub execution_id: String,
    /// When it started.
    pub start: DateTime<Utc>,
    /// How it ended.
    pub status: String,
    /// Whether the gate opened for it.
    pub open: bool,
}

/// What last set the latest pointer's `open`, as recorded: `cause` (`decision`, `recheck` or
/// `approval`), `cause_at`, and `cause_record`, the key of the record that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseOnRecord {
    /// `decision`, `recheck` or `approval` (read as written, so a newer gate's kind still shows).
    pub kind: String,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// The key of the record that says why.
    pub record_key: Option<String>,
}

/// The `gate-latest#…` item: the latest decided execution and what last set its `open` (absent on
/// pointers written before the gate recorded it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    /// The execution and whether production is open on it.
    pub latest: Latest,
    /// What last set `open`.
    pub cause: Option<CauseOnRecord>,
}

impl Pointer {
    /// The pointer in `item`; `None` when it names no execution or no start.
    pub fn from_item(item: &Item) -> Option<Self> {
        let start = item
            .get("execution_start")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| DateTime::from_timestamp(secs, 0))?;
        let latest = Latest {
            execution_id: string_attribute(item, "execution_id")?,
            start,
            status: string_attribute(item, "execution_status").unwrap_or_default(),
            open: item
                .get("open")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        };
        let cause = string_attribute(item, "cause").map(|kind| CauseOnRecord {
            kind,
            at: time_attribute(item, "cause_at"),
            record_key: string_attribute(item, "cause_record"),
        });
        Some(Self { latest, cause })
    }

    /// The item for `staging_window_id`, without `expires_at`: the pointer lives as long as the
    /// window.
    pub fn to_item(&self, staging_window_id: &str) -> Item {
        let latest = &self.latest;
        let mut item = Item::from([
            ("pk".to_owned(), s(key::latest(staging_window_id))),
            ("execution_id".to_owned(), s(&latest.execution_id)),
            ("execution_start".to_owned(), n(latest.start.timestamp())),
            ("execution_status".to_owned(), s(&latest.status)),
            (
                "open".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::Bool(latest.open),
            ),
        ]);
        if let Some(cause) = &self.cause {
            item.insert("cause".to_owned(), s(&cause.kind));
            if let Some(at) = cause.at {
                item.insert("cause_at".to_owned(), s(at.to_rfc3339()));
            }
            if let Some(key) = &cause.record_key {
                item.insert("cause_record".to_owned(), s(key));
            }
        }
        item
    }
}

/// The JSON `record` of an item (a decision's or re-check's report, a hold, a verification), if it
/// has one that parses.
pub fn record_of(item: &Item) -> Option<Value> {
    string_attribute(item, "record").and_then(|text| serde_json::from_str(&text).ok())
}

/// An RFC 3339 time attribute.
pub fn time_attribute(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    string_attribute(item, name)
        .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(cause: Option<CauseOnRecord>) -> Pointer {
        Pointer {
            latest: Latest {
                execution_id: "e-1".to_owned(),
                start: DateTime::from_timestamp(1_795_658_403, 0).unwrap_or_default(),
                status: "SUCCESS".to_owned(),
                open: true,
            },
            cause,
        }
    }

    #[test]
    fn a_pointer_reads_back_as_written() {
        for cause in [
            None,
            Some(CauseOnRecord {
                kind: "recheck".to_owned(),
                at: DateTime::from_timestamp(1_795_700_000, 0),
                record_key: Some(key::recheck(
                    "e-1",
                    DateTime::from_timestamp(1_795_700_000, 0).unwrap_or_default(),
                )),
            }),
        ] {
            let written = pointer(cause);
            let item = written.to_item("mw-s");
            assert_eq!(item["pk"], s("gate-latest#mw-s"));
            assert_eq!(Pointer::from_item(&item), Some(written));
        }
    }

    #[test]
    fn a_pointer_without_an_execution_or_a_start_is_none() {
        let item = pointer(None).to_item("mw-s");
        for missing in ["execution_id", "execution_start"] {
            let mut item = item.clone();
            item.remove(missing);
            assert_eq!(Pointer::from_item(&item), None, "without {missing}");
        }
    }

    #[test]
    fn keys_are_spelled_as_stored() {
        let at = DateTime::from_timestamp(1_795_700_000, 0).unwrap_or_default();
        assert_eq!(key::decision("e-1"), "gate#e-1");
        assert_eq!(
            key::recheck("e-1", at),
            "gate-recheck#e-1#2026-11-26T13:33:20+00:00"
        );
        assert_eq!(key::hold("mw-s"), "gate-hold#mw-s");
        assert_eq!(
            key::operator("mw-s", at),
            "gate-operator#mw-s#2026-11-26T13:33:20+00:00"
        );
        assert_eq!(key::verified("mw-p"), "gate-verified#mw-p");
        assert_eq!(key::brake("mw-p"), "gate-brake#mw-p");
    }
}
