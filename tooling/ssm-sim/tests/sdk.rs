//! The real aws-sdk-ssm against the simulator: pagination, derived data agreeing the way Patch Manager
//! derives it, writes showing in later reads, faults as the SDK sees them, and window executions.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::{
    InstancePatchStateFilter, InstancePatchStateOperatorType, PatchFilter, PatchFilterGroup,
    PatchFilterKey, PatchOrchestratorFilter, PatchRule, PatchRuleGroup,
};
use common::*;
use patchpilot_shared::events::{CommandStatus, Event, WindowExecutionStatus};
use serde_json::json;

const STAGING_WINDOW: &str = "mw-0c50858d01ff4a3b1";

#[tokio::test]
async fn pages_cover_each_group_exactly_once_in_stable_order() {
    for wide in [false, true] {
        pages_cover_each_group(wide).await;
    }
}

/// Every group paged at several sizes, at the model's output cap (5) or at up to 100 (ledger row 30).
async fn pages_cover_each_group(wide_group_pages: bool) {
    let mut state = generated(600, 3);
    state.wide_group_pages = wide_group_pages;
    let cap = if wide_group_pages { 100 } else { 5 };
    let expected: BTreeMap<String, BTreeSet<String>> = state
        .group_members
        .iter()
        .map(|(group, ids)| {
            let reported = ids
                .iter()
                .filter(|id| state.instances[*id].report.is_some())
                .cloned()
                .collect();
            (group.clone(), reported)
        })
        .collect();
    let sim = start(state);
    let ssm = client(&sim);
    for page_size in [10, 37, 100] {
        for (group, want) in &expected {
            let pages: Vec<_> = ssm
                .describe_instance_patch_states_for_patch_group()
                .patch_group(group)
                .max_results(page_size)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap();
            let ids: Vec<String> = pages
                .iter()
                .flat_map(|page| page.instance_patch_states())
                .map(|state| state.instance_id().to_owned())
                .collect();
            let full = (page_size as usize).min(cap);
            let (last, before) = pages.split_last().unwrap();
            assert!(
                before
                    .iter()
                    .all(|page| page.instance_patch_states().len() == full),
                "every page but the last holds {full} at MaxResults {page_size}: {:?}",
                pages
                    .iter()
                    .map(|p| p.instance_patch_states().len())
                    .collect::<Vec<_>>()
            );
            assert!(last.instance_patch_states().len() <= full);
            let unique: BTreeSet<String> = ids.iter().cloned().collect();
            assert_eq!(
                unique.len(),
                ids.len(),
                "duplicates across pages of {group}"
            );
            assert_eq!(&unique, want, "group {group} at page size {page_size}");
            assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "stable order");
        }
    }
}

#[tokio::test]
async fn instance_counts_match_their_patches_and_group_state_matches_its_instances() {
    let sim = start(generated(400, 2));
    let ssm = client(&sim);
    let states: Vec<_> = ssm
        .describe_instance_patch_states_for_patch_group()
        .patch_group("pg-0001")
        .max_results(100)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert!(states.len() > 150);
    for state in states.iter().take(60) {
        let patches: Vec<_> = ssm
            .describe_instance_patches()
            .instance_id(state.instance_id())
            .max_results(50)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        let count = |wanted: &str| {
            patches
                .iter()
                .filter(|p| p.state().as_str() == wanted)
                .count() as i32
        };
        assert_eq!(
            state.installed_count(),
            count("Installed"),
            "{}",
            state.instance_id()
        );
        assert_eq!(state.missing_count(), count("Missing"));
        assert_eq!(state.failed_count(), count("Failed"));
        assert_eq!(
            state.installed_pending_reboot_count().unwrap_or_default(),
            count("InstalledPendingReboot")
        );
        assert_eq!(state.not_applicable_count(), count("NotApplicable"));
        let non_compliant = count("Missing")
            + count("Failed")
            + count("InstalledPendingReboot")
            + count("InstalledRejected");
        let split = state.critical_non_compliant_count().unwrap_or_default()
            + state.security_non_compliant_count().unwrap_or_default()
            + state.other_non_compliant_count().unwrap_or_default();
        assert_eq!(
            split, non_compliant,
            "critical + security + other = non-compliant patches"
        );
    }
    let group = ssm
        .describe_patch_group_state()
        .patch_group("pg-0001")
        .send()
        .await
        .unwrap();
    assert_eq!(group.instances(), states.len() as i32);
    let with = |pred: fn(&aws_sdk_ssm::types::InstancePatchState) -> bool| {
        states.iter().filter(|s| pred(s)).count() as i32
    };
    assert_eq!(
        group.instances_with_failed_patches(),
        with(|s| s.failed_count() > 0)
    );
    assert_eq!(
        group.instances_with_missing_patches(),
        with(|s| s.missing_count() > 0)
    );
    assert_eq!(
        group
            .instances_with_installed_pending_reboot_patches()
            .unwrap_or_default(),
        with(|s| s.installed_pending_reboot_count().unwrap_or_default() > 0)
    );
    assert_eq!(
        group
            .instances_with_critical_non_compliant_patches()
            .unwrap_or_default(),
        with(|s| s.critical_non_compliant_count().unwrap_or_default() > 0)
    );
}

#[tokio::test]
async fn count_filters_and_patch_filters() {
    let sim = start(generated(500, 1));
    let ssm = client(&sim);
    let failed: Vec<_> = ssm
        .describe_instance_patch_states_for_patch_group()
        .patch_group("pg-0000")
        .filters(
            InstancePatchStateFilter::builder()
                .key("FailedCount")
                .values("0")
                .r#type(InstancePatchStateOperatorType::GreaterThan)
                .build()
                .unwrap(),
        )
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|state| state.failed_count() > 0));
    let instance = failed[0].instance_id();
    let patches = ssm
        .describe_instance_patches()
        .instance_id(instance)
        .filters(
            PatchOrchestratorFilter::builder()
                .key("State")
                .values("FAILED")
                .build(),
        )
        .send()
        .await;
    // The live service takes the documented spelling (`Failed`); the model's upper case is refused
    // rather than silently matching nothing (a choice recorded in the fidelity ledger).
    assert_eq!(
        patches.unwrap_err().into_service_error().code(),
        Some("InvalidFilter")
    );
    let patches = ssm
        .describe_instance_patches()
        .instance_id(instance)
        .filters(
            PatchOrchestratorFilter::builder()
                .key("State")
                .values("Failed")
                .build(),
        )
        .max_results(50)
        .send()
        .await
        .unwrap();
    assert_eq!(patches.patches().len() as i32, failed[0].failed_count());
    assert!(
        patches
            .patches()
            .iter()
            .all(|p| p.state().as_str() == "Failed" && p.installed_time().secs() == 0)
    );
}

