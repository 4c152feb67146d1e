//! Parses the command line, runs the command, prints its result, and exits 0 (ok), 1 (findings) or
//! 2 (could not run).

use std::process::ExitCode;

use clap::Parser;
use patchpilot_cli::args::Cli;
use patchpilot_cli::clients::Clients;
use patchpilot_cli::output::Style;
use patchpilot_cli::{EXIT_COULD_NOT_RUN, EXIT_FINDINGS, EXIT_OK, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let style = if cli.global.json {
        Style::plain()
    } else {
        Style::detect()
    };
    let clients = Clients::load().await;
    match run(&cli, &clients, style).await {
        Ok(output) => {
            if cli.global.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&output.json).unwrap_or_default()
                );
            } else {
                print!("{}", output.text);
            }
            ExitCode::from(if output.findings {
                EXIT_FINDINGS
            } else if output.incomplete {
                EXIT_COULD_NOT_RUN
            } else {
                EXIT_OK
            })
        }
        Err(err) => {
            eprintln!("patchpilot: {err}");
            ExitCode::from(EXIT_COULD_NOT_RUN)
        }
    }
}
