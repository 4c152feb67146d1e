//! The reads the decision needs. Each returns a `FunctionError` naming the call; the handler turns a
//! failed read into a failed check (its text), so the gate closes rather than the invocation failing.

use patchpilot_shared::aws::pages::Pages;
use patchpilot_shared::events::WindowExecutionStatus;
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_ssm::types::{InstanceInformationStringFilter, OperatingSystem};
use chrono::{DateTime, Utc};
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::time::to_utc;

use crate::decide::{Execution, Invocation, Member, Task};
use crate::pin::{Baseline, FailedPatch, Filter, HeldBack, Rule, Source};
use crate::promote::InstanceInstalls;
use patchpilot_shared::live_values::PatchState;

/// The SDK's status as the shared open enum (a value the SDK does not know is kept verbatim; none is
/// read as the empty `Other`, which counts as not succeeded).
fn window_status(
    status: Option<&aws_sdk_ssm::types::MaintenanceWindowExecutionStatus>,
) -> WindowExecutionStatus {
    WindowExecutionStatus::from(status.map_or("", |s| s.as_str()))
}

/// The execution as the service reports it, if it is one of `window_id`'s.
///
/// The event's status and start time are not trusted: a hand-made event with a far-future start would
/// otherwise move the latest pointer and make every real run stale. GetMaintenanceWindowExecution
/// gives the status and start by id (its output names no window), and DescribeMaintenanceWindowExecutions
/// on `window_id` around that start confirms the execution is the staging window's.
pub async fn execution(
    ssm: &aws_sdk_ssm::Client,
    window_id: &str,
    execution_id: &str,
) -> Result<Option<Execution>, FunctionError> {
    let read = ssm
        .get_maintenance_window_execution()
        .window_execution_id(execution_id)
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:GetMaintenanceWindowExecution", err))?;
    let start = read.start_time().and_then(to_utc).ok_or_else(|| {
        FunctionError::Invariant(format!("execution {execution_id} has no StartTime"))
    })?;
    let filter = |key: &str, at: DateTime<Utc>| {
        aws_sdk_ssm::types::MaintenanceWindowFilter::builder()
            .key(key)
            .values(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .build()
    };
    let second = chrono::Duration::seconds(1);
    let listed = ssm
        .describe_maintenance_window_executions()
        .window_id(window_id)
        .filters(filter("ExecutedAfter", start - second))
        .filters(filter("ExecutedBefore", start + second))
        .max_results(10)
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:DescribeMaintenanceWindowExecutions", err))?;
    let of_window = listed
        .window_executions()
        .iter()
        .any(|e| e.window_execution_id() == Some(execution_id));
    Ok(of_window.then(|| Execution {
        id: execution_id.to_owned(),
        status: window_status(read.status()),
        start,
    }))
}

/// The executions of `window_id` that have not finished (pending or in progress), newest first.
pub async fn unfinished_executions(
    ssm: &aws_sdk_ssm::Client,
    window_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<String>, FunctionError> {
    let after = aws_sdk_ssm::types::MaintenanceWindowFilter::builder()
        .key("ExecutedAfter")
        .values(since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .build();
    let mut unfinished = Vec::new();
    let mut pages = Pages::new(
        ssm.describe_maintenance_window_executions()
            .window_id(window_id)
            .filters(after)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeMaintenanceWindowExecutions",
    );
    while let Some(page) = pages.next().await? {
        unfinished.extend(
            page.window_executions()
                .iter()
                .filter(|e| !window_status(e.status()).is_terminal())
                .filter_map(|e| e.window_execution_id().map(str::to_owned)),
        );
    }
    Ok(unfinished)
}

/// The execution's tasks; for patch tasks, their invocations with the instance each ran on.
pub async fn tasks(
    ssm: &aws_sdk_ssm::Client,
    execution_id: &str,
    patch_documents: &[String],
) -> Result<Vec<Task>, FunctionError> {
    let mut tasks = Vec::new();
    let mut pages = Pages::new(
        ssm.describe_maintenance_window_execution_tasks()
            .window_execution_id(execution_id)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeMaintenanceWindowExecutionTasks",
    );
    while let Some(page) = pages.next().await? {
        for task in page.window_execution_task_identities() {
            let document = task.task_arn().unwrap_or_default().to_owned();
            let is_patch = patch_documents.contains(&document);
            let task_execution_id = task.task_execution_id().unwrap_or_default().to_owned();
            let invocations = if is_patch {
                invocations(ssm, execution_id, &task_execution_id).await?
            } else {
                Vec::new()
            };
            tasks.push(Task {
                task_execution_id,
                document,
                is_patch,
                status: window_status(task.status()),
                invocations,
            });
        }
    }
    Ok(tasks)
}

async fn invocations(
    ssm: &aws_sdk_ssm::Client,
    execution_id: &str,
    task_execution_id: &str,
) -> Result<Vec<Invocation>, FunctionError> {
    let mut found = Vec::new();
    let mut pages = Pages::new(
        ssm.describe_maintenance_window_execution_task_invocations()
            .window_execution_id(execution_id)
            .task_id(task_execution_id)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeMaintenanceWindowExecutionTaskInvocations",
    );
    while let Some(page) = pages.next().await? {
        for invocation in page.window_execution_task_invocation_identities() {
            let status = window_status(invocation.status());
            // Invocation records do not name the instance; the Run Command command does. Only failed
            // invocations are looked up, to name them.
            let command_id = invocation.execution_id().unwrap_or_default();
            let instance = if status == WindowExecutionStatus::Success || command_id.is_empty() {
                format!(
                    "invocation {}",
                    invocation.invocation_id().unwrap_or_default()
                )
            } else {
                command_instances(ssm, command_id)
                    .await
                    .ok()
                    .filter(|ids| !ids.is_empty())
                    .map(|ids| ids.join("+"))
                    .unwrap_or_else(|| format!("command {command_id}"))
            };
            found.push(Invocation { status, instance });
        }
    }
    Ok(found)
}

/// The instances `execution_id`'s patch tasks ran on: from each invocation's `Parameters` (the Run
/// Command request the window sent, `instanceIds`, as the AWS CLI's
/// describe-maintenance-window-execution-task-invocations example shows it), or, when an invocation
/// does not carry them, from its Run Command command.
pub async fn patched_instances(
    ssm: &aws_sdk_ssm::Client,
    execution_id: &str,
    patch_documents: &[String],
) -> Result<Vec<String>, FunctionError> {
    let mut instances = Vec::new();
    let mut tasks = Pages::new(
        ssm.describe_maintenance_window_execution_tasks()
            .window_execution_id(execution_id)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeMaintenanceWindowExecutionTasks",
    );
    while let Some(page) = tasks.next().await? {
        for task in page.window_execution_task_identities() {
            if !patch_documents
                .iter()
                .any(|d| Some(d.as_str()) == task.task_arn())
            {
                continue;
            }
            let mut pages = Pages::new(
                ssm.describe_maintenance_window_execution_task_invocations()
                    .window_execution_id(execution_id)
                    .task_id(task.task_execution_id().unwrap_or_default())
                    .max_results(100)
                    .into_paginator()
                    .send(),
                "ssm:DescribeMaintenanceWindowExecutionTaskInvocations",
            );
            while let Some(page) = pages.next().await? {
                for invocation in page.window_execution_task_invocation_identities() {
                    let named: Vec<String> = invocation
                        .parameters()
                        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                        .and_then(|p| p["instanceIds"].as_array().cloned())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|id| id.as_str().map(str::to_owned))
                        .collect();
                    if !named.is_empty() {
                        instances.extend(named);
                    } else if let Some(command) = invocation.execution_id() {
                        instances.extend(command_instances(ssm, command).await?);
                    }
                }
            }
        }
    }
    instances.sort();
    instances.dedup();
    Ok(instances)
}

async fn command_instances(
    ssm: &aws_sdk_ssm::Client,
    command_id: &str,
) -> Result<Vec<String>, FunctionError> {
    let output = ssm
        .list_command_invocations()
        .command_id(command_id)
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:ListCommandInvocations", err))?;
    Ok(output
        .command_invocations()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect())
}

/// The staging group's members: every managed instance tagged into it (whether or not it reported)
/// and every instance Patch Manager holds a state for, with that state.
pub async fn members(
    ssm: &aws_sdk_ssm::Client,
    group: &str,
    tag_keys: &[String],
) -> Result<Vec<Member>, FunctionError> {
    let mut tagged: BTreeSet<String> = BTreeSet::new();
    for key in tag_keys {
        let filter = InstanceInformationStringFilter::builder()
            .key(format!("tag:{key}"))
            .values(group)
            .build()
            .map_err(|err| FunctionError::Invariant(format!("tag filter: {err}")))?;
        let mut pages = Pages::new(
            ssm.describe_instance_information()
                .filters(filter)
                .max_results(50)
                .into_paginator()
                .send(),
            "ssm:DescribeInstanceInformation",
        );
        while let Some(page) = pages.next().await? {
            tagged.extend(
                page.instance_information_list()
                    .iter()
                    .filter_map(|i| i.instance_id().map(str::to_owned)),
            );
        }
    }
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut pages = Pages::new(
        ssm.describe_instance_patch_states_for_patch_group()
            .patch_group(group)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeInstancePatchStatesForPatchGroup",
    );
    while let Some(page) = pages.next().await? {
        for state in page.instance_patch_states() {
            members.insert(
                state.instance_id().to_owned(),
                Member {
                    instance_id: state.instance_id().to_owned(),
                    operation: Some(state.operation().as_str().to_owned()),
                    operation_end: to_utc(state.operation_end_time()),
                    failed: i64::from(state.failed_count()),
                    pending_reboot: state.installed_pending_reboot_count().map_or(0, i64::from),
                },
            );
        }
    }
    for id in tagged {
        members.entry(id.clone()).or_insert(Member {
            instance_id: id,
            operation: None,
            operation_end: None,
            failed: 0,
            pending_reboot: 0,
        });
    }
    Ok(members.into_values().collect())
}

/// Names of the alarms starting with `prefix` that are in ALARM.
pub async fn alarms_firing(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    prefix: &str,
) -> Result<Vec<String>, FunctionError> {
    let mut pages = Pages::new(
        cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .state_value(StateValue::Alarm)
            // Without AlarmTypes, DescribeAlarms "returns only metric alarms, even if composite
            // alarms exist" (CloudWatch API reference): composite health alarms would never hold
            // production.
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .into_paginator()
            .send(),
        "cloudwatch:DescribeAlarms",
    );
    // Metric and composite alarms come in separate lists; either kind firing holds production.
    let mut firing = Vec::new();
    while let Some(page) = pages.next().await? {
        let metric = page.metric_alarms().iter().map(|a| a.alarm_name());
        let composite = page.composite_alarms().iter().map(|a| a.alarm_name());
        firing.extend(metric.chain(composite).flatten().map(str::to_owned));
    }
    firing.sort();
    Ok(firing)
}

/// Staging's failed patches, and the failed instances whose patches could not be read.
#[derive(Debug, Default)]
pub struct FailedPatchReads {
    /// Each failed patch (id and title) once.
    pub patches: Vec<FailedPatch>,
    /// Instances Systems Manager no longer answers for (`InvalidInstanceId`: terminated, deregistered,
    /// or not accessible), each with why. Nothing can be learnt from them; the report names them.
    pub unread: Vec<String>,
}

/// The failed patches (once each by id) of the given instances. An instance the service refuses
/// as `InvalidInstanceId` (one terminated mid-run has left Systems Manager) is named in `unread`
/// instead of failing the whole read: it reported no patch, so there is nothing to reject.
pub async fn failed_patches(
    ssm: &aws_sdk_ssm::Client,
    instance_ids: &[String],
) -> Result<FailedPatchReads, FunctionError> {
    let mut patches: BTreeMap<String, FailedPatch> = BTreeMap::new();
    let mut unread = Vec::new();
    for instance in instance_ids {
        let read = patchpilot_shared::aws::ssm::failed_patches(ssm, instance).await;
        match read.error {
            Some(FunctionError::Aws {
                code: Some(code),
                message,
                ..
            }) if code == "InvalidInstanceId" => {
                unread.push(format!("{instance}: {code}: {message}"));
                continue;
            }
            Some(err) => return Err(err),
            None => {}
        }
        for patch in read.patches {
            patches.entry(patch.kb_id.clone()).or_insert(patch);
        }
    }
    Ok(FailedPatchReads {
        patches: patches.into_values().collect(),
        unread,
    })
}

/// What promotion reads: `group`'s members, and what the first `cap` of them have installed (the
/// rest are named as not read). Returns the reads and how many members the group has.
pub async fn promotion_reads(
    ssm: &aws_sdk_ssm::Client,
    group: &str,
    tag_keys: &[String],
    cap: usize,
) -> Result<(Vec<InstanceInstalls>, usize), FunctionError> {
    let ids: Vec<String> = members(ssm, group, tag_keys)
        .await?
        .into_iter()
        .map(|m| m.instance_id)
        .collect();
    // What staging runs through its baseline's approval: `InstalledOther` (installed outside it) is
    // not promoted.
    let mut instances =
        installed_patches(ssm, &ids[..ids.len().min(cap)], &[PatchState::Installed]).await;
    instances.extend(ids.iter().skip(cap).map(|id| InstanceInstalls {
        instance_id: id.clone(),
        patches: Err(format!("not read: over MAX_PROMOTION_READS ({cap})")),
    }));
    Ok((instances, ids.len()))
}

/// How many instances' installed patches are read at once.
const INSTALLED_READS_AT_ONCE: usize = 4;

/// What each of `instance_ids` has in one of `states`, read a few instances at a time. An instance
/// whose read fails (refused, throttled past the SDK's retries) is kept with why: for promotion, what
/// it alone installed is then held back from production, never added.
pub async fn installed_patches(
    ssm: &aws_sdk_ssm::Client,
    instance_ids: &[String],
    states: &[PatchState],
) -> Vec<InstanceInstalls> {
    let mut read = Vec::with_capacity(instance_ids.len());
    for chunk in instance_ids.chunks(INSTALLED_READS_AT_ONCE) {
        let mut reads = tokio::task::JoinSet::new();
        for (index, id) in chunk.iter().enumerate() {
            let ssm = ssm.clone();
            let id = id.clone();
            let states = states.to_vec();
            reads.spawn(async move {
                let installed =
                    patchpilot_shared::aws::ssm::patches_in_states(&ssm, &id, &states).await;
                let patches = match installed.error {
                    Some(err) => Err(err.to_string()),
                    None => Ok(installed.patches),
                };
                (
                    index,
                    InstanceInstalls {
                        instance_id: id,
                        patches,
                    },
                )
            });
        }
        let mut slots: Vec<Option<InstanceInstalls>> = vec![None; chunk.len()];
        while let Some(joined) = reads.join_next().await {
            match joined {
                Ok((index, one)) => slots[index] = Some(one),
                Err(err) => {
                    tracing::error!(error = %err, "an installed-patches read did not finish")
                }
            }
        }
        read.extend(slots.into_iter().zip(chunk).map(|(slot, id)| {
            slot.unwrap_or_else(|| InstanceInstalls {
                instance_id: id.clone(),
                patches: Err("the read did not finish".to_owned()),
            })
        }));
    }
    read
}

/// The baseline registered for `group` on `operating_system`, as plain data.
pub async fn baseline_for_group(
    ssm: &aws_sdk_ssm::Client,
    group: &str,
    operating_system: &str,
) -> Result<Baseline, FunctionError> {
    let registered = ssm
        .get_patch_baseline_for_patch_group()
        .patch_group(group)
        .operating_system(OperatingSystem::from(operating_system))
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:GetPatchBaselineForPatchGroup", err))?;
    let id = registered.baseline_id().ok_or_else(|| {
        FunctionError::Invariant(format!(
            "no baseline is registered for {group} on {operating_system}"
        ))
    })?;
    baseline(ssm, id).await
}

fn filters(group: Option<&aws_sdk_ssm::types::PatchFilterGroup>) -> Vec<Filter> {
    group
        .map(|g| {
            g.patch_filters()
                .iter()
                .map(|f| Filter {
                    key: f.key().as_str().to_owned(),
                    values: f.values().to_vec(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The parts of baseline `id` that pinning copies.
pub async fn baseline(ssm: &aws_sdk_ssm::Client, id: &str) -> Result<Baseline, FunctionError> {
    let output = ssm
        .get_patch_baseline()
        .baseline_id(id)
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:GetPatchBaseline", err))?;
    let rules = output
        .approval_rules()
        .map(|group| {
            group
                .patch_rules()
                .iter()
                .map(|rule| Rule {
                    filters: filters(rule.patch_filter_group()),
                    compliance_level: rule.compliance_level().map(|l| l.as_str().to_owned()),
                    approve_after_days: rule.approve_after_days(),
                    approve_until_date: rule.approve_until_date().map(str::to_owned),
                    enable_non_security: rule.enable_non_security(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Baseline {
        id: output.baseline_id().unwrap_or(id).to_owned(),
        operating_system: output
            .operating_system()
            .map(|os| os.as_str().to_owned())
            .unwrap_or_default(),
        global_filters: filters(output.global_filters()),
        rules,
        approved_patches: output.approved_patches().to_vec(),
        approved_patches_compliance_level: output
            .approved_patches_compliance_level()
            .map(|l| l.as_str().to_owned()),
        approved_patches_enable_non_security: output.approved_patches_enable_non_security(),
        rejected_patches: output.rejected_patches().to_vec(),
        rejected_patches_action: output
            .rejected_patches_action()
            .map(|a| a.as_str().to_owned()),
        sources: output
            .sources()
            .iter()
            .map(|source| Source {
                name: source.name().to_owned(),
                products: source.products().to_vec(),
                configuration: source.configuration().to_owned(),
            })
            .collect(),
        available_security_updates_compliance_status: output
            .available_security_updates_compliance_status()
            .map(|s| s.as_str().to_owned()),
    })
}

/// How many patches `staging_baseline` had approved by `start` (approval date at or before it) that
/// were released after `cutoff`, the latest day production's pinned rules approve. With one rule this
/// is exact; with rules of different cutoffs it is a lower bound (the list does not say which rule
/// approved a patch).
pub async fn held_back(
    ssm: &aws_sdk_ssm::Client,
    staging_baseline: &str,
    start: DateTime<Utc>,
    cutoff: chrono::NaiveDate,
) -> HeldBack {
    let mut held = HeldBack::default();
    let mut pages = Pages::new(
        ssm.describe_effective_patches_for_patch_baseline()
            .baseline_id(staging_baseline)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeEffectivePatchesForPatchBaseline",
    );
    loop {
        let page = match pages.next().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(err) => {
                held.unreadable = Some(err.to_string());
                return held;
            }
        };
        for effective in page.effective_patches() {
            let (Some(patch), Some(status)) = (effective.patch(), effective.patch_status()) else {
                continue;
            };
            let approved_by_run = status
                .approval_date()
                .and_then(to_utc)
                .is_some_and(|approved| approved <= start);
            let released_after = patch
                .release_date()
                .and_then(to_utc)
                .is_some_and(|released| released.date_naive() > cutoff);
            if approved_by_run && released_after {
                held.patches += 1;
                if held.examples.len() < 10 {
                    held.examples
                        .push(patch.id().unwrap_or_default().to_owned());
                }
            }
        }
    }
    held
}

/// Paged reads against `aws-smithy-mocks`: every page read, and a failure part way typed and kept.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::describe_alarms::{
        DescribeAlarmsError, DescribeAlarmsOutput,
    };
    use aws_sdk_cloudwatch::types::{CompositeAlarm, MetricAlarm};
    use aws_sdk_ssm::operation::describe_effective_patches_for_patch_baseline::{
        DescribeEffectivePatchesForPatchBaselineError,
        DescribeEffectivePatchesForPatchBaselineOutput,
    };
    use aws_sdk_ssm::types::{EffectivePatch, Patch, PatchStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime as SmithyTime;
    use aws_smithy_types::error::ErrorMetadata;
    use patchpilot_shared::error::ErrorClass;

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message("as the service says")
            .build()
    }

    #[tokio::test]
    async fn firing_alarms_are_read_from_every_page_of_both_kinds() {
        let first = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .match_requests(|req| req.next_token().is_none())
            .then_output(|| {
                DescribeAlarmsOutput::builder()
                    .metric_alarms(
                        MetricAlarm::builder()
                            .alarm_name("staging-health-cpu")
                            .build(),
                    )
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
            DescribeAlarmsOutput::builder()
                .composite_alarms(
                    CompositeAlarm::builder()
                        .alarm_name("staging-health-all")
                        .build(),
                )
                .build()
        });
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&first, &second]);
        let firing = alarms_firing(&cloudwatch, "staging-health").await.unwrap();
        assert_eq!(firing, ["staging-health-all", "staging-health-cpu"]);
    }

    #[tokio::test]
    async fn a_denied_alarm_read_is_a_typed_permanent_error_naming_the_call() {
        let denied = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .then_error(|| DescribeAlarmsError::generic(error("AccessDenied")));
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, [&denied]);
        match alarms_firing(&cloudwatch, "staging-health").await {
            Err(FunctionError::Aws {
                operation,
                class,
                code,
                ..
            }) => {
                assert_eq!(operation, "cloudwatch:DescribeAlarms");
                assert_eq!(class, ErrorClass::Permanent);
                assert_eq!(code.as_deref(), Some("AccessDenied"));
            }
            other => panic!("expected the denial, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn held_back_keeps_its_count_when_a_later_page_is_throttled() {
        let start = Utc::now();
        let effective = |id: &str, released: i64, approved: i64| {
            EffectivePatch::builder()
                .patch(
                    Patch::builder()
                        .id(id)
                        .release_date(SmithyTime::from_secs(released))
                        .build(),
                )
                .patch_status(
                    PatchStatus::builder()
                        .approval_date(SmithyTime::from_secs(approved))
                        .build(),
                )
                .build()
        };
        let day = 86_400;
        let now = start.timestamp();
        let first = mock!(aws_sdk_ssm::Client::describe_effective_patches_for_patch_baseline)
            .match_requests(|req| req.next_token().is_none())
            .then_output(move || {
                DescribeEffectivePatchesForPatchBaselineOutput::builder()
                    // Released yesterday, approved before the run: held back by a cutoff two days ago.
                    .effective_patches(effective("tzdata.noarch", now - day, now - 60))
                    // Released a week ago: within the cutoff, not held back.
                    .effective_patches(effective("sudo.x86_64", now - 7 * day, now - 60))
                    .next_token("page-2")
                    .build()
            });
        let throttled = mock!(aws_sdk_ssm::Client::describe_effective_patches_for_patch_baseline)
            .then_error(|| {
                DescribeEffectivePatchesForPatchBaselineError::generic(error("ThrottlingException"))
            });
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&first, &throttled]);
        let cutoff = (start - chrono::Duration::days(2)).date_naive();
        let held = held_back(&ssm, "pb-0c10000000000000a", start, cutoff).await;
        assert_eq!(held.patches, 1);
        assert_eq!(held.examples, ["tzdata.noarch"]);
        let unreadable = held.unreadable.unwrap();
        assert!(
            unreadable.contains("ssm:DescribeEffectivePatchesForPatchBaseline")
                && unreadable.contains("ThrottlingException"),
            "{unreadable}"
        );
    }
}
