//! `patchpilot doctor`: a deployment checked against what the functions need, each finding with
//! its fix. Exit status 1 when anything fails.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use patch_gate::pin::NO_APPROVAL_DATES;
use serde::Serialize;
use serde_json::json;

use crate::clients::Clients;
use crate::error::CliError;
use crate::output::{Output, Style, age, with_progress};
use crate::settings::Settings;
use crate::{status, tag};

/// Every check, by name, in the order they are reported.
pub const CHECKS: [&str; 11] = [
    "windows",
    "staging_targets_group",
    "baselines_registered",
    "production_baselines_pinnable",
    "rules_enabled",
    "snapshot_recent",
    "failure_queue_empty",
    "tag_rules_parse",
    "account_concurrency",
    "brake_attached",
    "promotion_attached",
];

/// Concurrency the functions reserve with `ReserveConcurrency=true` (template.yaml: 1 + 5 + 1 + 2).
pub const RESERVED_BY_THE_STACK: i64 = 9;
/// "You can reserve up to the Unreserved account concurrency value … minus 100" (Lambda developer
/// guide, configuring reserved concurrency).
pub const KEPT_UNRESERVED: i64 = 100;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As the functions need it.
    Pass,
    /// Not as the functions need it: see the fix.
    Fail,
    /// Not checked (a setting is missing).
    Skip,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check.
    pub check: &'static str,
    /// Its verdict.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// How to fix it (for a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn pass(check: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        verdict: Verdict::Pass,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        check,
        verdict: Verdict::Fail,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn skip(check: &'static str, missing: &str) -> Finding {
    Finding {
        check,
        verdict: Verdict::Skip,
        detail: format!("not checked: {missing} is not set"),
        fix: None,
    }
}

/// Staging in another account: its window, targets and baselines are that account's, which only the
/// gate reads (the reader role trusts the gate's role alone).
fn elsewhere(check: &'static str, account: &str) -> Finding {
    Finding {
        check,
        verdict: Verdict::Skip,
        detail: format!(
            "not checked here: staging is in account {account}, which only the gate reads; run `patchpilot doctor --staging-window <id> --staging-group <group>` with that account's credentials"
        ),
        fix: None,
    }
}

/// A call's failure as a failed check (doctor reports what it cannot read, and goes on).
fn unreadable(check: &'static str, err: CliError) -> Finding {
    fail(
        check,
        format!("could not read: {err}"),
        "check the caller's permissions and the setting's value",
    )
}

async fn windows(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "windows";
    let (Some(staging), Some(production)) = (&settings.staging_window, &settings.production_window)
    else {
        return skip(CHECK, "--staging-window or --production-window");
    };
    if let Some(account) = settings.staging_account() {
        return match status::window_enabled(clients, production).await {
            Ok(_) => pass(
                CHECK,
                format!(
                    "production {production} exists; staging {staging} is in account {account}, not checked here"
                ),
            ),
            Err(err) => fail(
                CHECK,
                format!("window {production} cannot be read: {err}"),
                format!(
                    "create it, or deploy with the id of an existing window (aws ssm describe-maintenance-windows); {production} is configured"
                ),
            ),
        };
    }
    if staging == production {
        return fail(
            CHECK,
            format!("staging and production are the same window {staging}"),
            "deploy with StagingWindowId and ProductionWindowId set to two different windows",
        );
    }
    for window in [staging, production] {
        if let Err(err) = status::window_enabled(clients, window).await {
            return fail(
                CHECK,
                format!("window {window} cannot be read: {err}"),
                format!(
                    "create it, or deploy with the id of an existing window (aws ssm describe-maintenance-windows); {window} is configured"
                ),
            );
        }
    }
    pass(
        CHECK,
        format!("staging {staging} and production {production} exist"),
    )
}

