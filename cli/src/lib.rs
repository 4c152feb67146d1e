//! `patchpilot`, the operator's command: the gate's state and the fleet's compliance, approvals and
//! holds through the gate itself, tagging previews with the tagger's own code, and a deployment
//! check. It reads the standard AWS configuration (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL*`)
//! and the stack's outputs (`--stack`), each overridable by a flag.

pub mod args;
pub mod brake;
pub mod clients;
pub mod compliance;
pub mod coverage;
pub mod doctor;
pub mod error;
pub mod gate;
pub mod metrics;
pub mod output;
pub mod promote;
pub mod records;
pub mod settings;
pub mod status;
pub mod tag;

use std::collections::BTreeMap;

use args::{Cli, Command, GateAction, TagAction};
use clients::Clients;
use error::CliError;
use output::{Output, Style};
use settings::Settings;

/// Exit status: everything is fine.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command ran and found something that needs attention (doctor).
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status: the command could not run (bad input, a refusal, an AWS error).
pub const EXIT_COULD_NOT_RUN: u8 = 2;

/// Runs one command with `clients`.
pub async fn run(cli: &Cli, clients: &Clients, style: Style) -> Result<Output, CliError> {
    let outputs = match &cli.global.stack {
        Some(stack) => clients.stack_outputs(stack).await?,
        None => BTreeMap::new(),
    };
    let settings = Settings::resolve(&cli.global, &outputs)?;
    // Each command's future is boxed: they are large (many reads joined), and a caller driving the
    // command inside its own deep future (the patch week) would otherwise need a bigger stack.
    match &cli.command {
        Command::Status => Box::pin(status::run(clients, &settings, style)).await,
        Command::Gate {
            action: GateAction::Brake { replace },
        } => Box::pin(brake::run(clients, &settings, *replace, style)).await,
        Command::Gate {
            action: GateAction::Promote { replace },
        } => Box::pin(promote::run(clients, &settings, *replace, style)).await,
        Command::Gate { action } => Box::pin(gate::run(clients, &settings, action, style)).await,
        Command::Compliance {
            coverage: true,
            stale_hours,
            ..
        } => Box::pin(coverage::run(clients, *stale_hours, style)).await,
        Command::Compliance { snapshots, .. } => {
            Box::pin(compliance::run(clients, &settings, *snapshots, style)).await
        }
        Command::Tag {
            action: TagAction::Preview { rules_file },
        } => {
            Box::pin(tag::preview(
                clients,
                &settings,
                rules_file.as_deref(),
                style,
            ))
            .await
        }
        Command::Doctor => Box::pin(doctor::run(clients, &settings, style)).await,
    }
}
