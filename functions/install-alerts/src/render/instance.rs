//! The per-instance alert: which patches failed on which instance, fitted to SNS's size limit.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};

use super::{
    AlertKind, InstanceAlertFacts, MAX_MESSAGE_BYTES, Rendered, SCHEMA, SHRUNK_TAIL_BYTES,
    attribute_value, attributes, console_links, highest_severity, subject, tail, write_more,
    write_unreadable,
};

/// Renders a per-instance alert, shrinking it until it fits SNS's limit.
pub fn instance_alert(facts: &InstanceAlertFacts) -> Rendered {
    let mut facts = facts.clone();
    let mut truncated = Vec::new();
    let mut rendered = render_instance(&facts, &truncated);
    if rendered.published_bytes() <= MAX_MESSAGE_BYTES {
        return rendered;
    }
    // First the command output, then the patch list, halving until the message fits.
    for output in [&mut facts.stdout_tail, &mut facts.stderr_tail]
        .into_iter()
        .flatten()
    {
        *output = tail(output, SHRUNK_TAIL_BYTES);
    }
    truncated.push(format!(
        "command output cut to its last {SHRUNK_TAIL_BYTES} bytes"
    ));
    rendered = render_instance(&facts, &truncated);
    let listed_before = facts.failed_patches.len();
    while rendered.published_bytes() > MAX_MESSAGE_BYTES && !facts.failed_patches.is_empty() {
        let keep = facts.failed_patches.len() / 2;
        facts.failed_patches.truncate(keep);
        let mut notes = truncated.clone();
        notes.push(format!(
            "{keep} of {} failed patches listed to fit SNS's 256 KB limit",
            facts.failed_patches_total.max(listed_before)
        ));
        rendered = render_instance(&facts, &notes);
        if rendered.published_bytes() <= MAX_MESSAGE_BYTES || keep == 0 {
            truncated = notes;
            break;
        }
    }
    if rendered.published_bytes() > MAX_MESSAGE_BYTES {
        // Only pathological inputs (enormous names) get here: drop the quoted output entirely.
        facts.stdout_tail = None;
        facts.stderr_tail = None;
        truncated.push("command output left out to fit SNS's 256 KB limit".to_owned());
        rendered = render_instance(&facts, &truncated);
    }
    rendered
}

fn render_instance(facts: &InstanceAlertFacts, truncated: &[String]) -> Rendered {
    let who = match &facts.instance.name {
        Some(name) => format!("{name} ({})", facts.instance_id),
        None => facts.instance_id.clone(),
    };
    let links = console_links(
        &facts.origin.region,
        &facts.command_id,
        Some(&facts.instance_id),
    );
    let severity = highest_severity(&facts.failed_patches);
    let text = InstanceText {
        facts,
        who: &who,
        severity: &severity,
        links: &links,
        truncated,
    }
    .to_string();
    Rendered {
        subject: instance_subject(facts, &who),
        text,
        document: instance_document(facts, &severity, links, truncated),
        attributes: instance_attributes(facts, severity),
        truncated: truncated.to_vec(),
    }
}

fn instance_subject(facts: &InstanceAlertFacts, who: &str) -> String {
    let operation = facts.operation.as_deref().unwrap_or("command");
    let group = facts
        .instance
        .patch_group
        .as_deref()
        .unwrap_or("no patch group");
    let count = match facts.failed_patches_total {
        0 if facts.instance.is_gone() => ", instance terminated".to_owned(),
        0 => String::new(),
        1 => ", 1 failed patch".to_owned(),
        n => format!(", {n} failed patches"),
    };
    subject(&format!(
        "Patch {operation} {}: {who} in {group}{count}",
        facts.status
    ))
}

/// The text e-mail and SMS subscribers read for one instance's failure.
struct InstanceText<'a> {
    facts: &'a InstanceAlertFacts,
    who: &'a str,
    severity: &'a str,
    links: &'a Value,
    truncated: &'a [String],
}

