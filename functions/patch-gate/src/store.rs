//! Decision records in the state table (shared with install-alerts; key `pk`, TTL `expires_at`):
//! - `gate#<staging execution id>`: the decision, written once (conditional put), for audit and to make
//!   a duplicate or late event repeat nothing;
//! - `gate-recheck#<staging execution id>#<time>`: a re-check that closed the gate;
//! - `gate-latest#<staging window id>`: the newest execution decided, so older ones are ignored.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::dynamodb::{Item, Table, is_condition_failure, n, s};
use serde_json::Value;

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

/// The gate's decision records (DynamoDB).
#[derive(Clone)]
pub struct Store {
    table: Table,
}

impl Store {
    /// The store on `table`, records kept `ttl_days`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, ttl_days: i64) -> Self {
        Self {
            table: Table::new(client, table, Duration::days(ttl_days)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, FunctionError> {
        self.table.get(key).await
    }

    /// The stored decision for a staging execution, if it was decided.
    pub async fn decision(&self, execution_id: &str) -> Result<Option<Value>, FunctionError> {
        Ok(self
            .get(&format!("gate#{execution_id}"))
            .await?
            .and_then(|item| item.get("record").and_then(|r| r.as_s().ok()).cloned())
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// The newest decided staging execution of `window_id`.
    pub async fn latest(&self, window_id: &str) -> Result<Option<Latest>, FunctionError> {
        let Some(item) = self.get(&format!("gate-latest#{window_id}")).await? else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let start = item
            .get("execution_start")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| DateTime::from_timestamp(secs, 0));
        Ok(match (text("execution_id"), start) {
            (Some(execution_id), Some(start)) => Some(Latest {
                execution_id,
                start,
                status: text("execution_status").unwrap_or_default(),
                open: item
                    .get("open")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
            }),
            _ => None,
        })
    }

    /// Writes the decision once. `false` when another invocation already recorded it.
    pub async fn save_decision(
        &self,
        window_id: &str,
        latest: &Latest,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<bool, FunctionError> {
        let put = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(format!("gate#{}", latest.execution_id)))
            .item("kind", s("gate_decision"))
            .item("staging_window_id", s(window_id))
            .item("open", AttributeValue::Bool(latest.open))
            .item("decided_at", s(now.to_rfc3339()))
            .item("record", s(record.to_string()))
            .item("expires_at", self.table.expires_at(now))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(err) if is_condition_failure(&err) => return Ok(false),
            Err(err) => return Err(FunctionError::aws("dynamodb:PutItem", err)),
        }
        let pointer = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(format!("gate-latest#{window_id}")))
            .item("execution_id", s(&latest.execution_id))
            .item("execution_start", n(latest.start.timestamp()))
            .item("execution_status", s(&latest.status))
            .item("open", AttributeValue::Bool(latest.open))
            .condition_expression("attribute_not_exists(pk) OR execution_start <= :start")
            .expression_attribute_values(":start", n(latest.start.timestamp()))
            .send()
            .await;
        match pointer {
            Ok(_) => Ok(true),
            // A newer execution was decided meanwhile: the pointer stays on it.
            Err(err) if is_condition_failure(&err) => Ok(true),
            Err(err) => Err(FunctionError::aws("dynamodb:PutItem", err)),
        }
    }

    /// Records a re-check that closed the gate, and marks the latest decision closed.
    pub async fn save_recheck(
        &self,
        window_id: &str,
        execution_id: &str,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item(
                "pk",
                s(format!("gate-recheck#{execution_id}#{}", now.to_rfc3339())),
            )
            .item("kind", s("gate_recheck"))
            .item("record", s(record.to_string()))
            .item("expires_at", self.table.expires_at(now))
            .send()
            .await
            .map_err(|err| FunctionError::aws("dynamodb:PutItem", err))?;
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(format!("gate-latest#{window_id}")))
            .update_expression("SET #open = :closed")
            .condition_expression("execution_id = :execution")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":closed", AttributeValue::Bool(false))
            .expression_attribute_values(":execution", s(execution_id))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| {
                if is_condition_failure(&err) {
                    Ok(())
                } else {
                    Err(FunctionError::aws("dynamodb:UpdateItem", err))
                }
            })
    }
}

