//! `ssm-sim-bench`: serving speed of the simulator on a large generated fleet, measured from a second
//! process over loopback. Starts `ssm-sim serve --generate ...` (the binary beside this one), walks
//! DescribeInstancePatchStatesForPatchGroup pages across every group from several client threads with
//! keep-alive connections, and prints throughput and latency percentiles against the targets
//! (2,000 requests/s, p99 under 5 ms). A benchmark that prints figures, not a timed test.
//!
//!   cargo build --profile bench-fast -p ssm-sim && target/bench-fast/ssm-sim-bench [--instances N]
//!     [--groups G] [--threads T] [--seconds S]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    instances: usize,
    #[arg(long, default_value_t = 200)]
    groups: usize,
    #[arg(long, default_value_t = 4)]
    threads: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 100)]
    page_size: u32,
}

fn main() {
    let args = Args::parse();
    let sim_binary = std::env::current_exe()
        .expect("own path")
        .with_file_name("ssm-sim");
    let options =
        json!({"instances": args.instances, "groups": args.groups, "seed": 1}).to_string();
    let load_started = Instant::now();
    let mut child = Command::new(&sim_binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--generate", &options])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "cannot start {}: {err} (build it with the same profile)",
                sim_binary.display()
            )
        });
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let load_time = load_started.elapsed();
    let url = first_line
        .split_whitespace()
        .nth(3)
        .expect("the simulator prints its address")
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|worker| {
            let (url, stop) = (url.clone(), stop.clone());
            let (groups, page_size) = (args.groups, args.page_size);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut latencies = Vec::with_capacity(100_000);
                let mut errors = 0usize;
                let mut group = worker;
                let mut token: Option<String> = None;
                while !stop.load(Ordering::Relaxed) {
                    let mut body = json!({"PatchGroup": format!("pg-{:04}", group % groups), "MaxResults": page_size});
                    if let Some(token) = &token {
                        body["NextToken"] = json!(token);
                    }
                    let sent = Instant::now();
                    let response = agent
                        .post(&url)
                        .header("X-Amz-Target", "AmazonSSM.DescribeInstancePatchStatesForPatchGroup")
                        .header("Content-Type", "application/x-amz-json-1.1")
                        .send(body.to_string());
                    let text = response
                        .ok()
                        .filter(|r| r.status().is_success())
                        .and_then(|mut r| r.body_mut().read_to_string().ok());
                    latencies.push(sent.elapsed());
                    match text {
                        // The load generator only needs the token; a full parse would take CPU from the
                        // server it measures (both share the machine's two cores).
                        Some(text) if text.starts_with("{\"InstancePatchStates\":[") => {
                            token = next_token(&text);
                            if token.is_none() {
                                group += 1;
                            }
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mut l, e) = worker.join().unwrap();
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();

    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let throughput = latencies.len() as f64 / elapsed.as_secs_f64();
    let p99 = percentile(0.99);
    println!(
        "ssm-sim benchmark: DescribeInstancePatchStatesForPatchGroup, MaxResults {}",
        args.page_size
    );
    println!(
        "machine: {} cores; fleet: {} instances in {} groups (seed 1); {} client threads, keep-alive, separate process",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        args.instances,
        args.groups,
        args.threads
    );
    println!(
        "fleet generated and served after {:.2} s",
        load_time.as_secs_f64()
    );
    println!(
        "requests: {} in {:.1} s, errors: {errors}",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "throughput: {throughput:.0} requests/s (target >= 2000) {}",
        verdict(throughput >= 2000.0)
    );
    println!(
        "latency: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (target < 5 ms) {}, max {:.2} ms",
        ms(percentile(0.50)),
        ms(percentile(0.95)),
        ms(p99),
        verdict(p99 < Duration::from_millis(5)),
        ms(*latencies.last().unwrap())
    );
}

/// The NextToken of a page, found without parsing the whole body (tokens are hex, never escaped).
fn next_token(body: &str) -> Option<String> {
    const KEY: &str = "\"NextToken\":\"";
    let start = body.find(KEY)? + KEY.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}
