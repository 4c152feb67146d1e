//! The real aws-sdk-ec2 reads the simulator's EC2 face (`DescribeInstances`, ledger row 35): every
//! simulated EC2 instance once across pages, with its state and tags, and EC2's errors.

mod common;

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;
use common::*;

fn ec2(sim: &ssm_sim::Background) -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(&sim.url)
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

/// (id → (state, tags)) as EC2 lists them, every page followed.
async fn listed(
    client: &aws_sdk_ec2::Client,
    page: i32,
    states: Option<&[&str]>,
) -> (BTreeMap<String, (String, BTreeMap<String, String>)>, usize) {
    let mut request = client.describe_instances().max_results(page);
    if let Some(states) = states {
        let mut filter = Filter::builder().name("instance-state-name");
        for state in states {
            filter = filter.values(*state);
        }
        request = request.filters(filter.build());
    }
    let mut pages = request.into_paginator().send();
    let mut seen = BTreeMap::new();
    let mut count = 0;
    while let Some(output) = pages.next().await {
        let output = output.expect("a page");
        count += 1;
        for instance in output.reservations().iter().flat_map(|r| r.instances()) {
            let id = instance.instance_id().unwrap().to_owned();
            let state = instance
                .state()
                .and_then(|s| s.name())
                .unwrap()
                .as_str()
                .to_owned();
            let tags = instance
                .tags()
                .iter()
                .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
                .collect();
            assert!(
                seen.insert(id, (state, tags)).is_none(),
                "an instance twice"
            );
        }
    }
    (seen, count)
}

#[tokio::test]
async fn describe_instances_lists_the_simulated_fleet_with_states_and_tags() {
    let mut state = generated(2_345, 4);
    let lost: Vec<String> = state.instances.keys().take(7).cloned().collect();
    for id in &lost {
        state.instances.get_mut(id).unwrap().ping_status = "ConnectionLost".to_owned();
    }
    let expected: BTreeMap<String, BTreeMap<String, String>> = state
        .instances
        .values()
        .map(|i| {
            let mut tags = i.tags.clone();
            if let Some(group) = &i.patch_group {
                tags.entry("Patch Group".to_owned())
                    .or_insert(group.clone());
            }
            (i.id.clone(), tags)
        })
        .collect();
    assert!(
        expected
            .values()
            .any(|tags| tags.contains_key("Patch Group"))
    );
    let sim = start(state);
    let client = ec2(&sim);

    let (all, pages) = listed(&client, 1000, None).await;
    assert_eq!(pages, 3, "2,345 instances in pages of 1,000");
    assert_eq!(all.len(), expected.len());
    for (id, (state, tags)) in &all {
        assert_eq!(tags, &expected[id], "{id}'s tags");
        let want = if lost.contains(id) {
            "stopped"
        } else {
            "running"
        };
        assert_eq!(state, want, "{id}");
    }

    let (running, _) = listed(&client, 5, Some(&["running"])).await;
    assert_eq!(running.len(), expected.len() - lost.len());
    let (stopped, _) = listed(&client, 500, Some(&["stopped", "stopping"])).await;
    assert_eq!(stopped.keys().cloned().collect::<Vec<_>>(), lost);
}

#[tokio::test]
async fn describe_instances_refuses_what_it_does_not_model_by_ec2s_error_codes() {
    let sim = start(generated(20, 1));
    let client = ec2(&sim);
    let err = client
        .describe_instances()
        .max_results(1001)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    let err = client
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:Patch Group")
                .values("x")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(
        err.message().unwrap().contains("tag:Patch Group"),
        "{err:?}"
    );
    let err = client
        .describe_instances()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    // Without MaxResults, one page holds everything.
    let all = client.describe_instances().send().await.unwrap();
    assert_eq!(all.reservations().len(), 20);
    assert!(all.next_token().is_none());
}
