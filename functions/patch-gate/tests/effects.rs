//! What the gate changes in production, read back from the in-memory production: which changes, in
//! which order, and what happens when one is refused part-way. Staging's facts come from the mocked
//! account (`account/`); nothing here needs an AWS client for the effects.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;

use account::*;
use patchpilot_shared::error::ErrorClass;

fn clean_run() -> serde_json::Value {
    event("SUCCESS", "2026-11-26T02:00:03.118Z")
}

fn kinds(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .map(|effect| match effect {
            Effect::Window { enabled: true, .. } => "enable",
            Effect::Window { enabled: false, .. } => "disable",
            Effect::Cancelled(_) => "cancel",
            Effect::Pinned(_) => "pin",
            Effect::Object(_) => "object",
            Effect::Paged { .. } => "page",
        })
        .collect()
}

fn pinned_ids(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Pinned(pinned) => Some(pinned.production_baseline_id.clone()),
            _ => None,
        })
        .collect()
}

/// A clean staging run: every production baseline pinned first, then the window enabled, then the
/// decision published — never an open window on unpinned baselines.
#[tokio::test]
async fn a_clean_run_pins_every_baseline_before_it_opens_the_window_then_informs() {
    let (gate, production, _) = in_memory(
        Account {
            production_baselines: vec!["pb-0c10000000000000b", "pb-0c10000000000000c"],
            ..Account::default()
        },
        InMemoryProduction::new(),
    );
    let report = gate.handle(clean_run()).await.unwrap();
    assert_eq!(report.open, Some(true));
    let effects = production.effects();
    assert_eq!(kinds(&effects), ["pin", "pin", "enable", "page"]);
    assert_eq!(
        pinned_ids(&effects),
        ["pb-0c10000000000000b", "pb-0c10000000000000c"]
    );
    let Effect::Window { window_id, .. } = &effects[2] else {
        panic!("the third change is the window: {effects:?}")
    };
    assert_eq!(window_id, PRODUCTION);
    let Effect::Paged { topic_arn, message } = &effects[3] else {
        panic!("the last change is the page: {effects:?}")
    };
    assert_eq!(topic_arn, "arn:aws:sns:eu-west-1:111122223333:patchpilot");
    assert!(message.attributes.contains(&(
        "kind".to_owned(),
        "String".to_owned(),
        "gate_decision".to_owned()
    )));
}

/// The second baseline's pin refused: production stays closed (the window is disabled, not left as
/// it was), the page says which baseline, and nothing after the refusal is pinned.
#[tokio::test]
async fn a_pin_refused_part_way_closes_production_and_pages_which() {
    let (gate, production, _) = in_memory(
        Account {
            production_baselines: vec!["pb-0c10000000000000b", "pb-0c10000000000000c"],
            ..Account::default()
        },
        InMemoryProduction::new().refusing(EffectKind::Pin, 1),
    );
    let report = gate.handle(clean_run()).await.unwrap();
    assert_eq!(report.open, Some(false));
    let effects = production.effects();
    assert_eq!(kinds(&effects), ["pin", "disable", "page"]);
    assert_eq!(pinned_ids(&effects), ["pb-0c10000000000000b"]);
    let failed: Vec<_> = report.checks.iter().filter(|c| !c.passed).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].detail.contains("pb-0c10000000000000c"));
    assert!(
        failed[0].detail.contains("ssm:UpdatePatchBaseline")
            && failed[0].detail.contains("not authorized"),
        "{}",
        failed[0].detail
    );
}

/// The window change refused: the invocation fails retryable (Lambda retries, then the failure
/// queue), nobody is told production changed, and the verdict stays claimed for the retry.
#[tokio::test]
async fn a_refused_window_change_fails_retryable_and_pages_nobody() {
    let (gate, production, sent) = in_memory(
        Account {
            composite_alarms: vec!["svc-checkout-health"],
            ..Account::default()
        },
        InMemoryProduction::new().refusing(EffectKind::Window, 0),
    );
    let err = gate.handle(clean_run()).await.unwrap_err();
    match err {
        patchpilot_shared::FunctionError::Aws {
            operation, class, ..
        } => {
            assert_eq!(operation, "ssm:UpdateMaintenanceWindow");
            assert_eq!(class, ErrorClass::Retryable);
        }
        other => panic!("expected the refused UpdateMaintenanceWindow, got {other:?}"),
    }
    assert!(production.effects().is_empty());
    assert_eq!(
        sent.claimed.lock().unwrap().len(),
        1,
        "the verdict is claimed"
    );
    assert!(
        sent.pointers.lock().unwrap().is_empty(),
        "and not completed"
    );
}

/// Closing while production runs: the window is disabled, then each unfinished execution cancelled,
/// then the page goes out.
#[tokio::test]
async fn closing_disables_then_cancels_what_runs_then_pages() {
    let (gate, production, _) = in_memory(
        Account {
            composite_alarms: vec!["svc-checkout-health"],
            production_running: vec!["exec-prod-1", "exec-prod-2"],
            ..Account::default()
        },
        InMemoryProduction::new(),
    );
    let report = gate.handle(clean_run()).await.unwrap();
    assert_eq!(report.open, Some(false));
    let effects = production.effects();
    assert_eq!(kinds(&effects), ["disable", "cancel", "cancel", "page"]);
    assert_eq!(effects[1], Effect::Cancelled("exec-prod-1".to_owned()));
    assert_eq!(effects[2], Effect::Cancelled("exec-prod-2".to_owned()));
}

/// A page refused after production was closed: the invocation fails retryable so the page is not
/// lost; production is already closed.
#[tokio::test]
async fn a_refused_page_after_closing_fails_retryable_with_production_closed() {
    let (gate, production, _) = in_memory(
        Account {
            composite_alarms: vec!["svc-checkout-health"],
            ..Account::default()
        },
        InMemoryProduction::new().refusing(EffectKind::Page, 0),
    );
    let err = gate.handle(clean_run()).await.unwrap_err();
    assert!(
        matches!(&err, patchpilot_shared::FunctionError::Aws { operation, class: ErrorClass::Retryable, .. } if operation == "sns:Publish"),
        "{err:?}"
    );
    assert_eq!(kinds(&production.effects()), ["disable"]);
}

/// DRY_RUN: the report says what the gate would do; production is not touched at all.
#[tokio::test]
async fn dry_run_changes_nothing_and_says_what_it_would() {
    let (gate, production, _) = in_memory(
        Account {
            production_baselines: vec!["pb-0c10000000000000b"],
            dry_run: true,
            ..Account::default()
        },
        InMemoryProduction::new(),
    );
    let report = gate.handle(clean_run()).await.unwrap();
    assert_eq!(report.open, Some(true));
    assert!(
        production.effects().is_empty(),
        "{:?}",
        production.effects()
    );
    assert!(
        report
            .actions
            .iter()
            .any(|action| action.starts_with("would enable production window")),
        "{:?}",
        report.actions
    );
    assert!(
        report
            .actions
            .iter()
            .any(|action| action.starts_with("would pin pb-0c10000000000000b")),
        "{:?}",
        report.actions
    );
}
