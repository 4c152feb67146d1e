//! `patchpilot-budget-bench`: the functions against their time budgets, on this machine, printed as
//! tables. The release binaries run as Lambda runs them (a Runtime API with a real deadline), against
//! the SSM simulator (latency and a token-bucket rate limit) and LocalStack (behind a delaying proxy
//! where EC2 must be slow). Not a test: run `tooling/bench.sh budgets`.
//!
//! 1. Rate limit: compliance-snapshot at 10,000 instances, 50 ms per call, 20 requests/s, for each
//!    retry mode and group concurrency: how fast a throttled account is read, and what fails.
//! 2. Fleet scale under the budget: the snapshot at 100,000 and 500,000 instances in 200 and 1,000
//!    groups, at 5 and 100 states a page, 50 ms, 20 requests/s, its real 900 s timeout (or
//!    `--timeout-seconds`): groups published (counts), read in full, skipped, peak memory.
//! 3. The tagger's backfill slower than a lowered timeout: what each attempt tagged, and that the
//!    retries and the next run finish the rest.
//! 4. install-alerts' window summary for a 1,000-instance window at 50 ms per call, at the template's
//!    60 s timeout and at a lowered one.
//! 5. Deadlines at the configured memory: the snapshot given less time than 100,000 instances need,
//!    confined to the CPU Lambda gives the template's MemorySize (a cgroup quota), on a quiet and
//!    on a busy machine: does it answer before the deadline with what it read?
//! 6. The per-instance pass's two sources, measured: every group's patch-state pages (at 5 and 100
//!    a page) against one fleet-wide ListResourceComplianceSummaries listing (`pass_sources`).

mod pass_sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use clap::Parser;
use patch_week::launch;
use patchpilot_test_support::lambda_host::FunctionHost;
use patchpilot_test_support::recorder::{Recorder, RecordingProxy, Upstreams};
use patchpilot_test_support::resources::{create_table, topic_with_queue};
use patchpilot_test_support::ssm_sim::Background;
use patchpilot_test_support::ssm_sim::faults::FaultSettings;
use patchpilot_test_support::ssm_sim::generate::{GenerateOptions, generate};
use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
use patchpilot_test_support::{LocalAws, REGION, sdk_config_as, unique_name};
use serde_json::{Value, json};

const RSS_TARGET_MB: f64 = 64.0;

#[derive(Parser)]
#[command(
    about = "Time budgets: rate limits, fleet scale at the timeout, resumable backfill, summaries"
)]
struct Args {
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Sections to run (1 rate limit, 2 fleet scale, 3 backfill, 4 summary, 5 deadlines at the
    /// configured memory, 6 the per-instance pass's sources); all by default.
    #[arg(long, value_delimiter = ',', default_values_t = [1u8, 2, 3, 4, 5, 6])]
    sections: Vec<u8>,
    /// Fleets for section 2.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000usize, 500_000])]
    fleets: Vec<usize>,
    /// The snapshot's timeout in section 2, in seconds (the template's is 900).
    #[arg(long, default_value_t = 900)]
    timeout_seconds: u64,
    /// Patch groups per fleet for section 2.
    #[arg(long, value_delimiter = ',', default_values_t = [200usize, 1_000])]
    groups: Vec<usize>,
    /// Instance patch states per DescribeInstancePatchStatesForPatchGroup page, for sections 1
    /// and 2: 5 (the service model's output cap, the simulator's default) and/or 100 (ledger row 30).
    #[arg(long, value_delimiter = ',', default_values_t = [5usize, 100])]
    group_pages: Vec<usize>,
    /// Section 2: the snapshot's `COMPLIANCE_SUMMARIES` (auto, always, never).
    #[arg(long, default_value = "auto")]
    summaries: String,
    /// Group concurrencies for section 1.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16])]
    concurrency: Vec<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Section 5: the lowered timeout, in seconds (long enough that reading starts: the reserve for
    /// publishing 200 groups and the margin take 10 s).
    #[arg(long, default_value_t = 30)]
    deadline_seconds: u64,
    /// Section 5: runs on each of a quiet and a busy machine.
    #[arg(long, default_value_t = 3)]
    deadline_runs: usize,
    /// Section 6: fleets whose per-instance sources are measured.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 500_000])]
    pass_fleets: Vec<usize>,
    /// Section 6: patch groups in each fleet.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize])]
    pass_groups: Vec<usize>,
    /// Section 6: seconds each reader may read before the rest is projected at its pace.
    #[arg(long, default_value_t = 120)]
    pass_seconds: u64,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "budget", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "000000000000", "time": chrono::Utc::now().to_rfc3339(), "region": REGION,
           "resources": [], "detail": {}})
}

