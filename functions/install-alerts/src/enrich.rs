//! Gathering what an alert says. Every read may fail (the instance was terminated, the output expired,
//! access was denied): a failed read is recorded in `unreadable` and the alert goes out without it.

use aws_sdk_ssm::types::MaintenanceWindowExecutionStatus;
use patchpilot_shared::live_values::invocation_outcome;
use std::collections::BTreeMap;

use aws_sdk_ssm::types::CommandInvocationStatus;
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::pages::Pages;
use patchpilot_shared::budget::Budget;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::render::{FailedPatch, InstanceInfo, SummaryInstance};

/// ListCommandInvocations pages at most 50.
const INVOCATION_PAGE: i32 = 50;
/// DescribeInstancePatchStates takes at most 50 instance ids.
const PATCH_STATES_BATCH: usize = 50;

/// The AWS clients install-alerts calls, built once per execution environment.
#[derive(Clone)]
pub struct Clients {
    /// Commands, invocations, patch states and window executions.
    pub ssm: aws_sdk_ssm::Client,
    /// Instance names and tags.
    pub ec2: aws_sdk_ec2::Client,
    /// Alerts.
    pub sns: aws_sdk_sns::Client,
    /// Deduplication and storm-control state.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

/// What the command itself says.
#[derive(Debug, Default)]
pub struct CommandFacts {
    /// `Scan` or `Install`, from the command's parameters.
    pub operation: Option<String>,
}

/// The command's `Operation` parameter (Scan or Install), which invocation events do not carry.
pub async fn command(
    ssm: &aws_sdk_ssm::Client,
    command_id: &str,
    unreadable: &mut Vec<String>,
) -> CommandFacts {
    match ssm.list_commands().command_id(command_id).send().await {
        Ok(output) => CommandFacts {
            operation: output
                .commands()
                .first()
                .and_then(|command| command.parameters())
                .and_then(|parameters| parameters.get("Operation"))
                .and_then(|values| values.first())
                .cloned(),
        },
        Err(err) => {
            unreadable.push(format!(
                "the command's operation ({})",
                FunctionError::aws("ssm:ListCommands", err)
            ));
            CommandFacts::default()
        }
    }
}

/// Name tag, patch group tag and platform from EC2; the patch group falls back to Patch Manager's view.
pub async fn instance(
    clients: &Clients,
    instance_id: &str,
    unreadable: &mut Vec<String>,
) -> InstanceInfo {
    let mut info = InstanceInfo::default();
    match clients
        .ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
    {
        Ok(output) => match output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
        {
            Some(instance) => {
                let tag = |key: &str| {
                    instance
                        .tags()
                        .iter()
                        .find(|tag| tag.key() == Some(key))
                        .and_then(|tag| tag.value())
                        .map(str::to_owned)
                };
                info.name = tag("Name");
                info.patch_group = patchpilot_shared::PATCH_GROUP_TAG_KEYS
                    .iter()
                    .find_map(|key| tag(key));
                info.platform = instance
                    .platform_details()
                    .map(str::to_owned)
                    .or_else(|| instance.platform().map(|p| p.as_str().to_owned()));
                info.state = instance
                    .state()
                    .and_then(|state| state.name())
                    .map(|name| name.as_str().to_owned());
            }
            None => unreadable.push("instance details (EC2 does not list the instance)".to_owned()),
        },
        Err(err) => unreadable.push(format!(
            "instance details ({})",
            FunctionError::aws("ec2:DescribeInstances", err)
        )),
    }
    if info.patch_group.is_none() {
        // One instance, one call: the alert's own reads are few enough to need no budget.
        let groups = patch_groups(
            &clients.ssm,
            &[instance_id.to_owned()],
            unreadable,
            &Budget::unbounded(),
        )
        .await;
        info.patch_group = groups.get(instance_id).cloned();
    }
    info
}

/// Patch groups as Patch Manager last recorded them, for many instances at once.
pub async fn patch_groups(
    ssm: &aws_sdk_ssm::Client,
    instance_ids: &[String],
    unreadable: &mut Vec<String>,
    budget: &Budget,
) -> BTreeMap<String, String> {
    let mut groups = BTreeMap::new();
    for batch in instance_ids.chunks(PATCH_STATES_BATCH) {
        let mut pages = Pages::new(
            ssm.describe_instance_patch_states()
                .set_instance_ids(Some(batch.to_vec()))
                .max_results(50)
                .into_paginator()
                .send(),
            "ssm:DescribeInstancePatchStates",
        );
        loop {
            let Some(page) = budget.run(pages.next()).await else {
                unreadable.push(
                    "patch groups (not all read before the function's time limit)".to_owned(),
                );
                return groups;
            };
            match page {
                Ok(Some(page)) => {
                    for state in page.instance_patch_states() {
                        groups.insert(
                            state.instance_id().to_owned(),
                            state.patch_group().to_owned(),
                        );
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    unreadable.push(format!("patch groups ({err})"));
                    return groups;
                }
            }
        }
    }
    groups
}

/// A summary's instances with their patch groups filled in, and the distinct groups of all failed
/// instances (`failed_ids`), sorted.
pub async fn with_patch_groups(
    ssm: &aws_sdk_ssm::Client,
    mut instances: Vec<SummaryInstance>,
    failed_ids: &[String],
    unreadable: &mut Vec<String>,
    budget: &Budget,
) -> (Vec<SummaryInstance>, Vec<String>) {
    let groups = patch_groups(ssm, failed_ids, unreadable, budget).await;
    for instance in &mut instances {
        instance.patch_group = groups.get(&instance.instance_id).cloned();
    }
    let mut distinct: Vec<String> = groups.into_values().collect();
    distinct.sort();
    distinct.dedup();
    (instances, distinct)
}

/// The instance's failed patches: up to `limit` listed, all counted.
pub async fn failed_patches(
    ssm: &aws_sdk_ssm::Client,
    instance_id: &str,
    limit: usize,
    unreadable: &mut Vec<String>,
) -> (Vec<FailedPatch>, usize) {
    let read = patchpilot_shared::aws::ssm::failed_patches(ssm, instance_id).await;
    if let Some(err) = read.error {
        unreadable.push(format!("failed patches ({err})"));
    }
    let total = read.patches.len();
    let mut listed = read.patches;
    listed.truncate(limit);
    (listed, total)
}

/// What GetCommandInvocation says about the run on the instance.
#[derive(Debug, Default)]
pub struct InvocationOutput {
    /// The end of the command's standard output.
    pub stdout_tail: Option<String>,
    /// The end of its standard error.
    pub stderr_tail: Option<String>,
    /// Run Command's status details.
    pub status_details: Option<String>,
    /// The script's exit code.
    pub response_code: Option<i32>,
}

/// The end of the run's output. AWS-RunPatchBaseline has a step per platform and GetCommandInvocation
/// needs the step named ("if the document contains more than one step, you must specify" it): for a
/// patch document the platform's step is asked for at once; for another document the call asks
/// without, and names the platform's patch step only if told a step is needed.
pub async fn invocation_output(
    ssm: &aws_sdk_ssm::Client,
    command_id: &str,
    instance_id: &str,
    document: &str,
    platform: Option<&str>,
    tail_bytes: usize,
    unreadable: &mut Vec<String>,
) -> InvocationOutput {
    let ask = |plugin: Option<&'static str>| {
        ssm.get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .set_plugin_name(plugin.map(str::to_owned))
            .send()
    };
    let patch_step = match platform.unwrap_or_default().to_ascii_lowercase() {
        p if p.contains("windows") => "PatchWindows",
        p if p.contains("mac") => "PatchMacOS",
        _ => "PatchLinux",
    };
    let step_first = document.starts_with("AWS-RunPatchBaseline");
    let mut result = ask(step_first.then_some(patch_step)).await;
    if !step_first
        && let Err(err) = &result
        && err
            .as_service_error()
            .is_some_and(|e| e.is_invalid_plugin_name())
    {
        result = ask(Some(patch_step)).await;
    }
    match result {
        Ok(output) => InvocationOutput {
            stdout_tail: output
                .standard_output_content()
                .map(|text| crate::render::tail(text, tail_bytes)),
            stderr_tail: output
                .standard_error_content()
                .map(|text| crate::render::tail(text, tail_bytes)),
            status_details: output.status_details().map(str::to_owned),
            response_code: Some(output.response_code()),
        },
        Err(err) => {
            unreadable.push(format!(
                "command output ({})",
                FunctionError::aws("ssm:GetCommandInvocation", err)
            ));
            InvocationOutput::default()
        }
    }
}

/// The command's invocations: counts by status, and the failed ones (first `limit` in detail).
#[derive(Debug, Default)]
pub struct InvocationCensus {
    /// Invocations counted.
    pub total: usize,
    /// Invocations by status.
    pub counts_by_status: BTreeMap<String, usize>,
    /// Invocations that failed.
    pub failed_total: usize,
    /// The first failed ones, named.
    pub failed: Vec<SummaryInstance>,
    /// Ids of failed instances (at most [`MAX_FAILED_IDS`]), for their patch groups.
    pub failed_ids: Vec<String>,
    /// Every invocation was counted (false: the stop time came while listing them).
    pub counted_all: bool,
    /// Failed invocations whose instance was not named before the stop time.
    pub not_named: usize,
}

impl InvocationCensus {
    fn new() -> Self {
        Self {
            counted_all: true,
            ..Default::default()
        }
    }

