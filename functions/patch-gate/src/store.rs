//! Decision records in the state table (shared with install-alerts; key `pk`, TTL `expires_at`;
//! each kind's key and mapping in records.rs, which `patchpilot` reads them through):
//! - `gate#<staging execution id>`: the decision. Claimed first (conditional put, `pending`: the verdict
//!   before anything is changed), then completed once (`record`: the report of what was done). A retry
//!   that finds it pending carries out the *recorded* verdict instead of judging again; one that finds
//!   it complete repeats nothing;
//! - `gate-recheck#<staging execution id>#<time>`: a re-check that closed the gate;
//! - `gate-latest#<staging window id>`: the newest execution decided, so older ones are ignored, with
//!   what last set its `open` (`cause`: decision, re-check or approval; `cause_at`; `cause_record`, the
//!   key of the record that says why), so `patchpilot status` can explain the gate's state;
//! - `gate-hold#<staging window id>`: an operator's hold, while it lasts (no expiry);
//! - `gate-operator#<staging window id>#<time>`: each operator request carried out (approve, hold,
//!   release), with who asked and why;
//! - `gate-brake#<production window id>`: when the gate last published a close (`engaged_at`), so an
//!   open published soon after is published again once the brake alarm's period has ended (brake.rs).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::dynamodb::{Item, Table, n, s, written};
use serde_json::Value;

use crate::decide::{Decision, Execution};
use crate::operator::Hold;
pub use crate::records::Latest;
use crate::records::{CauseOnRecord, Pointer, key, kind, record_of, time_attribute};

/// What last set the latest pointer's `open`: the record it names says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The decision on the staging execution (`gate#<execution>`).
    Decision,
    /// A re-check that closed it (`gate-recheck#<execution>#<time>`).
    Recheck,
    /// An operator's approval over a closed decision (`gate#<execution>`, with the approval).
    Approval,
}

impl Cause {
    /// As the pointer stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Recheck => "recheck",
            Self::Approval => "approval",
        }
    }
}

/// A verdict claimed before production is touched: what a retry carries out if the invocation that
/// made it stopped part-way (a timeout, a throttled write).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The execution judged (status and start as the API reported them).
    pub execution: Execution,
    /// The verdict.
    pub decision: Decision,
    /// The operator's hold it was made under, if any.
    pub hold: Option<Hold>,
}

