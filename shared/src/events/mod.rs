//! Typed models of every EventBridge event patchpilot consumes (and only those: any other kind is
//! [`Event::Unrecognized`]).
//!
//! Parsing happens in two steps: the generic envelope (aws_lambda_events' EventBridge type, which is
//! fine), then the `detail` into the model chosen by `detail-type`. Detail models ignore unknown fields,
//! treat fields AWS sometimes omits as optional, and keep unknown status values. A detail that does not
//! fit yields an [`EventError`] naming the detail-type and the offending field.

mod details;
mod parameters;
mod status;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use details::*;
pub use parameters::CommandParameters;
pub use status::*;

/// The detail-type strings, as AWS spells them.
pub mod detail_type {
    /// A Run Command command changed status.
    pub const COMMAND_STATUS: &str = "EC2 Command Status-change Notification";
    /// One instance's invocation of a command changed status.
    pub const COMMAND_INVOCATION_STATUS: &str = "EC2 Command Invocation Status-change Notification";
    /// A maintenance-window execution changed status.
    pub const WINDOW_EXECUTION: &str = "Maintenance Window Execution State-change Notification";
    /// An EC2 instance changed lifecycle state.
    pub const INSTANCE_STATE: &str = "EC2 Instance State-change Notification";
    /// An EventBridge schedule fired.
    pub const SCHEDULED: &str = "Scheduled Event";
}

/// The envelope fields every event carries (some of them only usually).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventMeta {
    /// The event id (EventBridge's delivery id).
    pub id: Option<String>,
    /// The `detail-type`, which says what the event is about.
    pub detail_type: String,
    /// The sending service, e.g. `aws.ssm`.
    pub source: String,
    /// The account the event came from.
    pub account: Option<String>,
    /// The region the event came from.
    pub region: Option<String>,
    /// When it happened.
    pub time: Option<DateTime<Utc>>,
    /// ARNs of the resources involved.
    pub resources: Vec<String>,
}

/// An event, by what it is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// EC2 Command Status-change Notification.
    CommandStatus(EventMeta, CommandStatusDetail),
    /// EC2 Command Invocation Status-change Notification.
    CommandInvocationStatus(EventMeta, CommandInvocationDetail),
    /// Maintenance Window Execution State-change Notification.
    WindowExecution(EventMeta, WindowExecutionDetail),
    /// EC2 Instance State-change Notification.
    InstanceState(EventMeta, InstanceStateDetail),
    /// An EventBridge schedule firing; `detail` is whatever the rule's input carried (usually `{}`).
    Scheduled(EventMeta, Value),
    /// A well-formed event of a kind patchpilot does not consume. Each function decides: those that
    /// can be sent other events by a shared rule (compliance-snapshot, install-alerts, patch-gate)
    /// ignore it with a logged reason; patch-group-tagger, whose rules send it only its own two kinds,
    /// fails it as a bad event so a miswired rule is seen.
    Unrecognized(EventMeta),
}

impl Event {
    /// The envelope of any event.
    pub fn meta(&self) -> &EventMeta {
        match self {
            Self::CommandStatus(meta, _)
            | Self::CommandInvocationStatus(meta, _)
            | Self::WindowExecution(meta, _)
            | Self::InstanceState(meta, _)
            | Self::Scheduled(meta, _)
            | Self::Unrecognized(meta) => meta,
        }
    }

    /// Parses a raw Lambda payload.
    pub fn parse(payload: Value) -> Result<Self, EventError> {
        let envelope: EventBridgeEvent<Value> =
            serde_path_to_error::deserialize(payload).map_err(|err| EventError {
                detail_type: None,
                field: err.path().to_string(),
                message: err.into_inner().to_string(),
            })?;
        let meta = EventMeta {
            id: envelope.id,
            detail_type: envelope.detail_type,
            source: envelope.source,
            account: envelope.account,
            region: envelope.region,
            time: envelope.time,
            resources: envelope.resources.unwrap_or_default(),
        };
        let detail = envelope.detail;
        use detail_type as dt;
        Ok(match meta.detail_type.as_str() {
            dt::COMMAND_STATUS => {
                let detail = typed(&meta, detail)?;
                Self::CommandStatus(meta, detail)
            }
            dt::COMMAND_INVOCATION_STATUS => {
                let detail = typed(&meta, detail)?;
                Self::CommandInvocationStatus(meta, detail)
            }
            dt::WINDOW_EXECUTION => {
                let detail = typed(&meta, detail)?;
                Self::WindowExecution(meta, detail)
            }
            dt::INSTANCE_STATE => {
                let detail = typed(&meta, detail)?;
                Self::InstanceState(meta, detail)
            }
            dt::SCHEDULED => Self::Scheduled(meta, detail),
            _ => Self::Unrecognized(meta),
        })
    }
}

fn typed<T: DeserializeOwned>(meta: &EventMeta, detail: Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(detail).map_err(|err| {
        let path = err.path().to_string();
        EventError {
            detail_type: Some(meta.detail_type.clone()),
            field: if path == "." {
                "detail".to_owned()
            } else {
                format!("detail.{path}")
            },
            message: err.into_inner().to_string(),
        }
    })
}

/// An event that could not be parsed: which kind of event, which field, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {} event: field `{field}`: {message}", detail_type.as_deref().map(|dt| format!("`{dt}`")).unwrap_or_else(|| "EventBridge".to_owned()))]
pub struct EventError {
    /// The event's detail-type, when the envelope itself was readable.
    pub detail_type: Option<String>,
    /// The path of the offending field, e.g. `detail.status` or `detail-type`.
    pub field: String,
    /// What was wrong with it.
    pub message: String,
}
