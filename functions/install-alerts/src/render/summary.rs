//! The summary of a command or window whose per-instance alerts storm control cut short.

use std::fmt;

use serde_json::{Value, json};

use super::{
    AlertKind, Rendered, SCHEMA, SummaryFacts, attributes, console_links, subject, write_more,
    write_unreadable,
};

/// Renders the summary of a command whose per-instance alerts storm control cut short.
pub fn summary(facts: &SummaryFacts) -> Rendered {
    let links = summary_links(facts);
    let text = SummaryText {
        facts,
        links: &links,
    }
    .to_string();
    // A summary spans patch groups: String.Array lets a filter policy on one group still match.
    let groups = if facts.patch_groups.is_empty() {
        json!(["none"])
    } else {
        json!(facts.patch_groups)
    };
    let attributes = attributes(
        AlertKind::of_summary(facts),
        ("String.Array", groups.to_string()),
        "multiple".to_owned(),
        &facts.command_id,
        "Unknown".to_owned(),
        &facts.status,
        &facts.origin,
    );
    Rendered {
        subject: summary_subject(facts),
        text,
        document: summary_document(facts, links),
        attributes,
        truncated: Vec::new(),
    }
}

fn summary_subject(facts: &SummaryFacts) -> String {
    let operation = facts.operation.as_deref().unwrap_or("command");
    let suppressed = facts.suppressed();
    subject(&match &facts.window_id {
        Some(window) => format!(
            "Patch window {window} {}: {} instances failed, {} paged, {suppressed} summarised here",
            facts.status, facts.failed_total, facts.alerted
        ),
        None => format!(
            "Patch {operation} {} on {} instances: {} paged, {suppressed} summarised here",
            facts.status, facts.failed_total, facts.alerted
        ),
    })
}

fn summary_links(facts: &SummaryFacts) -> Value {
    match &facts.window_id {
        Some(window) => json!({
            "window_execution": format!(
                "https://{region}.console.aws.amazon.com/systems-manager/maintenance-windows/{window}/history/{execution}?region={region}",
                region = facts.origin.region,
                execution = facts.command_id
            )
        }),
        None => console_links(&facts.origin.region, &facts.command_id, None),
    }
}

/// The text e-mail and SMS subscribers read for a command's or a window's failures.
struct SummaryText<'a> {
    facts: &'a SummaryFacts,
    links: &'a Value,
}

impl fmt::Display for SummaryText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = self.facts;
        self.headline(f)?;
        writeln!(f)?;
        writeln!(f, "Account:      {}", facts.origin.account)?;
        writeln!(f, "Region:       {}", facts.origin.region)?;
        writeln!(f, "Document:     {}", facts.document)?;
        let groups = if facts.patch_groups.is_empty() {
            "(unknown)".to_owned()
        } else {
            facts.patch_groups.join(", ")
        };
        writeln!(f, "Patch groups: {groups}")?;
        writeln!(f)?;
        writeln!(f, "Invocations by status:")?;
        for (status, count) in &facts.counts_by_status {
            writeln!(f, "  {status}: {count}")?;
        }
        writeln!(f)?;
        writeln!(f, "Failed instances (first {}):", facts.instances.len())?;
        for instance in &facts.instances {
            let name = instance.name.as_deref().map(|n| format!(" ({n})"));
            writeln!(
                f,
                "  - {}{} {} [{}]",
                instance.instance_id,
                name.unwrap_or_default(),
                instance.status,
                instance.patch_group.as_deref().unwrap_or("no patch group"),
            )?;
        }
        write_more(f, facts.instances.len(), facts.failed_total)?;
        write_unreadable(f, &facts.unreadable, "the summary")?;
        writeln!(f)?;
        for (label, link) in self.links.as_object().into_iter().flatten() {
            writeln!(f, "{label}: {}", link.as_str().unwrap_or_default())?;
        }
        Ok(())
    }
}

impl SummaryText<'_> {
    /// What failed, how much was paged, and whether the figures are complete.
    fn headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = self.facts;
        let operation = facts.operation.as_deref().unwrap_or("command");
        match &facts.window_id {
            Some(window) => writeln!(
                f,
                "Maintenance window {window} execution {} ended {}: patching failed on {} of {} instances.",
                facts.command_id, facts.status, facts.failed_total, facts.invocations_total
            )?,
            None => writeln!(
                f,
                "Patch {operation} command {} ended {}: {} of {} instances failed.",
                facts.command_id, facts.status, facts.failed_total, facts.invocations_total
            )?,
        }
        writeln!(
            f,
            "{} instances were paged one by one; storm control held back the other {}.",
            facts.alerted,
            facts.suppressed()
        )?;
        if let Some(incomplete) = &facts.incomplete {
            writeln!(
                f,
                "INCOMPLETE: {incomplete}. The figures below cover what was read."
            )?;
        }
        Ok(())
    }
}

fn summary_document(facts: &SummaryFacts, links: Value) -> Value {
    json!({
        "schema": SCHEMA,
        "kind": AlertKind::of_summary(facts),
        "account": facts.origin.account,
        "region": facts.origin.region,
        "window_id": facts.window_id,
        "command": {
            "id": facts.command_id,
            "document": facts.document,
            "operation": facts.operation,
            "status": facts.status,
        },
        "invocations_total": facts.invocations_total,
        "counts_by_status": facts.counts_by_status,
        "failed_total": facts.failed_total,
        "alerted": facts.alerted,
        "suppressed": facts.suppressed(),
        "instances": facts.instances,
        "patch_groups": facts.patch_groups,
        "links": links,
        "unreadable": facts.unreadable,
        "truncated": [],
        "complete": facts.incomplete.is_none(),
        "incomplete": facts.incomplete,
    })
}
