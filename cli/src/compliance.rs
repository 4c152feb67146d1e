//! `patchpilot compliance`: the latest compliance per patch group, worst first, with the trend over
//! the last snapshots.

use serde_json::json;

use crate::clients::Clients;
use crate::error::CliError;
use crate::metrics::{self, FLEET, Series};
use crate::output::{Output, Style, Table, with_progress};
use crate::settings::Settings;

/// The last `n` figures, oldest first.
fn trend(series: &Series, n: usize) -> Vec<f64> {
    let skip = series.percent.len().saturating_sub(n);
    series.percent[skip..].iter().map(|(_, p)| *p).collect()
}

/// `88.0 → 92.5 → 95.0 (+7.0)`.
fn trend_text(values: &[f64]) -> String {
    let steps: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    match (values.first(), values.last()) {
        (Some(first), Some(last)) if values.len() > 1 => {
            format!("{} ({:+.1})", steps.join(" → "), last - first)
        }
        _ => steps.join(""),
    }
}

/// Groups with a figure, worst first (ties by name); the fleet last.
fn ordered(series: Vec<Series>) -> Vec<Series> {
    let (mut groups, fleet): (Vec<Series>, Vec<Series>) = series
        .into_iter()
        .filter(|s| s.latest().is_some())
        .partition(|s| s.group != FLEET);
    groups.sort_by(|a, b| {
        let (pa, pb) = (a.latest().map(|l| l.1), b.latest().map(|l| l.1));
        pa.partial_cmp(&pb)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.group.cmp(&b.group))
    });
    groups.extend(fleet);
    groups
}

/// Runs `compliance`.
pub async fn run(
    clients: &Clients,
    settings: &Settings,
    snapshots: u32,
    style: Style,
) -> Result<Output, CliError> {
    // Enough history for `snapshots` snapshots at the configured interval, and one more interval.
    let minutes = i64::from(settings.snapshot_minutes) * (i64::from(snapshots) + 1);
    let series = with_progress("compliance metrics", async {
        let groups = metrics::groups(clients, &settings.namespace).await?;
        metrics::read(
            clients,
            &settings.namespace,
            &groups,
            minutes,
            metrics::Resolution::Snapshots,
        )
        .await
    })
    .await?;
    let rows = ordered(series);
    let mut table = Table::new(&["patch group", "compliant", "instances", "trend"]);
    let mut json_rows = Vec::new();
    for series in &rows {
        let Some((at, percent)) = series.latest() else {
            continue;
        };
        let values = trend(series, snapshots as usize);
        let figure = format!("{percent:.1} %");
        table.row(vec![
            series.group.clone(),
            if percent < 100.0 {
                style.warn(&figure)
            } else {
                style.good(&figure)
            },
            series
                .instances
                .map_or("?".to_owned(), |n| format!("{n:.0}")),
            trend_text(&values),
        ]);
        json_rows.push(json!({
            "patch_group": series.group,
            "compliance_percent": percent,
            "instances": series.instances,
            "at": at,
            "trend": values,
        }));
    }
    let text = if table.is_empty() {
        format!(
            "No compliance snapshot in namespace {} in the last {minutes} minutes.\n",
            settings.namespace
        )
    } else {
        format!(
            "{}\n{}",
            style.heading(&format!(
                "Compliance in {}, worst first (trend: last {snapshots} snapshots)",
                settings.namespace
            )),
            table.render(2)
        )
    };
    Ok(Output {
        text,
        json: json!({"namespace": settings.namespace, "groups": json_rows}),
        findings: false,
        incomplete: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn series(group: &str, values: &[f64]) -> Series {
        Series {
            group: group.into(),
            percent: values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        Utc.timestamp_opt(1_700_000_000 + i as i64 * 60, 0).unwrap(),
                        *v,
                    )
                })
                .collect(),
            instances: Some(10.0),
        }
    }

    #[test]
    fn worst_first_fleet_last_and_the_trend_reads_left_to_right() {
        let rows = ordered(vec![
            series(FLEET, &[90.0]),
            series("web", &[100.0, 80.0]),
            series("db", &[70.0, 95.0]),
            series("empty", &[]),
        ]);
        let names: Vec<&str> = rows.iter().map(|s| s.group.as_str()).collect();
        assert_eq!(names, ["web", "db", FLEET]);
        assert_eq!(trend_text(&trend(&rows[0], 5)), "100.0 → 80.0 (-20.0)");
        assert_eq!(trend(&series("x", &[1.0, 2.0, 3.0]), 2), [2.0, 3.0]);
        assert_eq!(trend_text(&[50.0]), "50.0");
    }
}
