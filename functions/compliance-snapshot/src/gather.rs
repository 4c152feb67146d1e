//! The SSM reads: patch groups, each group's instance patch states (streamed into stats, never
//! held), and the fleet inventory. Each returns how many calls (pages) it made.

use patchpilot_shared::aws::pages::Pages;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_ssm::types::{
    ComplianceQueryOperatorType, ComplianceStatus, ComplianceStringFilter,
    InstanceInformationStringFilter,
};
use chrono::{DateTime, Duration, Utc};
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::ssm::tagged_with_any;
use patchpilot_shared::aws::time::to_utc;

use crate::aggregate::{GroupCounts, GroupStats, InstanceState};
use crate::coverage::{self, Ec2Fleet, ManagedIds};
use crate::summaries::{Folded, SUMMARIES_PAGE};

/// SSM calls made, by operation.
pub type CallCounts = BTreeMap<&'static str, usize>;

/// DescribePatchGroups takes at most 100 a page; so does DescribeInstancePatchStatesForPatchGroup's
/// request, although its response may hold fewer (the model caps it at 5): the paginator follows
/// NextToken whatever each page holds.
const GROUP_PAGE: i32 = 100;
/// DescribeInstanceInformation returns at most 50 per page.
const INFORMATION_PAGE: i32 = 50;