fn base_env(aws: &LocalAws, sim: &Background) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".to_owned(), aws.localstack_url.clone()),
        ("AWS_ENDPOINT_URL_SSM".to_owned(), sim.url.clone()),
        // The simulated fleet exists in EC2 too (the simulator's EC2 face, ledger row 35), as a live
        // account's does: LocalStack could not hold 500,000 instances.
        ("AWS_ENDPOINT_URL_EC2".to_owned(), sim.url.clone()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
            aws.dynamodb_url.clone(),
        ),
        ("AWS_REGION".to_owned(), REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
    ]
}

/// One snapshot run through the release binary; returns (summary or error text, wall, rss MB).
async fn snapshot_run(
    bin_dir: &Path,
    env: Vec<(String, String)>,
    timeout: Duration,
) -> Result<(Result<Value, String>, Duration, f64), String> {
    let mut host = FunctionHost::start(
        "compliance-snapshot",
        &bin_dir.join("compliance-snapshot"),
        &env,
        snapshot_memory_mb()?,
        timeout,
        &std::env::temp_dir().join("patchpilot-budget-bench"),
    )
    .await?;
    host.wait_ready(Duration::from_secs(10)).await?;
    if patchpilot_test_support::cpu_share::CpuShare::available() {
        host.confine_to_lambda_cpu().map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let outcome = host.invoke(scheduled()).await.map_err(|e| e.to_string());
    let wall = started.elapsed();
    let rss = host.peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
    Ok((outcome, wall, rss))
}

/// The throttled account the budgets are measured in: 50 ms a call, 20 requests/s.
fn throttled_faults(seed: u64) -> FaultSettings {
    FaultSettings {
        latency_ms: 50,
        rate_limit: 20.0,
        seed,
        ..FaultSettings::default()
    }
}

fn requests(sim: &Background) -> (u64, u64) {
    let stats = sim.app.faults.stats();
    (
        stats.values().map(|s| s.requests).sum(),
        stats.values().map(|s| s.throttled).sum(),
    )
}

/// Section 1: retry mode × concurrency against a 20 requests/s limit.
async fn rate_limit(args: &Args, aws: &LocalAws) -> Result<(), String> {
    println!(
        "\n1. Rate limit: compliance-snapshot, 10,000 instances in 50 groups, 50 ms per call, 20 requests/s, {}",
        cpu_said()?
    );
    println!(
        "{:<9} {:>11} {:>7} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "retry", "concurrency", "calls", "throttled", "ok calls/s", "failed", "wall", "complete"
    );
    for page in &args.group_pages {
        println!("{page} instance patch states a page");
        let mut state = generate(&GenerateOptions {
            seed: args.seed,
            instances: 10_000,
            groups: 50,
            ..GenerateOptions::default()
        });
        state.wide_group_pages = *page == 100;
        let sim = Background::start(state, FaultSettings::default()).map_err(|e| e.to_string())?;
        for mode in ["standard", "adaptive"] {
            for concurrency in &args.concurrency {
                sim.app.faults.set(throttled_faults(args.seed));
                sim.app.faults.reset_stats();
                let mut env = base_env(aws, &sim);
                env.extend([
                    ("METRIC_NAMESPACE".to_owned(), "BudgetRate".to_owned()),
                    ("RETRY_MODE".to_owned(), mode.to_owned()),
                    ("CONCURRENCY".to_owned(), concurrency.to_string()),
                ]);
                let (outcome, wall, _) =
                    snapshot_run(&args.bin_dir, env, Duration::from_secs(900)).await?;
                let (calls, throttled) = requests(&sim);
                let (failed, complete) = match &outcome {
                    Ok(summary) => (
                        summary["groups_failed"]
                            .as_array()
                            .map_or(0, Vec::len)
                            .to_string(),
                        summary["complete"].to_string(),
                    ),
                    Err(err) => (
                        format!("error: {}", err.chars().take(60).collect::<String>()),
                        "-".to_owned(),
                    ),
                };
                println!(
                    "{mode:<9} {concurrency:>11} {calls:>7} {throttled:>10} {:>10.1} {failed:>9} {:>7.1}s {complete:>8}",
                    (calls - throttled) as f64 / wall.as_secs_f64(),
                    wall.as_secs_f64()
                );
            }
        }
    }
    Ok(())
}

/// Section 2: the snapshot at fleet scale inside its real timeout.
async fn fleet_scale(args: &Args, aws: &LocalAws) -> Result<(), String> {
    println!(
        "\n2. Fleet scale under the budget: compliance-snapshot, 50 ms per call, 20 requests/s, {} s timeout, defaults, {}",
        args.timeout_seconds,
        cpu_said()?
    );
    println!(
        "{:>9} {:>7} {:>5} {:>7} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  target",
        "instances",
        "groups",
        "page",
        "calls",
        "throttled",
        "wall",
        "published",
        "detailed",
        "exact",
        "skipped",
        "inventory",
        "rss"
    );
    let runs = args.fleets.iter().flat_map(|instances| {
        args.groups.iter().flat_map(move |groups| {
            args.group_pages
                .iter()
                .map(move |page| (*instances, *groups, *page))
        })
    });
    for (instances, groups, page) in runs {
        let instances = &instances;
        let generated = Instant::now();
        let mut state = generate(&GenerateOptions {
            seed: args.seed,
            instances: *instances,
            groups,
            ..GenerateOptions::default()
        });
        state.wide_group_pages = page == 100;
        let generated = generated.elapsed();
        let sim =
            Background::start(state, throttled_faults(args.seed)).map_err(|e| e.to_string())?;
        let mut env = base_env(aws, &sim);
        env.push(("METRIC_NAMESPACE".to_owned(), format!("Budget{instances}")));
        env.push(("COMPLIANCE_SUMMARIES".to_owned(), args.summaries.clone()));
        let (outcome, wall, rss) = snapshot_run(
            &args.bin_dir,
            env,
            Duration::from_secs(args.timeout_seconds),
        )
        .await?;
        let (calls, throttled) = requests(&sim);
        let summary = outcome.map_err(|e| format!("snapshot at {instances}: {e}"))?;
        let published = summary["groups_published"].as_array().map_or(0, Vec::len);
        let skipped = summary["groups_skipped_for_time"]
            .as_array()
            .map_or(0, Vec::len);
        let detail_skipped = summary["groups_detail_skipped"]
            .as_array()
            .map_or(0, Vec::len);
        let detailed = published - detail_skipped.min(published);
        // Exact compliance: read in full, or from the compliance summaries, or counts that fix it.
        let estimated = summary["groups_estimated"].as_array().map_or(0, Vec::len);
        let exact = published - estimated.min(published);
        let summaries = &summary["compliance_summaries"];
        let summaries = if summaries["complete"] == true {
            format!(
                "compliance summaries: {} nodes, {} groups; ",
                summaries["nodes"], summaries["groups_used"]
            )
        } else if let Some(why) = summaries["unused_because"].as_str() {
            format!("compliance summaries not used: {why}; ")
        } else {
            String::new()
        };
        let inventory = if summary["inventory_skipped_for_time"] == true {
            "skipped"
        } else {
            "done"
        };
        let full = published == groups && inventory == "done";
        println!(
            "{instances:>9} {groups:>7} {page:>5} {calls:>7} {throttled:>10} {:>7.0}s {published:>9} {detailed:>9} {exact:>9} {skipped:>9} {inventory:>9} {rss:>6.1} MB  rss {} / alarmed figures of every group: {} / every figure: {}  ({summaries}publishing {} ms of {} ms kept beyond the margin, {} points cut; fleet generated in {:.0} s)",
            wall.as_secs_f64(),
            verdict(rss < RSS_TARGET_MB),
            verdict(published == groups),
            verdict(full && detailed == groups),
            summary["publish_ms"],
            summary["publish_reserve_ms"],
            summary["points_cut_for_time"],
            generated.as_secs_f64()
        );
    }
    Ok(())
}

/// Instances carrying `Patch Group` in the account `ec2` speaks for.
async fn tagged(ec2: &aws_sdk_ec2::Client) -> Result<usize, String> {
    let mut count = 0;
    let mut pages = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag-key")
                .values("Patch Group")
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| format!("DescribeInstances: {e}"))?;
        count += page
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
    }
    Ok(count)
}

