//! `patch-week`: the README's first command. Plays a patch week through the whole system locally and
//! prints what happened and why; exits non-zero when a step's evidence is missing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use patch_week::{Options, play};

#[derive(Parser)]
#[command(about = "Play a simulated patch week through EventBridge rules and the four functions")]
struct Args {
    /// Instances in the fleet, half staging, half production.
    #[arg(long, default_value_t = 50)]
    fleet: usize,
    /// Seed for which staging installs fail.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Staging installs that fail in the first run (more than the storm threshold shows storm control).
    #[arg(long, default_value_t = 12)]
    failures: usize,
    /// Per-instance alerts per patch run before the rest are summarised.
    #[arg(long, default_value_t = 10)]
    storm_threshold: usize,
    /// Where the functions' binaries are.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Leave LocalStack, moto and the simulator running for exploration; prints how to reach them.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    println!(
        "patchpilot patch week: fleet of {}, {} failing staging installs, seed {}\n",
        args.fleet, args.failures, args.seed
    );
    let options = Options {
        fleet: args.fleet,
        seed: args.seed,
        failures: args.failures,
        bin_dir: args.bin_dir,
        storm_threshold: args.storm_threshold,
        verbose: true,
        keep: args.keep,
    };
    match play(&options).await {
        Ok(report) if report.passed() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("patch-week: some evidence is missing (see MISSING above)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("patch-week: {err}");
            ExitCode::FAILURE
        }
    }
}
