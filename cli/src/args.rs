//! The command line: global settings (from a stack, overridable flag by flag) and the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// patchpilot: see the gate and fleet compliance, approve or hold production, preview tagging, and
/// check a deployment. Exit status: 0 ok, 1 findings (doctor), 2 could not run.
#[derive(Debug, Parser)]
#[command(name = "patchpilot", version)]
pub struct Cli {
    /// Where the deployment is and how to print.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares. `--stack` reads them from the CloudFormation stack's outputs; a
/// flag (or its `PATCHPILOT_*` variable) overrides the stack's value.
#[derive(Debug, Args, Default, Clone)]
pub struct Global {
    /// The patchpilot stack whose outputs supply everything below.
    #[arg(long, global = true, env = "PATCHPILOT_STACK")]
    pub stack: Option<String>,
    /// The patch-gate function (name or ARN).
    #[arg(long, global = true, env = "PATCHPILOT_GATE_FUNCTION")]
    pub gate_function: Option<String>,
    /// The state table (decisions, holds, alert records).
    #[arg(long, global = true, env = "PATCHPILOT_TABLE")]
    pub table: Option<String>,
    /// The failure queue's URL.
    #[arg(long, global = true, env = "PATCHPILOT_FAILURE_QUEUE_URL")]
    pub failure_queue_url: Option<String>,
    /// The staging maintenance window.
    #[arg(long, global = true, env = "PATCHPILOT_STAGING_WINDOW")]
    pub staging_window: Option<String>,
    /// The production maintenance window.
    #[arg(long, global = true, env = "PATCHPILOT_PRODUCTION_WINDOW")]
    pub production_window: Option<String>,
    /// The staging patch group.
    #[arg(long, global = true, env = "PATCHPILOT_STAGING_GROUP")]
    pub staging_group: Option<String>,
    /// The role the gate reads staging through, when staging is in another account (the stack's
    /// StagingRoleArn): doctor then leaves staging's checks to that account.
    #[arg(long, global = true, env = "PATCHPILOT_STAGING_ROLE_ARN")]
    pub staging_role_arn: Option<String>,
    /// Production baselines the gate pins (comma-separated, each pb-... or OS=pb-...).
    #[arg(long, global = true, env = "PATCHPILOT_PRODUCTION_BASELINES")]
    pub production_baselines: Option<String>,
    /// The compliance metrics' CloudWatch namespace.
    #[arg(long, global = true, env = "PATCHPILOT_NAMESPACE")]
    pub namespace: Option<String>,
    /// How often the snapshot publishes, in minutes.
    #[arg(long, global = true, env = "PATCHPILOT_SNAPSHOT_MINUTES")]
    pub snapshot_minutes: Option<u32>,
    /// The tagger's rules as JSON (`TagRules`).
    #[arg(long, global = true, env = "PATCHPILOT_TAG_RULES")]
    pub tag_rules: Option<String>,
    /// The SSM parameter holding the tagger's rules (`TagRulesParameter`).
    #[arg(long, global = true, env = "PATCHPILOT_TAG_RULES_PARAMETER")]
    pub tag_rules_parameter: Option<String>,
    /// The tagger's default patch group.
    #[arg(long, global = true, env = "PATCHPILOT_DEFAULT_PATCH_GROUP")]
    pub default_patch_group: Option<String>,
    /// The tagger's tag key mode (`auto`, `Patch Group`, `PatchGroup`).
    #[arg(long, global = true, env = "PATCHPILOT_TAG_KEY")]
    pub tag_key: Option<String>,
    /// The gate's brake alarm (in ALARM while production is closed or held).
    #[arg(long, global = true, env = "PATCHPILOT_BRAKE_ALARM")]
    pub brake_alarm: Option<String>,
    /// The `s3://` URL of the install list the gate promotes (`InstallOverrideList`).
    #[arg(long, global = true, env = "PATCHPILOT_PROMOTION_LIST")]
    pub promotion_list: Option<String>,
    /// The prefix of the stack's EventBridge rules (default: the stack name and a dash).
    #[arg(long, global = true, env = "PATCHPILOT_RULE_PREFIX")]
    pub rule_prefix: Option<String>,
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The latest gate decision, any approval or hold, the last snapshot and the failure queue.
    Status,
    /// Operator requests to the gate (through Lambda Invoke, so IAM decides who may).
    Gate {
        /// Which request.
        #[command(subcommand)]
        action: GateAction,
    },
    /// The latest compliance per patch group, worst first, with the trend; or, with --coverage, the
    /// instances patching does not reach, by id.
    Compliance {
        /// How many snapshots the trend covers.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=48))]
        snapshots: u32,
        /// List the instances patching does not reach: running EC2 instances Systems Manager does
        /// not manage, managed ones that never reported, stale or ungrouped (exit 1 when any).
        #[arg(long)]
        coverage: bool,
        /// With --coverage: a last patch report older than this many hours is stale (the stack's
        /// StaleAfterHours).
        #[arg(long, default_value_t = 168, requires = "coverage", value_parser = clap::value_parser!(u32).range(1..=8760))]
        stale_hours: u32,
    },
    /// The tagger's own decisions on the fleet as it is; nothing is written.
    Tag {
        /// Which tag command.
        #[command(subcommand)]
        action: TagAction,
    },
    /// Checks a deployment against what the functions need; each finding with its fix.
    Doctor,
}

/// Operator requests.
#[derive(Debug, Subcommand)]
pub enum GateAction {
    /// Open production over a closed decision's failures, pinned as an automatic open pins it.
    Approve {
        /// The staging execution whose closed decision is approved (the latest decided).
        #[arg(long)]
        execution: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
    /// Keep production closed, whatever staging says, until released.
    Hold {
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
    /// End the hold: production follows the latest decision again.
    Release {
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Attach the gate's alarm to production's patch tasks (AlarmConfiguration), so Systems
    /// Manager itself stops them while the gate is closed or held. Once per deployment.
    Brake {
        /// Replace another alarm a patch task already watches (a task takes one alarm; combining
        /// both in a composite alarm keeps the other team's too).
        #[arg(long)]
        replace: bool,
    },
    /// Point production's patch tasks at the install list the gate promotes after each clean
    /// staging run (InstallOverrideList), so production installs only the versions staging runs.
    /// Once per deployment.
    Promote {
        /// Replace another install list a patch task already uses.
        #[arg(long)]
        replace: bool,
    },
}

/// Tag commands.
#[derive(Debug, Subcommand)]
pub enum TagAction {
    /// What the tagger would do to every instance.
    Preview {
        /// Rules from this file instead of the stack's.
        #[arg(long)]
        rules_file: Option<PathBuf>,
    },
}