/// Section 3: a backfill slower than its (lowered) timeout, attempt by attempt.
async fn backfill(args: &Args, aws: &LocalAws) -> Result<(), String> {
    let count = 4_000;
    let access_key = format!("{:012}", fastrand::u64(100_000_000_000..999_999_999_999));
    // An account of its own in LocalStack; the tagger's binary is given the same key below.
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config_as(&aws.localstack_url, &access_key).await);
    for _ in 0..count / 1000 {
        launch(&ec2, 1000, &[("Environment", "staging")], false).await?;
    }
    let started = Instant::now();
    ec2.describe_instances()
        .send()
        .await
        .map_err(|e| format!("DescribeInstances: {e}"))?;
    let read = started.elapsed();
    // LocalStack answers every instance in one page, so the run is cut inside the page: CreateTags
    // slower than the read varies, and a timeout that fits the read and two CreateTags calls (of the
    // four) after the 3 s margin, but never three.
    let delay = Duration::from_secs(4) + read / 2;
    let timeout = Duration::from_secs(3) + read.mul_f64(1.2) + delay.mul_f64(2.5);
    println!(
        "\n3. Backfill slower than its timeout: {count} untagged instances, CreateTags answering in {} s (a delaying proxy before LocalStack), timeout lowered to {:.1} s",
        delay.as_secs(),
        timeout.as_secs_f64()
    );
    println!(
        "{:<22} {:<34} {:>13} {:>13} {:>8}",
        "invocation", "outcome", "tagged by it", "tagged total", "wall"
    );
    let proxy = RecordingProxy::start_delayed(
        "patch-group-tagger",
        Upstreams {
            ssm: String::new(),
            dynamodb: String::new(),
            localstack: aws.localstack_url.clone(),
        },
        Recorder::default(),
        BTreeMap::from([("CreateTags".to_owned(), delay)]),
    )
    .await?;
    let env = vec![
        ("TAG_RULES".to_owned(), r#"[{"name":"staging","patch_group":"staging","match":{"tags":{"Environment":"staging"}}}]"#.to_owned()),
        ("AWS_ENDPOINT_URL".to_owned(), proxy.url.clone()),
        ("AWS_REGION".to_owned(), REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), access_key),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
    ];
    let host = FunctionHost::start(
        "patch-group-tagger",
        &args.bin_dir.join("patch-group-tagger"),
        &env,
        256,
        timeout,
        &std::env::temp_dir().join("patchpilot-budget-bench"),
    )
    .await?;
    host.wait_ready(Duration::from_secs(10)).await?;
    let mut before = tagged(&ec2).await?;
    for run in 1..=3 {
        // One scheduled event, delivered asynchronously: Lambda retries an error twice.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let outcome = host.invoke(scheduled()).await;
            let wall = started.elapsed();
            let now = tagged(&ec2).await?;
            let text = match &outcome {
                Ok(report) => format!(
                    "ok, complete: {}",
                    report["complete"].as_bool().unwrap_or(false)
                ),
                Err(err) => err.error_type.clone(),
            };
            println!(
                "{:<22} {text:<34} {:>13} {:>13} {:>7.1}s",
                format!("schedule {run}, attempt {attempt}"),
                now - before,
                now,
                wall.as_secs_f64()
            );
            before = now;
            if outcome.is_ok() || attempt == 3 {
                break;
            }
        }
        if before == count {
            break;
        }
    }
    println!(
        "every instance tagged: {} ({before} of {count}); a run that stops for time keeps what it wrote",
        verdict(before == count)
    );
    Ok(())
}

