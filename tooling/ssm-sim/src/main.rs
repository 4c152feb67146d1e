//! `ssm-sim serve`: run the simulator; `ssm-sim generate`: write a generated fleet as a scenario file.

use ssm_sim::error::SimError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ssm_sim::faults::FaultSettings;
use ssm_sim::generate::{GenerateOptions, generate};
use ssm_sim::scenario::Scenario;
use ssm_sim::server::{App, summary};

#[derive(Parser)]
#[command(
    name = "ssm-sim",
    version,
    about = "A local AWS Systems Manager (Patch Manager) simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the SSM API on a loopback port.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0", env = "SSM_SIM_LISTEN")]
    listen: SocketAddr,
    /// Scenario file to load (format patchpilot-ssm-sim/v1).
    #[arg(long, conflicts_with = "generate")]
    scenario: Option<PathBuf>,
    /// Generate a fleet instead: JSON generate options, e.g. '{"instances":100000,"groups":200,"seed":1}'.
    #[arg(long)]
    generate: Option<String>,
    /// Added latency per AWS request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests answered with ThrottlingException (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Share of requests answered with HTTP 500 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Token-bucket request-rate limit in requests per second (0: none).
    #[arg(long, default_value_t = 0.0)]
    rate_limit: f64,
    /// Seed for fault draws and generated ids.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Serve up to 100 instance patch states per DescribeInstancePatchStatesForPatchGroup page
    /// instead of the service model's cap of 5 (ledger row 30).
    #[arg(long)]
    wide_group_pages: bool,
    /// DescribePatchGroupState.Instances counts every instance tagged into the group, reporting
    /// or not, instead of the reporting ones only (the other reading of ledger row 10).
    #[arg(long)]
    group_state_counts_members: bool,
    /// EventBridge endpoint (e.g. LocalStack's) that window runs send their events to.
    #[arg(long, env = "SSM_SIM_EVENTS_URL")]
    events_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ssm-sim: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), SimError> {
    let faults = FaultSettings {
        latency_ms: args.latency_ms,
        throttle_rate: args.throttle_rate,
        error_rate: args.error_rate,
        rate_limit: args.rate_limit,
        seed: args.seed,
    };
    faults.check()?;
    let state = if let Some(path) = &args.scenario {
        let text = std::fs::read_to_string(path)
            .map_err(|err| SimError::Startup(format!("cannot read {}: {err}", path.display())))?;
        Scenario::from_json(&text)
            .and_then(Scenario::into_state)
            .map_err(|err| SimError::Startup(format!("{}: {err}", path.display())))?
    } else if let Some(options) = &args.generate {
        let options: GenerateOptions = serde_json::from_str(options)
            .map_err(|err| SimError::Startup(format!("--generate: {err}")))?;
        generate(&options)
    } else {
        ssm_sim::state::State {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            ..Default::default()
        }
    };
    let mut state = state;
    state.wide_group_pages = args.wide_group_pages;
    state.group_state_counts_members = args.group_state_counts_members;
    let loaded = summary(&state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| SimError::Startup(err.to_string()))?;
    runtime.block_on(async move {
        let (listener, local) = ssm_sim::bind(args.listen)
            .await
            .map_err(|err| SimError::Startup(format!("cannot listen on {}: {err}", args.listen)))?;
        // The first stdout line is the contract with scripts and tests: where to connect.
        println!("ssm-sim listening on http://{local} {loaded}");
        let app = App::new(state, faults);
        app.send_events_to(args.events_url.clone());
        tokio::select! {
            served = ssm_sim::serve(listener, app) => served.map_err(|err| SimError::Startup(err.to_string())),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
