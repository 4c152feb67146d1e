//! Data points into PutMetricData calls: at most 1,000 data points and well under 1 MB per call.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime as SmithyDateTime;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use patchpilot_shared::FunctionError;
use patchpilot_shared::budget::Budget;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

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

/// PutMetricData calls in flight at once: CloudWatch takes about 500 a second.
pub const PUBLISH_CONCURRENCY: usize = 8;

/// What one PutMetricData call of up to 1,000 points is allowed when the time for publishing is
/// kept. AWS publishes no latency for it; measured against LocalStack, the slower case: 1.3 s per
/// 1,000 points one call at a time into a fresh namespace, 3.3 s each with eight in flight into a
/// namespace already holding 1,000 groups (`tooling/bench.sh budgets`, `publish_ms`). The reserve
/// takes the worse, calls one after another, so it holds where calls do not overlap.
pub const PUBLISH_PER_CALL: Duration = Duration::from_millis(3500);

/// The time to keep for publishing `points` data points after the reads stop, beyond the budget's
/// `margin`: the margin is there for a call or two (`patchpilot_shared::budget::MIN_MARGIN`), so the
/// first call is its; every further call is allowed [`PUBLISH_PER_CALL`], one after another, and
/// what the margin has beyond its first call counts against them.
pub fn publish_reserve(points: usize, margin: Duration) -> Duration {
    let further = points.div_ceil(MAX_POINTS_PER_CALL).saturating_sub(1) as u32;
    let spare = margin.saturating_sub(PUBLISH_PER_CALL);
    (PUBLISH_PER_CALL * further).saturating_sub(spare)
}

/// What publishing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// PutMetricData calls that succeeded.
    pub calls: usize,
    /// Points not published because the deadline came first (the last batches: the fleet's and the
    /// alarmed figures go first).
    pub points_cut: usize,
}

/// Publishes every point (non-finite values are refused before they reach CloudWatch),
/// [`PUBLISH_CONCURRENCY`] calls at a time, in order: a batch not started or not finished by the
/// `budget`'s stop time is cut and counted, so the invocation still answers before its deadline.
pub async fn publish(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    points: &[DataPoint],
    timestamp: DateTime<Utc>,
    budget: &Budget,
) -> Result<Published, FunctionError> {
    if let Some(bad) = points.iter().find(|p| !p.value.is_finite()) {
        return Err(FunctionError::Invariant(format!(
            "refusing to publish {} for {}: value {} is not finite",
            bad.metric, bad.patch_group, bad.value
        )));
    }
    let permits = Arc::new(Semaphore::new(PUBLISH_CONCURRENCY));
    let mut calls = JoinSet::new();
    for batch in batches(points) {
        let size = batch.len();
        let data: Vec<MetricDatum> = batch.iter().map(|p| datum(p, timestamp)).collect();
        let request = cloudwatch
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data));
        let (permits, budget) = (permits.clone(), *budget);
        calls.spawn(async move {
            let sent = budget
                .run(async move {
                    let _permit = permits.acquire_owned().await;
                    request.send().await
                })
                .await;
            (size, sent)
        });
    }
    let mut published = Published::default();
    let mut first_error = None;
    while let Some(joined) = calls.join_next().await {
        let failed = match joined {
            Ok((_, Some(Ok(_)))) => {
                published.calls += 1;
                continue;
            }
            Ok((size, None)) => {
                published.points_cut += size;
                continue;
            }
            Ok((_, Some(Err(err)))) => FunctionError::aws("cloudwatch:PutMetricData", err),
            Err(err) => FunctionError::Invariant(format!("a PutMetricData call stopped: {err}")),
        };
        first_error.get_or_insert(failed);
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(published),
    }
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
    fn the_reserve_counts_every_call_beyond_the_margin() {
        let margin = Duration::from_secs(30);
        assert_eq!(publish_reserve(0, margin), Duration::ZERO);
        assert_eq!(
            publish_reserve(8_000, margin),
            Duration::ZERO,
            "8 calls fit in 30 s"
        );
        assert_eq!(
            publish_reserve(13_021, margin),
            Duration::from_millis(19_000),
            "14 calls at 3.5 s: 13 beyond the margin's own, less its 26.5 s to spare"
        );
        assert_eq!(
            publish_reserve(13_021, Duration::from_secs(6)),
            PUBLISH_PER_CALL * 13 - Duration::from_millis(2500)
        );
        assert_eq!(
            publish_reserve(1_000, Duration::from_secs(3)),
            Duration::ZERO,
            "the margin's own call"
        );
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