    /// What the census did not reach before the stop time, in words; `None` when complete.
    pub fn shortfall(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.counted_all {
            parts.push(format!(
                "invocations were still being listed ({} counted)",
                self.total
            ));
        }
        if self.not_named > 0 {
            parts.push(format!(
                "{} failed invocations were not named",
                self.not_named
            ));
        }
        (!parts.is_empty())
            .then(|| format!("the function's time limit came first: {}", parts.join("; ")))
    }
}

/// ListCommandInvocations calls a window summary makes at once to name failed instances.
pub const NAMING_CONCURRENCY: usize = 8;

/// Failed instances whose patch groups a summary looks up.
pub const MAX_FAILED_IDS: usize = 1000;

fn is_failed(status: &CommandInvocationStatus) -> bool {
    patchpilot_shared::events::CommandStatus::from(status.as_str()).is_failure()
}

/// Counts `command_id`'s invocations and names the first `limit` failed ones.
pub async fn census(
    ssm: &aws_sdk_ssm::Client,
    command_id: &str,
    limit: usize,
    budget: &Budget,
) -> Result<InvocationCensus, FunctionError> {
    let mut census = InvocationCensus::new();
    let mut pages = Pages::new(
        ssm.list_command_invocations()
            .command_id(command_id)
            .max_results(INVOCATION_PAGE)
            .into_paginator()
            .send(),
        "ssm:ListCommandInvocations",
    );
    loop {
        let Some(page) = budget.run(pages.next()).await else {
            census.counted_all = false;
            break;
        };
        let Some(page) = page? else { break };
        for invocation in page.command_invocations() {
            census.total += 1;
            // Counted by the detailed outcome the console shows (StatusDetails), not the coarse Status.
            let status = invocation_outcome(
                invocation.status().map(|s| s.as_str()),
                invocation.status_details(),
            )
            .to_string();
            *census.counts_by_status.entry(status.clone()).or_default() += 1;
            if invocation.status().is_some_and(is_failed) {
                census.failed_total += 1;
                if census.failed_ids.len() < MAX_FAILED_IDS {
                    census
                        .failed_ids
                        .push(invocation.instance_id().unwrap_or_default().to_owned());
                }
                if census.failed.len() < limit {
                    census.failed.push(SummaryInstance {
                        instance_id: invocation.instance_id().unwrap_or_default().to_owned(),
                        name: invocation
                            .instance_name()
                            .filter(|name| !name.is_empty())
                            .map(str::to_owned),
                        status,
                        patch_group: None,
                    });
                }
            }
        }
    }
    Ok(census)
}

/// A maintenance-window execution's patch invocations: counts by status, and the failed ones with the
/// instance each ran on (looked up through its Run Command command, first `limit` in detail).
pub async fn window_census(
    ssm: &aws_sdk_ssm::Client,
    window_execution_id: &str,
    documents: &[String],
    limit: usize,
    budget: &Budget,
) -> Result<InvocationCensus, FunctionError> {
    let mut census = InvocationCensus::new();
    let mut failed_commands = Vec::new();
    let mut tasks = Pages::new(
        ssm.describe_maintenance_window_execution_tasks()
            .window_execution_id(window_execution_id)
            .max_results(100)
            .into_paginator()
            .send(),
        "ssm:DescribeMaintenanceWindowExecutionTasks",
    );
    'tasks: loop {
        let Some(page) = budget.run(tasks.next()).await else {
            census.counted_all = false;
            break;
        };
        let Some(page) = page? else { break };
        for task in page.window_execution_task_identities() {
            if !documents
                .iter()
                .any(|d| Some(d.as_str()) == task.task_arn())
            {
                continue;
            }
            let mut invocations = Pages::new(
                ssm.describe_maintenance_window_execution_task_invocations()
                    .window_execution_id(window_execution_id)
                    .task_id(task.task_execution_id().unwrap_or_default())
                    .max_results(100)
                    .into_paginator()
                    .send(),
                "ssm:DescribeMaintenanceWindowExecutionTaskInvocations",
            );
            loop {
                let Some(page) = budget.run(invocations.next()).await else {
                    census.counted_all = false;
                    break 'tasks;
                };
                let Some(page) = page? else { break };
                for invocation in page.window_execution_task_invocation_identities() {
                    census.total += 1;
                    let status = invocation.status();
                    let succeeded = status == Some(&MaintenanceWindowExecutionStatus::Success);
                    let status = status.map_or("Unknown", |s| s.as_str()).to_owned();
                    *census.counts_by_status.entry(status.clone()).or_default() += 1;
                    if !succeeded {
                        census.failed_total += 1;
                        if failed_commands.len() < MAX_FAILED_IDS {
                            failed_commands.push((
                                invocation.execution_id().unwrap_or_default().to_owned(),
                                status,
                            ));
                        }
                    }
                }
            }
        }
    }
    let named = name_failed(ssm, &failed_commands, budget).await?;
    for ((_, status), instances) in failed_commands.iter().zip(named) {
        let Some(instances) = instances else {
            census.not_named += 1;
            continue;
        };
        for (id, name) in instances {
            if census.failed.len() < limit {
                census.failed.push(SummaryInstance {
                    instance_id: id.clone(),
                    name,
                    status: status.clone(),
                    patch_group: None,
                });
            }
            census.failed_ids.push(id);
        }
    }
    Ok(census)
}