/// Where a staging execution's decision stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Carried out and recorded: the report.
    Done(Value),
    /// Claimed, not yet carried out.
    Pending(Box<Pending>),
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
            .get(&key::decision(execution_id))
            .await?
            .as_ref()
            .and_then(record_of))
    }

    /// The decision of a staging execution, done or pending; `None` when nobody claimed it.
    pub async fn recorded(&self, execution_id: &str) -> Result<Option<Recorded>, FunctionError> {
        let Some(item) = self.get(&key::decision(execution_id)).await? else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        if let Some(record) = text("record") {
            let record = serde_json::from_str(&record).unwrap_or(Value::Null);
            return Ok(Some(Recorded::Done(record)));
        }
        let pending = text("pending").ok_or_else(|| {
            FunctionError::Invariant(format!(
                "gate#{execution_id} has neither a record nor a pending decision"
            ))
        })?;
        serde_json::from_str(&pending)
            .map(|pending| Some(Recorded::Pending(Box::new(pending))))
            .map_err(|err| {
                FunctionError::Invariant(format!("gate#{execution_id}: pending decision: {err}"))
            })
    }

    /// Claims the execution's decision before anything is changed. `false` when another invocation
    /// claimed it first.
    pub async fn claim_decision(
        &self,
        window_id: &str,
        pending: &Pending,
        now: DateTime<Utc>,
    ) -> Result<bool, FunctionError> {
        let text = serde_json::to_string(pending)
            .map_err(|err| FunctionError::Invariant(format!("pending decision: {err}")))?;
        let put = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(key::decision(&pending.execution.id)))
            .item("kind", s(kind::DECISION))
            .item("staging_window_id", s(window_id))
            .item("claimed_at", s(now.to_rfc3339()))
            .item("pending", s(text))
            .item("expires_at", self.table.expires_at(now))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(put, "dynamodb:PutItem")
    }

    /// The newest decided staging execution of `window_id`.
    pub async fn latest(&self, window_id: &str) -> Result<Option<Latest>, FunctionError> {
        Ok(self
            .get(&key::latest(window_id))
            .await?
            .as_ref()
            .and_then(Pointer::from_item)
            .map(|pointer| pointer.latest))
    }

    /// Completes the claimed decision with its report, once, and moves the latest pointer forward.
    /// `false` when another invocation completed it first.
    pub async fn save_decision(
        &self,
        window_id: &str,
        latest: &Latest,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<bool, FunctionError> {
        let update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(key::decision(&latest.execution_id)))
            .update_expression(
                "SET #kind = :kind, staging_window_id = :window, #open = :open, decided_at = :at, #record = :record, expires_at = :expires REMOVE pending",
            )
            .condition_expression("attribute_not_exists(#record)")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#record", "record")
            .expression_attribute_values(":kind", s(kind::DECISION))
            .expression_attribute_values(":window", s(window_id))
            .expression_attribute_values(":open", AttributeValue::Bool(latest.open))
            .expression_attribute_values(":at", s(now.to_rfc3339()))
            .expression_attribute_values(":record", s(record.to_string()))
            .expression_attribute_values(":expires", self.table.expires_at(now))
            .send()
            .await;
        if !written(update, "dynamodb:UpdateItem")? {
            return Ok(false);
        }
        let pointer = Pointer {
            latest: latest.clone(),
            cause: Some(CauseOnRecord {
                kind: Cause::Decision.as_str().to_owned(),
                at: Some(now),
                record_key: Some(key::decision(&latest.execution_id)),
            }),
        };
        let pointer = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(pointer.to_item(window_id)))
            .condition_expression("attribute_not_exists(pk) OR execution_start <= :start")
            .expression_attribute_values(":start", n(latest.start.timestamp()))
            .send()
            .await;
        // Refused: a newer execution was decided meanwhile, and the pointer stays on it.
        written(pointer, "dynamodb:PutItem")?;
        Ok(true)
    }

    /// Records a re-check that closed the gate, and marks the latest decision closed.
    pub async fn save_recheck(
        &self,
        window_id: &str,
        execution_id: &str,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        let key = key::recheck(execution_id, now);
        self.put_record(key.clone(), kind::RECHECK, record, now)
            .await?;
        self.set_latest_open(window_id, execution_id, false, (Cause::Recheck, &key, now))
            .await
    }

    /// The latest check of a production run against the promoted list, per production window
    /// (`patchpilot status` reads it).
    pub async fn save_verification(
        &self,
        production_window_id: &str,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.put_record(
            key::verified(production_window_id),
            kind::VERIFICATION,
            record,
            now,
        )
        .await
    }

    /// Writes an audit record: its `kind`, the report as JSON, expiring with the decisions.
    async fn put_record(
        &self,
        key: String,
        kind: &str,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.put(key, kind, ("record", s(record.to_string())), now)
            .await
    }

    /// Writes an item of `kind` with one attribute of its own, expiring with the decisions.
    async fn put(
        &self,
        key: String,
        kind: &str,
        (name, value): (&str, AttributeValue),
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(key))
            .item("kind", s(kind))
            .item(name, value)
            .item("expires_at", self.table.expires_at(now))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| FunctionError::aws("dynamodb:PutItem", err))
    }

    /// Records that the gate engaged the brake on `production_window_id` at `now`.
    pub async fn brake_engaged(
        &self,
        production_window_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.put(
            key::brake(production_window_id),
            kind::BRAKE,
            ("engaged_at", s(now.to_rfc3339())),
            now,
        )
        .await
    }

    /// When the gate last engaged the brake on `production_window_id`, if it is on record.
    pub async fn brake_engaged_at(
        &self,
        production_window_id: &str,
    ) -> Result<Option<DateTime<Utc>>, FunctionError> {
        Ok(self
            .get(&key::brake(production_window_id))
            .await?
            .and_then(|item| time_attribute(&item, "engaged_at")))
    }
}

impl Store {
    /// The hold on `window_id`'s production, if one is in place.
    pub async fn hold(&self, window_id: &str) -> Result<Option<Hold>, FunctionError> {
        let record = self
            .get(&key::hold(window_id))
            .await?
            .and_then(|item| item.get("record").and_then(|r| r.as_s().ok()).cloned());
        record
            .map(|text| {
                serde_json::from_str(&text).map_err(|err| {
                    FunctionError::Invariant(format!("the stored hold does not parse: {err}"))
                })
            })
            .transpose()
    }

