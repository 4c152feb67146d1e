//! The decision as an SNS message: a subject and readable text for people, the report as JSON for
//! machines, attributes for filter policies. Closed pages; open informs.

use std::fmt;

use serde_json::Value;

use crate::pin::Pinned;
use crate::report::{GateOutcome, GateReport};
pub use patchpilot_shared::aws::sns::Message;
use patchpilot_shared::aws::sns::{MAX_MESSAGE_BYTES, envelope, subject};

/// Failed instances the text names (all of them are in the document, size permitting).
const TEXT_FAILED_INSTANCES: usize = 50;

/// The message for a decision: pages (severity High) when closed, informs when open. It always fits
/// SNS's 256 KB: the text names at most 50 failed instances, and the document's list is halved until
/// the message fits, with `failed_instances_total` saying how many there were.
pub fn message(report: &GateReport, staging_patch_group: &str) -> Message {
    let mut message = render(report, staging_patch_group, report.failed_instances.len());
    let mut listed = report.failed_instances.len();
    while fitted_bytes(&message) > MAX_MESSAGE_BYTES && listed > 0 {
        listed /= 2;
        message = render(report, staging_patch_group, listed);
    }
    message
}

/// The bytes SNS counts for `message`, and its subject too: the gate fits with room to spare.
fn fitted_bytes(message: &Message) -> usize {
    message.published_bytes() + message.subject.len()
}

fn render(report: &GateReport, staging_patch_group: &str, listed: usize) -> Message {
    let open = report.open.unwrap_or(false);
    let text = GateText {
        report,
        staging_patch_group,
    }
    .to_string();
    let mut document = serde_json::to_value(report).unwrap_or(Value::Null);
    if listed < report.failed_instances.len() {
        document["failed_instances"] = serde_json::json!(&report.failed_instances[..listed]);
        document["failed_instances_total"] = serde_json::json!(report.failed_instances.len());
    }
    let document = document.to_string();
    Message {
        subject: gate_subject(report, open),
        envelope: envelope(&text, &document),
        attributes: [
            ("kind", "gate_decision"),
            ("gate", if open { "open" } else { "closed" }),
            ("severity", if open { "Informational" } else { "High" }),
            ("patch_group", staging_patch_group),
            ("window_id", report.production_window_id.as_str()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), "String".to_owned(), value.to_owned()))
        .collect(),
    }
}

fn gate_subject(report: &GateReport, open: bool) -> String {
    let window = &report.production_window_id;
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    let text = match (report.outcome, &report.approval, &report.hold) {
        (GateOutcome::Approved, Some(approval), _) => format!(
            "Patch gate OPEN by approval: {window} enabled over {failed} failed check{} ({})",
            plural(failed),
            approval.by.label()
        ),
        (GateOutcome::Held, _, Some(hold)) => {
            format!("Patch gate HELD: {window} disabled by {}", hold.by.label())
        }
        (GateOutcome::Released, _, _) => format!(
            "Patch gate hold released: {window} {}",
            if open { "enabled" } else { "stays disabled" }
        ),
        _ if open => format!("Patch gate OPEN: {window} enabled after staging passed"),
        _ => format!(
            "Patch gate CLOSED: {window} disabled, {failed} staging check{} failed",
            plural(failed)
        ),
    };
    subject(&text)
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The text e-mail and SMS subscribers read.
struct GateText<'a> {
    report: &'a GateReport,
    staging_patch_group: &'a str,
}

impl fmt::Display for GateText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.report;
        let verdict = if report.open.unwrap_or(false) {
            "OPEN"
        } else {
            "CLOSED"
        };
        writeln!(f, "Patch gate {verdict} ({}).", report.trigger)?;
        writeln!(f)?;
        writeln!(f, "Staging window:     {}", report.staging_window_id)?;
        if let Some(execution) = &report.execution {
            writeln!(
                f,
                "Staging execution:  {} ({}, started {})",
                execution.id,
                execution.status,
                execution.start.format("%Y-%m-%d %H:%M UTC")
            )?;
        }
        writeln!(f, "Staging group:      {}", self.staging_patch_group)?;
        writeln!(f, "Production window:  {}", report.production_window_id)?;
        if let Some(approval) = &report.approval {
            writeln!(
                f,
                "Approved by:        {} at {}: {}",
                approval.by.label(),
                approval.at.format("%Y-%m-%d %H:%M UTC"),
                approval.reason
            )?;
        }
        if let Some(hold) = &report.hold {
            writeln!(
                f,
                "Hold:               {} since {}: {}",
                hold.by.label(),
                hold.since.format("%Y-%m-%d %H:%M UTC"),
                hold.reason
            )?;
        }
        if let Some(reason) = &report.reason {
            writeln!(f, "Note:               {reason}")?;
        }
        writeln!(f)?;
        writeln!(f, "Checks:")?;
        for check in &report.checks {
            let mark = if check.passed { "pass" } else { "FAIL" };
            writeln!(f, "  [{mark}] {}: {}", check.name, check.detail)?;
        }
        if !report.failed_instances.is_empty() {
            writeln!(f)?;
            let total = report.failed_instances.len();
            let shown = &report.failed_instances[..total.min(TEXT_FAILED_INSTANCES)];
            write!(f, "Failed in staging ({total}): {}", shown.join(", "))?;
            if total > shown.len() {
                write!(f, " and {} more", total - shown.len())?;
            }
            writeln!(f)?;
        }
        for pinned in &report.pinned {
            writeln!(f)?;
            write_pinned(f, pinned)?;
        }
        for not_pinned in &report.not_pinned {
            writeln!(f)?;
            writeln!(
                f,
                "Not pinned: {} ({}): {}",
                not_pinned.production_baseline_id, not_pinned.operating_system, not_pinned.reason
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Actions: {}", report.actions.join("; "))
    }
}

