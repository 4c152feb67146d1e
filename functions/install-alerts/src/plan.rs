//! Which events page, and how: a pure function of the event and the configured documents.

use chrono::{DateTime, Utc};
use patchpilot_shared::Event;
use patchpilot_shared::events::CommandStatus;

/// Where an event came from, for the alert's account/Region fields and console links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The account the event came from.
    pub account: String,
    /// The region it came from.
    pub region: String,
}

/// What to do with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not ours (another document, a success, another kind of event): logged, not an error.
    Ignore {
        /// Why it is not ours.
        reason: String,
    },
    /// One instance's patch run failed: a per-instance alert, unless the command is storming.
    InstanceAlert {
        /// Where the event came from.
        origin: Origin,
        /// The Run Command command.
        command_id: String,
        /// The instance whose run failed.
        instance_id: String,
        /// The patch document.
        document: String,
        /// How the run ended.
        status: CommandStatus,
        /// The storm bucket shared by every patch run of this document in the same hour: maintenance
        /// windows send one command per instance, so a per-command limit alone would never trip.
        run_bucket: String,
    },
    /// A patch command finished in failure: a summary, if storm control suppressed alerts for it.
    CommandSummary {
        /// Where the event came from.
        origin: Origin,
        /// The Run Command command.
        command_id: String,
        /// The patch document.
        document: String,
        /// How the command ended.
        status: CommandStatus,
    },
    /// A maintenance-window execution finished: a summary, if its patch tasks failed on more instances
    /// than storm control let page.
    WindowSummary {
        /// Where the event came from.
        origin: Origin,
        /// The maintenance window.
        window_id: String,
        /// The execution that finished.
        window_execution_id: String,
        /// How it ended.
        status: String,
        /// When it started.
        start: Option<DateTime<Utc>>,
        /// When it ended.
        end: Option<DateTime<Utc>>,
    },
}

/// The storm bucket of a patch run: document and the UTC hour the command was requested in.
pub fn run_bucket(document: &str, requested: DateTime<Utc>) -> String {
    format!("{document}#{}", requested.format("%Y-%m-%dT%H"))
}