#[tokio::test]
async fn writes_show_in_the_reads_that_follow() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let production = "mw-0d61969e12ee5b4c2";
    assert!(
        !ssm.get_maintenance_window()
            .window_id(production)
            .send()
            .await
            .unwrap()
            .enabled()
    );
    let updated = ssm
        .update_maintenance_window()
        .window_id(production)
        .enabled(true)
        .send()
        .await
        .unwrap();
    assert!(updated.enabled());
    assert!(
        ssm.get_maintenance_window()
            .window_id(production)
            .send()
            .await
            .unwrap()
            .enabled()
    );

    let rule = PatchRule::builder()
        .patch_filter_group(
            PatchFilterGroup::builder()
                .patch_filters(
                    PatchFilter::builder()
                        .key(PatchFilterKey::Classification)
                        .values("Security")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .approve_until_date("2026-11-21")
        .build();
    ssm.update_patch_baseline()
        .baseline_id("pb-0c10000000000000b")
        .approval_rules(
            PatchRuleGroup::builder()
                .patch_rules(rule.clone())
                .build()
                .unwrap(),
        )
        .rejected_patches("python3.x86_64")
        .send()
        .await
        .unwrap();
    let baseline = ssm
        .get_patch_baseline()
        .baseline_id("pb-0c10000000000000b")
        .send()
        .await
        .unwrap();
    let rules = baseline.approval_rules().unwrap().patch_rules();
    assert_eq!(rules[0].approve_until_date(), Some("2026-11-21"));
    assert_eq!(rules[0].approve_after_days(), None);
    assert_eq!(baseline.rejected_patches(), ["python3.x86_64"]);
    assert_eq!(baseline.patch_groups(), ["production"]);

    let both = rule.clone();
    let invalid = ssm
        .update_patch_baseline()
        .baseline_id("pb-0c10000000000000b")
        .approval_rules(
            PatchRuleGroup::builder()
                .patch_rules(
                    PatchRule::builder()
                        .set_patch_filter_group(both.patch_filter_group().cloned())
                        .approve_after_days(3)
                        .approve_until_date("2026-11-21")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        invalid.into_service_error().code(),
        Some("ValidationException")
    );

    ssm.put_parameter()
        .name("/patchpilot/rules")
        .value("v1")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let again = ssm
        .put_parameter()
        .name("/patchpilot/rules")
        .value("v2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        again.into_service_error().code(),
        Some("ParameterAlreadyExists")
    );
    let version = ssm
        .put_parameter()
        .name("/patchpilot/rules")
        .value("v2")
        .overwrite(true)
        .send()
        .await
        .unwrap()
        .version();
    assert_eq!(version, 2);
    let parameter = ssm
        .get_parameter()
        .name("/patchpilot/rules")
        .send()
        .await
        .unwrap();
    assert_eq!(parameter.parameter().unwrap().value(), Some("v2"));
}

#[tokio::test]
async fn ubuntu_baselines_refuse_approval_dates() {
    let mut state = patch_week_state();
    let mut ubuntu = state.baselines["pb-0c10000000000000a"].clone();
    ubuntu.id = "pb-0c10000000000000d".into();
    ubuntu.operating_system = "UBUNTU".into();
    ubuntu.approval_rules = None;
    state.baselines.insert(ubuntu.id.clone(), ubuntu);
    let sim = start(state);
    let (status, body) = raw(
        &sim,
        "UpdatePatchBaseline",
        &json!({"BaselineId": "pb-0c10000000000000d", "ApprovalRules": {"PatchRules": [
        {"PatchFilterGroup": {"PatchFilters": [{"Key": "PRIORITY", "Values": ["Required"]}]}, "ApproveUntilDate": "2026-11-21"}]}}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException");
    assert!(
        body["message"].as_str().unwrap().contains("UBUNTU"),
        "{body}"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_look_like_aws_and_are_counted() {
    let sim = start(patch_week_state());
    let (status, _) = control(
        &sim,
        "PUT",
        "/_sim/faults",
        Some(&json!({"throttle_rate": 1.0})),
    );
    assert_eq!(status, 200);
    let err = client(&sim)
        .describe_patch_groups()
        .send()
        .await
        .unwrap_err();
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    let service = err.into_service_error();
    assert_eq!(service.code(), Some("ThrottlingException"));
    assert_eq!(service.message(), Some("Rate exceeded"));
    assert_eq!(raw_status, Some(400));

    // The SDK retries throttling by itself: with 3 attempts, 3 requests reach the simulator.
    control(&sim, "POST", "/_sim/stats/reset", None);
    let _ = client_with_attempts(&sim, 3)
        .describe_patch_groups()
        .send()
        .await
        .unwrap_err();
    let (_, stats) = control(&sim, "GET", "/_sim/stats", None);
    assert_eq!(
        stats["operations"]["DescribePatchGroups"]["requests"], 3,
        "{stats}"
    );
    assert_eq!(stats["operations"]["DescribePatchGroups"]["throttled"], 3);

    control(
        &sim,
        "PUT",
        "/_sim/faults",
        Some(&json!({"error_rate": 1.0})),
    );
    let err = client(&sim)
        .describe_patch_groups()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));

    control(
        &sim,
        "PUT",
        "/_sim/faults",
        Some(&json!({"latency_ms": 150})),
    );
    let started = Instant::now();
    client(&sim).describe_patch_groups().send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "latency is injected"
    );

    let (status, body) = control(
        &sim,
        "PUT",
        "/_sim/faults",
        Some(&json!({"throttle_rate": 2.0})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = control(
        &sim,
        "PUT",
        "/_sim/faults",
        Some(&json!({"throttle_rat": 0.5})),
    );
    assert_eq!(status, 400, "unknown settings are refused");
}

#[tokio::test]
async fn rate_limit_throttles_bursts() {
    let sim = start(patch_week_state());
    control(
        &sim,
        "PUT",
        "/_sim/faults",
        Some(&json!({"rate_limit": 5.0})),
    );
    let ssm = client(&sim);
    let mut throttled = 0;
    for _ in 0..20 {
        if let Err(err) = ssm.describe_patch_groups().send().await {
            assert_eq!(err.into_service_error().code(), Some("ThrottlingException"));
            throttled += 1;
        }
    }
    assert!(
        throttled >= 10,
        "{throttled} of 20 burst requests throttled"
    );
}

#[tokio::test]
async fn a_window_execution_updates_every_record_consistently() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let failing = "i-00a00000000000002";
    let (status, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({
            "window_id": STAGING_WINDOW,
            "outcomes": {failing: {"status": "Failed", "failed_patches": ["kernel.x86_64"]}}
        })),
    );
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "FAILED");
    let execution_id = run["window_execution_id"].as_str().unwrap();

    let executions = ssm
        .describe_maintenance_window_executions()
        .window_id(STAGING_WINDOW)
        .send()
        .await
        .unwrap();
    assert_eq!(
        executions.window_executions()[0].window_execution_id(),
        Some(execution_id)
    );
    assert_eq!(
        executions.window_executions()[0].status().unwrap().as_str(),
        "FAILED"
    );
    // The live service's words for a failed run (the AWS CLI's describe-maintenance-window-executions
    // example; ledger row 24).
    assert_eq!(
        executions.window_executions()[0].status_details(),
        Some("One or more tasks in the orchestration failed.")
    );

    let tasks = ssm
        .describe_maintenance_window_execution_tasks()
        .window_execution_id(execution_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tasks.window_execution_task_identities().len(),
        2,
        "patch task and verification task"
    );
    let patch_task = tasks
        .window_execution_task_identities()
        .iter()
        .find(|task| task.task_arn() == Some("AWS-RunPatchBaseline"))
        .unwrap();
    let invocations: Vec<_> = ssm
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(execution_id)
        .task_id(patch_task.task_execution_id().unwrap())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(invocations.len(), 5, "one invocation per staging instance");
    let failed: Vec<_> = invocations
        .iter()
        .filter(|i| i.status().unwrap().as_str() == "FAILED")
        .collect();
    assert_eq!(failed.len(), 1);
    let command_id = failed[0].execution_id().unwrap();

    // AWS-RunPatchBaseline has a step per platform: the step must be named (API reference,
    // GetCommandInvocation PluginName); a step for another platform was skipped.
    let unnamed = ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(failing)
        .send()
        .await
        .unwrap_err();
    assert!(unnamed.into_service_error().is_invalid_plugin_name());
    let skipped = ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(failing)
        .plugin_name("PatchWindows")
        .send()
        .await
        .unwrap();
    assert_eq!(skipped.status().unwrap().as_str(), "Success");
    assert!(
        skipped
            .standard_output_content()
            .unwrap()
            .contains("skipped due to unsatisfied preconditions")
    );
    let output = ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(failing)
        .plugin_name("PatchLinux")
        .send()
        .await
        .unwrap();
    assert_eq!(output.status().unwrap().as_str(), "Failed");
    assert_eq!(output.plugin_name(), Some("PatchLinux"));
    assert!(
        output
            .standard_error_content()
            .unwrap()
            .contains("kernel.x86_64:0:6.1.119"),
        "{:?}",
        output.standard_error_content()
    );
    let listed = ssm
        .list_commands()
        .command_id(command_id)
        .send()
        .await
        .unwrap();
    let parameters = listed.commands()[0].parameters().unwrap();
    assert_eq!(parameters["Operation"], ["Install"]);

    let patches = ssm
        .describe_instance_patches()
        .instance_id(failing)
        .filters(
            PatchOrchestratorFilter::builder()
                .key("State")
                .values("Failed")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(patches.patches().len(), 1);
    assert_eq!(patches.patches()[0].kb_id(), "kernel.x86_64");
    let states = ssm
        .describe_instance_patch_states()
        .instance_ids(failing)
        .instance_ids("i-00a00000000000001")
        .send()
        .await
        .unwrap();
    for state in states.instance_patch_states() {
        assert_eq!(state.operation().as_str(), "Install");
        let expected_failed = i32::from(state.instance_id() == failing);
        assert_eq!(state.failed_count(), expected_failed);
        assert_eq!(state.missing_count(), 0, "everything else got installed");
        assert!(state.operation_end_time().secs() >= state.operation_start_time().secs());
    }

    // The events it returns are the real shapes: the project's own models read every one of them.
    let events = run["events"].as_array().unwrap();
    let mut kinds = BTreeMap::new();
    for event in events {
        let parsed = Event::parse(event.clone()).unwrap_or_else(|err| panic!("{err}: {event}"));
        *kinds
            .entry(event["detail-type"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
        match parsed {
            Event::CommandInvocationStatus(_, detail)
                if detail.instance_id == failing
                    && detail.document_name.as_deref() == Some("AWS-RunPatchBaseline") =>
            {
                assert_eq!(detail.status, CommandStatus::Failed)
            }
            Event::WindowExecution(_, detail) => {
                assert_eq!(detail.window_execution_id, execution_id);
                assert_eq!(detail.status, WindowExecutionStatus::Failed);
            }
            _ => {}
        }
    }
    assert_eq!(
        kinds["EC2 Command Invocation Status-change Notification"],
        10
    );
    assert_eq!(
        kinds["Maintenance Window Execution State-change Notification"],
        1
    );
    assert_eq!(
        kinds["Maintenance Window Task Execution State-change Notification"],
        2
    );
}

#[tokio::test]
async fn control_endpoint_refuses_bad_requests_with_reasons() {
    let sim = start(patch_week_state());
    let (status, body) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": "mw-00000000000000000"})),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(
            &json!({"window_id": STAGING_WINDOW, "outcomes": {"i-0fffffffffffffff0": {"status": "Failed"}}}),
        ),
    );
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("i-0fffffffffffffff0")
    );
    let (status, body) = control(
        &sim,
        "PUT",
        "/_sim/scenario",
        Some(&json!({"format": "v0"})),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not supported"),
        "{body}"
    );
    let (status, body) = control(
        &sim,
        "POST",
        "/_sim/generate",
        Some(&json!({"instances": 50, "groups": 2, "seed": 9})),
    );
    assert_eq!((status, body["instances"].as_u64()), (200, Some(50)));
    let groups = client(&sim).describe_patch_groups().send().await.unwrap();
    assert_eq!(groups.mappings().len(), 2);
}

/// What an account's other traffic looks like to a client: a skipped execution ran nothing, a scan
/// outside any window replaces the instance's last operation, and an unfinished execution can be
/// cancelled (a finished one is left as it was).
#[tokio::test]
async fn skipped_executions_scans_and_cancellation() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let instance = "i-00a00000000000002";
    let before = ssm
        .describe_instance_patch_states()
        .instance_ids(instance)
        .send()
        .await
        .unwrap();
    let (status, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": STAGING_WINDOW, "status": "SKIPPED_OVERLAPPING"})),
    );
    assert_eq!(status, 200, "{run}");
    let id = run["window_execution_id"].as_str().unwrap();
    let execution = ssm
        .get_maintenance_window_execution()
        .window_execution_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(execution.status().unwrap().as_str(), "SKIPPED_OVERLAPPING");
    assert!(
        execution.task_ids().is_empty(),
        "a skipped execution runs no task"
    );
    let after = ssm
        .describe_instance_patch_states()
        .instance_ids(instance)
        .send()
        .await
        .unwrap();
    assert_eq!(
        before.instance_patch_states(),
        after.instance_patch_states()
    );

    // A scan: the last operation is now a Scan, at its own time.
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    {
        let mut state = sim.app.state.write().unwrap();
        ssm_sim::run::scan(
            &mut state,
            &[instance.to_owned()],
            at,
            at + chrono::Duration::minutes(2),
        )
        .unwrap();
        assert!(ssm_sim::run::scan(&mut state, &["i-0ffffffffffffffff".into()], at, at).is_err());
    }
    let scanned = ssm
        .describe_instance_patch_states()
        .instance_ids(instance)
        .send()
        .await
        .unwrap();
    let row = &scanned.instance_patch_states()[0];
    assert_eq!(row.operation().as_str(), "Scan");
    assert_eq!(
        row.operation_end_time().secs(),
        (at + chrono::Duration::minutes(2)).timestamp()
    );

    // Cancelling: a finished execution stays as it was; an unfinished one ends CANCELLED.
    ssm.cancel_maintenance_window_execution()
        .window_execution_id(id)
        .send()
        .await
        .unwrap();
    let unchanged = ssm
        .get_maintenance_window_execution()
        .window_execution_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status().unwrap().as_str(), "SKIPPED_OVERLAPPING");
    let running = "0a1b2c3d-0000-4000-8000-000000000001";
    sim.app.state.write().unwrap().executions.insert(
        running.to_owned(),
        ssm_sim::state::WindowExecution {
            id: running.to_owned(),
            window_id: "mw-0d61969e12ee5b4c2".to_owned(),
            status: "IN_PROGRESS".to_owned(),
            status_details: None,
            start: chrono::Utc::now(),
            end: None,
            tasks: vec![],
        },
    );
    ssm.cancel_maintenance_window_execution()
        .window_execution_id(running)
        .send()
        .await
        .unwrap();
    let cancelled = ssm
        .get_maintenance_window_execution()
        .window_execution_id(running)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status().unwrap().as_str(), "CANCELLED");
    assert!(cancelled.end_time().is_some());
    let missing = ssm
        .cancel_maintenance_window_execution()
        .window_execution_id("0a1b2c3d-0000-4000-8000-0000000000ff")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("DoesNotExistException"));
}