/// The instances (id, name) of each failed one-instance command a window ran, read
/// [`NAMING_CONCURRENCY`] at a time, in the order given; `None` for a command not reached before the
/// stop time.
async fn name_failed(
    ssm: &aws_sdk_ssm::Client,
    commands: &[(String, String)],
    budget: &Budget,
) -> Result<Vec<Option<Vec<(String, Option<String>)>>>, FunctionError> {
    let permits = Arc::new(Semaphore::new(NAMING_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, (command_id, _)) in commands.iter().enumerate() {
        let (ssm, command_id, permits, budget) =
            (ssm.clone(), command_id.clone(), permits.clone(), *budget);
        tasks.spawn(async move {
            let read = budget
                .run(async {
                    let _permit = permits.acquire_owned().await;
                    ssm.list_command_invocations()
                        .command_id(&command_id)
                        .send()
                        .await
                })
                .await;
            (index, read)
        });
    }
    let mut named = vec![None; commands.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, read) = joined
            .map_err(|err| FunctionError::Invariant(format!("a naming task stopped: {err}")))?;
        let Some(listed) = read else { continue };
        let listed = listed.map_err(|err| FunctionError::aws("ssm:ListCommandInvocations", err))?;
        named[index] = Some(
            listed
                .command_invocations()
                .iter()
                .map(|invocation| {
                    (
                        invocation.instance_id().unwrap_or_default().to_owned(),
                        invocation
                            .instance_name()
                            .filter(|n| !n.is_empty())
                            .map(str::to_owned),
                    )
                })
                .collect(),
        );
    }
    Ok(named)
}

