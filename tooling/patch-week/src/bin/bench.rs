//! `patchpilot-bench`: cold start, warm latency, AWS calls per invocation, fleet scale and binary size,
//! measured on this machine against the simulator and LocalStack, printed as tables. Figures that miss
//! their target say so. Not a test: run `tooling/bench.sh`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use patch_week::world::World;
use patch_week::{
    PRODUCTION_BASELINE, PRODUCTION_WINDOW, STAGING_WINDOW, launch, managed_instance,
    run_in_simulator, running_event, scenario,
};
use patchpilot_shared::runtime::Handler;
use patchpilot_test_support::CallCounter;
use patchpilot_test_support::lambda_host::FunctionHost;
use patchpilot_test_support::ssm_sim::Background;
use patchpilot_test_support::ssm_sim::faults::FaultSettings;
use patchpilot_test_support::ssm_sim::generate::{GenerateOptions, generate};
use patchpilot_test_support::{LocalAws, REGION, sdk_config, workspace_root};
use serde_json::{Value, json};

const INIT_TARGET_MS: f64 = 20.0;
const RSS_TARGET_MB: f64 = 64.0;

#[derive(Parser)]
#[command(about = "Benchmarks: cold start, warm latency, calls per invocation, fleet scale, size")]
struct Args {
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Cold starts per function.
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    /// Warm invocations per function.
    #[arg(long, default_value_t = 20)]
    warm_runs: usize,
    /// Largest fleet for the snapshot scale runs (100000 for the full table).
    #[arg(long, default_value_t = 100_000)]
    max_fleet: usize,
    /// Largest untagged fleet for the tagger backfill runs (10000 for the full table).
    #[arg(long, default_value_t = 10_000)]
    max_backfill: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Only the exact-promotion call counts (no binaries, no LocalStack).
    #[arg(long)]
    promotion_only: bool,
    /// Only the coverage join's memory and time (no binaries, no LocalStack).
    #[arg(long)]
    coverage_only: bool,
}

/// This process's resident memory now (VmRSS), in MB.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The snapshot's coverage join (compliance-snapshot's own `coverage` module): the managed EC2 ids
/// packed as the inventory pages them, then every running instance looked up as DescribeInstances
/// pages them, half of them unmanaged. What it holds is the packed ids alone.
fn coverage_join() {
    use compliance_snapshot::coverage::{Coverage, ManagedIds};
    println!("\n3b. Coverage: the managed ids held to count unmanaged running instances");
    println!(
        "{:>9} {:>12} {:>10} {:>10} {:>10} {:>11}",
        "managed", "ids held", "rss added", "pack", "lookups", "unmanaged"
    );
    for managed in [10_000_u64, 100_000, 500_000] {
        let id = |n: u64| format!("i-{n:017x}");
        let before = rss_mb();
        let started = Instant::now();
        let mut ids = ManagedIds::default();
        for n in 0..managed {
            ids.insert(&id(n * 2));
        }
        ids.seal();
        let packed = started.elapsed();
        let started = Instant::now();
        let mut coverage = Coverage::default();
        for n in 0..managed {
            coverage.add(&id(n), Some("web"), &ids);
        }
        let looked_up = started.elapsed();
        println!(
            "{managed:>9} {:>9.1} MB {:>7.1} MB {:>7.0} ms {:>7.0} ms {:>11}",
            (ids.len() * 16) as f64 / 1e6,
            rss_mb() - before,
            ms(packed),
            ms(looked_up),
            coverage.fleet.unmanaged
        );
    }
}