/// Decides what `event` calls for.
pub fn plan(event: &Event, documents: &[String]) -> Plan {
    let meta = event.meta();
    let origin = Origin {
        account: meta.account.clone().unwrap_or_else(|| "unknown".to_owned()),
        region: meta.region.clone().unwrap_or_else(|| "unknown".to_owned()),
    };
    let mut requested = meta.time;
    let (command_id, instance_id, document, status) = match event {
        Event::WindowExecution(_, detail) => {
            if !detail.status.is_terminal() {
                return Plan::Ignore {
                    reason: format!(
                        "window execution {} is {}, not finished",
                        detail.window_execution_id, detail.status
                    ),
                };
            }
            return Plan::WindowSummary {
                origin,
                window_id: detail.window_id.clone(),
                window_execution_id: detail.window_execution_id.clone(),
                status: detail.status.to_string(),
                start: detail.start_time,
                end: detail.end_time,
            };
        }
        Event::CommandInvocationStatus(_, detail) => {
            requested = detail.requested_date_time.or(requested);
            (
                &detail.command_id,
                Some(&detail.instance_id),
                &detail.document_name,
                &detail.status,
            )
        }
        Event::CommandStatus(_, detail) => (
            &detail.command_id,
            None,
            &detail.document_name,
            &detail.status,
        ),
        other => {
            return Plan::Ignore {
                reason: format!(
                    "install-alerts handles Run Command and window-execution events, not {:?}",
                    other.meta().detail_type
                ),
            };
        }
    };
    let Some(document) = document.as_deref() else {
        return Plan::Ignore {
            reason: format!("command {command_id}: the event names no document"),
        };
    };
    if !documents.iter().any(|known| known == document) {
        return Plan::Ignore {
            reason: format!(
                "command {command_id}: document {document} is not a patch document ({})",
                documents.join(", ")
            ),
        };
    }
    if !status.is_failure() {
        return Plan::Ignore {
            reason: format!("command {command_id}: status {status} is not a failure"),
        };
    }
    let (command_id, document, status) = (command_id.clone(), document.to_owned(), status.clone());
    match instance_id {
        Some(instance_id) => Plan::InstanceAlert {
            origin,
            command_id,
            instance_id: instance_id.clone(),
            run_bucket: run_bucket(&document, requested.unwrap_or_else(Utc::now)),
            document,
            status,
        },
        None => Plan::CommandSummary {
            origin,
            command_id,
            document,
            status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_DOCUMENTS;
    use serde_json::json;

    fn documents() -> Vec<String> {
        DEFAULT_DOCUMENTS.iter().map(|d| (*d).to_owned()).collect()
    }

    fn invocation(document: &str, status: &str) -> Event {
        Event::parse(json!({
            "version": "0", "id": "1", "source": "aws.ssm", "account": "111122223333",
            "region": "eu-west-1", "time": "2026-11-26T02:21:44Z", "resources": [],
            "detail-type": "EC2 Command Invocation Status-change Notification",
            "detail": {"command-id": "c-1", "document-name": document, "instance-id": "i-1",
                       "requested-date-time": "2026-11-26T02:00:05.310Z", "status": status}
        }))
        .unwrap()
    }

    fn command(document: &str, status: &str) -> Event {
        Event::parse(json!({
            "version": "0", "id": "2", "source": "aws.ssm", "account": "111122223333",
            "region": "eu-west-1", "time": "2026-11-26T02:21:44Z", "resources": [],
            "detail-type": "EC2 Command Status-change Notification",
            "detail": {"command-id": "c-1", "document-name": document, "parameters": {},
                       "status": status}
        }))
        .unwrap()
    }

    #[test]
    fn every_failure_status_of_a_patch_document_pages() {
        let failures = CommandStatus::KNOWN.iter().filter(|s| s.is_failure());
        for status in failures.map(CommandStatus::as_str) {
            for document in DEFAULT_DOCUMENTS {
                let planned = plan(&invocation(document, status), &documents());
                assert!(
                    matches!(&planned, Plan::InstanceAlert { instance_id, status: s, .. } if instance_id == "i-1" && s.as_str() == status),
                    "{document} {status}: {planned:?}"
                );
                let planned = plan(&command(document, status), &documents());
                assert!(
                    matches!(planned, Plan::CommandSummary { .. }),
                    "{document} {status}"
                );
            }
        }
    }

    #[test]
    fn successes_other_documents_and_other_events_are_ignored_with_a_reason() {
        for (event, expected) in [
            (
                invocation("AWS-RunPatchBaseline", "Success"),
                "not a failure",
            ),
            (
                invocation("AWS-RunPatchBaseline", "InProgress"),
                "not a failure",
            ),
            (
                invocation("AWS-RunShellScript", "Failed"),
                "not a patch document",
            ),
            (
                command("AWS-ConfigureAWSPackage", "Failed"),
                "not a patch document",
            ),
        ] {
            match plan(&event, &documents()) {
                Plan::Ignore { reason } => assert!(reason.contains(expected), "{reason}"),
                other => panic!("expected Ignore, got {other:?}"),
            }
        }
        let scheduled = Event::parse(json!({
            "version": "0", "id": "3", "source": "aws.events", "detail-type": "Scheduled Event",
            "account": "1", "region": "eu-west-1", "time": "2026-11-26T02:21:44Z", "resources": [],
            "detail": {}
        }))
        .unwrap();
        assert!(matches!(
            plan(&scheduled, &documents()),
            Plan::Ignore { .. }
        ));
    }

    #[test]
    fn invocations_share_an_hourly_run_bucket_and_windows_summarise_when_finished() {
        match plan(&invocation("AWS-RunPatchBaseline", "Failed"), &documents()) {
            Plan::InstanceAlert { run_bucket, .. } => {
                assert_eq!(run_bucket, "AWS-RunPatchBaseline#2026-11-26T02")
            }
            other => panic!("{other:?}"),
        }
        let window = |status: &str| {
            Event::parse(json!({
                "version": "0", "id": "4", "source": "aws.ssm", "account": "111122223333",
                "region": "eu-west-1", "time": "2026-11-26T03:02:41Z", "resources": [],
                "detail-type": "Maintenance Window Execution State-change Notification",
                "detail": {"window-id": "mw-0c50858d01ff4a3b1", "window-execution-id": "e-1",
                           "start-time": "2026-11-26T02:00:03Z", "status": status}
            }))
            .unwrap()
        };
        assert!(matches!(
            plan(&window("FAILED"), &documents()),
            Plan::WindowSummary { ref window_execution_id, .. } if window_execution_id == "e-1"
        ));
        assert!(matches!(
            plan(&window("IN_PROGRESS"), &documents()),
            Plan::Ignore { .. }
        ));
    }

    #[test]
    fn configured_documents_replace_the_defaults() {
        let custom = vec!["Custom-Patch".to_owned()];
        assert!(matches!(
            plan(&invocation("Custom-Patch", "Failed"), &custom),
            Plan::InstanceAlert { .. }
        ));
        assert!(matches!(
            plan(&invocation("AWS-RunPatchBaseline", "Failed"), &custom),
            Plan::Ignore { .. }
        ));
    }
}