/// An instance terminated mid-run: its patch invocation times out (the agent never answers), later
/// tasks cannot reach it, it reports nothing, and it leaves Systems Manager; its command stays readable.
#[tokio::test]
async fn an_instance_terminated_mid_run_times_out_and_leaves_systems_manager() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let gone = "i-00a00000000000002";
    let before = ssm
        .describe_instance_patch_states()
        .instance_ids(gone)
        .send()
        .await
        .unwrap();
    assert_eq!(before.instance_patch_states().len(), 1);
    let (status, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": STAGING_WINDOW, "outcomes": {gone: {"terminated": true}}})),
    );
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "FAILED");
    let execution_id = run["window_execution_id"].as_str().unwrap();
    let tasks = ssm
        .describe_maintenance_window_execution_tasks()
        .window_execution_id(execution_id)
        .send()
        .await
        .unwrap();
    let mut statuses = BTreeMap::new();
    for task in tasks.window_execution_task_identities() {
        let invocations = ssm
            .describe_maintenance_window_execution_task_invocations()
            .window_execution_id(execution_id)
            .task_id(task.task_execution_id().unwrap())
            .send()
            .await
            .unwrap();
        for invocation in invocations.window_execution_task_invocation_identities() {
            if invocation.status().unwrap().as_str() != "SUCCESS" {
                statuses.insert(
                    task.task_arn().unwrap().to_owned(),
                    (
                        invocation.status().unwrap().as_str().to_owned(),
                        invocation.status_details().map(str::to_owned),
                    ),
                );
            }
        }
    }
    assert_eq!(
        statuses["AWS-RunPatchBaseline"],
        (
            "TIMED_OUT".to_owned(),
            Some("Execution Timed Out".to_owned())
        )
    );
    assert_eq!(
        statuses.len(),
        2,
        "the verification task could not reach it either: {statuses:?}"
    );
    assert_eq!(statuses.values().filter(|(s, _)| s == "FAILED").count(), 1);
    let command_id = run["command_ids"][gone].as_str().unwrap();
    let output = ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(gone)
        .plugin_name("PatchLinux")
        .send()
        .await
        .unwrap();
    assert_eq!(output.status().unwrap().as_str(), "TimedOut");
    let managed = ssm.describe_instance_information().send().await.unwrap();
    assert!(
        managed
            .instance_information_list()
            .iter()
            .all(|i| i.instance_id() != Some(gone)),
        "a terminated instance is no longer managed"
    );
    let group = ssm
        .describe_instance_patch_states_for_patch_group()
        .patch_group("staging")
        .send()
        .await
        .unwrap();
    assert!(
        group
            .instance_patch_states()
            .iter()
            .all(|s| s.instance_id() != gone)
    );
}

