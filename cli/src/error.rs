//! What stops a command: each a one-line message naming what is wrong.

/// A command that could not run (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A setting is missing or malformed.
    #[error("{0}")]
    Usage(String),
    /// An AWS call failed.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The service and operation, e.g. `lambda:Invoke`.
        operation: String,
        /// What the service or the transport said.
        message: String,
    },
    /// The gate refused an operator request; nothing was changed.
    #[error("the gate refused: {0}")]
    Refused(String),
    /// The gate failed while carrying out a request.
    #[error("the gate failed ({error_type}): {message}")]
    Gate {
        /// Lambda's `errorType`.
        error_type: String,
        /// Lambda's `errorMessage`.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

impl CliError {
    /// An SDK call's failure, the service's message first.
    pub fn sdk<E, R>(
        operation: &str,
        err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = match err.as_service_error() {
            Some(service) => format!(
                "{}: {}",
                service.code().unwrap_or("error"),
                service.message().unwrap_or("no message")
            ),
            None => {
                let mut text = err.to_string();
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    text = format!("{text}: {cause}");
                    source = cause.source();
                }
                text
            }
        };
        Self::Aws {
            operation: operation.to_owned(),
            message,
        }
    }
}