    /// Places a hold. `false` when one is already in place (nothing is overwritten).
    pub async fn put_hold(&self, window_id: &str, hold: &Hold) -> Result<bool, FunctionError> {
        let record = serde_json::to_string(hold)
            .map_err(|err| FunctionError::Invariant(format!("hold record: {err}")))?;
        let put = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(key::hold(window_id)))
            .item("kind", s(kind::HOLD))
            .item("record", s(record))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(put, "dynamodb:PutItem")
    }

    /// Removes the hold. `false` when there was none.
    pub async fn delete_hold(&self, window_id: &str) -> Result<bool, FunctionError> {
        let delete = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s(key::hold(window_id)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        written(delete, "dynamodb:DeleteItem")
    }

    /// Records an approval on the closed decision of `execution_id` (now open, with the approval in
    /// its record) and moves the latest pointer to open. `false` when the decision is gone or
    /// already open (another approval came first).
    pub async fn save_approval(
        &self,
        window_id: &str,
        execution_id: &str,
        record: &Value,
    ) -> Result<bool, FunctionError> {
        let update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(key::decision(execution_id)))
            .update_expression("SET #open = :open, #record = :record")
            .condition_expression("attribute_exists(pk) AND #open = :closed")
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#record", "record")
            .expression_attribute_values(":open", AttributeValue::Bool(true))
            .expression_attribute_values(":closed", AttributeValue::Bool(false))
            .expression_attribute_values(":record", s(record.to_string()))
            .send()
            .await;
        if !written(update, "dynamodb:UpdateItem")? {
            return Ok(false);
        }
        let key = key::decision(execution_id);
        self.set_latest_open(
            window_id,
            execution_id,
            true,
            (Cause::Approval, &key, Utc::now()),
        )
        .await?;
        Ok(true)
    }

    /// Sets the latest pointer's `open` and what set it, if it still names `execution_id`.
    async fn set_latest_open(
        &self,
        window_id: &str,
        execution_id: &str,
        open: bool,
        (cause, record_key, at): (Cause, &str, DateTime<Utc>),
    ) -> Result<(), FunctionError> {
        let update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(key::latest(window_id)))
            .update_expression(
                "SET #open = :open, #cause = :cause, cause_at = :at, cause_record = :record",
            )
            .condition_expression("execution_id = :execution")
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#cause", "cause")
            .expression_attribute_values(":open", AttributeValue::Bool(open))
            .expression_attribute_values(":cause", s(cause.as_str()))
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .expression_attribute_values(":record", s(record_key))
            .expression_attribute_values(":execution", s(execution_id))
            .send()
            .await;
        // Refused: a newer execution was decided meanwhile, and the pointer is its.
        written(update, "dynamodb:UpdateItem").map(|_| ())
    }

    /// Records an operator request that was carried out (the audit trail of approvals and holds).
    pub async fn save_operator_action(
        &self,
        window_id: &str,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.put_record(key::operator(window_id, now), kind::OPERATOR, record, now)
            .await
    }
}