/// In-process tests of every conditional write of the gate's records, the DynamoDB client answered
/// by `aws-smithy-mocks`.
#[cfg(test)]
mod mocked {
    use super::*;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{Rule, mock};
    use chrono::TimeZone;
    use patchpilot_shared::aws::dynamodb::mocks::{self, refused_put};
    use serde_json::json;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, hour, 0, 0).unwrap()
    }

    fn store(rules: &[&Rule]) -> Store {
        Store::new(mocks::client(rules), "state".into(), 30)
    }

    fn latest() -> Latest {
        Latest {
            execution_id: "e-2".into(),
            start: at(2),
            status: "SUCCESS".into(),
            open: true,
        }
    }

    fn decision_put() -> Rule {
        mock!(Client::put_item)
            .match_requests(|req| {
                req.condition_expression() == Some("attribute_not_exists(pk)")
                    && req.item().unwrap()["pk"] == AttributeValue::S("gate#e-2".into())
            })
            .then_output(|| PutItemOutput::builder().build())
    }

    #[tokio::test]
    async fn a_decision_is_written_once_then_the_pointer_moves_forward_only() {
        let pointer = mock!(Client::put_item)
            .match_requests(|req| {
                let item = req.item().unwrap();
                item["pk"] == AttributeValue::S("gate-latest#mw-s".into())
                    && req.condition_expression()
                        == Some("attribute_not_exists(pk) OR execution_start <= :start")
                    && req.expression_attribute_values().unwrap()[":start"]
                        == AttributeValue::N(at(2).timestamp().to_string())
            })
            .then_output(|| PutItemOutput::builder().build());
        let (decision, record) = (decision_put(), json!({"open": true}));
        let written = store(&[&decision, &pointer])
            .save_decision("mw-s", &latest(), &record, at(3))
            .await
            .unwrap();
        assert!(written);
        assert_eq!((decision.num_calls(), pointer.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_decision_already_recorded_is_not_written_again_nor_is_the_pointer() {
        let refused = refused_put();
        let written = store(&[&refused])
            .save_decision("mw-s", &latest(), &json!({}), at(3))
            .await
            .unwrap();
        assert!(!written, "another invocation recorded it first");
        assert_eq!(refused.num_calls(), 1, "the pointer is not touched");
    }

    #[tokio::test]
    async fn a_newer_decision_keeps_the_pointer() {
        let (decision, newer) = (decision_put(), refused_put());
        let written = store(&[&decision, &newer])
            .save_decision("mw-s", &latest(), &json!({}), at(3))
            .await
            .unwrap();
        assert!(
            written,
            "this execution's decision is recorded; the pointer stays on the newer one"
        );
        assert_eq!(newer.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_recheck_closes_only_the_decision_it_judged() {
        let record = mock!(Client::put_item)
            .match_requests(|req| req.condition_expression().is_none())
            .then_output(|| PutItemOutput::builder().build());
        let close = mock!(Client::update_item)
            .match_requests(|req| {
                req.condition_expression() == Some("execution_id = :execution")
                    && req.expression_attribute_values().unwrap()[":execution"]
                        == AttributeValue::S("e-2".into())
            })
            .then_output(|| UpdateItemOutput::builder().build());
        store(&[&record, &close])
            .save_recheck("mw-s", "e-2", &json!({}), at(4))
            .await
            .unwrap();
        assert_eq!((record.num_calls(), close.num_calls()), (1, 1));
        // A newer execution took the pointer meanwhile: it is left open, and that is not an error.
        let (record, moved) = (
            mock!(Client::put_item).then_output(|| PutItemOutput::builder().build()),
            mock!(Client::update_item).then_error(|| {
                UpdateItemError::ConditionalCheckFailedException(
                    ConditionalCheckFailedException::builder().build(),
                )
            }),
        );
        store(&[&record, &moved])
            .save_recheck("mw-s", "e-2", &json!({}), at(4))
            .await
            .unwrap();
        assert_eq!(moved.num_calls(), 1);
    }

    #[tokio::test]
    async fn the_latest_pointer_reads_back_and_a_partial_item_is_none() {
        let full = mock!(Client::get_item)
            .match_requests(|req| {
                req.consistent_read() == Some(true)
                    && req.key().unwrap()["pk"] == AttributeValue::S("gate-latest#mw-s".into())
            })
            .then_output(|| {
                GetItemOutput::builder()
                    .item("execution_id", AttributeValue::S("e-2".into()))
                    .item(
                        "execution_start",
                        AttributeValue::N(at(2).timestamp().to_string()),
                    )
                    .item("execution_status", AttributeValue::S("SUCCESS".into()))
                    .item("open", AttributeValue::Bool(true))
                    .build()
            });
        let partial = mock!(Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item("execution_id", AttributeValue::S("e-2".into()))
                .build()
        });
        let store = store(&[&full, &partial]);
        assert_eq!(store.latest("mw-s").await.unwrap(), Some(latest()));
        assert_eq!(store.latest("mw-s").await.unwrap(), None);
    }
}