/// The join the snapshot makes since EC2 lists the fleet beside the inventory (compliance-snapshot's
/// `coverage::Ec2Fleet`): the managed ids and every EC2 instance (its state and interned patch-group
/// tag) held at once, then joined. Half the EC2 instances are unmanaged, one in ten stopped, in 1,000
/// groups.
fn ec2_fleet_join() {
    use compliance_snapshot::coverage::{Ec2Fleet, ManagedIds};
    println!(
        "\n3c. Coverage and grouping: the managed ids and EC2's listing held at once, then joined"
    );
    println!(
        "{:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>9}",
        "managed", "ec2", "ids held", "ec2 held", "rss added", "join", "unmanaged", "grouped"
    );
    let groups: Vec<String> = (0..1_000).map(|n| format!("pg-{n:04}")).collect();
    for managed in [10_000_u64, 100_000, 500_000] {
        let id = |n: u64| format!("i-{n:017x}");
        let before = rss_mb();
        let mut ids = ManagedIds::default();
        for n in 0..managed {
            ids.insert(&id(n * 2));
        }
        ids.seal();
        let mut fleet = Ec2Fleet::default();
        for n in 0..managed * 2 {
            let group = groups[(n % 1_000) as usize].as_str();
            fleet.insert(&id(n), n % 10 != 9, Some(group));
        }
        let held = rss_mb() - before;
        let started = Instant::now();
        let joined = fleet.join(&ids);
        let join = started.elapsed();
        println!(
            "{managed:>9} {:>10} {:>7.1} MB {:>7.1} MB {:>7.1} MB {:>7.0} ms {:>11} {:>9}",
            fleet.len(),
            (ids.len() * 16) as f64 / 1e6,
            (fleet.len() * 16) as f64 / 1e6,
            held,
            ms(join),
            joined.coverage.fleet.unmanaged,
            joined.managed_grouped
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_owned())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().next().map(str::to_owned))
        .unwrap_or_default();
    println!(
        "machine:  {} | {} cores | {cpu} | {memory}",
        command("uname", &["-srm"]),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("rustc:    {}", command("rustc", &["-V"]));
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap_or_default();
    let mut versions = Vec::new();
    let mut name = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ")
            && [
                "aws-config",
                "aws-sdk-ssm",
                "aws-sdk-ec2",
                "aws-sdk-cloudwatch",
                "aws-sdk-sns",
                "aws-sdk-dynamodb",
                "lambda_runtime",
                "tokio",
            ]
            .contains(&name)
        {
            versions.push(format!("{name} {}", v.trim_matches('"')));
        }
    }
    println!("crates:   {}", versions.join(", "));
}

/// A world with a small fleet: 40 staging instances (launched in EC2, managed in the simulator) and a
/// staging run that failed on all of them, so every function has real work on a typical event.
struct Bench {
    world: World,
    staging: Vec<String>,
    alert_events: Vec<Value>,
    window_event: Value,
}

async fn bench_world(bin_dir: &Path) -> Result<Bench, String> {
    let log_dir = std::env::temp_dir().join(format!("patchpilot-bench-{}", std::process::id()));
    let parameters = [
        ("StagingWindowId", STAGING_WINDOW),
        ("ProductionWindowId", PRODUCTION_WINDOW),
        ("StagingPatchGroup", "staging"),
        ("ProductionBaselineIds", PRODUCTION_BASELINE),
        (
            "TagRules",
            r#"[{"name":"staging","patch_group":"staging","match":{"tags":{"Environment":"staging"}}}]"#,
        ),
        ("AlertStormThreshold", "1000"),
    ];
    let world = World::start(scenario()?, bin_dir, &parameters, &log_dir).await?;
    let staging = launch(
        &world.ec2,
        40,
        &[
            ("Environment", "staging"),
            ("Patch Group", "staging"),
            ("Name", "web"),
        ],
        false,
    )
    .await?;
    {
        let mut state = world.sim.app.state.write().map_err(|_| "poisoned")?;
        for id in &staging {
            let tags = BTreeMap::from([
                ("Patch Group".to_owned(), "staging".to_owned()),
                ("Name".to_owned(), "web".to_owned()),
            ]);
            let instance = managed_instance(&state, id, "staging", &tags);
            state.instances.insert(id.clone(), instance);
        }
        state.reindex_groups();
    }
    let run = run_in_simulator(
        &world,
        STAGING_WINDOW,
        &staging,
        chrono::Utc::now() - chrono::Duration::hours(2),
    )?;
    let alert_events = run
        .events
        .iter()
        .filter(|e| {
            e["detail-type"] == "EC2 Command Invocation Status-change Notification"
                && e["detail"]["status"] == "Failed"
        })
        .cloned()
        .collect();
    let window_event = run
        .events
        .iter()
        .find(|e| e["detail-type"] == "Maintenance Window Execution State-change Notification")
        .cloned()
        .ok_or("no window event")?;
    Ok(Bench {
        world,
        staging,
        alert_events,
        window_event,
    })
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "b", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "000000000000", "time": chrono::Utc::now().to_rfc3339(), "region": REGION,
           "resources": [], "detail": {}})
}

