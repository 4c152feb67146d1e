//! One error type for every function, mapped to Lambda's `Diagnostic`.
//!
//! The `error_type` Lambda records is stable and starts with `Retryable.` or `Permanent.`, so alarms,
//! dead-letter triage and retry policies can tell "try again" (throttling, 5xx, timeouts, connection
//! failures) from "this will never work" (a bad event, bad configuration, access denied).

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use std::error::Error as StdError;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

use crate::config::ConfigError;
use crate::events::EventError;

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorClass {
    /// Trying again may succeed (throttling, timeouts, server trouble).
    Retryable,
    /// Trying again would fail the same way (bad input, denied, not found).
    Permanent,
}

/// Everything that can end an invocation in failure.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// The function's settings are invalid (fails cold start).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The event could not be parsed.
    #[error(transparent)]
    BadEvent(#[from] EventError),
    /// An AWS call failed; `operation` names it (e.g. `ssm:DescribeInstancePatches`).
    #[error("{operation} failed: {message}")]
    Aws {
        /// The service and operation, e.g. `ssm:DescribeInstancePatches`.
        operation: String,
        /// Whether a retry can help.
        class: ErrorClass,
        /// The service's error code, when it sent one.
        code: Option<String>,
        /// What went wrong, as the service or the transport said.
        message: String,
    },
    /// Work that could only partly be done; what was done has been reported.
    #[error("{0}")]
    Partial(String),
    /// Work stopped before the invocation's deadline with more to do, and a retry continues it: what
    /// was done is kept and reported. (Work a retry cannot advance ends `Ok` and reports itself
    /// incomplete instead, so Lambda does not repeat it for nothing.)
    #[error("{0}")]
    StoppedForTime(String),
    /// A fact the function relies on does not hold (e.g. a resource it is configured with is missing).
    #[error("{0}")]
    Invariant(String),
    /// An operator's request that cannot be carried out as asked; nothing was changed.
    #[error("{0}")]
    Refused(String),
}

impl FunctionError {
    /// Wraps any SDK error, classifying it.
    pub fn aws<E, R>(operation: impl Into<String>, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + HttpStatus,
    {
        let class = classify(&err);
        let code = err
            .as_service_error()
            .and_then(|service| service.code())
            .map(str::to_owned);
        let message = describe(&err);
        Self::Aws {
            operation: operation.into(),
            class,
            code,
            message,
        }
    }

    /// The same failure, to be retried whatever the service said: for an action whose failure must
    /// not stand (a page not sent, a production window not closed).
    pub fn retryable(self) -> Self {
        match self {
            Self::Aws {
                operation,
                code,
                message,
                ..
            } => Self::Aws {
                operation,
                class: ErrorClass::Retryable,
                code,
                message,
            },
            other => other,
        }
    }

    /// Whether a retry can help, which decides the error type Lambda sees.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Config(_) | Self::BadEvent(_) | Self::Invariant(_) | Self::Refused(_) => {
                ErrorClass::Permanent
            }
            Self::Aws { class, .. } => *class,
            Self::Partial(_) | Self::StoppedForTime(_) => ErrorClass::Retryable,
        }
    }

    /// The stable `errorType` Lambda records.
    pub fn error_type(&self) -> String {
        let class = match self.class() {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::Permanent => "Permanent",
        };
        let kind = match self {
            Self::Config(_) => "Configuration".to_owned(),
            Self::BadEvent(_) => "BadEvent".to_owned(),
            Self::Aws {
                code: Some(code), ..
            } => format!("Aws.{code}"),
            Self::Aws { .. } => "Aws".to_owned(),
            Self::Partial(_) => "PartialFailure".to_owned(),
            Self::StoppedForTime(_) => "StoppedForTime".to_owned(),
            Self::Invariant(_) => "Invariant".to_owned(),
            Self::Refused(_) => "Refused".to_owned(),
        };
        format!("{class}.{kind}")
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(err: FunctionError) -> Self {
        Diagnostic {
            error_type: err.error_type(),
            error_message: err.to_string(),
        }
    }
}

