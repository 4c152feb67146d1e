//! Structured logs. lambda_runtime's subscriber honours `AWS_LAMBDA_LOG_FORMAT` (JSON when the function
//! is configured for JSON logging, as template.yaml does) and `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`).

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