/// The typical event for a function's `n`-th invocation.
fn typical(bench: &Bench, function: &str, n: usize) -> Value {
    match function {
        "patch-group-tagger" => running_event(&bench.staging[n % bench.staging.len()]),
        "install-alerts" => bench.alert_events[n % bench.alert_events.len()].clone(),
        "compliance-snapshot" => scheduled(),
        _ => bench.window_event.clone(),
    }
}

fn env_for(bench: &Bench, function: &str) -> Vec<(String, String)> {
    let mut env = bench.world.envs[function].clone();
    // Straight to the services: the world's recording proxies would add a hop to every figure.
    let world = &bench.world;
    env.retain(|(k, _)| !k.starts_with("AWS_ENDPOINT_URL"));
    env.extend([
        (
            "AWS_ENDPOINT_URL".to_owned(),
            world.aws.localstack_url.clone(),
        ),
        ("AWS_ENDPOINT_URL_SSM".to_owned(), world.sim.url.clone()),
        (
            "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
            world.aws.dynamodb_url.clone(),
        ),
    ]);
    if function == "patch-gate" {
        // Every run evaluates in full (a decided execution would otherwise be a duplicate).
        env.retain(|(k, _)| k != "DRY_RUN");
        env.push(("DRY_RUN".into(), "true".into()));
    }
    if function == "install-alerts" {
        // Every run renders and would publish in full (a sent alert would otherwise be a duplicate).
        env.retain(|(k, _)| k != "DRY_RUN");
        env.push(("DRY_RUN".into(), "true".into()));
    }
    env
}

async fn cold_and_warm(bench: &Bench, bin_dir: &Path, args: &Args) -> Result<(), String> {
    println!(
        "\n1-2. Cold start and warm invocations (release binaries under the Lambda Runtime API)"
    );
    println!(
        "{:<22} {:>10} {:>10} {:>14} {:>11} {:>11} {:>9}  init target {INIT_TARGET_MS} ms",
        "function", "init p50", "init max", "1st invoke p50", "warm p50", "warm p95", "peak RSS"
    );
    for (_, function) in patch_week::world::FUNCTIONS {
        let env = env_for(bench, function);
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        let mut rss: f64 = 0.0;
        for run in 0..args.cold_runs {
            let host = FunctionHost::start(
                function,
                &bin_dir.join(function),
                &env,
                256,
                Duration::from_secs(60),
                &bench.world.log_dir.join("cold"),
            )
            .await?;
            inits.push(ms(host.wait_ready(Duration::from_secs(10)).await?));
            let started = Instant::now();
            host.invoke(typical(bench, function, run))
                .await
                .map_err(|e| format!("{function}: {e}"))?;
            firsts.push(ms(started.elapsed()));
            rss = rss.max(host.peak_rss_kib().unwrap_or(0) as f64 / 1024.0);
        }
        let mut warm = Vec::new();
        let warm_host = FunctionHost::start(
            function,
            &bin_dir.join(function),
            &env,
            256,
            Duration::from_secs(60),
            &bench.world.log_dir.join("warm"),
        )
        .await?;
        warm_host.wait_ready(Duration::from_secs(10)).await?;
        warm_host
            .invoke(typical(bench, function, 0))
            .await
            .map_err(|e| format!("{function}: {e}"))?;
        for n in 0..args.warm_runs {
            let started = Instant::now();
            warm_host
                .invoke(typical(bench, function, n + 1))
                .await
                .map_err(|e| format!("{function}: {e}"))?;
            warm.push(ms(started.elapsed()));
        }
        rss = rss.max(warm_host.peak_rss_kib().unwrap_or(0) as f64 / 1024.0);
        let init_p50 = percentile(&mut inits, 0.5);
        let init_max = percentile(&mut inits, 1.0);
        println!(
            "{:<22} {:>8.1}ms {:>8.1}ms {:>12.1}ms {:>9.1}ms {:>9.1}ms {:>7.1}MB  {} / rss {}",
            function,
            init_p50,
            init_max,
            percentile(&mut firsts, 0.5),
            percentile(&mut warm, 0.5),
            percentile(&mut warm, 0.95),
            rss,
            verdict(init_max < INIT_TARGET_MS),
            verdict(rss < RSS_TARGET_MB)
        );
    }
    Ok(())
}

