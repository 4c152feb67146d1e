//! The compliance snapshot as CloudWatch holds it: per patch group, `CompliancePercent` and
//! `Instances` over time (dimension `PatchGroup`; the fleet is `(fleet)`).

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Utc};
use patchpilot_shared::aws::time::to_utc;

use crate::clients::Clients;
use crate::error::CliError;

/// The fleet's `PatchGroup` dimension value.
pub const FLEET: &str = "(fleet)";
const DIMENSION: &str = "PatchGroup";
/// GetMetricData takes at most 500 queries per call.
const QUERIES_PER_CALL: usize = 500;

/// One patch group's snapshots, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The patch group (or [`FLEET`]).
    pub group: String,
    /// `CompliancePercent` per snapshot (minute), oldest first.
    pub percent: Vec<(DateTime<Utc>, f64)>,
    /// `Instances` at the latest snapshot.
    pub instances: Option<f64>,
}

impl Series {
    /// The latest snapshot's time and figure.
    pub fn latest(&self) -> Option<(DateTime<Utc>, f64)> {
        self.percent.last().copied()
    }
}

fn query(
    id: String,
    namespace: &str,
    metric: &str,
    group: &str,
    period: i32,
) -> Result<MetricDataQuery, CliError> {
    let dimension = Dimension::builder().name(DIMENSION).value(group).build();
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(dimension)
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(period)
        .stat("Maximum")
        .build();
    Ok(MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat)
        .return_data(true)
        .build())
}

/// The patch groups publishing `CompliancePercent` in `namespace` (the fleet included).
pub async fn groups(clients: &Clients, namespace: &str) -> Result<Vec<String>, CliError> {
    let mut groups = Vec::new();
    let mut pages = clients
        .cloudwatch
        .list_metrics()
        .namespace(namespace)
        .metric_name("CompliancePercent")
        .dimensions(DimensionFilter::builder().name(DIMENSION).build())
        .into_paginator()
        .send();
    while let Some(page) = pages
        .try_next()
        .await
        .map_err(|err| CliError::sdk("cloudwatch:ListMetrics", err))?
    {
        for metric in page.metrics() {
            groups.extend(
                metric
                    .dimensions()
                    .iter()
                    .filter(|d| d.name() == Some(DIMENSION))
                    .filter_map(|d| d.value().map(str::to_owned)),
            );
        }
    }
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// How finely [`read`] asks for points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// One point a minute: every snapshot.
    Snapshots,
    /// One point an hour (the hour's highest): a long look back for the latest figure, 60 times
    /// fewer points than by the minute (at most 168 a query over 7 days).
    Hourly,
}

impl Resolution {
    fn seconds(self) -> i32 {
        match self {
            Self::Snapshots => 60,
            Self::Hourly => 3600,
        }
    }
}

/// Every group's snapshots from the last `minutes`, at `resolution`.
pub async fn read(
    clients: &Clients,
    namespace: &str,
    groups: &[String],
    minutes: i64,
    resolution: Resolution,
) -> Result<Vec<Series>, CliError> {
    let period = resolution.seconds();
    let end = Utc::now();
    let start = end - chrono::Duration::minutes(minutes);
    let mut queries = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        queries.push(query(
            format!("p{i}"),
            namespace,
            "CompliancePercent",
            group,
            period,
        )?);
        queries.push(query(
            format!("n{i}"),
            namespace,
            "Instances",
            group,
            period,
        )?);
    }
    let mut values: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    for batch in queries.chunks(QUERIES_PER_CALL) {
        let mut pages = clients
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(batch.to_vec()))
            .start_time(SmithyTime::from_secs(start.timestamp()))
            .end_time(SmithyTime::from_secs(end.timestamp() + 60))
            .into_paginator()
            .send();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|err| CliError::sdk("cloudwatch:GetMetricData", err))?
        {
            for result in page.metric_data_results() {
                let Some(id) = result.id() else { continue };
                let points = values.entry(id.to_owned()).or_default();
                for (time, value) in result.timestamps().iter().zip(result.values()) {
                    if let Some(time) = to_utc(time) {
                        points.push((time, *value));
                    }
                }
            }
        }
    }
    Ok(groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let mut percent = values.remove(&format!("p{i}")).unwrap_or_default();
            percent.sort_by_key(|(time, _)| *time);
            let mut instances = values.remove(&format!("n{i}")).unwrap_or_default();
            instances.sort_by_key(|(time, _)| *time);
            Series {
                group: group.clone(),
                percent,
                instances: instances.last().map(|(_, n)| *n),
            }
        })
        .collect())
}
