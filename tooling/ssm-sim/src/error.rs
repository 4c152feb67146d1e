//! Why the simulator refused a control request or could not run, by kind. (Its answers on the SSM
//! wire are `api::ApiError`s; a patching document's failure is an outcome, kept as the text the
//! instance reports.)

/// A control-plane or startup error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A run asked for a window the account does not have.
    #[error("maintenance window {0} does not exist")]
    NoSuchWindow(String),
    /// A run or scan named an instance the account does not have.
    #[error("{request} names instance {instance}, which the simulator does not have")]
    UnknownInstance {
        /// `outcome` or `scan`.
        request: &'static str,
        /// The instance.
        instance: String,
    },
    /// A run's events could not be delivered to EventBridge.
    #[error("PutEvents to {url}: {detail}")]
    Delivery {
        /// The endpoint.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// Fault settings out of range.
    #[error("{0}")]
    Faults(String),
    /// The server could not start (its scenario, options or listener).
    #[error("{0}")]
    Startup(String),
}

/// Callers that report in text.
impl From<SimError> for String {
    fn from(err: SimError) -> Self {
        err.to_string()
    }
}