async fn staging_targets(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "staging_targets_group";
    let (Some(window), Some(group)) = (&settings.staging_window, &settings.staging_group) else {
        return skip(CHECK, "--staging-window or --staging-group");
    };
    if let Some(account) = settings.staging_account() {
        return elsewhere(CHECK, account);
    }
    let targets = match clients
        .ssm
        .describe_maintenance_window_targets()
        .window_id(window)
        .send()
        .await
    {
        Ok(targets) => targets,
        Err(err) => {
            return unreadable(
                CHECK,
                CliError::sdk("ssm:DescribeMaintenanceWindowTargets", err),
            );
        }
    };
    let keys = patchpilot_shared::PATCH_GROUP_TAG_KEYS.map(|key| format!("tag:{key}"));
    let targeted = targets.targets().iter().any(|target| {
        target.targets().iter().any(|t| {
            t.key().is_some_and(|k| keys.iter().any(|key| key == k))
                && t.values().iter().any(|v| v == group)
        })
    });
    if targeted {
        pass(CHECK, format!("{window} targets patch group {group}"))
    } else {
        fail(
            CHECK,
            format!(
                "{window} has no target for patch group {group}: the gate would judge instances the window never patched"
            ),
            format!(
                "aws ssm register-target-with-maintenance-window --window-id {window} --resource-type INSTANCE --targets \"Key=tag:Patch Group,Values={group}\""
            ),
        )
    }
}

/// A production baseline as read: its operating system and the patch groups it is registered for.
struct BaselineRead {
    id: String,
    read: Result<(String, Vec<String>), CliError>,
}

/// Each production baseline, or why it cannot be read.
async fn production_baselines(clients: &Clients, settings: &Settings) -> Vec<BaselineRead> {
    let mut baselines = Vec::new();
    for id in settings.production_baseline_ids() {
        let read = clients
            .ssm
            .get_patch_baseline()
            .baseline_id(&id)
            .send()
            .await
            .map(|b| {
                (
                    b.operating_system()
                        .map(|os| os.as_str().to_owned())
                        .unwrap_or_default(),
                    b.patch_groups().to_vec(),
                )
            })
            .map_err(|err| CliError::sdk("ssm:GetPatchBaseline", err));
        baselines.push(BaselineRead { id, read });
    }
    baselines
}

/// Production baselines exist and can be pinned by date; with a promoted install list, Ubuntu and
/// Debian (no approval dates) are exact through the list instead.
fn baselines_pinnable(baselines: &[BaselineRead], promoted: bool) -> Finding {
    const CHECK: &str = "production_baselines_pinnable";
    if baselines.is_empty() {
        return pass(
            CHECK,
            "no production baseline is pinned (PRODUCTION_BASELINES is empty)",
        );
    }
    let mut problems = Vec::new();
    let mut listed_only = Vec::new();
    for BaselineRead { id, read } in baselines {
        match read {
            Err(err) => problems.push(format!("{id} cannot be read ({err})")),
            Ok((os, _)) if NO_APPROVAL_DATES.contains(&os.as_str()) && promoted => {
                listed_only.push(format!("{id} ({os})"));
            }
            Ok((os, _)) if NO_APPROVAL_DATES.contains(&os.as_str()) => problems.push(format!(
                "{id} is {os}, whose baselines take no approval dates, so it cannot be pinned without the promoted install list"
            )),
            Ok(_) => {}
        }
    }
    if problems.is_empty() {
        let exact = if listed_only.is_empty() {
            String::new()
        } else {
            format!(
                "; {} take no approval dates and install exactly through the promoted list",
                listed_only.join(", ")
            )
        };
        pass(
            CHECK,
            format!(
                "{} production baseline(s) exist and can be pinned{exact}",
                baselines.len()
            ),
        )
    } else {
        fail(
            CHECK,
            problems.join("; "),
            "deploy with ProductionBaselineIds naming existing baselines; for Ubuntu and Debian, deploy with promotion (the PromotionInstallList output) and run `patchpilot gate promote`",
        )
    }
}

