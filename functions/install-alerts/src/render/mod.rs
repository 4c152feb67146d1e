//! Alerts as SNS messages: readable text for e-mail, a structured JSON document (schema
//! `patchpilot.install-alert/v1`, documented in docs/functions.md) for SQS, Lambda and HTTP(S) subscribers, a
//! subject within SNS's rules, and the message attributes subscription filter policies select on.
//! Pure: facts in, message out.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::plan::Origin;
use patchpilot_shared::aws::sns;
pub use patchpilot_shared::aws::sns::{MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS, subject};
/// The JSON document's schema name.
pub const SCHEMA: &str = "patchpilot.install-alert/v1";
/// Output tails are cut to this when a message must shrink.
const SHRUNK_TAIL_BYTES: usize = 512;

/// One failed patch as DescribeInstancePatches reports it (one type for every function).
pub use patchpilot_shared::aws::ssm::FailedPatch;

/// What the enrichment learnt about the instance; any of it may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceInfo {
    /// The `Name` tag.
    pub name: Option<String>,
    /// The patch group tag.
    pub patch_group: Option<String>,
    /// The platform SSM reports.
    pub platform: Option<String>,
    /// EC2's instance state (`running`, `stopped`, `shutting-down`, `terminated`, …).
    pub state: Option<String>,
}

impl InstanceInfo {
    /// The instance is being or has been terminated: no patch result will ever come from it, and
    /// Systems Manager stops managing it. A failure on such an instance is not a patch failure.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_deref(), Some("shutting-down" | "terminated"))
    }
}

/// Everything a per-instance alert says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceAlertFacts {
    /// Where the event came from.
    pub origin: Origin,
    /// The Run Command command.
    pub command_id: String,
    /// The instance.
    pub instance_id: String,
    /// The patch document.
    pub document: String,
    /// How the run ended.
    pub status: String,
    /// `Scan` or `Install`, from the command's parameters.
    pub operation: Option<String>,
    /// Run Command's status details.
    pub status_details: Option<String>,
    /// The script's exit code.
    pub response_code: Option<i32>,
    /// What is known about the instance.
    pub instance: InstanceInfo,
    /// The failed patches read (possibly fewer than `failed_patches_total` when the listing was capped).
    pub failed_patches: Vec<FailedPatch>,
    /// Failed patches the instance reports.
    pub failed_patches_total: usize,
    /// The end of the command's standard output.
    pub stdout_tail: Option<String>,
    /// The end of its standard error.
    pub stderr_tail: Option<String>,
    /// What could not be read, and why: the alert goes out without it.
    pub unreadable: Vec<String>,
}

/// One instance line of a storm summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryInstance {
    /// The instance.
    pub instance_id: String,
    /// Its `Name` tag.
    pub name: Option<String>,
    /// How its run ended.
    pub status: String,
    /// Its patch group.
    pub patch_group: Option<String>,
}

/// Everything a command summary says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryFacts {
    /// Where the event came from.
    pub origin: Origin,
    /// The command, or for a window summary the window execution.
    pub command_id: String,
    /// Set for a maintenance-window execution's summary.
    pub window_id: Option<String>,
    /// The patch document.
    pub document: String,
    /// How the command or execution ended.
    pub status: String,
    /// `Scan` or `Install`, when known.
    pub operation: Option<String>,
    /// Invocations counted.
    pub invocations_total: usize,
    /// Invocations by status.
    pub counts_by_status: BTreeMap<String, usize>,
    /// Invocations that failed.
    pub failed_total: usize,
    /// Per-instance alerts that went out before storm control stepped in.
    pub alerted: usize,
    /// The first failed instances (at most the configured number).
    pub instances: Vec<SummaryInstance>,
    /// The failed instances' patch groups.
    pub patch_groups: Vec<String>,
    /// What could not be read (the summary goes out without it).
    pub unreadable: Vec<String>,
    /// What the function's time limit left uncounted or unnamed; `None` for a complete summary.
    pub incomplete: Option<String>,
}

