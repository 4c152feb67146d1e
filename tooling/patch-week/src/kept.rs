//! What `--keep` prints so another shell reaches the kept week: one endpoint per service
//! (`AWS_ENDPOINT_URL_<SERVICE>`, which the SDKs and the AWS CLI read), and `patchpilot`'s settings
//! as `PATCHPILOT_*`. The week checks that exactly these exports work, so what it prints cannot drift
//! from what works.
//!
//! One exception, printed with the exports: the bundled AWS CLI (v1) replaces the endpoint of SQS in
//! the Regions it knows with `https://<region>.queue.amazonaws.com` whenever `--endpoint-url` is
//! not given (its `overridesslcommonname` customization), ignoring every variable; so SQS takes
//! `--endpoint-url "$AWS_ENDPOINT_URL_SQS"`. The Rust SDK (`patchpilot`) reads the variable.

use crate::error::WeekError;
use crate::evidence::Evidence;
use std::path::Path;

use serde_json::Value;

use crate::world::{RULE_PREFIX, World};
use crate::{
    BRAKE_ALARM, NAMESPACE, Narrator, PRODUCTION_BASELINE, PRODUCTION_WINDOW, RULES_PARAMETER,
    STAGING_WINDOW,
};

/// Each service the week runs, the AWS CLI command that reads it, and where it is served.
fn services(world: &World) -> Vec<(&'static str, [&'static str; 2], String)> {
    let localstack = world.aws.localstack_url.clone();
    vec![
        (
            "SSM",
            ["ssm", "describe-maintenance-windows"],
            world.sim.url.clone(),
        ),
        (
            "DYNAMODB",
            ["dynamodb", "list-tables"],
            world.aws.dynamodb_url.clone(),
        ),
        (
            "LAMBDA",
            ["lambda", "get-account-settings"],
            world.lambda.url.clone(),
        ),
        ("SQS", ["sqs", "list-queues"], localstack.clone()),
        ("SNS", ["sns", "list-topics"], localstack.clone()),
        (
            "CLOUDWATCH",
            ["cloudwatch", "describe-alarms"],
            localstack.clone(),
        ),
        ("EVENTBRIDGE", ["events", "list-rules"], localstack.clone()),
        ("EC2", ["ec2", "describe-instances"], localstack.clone()),
        ("STS", ["sts", "get-caller-identity"], localstack),
    ]
}

/// The exports, in the order they are printed.
pub(crate) fn exports(world: &World) -> Vec<(String, String)> {
    let mut exports: Vec<(String, String)> = vec![
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_REGION".into(), patchpilot_test_support::REGION.into()),
        (
            "AWS_DEFAULT_REGION".into(),
            patchpilot_test_support::REGION.into(),
        ),
        ("AWS_ENDPOINT_URL".into(), world.aws.localstack_url.clone()),
    ];
    exports.extend(
        services(world)
            .into_iter()
            .map(|(service, _, url)| (format!("AWS_ENDPOINT_URL_{service}"), url)),
    );
    let settings = [
        ("PATCHPILOT_GATE_FUNCTION", "patch-gate".to_owned()),
        ("PATCHPILOT_TABLE", world.table.clone()),
        ("PATCHPILOT_FAILURE_QUEUE_URL", world.failure_queue.clone()),
        ("PATCHPILOT_STAGING_WINDOW", STAGING_WINDOW.to_owned()),
        ("PATCHPILOT_PRODUCTION_WINDOW", PRODUCTION_WINDOW.to_owned()),
        ("PATCHPILOT_STAGING_GROUP", "staging".to_owned()),
        (
            "PATCHPILOT_PRODUCTION_BASELINES",
            PRODUCTION_BASELINE.to_owned(),
        ),
        ("PATCHPILOT_NAMESPACE", NAMESPACE.to_owned()),
        ("PATCHPILOT_TAG_RULES_PARAMETER", RULES_PARAMETER.to_owned()),
        ("PATCHPILOT_RULE_PREFIX", RULE_PREFIX.to_owned()),
        ("PATCHPILOT_BRAKE_ALARM", BRAKE_ALARM.to_owned()),
        (
            "PATCHPILOT_PROMOTION_LIST",
            format!(
                "s3://{}/{}",
                world.promotion_bucket,
                patch_gate::config::promotion_key(PRODUCTION_WINDOW)
            ),
        ),
    ];
    exports.extend(settings.map(|(name, value)| (name.to_owned(), value)));
    exports
}

/// `export NAME='value'` lines a shell can paste, and the one thing the variables cannot do.
pub(crate) fn shell_lines(exports: &[(String, String)]) -> Vec<String> {
    let mut lines: Vec<String> = exports
        .iter()
        .map(|(name, value)| format!("export {name}='{}'", value.replace('\'', r"'\''")))
        .collect();
    lines.push(
        "# the AWS CLI v1 ignores these for SQS: aws sqs list-queues --endpoint-url \"$AWS_ENDPOINT_URL_SQS\""
            .to_owned(),
    );
    lines
}