async fn baselines_registered(
    clients: &Clients,
    settings: &Settings,
    baselines: &[BaselineRead],
) -> Finding {
    const CHECK: &str = "baselines_registered";
    let Some(group) = &settings.staging_group else {
        return skip(CHECK, "--staging-group");
    };
    if let Some(account) = settings.staging_account() {
        // Production's baselines are this account's; staging's registrations are the other's.
        let unregistered: Vec<&str> = baselines
            .iter()
            .filter(|b| b.read.as_ref().is_ok_and(|(_, groups)| groups.is_empty()))
            .map(|b| b.id.as_str())
            .collect();
        return if unregistered.is_empty() {
            elsewhere(CHECK, account)
        } else {
            fail(
                CHECK,
                format!(
                    "production baseline(s) {} registered for no patch group",
                    unregistered.join(", ")
                ),
                "aws ssm register-patch-baseline-for-patch-group --baseline-id <pb-...> --patch-group <group> (one baseline per group and operating system)",
            )
        };
    }
    let mut registered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pages = clients.ssm.describe_patch_groups().into_paginator().send();
    loop {
        match pages.try_next().await {
            Ok(Some(page)) => {
                for mapping in page.mappings() {
                    let os = mapping
                        .baseline_identity()
                        .and_then(|b| b.operating_system())
                        .map(|os| os.as_str().to_owned())
                        .unwrap_or_default();
                    registered
                        .entry(mapping.patch_group().unwrap_or_default().to_owned())
                        .or_default()
                        .insert(os);
                }
            }
            Ok(None) => break,
            Err(err) => return unreadable(CHECK, CliError::sdk("ssm:DescribePatchGroups", err)),
        }
    }
    let staging_os = registered.get(group).cloned().unwrap_or_default();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for BaselineRead { id, read } in baselines {
        let Ok((os, groups)) = read else { continue };
        if groups.is_empty() {
            // Production instances would patch on their OS's default baseline: the pin does nothing.
            problems.push(format!(
                "production baseline {id} is registered for no patch group"
            ));
        }
        if staging_os.contains(os) {
            continue;
        }
        // No baseline registered for staging on this OS: staging patches on the OS's default
        // baseline (AWS's own, or the account's default), which is what the gate pins production
        // to. Only a staging baseline that cannot be resolved is a fault.
        match clients
            .ssm
            .get_patch_baseline_for_patch_group()
            .patch_group(group)
            .operating_system(aws_sdk_ssm::types::OperatingSystem::from(os.as_str()))
            .send()
            .await
        {
            Ok(found) => notes.push(format!(
                "{os}: none registered, staging uses the default baseline {} (the gate pins {id} to it)",
                found.baseline_id().unwrap_or("?")
            )),
            Err(err) => problems.push(format!(
                "staging group {group} has no {os} baseline to pin {id} to ({})",
                CliError::sdk("ssm:GetPatchBaselineForPatchGroup", err)
            )),
        }
    }
    if problems.is_empty() {
        let mut detail = format!("staging group {group}: ");
        let registered: Vec<String> = staging_os.into_iter().collect();
        if !registered.is_empty() {
            detail.push_str(&format!(
                "baselines registered for {}",
                registered.join(", ")
            ));
            if !notes.is_empty() {
                detail.push_str("; ");
            }
        }
        detail.push_str(&notes.join("; "));
        if registered.is_empty() && notes.is_empty() {
            detail.push_str("no baseline registered, and no production baseline to pin");
        }
        pass(CHECK, detail)
    } else {
        fail(
            CHECK,
            problems.join("; "),
            "aws ssm register-patch-baseline-for-patch-group --baseline-id <pb-...> --patch-group <group> (one baseline per group and operating system)",
        )
    }
}

async fn rules_enabled(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "rules_enabled";
    let Some(prefix) = &settings.rule_prefix else {
        return skip(CHECK, "--rule-prefix (or --stack)");
    };
    let listed = clients.events.list_rules().name_prefix(prefix).send().await;
    let rules = match listed {
        Ok(listed) => listed.rules().to_vec(),
        Err(err) => return unreadable(CHECK, CliError::sdk("events:ListRules", err)),
    };
    if rules.is_empty() {
        return fail(
            CHECK,
            format!("no EventBridge rule is named {prefix}*: nothing triggers the functions"),
            "deploy the stack (sam deploy), or pass the stack's rule prefix with --rule-prefix",
        );
    }
    let disabled: Vec<String> = rules
        .iter()
        .filter(|rule| rule.state().map(|s| s.as_str()) != Some("ENABLED"))
        .filter_map(|rule| rule.name().map(str::to_owned))
        .collect();
    if disabled.is_empty() {
        pass(
            CHECK,
            format!("{} rule(s) named {prefix}* are enabled", rules.len()),
        )
    } else {
        fail(
            CHECK,
            format!("disabled: {}", disabled.join(", ")),
            format!("aws events enable-rule --name {}", disabled[0]),
        )
    }
}