impl SummaryFacts {
    /// Failed instances storm control held back from paging one by one.
    pub fn suppressed(&self) -> usize {
        self.failed_total.saturating_sub(self.alerted)
    }
}

/// What a message is about: `kind` in its JSON document, its `kind` message attribute (for filter
/// policies) and the function's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// One instance's failed patch install.
    InstanceFailure,
    /// A command's failures rolled into one message (storm control).
    CommandSummary,
    /// A maintenance-window execution's failures rolled into one message.
    WindowSummary,
}

impl AlertKind {
    /// The kind as documents, attributes and outputs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstanceFailure => "instance_failure",
            Self::CommandSummary => "command_summary",
            Self::WindowSummary => "window_summary",
        }
    }

    /// A summary of several instances rather than one instance's alert.
    pub fn is_summary(self) -> bool {
        self != Self::InstanceFailure
    }

    fn of_summary(facts: &SummaryFacts) -> Self {
        if facts.window_id.is_some() {
            Self::WindowSummary
        } else {
            Self::CommandSummary
        }
    }
}

/// A message ready for SNS Publish with `MessageStructure=json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The subject (sanitised for SNS).
    pub subject: String,
    /// The text people read.
    pub text: String,
    /// The JSON document machines read.
    pub document: Value,
    /// Attribute name → (SNS data type, value).
    pub attributes: BTreeMap<&'static str, (&'static str, String)>,
    /// What was cut to fit SNS's limit (also stated in the text and the document).
    pub truncated: Vec<String>,
}

impl Rendered {
    /// The `Message` for `MessageStructure=json`: text for e-mail and SMS (`default`), the JSON
    /// document for machine subscribers.
    pub fn envelope(&self) -> String {
        sns::envelope(&self.text, &self.document.to_string())
    }

    /// Bytes SNS counts: the message plus attribute names, types and values.
    pub fn published_bytes(&self) -> usize {
        sns::published_bytes(
            &self.envelope(),
            self.attributes
                .iter()
                .map(|(name, (kind, value))| (*name, *kind, value.as_str())),
        )
    }
}

/// Console links for a command's output on an instance and the instance's patches.
pub fn console_links(region: &str, command_id: &str, instance_id: Option<&str>) -> Value {
    let base = format!("https://{region}.console.aws.amazon.com/systems-manager");
    match instance_id {
        Some(instance) => json!({
            "command_output": format!("{base}/run-command/{command_id}/{instance}?region={region}"),
            "instance_patches": format!("{base}/fleet-manager/managed-nodes/{instance}/patch?region={region}"),
        }),
        None => json!({
            "command": format!("{base}/run-command/{command_id}?region={region}"),
        }),
    }
}

/// The most severe of the failed patches' severities (`Unknown` when none is known).
pub fn highest_severity(patches: &[FailedPatch]) -> String {
    const ORDER: &[&str] = &[
        "Critical",
        "Important",
        "High",
        "Moderate",
        "Medium",
        "Low",
        "Informational",
        "Unspecified",
    ];
    patches
        .iter()
        .filter_map(|patch| {
            ORDER
                .iter()
                .position(|known| known.eq_ignore_ascii_case(&patch.severity))
        })
        .min()
        .map(|index| ORDER[index].to_owned())
        .unwrap_or_else(|| "Unknown".to_owned())
}

/// The last `limit` bytes of `text` (on a character boundary), marked when cut.
pub fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {start} earlier bytes cut]\n{}", &text[start..])
}

fn attribute_value(value: Option<&str>) -> String {
    value
        .filter(|value| !value.trim().is_empty())
        .unwrap_or("none")
        .to_owned()
}

mod instance;
mod summary;

pub use instance::instance_alert;
pub use summary::summary;

