//! The gate's records in the state table, read through the gate's own keys and mapping
//! (`patch-gate/src/records.rs`).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use patch_gate::operator::Hold;
use patch_gate::records::{Pointer, key, record_of};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::CliError;

/// The latest decided staging execution and its decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// The staging execution.
    pub execution_id: String,
    /// When it started.
    pub start: Option<DateTime<Utc>>,
    /// Whether production is open on it.
    pub open: bool,
    /// The decision record (the gate's report as JSON; after an approval, the approval's report).
    pub record: Option<Value>,
    /// What last set `open` (`decision`, `recheck`, `approval`; `None` for pointers written before
    /// the gate recorded it), when, and — for a re-check — its report.
    pub cause: Option<Cause>,
}

/// What last set the gate's state, as the latest pointer names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `decision`, `recheck` or `approval`.
    pub kind: String,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// The re-check's report (for a re-check; the decision's and the approval's are `record`).
    pub recheck: Option<Value>,
}

async fn item(
    clients: &Clients,
    table: &str,
    key: &str,
) -> Result<Option<std::collections::HashMap<String, AttributeValue>>, CliError> {
    Ok(clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|err| CliError::sdk("dynamodb:GetItem", err))?
        .item)
}

/// The latest decision for `staging_window`, if one was made.
pub async fn latest(
    clients: &Clients,
    table: &str,
    staging_window: &str,
) -> Result<Option<Latest>, CliError> {
    let Some(pointer) = item(clients, table, &key::latest(staging_window))
        .await?
        .as_ref()
        .and_then(Pointer::from_item)
    else {
        return Ok(None);
    };
    let execution_id = pointer.latest.execution_id;
    let decision_key = key::decision(&execution_id);
    let record = item(clients, table, &decision_key)
        .await?
        .as_ref()
        .and_then(record_of);
    let cause = match pointer.cause {
        None => None,
        Some(cause) => {
            let recheck = match &cause.record_key {
                Some(key) if cause.kind == "recheck" && *key != decision_key => {
                    item(clients, table, key)
                        .await?
                        .as_ref()
                        .and_then(record_of)
                }
                _ => None,
            };
            Some(Cause {
                kind: cause.kind,
                at: cause.at,
                recheck,
            })
        }
    };
    Ok(Some(Latest {
        execution_id,
        start: Some(pointer.latest.start),
        open: pointer.latest.open,
        record,
        cause,
    }))
}

/// The hold on `staging_window`'s production, if any.
pub async fn hold(
    clients: &Clients,
    table: &str,
    staging_window: &str,
) -> Result<Option<Hold>, CliError> {
    Ok(item(clients, table, &key::hold(staging_window))
        .await?
        .as_ref()
        .and_then(record_of)
        .and_then(|record| serde_json::from_value(record).ok()))
}

/// The gate's latest check of a production run against the promoted list, if one was made.
pub async fn verification(
    clients: &Clients,
    table: &str,
    production_window: &str,
) -> Result<Option<patch_gate::promote::Verification>, CliError> {
    Ok(item(clients, table, &key::verified(production_window))
        .await?
        .as_ref()
        .and_then(record_of)
        .and_then(|record| serde_json::from_value(record["verified"].clone()).ok()))
}