async fn snapshot_recent(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "snapshot_recent";
    let limit = chrono::Duration::minutes(2 * i64::from(settings.snapshot_minutes));
    let fleet_only = status::Reach::Fleet;
    match status::last_snapshot(
        clients,
        &settings.namespace,
        settings.snapshot_minutes,
        fleet_only,
    )
    .await
    {
        Err(err) => unreadable(CHECK, err),
        Ok((Some(fleet), _)) if fleet.latest().is_some() => {
            let (at, _) = fleet.latest().unwrap_or((Utc::now(), 0.0));
            let late = Utc::now() - at;
            if late <= limit {
                pass(CHECK, format!("the last snapshot is {} old", age(late)))
            } else {
                fail(
                    CHECK,
                    format!(
                        "the last snapshot is {} old (more than twice the {}-minute interval)",
                        age(late),
                        settings.snapshot_minutes
                    ),
                    "check compliance-snapshot's errors (its log group, the failure queue) and that its schedule rule is enabled",
                )
            }
        }
        Ok(_) => fail(
            CHECK,
            format!(
                "no snapshot in namespace {} in the last 7 days",
                settings.namespace
            ),
            "check that compliance-snapshot runs (its schedule rule, its log group) and that --namespace matches MetricNamespace",
        ),
    }
}

async fn failure_queue_empty(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "failure_queue_empty";
    let Some(queue) = &settings.failure_queue_url else {
        return skip(CHECK, "--failure-queue-url");
    };
    match status::queue_depth(clients, queue).await {
        Err(err) => unreadable(CHECK, err),
        Ok(0) => pass(CHECK, "no event is waiting"),
        Ok(depth) => fail(
            CHECK,
            format!("{depth} event(s) the functions could not handle are waiting"),
            format!(
                "read them (aws sqs receive-message --queue-url {queue} --attribute-names All), fix the cause, then redrive or delete them"
            ),
        ),
    }
}

async fn tag_rules_parse(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "tag_rules_parse";
    match tag::rules_text(clients, settings, None).await {
        Err(err) => unreadable(CHECK, err),
        Ok(None) => skip(CHECK, "--tag-rules or --tag-rules-parameter"),
        Ok(Some((source, rules))) => match tag::policy(settings, &source, &rules) {
            Ok(policy) => pass(
                CHECK,
                format!("{} rule(s) from {source} parse", policy.rules.len()),
            ),
            Err(err) => fail(
                CHECK,
                err.to_string(),
                "fix the rules (see patch-group-tagger's rule reference in docs/functions.md); `patchpilot tag preview --rules-file F` tries a file first",
            ),
        },
    }
}

/// The account's concurrency against what `ReserveConcurrency` needs: named either way, a failure
/// only where the deployment reserves concurrency the account cannot keep.
pub fn concurrency_finding(limit: i64, unreserved: i64, reserved_by_gate: Option<i64>) -> Finding {
    const CHECK: &str = "account_concurrency";
    let needed = KEPT_UNRESERVED + RESERVED_BY_THE_STACK;
    match reserved_by_gate {
        Some(_) if unreserved < KEPT_UNRESERVED => fail(
            CHECK,
            format!(
                "the functions reserve concurrency, and the account keeps {unreserved} unreserved of {limit}: Lambda needs {KEPT_UNRESERVED}"
            ),
            "deploy with ReserveConcurrency=false, or raise the account's limit (Service Quotas: Lambda, Concurrent executions)",
        ),
        Some(reserved) => pass(
            CHECK,
            format!(
                "the functions reserve concurrency (patch-gate {reserved}); the account limit is {limit}, {unreserved} unreserved"
            ),
        ),
        None if unreserved >= needed => pass(
            CHECK,
            format!(
                "account limit {limit}, {unreserved} unreserved: ReserveConcurrency=true would also deploy (it needs {needed})"
            ),
        ),
        None => pass(
            CHECK,
            format!(
                "account limit {limit}, {unreserved} unreserved: ReserveConcurrency=true would fail to deploy here (Lambda keeps {KEPT_UNRESERVED} unreserved and the functions reserve {RESERVED_BY_THE_STACK}, so it needs {needed}); keep it false or raise the limit first"
            ),
        ),
    }
}