/// Paged reads against `aws-smithy-mocks`: what was read before a failure is kept, the failure said.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::error::ErrorMetadata;
    use aws_sdk_ssm::operation::describe_instance_patch_states::{
        DescribeInstancePatchStatesError, DescribeInstancePatchStatesOutput,
    };
    use aws_sdk_ssm::primitives::DateTime;
    use aws_sdk_ssm::types::{InstancePatchState, PatchOperationType};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn state(instance: &str, group: &str) -> InstancePatchState {
        InstancePatchState::builder()
            .instance_id(instance)
            .patch_group(group)
            .baseline_id("pb-0c10000000000000a")
            .operation(PatchOperationType::Install)
            .operation_start_time(DateTime::from_secs(0))
            .operation_end_time(DateTime::from_secs(60))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn patch_groups_read_before_a_denial_are_kept_and_the_denial_is_named() {
        let first = mock!(aws_sdk_ssm::Client::describe_instance_patch_states)
            .match_requests(|req| req.next_token().is_none())
            .then_output(|| {
                DescribeInstancePatchStatesOutput::builder()
                    .instance_patch_states(state("i-00a00000000000001", "staging"))
                    .next_token("page-2")
                    .build()
            });
        let denied = mock!(aws_sdk_ssm::Client::describe_instance_patch_states).then_error(|| {
            DescribeInstancePatchStatesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: ssm:DescribeInstancePatchStates")
                    .build(),
            )
        });
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&first, &denied]);
        let mut unreadable = Vec::new();
        let ids = [
            "i-00a00000000000001".to_owned(),
            "i-00a00000000000002".to_owned(),
        ];
        let groups = patch_groups(&ssm, &ids, &mut unreadable, &Budget::unbounded()).await;
        assert_eq!(
            groups.into_iter().collect::<Vec<_>>(),
            [("i-00a00000000000001".to_owned(), "staging".to_owned())]
        );
        assert_eq!(unreadable.len(), 1);
        assert!(
            unreadable[0].starts_with(
                "patch groups (ssm:DescribeInstancePatchStates failed: AccessDeniedException"
            ),
            "{}",
            unreadable[0]
        );
    }
}