/// Execution records as the live service gives them: an unfinished execution has no `EndTime`, and
/// an invocation's `Parameters` carry the Run Command request's members (the AWS CLI's example).
#[tokio::test]
async fn unfinished_executions_have_no_end_and_invocations_name_their_request() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let running = "0a1b2c3d-0000-4000-8000-000000000002";
    sim.app.state.write().unwrap().executions.insert(
        running.to_owned(),
        ssm_sim::state::WindowExecution {
            id: running.to_owned(),
            window_id: STAGING_WINDOW.to_owned(),
            status: "IN_PROGRESS".to_owned(),
            status_details: None,
            start: chrono::Utc::now(),
            // A stored end on a running execution is not shown.
            end: Some(chrono::Utc::now()),
            tasks: vec![],
        },
    );
    let execution = ssm
        .get_maintenance_window_execution()
        .window_execution_id(running)
        .send()
        .await
        .unwrap();
    assert!(execution.end_time().is_none());
    let listed = ssm
        .describe_maintenance_window_executions()
        .window_id(STAGING_WINDOW)
        .send()
        .await
        .unwrap();
    let row = listed
        .window_executions()
        .iter()
        .find(|e| e.window_execution_id() == Some(running))
        .unwrap();
    assert!(row.end_time().is_none());

    let (status, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": STAGING_WINDOW})),
    );
    assert_eq!(status, 200, "{run}");
    let execution_id = run["window_execution_id"].as_str().unwrap();
    let tasks = ssm
        .describe_maintenance_window_execution_tasks()
        .window_execution_id(execution_id)
        .send()
        .await
        .unwrap();
    let patch_task = tasks
        .window_execution_task_identities()
        .iter()
        .find(|task| task.task_arn() == Some("AWS-RunPatchBaseline"))
        .unwrap();
    let invocations = ssm
        .describe_maintenance_window_execution_task_invocations()
        .window_execution_id(execution_id)
        .task_id(patch_task.task_execution_id().unwrap())
        .send()
        .await
        .unwrap();
    let invocation = &invocations.window_execution_task_invocation_identities()[0];
    assert!(
        invocation.end_time().is_some(),
        "a finished invocation has its end"
    );
    let parameters: serde_json::Value =
        serde_json::from_str(invocation.parameters().unwrap()).unwrap();
    assert_eq!(parameters["documentName"], "AWS-RunPatchBaseline");
    assert_eq!(parameters["instanceIds"].as_array().unwrap().len(), 1);
    assert_eq!(parameters["parameters"]["Operation"][0], "Install");
    assert!(parameters["maxConcurrency"].is_string() && parameters["maxErrors"].is_string());
    let command = ssm
        .list_commands()
        .command_id(invocation.execution_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        command.commands()[0].instance_ids(),
        [parameters["instanceIds"][0].as_str().unwrap()]
    );
    // ListCommands carries CloudWatchOutputConfig (empty values) like ListCommandInvocations does.
    let output = command.commands()[0].cloud_watch_output_config().unwrap();
    assert!(!output.cloud_watch_output_enabled());

    // A command without a comment answers an empty string, as the list-commands example shows.
    {
        let mut state = sim.app.state.write().unwrap();
        let id = invocation.execution_id().unwrap().to_owned();
        state.commands.get_mut(&id).unwrap().comment = None;
    }
    let (code, raw, _) = aws_ssm(
        &sim,
        &[
            "list-commands",
            "--command-id",
            invocation.execution_id().unwrap(),
        ],
    );
    assert_eq!(code, 0);
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["Commands"][0]["Comment"], "");
}