async fn account_concurrency(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "account_concurrency";
    let account = match clients.lambda.get_account_settings().send().await {
        Ok(account) => account,
        Err(err) => return unreadable(CHECK, CliError::sdk("lambda:GetAccountSettings", err)),
    };
    let Some(limits) = account.account_limit() else {
        return fail(
            CHECK,
            "GetAccountSettings returned no AccountLimit",
            "retry; if it persists, read the limits in the Lambda console",
        );
    };
    let reserved = match &settings.gate_function {
        Some(function) => match clients
            .lambda
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
        {
            Ok(concurrency) => concurrency.reserved_concurrent_executions().map(i64::from),
            Err(err) => {
                return unreadable(CHECK, CliError::sdk("lambda:GetFunctionConcurrency", err));
            }
        },
        None => None,
    };
    concurrency_finding(
        i64::from(limits.concurrent_executions()),
        limits
            .unreserved_concurrent_executions()
            .map_or(0, i64::from),
        reserved,
    )
}

/// Production's patch tasks watch the gate's brake alarm, and the alarm exists.
async fn brake_attached(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "brake_attached";
    let (Some(window), Some(brake)) = (&settings.production_window, &settings.brake_alarm) else {
        return skip(CHECK, "--production-window or --brake-alarm");
    };
    let alarms = clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(brake)
        .send()
        .await;
    match alarms {
        Ok(found) if found.metric_alarms().is_empty() => {
            return fail(
                CHECK,
                format!("alarm {brake} does not exist"),
                "deploy this version of the stack (it creates GateBrakeAlarm), or set --brake-alarm to its name",
            );
        }
        Ok(_) => {}
        Err(err) => return unreadable(CHECK, CliError::sdk("cloudwatch:DescribeAlarms", err)),
    }
    let tasks = match crate::brake::patch_tasks(clients, window).await {
        Ok(tasks) => tasks,
        Err(err) => return unreadable(CHECK, err),
    };
    if tasks.is_empty() {
        return fail(
            CHECK,
            format!("production window {window} has no AWS-RunPatchBaseline task"),
            "register production's patch task, then run `patchpilot gate brake`",
        );
    }
    let unbraked: Vec<String> = tasks
        .iter()
        .filter(|task| task.alarm.as_deref() != Some(brake.as_str()))
        .map(|task| match &task.alarm {
            Some(other) => format!("{} (watches {other})", task.window_task_id),
            None => format!("{} (no alarm)", task.window_task_id),
        })
        .collect();
    if unbraked.is_empty() {
        pass(
            CHECK,
            format!(
                "{} patch task(s) of {window} stop while {brake} is in ALARM",
                tasks.len()
            ),
        )
    } else {
        fail(
            CHECK,
            format!(
                "production can patch while the gate is closed if the window is enabled behind its back: {} not braked",
                unbraked.join(", ")
            ),
            "patchpilot gate brake (a task watching another alarm needs a composite alarm of both, or --replace)",
        )
    }
}

/// Production's Install tasks install from the list the gate promotes.
async fn promotion_attached(clients: &Clients, settings: &Settings) -> Finding {
    const CHECK: &str = "promotion_attached";
    let (Some(window), Some(list)) = (&settings.production_window, &settings.promotion_list) else {
        return skip(CHECK, "--production-window or --promotion-list");
    };
    let tasks = match crate::promote::task_parameters(clients, window).await {
        Ok(tasks) => tasks,
        Err(err) => return unreadable(CHECK, err),
    };
    let tasks: Vec<_> = tasks.into_iter().map(|(task, _)| task).collect();
    let steps = crate::promote::plan(&tasks, list, false);
    let installing = steps
        .iter()
        .filter(|(_, step)| *step != crate::promote::Step::ScanOnly)
        .count();
    let unpromoted: Vec<String> = steps
        .iter()
        .filter(|(_, step)| {
            !matches!(
                step,
                crate::promote::Step::ScanOnly | crate::promote::Step::AlreadyAttached
            )
        })
        .map(|(task, step)| format!("{} ({step:?})", task.task.window_task_id))
        .collect();
    if installing == 0 {
        fail(
            CHECK,
            format!("production window {window} has no AWS-RunPatchBaseline Install task"),
            "register production's patch task, then run `patchpilot gate promote`",
        )
    } else if unpromoted.is_empty() {
        pass(
            CHECK,
            format!("{installing} Install task(s) of {window} install only from {list}"),
        )
    } else {
        fail(
            CHECK,
            format!(
                "production installs what its baseline approves, not only what staging runs: {}",
                unpromoted.join(", ")
            ),
            "patchpilot gate promote (a task with its own list needs --replace; BaselineOverride cannot be combined with a list)",
        )
    }
}