/// The HTTP status of a raw response, where there is one.
pub trait HttpStatus {
    /// The response's HTTP status code.
    fn http_status(&self) -> Option<u16>;
}

impl HttpStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn http_status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// Server-trouble codes. The SDK retries these by their 5xx status; the codes are matched too for
/// an error that carries a code but no response (the throttling and transient codes come from the
/// SDK's own classifier, [`THROTTLING_ERRORS`] and [`TRANSIENT_ERRORS`]).
const SERVER_ERROR_CODES: &[&str] = &[
    "InternalServerError",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// A code the SDK would retry, or server trouble.
fn is_retryable_code(code: &str) -> bool {
    [THROTTLING_ERRORS, TRANSIENT_ERRORS, SERVER_ERROR_CODES]
        .iter()
        .any(|codes| codes.contains(&code))
}

/// Throttling, 5xx, timeouts and transport failures are retryable; everything else is permanent.
pub fn classify<E, R>(err: &SdkError<E, R>) -> ErrorClass
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retryable
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().http_status().unwrap_or(0);
            if is_retryable_code(code) || status >= 500 || status == 429 {
                ErrorClass::Retryable
            } else {
                ErrorClass::Permanent
            }
        }
        _ => ErrorClass::Permanent,
    }
}

/// The most useful text of an SDK error: service code and message, or the transport failure's chain.
fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = err.as_service_error() {
        return match (service.code(), service.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => service.to_string(),
        };
    }
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[derive(Debug)]
    struct TestServiceError(ErrorMetadata);

    impl std::fmt::Display for TestServiceError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "test service error")
        }
    }
    impl StdError for TestServiceError {}
    impl ProvideErrorMetadata for TestServiceError {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn service_error(code: &str, status: u16) -> SdkError<TestServiceError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("it went wrong")
            .build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(TestServiceError(meta), raw)
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("InternalServerError", 500),
            ("Whatever", 503),
        ] {
            let err = FunctionError::aws("ssm:DescribePatchGroups", service_error(code, status));
            assert_eq!(err.class(), ErrorClass::Retryable, "{code} {status}");
            assert!(
                err.error_type().starts_with("Retryable.Aws."),
                "{}",
                err.error_type()
            );
        }
    }

    #[test]
    fn client_errors_are_permanent_and_named() {
        let err = FunctionError::aws(
            "ssm:GetPatchBaseline",
            service_error("DoesNotExistException", 400),
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(err.error_type(), "Permanent.Aws.DoesNotExistException");
        let diagnostic = Diagnostic::from(err);
        assert_eq!(
            diagnostic.error_message,
            "ssm:GetPatchBaseline failed: DoesNotExistException: it went wrong"
        );
    }

    #[test]
    fn a_must_succeed_action_is_retried_whatever_the_service_said() {
        let err = FunctionError::aws("sns:Publish", service_error("AuthorizationError", 403));
        assert_eq!(err.class(), ErrorClass::Permanent);
        let err = err.retryable();
        assert_eq!(err.error_type(), "Retryable.Aws.AuthorizationError");
        assert_eq!(
            FunctionError::Partial("x".into()).retryable().class(),
            ErrorClass::Retryable
        );
    }

    #[test]
    fn timeouts_are_retryable() {
        let err: SdkError<TestServiceError, HttpResponse> =
            SdkError::timeout_error(Box::new(std::io::Error::other("deadline")));
        assert_eq!(classify(&err), ErrorClass::Retryable);
    }

    #[test]
    fn bad_events_and_config_are_permanent() {
        let err = FunctionError::from(crate::config::ConfigError::Missing {
            variable: "ALERT_TOPIC_ARN".into(),
            expected: "an SNS topic ARN".into(),
        });
        assert_eq!(err.error_type(), "Permanent.Configuration");
        let err = FunctionError::Partial("2 groups failed".into());
        assert_eq!(err.error_type(), "Retryable.PartialFailure");
        let err = FunctionError::StoppedForTime("3 of 9 pages".into());
        assert_eq!(err.error_type(), "Retryable.StoppedForTime");
    }
}