/// `  ... and N more` when only `shown` of `total` were listed.
fn write_more(f: &mut fmt::Formatter<'_>, shown: usize, total: usize) -> fmt::Result {
    if shown < total {
        writeln!(f, "  ... and {} more", total - shown)?;
    }
    Ok(())
}

/// The reads that failed, so a reader knows what the message lacks.
fn write_unreadable(f: &mut fmt::Formatter<'_>, problems: &[String], what: &str) -> fmt::Result {
    if problems.is_empty() {
        return Ok(());
    }
    writeln!(f)?;
    writeln!(f, "Could not be read ({what} is sent without it):")?;
    for problem in problems {
        writeln!(f, "  - {problem}")?;
    }
    Ok(())
}

/// The attributes subscribers' filter policies match on; a summary sets the same names.
fn attributes(
    kind: AlertKind,
    patch_group: (&'static str, String),
    instance_id: String,
    command_id: &str,
    severity: String,
    status: &str,
    origin: &Origin,
) -> BTreeMap<&'static str, (&'static str, String)> {
    BTreeMap::from([
        ("kind", ("String", kind.as_str().to_owned())),
        ("patch_group", patch_group),
        ("instance_id", ("String", instance_id)),
        ("command_id", ("String", command_id.to_owned())),
        ("severity", ("String", severity)),
        ("status", ("String", status.to_owned())),
        ("account", ("String", origin.account.clone())),
        ("region", ("String", origin.region.clone())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(n: usize, severity: &str) -> FailedPatch {
        FailedPatch {
            title: format!("kernel-6.1.{n}-1.amzn2023"),
            kb_id: format!("ALAS2023-2026-{n:04}"),
            classification: "Security".to_owned(),
            severity: severity.to_owned(),
        }
    }

    fn facts() -> InstanceAlertFacts {
        InstanceAlertFacts {
            origin: Origin {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
            },
            command_id: "0b1c7e3e-1f44-4f3e-9d8a-6c1e5b7d9a20".into(),
            instance_id: "i-0a1b2c3d4e5f60718".into(),
            document: "AWS-RunPatchBaseline".into(),
            status: "Failed".into(),
            operation: Some("Install".into()),
            status_details: Some("Failed".into()),
            response_code: Some(1),
            instance: InstanceInfo {
                name: Some("web-01".into()),
                patch_group: Some("web-prod".into()),
                platform: Some("Linux/UNIX".into()),
                state: Some("running".into()),
            },
            failed_patches: vec![patch(1, "Important"), patch(2, "Critical")],
            failed_patches_total: 2,
            stdout_tail: Some("Installing kernel...\n".into()),
            stderr_tail: Some("Error: transaction check failed\n".into()),
            unreadable: vec![],
        }
    }

    #[test]
    fn an_instance_terminated_while_patching_is_named_as_gone_not_as_a_patch_failure() {
        let mut gone = facts();
        gone.status = "TimedOut".into();
        gone.status_details = Some("Execution Timed Out".into());
        gone.failed_patches.clear();
        gone.failed_patches_total = 0;
        gone.instance.state = Some("terminated".into());
        let rendered = instance_alert(&gone);
        assert!(
            rendered
                .subject
                .ends_with("in web-prod, instance terminated"),
            "{}",
            rendered.subject
        );
        assert!(rendered.text.contains("EC2 state:    terminated"));
        assert!(
            rendered
                .text
                .contains("was terminated while the command ran")
        );
        assert!(
            !rendered
                .text
                .contains("No patch is reported in state Failed")
        );
        assert_eq!(rendered.document["instance"]["state"], "terminated");
        // A running instance that reported nothing keeps the ordinary wording.
        gone.instance.state = Some("running".into());
        let rendered = instance_alert(&gone);
        assert!(!rendered.subject.contains("terminated"));
        assert!(
            rendered
                .text
                .contains("No patch is reported in state Failed")
        );
    }

    #[test]
    fn instance_alert_says_what_failed_where() {
        let rendered = instance_alert(&facts());
        assert_eq!(
            rendered.subject,
            "Patch Install Failed: web-01 (i-0a1b2c3d4e5f60718) in web-prod, 2 failed patches"
        );
        for needle in [
            "i-0a1b2c3d4e5f60718",
            "web-01",
            "web-prod",
            "Linux/UNIX",
            "111122223333",
            "eu-west-1",
            "AWS-RunPatchBaseline",
            "Operation:    Install",
            "ALAS2023-2026-0002",
            "highest severity Critical",
            "transaction check failed",
            "run-command/0b1c7e3e-1f44-4f3e-9d8a-6c1e5b7d9a20/i-0a1b2c3d4e5f60718",
        ] {
            assert!(
                rendered.text.contains(needle),
                "text lacks {needle}:\n{}",
                rendered.text
            );
        }
        let doc = &rendered.document;
        assert_eq!(doc["schema"], SCHEMA);
        assert_eq!(doc["instance"]["patch_group"], "web-prod");
        assert_eq!(doc["command"]["operation"], "Install");
        assert_eq!(doc["failed_patches"][1]["kb_id"], "ALAS2023-2026-0002");
        assert_eq!(doc["severity"], "Critical");
        assert_eq!(rendered.attributes["severity"].1, "Critical");
        assert_eq!(rendered.attributes["patch_group"].1, "web-prod");
        assert_eq!(rendered.attributes["instance_id"].1, "i-0a1b2c3d4e5f60718");
        assert_eq!(rendered.attributes["status"].1, "Failed");
        assert!(rendered.truncated.is_empty());
    }

    #[test]
    fn envelope_gives_text_to_email_and_json_to_machines() {
        let rendered = instance_alert(&facts());
        let envelope: Value = serde_json::from_str(&rendered.envelope()).unwrap();
        assert_eq!(envelope["default"], rendered.text);
        assert_eq!(envelope["email"], rendered.text);
        for protocol in ["sqs", "lambda", "https", "http"] {
            let doc: Value = serde_json::from_str(envelope[protocol].as_str().unwrap()).unwrap();
            assert_eq!(doc, rendered.document, "{protocol}");
        }
    }

    #[test]
    fn subjects_are_ascii_single_line_and_short() {
        let mut long = facts();
        long.instance.name = Some(format!("名前\nweb-{}", "x".repeat(200)));
        let rendered = instance_alert(&long);
        assert!(rendered.subject.len() < 100, "{}", rendered.subject.len());
        assert!(rendered.subject.is_ascii());
        assert!(!rendered.subject.contains('\n'));
        assert!(rendered.subject.ends_with("..."));
        assert_eq!(subject("  ok  "), "ok");
    }

    #[test]
    fn degraded_enrichment_is_stated_not_dropped() {
        let mut degraded = facts();
        degraded.instance = InstanceInfo::default();
        degraded.failed_patches.clear();
        degraded.failed_patches_total = 0;
        degraded.unreadable =
            vec!["instance details (ec2:DescribeInstances failed: terminated)".into()];
        let rendered = instance_alert(&degraded);
        assert!(rendered.text.contains("Could not be read"));
        assert!(rendered.text.contains("terminated"));
        assert_eq!(rendered.attributes["patch_group"].1, "none");
        assert_eq!(rendered.attributes["severity"].1, "Unknown");
        assert_eq!(rendered.document["unreadable"][0], degraded.unreadable[0]);
        assert_eq!(
            rendered.subject,
            "Patch Install Failed: i-0a1b2c3d4e5f60718 in no patch group"
        );
    }

    #[test]
    fn huge_alerts_are_cut_to_fit_with_a_note() {
        let mut huge = facts();
        huge.stdout_tail = Some("o".repeat(60_000));
        huge.stderr_tail = Some("e".repeat(60_000));
        huge.failed_patches = (0..2000).map(|n| patch(n, "Low")).collect();
        huge.failed_patches_total = 2000;
        let rendered = instance_alert(&huge);
        assert!(
            rendered.published_bytes() <= MAX_MESSAGE_BYTES,
            "{}",
            rendered.published_bytes()
        );
        assert!(!rendered.truncated.is_empty());
        assert!(rendered.text.contains("Cut to fit"));
        assert!(rendered.text.contains("failed patches listed to fit"));
        let listed = rendered.document["failed_patches"]
            .as_array()
            .unwrap()
            .len();
        assert!(listed > 0 && listed < 2000, "{listed}");
        assert_eq!(rendered.document["failed_patches_total"], 2000);
        assert!(
            rendered
                .text
                .contains(&format!("... and {} more", 2000 - listed))
        );
        // A message that fits is left whole.
        assert!(instance_alert(&facts()).truncated.is_empty());
    }

    #[test]
    fn tails_keep_the_end_on_a_character_boundary() {
        assert_eq!(tail("short", 10), "short");
        let cut = tail("ééééé", 3);
        assert!(cut.ends_with('é'));
        assert!(cut.starts_with("[... "));
    }

    #[test]
    fn summary_counts_and_lists() {
        let facts = SummaryFacts {
            origin: Origin {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
            },
            command_id: "c-1".into(),
            window_id: None,
            document: "AWS-RunPatchBaseline".into(),
            status: "Failed".into(),
            operation: Some("Install".into()),
            invocations_total: 60,
            counts_by_status: BTreeMap::from([("Failed".into(), 50), ("Success".into(), 10)]),
            failed_total: 50,
            alerted: 10,
            instances: (0..20)
                .map(|n| SummaryInstance {
                    instance_id: format!("i-{n:017}"),
                    name: None,
                    status: "Failed".into(),
                    patch_group: Some("web".into()),
                })
                .collect(),
            patch_groups: vec!["db".into(), "web".into()],
            unreadable: vec![],
            incomplete: None,
        };
        let rendered = summary(&facts);
        assert!(!rendered.text.contains("INCOMPLETE"));
        assert_eq!(rendered.document["complete"], true);
        let cut = summary(&SummaryFacts {
            incomplete: Some(
                "the function's time limit came first: 7 failed invocations were not named".into(),
            ),
            ..facts.clone()
        });
        assert!(cut.text.contains("INCOMPLETE: the function's time limit came first: 7 failed invocations were not named."), "{}", cut.text);
        assert_eq!(cut.document["complete"], false);
        assert_eq!(
            rendered.subject,
            "Patch Install Failed on 50 instances: 10 paged, 40 summarised here"
        );
        assert!(rendered.text.contains("Failed: 50"));
        assert!(rendered.text.contains("... and 30 more"));
        assert_eq!(rendered.document["suppressed"], 40);
        assert_eq!(
            rendered.attributes["patch_group"],
            ("String.Array", "[\"db\",\"web\"]".to_owned())
        );
        let window = summary(&SummaryFacts {
            window_id: Some("mw-0c50858d01ff4a3b1".into()),
            status: "FAILED".into(),
            ..facts
        });
        assert_eq!(
            window.subject,
            "Patch window mw-0c50858d01ff4a3b1 FAILED: 50 instances failed, 10 paged, 40 summarised here"
        );
        assert_eq!(window.attributes["kind"].1, "window_summary");
        assert!(
            window
                .text
                .contains("maintenance-windows/mw-0c50858d01ff4a3b1/history/c-1")
        );
    }

    #[test]
    fn severity_ranking() {
        assert_eq!(
            highest_severity(&[patch(1, "Low"), patch(2, "Moderate")]),
            "Moderate"
        );
        assert_eq!(highest_severity(&[patch(1, "weird")]), "Unknown");
        assert_eq!(highest_severity(&[]), "Unknown");
    }
}
