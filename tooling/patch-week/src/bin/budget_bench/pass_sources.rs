//! Section 6: the two sources a per-instance pass could read, measured side by side against the same
//! simulated account (50 ms a call, 20 requests/s): every group's
//! `DescribeInstancePatchStatesForPatchGroup` pages, four groups at a time as the snapshot reads
//! them, at 5 and at 100 states a page; and one fleet-wide `ListResourceComplianceSummaries`
//! listing (ComplianceType Patch, 50 a page, one cursor, so one call at a time). Each reader runs
//! alone until it has read the fleet or its time is up; a reader that did not finish is projected at
//! the pace it held, and says so. Both count the stale instances they saw, so where both finish their
//! counts are compared.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::types::{ComplianceQueryOperatorType, ComplianceStringFilter};
use patchpilot_test_support::sdk_config_as;
use patchpilot_test_support::ssm_sim::Background;
use patchpilot_test_support::ssm_sim::generate::{GenerateOptions, generate};

/// The snapshot's stale limit (`STALE_AFTER_HOURS`' default).
const STALE_AFTER: Duration = Duration::from_secs(168 * 3600);
/// The snapshot's group concurrency (`CONCURRENCY`' default).
const GROUP_READERS: usize = 4;

/// What one reader did.
struct Reading {
    calls: u64,
    instances: u64,
    stale: u64,
    throttled: u64,
    wall: Duration,
    finished: bool,
}

fn stale(end: &aws_sdk_ssm::primitives::DateTime, now: i64) -> bool {
    now - end.secs() > STALE_AFTER.as_secs() as i64
}

async fn client(sim: &Background) -> aws_sdk_ssm::Client {
    let config = sdk_config_as(&sim.url, "bench").await;
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&config)
            .retry_config(RetryConfig::adaptive().with_max_attempts(10))
            .build(),
    )
}

fn throttled(sim: &Background) -> u64 {
    super::requests(sim).1
}

