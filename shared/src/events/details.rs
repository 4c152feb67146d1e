//! The `detail` of each event kind. Field names follow AWS's kebab-case; anything AWS has been seen to
//! omit is optional, and unknown fields are ignored (serde's default).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::parameters::CommandParameters;
use super::status::{CommandStatus, InstanceState, WindowExecutionStatus};

/// "EC2 Command Status-change Notification": a Run Command command as a whole.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandStatusDetail {
    /// The Run Command command id.
    pub command_id: String,
    /// The document the command runs.
    #[serde(default)]
    pub document_name: Option<String>,
    /// When the command stops being delivered.
    #[serde(default)]
    pub expire_after: Option<DateTime<Utc>>,
    /// The command's parameters (object or JSON-encoded string, as accounts send them).
    #[serde(default)]
    pub parameters: CommandParameters,
    /// When the command was requested.
    #[serde(default)]
    pub requested_date_time: Option<DateTime<Utc>>,
    /// The command's new status.
    pub status: CommandStatus,
}

/// "EC2 Command Invocation Status-change Notification": one instance's run of a command. Carries no
/// parameters: the operation (Scan or Install) has to be looked up.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandInvocationDetail {
    /// The Run Command command id.
    pub command_id: String,
    /// The document the command runs.
    #[serde(default)]
    pub document_name: Option<String>,
    /// The instance this invocation ran on.
    pub instance_id: String,
    /// When the command was requested.
    #[serde(default)]
    pub requested_date_time: Option<DateTime<Utc>>,
    /// The invocation's new status.
    pub status: CommandStatus,
}

/// "Maintenance Window Execution State-change Notification".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WindowExecutionDetail {
    /// The maintenance window.
    pub window_id: String,
    /// The execution of that window.
    pub window_execution_id: String,
    /// The execution's new status.
    pub status: WindowExecutionStatus,
    /// When the execution started.
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended, once it has.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
}

/// "EC2 Instance State-change Notification".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstanceStateDetail {
    /// The instance.
    pub instance_id: String,
    /// Its new lifecycle state.
    pub state: InstanceState,
}