/// Every patch group with a baseline registered for it.
pub async fn discover_groups(
    ssm: &aws_sdk_ssm::Client,
    calls: &mut CallCounts,
) -> Result<Vec<String>, FunctionError> {
    let mut groups = Vec::new();
    let mut pages = Pages::new(
        ssm.describe_patch_groups()
            .max_results(GROUP_PAGE)
            .into_paginator()
            .send(),
        "ssm:DescribePatchGroups",
    );
    // A failed call is a call made: counted before its error ends the read.
    while let Some(page) = pages.next().await.transpose() {
        *calls.entry("DescribePatchGroups").or_default() += 1;
        let page = page?;
        groups.extend(
            page.mappings()
                .iter()
                .filter_map(|mapping| mapping.patch_group().map(str::to_owned)),
        );
    }
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// One group's counts: a single `DescribePatchGroupState` call, whatever the group's size.
pub async fn group_counts(
    ssm: &aws_sdk_ssm::Client,
    group: &str,
) -> Result<GroupCounts, FunctionError> {
    let state = ssm
        .describe_patch_group_state()
        .patch_group(group)
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:DescribePatchGroupState", err))?;
    let count = |value: i32| u64::try_from(value).unwrap_or(0);
    let optional = |value: Option<i32>| value.map_or(0, count);
    Ok(GroupCounts {
        instances: count(state.instances()),
        with_missing: count(state.instances_with_missing_patches()),
        with_failed: count(state.instances_with_failed_patches()),
        with_pending_reboot: optional(state.instances_with_installed_pending_reboot_patches()),
        with_rejected: optional(state.instances_with_installed_rejected_patches()),
        with_critical: optional(state.instances_with_critical_non_compliant_patches()),
        with_security: optional(state.instances_with_security_non_compliant_patches()),
        with_other: optional(state.instances_with_other_non_compliant_patches()),
    })
}

/// One group's stats, read page by page; `pages_read` counts the calls made, also when the read is
/// cut off part way.
pub async fn read_group(
    ssm: &aws_sdk_ssm::Client,
    group: &str,
    now: DateTime<Utc>,
    stale_after: Duration,
    pages_read: &AtomicUsize,
) -> Result<GroupStats, FunctionError> {
    let mut stats = GroupStats::default();
    let mut pages = Pages::new(
        ssm.describe_instance_patch_states_for_patch_group()
            .patch_group(group)
            .max_results(GROUP_PAGE)
            .into_paginator()
            .send(),
        "ssm:DescribeInstancePatchStatesForPatchGroup",
    );
    while let Some(page) = pages.next().await.transpose() {
        pages_read.fetch_add(1, Ordering::Relaxed);
        let page = page?;
        for row in page.instance_patch_states() {
            let state = InstanceState {
                missing: i64::from(row.missing_count()),
                failed: i64::from(row.failed_count()),
                installed_pending_reboot: row.installed_pending_reboot_count().map_or(0, i64::from),
                installed_rejected: row.installed_rejected_count().map_or(0, i64::from),
                critical_non_compliant: row.critical_non_compliant_count().map_or(0, i64::from),
                security_non_compliant: row.security_non_compliant_count().map_or(0, i64::from),
                other_non_compliant: row.other_non_compliant_count().map_or(0, i64::from),
                operation_end: to_utc(row.operation_end_time()),
            };
            stats.add(&state, now, stale_after);
        }
    }
    Ok(stats)
}

/// How many states the service puts in one page of `group`'s per-instance states, from one call
/// asking for [`GROUP_PAGE`]: what the page held when more followed, else the most asked for (the
/// group fitted, so its page size cannot be told and does not slow it).
pub async fn group_page_size(
    ssm: &aws_sdk_ssm::Client,
    group: &str,
) -> Result<usize, FunctionError> {
    let page = ssm
        .describe_instance_patch_states_for_patch_group()
        .patch_group(group)
        .max_results(GROUP_PAGE)
        .send()
        .await
        .map_err(|err| FunctionError::aws("ssm:DescribeInstancePatchStatesForPatchGroup", err))?;
    Ok(match page.next_token() {
        Some(token) if !token.is_empty() => page.instance_patch_states().len().max(1),
        _ => GROUP_PAGE as usize,
    })
}

/// The resource type of a managed node's compliance summary.
const MANAGED_INSTANCE: &str = "ManagedInstance";

/// Every node's patch compliance summary (`ListResourceComplianceSummaries` filtered to the `Patch`
/// type, 50 a page, one cursor), each folded into the group `fleet`'s EC2 tags put its node in
/// (sealed); nothing is held but the per-group figures. `pages_read` counts the calls, also when
/// the read fails part way.
pub async fn compliance_summaries(
    ssm: &aws_sdk_ssm::Client,
    fleet: &Ec2Fleet,
    now: DateTime<Utc>,
    stale_after: Duration,
    pages_read: &mut usize,
) -> Result<Folded, FunctionError> {
    // The only filter key relied on: the live service's keys for this call are not published
    // (ledger row 36), and ComplianceType is the one its CLI example shows.
    let patch_only = ComplianceStringFilter::builder()
        .key("ComplianceType")
        .values("Patch")
        .r#type(ComplianceQueryOperatorType::Equal)
        .build();
    let mut pages = Pages::new(
        ssm.list_resource_compliance_summaries()
            .filters(patch_only)
            .max_results(SUMMARIES_PAGE as i32)
            .into_paginator()
            .send(),
        "ssm:ListResourceComplianceSummaries",
    );
    let mut folded = Folded::default();
    let outcome = async {
        while let Some(page) = pages.next().await? {
            for item in page.resource_compliance_summary_items() {
                let id = match (item.resource_type(), item.resource_id()) {
                    (Some(MANAGED_INSTANCE), Some(id)) => id,
                    _ => {
                        folded.ignored += 1;
                        continue;
                    }
                };
                let compliant = item.status() == Some(&ComplianceStatus::Compliant);
                let execution = item
                    .execution_summary()
                    .and_then(|summary| to_utc(summary.execution_time()));
                folded.add(fleet.placement(id), compliant, execution, now, stale_after);
            }
        }
        Ok::<_, FunctionError>(())
    }
    .await;
    *pages_read += pages.read();
    outcome.map(|()| folded)
}

/// DescribeInstancePatchStates takes at most 50 instance ids.
const STATES_PER_CALL: usize = 50;

/// Patch groups in use that `known` lacks: the values of the patch-group tag that instances report.
///
/// DescribePatchGroups "lists all patch groups that have been registered with patch baselines"; a group
/// left on its operating system's default baseline is never listed, and its instances would count as
/// never reported (and stale) although they report. The tagged instances are paged (50 at a time) and
/// each page's patch states (DescribeInstancePatchStates, 50 ids a call) name their group. Run only when
/// the inventory shows tagged instances that the known groups do not account for.
pub async fn unregistered_groups(
    ssm: &aws_sdk_ssm::Client,
    tag_keys: &[String],
    known: &std::collections::BTreeSet<String>,
    calls: &mut CallCounts,
) -> Result<Vec<String>, FunctionError> {
    let tagged = tagged_with_any(tag_keys)?;
    let mut found = std::collections::BTreeSet::new();
    let mut pages = Pages::new(
        ssm.describe_instance_information()
            .filters(tagged)
            .max_results(INFORMATION_PAGE)
            .into_paginator()
            .send(),
        "ssm:DescribeInstanceInformation",
    );
    while let Some(page) = pages.next().await? {
        let ids: Vec<String> = page
            .instance_information_list()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        for chunk in ids.chunks(STATES_PER_CALL) {
            let mut states = Pages::new(
                ssm.describe_instance_patch_states()
                    .set_instance_ids(Some(chunk.to_vec()))
                    .max_results(STATES_PER_CALL as i32)
                    .into_paginator()
                    .send(),
                "ssm:DescribeInstancePatchStates",
            );
            while let Some(states_page) = states.next().await? {
                found.extend(
                    states_page
                        .instance_patch_states()
                        .iter()
                        .map(|state| state.patch_group().to_owned())
                        .filter(|group| !group.is_empty() && !known.contains(group)),
                );
            }
            *calls.entry("DescribeInstancePatchStates").or_default() += states.read();
        }
    }
    *calls.entry("DescribeInstanceInformation").or_default() += pages.read();
    Ok(found.into_iter().collect())
}

/// The fleet inventory's counts: managed instances, and those carrying a patch-group tag.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Inventory {
    /// Managed instances (every node DescribeInstanceInformation lists).
    pub managed: u64,
    /// Managed instances with a patch-group tag.
    pub grouped: u64,
}

