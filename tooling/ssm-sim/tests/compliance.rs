//! ListResourceComplianceSummaries through the real aws-sdk-ssm (ledger row 36): one Patch summary
//! per reporting node, in pages of at most 50, agreeing with the node's patch state.

mod common;

use std::collections::BTreeMap;

use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::{
    ComplianceQueryOperatorType, ComplianceStatus, ComplianceStringFilter, InstancePatchState,
    ResourceComplianceSummaryItem,
};
use common::*;

fn filter(key: &str, value: &str, operator: ComplianceQueryOperatorType) -> ComplianceStringFilter {
    ComplianceStringFilter::builder()
        .key(key)
        .values(value)
        .r#type(operator)
        .build()
}

async fn summaries(
    ssm: &aws_sdk_ssm::Client,
    filters: Vec<ComplianceStringFilter>,
) -> Vec<ResourceComplianceSummaryItem> {
    ssm.list_resource_compliance_summaries()
        .set_filters(Some(filters))
        .max_results(50)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
}

/// Every reporting node's patch state, by instance id (DescribeInstancePatchStates, 50 ids a call).
async fn patch_states(ssm: &aws_sdk_ssm::Client) -> BTreeMap<String, InstancePatchState> {
    let ids: Vec<String> = ssm
        .describe_instance_information()
        .max_results(50)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|info| info.instance_id)
        .collect();
    let mut states = BTreeMap::new();
    for chunk in ids.chunks(50) {
        let page = ssm
            .describe_instance_patch_states()
            .set_instance_ids(Some(chunk.to_vec()))
            .max_results(50)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        for state in page {
            states.insert(state.instance_id().to_owned(), state);
        }
    }
    states
}

#[tokio::test]
async fn every_reporting_node_has_one_patch_summary_agreeing_with_its_patch_state() {
    let sim = start(generated(400, 3));
    let ssm = client(&sim);
    let pages: Vec<usize> = ssm
        .list_resource_compliance_summaries()
        .max_results(50)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|page| page.resource_compliance_summary_items().len())
        .collect();
    let items = summaries(&ssm, Vec::new()).await;
    let states = patch_states(&ssm).await;
    assert!(
        states.len() > 100 && states.len() < 400,
        "some never reported"
    );
    assert_eq!(pages.iter().sum::<usize>(), items.len());
    assert!(pages[..pages.len() - 1].iter().all(|size| *size == 50));

    let ids: Vec<&str> = items.iter().filter_map(|i| i.resource_id()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order, no repeats");
    assert_eq!(
        ids,
        states.keys().map(String::as_str).collect::<Vec<_>>(),
        "exactly the nodes with a patch state"
    );
    let mut non_compliant_seen = 0;
    for item in &items {
        let state = &states[item.resource_id().unwrap()];
        assert_eq!(item.compliance_type(), Some("Patch"));
        assert_eq!(item.resource_type(), Some("ManagedInstance"));
        let split = state.critical_non_compliant_count().unwrap_or_default()
            + state.security_non_compliant_count().unwrap_or_default()
            + state.other_non_compliant_count().unwrap_or_default();
        let non_compliant = item.non_compliant_summary().unwrap();
        assert_eq!(non_compliant.non_compliant_count(), split);
        let expected = if split > 0 {
            non_compliant_seen += 1;
            ComplianceStatus::NonCompliant
        } else {
            ComplianceStatus::Compliant
        };
        assert_eq!(item.status(), Some(&expected), "{:?}", item.resource_id());
        let critical = non_compliant.severity_summary().map(|s| s.critical_count());
        assert_eq!(critical, state.critical_non_compliant_count());
        assert_eq!(
            item.execution_summary().unwrap().execution_time(),
            state.operation_end_time(),
            "the time of the last patch operation"
        );
        let compliant = item.compliant_summary().unwrap().compliant_count();
        assert_eq!(
            compliant,
            state.installed_count() + state.installed_other_count()
        );
    }
    assert!(non_compliant_seen > 10, "the fleet has non-compliant nodes");

    let only_non_compliant = summaries(
        &ssm,
        vec![filter(
            "Status",
            "NON_COMPLIANT",
            ComplianceQueryOperatorType::Equal,
        )],
    )
    .await;
    assert_eq!(only_non_compliant.len(), non_compliant_seen);
    let not_patch = summaries(
        &ssm,
        vec![filter(
            "ComplianceType",
            "Patch",
            ComplianceQueryOperatorType::NotEqual,
        )],
    )
    .await;
    assert!(not_patch.is_empty(), "only Patch compliance is modelled");
}

#[tokio::test]
async fn unknown_filter_keys_and_oversized_pages_are_refused() {
    let sim = start(generated(20, 1));
    let ssm = client(&sim);
    let err = ssm
        .list_resource_compliance_summaries()
        .filters(filter(
            "PatchGroup",
            "pg-0001",
            ComplianceQueryOperatorType::Equal,
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidFilter"));
    assert!(err.message().unwrap().contains("PatchGroup"), "{err:?}");
    let err = ssm
        .list_resource_compliance_summaries()
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
}