/// In-process tests of every conditional write of the gate's records, the DynamoDB client answered
/// by `aws-smithy-mocks`.
#[cfg(test)]
mod mocked {
    use super::*;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
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
        mock!(Client::update_item)
            .match_requests(|req| {
                req.condition_expression() == Some("attribute_not_exists(#record)")
                    && req.key().unwrap()["pk"] == AttributeValue::S("gate#e-2".into())
                    && req.update_expression().unwrap().ends_with("REMOVE pending")
            })
            .then_output(|| UpdateItemOutput::builder().build())
    }

    fn pending() -> Pending {
        Pending {
            execution: Execution {
                id: "e-2".into(),
                status: "SUCCESS".into(),
                start: at(2),
            },
            decision: Decision {
                open: false,
                checks: vec![],
                failed_instances: vec!["i-1".into()],
            },
            hold: None,
        }
    }

    #[tokio::test]
    async fn a_verdict_is_claimed_once_before_anything_changes_and_reads_back_pending() {
        let claim = mock!(Client::put_item)
            .match_requests(|req| {
                let item = req.item().unwrap();
                req.condition_expression() == Some("attribute_not_exists(pk)")
                    && item["pk"] == AttributeValue::S("gate#e-2".into())
                    && item.contains_key("pending")
                    && !item.contains_key("record")
            })
            .then_output(|| PutItemOutput::builder().build());
        assert!(
            store(&[&claim])
                .claim_decision("mw-s", &pending(), at(3))
                .await
                .unwrap()
        );
        let refused = refused_put();
        assert!(
            !store(&[&refused])
                .claim_decision("mw-s", &pending(), at(3))
                .await
                .unwrap()
        );
        let text = serde_json::to_string(&pending()).unwrap();
        let read = mock!(Client::get_item).then_output(move || {
            GetItemOutput::builder()
                .item("pending", AttributeValue::S(text.clone()))
                .build()
        });
        assert_eq!(
            store(&[&read]).recorded("e-2").await.unwrap(),
            Some(Recorded::Pending(Box::new(pending())))
        );
        let done = mock!(Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item("record", AttributeValue::S(r#"{"open":true}"#.into()))
                .build()
        });
        assert_eq!(
            store(&[&done]).recorded("e-2").await.unwrap(),
            Some(Recorded::Done(json!({"open": true})))
        );
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
                    && item["cause"] == AttributeValue::S("decision".into())
                    && item["cause_record"] == AttributeValue::S("gate#e-2".into())
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
        let refused = refused_update();
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
        let key = format!("gate-recheck#e-2#{}", at(4).to_rfc3339());
        let close = mock!(Client::update_item)
            .match_requests(move |req| {
                let values = req.expression_attribute_values().unwrap();
                // The pointer says what closed it and where the reason is recorded.
                req.condition_expression() == Some("execution_id = :execution")
                    && values[":execution"] == AttributeValue::S("e-2".into())
                    && values[":open"] == AttributeValue::Bool(false)
                    && values[":cause"] == AttributeValue::S("recheck".into())
                    && values[":record"] == AttributeValue::S(key.clone())
                    && values[":at"] == AttributeValue::S(at(4).to_rfc3339())
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

    fn hold() -> Hold {
        Hold {
            by: crate::operator::Operator {
                arn: "arn:aws:iam::111122223333:user/ana".into(),
                account: None,
                user_id: None,
                claimed: true,
            },
            reason: "change freeze".into(),
            since: at(5),
        }
    }

    fn refused_update() -> Rule {
        mock!(Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        })
    }

    #[tokio::test]
    async fn a_hold_is_placed_once_reads_back_and_is_released_once() {
        let place = mock!(Client::put_item)
            .match_requests(|req| {
                req.item().unwrap()["pk"] == AttributeValue::S("gate-hold#mw-s".into())
                    && req.condition_expression() == Some("attribute_not_exists(pk)")
                    // A hold lasts until released: it carries no expiry.
                    && !req.item().unwrap().contains_key("expires_at")
            })
            .then_output(|| PutItemOutput::builder().build());
        let stored = serde_json::to_string(&hold()).unwrap();
        let read = mock!(Client::get_item)
            .match_requests(|req| {
                req.key().unwrap()["pk"] == AttributeValue::S("gate-hold#mw-s".into())
            })
            .then_output(move || {
                GetItemOutput::builder()
                    .item("record", AttributeValue::S(stored.clone()))
                    .build()
            });
        let release = mock!(Client::delete_item)
            .match_requests(|req| req.condition_expression() == Some("attribute_exists(pk)"))
            .then_output(|| DeleteItemOutput::builder().build());
        let gone = mock!(Client::delete_item).then_error(|| {
            DeleteItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let store = store(&[&place, &refused_put(), &read, &release, &gone]);
        assert!(store.put_hold("mw-s", &hold()).await.unwrap());
        assert!(
            !store.put_hold("mw-s", &hold()).await.unwrap(),
            "a second hold is refused"
        );
        assert_eq!(store.hold("mw-s").await.unwrap(), Some(hold()));
        assert!(store.delete_hold("mw-s").await.unwrap());
        assert!(
            !store.delete_hold("mw-s").await.unwrap(),
            "nothing left to release"
        );
    }

    #[tokio::test]
    async fn an_approval_opens_a_closed_decision_once_and_moves_the_pointer() {
        let open = mock!(Client::update_item)
            .match_requests(|req| {
                req.key().unwrap()["pk"] == AttributeValue::S("gate#e-2".into())
                    && req.condition_expression()
                        == Some("attribute_exists(pk) AND #open = :closed")
                    && req.expression_attribute_values().unwrap()[":record"]
                        == AttributeValue::S(json!({"approval": 1}).to_string())
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let pointer = mock!(Client::update_item)
            .match_requests(|req| {
                req.key().unwrap()["pk"] == AttributeValue::S("gate-latest#mw-s".into())
                    && req.expression_attribute_values().unwrap()[":open"]
                        == AttributeValue::Bool(true)
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let store = store(&[&open, &pointer, &refused_update()]);
        assert!(
            store
                .save_approval("mw-s", "e-2", &json!({"approval": 1}))
                .await
                .unwrap()
        );
        assert_eq!((open.num_calls(), pointer.num_calls()), (1, 1));
        // Already open (another approval first): refused, the pointer untouched.
        assert!(
            !store
                .save_approval("mw-s", "e-2", &json!({}))
                .await
                .unwrap()
        );
        assert_eq!(pointer.num_calls(), 1);
    }

    #[tokio::test]
    async fn operator_actions_are_kept_for_audit_with_an_expiry() {
        let audit = mock!(Client::put_item)
            .match_requests(|req| {
                let item = req.item().unwrap();
                item["pk"]
                    == AttributeValue::S(format!("gate-operator#mw-s#{}", at(6).to_rfc3339()))
                    && item["kind"] == AttributeValue::S("gate_operator".into())
                    && item.contains_key("expires_at")
            })
            .then_output(|| PutItemOutput::builder().build());
        store(&[&audit])
            .save_operator_action("mw-s", &json!({"outcome": "held"}), at(6))
            .await
            .unwrap();
        assert_eq!(audit.num_calls(), 1);
    }
}