/// Every check, in order.
pub async fn findings(clients: &Clients, settings: &Settings) -> Vec<Finding> {
    let baselines = production_baselines(clients, settings).await;
    let (
        windows,
        targets,
        registered,
        rules,
        snapshot,
        queue,
        tag_rules,
        concurrency,
        brake,
        promotion,
    ) = tokio::join!(
        windows(clients, settings),
        staging_targets(clients, settings),
        baselines_registered(clients, settings, &baselines),
        rules_enabled(clients, settings),
        snapshot_recent(clients, settings),
        failure_queue_empty(clients, settings),
        tag_rules_parse(clients, settings),
        account_concurrency(clients, settings),
        brake_attached(clients, settings),
        promotion_attached(clients, settings),
    );
    vec![
        windows,
        targets,
        registered,
        baselines_pinnable(&baselines, settings.promotion_list.is_some()),
        rules,
        snapshot,
        queue,
        tag_rules,
        concurrency,
        brake,
        promotion,
    ]
}

/// Runs `doctor`.
pub async fn run(clients: &Clients, settings: &Settings, style: Style) -> Result<Output, CliError> {
    let findings = with_progress("the deployment", findings(clients, settings)).await;
    let failed = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .count();
    let mut text = String::new();
    for finding in &findings {
        let mark = match finding.verdict {
            Verdict::Pass => style.good("ok  "),
            Verdict::Fail => style.bad("FAIL"),
            Verdict::Skip => style.warn("skip"),
        };
        text.push_str(&format!("{mark} {}: {}\n", finding.check, finding.detail));
        if let Some(fix) = &finding.fix {
            text.push_str(&format!("     fix: {fix}\n"));
        }
    }
    let skipped = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Skip)
        .count();
    text.push('\n');
    text.push_str(&verdict_line(failed, skipped, findings.len(), style));
    Ok(Output {
        text,
        json: json!({
            "findings": findings,
            "failed": failed,
            "skipped": skipped,
            "complete": skipped == 0,
        }),
        findings: failed > 0,
        incomplete: skipped > 0,
    })
}