/// AWS's own baselines apart from the account's, named by their ARN in AWS's account.
#[tokio::test]
async fn aws_provided_baselines_are_named_by_arn_and_listed_apart() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let arn = format!(
        "arn:aws:ssm:eu-west-1:{}:patchbaseline/pb-0c10000000000000c",
        ssm_sim::state::AWS_BASELINE_ACCOUNT
    );
    let owner = |value: &str| {
        PatchOrchestratorFilter::builder()
            .key("OWNER")
            .values(value)
            .build()
    };
    let ids =
        |page: aws_sdk_ssm::operation::describe_patch_baselines::DescribePatchBaselinesOutput| {
            page.baseline_identities()
                .iter()
                .filter_map(|b| b.baseline_id().map(str::to_owned))
                .collect::<Vec<_>>()
        };
    let aws = ids(ssm
        .describe_patch_baselines()
        .filters(owner("AWS"))
        .send()
        .await
        .unwrap());
    assert_eq!(aws, std::slice::from_ref(&arn));
    let own = ids(ssm
        .describe_patch_baselines()
        .filters(owner("Self"))
        .send()
        .await
        .unwrap());
    assert!(!own.is_empty() && !own.contains(&arn), "{own:?}");
    // A group nobody registered uses the OS's default: AWS's, by its ARN.
    let default = ssm
        .get_patch_baseline_for_patch_group()
        .patch_group("staging-canary")
        .operating_system(aws_sdk_ssm::types::OperatingSystem::AmazonLinux2023)
        .send()
        .await
        .unwrap();
    assert_eq!(default.baseline_id(), Some(arn.as_str()));
    let read = ssm
        .get_patch_baseline()
        .baseline_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(read.baseline_id(), Some(arn.as_str()));
    let bare = ssm
        .get_patch_baseline()
        .baseline_id("pb-0c10000000000000c")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bare.code(), Some("DoesNotExistException"));
    let update = ssm
        .update_patch_baseline()
        .baseline_id(&arn)
        .description("mine now")
        .send()
        .await
        .unwrap_err();
    assert_eq!(update.code(), Some("AccessDeniedException"));
}