/// AWS calls one typical invocation makes, counted by an SDK interceptor on every client (the
/// function's library in-process, same configuration as its binary).
async fn calls_per_invocation(bench: &Bench) -> Result<(), String> {
    println!("\n2b. AWS API calls per typical invocation (interceptor-counted)");
    let world = &bench.world;
    let counter = CallCounter::default();
    let local = sdk_config(&world.aws.localstack_url).await;
    let sim = sdk_config(&world.sim.url).await;
    let moto = sdk_config(&world.aws.dynamodb_url).await;
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&sim)
            .interceptor(counter.clone())
            .build(),
    );
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&local)
            .interceptor(counter.clone())
            .build(),
    );
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&local)
            .interceptor(counter.clone())
            .build(),
    );
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&local)
            .interceptor(counter.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&moto)
            .interceptor(counter.clone())
            .build(),
    );
    let env = |function: &str| -> HashMap<String, String> {
        env_for(bench, function).into_iter().collect()
    };
    let mut rows = Vec::new();

    let tagger = patch_group_tagger::Tagger::new(
        patch_group_tagger::Clients {
            ec2: ec2.clone(),
            ssm: ssm.clone(),
        },
        patch_group_tagger::config::TaggerConfig::from_env(&env("patch-group-tagger"))
            .map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| e.to_string())?;
    counter.reset();
    tagger
        .handle(running_event(&bench.staging[1]))
        .await
        .map_err(|e| e.to_string())?;
    rows.push(("patch-group-tagger (launch event)", counter.all()));

    let mut alerts_env = env("install-alerts");
    alerts_env.insert("DRY_RUN".into(), "false".into());
    let alerts = install_alerts::Alerts::new(
        install_alerts::Clients {
            ssm: ssm.clone(),
            ec2: ec2.clone(),
            sns: sns.clone(),
            dynamodb: dynamodb.clone(),
        },
        install_alerts::config::AlertsConfig::from_env(&alerts_env).map_err(|e| e.to_string())?,
    );
    counter.reset();
    alerts
        .handle(bench.alert_events[39].clone())
        .await
        .map_err(|e| e.to_string())?;
    rows.push(("install-alerts (failed install)", counter.all()));

    let snapshot = compliance_snapshot::Snapshot::new(
        ssm.clone(),
        cloudwatch.clone(),
        ec2.clone(),
        compliance_snapshot::config::SnapshotConfig::from_env(&env("compliance-snapshot"))
            .map_err(|e| e.to_string())?,
    );
    counter.reset();
    snapshot
        .handle(scheduled())
        .await
        .map_err(|e| e.to_string())?;
    rows.push(("compliance-snapshot (schedule)", counter.all()));

    let mut gate_env = env("patch-gate");
    gate_env.insert("DRY_RUN".into(), "false".into());
    let gate = patch_gate::Gate::new(
        patch_gate::Clients {
            ssm: ssm.clone(),
            sns: sns.clone(),
            cloudwatch: cloudwatch.clone(),
            dynamodb: dynamodb.clone(),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                    .region(aws_sdk_s3::config::Region::new("eu-west-1"))
                    .build(),
            ),
            staging: None,
        },
        patch_gate::config::GateConfig::from_env(&gate_env).map_err(|e| e.to_string())?,
    );
    counter.reset();
    gate.handle(bench.window_event.clone())
        .await
        .map_err(|e| e.to_string())?;
    rows.push(("patch-gate (staging run ended)", counter.all()));

    for (label, calls) in rows {
        let total: usize = calls.values().sum();
        let detail: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!("{label:<36} {total:>3} calls: {}", detail.join(", "));
    }
    Ok(())
}

