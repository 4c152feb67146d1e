//! The operator's side of the week, through the `patchpilot` command's own code: an approval over a
//! closed gate, a hold and its release, and `doctor` on this account and on a faulty copy of it.

use crate::error::{Call, WeekError};
use crate::evidence::Evidence;
use std::collections::BTreeSet;

use patchpilot_test_support::lambda_api::{AccountConcurrency, LambdaApi};

use patchpilot_cli::args::{Cli, Command, GateAction, Global};
use patchpilot_cli::clients::Clients;
use patchpilot_cli::doctor::CHECKS;
use patchpilot_cli::output::{Output, Style};
use patchpilot_test_support::ssm_sim::Background;
use patchpilot_test_support::{isolated_account, sdk_config, sdk_config_as};

use crate::world::{RULE_PREFIX, World};
use crate::{
    BRAKE_ALARM, NAMESPACE, Narrator, PRODUCTION_BASELINE, PRODUCTION_WINDOW, RULES_PARAMETER,
    STAGING_WINDOW, production_enabled,
};

/// The week's deployment, as `patchpilot --stack patchpilot` would read it.
fn settings(world: &World) -> Global {
    Global {
        gate_function: Some("patch-gate".to_owned()),
        table: Some(world.table.clone()),
        failure_queue_url: Some(world.failure_queue.clone()),
        staging_window: Some(STAGING_WINDOW.to_owned()),
        production_window: Some(PRODUCTION_WINDOW.to_owned()),
        staging_group: Some("staging".to_owned()),
        production_baselines: Some(PRODUCTION_BASELINE.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        tag_rules_parameter: Some(RULES_PARAMETER.to_owned()),
        rule_prefix: Some(RULE_PREFIX.to_owned()),
        brake_alarm: Some(BRAKE_ALARM.to_owned()),
        promotion_list: Some(format!(
            "s3://{}/{}",
            world.promotion_bucket,
            patch_gate::config::promotion_key(PRODUCTION_WINDOW)
        )),
        ..Global::default()
    }
}

/// The command's clients aimed at the local account: LocalStack, the simulator for SSM, moto for
/// DynamoDB, the week's Lambda Invoke API for the gate.
async fn local_clients(config: &aws_config::SdkConfig, ssm_url: &str, world: &World) -> Clients {
    let mut clients = Clients::from_config(config);
    clients.ssm = aws_sdk_ssm::Client::new(&sdk_config(ssm_url).await);
    clients.dynamodb = aws_sdk_dynamodb::Client::new(&world.aws.dynamodb_config().await);
    clients.lambda = aws_sdk_lambda::Client::new(&sdk_config(&world.lambda.url).await);
    clients
}

async fn patchpilot(
    global: &Global,
    clients: &Clients,
    command: Command,
) -> Result<Output, WeekError> {
    let cli = Cli {
        global: global.clone(),
        command,
    };
    Box::pin(patchpilot_cli::run(&cli, clients, Style::plain()))
        .await
        .map_err(|err| WeekError::Cli(err.to_string()))
}

fn show(n: &Narrator, command: &str, output: &Output) {
    n.say(format!("   $ patchpilot {command}"));
    for line in output.text.lines() {
        n.say(format!("     {line}"));
    }
}

/// At deployment: the operator attaches the gate's brake to production's patch task, once.
pub(crate) async fn attach_brake(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    let clients = local_clients(&world.config, &world.sim.url, world).await;
    let output = patchpilot(
        &settings(world),
        &clients,
        Command::Gate {
            action: GateAction::Brake { replace: false },
        },
    )
    .await?;
    show(n, "gate brake   # once, at deployment", &output);
    if output.json["braked"] != true {
        return Err(WeekError::Account(format!(
            "patchpilot gate brake left production unbraked: {}",
            output.text
        )));
    }
    Ok(())
}

/// At deployment: the operator points production's Install task at the list the gate promotes, once.
pub(crate) async fn attach_promotion(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    let clients = local_clients(&world.config, &world.sim.url, world).await;
    let output = patchpilot(
        &settings(world),
        &clients,
        Command::Gate {
            action: GateAction::Promote { replace: false },
        },
    )
    .await?;
    show(n, "gate promote   # once, at deployment", &output);
    if output.json["promoted"] != true {
        return Err(WeekError::Account(format!(
            "patchpilot gate promote left production unpromoted: {}",
            output.text
        )));
    }
    Ok(())
}

/// After the gate closed: an operator approves over the failure, then holds and releases production.
pub(crate) async fn approve_hold_release(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    n.say("\n5b. An operator approves over the failure: production opens, pinned; `patchpilot status` shows who and why");
    let global = settings(world);
    let clients = local_clients(&world.config, &world.sim.url, world).await;
    let status = patchpilot(&global, &clients, Command::Status).await?;
    let execution = status.json["decision"]["execution_id"]
        .as_str()
        .ok_or_else(|| WeekError::Account("no decision to approve".to_owned()))?
        .to_owned();
    let reason = "the failed instances run a known-bad image, replaced this week (CHG-4711)";
    let approve = Command::Gate {
        action: GateAction::Approve {
            execution: execution.clone(),
            reason: reason.to_owned(),
        },
    };
    let approved = patchpilot(&global, &clients, approve).await?;
    let typed = format!("gate approve --execution {execution} --reason \"{reason}\"");
    show(n, &typed, &approved);
    n.report.approval = Some((typed, approved.text.clone()));
    let enabled = production_enabled(world).await?;
    let pinned = world
        .ssm
        .get_patch_baseline()
        .baseline_id(PRODUCTION_BASELINE)
        .send()
        .await
        .call("ssm:GetPatchBaseline")?
        .approval_rules()
        .is_some_and(|rules| {
            rules
                .patch_rules()
                .iter()
                .all(|r| r.approve_until_date().is_some())
        });
    let status = patchpilot(&global, &clients, Command::Status).await?;
    show(n, "status", &status);
    let identity = "arn:aws:iam::000000000000:root";
    n.check(
        Evidence::OperatorApproved,
        enabled
            && pinned
            && status.text.contains(&format!("Approval:   by {identity}"))
            && status.text.contains("(CHG-4711)")
            && status.json["decision"]["record"]["approval"]["approved_over"]["failed_instances"]
                .as_array()
                .is_some_and(|failed| !failed.is_empty()),
        format!("production enabled: {enabled}; pinned: {pinned}; status shows the approval by {identity} with its reason"),
    );

    let hold = Command::Gate {
        action: GateAction::Hold {
            reason: "change freeze for the quarter-end close".to_owned(),
        },
    };
    let held = patchpilot(&global, &clients, hold).await?;
    show(
        n,
        "gate hold --reason \"change freeze for the quarter-end close\"",
        &held,
    );
    let held_enabled = production_enabled(world).await?;
    let release = Command::Gate {
        action: GateAction::Release {
            reason: Some("close done".to_owned()),
        },
    };
    let released = patchpilot(&global, &clients, release).await?;
    show(n, "gate release --reason \"close done\"", &released);
    let released_enabled = production_enabled(world).await?;
    n.check(
        Evidence::HoldAndRelease,
        !held_enabled && released_enabled,
        format!("held: production enabled {held_enabled}; released: {released_enabled} (the approved decision again)"),
    );
    Ok(())
}

/// An operator holds production and releases it at once (a script's hold and release): the gate
/// closes and opens within one of the brake's periods. Returns production's state after each.
pub(crate) async fn hold_and_release_at_once(
    world: &World,
    n: &mut Narrator,
) -> Result<(bool, bool), WeekError> {
    let global = settings(world);
    let clients = local_clients(&world.config, &world.sim.url, world).await;
    let reason = "a scripted check of the hold";
    let hold = Command::Gate {
        action: GateAction::Hold {
            reason: reason.to_owned(),
        },
    };
    let held = patchpilot(&global, &clients, hold).await?;
    show(n, &format!("gate hold --reason \"{reason}\""), &held);
    let held_enabled = production_enabled(world).await?;
    let release = Command::Gate {
        action: GateAction::Release { reason: None },
    };
    let released = patchpilot(&global, &clients, release).await?;
    show(n, "gate release", &released);
    Ok((held_enabled, production_enabled(world).await?))
}

/// After the re-check closed production: `status` leads with the state and its cause (the re-check,
/// when, and the alarm by name), then the history that led there; `--json` says the same.
pub(crate) async fn status_explains_the_recheck(
    world: &World,
    n: &mut Narrator,
    alarm: &str,
) -> Result<(), WeekError> {
    let global = settings(world);
    let clients = local_clients(&world.config, &world.sim.url, world).await;
    let status = patchpilot(&global, &clients, Command::Status).await?;
    show(n, "status", &status);
    let state = &status.json["state"];
    let names_alarm = state["why"].as_array().is_some_and(|why| {
        why.iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(alarm)))
    });
    let history: Vec<&str> = state["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["event"].as_str())
        .collect();
    n.check(
        Evidence::StatusExplainsClosedGate,
        state["open"] == false
            && state["cause"] == "recheck"
            && names_alarm
            && status.text.contains("CLOSED, by the re-check")
            && history.last() == Some(&"recheck")
            && history.len() >= 2,
        format!(
            "state: {} by {}; names {alarm}: {names_alarm}; history: {}",
            if state["open"] == true {
                "open"
            } else {
                "closed"
            },
            state["cause"].as_str().unwrap_or("?"),
            history.join(" -> ")
        ),
    );
    Ok(())
}