/// Section 4: the window summary of a 1,000-instance window that failed everywhere.
async fn summary(args: &Args, aws: &LocalAws) -> Result<(), String> {
    println!(
        "\n4. install-alerts' window summary: 1,000 instances failed in one window run, 50 ms per call"
    );
    println!(
        "{:>8} {:>7} {:>24} {:>9} {:>10} {:>8}",
        "timeout", "calls", "ListCommandInvocations", "complete", "not named", "wall"
    );
    let mut state = generate(&GenerateOptions {
        seed: args.seed,
        instances: 1000,
        groups: 1,
        failed: 0.0,
        missing: 1.0,
        never_reported: 0.0,
        stale: 0.0,
        ..GenerateOptions::default()
    });
    let window: patchpilot_test_support::ssm_sim::state::Window = serde_json::from_value(json!({
        "id": "mw-0c50858d01ff4a3b7", "name": "fleet", "enabled": true,
        "schedule": "cron(0 2 ? * THU *)", "duration": 3, "cutoff": 1,
        "targets": [{"id": "4c0f0e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5e", "patch_groups": ["pg-0000"]}],
        "tasks": [{"id": "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7e", "document": "AWS-RunPatchBaseline",
                   "kind": "patch", "operation": "Install"}],
        "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z"
    }))
    .map_err(|e| e.to_string())?;
    state.windows.insert(window.id.clone(), window);
    let outcomes = state
        .instances
        .keys()
        .map(|id| {
            let outcome: InstanceOutcome =
                serde_json::from_value(json!({"status": "Failed"})).map_err(|e| e.to_string())?;
            Ok((id.clone(), outcome))
        })
        .collect::<Result<_, String>>()?;
    let request = RunRequest {
        window_id: "mw-0c50858d01ff4a3b7".into(),
        outcomes,
        status: None,
        verification: None,
        start: Some(chrono::Utc::now() - chrono::Duration::minutes(30)),
        duration_minutes: 20,
        alarm_states: Default::default(),
        override_lists: Default::default(),
    };
    let run = run_window(
        &mut state,
        request,
        &mut fastrand::Rng::with_seed(args.seed),
    )?;
    let event = run
        .events
        .into_iter()
        .find(|e| e["detail-type"] == "Maintenance Window Execution State-change Notification")
        .ok_or("the run sent no window event")?;
    let sim = Background::start(state, FaultSettings::default()).map_err(|e| e.to_string())?;
    let config = aws.sdk_config().await;
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws.dynamodb_config().await);
    for timeout in [Duration::from_secs(60), Duration::from_secs(5)] {
        let name = unique_name("budget-alerts");
        let (topic, _queue) = topic_with_queue(&sns, &sqs, &name).await;
        create_table(&dynamodb, &name).await;
        sim.app.faults.set(FaultSettings {
            latency_ms: 50,
            seed: args.seed,
            ..FaultSettings::default()
        });
        sim.app.faults.reset_stats();
        let mut env = base_env(aws, &sim);
        env.extend([
            ("ALERT_TOPIC_ARN".to_owned(), topic),
            ("STATE_TABLE".to_owned(), name),
            ("ALERT_STORM_THRESHOLD".to_owned(), "10".to_owned()),
        ]);
        let host = FunctionHost::start(
            "install-alerts",
            &args.bin_dir.join("install-alerts"),
            &env,
            128,
            timeout,
            &std::env::temp_dir().join("patchpilot-budget-bench"),
        )
        .await?;
        host.wait_ready(Duration::from_secs(10)).await?;
        let started = Instant::now();
        let outcome = host
            .invoke(event.clone())
            .await
            .map_err(|e| format!("window summary: {e}"))?;
        let wall = started.elapsed();
        let stats = sim.app.faults.stats();
        let calls: u64 = stats.values().map(|s| s.requests).sum();
        let listed = stats
            .get("ListCommandInvocations")
            .map_or(0, |s| s.requests);
        let incomplete = outcome["incomplete"].as_str().unwrap_or_default();
        let not_named = incomplete
            .split(" failed invocations were not named")
            .next()
            .filter(|_| !incomplete.is_empty())
            .and_then(|head| head.rsplit(' ').next())
            .unwrap_or("0")
            .to_owned();
        println!(
            "{:>7}s {calls:>7} {listed:>24} {:>9} {not_named:>10} {:>7.1}s  sent: {}",
            timeout.as_secs(),
            incomplete.is_empty(),
            wall.as_secs_f64(),
            verdict(outcome["outcome"] == "sent" && wall < timeout)
        );
    }
    Ok(())
}