/// The SSM reads exact promotion adds to a clean staging decision (the gate's own
/// `promotion_reads`, interceptor-counted against the simulator) at 1,000 and 50,000 staging
/// instances, with the default `MAX_PROMOTION_READS`; the two S3 writes are fixed.
async fn promotion_calls(args: &Args) -> Result<(), String> {
    const CAP: usize = 500;
    println!(
        "\n2c. Exact promotion: calls a clean staging decision adds (MAX_PROMOTION_READS {CAP}; 12 patches per instance)"
    );
    println!(
        "{:>9} {:>6} {:>8} {:>9}  calls",
        "instances", "read", "entries", "wall"
    );
    for instances in [1_000usize, 50_000] {
        let state = generate(&GenerateOptions {
            seed: args.seed,
            instances,
            groups: 1,
            ungrouped: 0.0,
            never_reported: 0.0,
            windows: 0.0,
            ..GenerateOptions::default()
        });
        let sim = Background::start(state, FaultSettings::default()).map_err(|e| e.to_string())?;
        let counter = CallCounter::default();
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&sdk_config(&sim.url).await)
                .interceptor(counter.clone())
                .build(),
        );
        let started = Instant::now();
        let (reads, members) = patch_gate::gather::promotion_reads(
            &ssm,
            "pg-0000",
            &patchpilot_shared::default_patch_group_tag_keys(),
            CAP,
        )
        .await
        .map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        let promotion =
            patch_gate::promote::promotion("bench", now - chrono::Duration::hours(1), now, &reads);
        let calls = counter.all();
        let detail: Vec<String> = calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!(
            "{members:>9} {:>6} {:>8} {:>8.1}s  SSM {} ({}) + S3 PutObject 2",
            promotion.instances_read,
            promotion.entries.len(),
            started.elapsed().as_secs_f64(),
            calls.values().sum::<usize>(),
            detail.join(", ")
        );
    }
    Ok(())
}

/// compliance-snapshot's release binary against a generated fleet: wall time, SSM calls against the
/// minimum, PutMetricData calls, retries (throttled responses), peak RSS.
async fn fleet_scale(bin_dir: &Path, args: &Args, aws: &LocalAws) -> Result<(), String> {
    println!(
        "\n3. Fleet scale: compliance-snapshot (200 groups at 100,000; 4 concurrent group reads)"
    );
    println!(
        "{:>9} {:>7} {:>5} {:>9} {:>9} {:>15} {:>8} {:>8} {:>9}  target RSS < {RSS_TARGET_MB} MB, < 900 s",
        "instances",
        "groups",
        "page",
        "latency",
        "throttle",
        "SSM calls/min",
        "PutMD",
        "retries",
        "wall"
    );
    let sizes: Vec<(usize, usize)> = [(1_000, 10), (10_000, 50), (100_000, 200)]
        .into_iter()
        .filter(|(n, _)| *n <= args.max_fleet)
        .collect();
    // Each size at the model's output cap of 5 states a page and at the 100 asked for (ledger row 30).
    for ((instances, groups), page) in sizes
        .into_iter()
        .flat_map(|size| [(size, 5usize), (size, 100)])
    {
        let mut state = generate(&GenerateOptions {
            seed: args.seed,
            instances,
            groups,
            ..GenerateOptions::default()
        });
        state.wide_group_pages = page == 100;
        let reported: Vec<usize> = {
            let mut per_group = vec![0usize; groups];
            for instance in state.instances.values() {
                if instance.report.is_some()
                    && let Some(g) = &instance.patch_group
                {
                    let index: usize = g.trim_start_matches("pg-").parse().unwrap_or(0);
                    per_group[index] += 1;
                }
            }
            per_group
        };
        let managed = state.instances.len();
        let grouped = state
            .instances
            .values()
            .filter(|i| i.patch_group.is_some())
            .count();
        let minimum = groups.div_ceil(100).max(1)
            + reported
                .iter()
                .map(|n| n.div_ceil(page).max(1))
                .sum::<usize>()
            + managed.div_ceil(50).max(1)
            + grouped.div_ceil(50).max(1);
        let sim = Background::start(state, FaultSettings::default()).map_err(|e| e.to_string())?;
        for (latency, throttle) in [(0u64, 0.0f64), (0, 0.05), (50, 0.0), (50, 0.05)] {
            sim.app.faults.set(FaultSettings {
                latency_ms: latency,
                throttle_rate: throttle,
                seed: args.seed,
                ..FaultSettings::default()
            });
            sim.app.faults.reset_stats();
            let env = vec![
                ("METRIC_NAMESPACE".to_owned(), format!("Bench{instances}")),
                ("RETRY_MAX_ATTEMPTS".to_owned(), "10".to_owned()),
                ("AWS_ENDPOINT_URL".to_owned(), aws.localstack_url.clone()),
                ("AWS_ENDPOINT_URL_SSM".to_owned(), sim.url.clone()),
                ("AWS_REGION".to_owned(), REGION.to_owned()),
                ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
            ];
            let host = FunctionHost::start(
                "compliance-snapshot",
                &bin_dir.join("compliance-snapshot"),
                &env,
                256,
                Duration::from_secs(900),
                &std::env::temp_dir().join("patchpilot-bench-scale"),
            )
            .await?;
            host.wait_ready(Duration::from_secs(10)).await?;
            let started = Instant::now();
            let summary = host
                .invoke(scheduled())
                .await
                .map_err(|e| format!("snapshot at {instances}: {e}"))?;
            let wall = started.elapsed();
            let stats = sim.app.faults.stats();
            let calls: u64 = stats.values().map(|s| s.requests).sum();
            let retries: u64 = stats.values().map(|s| s.throttled + s.server_errors).sum();
            let rss = host.peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
            println!(
                "{instances:>9} {groups:>7} {page:>5} {:>7}ms {:>8.0}% {:>7}/{:<7} {:>8} {:>8} {:>8.1}s  rss {rss:.1} MB {} / calls {}",
                latency,
                throttle * 100.0,
                calls,
                minimum,
                summary["put_metric_data_calls"],
                retries,
                wall.as_secs_f64(),
                verdict(rss < RSS_TARGET_MB),
                verdict(calls - retries == minimum as u64)
            );
        }
    }
    Ok(())
}

