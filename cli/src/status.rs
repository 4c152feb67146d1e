//! `patchpilot status`: the gate's latest decision with its checks, pins, approval or hold; the last
//! compliance snapshot and its age; the failure queue's depth.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::CliError;
use crate::metrics::{self, FLEET, Series};
use crate::output::{Output, Style, age, with_progress};
use crate::records;
use crate::settings::Settings;

/// How far back the last snapshot is looked for.
const SNAPSHOT_LOOKBACK_MINUTES: i64 = 7 * 24 * 60;

/// Whether the production window is enabled, as SSM says.
pub async fn window_enabled(clients: &Clients, window: &str) -> Result<bool, CliError> {
    Ok(clients
        .ssm
        .get_maintenance_window()
        .window_id(window)
        .send()
        .await
        .map_err(|err| CliError::sdk("ssm:GetMaintenanceWindow", err))?
        .enabled())
}

/// Messages waiting (and in flight) in the failure queue.
pub async fn queue_depth(clients: &Clients, queue_url: &str) -> Result<u64, CliError> {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|err| CliError::sdk("sqs:GetQueueAttributes", err))?;
    let count = |name: Name| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(count(Name::ApproximateNumberOfMessages)
        + count(Name::ApproximateNumberOfMessagesNotVisible))
}

/// The last snapshot: the fleet's series and the worst group's.
pub async fn last_snapshot(
    clients: &Clients,
    namespace: &str,
) -> Result<(Option<Series>, Option<Series>), CliError> {
    let groups = metrics::groups(clients, namespace).await?;
    let series = metrics::read(clients, namespace, &groups, SNAPSHOT_LOOKBACK_MINUTES).await?;
    let (fleet, groups): (Vec<Series>, Vec<Series>) =
        series.into_iter().partition(|s| s.group == FLEET);
    let worst = groups
        .into_iter()
        .filter(|s| s.latest().is_some())
        .min_by(|a, b| {
            let (a, b) = (a.latest().map(|l| l.1), b.latest().map(|l| l.1));
            a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
        });
    Ok((fleet.into_iter().next(), worst))
}

/// Runs `status`.
pub async fn run(clients: &Clients, settings: &Settings, style: Style) -> Result<Output, CliError> {
    let table = Settings::required(&settings.table, "--table")?;
    let staging = Settings::required(&settings.staging_window, "--staging-window")?;
    let production = Settings::required(&settings.production_window, "--production-window")?;
    let queue_url = Settings::required(&settings.failure_queue_url, "--failure-queue-url")?;
    let (latest, hold, enabled, snapshot, depth) =
        with_progress("the gate, the snapshot and the failure queue", async {
            tokio::join!(
                records::latest(clients, table, staging),
                records::hold(clients, table, staging),
                window_enabled(clients, production),
                last_snapshot(clients, &settings.namespace),
                queue_depth(clients, queue_url),
            )
        })
        .await;
    let (latest, hold, enabled, (fleet, worst), depth) =
        (latest?, hold?, enabled?, snapshot?, depth?);
    let now = Utc::now();
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    line(style.heading(&format!(
        "Production window {production} (staging {staging}{})",
        settings
            .staging_group
            .as_deref()
            .map(|g| format!(", group {g}"))
            .unwrap_or_default()
    )));
    line(format!(
        "  Window:     {}",
        if enabled {
            style.good("enabled")
        } else {
            style.bad("disabled")
        }
    ));
    if let Some(hold) = &hold {
        line(format!("  Hold:       {}", style.bad(&hold.describe())));
    }
    match &latest {
        None => line("  Gate:       no staging execution decided yet".to_owned()),
        Some(latest) => describe_decision(&mut line, latest, now, style),
    }
    line(String::new());
    let snapshot_json = match &fleet {
        Some(fleet) if fleet.latest().is_some() => {
            let (at, percent) = fleet.latest().unwrap_or((now, 0.0));
            line(style.heading(&format!(
                "Compliance ({}, last snapshot {} ago)",
                settings.namespace,
                age(now - at)
            )));
            line(format!(
                "  Fleet:       {percent:.1} % compliant of {} instances",
                fleet
                    .instances
                    .map_or("?".to_owned(), |n| format!("{n:.0}"))
            ));
            if let Some((group, (_, worst_percent))) = worst
                .as_ref()
                .and_then(|w| w.latest().map(|l| (&w.group, l)))
            {
                line(format!("  Worst group: {group} {worst_percent:.1} %"));
            }
            json!({
                "namespace": settings.namespace,
                "at": at,
                "age_seconds": (now - at).num_seconds(),
                "fleet_compliance_percent": percent,
                "fleet_instances": fleet.instances,
                "worst_group": worst.as_ref().and_then(|w| w.latest().map(|(_, p)| json!({"patch_group": w.group, "compliance_percent": p}))),
            })
        }
        _ => {
            line(style.heading(&format!("Compliance ({})", settings.namespace)));
            line(format!(
                "  {}",
                style.warn("no snapshot in the last 7 days")
            ));
            Value::Null
        }
    };
    line(String::new());
    line(format!(
        "Failure queue: {}",
        if depth == 0 {
            style.good("empty")
        } else {
            style.bad(&format!("{depth} message(s) waiting"))
        }
    ));
    let json = json!({
        "production_window": production,
        "staging_window": staging,
        "production_window_enabled": enabled,
        "hold": hold,
        "decision": latest.as_ref().map(|l| json!({
            "execution_id": l.execution_id,
            "execution_start": l.start,
            "open": l.open,
            "record": l.record,
        })),
        "snapshot": snapshot_json,
        "failure_queue_messages": depth,
    });
    Ok(Output {
        text,
        json,
        findings: false,
    })
}