/// The snapshot's MemorySize as template.yaml configures it.
fn snapshot_memory_mb() -> Result<u32, String> {
    let template = patchpilot_test_support::template::Template::load();
    let memory = &template.resource("ComplianceSnapshotFunction")["Properties"]["MemorySize"];
    memory
        .as_u64()
        .and_then(|mb| u32::try_from(mb).ok())
        .ok_or_else(|| format!("ComplianceSnapshotFunction's MemorySize is not a number: {memory}"))
}

/// Keeps both cores busy (the machine "busy" in section 5) until dropped.
struct BusyMachine {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyMachine {
    fn start(threads: usize) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for BusyMachine {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The CPU the snapshot's runs get, said once per section: Lambda's share for the template's
/// MemorySize where this machine lets the bench confine the process, else a full core.
fn cpu_said() -> Result<String, String> {
    let memory_mb = snapshot_memory_mb()?;
    Ok(
        if patchpilot_test_support::cpu_share::CpuShare::available() {
            format!(
                "{memory_mb} MB's CPU share ({:.3} of a core, a cgroup quota)",
                f64::from(memory_mb) / f64::from(patchpilot_test_support::cpu_share::MB_PER_VCPU)
            )
        } else {
            format!(
                "{memory_mb} MB but NOT confined (no writable cgroup v1 cpu controller): a full core"
            )
        },
    )
}

/// Section 5: a deadline the snapshot cannot meet in full, at the CPU its configured memory buys.
async fn deadlines(args: &Args, aws: &LocalAws) -> Result<(), String> {
    let memory_mb = snapshot_memory_mb()?;
    let timeout = Duration::from_secs(args.deadline_seconds);
    let confined = patchpilot_test_support::cpu_share::CpuShare::available();
    println!(
        "\n5. Deadlines at the configured memory: compliance-snapshot, 100,000 instances in 200 groups, 100 ms per call, {} s timeout, {memory_mb} MB ({})",
        timeout.as_secs(),
        if confined {
            format!(
                "confined to {:.3} of a core, Lambda's share for it",
                f64::from(memory_mb) / f64::from(patchpilot_test_support::cpu_share::MB_PER_VCPU)
            )
        } else {
            "NOT confined: no writable cgroup v1 cpu controller here, so a full core".to_owned()
        }
    );
    println!(
        "{:<8} {:>3} {:>8} {:>10} {:>9} {:>8} {:>10} {:>8} {:>10}  outcome",
        "machine",
        "run",
        "answered",
        "to spare",
        "published",
        "skipped",
        "points cut",
        "publish",
        "kept"
    );
    let mut state = generate(&GenerateOptions {
        seed: args.seed,
        instances: 100_000,
        groups: 200,
        ..GenerateOptions::default()
    });
    state.wide_group_pages = false;
    let sim = Background::start(
        state,
        FaultSettings {
            latency_ms: 100,
            seed: args.seed,
            ..FaultSettings::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let mut env = base_env(aws, &sim);
    env.push(("METRIC_NAMESPACE".to_owned(), "BudgetDeadline".to_owned()));
    let mut worst = Duration::MAX;
    for machine in ["quiet", "busy"] {
        for run in 1..=args.deadline_runs {
            let mut host = FunctionHost::start(
                "compliance-snapshot",
                &args.bin_dir.join("compliance-snapshot"),
                &env,
                memory_mb,
                timeout,
                &std::env::temp_dir().join("patchpilot-budget-bench"),
            )
            .await?;
            host.wait_ready(Duration::from_secs(10)).await?;
            if confined {
                host.confine_to_lambda_cpu().map_err(|e| e.to_string())?;
            }
            let busy = (machine == "busy").then(|| BusyMachine::start(2));
            let started = Instant::now();
            let outcome = host.invoke(scheduled()).await;
            let wall = started.elapsed();
            drop(busy);
            let spare = timeout.saturating_sub(wall);
            worst = worst.min(spare);
            let (published, skipped, cut, publish_ms, kept_ms, said) = match &outcome {
                Ok(summary) => (
                    summary["groups_published"].as_array().map_or(0, Vec::len),
                    summary["groups_skipped_for_time"]
                        .as_array()
                        .map_or(0, Vec::len),
                    summary["points_cut_for_time"].to_string(),
                    summary["publish_ms"].to_string(),
                    summary["publish_reserve_ms"].to_string(),
                    "answered in time".to_owned(),
                ),
                Err(err) => (0, 0, "-".into(), "-".into(), "-".into(), err.to_string()),
            };
            println!(
                "{machine:<8} {run:>3} {:>7.2}s {:>8} ms {published:>9} {skipped:>8} {cut:>10} {publish_ms:>5} ms {kept_ms:>7} ms  {} {said}",
                wall.as_secs_f64(),
                spare.as_millis(),
                verdict(outcome.is_ok() && wall < timeout)
            );
        }
    }
    println!(
        "least time to spare: {} ms of {} s",
        worst.as_millis(),
        timeout.as_secs()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    println!("patchpilot time-budget benchmarks (seed {})", args.seed);
    let result = async {
        let aws = LocalAws::start()?;
        for section in &args.sections {
            match section {
                1 => rate_limit(&args, &aws).await?,
                2 => fleet_scale(&args, &aws).await?,
                3 => backfill(&args, &aws).await?,
                4 => summary(&args, &aws).await?,
                5 => deadlines(&args, &aws).await?,
                6 => {
                    pass_sources::run(
                        &args.pass_fleets,
                        &args.pass_groups,
                        args.seed,
                        Duration::from_secs(args.pass_seconds),
                    )
                    .await?
                }
                other => return Err(format!("no section {other}; sections are 1 to 6")),
            }
        }
        Ok::<(), String>(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("patchpilot-budget-bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
