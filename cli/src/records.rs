//! The gate's records in the state table, read as the gate writes them (`patch-gate/src/store.rs`).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use patch_gate::operator::Hold;
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

fn record_of(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Value> {
    item.get("record")
        .and_then(|r| r.as_s().ok())
        .and_then(|text| serde_json::from_str(text).ok())
}

/// The latest decision for `staging_window`, if one was made.
pub async fn latest(
    clients: &Clients,
    table: &str,
    staging_window: &str,
) -> Result<Option<Latest>, CliError> {
    let Some(pointer) = item(clients, table, &format!("gate-latest#{staging_window}")).await?
    else {
        return Ok(None);
    };
    let Some(execution_id) = pointer
        .get("execution_id")
        .and_then(|v| v.as_s().ok())
        .cloned()
    else {
        return Ok(None);
    };
    let start = pointer
        .get("execution_start")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
    let open = pointer
        .get("open")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false);
    let record = item(clients, table, &format!("gate#{execution_id}"))
        .await?
        .as_ref()
        .and_then(record_of);
    Ok(Some(Latest {
        execution_id,
        start,
        open,
        record,
    }))
}

/// The hold on `staging_window`'s production, if any.
pub async fn hold(
    clients: &Clients,
    table: &str,
    staging_window: &str,
) -> Result<Option<Hold>, CliError> {
    Ok(item(clients, table, &format!("gate-hold#{staging_window}"))
        .await?
        .as_ref()
        .and_then(record_of)
        .and_then(|record| serde_json::from_value(record).ok()))
}