/// A window task's `AlarmConfiguration` as the brake uses it: attached with
/// UpdateMaintenanceWindowTask and shown by the task reads; a run while the alarm is in ALARM runs no
/// invocation, installs nothing and names the alarm in `TriggeredAlarms`; an alarm that cannot be
/// read stops the task unless `IgnorePollAlarmFailure`; an alarm in OK lets it run.
#[tokio::test]
async fn a_task_whose_alarm_is_in_alarm_runs_nothing() {
    use aws_sdk_ssm::types::{Alarm, AlarmConfiguration};
    const PRODUCTION_WINDOW: &str = "mw-0d61969e12ee5b4c2";
    const PATCH_TASK: &str = "8a4d5e6f-7a8b-4c93-8d4e-5f6a7b8c9d0e";
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let brake = AlarmConfiguration::builder()
        .alarms(
            Alarm::builder()
                .name("patchpilot-gate-closed")
                .build()
                .unwrap(),
        )
        .ignore_poll_alarm_failure(false)
        .build()
        .unwrap();
    let updated = ssm
        .update_maintenance_window_task()
        .window_id(PRODUCTION_WINDOW)
        .window_task_id(PATCH_TASK)
        .alarm_configuration(brake.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.alarm_configuration(), Some(&brake));
    let listed = ssm
        .describe_maintenance_window_tasks()
        .window_id(PRODUCTION_WINDOW)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tasks().len(), 1);
    assert_eq!(listed.tasks()[0].alarm_configuration(), Some(&brake));
    let task = ssm
        .get_maintenance_window_task()
        .window_id(PRODUCTION_WINDOW)
        .window_task_id(PATCH_TASK)
        .send()
        .await
        .unwrap();
    assert_eq!(task.task_arn(), Some("AWS-RunPatchBaseline"));
    assert_eq!(task.alarm_configuration(), Some(&brake));
    let missing = ssm
        .get_maintenance_window_task()
        .window_id(PRODUCTION_WINDOW)
        .window_task_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("DoesNotExistException"));

    let production = "i-00a00000000000065";
    let missing_before = sim.app.state.read().unwrap().instances[production]
        .counts
        .missing;
    assert!(missing_before > 0);
    for (states, status, triggered) in [
        (
            json!({"patchpilot-gate-closed": "ALARM"}),
            "CANCELLED",
            Some("ALARM"),
        ),
        (json!({}), "FAILED", Some("UNKNOWN")),
    ] {
        let (code, run) = control(
            &sim,
            "POST",
            "/_sim/window-executions",
            Some(&json!({"window_id": PRODUCTION_WINDOW, "alarm_states": states})),
        );
        assert_eq!(code, 200, "{run}");
        assert!(run["command_ids"].as_object().unwrap().is_empty(), "{run}");
        let tasks = ssm
            .describe_maintenance_window_execution_tasks()
            .window_execution_id(run["window_execution_id"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let task = &tasks.window_execution_task_identities()[0];
        assert_eq!(task.status().unwrap().as_str(), status);
        assert_eq!(task.alarm_configuration(), Some(&brake));
        assert_eq!(
            task.triggered_alarms()
                .iter()
                .map(|a| a.state().as_str())
                .next(),
            triggered
        );
        assert_eq!(
            sim.app.state.read().unwrap().instances[production]
                .counts
                .missing,
            missing_before,
            "nothing installed"
        );
    }
    let (_, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": PRODUCTION_WINDOW,
                     "alarm_states": {"patchpilot-gate-closed": "OK"}})),
    );
    assert!(!run["command_ids"].as_object().unwrap().is_empty(), "{run}");
    assert!(
        sim.app.state.read().unwrap().instances[production]
            .counts
            .missing
            < missing_before,
        "an alarm in OK lets the task install"
    );
}