impl fmt::Display for InstanceText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = self.facts;
        let operation = facts.operation.as_deref().unwrap_or("command");
        writeln!(f, "Patch {operation} {} on {}.", facts.status, self.who)?;
        writeln!(f)?;
        self.identity(f)?;
        writeln!(f)?;
        self.failed_patches(f)?;
        for (label, output) in [
            ("Standard error", &facts.stderr_tail),
            ("Standard output", &facts.stdout_tail),
        ] {
            if let Some(output) = output.as_deref().filter(|o| !o.trim().is_empty()) {
                writeln!(f)?;
                writeln!(f, "{label} (end):")?;
                for line in output.lines() {
                    writeln!(f, "  | {line}")?;
                }
            }
        }
        write_unreadable(f, &facts.unreadable, "the alert")?;
        if !self.truncated.is_empty() {
            writeln!(f)?;
            writeln!(f, "Cut to fit: {}.", self.truncated.join("; "))?;
        }
        writeln!(f)?;
        let link = |name: &str| self.links[name].as_str().unwrap_or_default().to_owned();
        writeln!(f, "Command output: {}", link("command_output"))?;
        writeln!(f, "Instance patches: {}", link("instance_patches"))
    }
}

impl InstanceText<'_> {
    /// Which instance, where, and which command: one labelled line each.
    fn identity(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = self.facts;
        let instance = &facts.instance;
        let or = |value: &Option<String>, missing: &'static str| {
            value.as_deref().unwrap_or(missing).to_owned()
        };
        writeln!(f, "Instance:     {}", facts.instance_id)?;
        writeln!(f, "Name:         {}", or(&instance.name, "(unknown)"))?;
        writeln!(f, "Patch group:  {}", or(&instance.patch_group, "(none)"))?;
        writeln!(f, "Platform:     {}", or(&instance.platform, "(unknown)"))?;
        if let Some(state) = &instance.state {
            writeln!(f, "EC2 state:    {state}")?;
        }
        writeln!(f, "Account:      {}", facts.origin.account)?;
        writeln!(f, "Region:       {}", facts.origin.region)?;
        writeln!(f, "Command:      {}", facts.command_id)?;
        writeln!(f, "Document:     {}", facts.document)?;
        writeln!(f, "Operation:    {}", or(&facts.operation, "(unknown)"))?;
        writeln!(f, "Status:       {}", facts.status)?;
        if let Some(details) = &facts.status_details {
            writeln!(f, "Details:      {details}")?;
        }
        if let Some(code) = facts.response_code {
            writeln!(f, "Exit code:    {code}")?;
        }
        Ok(())
    }

    fn failed_patches(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = self.facts;
        if facts.instance.is_gone() && facts.failed_patches_total == 0 {
            return writeln!(
                f,
                "The instance was terminated while the command ran: it reported no patch result and \
                 will not. Staging cannot vouch for it (the gate counts it as failed); check why it \
                 was terminated (a scale-in, or a health check the patch broke)."
            );
        }
        if facts.failed_patches_total == 0 {
            return writeln!(
                f,
                "No patch is reported in state Failed (the run may have failed before installing)."
            );
        }
        writeln!(
            f,
            "Failed patches ({}, highest severity {}):",
            facts.failed_patches_total, self.severity
        )?;
        for patch in &facts.failed_patches {
            writeln!(
                f,
                "  - {} [{}] {} / {}",
                patch.title, patch.kb_id, patch.classification, patch.severity
            )?;
        }
        write_more(f, facts.failed_patches.len(), facts.failed_patches_total)
    }
}

fn instance_document(
    facts: &InstanceAlertFacts,
    severity: &str,
    links: Value,
    truncated: &[String],
) -> Value {
    json!({
        "schema": SCHEMA,
        "kind": AlertKind::InstanceFailure,
        "account": facts.origin.account,
        "region": facts.origin.region,
        "command": {
            "id": facts.command_id,
            "document": facts.document,
            "operation": facts.operation,
            "status": facts.status,
            "status_details": facts.status_details,
            "response_code": facts.response_code,
        },
        "instance": {
            "id": facts.instance_id,
            "name": facts.instance.name,
            "patch_group": facts.instance.patch_group,
            "platform": facts.instance.platform,
            "state": facts.instance.state,
        },
        "severity": severity,
        "failed_patches": facts.failed_patches,
        "failed_patches_total": facts.failed_patches_total,
        "output": {"stdout_tail": facts.stdout_tail, "stderr_tail": facts.stderr_tail},
        "links": links,
        "unreadable": facts.unreadable,
        "truncated": truncated,
    })
}

fn instance_attributes(
    facts: &InstanceAlertFacts,
    severity: String,
) -> BTreeMap<&'static str, (&'static str, String)> {
    let group = attribute_value(facts.instance.patch_group.as_deref());
    attributes(
        AlertKind::InstanceFailure,
        ("String", group),
        facts.instance_id.clone(),
        &facts.command_id,
        severity,
        &facts.status,
        &facts.origin,
    )
}
