//! Data points into PutMetricData calls: at most 1,000 data points and well under 1 MB per call.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime as SmithyDateTime;
use chrono::{DateTime, Utc};
use patchpilot_shared::FunctionError;

use crate::aggregate::{DataPoint, Unit};

/// PutMetricData's limit on data points per call.
pub const MAX_POINTS_PER_CALL: usize = 1000;
/// PutMetricData's payload limit is 1 MB; batches stay under this estimate of their encoded size.
pub const MAX_BATCH_BYTES: usize = 900 * 1024;
/// The dimension every data point carries.
pub const DIMENSION: &str = "PatchGroup";

/// A generous estimate of one data point's encoded size (names, value, unit, timestamp, framing).
pub fn estimated_bytes(point: &DataPoint) -> usize {
    point.metric.len() + DIMENSION.len() + point.patch_group.len() + 160
}

/// Splits `points` into batches within both limits, keeping their order.
pub fn batches(points: &[DataPoint]) -> Vec<&[DataPoint]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, point) in points.iter().enumerate() {
        let size = estimated_bytes(point);
        if index > start && (index - start == MAX_POINTS_PER_CALL || bytes + size > MAX_BATCH_BYTES)
        {
            batches.push(&points[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < points.len() {
        batches.push(&points[start..]);
    }
    batches
}

fn datum(point: &DataPoint, timestamp: DateTime<Utc>) -> MetricDatum {
    let unit = match point.unit {
        Unit::Count => StandardUnit::Count,
        Unit::Percent => StandardUnit::Percent,
        Unit::None => StandardUnit::None,
    };
    MetricDatum::builder()
        .metric_name(point.metric)
        .dimensions(
            Dimension::builder()
                .name(DIMENSION)
                .value(&point.patch_group)
                .build(),
        )
        .unit(unit)
        .value(point.value)
        .timestamp(SmithyDateTime::from_millis(timestamp.timestamp_millis()))
        .build()
}

/// Publishes every point (non-finite values are refused before they reach CloudWatch); returns the
/// number of calls made.
pub async fn publish(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    points: &[DataPoint],
    timestamp: DateTime<Utc>,
) -> Result<usize, FunctionError> {
    if let Some(bad) = points.iter().find(|p| !p.value.is_finite()) {
        return Err(FunctionError::Invariant(format!(
            "refusing to publish {} for {}: value {} is not finite",
            bad.metric, bad.patch_group, bad.value
        )));
    }
    let mut calls = 0;
    for batch in batches(points) {
        calls += 1;
        cloudwatch
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(batch.iter().map(|p| datum(p, timestamp)).collect()))
            .send()
            .await
            .map_err(|err| FunctionError::aws("cloudwatch:PutMetricData", err))?;
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(count: usize, group_len: usize) -> Vec<DataPoint> {
        (0..count)
            .map(|n| DataPoint {
                metric: "Instances",
                patch_group: format!("{n:0>width$}", width = group_len),
                unit: Unit::Count,
                value: n as f64,
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_a_thousand_points() {
        assert!(batches(&[]).is_empty());
        let exact = points(1000, 8);
        assert_eq!(batches(&exact).len(), 1);
        let over = points(1001, 8);
        let split = batches(&over);
        assert_eq!(split.iter().map(|b| b.len()).collect::<Vec<_>>(), [1000, 1]);
        let many = points(3500, 8);
        let split = batches(&many);
        assert_eq!(split.len(), 4);
        assert_eq!(split.iter().map(|b| b.len()).sum::<usize>(), 3500);
        assert_eq!(split[3][0].value, 3000.0, "order kept");
    }

    #[test]
    fn batches_stay_under_a_megabyte_with_long_group_names() {
        let long = points(3000, 256);
        for batch in batches(&long) {
            let bytes: usize = batch.iter().map(estimated_bytes).sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes}");
            assert!(batch.len() <= MAX_POINTS_PER_CALL);
        }
        assert_eq!(batches(&long).len(), 3);
        // Were names ever long enough, the byte limit splits before the count limit does.
        let huge = points(1000, 2000);
        let split = batches(&huge);
        assert!(split.len() > 1, "{}", split.len());
        assert_eq!(split.iter().map(|b| b.len()).sum::<usize>(), 1000);
    }
}