/// A recorded RFC 3339 time.
fn time_of(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A recorded time as people read it (`2026-11-29 07:30 UTC`).
fn readable_time(value: &Value) -> String {
    time_of(value).map_or_else(
        || "?".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn describe_decision(
    line: &mut impl FnMut(String),
    latest: &records::Latest,
    now: DateTime<Utc>,
    style: Style,
) {
    let record = latest.record.clone().unwrap_or(Value::Null);
    let decided = time_of(&record["decided_at"]);
    line(format!(
        "  Gate:       {} for staging execution {}{}",
        if latest.open {
            style.good("OPEN")
        } else {
            style.bad("CLOSED")
        },
        latest.execution_id,
        decided
            .map(|t| format!(
                ", decided {} ({} ago)",
                t.format("%Y-%m-%d %H:%M UTC"),
                age(now - t)
            ))
            .unwrap_or_default()
    ));
    let approval = &record["approval"];
    if approval.is_object() {
        let over: Vec<&str> = approval["approved_over"]["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        line(format!(
            "  Approval:   by {} at {}: {}",
            approval["by"]["arn"].as_str().unwrap_or("?"),
            readable_time(&approval["at"]),
            approval["reason"].as_str().unwrap_or("")
        ));
        line(format!("              over: {}", over.join(", ")));
    }
    line("  Checks:".to_owned());
    for check in record["checks"].as_array().into_iter().flatten() {
        let passed = check["passed"].as_bool().unwrap_or(false);
        line(format!(
            "    [{}] {}: {}",
            if passed {
                style.good("pass")
            } else {
                style.bad("FAIL")
            },
            check["name"].as_str().unwrap_or("?"),
            check["detail"].as_str().unwrap_or("")
        ));
    }
    for pinned in record["pinned"].as_array().into_iter().flatten() {
        line(format!(
            "  Pinned:     {} ({}) to staging's {}",
            pinned["production_baseline_id"].as_str().unwrap_or("?"),
            pinned["operating_system"].as_str().unwrap_or("?"),
            pinned["staging_baseline_id"].as_str().unwrap_or("?")
        ));
        for cutoff in pinned["cutoffs"].as_array().into_iter().flatten() {
            line(format!(
                "              rule {}: {} -> ApproveUntilDate {}",
                cutoff["rule"],
                cutoff["staging"].as_str().unwrap_or("?"),
                cutoff["approve_until_date"].as_str().unwrap_or("?")
            ));
        }
    }
}