/// A production baseline the copy's deployment names, which does not exist.
const DELETED_BASELINE: &str = "pb-0c1000000000000ff";

/// `doctor` on the week's account (clean), then on a copy with one fault per check.
pub(crate) async fn doctor(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    n.say("\n9. `patchpilot doctor`: clean on this account; a copy with a fault per check gets each one named, with its fix");
    let global = settings(world);
    let clients = local_clients(&world.config, &world.sim.url, world).await;
    let clean = patchpilot(&global, &clients, Command::Doctor).await?;
    show(n, "doctor", &clean);

    // The copy: the simulator's state with SSM faults, and an account of its own in LocalStack.
    let mut state = world
        .sim
        .app
        .state
        .read()
        .map_err(|_| WeekError::Poisoned("the simulator's state"))?
        .clone();
    state.windows.remove(PRODUCTION_WINDOW);
    if let Some(staging) = state.windows.get_mut(STAGING_WINDOW) {
        for target in &mut staging.targets {
            target.patch_groups = vec!["somewhere-else".to_owned()];
        }
    }
    for baseline in state.baselines.values_mut() {
        baseline.patch_groups.retain(|group| group != "staging");
        if baseline.id == PRODUCTION_BASELINE {
            // Registered for no group: production would patch on the default baseline, unpinned.
            baseline.patch_groups.clear();
        }
    }
    if let Some(rules) = state.parameters.get_mut(RULES_PARAMETER) {
        rules.value = r#"[{"name": "everything"}]"#.to_owned();
    }
    let copy = Background::start(state, Default::default())
        .map_err(|err| WeekError::Setup(err.to_string()))?;
    let account = isolated_account();
    let config = sdk_config_as(&world.aws.localstack_url, &account).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name("patchpilot-failures")
        .send()
        .await
        .call("sqs:CreateQueue")?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    sqs.send_message()
        .queue_url(&queue)
        .message_body("{\"detail-type\": \"Scheduled Event\"}")
        .send()
        .await
        .call("sqs:SendMessage")?;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let rule = format!("{RULE_PREFIX}compliance-snapshot-Snapshot");
    events
        .put_rule()
        .name(&rule)
        .schedule_expression("rate(1 hour)")
        .state(aws_sdk_eventbridge::types::RuleState::Disabled)
        .send()
        .await
        .call("events:PutRule")?;
    let mut copy_clients = local_clients(&config, &copy.url, world).await;
    // A Lambda API of the copy's own: the functions reserve concurrency the account cannot keep.
    let copy_lambda = LambdaApi::start(world.hosts.clone()).await?;
    *copy_lambda
        .concurrency
        .lock()
        .map_err(|_| WeekError::Poisoned("the copy's Lambda API"))? = AccountConcurrency {
        limit: 105,
        unreserved: 96,
        reserved: Some(1),
    };
    copy_clients.lambda = aws_sdk_lambda::Client::new(&sdk_config(&copy_lambda.url).await);
    // The copy's gate also names a production baseline that was deleted.
    let faulty_global = Global {
        failure_queue_url: Some(queue),
        production_baselines: Some(format!("{PRODUCTION_BASELINE},{DELETED_BASELINE}")),
        ..global
    };
    let faulty = patchpilot(&faulty_global, &copy_clients, Command::Doctor).await?;
    show(n, "doctor   # on the copy", &faulty);
    let failed: BTreeSet<String> = faulty.json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["verdict"] == "fail" && f["fix"].is_string())
        .filter_map(|f| f["check"].as_str().map(str::to_owned))
        .collect();
    let every = failed.len() == CHECKS.len() && CHECKS.iter().all(|c| failed.contains(*c));
    n.check(
        Evidence::Doctor,
        !clean.findings && !clean.incomplete && faulty.findings && every,
        format!(
            "clean here ({} checks passed); on the copy {} of {} faults named with a fix",
            clean.json["findings"].as_array().map_or(0, Vec::len),
            failed.len(),
            CHECKS.len()
        ),
    );
    Ok(())
}
