//! The decision as an SNS message: a subject and readable text for people, the report as JSON for
//! machines, attributes for filter policies. Closed pages; open informs.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::handler::GateReport;
use patchpilot_shared::aws::sns::subject;

pub struct Message {
    pub subject: String,
    pub envelope: String,
    pub attributes: Vec<(&'static str, String)>,
}

pub fn message(report: &GateReport, staging_patch_group: &str) -> Message {
    let open = report.open.unwrap_or(false);
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    let verdict = if open { "OPEN" } else { "CLOSED" };
    let subject = subject(&if open {
        format!(
            "Patch gate OPEN: {} enabled after staging passed",
            report.production_window_id
        )
    } else {
        format!(
            "Patch gate CLOSED: {} disabled, {failed} staging check{} failed",
            report.production_window_id,
            if failed == 1 { "" } else { "s" }
        )
    });
    let mut text = String::new();
    let execution = report.execution.as_ref();
    let _ = writeln!(text, "Patch gate {verdict} ({}).", report.trigger);
    let _ = writeln!(text);
    let _ = writeln!(text, "Staging window:     {}", report.staging_window_id);
    if let Some(execution) = execution {
        let _ = writeln!(
            text,
            "Staging execution:  {} ({}, started {})",
            execution.id,
            execution.status,
            execution.start.format("%Y-%m-%d %H:%M UTC")
        );
    }
    let _ = writeln!(text, "Staging group:      {staging_patch_group}");
    let _ = writeln!(text, "Production window:  {}", report.production_window_id);
    let _ = writeln!(text);
    let _ = writeln!(text, "Checks:");
    for check in &report.checks {
        let _ = writeln!(
            text,
            "  [{}] {}: {}",
            if check.passed { "pass" } else { "FAIL" },
            check.name,
            check.detail
        );
    }
    if !report.failed_instances.is_empty() {
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "Failed in staging: {}",
            report.failed_instances.join(", ")
        );
    }
    for pinned in &report.pinned {
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "Pinned {} ({}) to staging's {}:",
            pinned.production_baseline_id, pinned.operating_system, pinned.staging_baseline_id
        );
        for cutoff in &pinned.cutoffs {
            let _ = writeln!(
                text,
                "  rule {}: {} -> ApproveUntilDate {} ({}); releases from {} are held back until the next staging run",
                cutoff.rule,
                cutoff.staging,
                cutoff.approve_until_date,
                cutoff.why,
                cutoff.held_back_from
            );
        }
        if !pinned.rejected_patches.is_empty() {
            let _ = writeln!(text, "  rejected: {}", pinned.rejected_patches.join(", "));
        }
        if !pinned.rejected_overflow.is_empty() || !pinned.approved_overflow.is_empty() {
            let _ = writeln!(
                text,
                "  NOT APPLIED (lists hold 50): rejected {:?}, approved {:?}",
                pinned.rejected_overflow, pinned.approved_overflow
            );
        }
        match &pinned.held_back {
            Some(held) if held.unreadable.is_some() => {
                let _ = writeln!(
                    text,
                    "  held back: unknown ({})",
                    held.unreadable.as_deref().unwrap_or_default()
                );
            }
            Some(held) if held.patches > 0 => {
                let _ = writeln!(
                    text,
                    "  held back: {} patch(es) staging approved but released after the cutoff ({}); the next staging run promotes them",
                    held.patches,
                    held.examples.join(", ")
                );
            }
            Some(_) => {
                let _ = writeln!(text, "  held back: none");
            }
            None => {}
        }
        for why in &pinned.unrejectable {
            let _ = writeln!(text, "  NOT REJECTED: {why}");
        }
    }
    for not_pinned in &report.not_pinned {
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "Not pinned: {} ({}): {}",
            not_pinned.production_baseline_id, not_pinned.operating_system, not_pinned.reason
        );
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "Actions: {}", report.actions.join("; "));
    let document = serde_json::to_value(report)
        .unwrap_or(Value::Null)
        .to_string();
    let envelope = json!({
        "default": text,
        "email": text,
        "sqs": document,
        "lambda": document,
        "https": document,
        "http": document,
    })
    .to_string();
    Message {
        subject,
        envelope,
        attributes: vec![
            ("kind", "gate_decision".to_owned()),
            ("gate", if open { "open" } else { "closed" }.to_owned()),
            (
                "severity",
                if open { "Informational" } else { "High" }.to_owned(),
            ),
            ("patch_group", staging_patch_group.to_owned()),
            ("window_id", report.production_window_id.clone()),
        ],
    }
}