/// Every group's states, `GROUP_READERS` groups at a time, until done or `budget` is spent.
async fn group_pages(
    sim: &Background,
    groups: Vec<String>,
    budget: Duration,
) -> Result<Reading, String> {
    let ssm = client(sim).await;
    let queue = Arc::new(std::sync::Mutex::new(groups));
    let calls = Arc::new(AtomicU64::new(0));
    let instances = Arc::new(AtomicU64::new(0));
    let stale_seen = Arc::new(AtomicU64::new(0));
    let out_of_time = Arc::new(AtomicBool::new(false));
    let now = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let throttled_before = throttled(sim);
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..GROUP_READERS {
        let (ssm, queue, calls, instances, stale_seen, out_of_time) = (
            ssm.clone(),
            queue.clone(),
            calls.clone(),
            instances.clone(),
            stale_seen.clone(),
            out_of_time.clone(),
        );
        readers.spawn(async move {
            loop {
                let Some(group) = queue.lock().map_err(|e| e.to_string())?.pop() else {
                    return Ok::<(), String>(());
                };
                let mut token: Option<String> = None;
                loop {
                    if started.elapsed() >= budget {
                        out_of_time.store(true, Ordering::Relaxed);
                        return Ok(());
                    }
                    let answer = ssm
                        .describe_instance_patch_states_for_patch_group()
                        .patch_group(&group)
                        // Asked for the most; the account answers `page` (ledger row 30).
                        .max_results(100)
                        .set_next_token(token.take())
                        .send()
                        .await
                        .map_err(|e| format!("{group}: {e:?}"))?;
                    calls.fetch_add(1, Ordering::Relaxed);
                    for state in answer.instance_patch_states() {
                        instances.fetch_add(1, Ordering::Relaxed);
                        if stale(state.operation_end_time(), now) {
                            stale_seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    match answer.next_token {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
            }
        });
    }
    while let Some(joined) = readers.join_next().await {
        joined.map_err(|e| e.to_string())??;
    }
    Ok(Reading {
        calls: calls.load(Ordering::Relaxed),
        instances: instances.load(Ordering::Relaxed),
        stale: stale_seen.load(Ordering::Relaxed),
        throttled: throttled(sim) - throttled_before,
        wall: started.elapsed(),
        finished: !out_of_time.load(Ordering::Relaxed),
    })
}

/// The fleet's Patch compliance summaries, one page at a time, until done or `budget` is spent.
async fn compliance_summaries(sim: &Background, budget: Duration) -> Result<Reading, String> {
    let ssm = client(sim).await;
    let patch_only = ComplianceStringFilter::builder()
        .key("ComplianceType")
        .values("Patch")
        .r#type(ComplianceQueryOperatorType::Equal)
        .build();
    let now = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let throttled_before = throttled(sim);
    let mut reading = Reading {
        calls: 0,
        instances: 0,
        stale: 0,
        throttled: 0,
        wall: Duration::ZERO,
        finished: false,
    };
    let mut token: Option<String> = None;
    while started.elapsed() < budget {
        let answer = ssm
            .list_resource_compliance_summaries()
            .filters(patch_only.clone())
            .max_results(50)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListResourceComplianceSummaries: {e:?}"))?;
        reading.calls += 1;
        for item in answer.resource_compliance_summary_items() {
            reading.instances += 1;
            let end = item.execution_summary().map(|e| e.execution_time());
            if end.is_none_or(|end| stale(end, now)) {
                reading.stale += 1;
            }
        }
        match answer.next_token {
            Some(next) => token = Some(next),
            None => {
                reading.finished = true;
                break;
            }
        }
    }
    reading.throttled = throttled(sim) - throttled_before;
    reading.wall = started.elapsed();
    Ok(reading)
}

fn row(
    instances: usize,
    groups: usize,
    source: &str,
    page: i32,
    reading: &Reading,
    reporting: u64,
) {
    let pace = reading.instances as f64 / reading.wall.as_secs_f64().max(0.001);
    let whole = if reading.finished {
        format!("{:>7.0} s measured", reading.wall.as_secs_f64())
    } else {
        format!("{:>7.0} s projected", reporting as f64 / pace.max(0.001))
    };
    println!(
        "{instances:>9} {groups:>6}  {source:<34} {page:>4} {:>7} {:>9} {:>9} {:>7.0}s {:>8.0}  {whole}  stale {}",
        reading.calls,
        reading.throttled,
        reading.instances,
        reading.wall.as_secs_f64(),
        pace,
        reading.stale
    );
}

/// A simulated account serving `state` at 50 ms a call and 20 requests/s.
fn throttled_account(
    state: patchpilot_test_support::ssm_sim::state::State,
    seed: u64,
) -> Result<Background, String> {
    Background::start(state, super::throttled_faults(seed)).map_err(|e| e.to_string())
}

/// Section 6: each source at each fleet, with `budget` per reader.
pub async fn run(
    fleets: &[usize],
    groups: &[usize],
    seed: u64,
    budget: Duration,
) -> Result<(), String> {
    println!(
        "\n6. The per-instance pass's two sources: 50 ms per call, 20 requests/s, each reader alone for at most {} s (the rest projected at its pace)",
        budget.as_secs()
    );
    println!(
        "{:>9} {:>6}  {:<34} {:>4} {:>7} {:>9} {:>9} {:>8} {:>8}  {:<18}  stale seen",
        "instances",
        "groups",
        "source",
        "page",
        "calls",
        "throttled",
        "read",
        "wall",
        "inst/s",
        "whole fleet"
    );
    for &instances in fleets {
        for &group_count in groups {
            let mut state = generate(&GenerateOptions {
                seed,
                instances,
                groups: group_count,
                ..GenerateOptions::default()
            });
            let reporting = state
                .instances
                .values()
                .filter(|instance| instance.report.is_some())
                .count() as u64;
            let grouped_reporting = state
                .instances
                .values()
                .filter(|i| i.report.is_some() && i.patch_group.is_some())
                .count() as u64;
            let names: Vec<String> = state.group_members.keys().cloned().collect();
            let mut finished_stale = Vec::new();
            for page in [5, 100] {
                state.wide_group_pages = page == 100;
                let sim = throttled_account(state.clone(), seed)?;
                let reading = group_pages(&sim, names.clone(), budget).await?;
                row(
                    instances,
                    group_count,
                    "DescribeInstancePatchStatesFor…",
                    page,
                    &reading,
                    grouped_reporting,
                );
                if reading.finished {
                    finished_stale.push((
                        format!("group pages at {page}"),
                        reading.stale,
                        grouped_reporting,
                    ));
                }
            }
            let sim = throttled_account(state, seed)?;
            let reading = compliance_summaries(&sim, budget).await?;
            row(
                instances,
                group_count,
                "ListResourceComplianceSummaries",
                50,
                &reading,
                reporting,
            );
            if reading.finished {
                if reading.instances != reporting {
                    return Err(format!(
                        "ListResourceComplianceSummaries listed {} nodes; {reporting} have reported",
                        reading.instances
                    ));
                }
                // Every reporting node is in a group in the generated fleets, so both sources must
                // see the same stale nodes when both read everything.
                for (source, stale, read) in &finished_stale {
                    let agree = *read == reporting && *stale == reading.stale;
                    println!(
                        "{:>9} {:>6}  stale nodes: {source} {stale}, compliance summaries {}: {}",
                        "",
                        "",
                        reading.stale,
                        if agree { "agree" } else { "DISAGREE" }
                    );
                }
            }
        }
    }
    println!(
        "what each gives per node: the group pages every count (missing, failed, pending reboot, the \
         severity split) and the group; the summaries compliant or not, non-compliant patches by \
         compliance severity and the time of the last patch operation, for every node whatever its \
         group, but not missing against failed, and no group"
    );
    Ok(())
}