/// A patch task given an `InstallOverrideList` (set with UpdateMaintenanceWindowTask, shown by
/// GetMaintenanceWindowTask): an Install installs only the listed versions, reports a listed id
/// whose listed version is not the one available as Failed, leaves the unlisted as the baseline
/// says, and names the list in the instance's patch state. A list that cannot be downloaded fails
/// the invocation and installs nothing; parameters sent without `Operation` leave the document's
/// default, Scan.
#[tokio::test]
async fn an_install_with_an_override_list_installs_only_the_listed_versions() {
    use aws_sdk_ssm::types::{
        MaintenanceWindowRunCommandParameters, MaintenanceWindowTaskInvocationParameters,
    };
    const PRODUCTION_WINDOW: &str = "mw-0d61969e12ee5b4c2";
    const PATCH_TASK: &str = "8a4d5e6f-7a8b-4c93-8d4e-5f6a7b8c9d0e";
    const LIST: &str = "s3://promotion-bucket/promotion/list.yaml";
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    let parameters = |with_operation: bool| {
        let mut run_command = MaintenanceWindowRunCommandParameters::builder()
            .parameters("RebootOption", vec!["NoReboot".to_owned()])
            .parameters("InstallOverrideList", vec![LIST.to_owned()]);
        if with_operation {
            run_command = run_command.parameters("Operation", vec!["Install".to_owned()]);
        }
        MaintenanceWindowTaskInvocationParameters::builder()
            .run_command(run_command.build())
            .build()
    };
    let update = |with_operation: bool| {
        ssm.update_maintenance_window_task()
            .window_id(PRODUCTION_WINDOW)
            .window_task_id(PATCH_TASK)
            .task_invocation_parameters(parameters(with_operation))
            .send()
    };
    update(false).await.unwrap();
    let read = || {
        ssm.get_maintenance_window_task()
            .window_id(PRODUCTION_WINDOW)
            .window_task_id(PATCH_TASK)
            .send()
    };
    let task = read().await.unwrap();
    let sent = task
        .task_invocation_parameters()
        .and_then(|p| p.run_command())
        .and_then(|r| r.parameters())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        sent["Operation"],
        ["Scan"],
        "left out: the document's default"
    );
    assert_eq!(sent["InstallOverrideList"], [LIST]);
    update(true).await.unwrap();
    let sent = read().await.unwrap();
    let sent = sent
        .task_invocation_parameters()
        .and_then(|p| p.run_command())
        .and_then(|r| r.parameters())
        .unwrap();
    assert_eq!(sent["Operation"], ["Install"]);
    assert_eq!(sent["RebootOption"], ["NoReboot"]);

    let production = "i-00a00000000000065";
    let state_of = |id: &str| patch_state(&sim, production, id);
    // Not downloadable: the invocation fails and nothing is installed.
    let (_, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": PRODUCTION_WINDOW})),
    );
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(state_of("openssl.x86_64"), "Missing");

    let list = "patches:\n  - id: 'kernel.x86_64'\n    title: 'kernel.x86_64:0:6.1.119-129.201.amzn2023'\n  - id: 'openssl.x86_64'\n    title: 'openssl.x86_64:1:3.0.7-1.amzn2023.0.1'\n";
    let (code, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&json!({"window_id": PRODUCTION_WINDOW, "override_lists": {LIST: list}})),
    );
    assert_eq!(code, 200, "{run}");
    assert_eq!(
        state_of("kernel.x86_64"),
        "Installed",
        "listed at its version"
    );
    assert_eq!(
        state_of("openssl.x86_64"),
        "Failed",
        "listed at a version that is not available: reported, not replaced"
    );
    assert_eq!(state_of("python3.x86_64"), "Missing", "not listed");
    let states = ssm
        .describe_instance_patch_states()
        .instance_ids(production)
        .send()
        .await
        .unwrap();
    assert_eq!(
        states.instance_patch_states()[0].install_override_list(),
        Some(LIST)
    );
}