/// The managed nodes, counted, not kept: how many, how many are not EC2 instances (hybrid `mi-…`
/// nodes), and the EC2 instances' ids packed when asked for (for the join with EC2's listing).
#[derive(Debug, Default)]
pub struct Managed {
    /// Every node DescribeInstanceInformation lists.
    pub count: u64,
    /// Nodes whose id is not an EC2 instance id.
    pub other_nodes: u64,
    /// The EC2 instances' ids (sealed), when kept.
    pub ids: Option<ManagedIds>,
}

/// Pages every managed node (50 a page); `pages_read` counts the calls, also when the read fails part
/// way.
pub async fn managed(
    ssm: &aws_sdk_ssm::Client,
    keep_ids: bool,
    pages_read: &mut usize,
) -> Result<Managed, FunctionError> {
    let mut managed = Managed {
        ids: keep_ids.then(ManagedIds::default),
        ..Managed::default()
    };
    let mut pages = information_pages(ssm, None);
    let outcome = async {
        while let Some(page) = pages.next().await? {
            for info in page.instance_information_list() {
                managed.count += 1;
                let id = info.instance_id().unwrap_or_default();
                let is_ec2 = match managed.ids.as_mut() {
                    Some(ids) => ids.insert(id),
                    None => coverage::is_instance_id(id),
                };
                managed.other_nodes += u64::from(!is_ec2);
            }
        }
        Ok::<_, FunctionError>(())
    }
    .await;
    *pages_read += pages.read();
    outcome?;
    if let Some(ids) = managed.ids.as_mut() {
        ids.seal();
    }
    Ok(managed)
}

/// Counts the managed nodes carrying a patch-group tag (DescribeInstanceInformation filtered by tag
/// key, 50 a page); `pages_read` counts the calls.
pub async fn tagged(
    ssm: &aws_sdk_ssm::Client,
    tag_keys: &[String],
    pages_read: &mut usize,
) -> Result<u64, FunctionError> {
    let mut pages = information_pages(ssm, Some(tagged_with_any(tag_keys)?));
    let outcome = async {
        let mut count = 0;
        while let Some(page) = pages.next().await? {
            count += page.instance_information_list().len() as u64;
        }
        Ok::<_, FunctionError>(count)
    }
    .await;
    *pages_read += pages.read();
    outcome
}

/// DescribeInstanceInformation's pages.
type InformationPages = Pages<
    aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput,
    aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationError,
    aws_sdk_ssm::config::http::HttpResponse,
>;

