//! CloudWatch Logs' side of the Embedded Metric Format, which LocalStack lacks: in an account, a
//! function's log record carrying `_aws.CloudWatchMetrics` becomes metric data with no API call. Here
//! a forwarder reads what the function hosts wrote to their log files, keeps what Lambda's log-level
//! filter keeps, and sends each metric to LocalStack with PutMetricData, so alarms on the functions'
//! EMF metrics (the gate's brake among them) evaluate as they would in an account.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde_json::Value;

/// Lambda's levels, lowest first (Lambda developer guide, "Log-level filtering").
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

fn rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// Whether Lambda keeps `record` at the application log level `configured`: its `level` (INFO when
/// missing or invalid) at or above it.
pub fn lambda_keeps(record: &Value, configured: &str) -> bool {
    let level = record["level"].as_str().and_then(rank).unwrap_or(2);
    rank(configured).is_some_and(|configured| level >= configured)
}

/// The metric data one EMF record declares: (namespace, datum) for every metric of every directive,
/// with the directive's dimensions read from the record. Anything else yields nothing.
pub fn metric_data(record: &Value) -> Vec<(String, MetricDatum)> {
    let timestamp = record["_aws"]["Timestamp"].as_i64();
    let mut data = Vec::new();
    for directive in record["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(namespace) = directive["Namespace"].as_str() else {
            continue;
        };
        let dimension_sets: Vec<Vec<&str>> = directive["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|set| {
                set.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect()
            })
            .collect();
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let Some(name) = metric["Name"].as_str() else {
                continue;
            };
            let Some(value) = record[name].as_f64() else {
                continue;
            };
            for set in &dimension_sets {
                let mut datum =
                    MetricDatum::builder()
                        .metric_name(name)
                        .value(value)
                        .unit(StandardUnit::from(
                            metric["Unit"].as_str().unwrap_or("None"),
                        ));
                if let Some(millis) = timestamp {
                    datum = datum.timestamp(DateTime::from_millis(millis));
                }
                if let Some(resolution) = metric["StorageResolution"]
                    .as_i64()
                    .and_then(|r| i32::try_from(r).ok())
                {
                    datum = datum.storage_resolution(resolution);
                }
                for dimension in set {
                    if let Some(value) = record[*dimension].as_str() {
                        datum = datum
                            .dimensions(Dimension::builder().name(*dimension).value(value).build());
                    }
                }
                data.push((namespace.to_owned(), datum.build()));
            }
        }
    }
    data
}

/// Forwards the EMF records appended to `logs` (kept at `level`) to `cloudwatch`, twice a second,
/// until the task is aborted.
pub fn forward(
    logs: Vec<PathBuf>,
    level: String,
    cloudwatch: aws_sdk_cloudwatch::Client,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut read = vec![0usize; logs.len()];
        loop {
            for (path, offset) in logs.iter().zip(read.iter_mut()) {
                let Ok(text) = std::fs::read(path) else {
                    continue;
                };
                // Only whole lines: a record still being written is read next time.
                let Some(end) = text.iter().rposition(|byte| *byte == b'\n') else {
                    continue;
                };
                if end < *offset {
                    continue;
                }
                let appended = String::from_utf8_lossy(&text[*offset..=end]).into_owned();
                *offset = end + 1;
                for line in appended.lines() {
                    let Ok(record) = serde_json::from_str::<Value>(line) else {
                        continue;
                    };
                    if record.get("_aws").is_none() || !lambda_keeps(&record, &level) {
                        continue;
                    }
                    for (namespace, datum) in metric_data(&record) {
                        // A metric lost here would show as an alarm that never fires: say so.
                        if let Err(err) = cloudwatch
                            .put_metric_data()
                            .namespace(namespace)
                            .metric_data(datum)
                            .send()
                            .await
                        {
                            eprintln!("EMF forwarder: cloudwatch:PutMetricData: {err:?}");
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_filter_is_lambdas() {
        assert!(
            !lambda_keeps(&json!({"_aws": {}}), "WARN"),
            "no level counts as INFO"
        );
        assert!(lambda_keeps(&json!({"_aws": {}}), "INFO"));
        assert!(lambda_keeps(&json!({"level": "WARN"}), "WARN"));
        assert!(!lambda_keeps(&json!({"level": "nonsense"}), "WARN"));
        assert!(lambda_keeps(&json!({"level": "ERROR"}), "WARN"));
    }

    #[test]
    fn every_declared_metric_becomes_a_datum_with_its_dimensions() {
        let record = patchpilot_shared::metrics::document_with(
            "patch-gate",
            &[("ProductionWindow", "mw-0d61969e12ee5b4c2")],
            &[("GateOpen", 0.0)],
            patchpilot_shared::metrics::Resolution::High,
            1_790_000_000_000,
        );
        let data = metric_data(&record);
        assert_eq!(data.len(), 1);
        let (namespace, datum) = &data[0];
        assert_eq!(namespace, "patchpilot");
        assert_eq!(datum.metric_name(), Some("GateOpen"));
        assert_eq!(datum.value(), Some(0.0));
        assert_eq!(datum.storage_resolution(), Some(1));
        let dimensions: Vec<(&str, &str)> = datum
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(
            dimensions,
            [
                ("Function", "patch-gate"),
                ("ProductionWindow", "mw-0d61969e12ee5b4c2")
            ]
        );
        assert!(metric_data(&json!({"message": "no metrics"})).is_empty());
    }
}
