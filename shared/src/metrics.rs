//! Metrics through CloudWatch's Embedded Metric Format: one JSON line on stdout per report, which
//! CloudWatch Logs turns into metrics with no API call, no extra latency and no extra IAM.
//! Namespace `patchpilot`, dimension `Function`.

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of the functions' EMF metrics.
pub const NAMESPACE: &str = "patchpilot";

/// How finely CloudWatch stores a metric (EMF `StorageResolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// One-minute points (the default; alarms evaluate periods of 60 s or more).
    Standard,
    /// One-second points, for alarms with 10-second periods (the gate's brake: it engages within
    /// seconds of a close, and a close and an open share a period only if they share 10 seconds).
    High,
}

/// The EMF document for `metrics` (name, count) of `function`.
pub fn document(function: &str, metrics: &[(&str, f64)], timestamp_millis: i64) -> Value {
    document_with(
        function,
        &[],
        metrics,
        Resolution::Standard,
        timestamp_millis,
    )
}

/// The EMF document with dimensions beyond `Function` (e.g. the production window a gate guards).
pub fn document_with(
    function: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64)],
    resolution: Resolution,
    timestamp_millis: i64,
) -> Value {
    let mut dimension_names = vec!["Function"];
    dimension_names.extend(dimensions.iter().map(|(name, _)| *name));
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| match resolution {
            Resolution::Standard => json!({"Name": name, "Unit": "Count"}),
            Resolution::High => json!({"Name": name, "Unit": "Count", "StorageResolution": 1}),
        })
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".to_owned(),
        json!({"Timestamp": timestamp_millis, "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dimension_names], "Metrics": definitions}]}),
    );
    root.insert("Function".to_owned(), json!(function));
    for (name, value) in dimensions {
        root.insert((*name).to_owned(), json!(value));
    }
    for (name, value) in metrics {
        // Non-finite values are not valid EMF; they are reported as 0 rather than breaking the line.
        root.insert(
            (*name).to_owned(),
            json!(if value.is_finite() { *value } else { 0.0 }),
        );
    }
    Value::Object(root)
}

/// Lambda's log levels, lowest first (Lambda developer guide, "Log-level filtering").
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The `level` an EMF line carries so that Lambda's log-level filter keeps it.
///
/// With JSON logs and an application log level, Lambda drops every record below that level, and "if
/// the level value field is invalid or missing, Lambda will assign the log output the level INFO": at
/// WARN an EMF line without a level would be dropped, and every alarm on it would go blind. A metric
/// line is therefore logged at the function's configured level (`AWS_LAMBDA_LOG_LEVEL`, which Lambda
/// sets from the function's application log level), never below INFO.
pub fn level_for(configured: Option<&str>) -> &'static str {
    let rank = |level: &str| LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level));
    let info = 2;
    match configured.and_then(rank) {
        Some(rank) if rank > info => LEVELS[rank],
        _ => LEVELS[info],
    }
}

/// Prints the EMF line. Nothing is printed for an empty list, or when `PATCHPILOT_EMF=off` (for tools
/// that run a handler in-process and print their own narrative, such as the patch week).
pub fn emit(function: &str, metrics: &[(&str, f64)]) {
    emit_with(function, &[], metrics, Resolution::Standard);
}

/// [`emit`] with extra dimensions.
pub fn emit_with(
    function: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64)],
    resolution: Resolution,
) {
    if metrics.is_empty()
        || std::env::var("PATCHPILOT_EMF").is_ok_and(|value| value.eq_ignore_ascii_case("off"))
    {
        return;
    }
    let mut line = document_with(
        function,
        dimensions,
        metrics,
        resolution,
        chrono::Utc::now().timestamp_millis(),
    );
    let configured = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    line["level"] = json!(level_for(configured.as_deref()));
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_declares_every_metric_it_carries() {
        let doc = document(
            "patch-group-tagger",
            &[("InstancesTagged", 3.0), ("InstancesSkipped", f64::NAN)],
            1_790_000_000_000,
        );
        let declared: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, ["InstancesTagged", "InstancesSkipped"]);
        assert_eq!(doc["InstancesTagged"], 3.0);
        assert_eq!(doc["InstancesSkipped"], 0.0);
        assert_eq!(doc["Function"], "patch-group-tagger");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "patchpilot"
        );
    }

    /// Lambda's documented filter: a record is kept when its level is at or above the configured one;
    /// a record without a (valid) level counts as INFO.
    fn lambda_keeps(record: &Value, configured: &str) -> bool {
        let rank = |level: &str| LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level));
        let level = record["level"].as_str().and_then(rank).unwrap_or(2);
        rank(configured).is_some_and(|configured| level >= configured)
    }

    #[test]
    fn metric_lines_survive_every_configured_log_level() {
        for configured in LEVELS {
            let mut line = document("install-alerts", &[("SummariesIncomplete", 1.0)], 1);
            assert!(
                configured == "TRACE"
                    || configured == "DEBUG"
                    || configured == "INFO"
                    || !lambda_keeps(&line, configured),
                "a line without a level is dropped at {configured}: the reason for the level"
            );
            line["level"] = json!(level_for(Some(configured)));
            assert!(lambda_keeps(&line, configured), "dropped at {configured}");
        }
        assert_eq!(level_for(None), "INFO");
        assert_eq!(level_for(Some("debug")), "INFO");
        assert_eq!(level_for(Some("WARN")), "WARN");
        assert_eq!(level_for(Some("nonsense")), "INFO");
    }

    #[test]
    fn extra_dimensions_are_declared_and_carried() {
        let doc = document_with(
            "patch-gate",
            &[("ProductionWindow", "mw-0d61969e12ee5b4c2")],
            &[("GateOpen", 1.0)],
            Resolution::High,
            1,
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "ProductionWindow"]])
        );
        assert_eq!(doc["ProductionWindow"], "mw-0d61969e12ee5b4c2");
        assert_eq!(doc["GateOpen"], 1.0);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"], 1,
            "the brake's alarm evaluates 10-second periods, which need high-resolution points"
        );
        let standard = document("install-alerts", &[("AlertsSent", 1.0)], 1);
        assert!(
            standard["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]
                .get("StorageResolution")
                .is_none()
        );
    }
}