fn information_pages(
    ssm: &aws_sdk_ssm::Client,
    filter: Option<InstanceInformationStringFilter>,
) -> InformationPages {
    Pages::new(
        ssm.describe_instance_information()
            .set_filters(filter.map(|f| vec![f]))
            .max_results(INFORMATION_PAGE)
            .into_paginator()
            .send(),
        "ssm:DescribeInstanceInformation",
    )
}

/// DescribeInstances returns at most 1,000 instances a page.
const EC2_PAGE: i32 = 1000;

/// Every EC2 instance, in any state (a stopped managed instance still counts in the grouping; only
/// running ones count for coverage), packed page by page with its state and patch-group tag.
/// `pages_read` counts the calls made, also when the read fails part way.
pub async fn ec2_fleet(
    ec2: &aws_sdk_ec2::Client,
    tag_keys: &[String],
    pages_read: &mut usize,
) -> Result<Ec2Fleet, FunctionError> {
    let mut pages = Pages::new(
        ec2.describe_instances()
            .max_results(EC2_PAGE)
            .into_paginator()
            .send(),
        "ec2:DescribeInstances",
    );
    let mut fleet = Ec2Fleet::default();
    let outcome = async {
        while let Some(page) = pages.next().await? {
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(id) = instance.instance_id() else {
                    continue;
                };
                let tag = |key: &str| {
                    instance
                        .tags()
                        .iter()
                        .find(|tag| tag.key() == Some(key))
                        .and_then(|tag| tag.value())
                };
                let running = instance
                    .state()
                    .and_then(|state| state.name())
                    .is_some_and(|name| *name == aws_sdk_ec2::types::InstanceStateName::Running);
                fleet.insert(id, running, coverage::group_of(tag, tag_keys));
            }
        }
        Ok::<_, FunctionError>(())
    }
    .await;
    *pages_read += pages.read();
    outcome.map(|()| fleet)
}

/// Paged reads against `aws-smithy-mocks`: every page read and counted, a failure typed.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::describe_patch_groups::{
        DescribePatchGroupsError, DescribePatchGroupsOutput,
    };
    use aws_sdk_ssm::types::PatchGroupPatchBaselineMapping;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use patchpilot_shared::error::ErrorClass;

    fn mapping(group: &str) -> PatchGroupPatchBaselineMapping {
        PatchGroupPatchBaselineMapping::builder()
            .patch_group(group)
            .build()
    }

    fn first_page() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ssm::Client::describe_patch_groups)
            .match_requests(|req| req.next_token().is_none())
            .then_output(|| {
                DescribePatchGroupsOutput::builder()
                    .mappings(mapping("web"))
                    .mappings(mapping("db"))
                    .next_token("page-2")
                    .build()
            })
    }

    #[tokio::test]
    async fn groups_come_from_every_page_once_each_in_order() {
        let second = mock!(aws_sdk_ssm::Client::describe_patch_groups).then_output(|| {
            // A group registered for two operating systems is listed twice.
            DescribePatchGroupsOutput::builder()
                .mappings(mapping("web"))
                .mappings(mapping("batch"))
                .build()
        });
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&first_page(), &second]);
        let mut calls = CallCounts::new();
        let groups = discover_groups(&ssm, &mut calls).await.unwrap();
        assert_eq!(groups, ["batch", "db", "web"]);
        assert_eq!(calls["DescribePatchGroups"], 2);
    }

    #[tokio::test]
    async fn a_throttled_page_fails_the_read_retryably_and_is_counted_as_a_call() {
        let throttled = mock!(aws_sdk_ssm::Client::describe_patch_groups).then_error(|| {
            DescribePatchGroupsError::generic(
                ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let ssm = mock_client!(
            aws_sdk_ssm,
            RuleMode::MatchAny,
            &[&first_page(), &throttled]
        );
        let mut calls = CallCounts::new();
        match discover_groups(&ssm, &mut calls).await {
            Err(FunctionError::Aws {
                operation, class, ..
            }) => {
                assert_eq!(operation, "ssm:DescribePatchGroups");
                assert_eq!(class, ErrorClass::Retryable);
            }
            other => panic!("expected the throttling, got {other:?}"),
        }
        assert_eq!(calls["DescribePatchGroups"], 2);
    }
}