/// The tagger's backfill at 1,000 and 10,000 untagged instances in LocalStack EC2.
async fn tagger_scale(bin_dir: &Path, aws: &LocalAws, max: usize) -> Result<(), String> {
    println!("\n3b. Fleet scale: patch-group-tagger backfill (LocalStack EC2)");
    println!(
        "{:>9} {:>22} {:>18} {:>9} {:>9}",
        "instances", "DescribeInstances pages", "CreateTags calls", "minimum", "wall"
    );
    for count in [1_000usize, 10_000].into_iter().filter(|c| *c <= max) {
        // An account of its own in LocalStack (a 12-digit access key), so each size starts empty.
        let access_key = format!("{:012}", fastrand::u64(100_000_000_000..999_999_999_999));
        let local = sdk_config(&aws.localstack_url).await;
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&local)
                .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                    &access_key,
                    "test",
                    None,
                    None,
                    "bench",
                ))
                .build(),
        );
        for _ in 0..count / 1000 {
            launch(&ec2, 1000, &[("Environment", "staging")], false).await?;
        }
        let env = vec![
            ("TAG_RULES".to_owned(), r#"[{"name":"staging","patch_group":"staging","match":{"tags":{"Environment":"staging"}}}]"#.to_owned()),
            ("AWS_ENDPOINT_URL".to_owned(), aws.localstack_url.clone()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), access_key),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
        ];
        let host = FunctionHost::start(
            "patch-group-tagger",
            &bin_dir.join("patch-group-tagger"),
            &env,
            256,
            Duration::from_secs(900),
            &std::env::temp_dir().join("patchpilot-bench-tagger"),
        )
        .await?;
        host.wait_ready(Duration::from_secs(10)).await?;
        let started = Instant::now();
        let report = host
            .invoke(scheduled())
            .await
            .map_err(|e| format!("backfill at {count}: {e}"))?;
        let rss = host.peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
        // LocalStack ignores MaxResults and returns every instance in one DescribeInstances page, so
        // the tagger holds that one page whole; EC2 pages by 1,000.
        println!(
            "{count:>9} {:>22} {:>18} {:>9} {:>8.1}s  rss {rss:.1} MB {}",
            report["describe_instances_pages"],
            report["create_tags_calls"],
            format!("{}+{}", count.div_ceil(1000), count.div_ceil(1000)),
            started.elapsed().as_secs_f64(),
            verdict(rss < RSS_TARGET_MB)
        );
    }
    Ok(())
}