#[tokio::test]
async fn only_the_baselines_repositories_serve_patches() {
    use aws_sdk_ssm::types::PatchSource;
    const PRODUCTION_WINDOW: &str = "mw-0d61969e12ee5b4c2";
    const PRODUCTION_BASELINE: &str = "pb-0c10000000000000b";
    const MIRROR: &str = "https://mirror.example.com/al2023";
    let mut state = patch_week_state();
    let kernel = state.catalog_index["kernel.x86_64"];
    state.catalog[kernel as usize].repository = Some(MIRROR.to_owned());
    let sim = start(state);
    let ssm = client(&sim);
    let production = "i-00a00000000000065";
    let state_of = |id: &str| patch_state(&sim, production, id);
    let reported = || async {
        ssm.describe_instance_patches()
            .instance_id(production)
            .send()
            .await
            .unwrap()
            .patches()
            .iter()
            .map(|p| (p.kb_id().to_owned(), p.state().as_str().to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    let run = || {
        control(
            &sim,
            "POST",
            "/_sim/window-executions",
            Some(&json!({"window_id": PRODUCTION_WINDOW})),
        )
    };
    let (code, body) = run();
    assert_eq!(code, 200, "{body}");
    assert_eq!(state_of("openssl.x86_64"), "Installed", "{body}");
    assert_eq!(
        state_of("kernel.x86_64"),
        "NotApproved",
        "served by a repository the instance does not patch from: neither installed nor reported"
    );
    assert!(!reported().await.contains_key("kernel.x86_64"));
    // A newer python3 reaches the default repositories.
    {
        let mut state = sim.app.state.write().unwrap();
        let python = state.catalog_index["python3.x86_64"];
        let instance = state.instances.get_mut(production).unwrap();
        let patch = instance
            .patches
            .iter_mut()
            .find(|p| p.patch == python)
            .unwrap();
        patch.state = ssm_sim::state::PatchState::Missing;
        patch.installed_time = None;
    }

    ssm.update_patch_baseline()
        .baseline_id(PRODUCTION_BASELINE)
        .sources(
            PatchSource::builder()
                .name("mirror")
                .products("AmazonLinux2023")
                .configuration(format!(
                    "[mirror]\nname=mirror\nbaseurl={MIRROR}\nenabled=1"
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (code, body) = run();
    assert_eq!(code, 200, "{body}");
    assert_eq!(state_of("kernel.x86_64"), "Installed", "{body}");
    assert_eq!(
        state_of("python3.x86_64"),
        "NotApproved",
        "the default repositories are not used once a source names the product"
    );
    let reported = reported().await;
    assert_eq!(reported["kernel.x86_64"], "Installed");
    assert!(!reported.contains_key("python3.x86_64"));
}

/// Parameter Store as the live service names, versions, labels and tiers parameters (ledger row 31),
/// through the real aws-sdk-ssm.
#[tokio::test]
async fn parameter_store_names_versions_labels_and_tiers() {
    use aws_sdk_ssm::types::{ParameterTier, ParameterType};
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    fn code<E: ProvideErrorMetadata, R>(
        err: aws_sdk_ssm::error::SdkError<E, R>,
    ) -> (String, String) {
        (
            err.code().unwrap_or_default().to_owned(),
            err.message().unwrap_or_default().to_owned(),
        )
    }
    let put = |name: &str, value: &str| {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
    };

    // A top-level name is one parameter with or without its slash; the answer names it as asked.
    put("top", "v1").send().await.unwrap();
    let slashed = ssm.get_parameter().name("/top").send().await.unwrap();
    let slashed = slashed.parameter().unwrap();
    assert_eq!(
        (slashed.name(), slashed.value()),
        (Some("/top"), Some("v1"))
    );
    // By ARN: the answer names the parameter, not the ARN.
    let arn = slashed.arn().unwrap().to_owned();
    assert!(arn.ends_with(":parameter/top"), "{arn}");
    let by_arn = ssm.get_parameter().name(&arn).send().await.unwrap();
    assert_eq!(by_arn.parameter().unwrap().name(), Some("top"));
    // Malformed paths are refused with the live message; so are reserved prefixes and deep paths.
    for bad in ["/top//b", "top/b/c"] {
        let (code, message) = code(ssm.get_parameter().name(bad).send().await.unwrap_err());
        assert_eq!(code, "ValidationException", "{bad}");
        assert!(
            message.contains("sub-paths divided by slash symbol"),
            "{message}"
        );
    }
    let (reserved, _) = code(put("/aws/mine", "x").send().await.unwrap_err());
    assert_eq!(reserved, "ValidationException");
    let deep = format!("/{}", vec!["level"; 16].join("/"));
    let (deep, _) = code(put(&deep, "x").send().await.unwrap_err());
    assert_eq!(deep, "HierarchyLevelLimitExceededException");
    let untyped = ssm
        .put_parameter()
        .name("/app/untyped")
        .value("x")
        .send()
        .await;
    assert_eq!(code(untyped.unwrap_err()).0, "ValidationException");

    // Versions and selectors.
    for value in ["one", "two", "three"] {
        put("/app/db", value).send().await.unwrap();
    }
    let second = ssm.get_parameter().name("/app/db:2").send().await.unwrap();
    let second = second.parameter().unwrap();
    assert_eq!(
        (
            second.name(),
            second.value(),
            second.version(),
            second.selector()
        ),
        (Some("/app/db"), Some("two"), 2, Some(":2"))
    );
    let (missing, message) = code(
        ssm.get_parameter()
            .name("/app/db:7")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(missing, "ParameterVersionNotFound");
    assert!(message.contains("version 7 of /app/db"), "{message}");
    let (two_selectors, _) = code(
        ssm.get_parameter()
            .name("/app/db:1:2")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(two_selectors, "ParameterNotFound");

    // Labels: a label names one version and moves; invalid ones are returned, not refused.
    let labelled = ssm
        .label_parameter_version()
        .name("/app/db")
        .parameter_version(1)
        .labels("prod")
        .labels("1bad")
        .labels("awsx")
        .send()
        .await
        .unwrap();
    assert_eq!(labelled.parameter_version(), 1);
    assert_eq!(labelled.invalid_labels(), ["1bad", "awsx"]);
    let prod = ssm
        .get_parameter()
        .name("/app/db:prod")
        .send()
        .await
        .unwrap();
    assert_eq!(prod.parameter().unwrap().value(), Some("one"));
    ssm.label_parameter_version()
        .name("/app/db")
        .labels("prod")
        .send()
        .await
        .unwrap();
    let prod = ssm
        .get_parameter()
        .name("/app/db:prod")
        .send()
        .await
        .unwrap();
    let prod = prod.parameter().unwrap();
    assert_eq!(
        (prod.value(), prod.selector()),
        (Some("three"), Some(":prod"))
    );
    let (unknown, _) = code(
        ssm.get_parameter()
            .name("/app/db:staging")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(unknown, "ParameterNotFound");
    // Ten labels a version: one request takes at most ten (the model), a version holds at most ten.
    let label = |from: usize, to: usize| {
        let mut request = ssm.label_parameter_version().name("/app/db");
        for n in from..to {
            request = request.labels(format!("l{n}"));
        }
        request.send()
    };
    assert_eq!(
        code(label(0, 11).await.unwrap_err()).0,
        "ValidationException"
    );
    label(0, 9).await.unwrap();
    assert_eq!(
        code(label(9, 11).await.unwrap_err()).0,
        "ParameterVersionLabelLimitExceeded",
        "prod and l0..l8 are ten already"
    );

    // Tiers: 4 KB on standard, upgrade yes, downgrade no; a type stays what it was.
    let large = "x".repeat(5000);
    assert_eq!(
        code(put("/app/large", &large).send().await.unwrap_err()).0,
        "ValidationException"
    );
    let advanced = put("/app/large", &large)
        .tier(ParameterTier::IntelligentTiering)
        .send()
        .await
        .unwrap();
    assert_eq!(advanced.tier(), Some(&ParameterTier::Advanced));
    let downgrade = put("/app/large", "small")
        .tier(ParameterTier::Standard)
        .send()
        .await;
    assert_eq!(code(downgrade.unwrap_err()).0, "ValidationException");
    let kept = put("/app/large", "small").send().await.unwrap();
    assert_eq!(
        (kept.version(), kept.tier()),
        (2, Some(&ParameterTier::Advanced))
    );
    let retyped = ssm
        .put_parameter()
        .name("/app/large")
        .value("s")
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await;
    assert_eq!(
        code(retyped.unwrap_err()).0,
        "HierarchyTypeMismatchException"
    );
}

/// Parameter Store keeps the latest 100 versions; the oldest goes unless a label holds it.
#[tokio::test]
async fn parameter_store_keeps_a_hundred_versions() {
    let sim = start(patch_week_state());
    let ssm = client(&sim);
    for n in 1..=101 {
        let put = ssm
            .put_parameter()
            .name("/app/busy")
            .value(format!("v{n}"))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
        assert_eq!(put.version(), n);
    }
    let first = ssm
        .get_parameter()
        .name("/app/busy:1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        first.into_service_error().code(),
        Some("ParameterVersionNotFound"),
        "version 1 went when version 101 came"
    );
    ssm.label_parameter_version()
        .name("/app/busy")
        .parameter_version(2)
        .labels("keep")
        .send()
        .await
        .unwrap();
    let held = ssm
        .put_parameter()
        .name("/app/busy")
        .value("v102")
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        held.into_service_error().code(),
        Some("ParameterMaxVersionLimitExceeded")
    );
}
