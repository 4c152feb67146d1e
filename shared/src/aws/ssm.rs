//! Systems Manager questions more than one function asks, each answered once here.

use aws_sdk_ssm::types::{InstanceInformationStringFilter, PatchOrchestratorFilter};
use serde::Serialize;

use crate::FunctionError;
use crate::aws::pages::Pages;
use crate::live_values::{PATCH_STATE_FILTER_FAILED, PatchState};

/// DescribeInstancePatches' page size: the model allows 100, the service refuses more than 50
/// (the fidelity ledger's row 9).
const PATCH_PAGE: i32 = 50;

/// DescribeInstanceInformation's filter for the managed nodes that carry any of `keys` as a tag (the
/// patch-group tag keys): the service matches a `tag-key` filter's values as alternatives.
pub fn tagged_with_any(
    keys: impl IntoIterator<Item = impl Into<String>>,
) -> Result<InstanceInformationStringFilter, FunctionError> {
    InstanceInformationStringFilter::builder()
        .key("tag-key")
        .set_values(Some(keys.into_iter().map(Into::into).collect()))
        .build()
        .map_err(|err| FunctionError::Invariant(format!("tag-key filter: {err}")))
}

/// One failed patch as DescribeInstancePatches reports it. (The field order is the install alert's
/// JSON document's.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedPatch {
    /// The patch's title (Linux: `name.arch:epoch:version-release`).
    pub title: String,
    /// The KB id, advisory id, or (Linux) `name.arch`.
    pub kb_id: String,
    /// E.g. `Security`, `Bugfix`, `SecurityUpdates`.
    pub classification: String,
    /// E.g. `Critical`, `Important`.
    pub severity: String,
}

/// What was read of an instance's failed patches: all of them, or those before a read failed.
#[derive(Debug, Default)]
pub struct FailedPatches {
    /// The patches in state Failed, in the service's order.
    pub patches: Vec<FailedPatch>,
    /// The failure that stopped the reading, if one did (`patches` then holds the pages before it).
    pub error: Option<FunctionError>,
}

/// The patches DescribeInstancePatches lists on `instance_id` under `State` filter `state`, each
/// kept by `keep` (on its reported state) and mapped by `map`, page by page: what was read, and the
/// failure that stopped the reading, if one did.
async fn read_in_state<T>(
    ssm: &aws_sdk_ssm::Client,
    instance_id: &str,
    state: &str,
    keep: impl Fn(&PatchState) -> bool,
    map: impl Fn(&aws_sdk_ssm::types::PatchComplianceData) -> T,
) -> (Vec<T>, Option<FunctionError>) {
    let mut read = Vec::new();
    let mut pages = Pages::new(
        ssm.describe_instance_patches()
            .instance_id(instance_id)
            .filters(
                PatchOrchestratorFilter::builder()
                    .key("State")
                    .values(state)
                    .build(),
            )
            .max_results(PATCH_PAGE)
            .into_paginator()
            .send(),
        "ssm:DescribeInstancePatches",
    );
    loop {
        match pages.next().await {
            Ok(Some(page)) => read.extend(
                page.patches()
                    .iter()
                    .filter(|patch| keep(&PatchState::parse(patch.state().as_str())))
                    .map(&map),
            ),
            Ok(None) => return (read, None),
            Err(err) => return (read, Some(err)),
        }
    }
}

/// Every patch in state `Failed` on `instance_id`, paged. A patch the service returns under the
/// filter but in another known state is not one (an unknown state is kept: the service put it there).
pub async fn failed_patches(ssm: &aws_sdk_ssm::Client, instance_id: &str) -> FailedPatches {
    let (patches, error) = read_in_state(
        ssm,
        instance_id,
        PATCH_STATE_FILTER_FAILED,
        |state| matches!(state, PatchState::Failed | PatchState::Unknown(_)),
        |patch| FailedPatch {
            title: patch.title().to_owned(),
            kb_id: patch.kb_id().to_owned(),
            classification: patch.classification().to_owned(),
            severity: patch.severity().to_owned(),
        },
    )
    .await;
    FailedPatches { patches, error }
}

/// One installed patch as DescribeInstancePatches reports it: the version an instance runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPatch {
    /// The KB id (Windows) or `name.arch` (Linux).
    pub kb_id: String,
    /// The title (Linux: `name.arch:epoch:version-release`, apt `name.arch:version`).
    pub title: String,
    /// When it was installed (`None` when the service reports the epoch: not known).
    pub installed_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// What was read of an instance's installed patches: all of them, or those before a read failed.
#[derive(Debug, Default)]
pub struct InstalledPatches {
    /// The patches in state Installed, in the service's order.
    pub patches: Vec<InstalledPatch>,
    /// The failure that stopped the reading, if one did.
    pub error: Option<FunctionError>,
}

/// Every patch in state `Installed` on `instance_id`, paged.
pub async fn installed_patches(ssm: &aws_sdk_ssm::Client, instance_id: &str) -> InstalledPatches {
    patches_in_states(ssm, instance_id, &[PatchState::Installed]).await
}

/// Every patch in one of `states` on `instance_id`: one paged read per state (whether the service
/// ORs several `State` filter values is not documented), in the order of `states`.
pub async fn patches_in_states(
    ssm: &aws_sdk_ssm::Client,
    instance_id: &str,
    states: &[PatchState],
) -> InstalledPatches {
    let mut read = InstalledPatches::default();
    for state in states {
        let (patches, error) = read_in_state(
            ssm,
            instance_id,
            state.as_live(),
            |reported| reported == state,
            |patch| InstalledPatch {
                kb_id: patch.kb_id().to_owned(),
                title: patch.title().to_owned(),
                installed_time: chrono::DateTime::from_timestamp(
                    patch.installed_time().secs(),
                    patch.installed_time().subsec_nanos(),
                )
                .filter(|time| time.timestamp() > 0),
            },
        )
        .await;
        read.patches.extend(patches);
        if error.is_some() {
            read.error = error;
            break;
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::describe_instance_patches::{
        DescribeInstancePatchesError, DescribeInstancePatchesOutput,
    };
    use aws_sdk_ssm::types::{PatchComplianceData, PatchComplianceDataState};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn patch(kb_id: &str, state: PatchComplianceDataState) -> PatchComplianceData {
        PatchComplianceData::builder()
            .title(format!("{kb_id}:0:1.0-1"))
            .kb_id(kb_id)
            .classification("Security")
            .severity("Important")
            .state(state)
            .installed_time(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn failed_patches_are_read_page_by_page_and_a_failure_keeps_what_was_read() {
        let first = mock!(aws_sdk_ssm::Client::describe_instance_patches)
            .match_requests(|req| req.next_token().is_none())
            .then_output(|| {
                DescribeInstancePatchesOutput::builder()
                    .patches(patch("openssl.x86_64", PatchComplianceDataState::Failed))
                    // Returned under the filter, but not failed: not one.
                    .patches(patch("curl.x86_64", PatchComplianceDataState::Installed))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_ssm::Client::describe_instance_patches).then_error(|| {
            DescribeInstancePatchesError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&first, &second]);
        let read = failed_patches(&ssm, "i-00a00000000000001").await;
        let ids: Vec<&str> = read.patches.iter().map(|p| p.kb_id.as_str()).collect();
        assert_eq!(ids, ["openssl.x86_64"]);
        match read.error {
            Some(FunctionError::Aws {
                code, operation, ..
            }) => {
                assert_eq!(code.as_deref(), Some("ThrottlingException"));
                assert_eq!(operation, "ssm:DescribeInstancePatches");
            }
            other => panic!("expected the throttling error, got {other:?}"),
        }
    }
}