/// Runs `program args` with only PATH and `exports` in its environment (no profile, no config file):
/// (exit code, stdout, stderr).
fn run_with(program: &Path, args: &[&str], exports: &[(String, String)]) -> (i32, String, String) {
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("NO_COLOR", "1")
        .envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    match command.output() {
        Ok(output) => (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
        Err(err) => (
            -1,
            String::new(),
            format!("{} did not start: {err}", program.display()),
        ),
    }
}

/// The AWS CLI tooling/setup.sh installs.
fn aws_cli() -> std::path::PathBuf {
    patchpilot_test_support::workspace_root().join(".tools/awscli/bin/aws")
}

/// Every service answers the AWS CLI, and `patchpilot status` runs, with exactly the printed exports.
pub(crate) async fn check(
    world: &World,
    n: &mut Narrator,
    bin_dir: &Path,
) -> Result<(), WeekError> {
    n.say("\n13. What --keep prints reaches the week from another shell");
    let exports = exports(world);
    let mut calls = Vec::new();
    for (service, command, _) in services(world) {
        let exports = exports.clone();
        calls.push(tokio::task::spawn_blocking(move || {
            let mut args: Vec<String> = command.iter().map(|a| (*a).to_owned()).collect();
            args.extend(["--output".to_owned(), "json".to_owned()]);
            if service == "SQS" {
                // As printed: the AWS CLI v1 takes SQS's endpoint from the flag only.
                let url = exports
                    .iter()
                    .find(|(name, _)| name == "AWS_ENDPOINT_URL_SQS")
                    .map(|(_, url)| url.clone())
                    .unwrap_or_default();
                args.extend(["--endpoint-url".to_owned(), url]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (service, run_with(&aws_cli(), &args, &exports))
        }));
    }
    let mut unreachable = Vec::new();
    for call in calls {
        let (service, (code, _, stderr)) = call.await?;
        if code != 0 {
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            unreachable.push(format!("{service} (exit {code}: {first})"));
        }
    }
    let patchpilot = bin_dir.join("patchpilot");
    let status = {
        let exports = exports.clone();
        tokio::task::spawn_blocking(move || run_with(&patchpilot, &["--json", "status"], &exports))
            .await?
    };
    let gate_read = serde_json::from_str::<Value>(&status.1)
        .ok()
        .is_some_and(|json| !json["decision"].is_null());
    if status.0 != 0 || !gate_read {
        let first = status.2.lines().next().unwrap_or_default();
        unreachable.push(format!("patchpilot status (exit {}: {first})", status.0));
    }
    transcribe(n, &exports, bin_dir).await?;
    n.check(
        Evidence::KeptWeekReachable,
        unreachable.is_empty(),
        if unreachable.is_empty() {
            format!(
                "{} services answer the AWS CLI, and `patchpilot status` reads the gate, with the {} printed exports alone",
                services(world).len(),
                exports.len()
            )
        } else {
            format!("not reached with the printed exports: {}", unreachable.join("; "))
        },
    );
    Ok(())
}

/// The operator's first five minutes, as a shell shows them (see `Report::transcript`).
async fn transcribe(
    n: &mut Narrator,
    exports: &[(String, String)],
    bin_dir: &Path,
) -> Result<(), WeekError> {
    let mut lines = vec![
        "$ tooling/patch-week.sh --keep".to_owned(),
        "…".to_owned(),
        "The services keep running until Ctrl-C. In another shell, paste (checked by row `the kept week is reachable`):".to_owned(),
    ];
    let exported = shell_lines(exports);
    lines.extend(exported.iter().map(|line| format!("   {line}")));
    lines.push("…".to_owned());
    lines.push("$ # in another shell, after pasting the export lines above:".to_owned());
    for command in [["status"].as_slice(), &["compliance"], &["doctor"]] {
        let patchpilot = bin_dir.join("patchpilot");
        let exports = exports.to_vec();
        let args: Vec<&'static str> = command.to_vec();
        let (code, stdout, stderr) =
            tokio::task::spawn_blocking(move || run_with(&patchpilot, &args, &exports)).await?;
        lines.push(format!("$ target/debug/patchpilot {}", command.join(" ")));
        lines.extend(stdout.lines().map(str::to_owned));
        lines.extend(stderr.lines().map(str::to_owned));
        if code != 0 {
            lines.push(format!("$ echo $?\n{code}"));
        }
    }
    if let Some((typed, answered)) = n.report.approval.clone() {
        lines.push("$ # earlier in the week (step 5b), while the gate was closed:".to_owned());
        lines.push(format!("$ target/debug/patchpilot {typed}"));
        lines.extend(answered.lines().map(str::to_owned));
    }
    n.report.transcript = lines;
    Ok(())
}