/// patch-gate judging a 2,000-instance staging group.
async fn gate_scale(bench: &Bench, bin_dir: &Path) -> Result<(), String> {
    println!(
        "\n3c. Fleet scale: patch-gate on a 2,000-instance staging group (dry run: every read, no writes)"
    );
    let world = &bench.world;
    {
        let mut state = world.sim.app.state.write().map_err(|_| "poisoned")?;
        for n in 0..2000 {
            let id = format!("i-{:017x}", 0xbe00000 + n);
            let tags = BTreeMap::from([("Patch Group".to_owned(), "staging".to_owned())]);
            let instance = managed_instance(&state, &id, "staging", &tags);
            state.instances.insert(id, instance);
        }
        state.reindex_groups();
    }
    let run = run_in_simulator(
        world,
        STAGING_WINDOW,
        &[],
        chrono::Utc::now() - chrono::Duration::hours(1),
    )?;
    let event = run
        .events
        .iter()
        .find(|e| e["detail-type"] == "Maintenance Window Execution State-change Notification")
        .cloned()
        .ok_or("no event")?;
    let host = FunctionHost::start(
        "patch-gate",
        &bin_dir.join("patch-gate"),
        &env_for(bench, "patch-gate"),
        256,
        Duration::from_secs(300),
        &world.log_dir.join("gate"),
    )
    .await?;
    host.wait_ready(Duration::from_secs(10)).await?;
    world.sim.app.faults.reset_stats();
    let started = Instant::now();
    let report = host.invoke(event).await.map_err(|e| format!("gate: {e}"))?;
    let wall = started.elapsed();
    let stats = world.sim.app.faults.stats();
    let detail: Vec<String> = stats
        .iter()
        .map(|(op, s)| format!("{op} {}", s.requests))
        .collect();
    println!(
        "2,040 instances, gate {}: {} SSM calls in {:.2} s, rss {:.1} MB ({})",
        if report["open"] == true {
            "open"
        } else {
            "closed"
        },
        stats.values().map(|s| s.requests).sum::<u64>(),
        wall.as_secs_f64(),
        host.peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
        detail.join(", ")
    );
    Ok(())
}

fn zipped_size(path: &Path) -> Option<u64> {
    let output = std::process::Command::new("python3")
        .args(["-c", "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED)\nz.write(sys.argv[1],'bootstrap')\nz.close()\nprint(len(b.getvalue()))", &path.display().to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn sizes(bin_dir: &Path) {
    println!("\n4. Binary size (release, stripped; zipped as Lambda receives it)");
    println!(
        "{:<22} {:>14} {:>14} {:>14} {:>14}",
        "function", "x86_64 raw", "x86_64 zip", "arm64 raw", "arm64 zip"
    );
    let sam = workspace_root().join(".aws-sam/build");
    for (logical_id, function) in patch_week::world::FUNCTIONS {
        let mb = |bytes: Option<u64>| {
            bytes
                .map(|b| format!("{:.2} MB", b as f64 / 1_048_576.0))
                .unwrap_or_else(|| "not built".into())
        };
        let x86 = bin_dir.join(function);
        let arm = sam.join(logical_id).join("bootstrap");
        let arm_ok =
            arm.exists() && command("file", &[&arm.display().to_string()]).contains("aarch64");
        println!(
            "{function:<22} {:>14} {:>14} {:>14} {:>14}",
            mb(std::fs::metadata(&x86).ok().map(|m| m.len())),
            mb(zipped_size(&x86)),
            mb(arm_ok
                .then(|| std::fs::metadata(&arm).ok().map(|m| m.len()))
                .flatten()),
            mb(arm_ok.then(|| zipped_size(&arm)).flatten()),
        );
    }
    println!("(arm64 from `sam build`'s .aws-sam/build; \"not built\" until it has run)");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    println!("patchpilot benchmarks (seed {})", args.seed);
    machine();
    if args.coverage_only {
        coverage_join();
        ec2_fleet_join();
        return std::process::ExitCode::SUCCESS;
    }
    if args.promotion_only {
        return match promotion_calls(&args).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("patchpilot-bench: {err}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let result = async {
        let bench = bench_world(&args.bin_dir).await?;
        cold_and_warm(&bench, &args.bin_dir, &args).await?;
        calls_per_invocation(&bench).await?;
        gate_scale(&bench, &args.bin_dir).await?;
        promotion_calls(&args).await?;
        tagger_scale(&args.bin_dir, &bench.world.aws, args.max_backfill).await?;
        fleet_scale(&args.bin_dir, &args, &bench.world.aws).await?;
        coverage_join();
        ec2_fleet_join();
        sizes(&args.bin_dir);
        Ok::<(), String>(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("patchpilot-bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