/// The last line: "No finding" only when every check ran; skipped checks are counted, never hidden.
fn verdict_line(failed: usize, skipped: usize, checks: usize, style: Style) -> String {
    let not_run = format!(
        "{skipped} of {checks} checks not run (a setting they need is missing: see `skip` above; \
         --stack reads them all from the stack's outputs)"
    );
    match (failed, skipped) {
        (0, 0) => style.good(&format!("No finding: all {checks} checks ran.\n")),
        (0, _) => style.warn(&format!(
            "No finding in the {} checks that ran, but the deployment was not fully checked: {not_run}.\n",
            checks - skipped
        )),
        (_, 0) => style.bad(&format!("{failed} finding(s).\n")),
        (_, _) => style.bad(&format!("{failed} finding(s); {not_run}.\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ubuntu_production_is_pinnable_only_through_the_promoted_list() {
        let baselines = || {
            vec![
                BaselineRead {
                    id: "pb-0c10000000000000b".into(),
                    read: Ok(("UBUNTU".into(), vec![])),
                },
                BaselineRead {
                    id: "pb-0c10000000000000c".into(),
                    read: Ok(("AMAZON_LINUX_2023".into(), vec![])),
                },
            ]
        };
        let unpromoted = baselines_pinnable(&baselines(), false);
        assert_eq!(unpromoted.verdict, Verdict::Fail);
        assert!(unpromoted.detail.contains("UBUNTU"));
        assert!(unpromoted.fix.unwrap().contains("patchpilot gate promote"));
        let promoted = baselines_pinnable(&baselines(), true);
        assert_eq!(promoted.verdict, Verdict::Pass);
        assert!(
            promoted
                .detail
                .contains("pb-0c10000000000000b (UBUNTU) take no approval dates and install exactly through the promoted list"),
            "{}",
            promoted.detail
        );
    }

    #[test]
    fn concurrency_names_what_reserve_concurrency_would_fail_on() {
        // A new account's usual quota of 10: reserving would not deploy, and doctor says so.
        let new_account = concurrency_finding(10, 10, None);
        assert_eq!(new_account.verdict, Verdict::Pass);
        assert!(
            new_account
                .detail
                .contains("ReserveConcurrency=true would fail to deploy here")
        );
        assert!(new_account.detail.contains("it needs 109"));
        let roomy = concurrency_finding(1000, 1000, None);
        assert!(
            roomy.detail.contains("would also deploy"),
            "{}",
            roomy.detail
        );
        let starved = concurrency_finding(105, 96, Some(1));
        assert_eq!(starved.verdict, Verdict::Fail);
        assert!(starved.fix.unwrap().contains("ReserveConcurrency=false"));
        assert_eq!(
            concurrency_finding(1000, 991, Some(1)).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn no_finding_is_said_only_when_every_check_ran() {
        let plain = Style::plain();
        assert_eq!(
            verdict_line(0, 0, 9, plain),
            "No finding: all 9 checks ran.\n"
        );
        let partial = verdict_line(0, 3, 9, plain);
        assert!(!partial.starts_with("No finding:"), "{partial}");
        assert!(partial.contains("not fully checked"), "{partial}");
        assert!(partial.contains("3 of 9 checks not run"), "{partial}");
        assert_eq!(verdict_line(2, 0, 9, plain), "2 finding(s).\n");
        assert!(verdict_line(2, 1, 9, plain).contains("1 of 9 checks not run"));
    }

    /// Staging in another account: doctor reads production's window only, and leaves staging's
    /// window, targets and baselines to that account, saying so; production's own faults still count.
    #[tokio::test]
    async fn staging_in_another_account_is_left_to_that_account() {
        use aws_sdk_ssm::operation::get_maintenance_window::GetMaintenanceWindowOutput;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use std::sync::{Arc, Mutex};
        let read = Arc::new(Mutex::new(Vec::new()));
        let r = read.clone();
        let window =
            mock!(aws_sdk_ssm::Client::get_maintenance_window).then_compute_output(move |req| {
                let id = req.window_id().unwrap_or_default().to_owned();
                r.lock().unwrap().push(id.clone());
                GetMaintenanceWindowOutput::builder()
                    .window_id(id)
                    .enabled(true)
                    .build()
            });
        let mut clients = Clients::from_config(
            &aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-1"))
                .build(),
        );
        clients.ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&window]);
        let settings = Settings {
            staging_window: Some("mw-0c50858d01ff4a3b1".into()),
            production_window: Some("mw-0d61969e12ee5b4c2".into()),
            staging_group: Some("staging".into()),
            staging_role_arn: Some(
                "arn:aws:iam::222233334444:role/patchpilot-staging-reader".into(),
            ),
            ..Settings::default()
        };
        let found = windows(&clients, &settings).await;
        assert_eq!(found.verdict, Verdict::Pass, "{}", found.detail);
        assert!(found.detail.contains("in account 222233334444"));
        assert_eq!(*read.lock().unwrap(), ["mw-0d61969e12ee5b4c2"]);
        let targets = staging_targets(&clients, &settings).await;
        assert_eq!(targets.verdict, Verdict::Skip);
        assert!(
            targets
                .detail
                .contains("staging is in account 222233334444")
        );
        let registered = |groups: Vec<String>| {
            vec![BaselineRead {
                id: "pb-0c10000000000000b".into(),
                read: Ok(("AMAZON_LINUX_2023".into(), groups)),
            }]
        };
        let fine =
            baselines_registered(&clients, &settings, &registered(vec!["production".into()])).await;
        assert_eq!(fine.verdict, Verdict::Skip, "{}", fine.detail);
        let unregistered = baselines_registered(&clients, &settings, &registered(vec![])).await;
        assert_eq!(unregistered.verdict, Verdict::Fail);
        assert!(unregistered.detail.contains("pb-0c10000000000000b"));
    }

    #[tokio::test]
    async fn every_check_is_named_and_reported_in_order() {
        // No settings at all: every check that needs one is skipped, none is lost.
        let clients = Clients::from_config(
            &aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        );
        let settings = Settings::default();
        let findings = findings(&clients, &settings).await;
        let names: Vec<&str> = findings.iter().map(|f| f.check).collect();
        assert_eq!(names, CHECKS);
    }
}
