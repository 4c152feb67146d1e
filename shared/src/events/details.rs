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
    pub command_id: String,
    #[serde(default)]
    pub document_name: Option<String>,
    #[serde(default)]
    pub expire_after: Option<DateTime<Utc>>,
    #[serde(default)]
    pub parameters: CommandParameters,
    #[serde(default)]
    pub requested_date_time: Option<DateTime<Utc>>,
    pub status: CommandStatus,
}

/// "EC2 Command Invocation Status-change Notification": one instance's run of a command. Carries no
/// parameters: the operation (Scan or Install) has to be looked up.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandInvocationDetail {
    pub command_id: String,
    #[serde(default)]
    pub document_name: Option<String>,
    pub instance_id: String,
    #[serde(default)]
    pub requested_date_time: Option<DateTime<Utc>>,
    pub status: CommandStatus,
}

/// "Maintenance Window Execution State-change Notification".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WindowExecutionDetail {
    pub window_id: String,
    pub window_execution_id: String,
    pub status: WindowExecutionStatus,
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
}

/// "EC2 Instance State-change Notification".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstanceStateDetail {
    pub instance_id: String,
    pub state: InstanceState,
}