/// What one production baseline was pinned to, and what the pin could not carry.
fn write_pinned(f: &mut fmt::Formatter<'_>, pinned: &Pinned) -> fmt::Result {
    writeln!(
        f,
        "Pinned {} ({}) to staging's {}:",
        pinned.production_baseline_id, pinned.operating_system, pinned.staging_baseline_id
    )?;
    for cutoff in &pinned.cutoffs {
        writeln!(
            f,
            "  rule {}: {} -> ApproveUntilDate {} ({}); releases from {} are held back until the next staging run",
            cutoff.rule,
            cutoff.staging,
            cutoff.approve_until_date,
            cutoff.why,
            cutoff.held_back_from
        )?;
    }
    if !pinned.rejected_patches.is_empty() {
        writeln!(f, "  rejected: {}", pinned.rejected_patches.join(", "))?;
    }
    if !pinned.rejected_overflow.is_empty() || !pinned.approved_overflow.is_empty() {
        writeln!(
            f,
            "  NOT APPLIED (lists hold 50): rejected {:?}, approved {:?}",
            pinned.rejected_overflow, pinned.approved_overflow
        )?;
    }
    match &pinned.held_back {
        Some(held) if held.unreadable.is_some() => writeln!(
            f,
            "  held back: unknown ({})",
            held.unreadable.as_deref().unwrap_or_default()
        )?,
        Some(held) if held.patches > 0 => writeln!(
            f,
            "  held back: {} patch(es) staging approved but released after the cutoff ({}); the next staging run promotes them",
            held.patches,
            held.examples.join(", ")
        )?,
        Some(_) => writeln!(f, "  held back: none")?,
        None => {}
    }
    for why in &pinned.unrejectable {
        writeln!(f, "  NOT REJECTED: {why}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{Check, CheckName};
    use crate::report::Trigger;
    use chrono::Utc;

    fn closed_with(failed: usize) -> GateReport {
        GateReport {
            outcome: GateOutcome::Decided,
            reason: None,
            trigger: Trigger::StagingExecution,
            staging_window_id: "mw-staging".into(),
            production_window_id: "mw-production".into(),
            execution: None,
            open: Some(false),
            checks: vec![Check {
                name: CheckName::NoFailedPatches,
                passed: false,
                detail: format!("{failed} instances failed"),
            }],
            failed_instances: (0..failed).map(|i| format!("i-{i:017x}")).collect(),
            actions: vec!["disable production window mw-production".into()],
            pinned: vec![],
            not_pinned: vec![],
            dry_run: false,
            decided_at: Utc::now(),
            approval: None,
            hold: None,
            failed_patches_unread: Vec::new(),
            promoted: None,
            verified: None,
        }
    }

    #[test]
    fn a_page_for_a_whole_failed_fleet_still_fits_sns() {
        // 20,000 ids are ~0.5 MB in each of the envelope's four machine copies: far over 256 KB.
        let report = closed_with(20_000);
        let message = message(&report, "staging");
        assert!(fitted_bytes(&message) <= MAX_MESSAGE_BYTES);
        let envelope: Value = serde_json::from_str(&message.envelope).unwrap();
        let document: Value = serde_json::from_str(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(document["failed_instances_total"], 20_000);
        let listed = document["failed_instances"].as_array().unwrap().len();
        assert!(listed > 0 && listed < 20_000, "{listed}");
        let text = envelope["default"].as_str().unwrap();
        assert!(text.contains("Failed in staging (20000): i-00000000000000000"));
        assert!(text.contains("and 19950 more"));
    }

    #[test]
    fn a_small_page_is_whole() {
        let report = closed_with(3);
        let message = message(&report, "staging");
        let envelope: Value = serde_json::from_str(&message.envelope).unwrap();
        let document: Value = serde_json::from_str(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(document["failed_instances"].as_array().unwrap().len(), 3);
        assert!(document.get("failed_instances_total").is_none());
    }
}
