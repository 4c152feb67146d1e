//! Structured logs. lambda_runtime's subscriber honours `AWS_LAMBDA_LOG_FORMAT` (JSON when the function
//! is configured for JSON logging, as template.yaml does) and `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`).
//!
//! A function's report (what an invocation did) is logged by [`report`] as a JSON *object* in a
//! record of Lambda's JSON log shape, so Logs Insights queries its fields (`report.counts.tagged`,
//! `report.complete`) directly, rather than as a JSON string inside one field.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The log record [`report`] prints in JSON format: Lambda's fields, the report as an object.
pub fn record(message: &str, report: Value, at: DateTime<Utc>) -> Value {
    json!({
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "level": "INFO",
        "message": message,
        "report": report,
    })
}

/// Logs `report` at INFO: in JSON format as one record with the report as an object; in text
/// format through the subscriber, the report as JSON text.
pub fn report(message: &str, report: &impl Serialize) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let value = serde_json::to_value(report).unwrap_or(Value::Null);
    let json_format = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    if json_format {
        println!("{}", record(message, value, Utc::now()));
    } else {
        tracing::info!(report = %value, "{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_report_is_an_object_in_a_lambda_shaped_record() {
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 3, 0, 0).unwrap();
        let line = record(
            "backfill finished",
            json!({"complete": false, "counts": {"tagged": 3}}),
            at,
        );
        assert_eq!(line["timestamp"], "2026-11-29T03:00:00.000Z");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "backfill finished");
        assert_eq!(
            line["report"]["counts"]["tagged"], 3,
            "queryable as a field, not inside a string"
        );
    }
}
