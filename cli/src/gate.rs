//! `patchpilot gate approve|hold|release`: operator requests, sent to patch-gate with Lambda `Invoke`
//! (so IAM decides who may) and carrying the caller's identity as STS reports it.

use aws_smithy_types::Blob;
use patch_gate::{GateOutcome, GateReport};
use serde_json::{Value, json};

use crate::args::GateAction;
use crate::clients::Clients;
use crate::error::CliError;
use crate::output::{Output, Style, with_progress};
use crate::settings::Settings;

/// Who is calling, as `sts:GetCallerIdentity` answers.
pub async fn caller(clients: &Clients) -> Result<Value, CliError> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| CliError::sdk("sts:GetCallerIdentity", err))?;
    Ok(json!({
        "arn": identity.arn().unwrap_or_default(),
        "account": identity.account(),
        "user_id": identity.user_id(),
    }))
}

/// The request as the gate reads it.
pub fn request(action: &GateAction, operator: Value) -> Result<Value, CliError> {
    let (name, execution_id, reason) = match action {
        GateAction::Approve { execution, reason } => {
            ("approve", Some(execution.as_str()), Some(reason.as_str()))
        }
        GateAction::Hold { reason } => ("hold", None, Some(reason.as_str())),
        GateAction::Release { reason } => ("release", None, reason.as_deref()),
        GateAction::Brake { .. } | GateAction::Promote { .. } => {
            return Err(CliError::Usage(
                "the brake and the promoted list are set on production's tasks, not requested of the gate".into(),
            ));
        }
    };
    Ok(json!({"operator_request": {
        "action": name,
        "execution_id": execution_id,
        "reason": reason,
        "operator": operator,
    }}))
}

/// Invokes the gate with `payload`; its report, or its refusal as an error.
pub async fn invoke(clients: &Clients, function: &str, payload: &Value) -> Result<Value, CliError> {
    let output = clients
        .lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|err| CliError::sdk("lambda:Invoke", err))?;
    let body: Value = output
        .payload()
        .map(|blob| serde_json::from_slice(blob.as_ref()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if output.function_error().is_some() {
        let error_type = body["errorType"].as_str().unwrap_or("Unhandled").to_owned();
        let message = body["errorMessage"]
            .as_str()
            .unwrap_or("the function failed without a message")
            .to_owned();
        return Err(if error_type == "Permanent.Refused" {
            CliError::Refused(message)
        } else {
            CliError::Gate {
                error_type,
                message,
            }
        });
    }
    Ok(body)
}

/// Runs a gate request.
pub async fn run(
    clients: &Clients,
    settings: &Settings,
    action: &GateAction,
    style: Style,
) -> Result<Output, CliError> {
    let function = Settings::required(&settings.gate_function, "--gate-function")?;
    let operator = caller(clients).await?;
    let payload = request(action, operator)?;
    let answer = with_progress("the gate's answer", invoke(clients, function, &payload)).await?;
    let report: GateReport =
        serde_json::from_value(answer.clone()).map_err(|err| CliError::Gate {
            error_type: "UnreadableAnswer".to_owned(),
            message: format!("the gate's answer is not its report: {err}"),
        })?;
    Ok(Output {
        text: describe(&report, style),
        json: answer,
        findings: false,
        incomplete: false,
    })
}

fn describe(report: &GateReport, style: Style) -> String {
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    let window = &report.production_window_id;
    match (report.outcome, &report.approval) {
        (GateOutcome::Approved, approval) => {
            line(format!(
                "{} production window {window} enabled over staging execution {}'s failures",
                style.good("Approved:"),
                report.execution.as_ref().map_or("?", |e| e.id.as_str())
            ));
            if let Some(approval) = approval {
                line(format!("  by {}: {}", approval.by.arn, approval.reason));
            }
        }
        (GateOutcome::Held, _) => line(format!(
            "{} production window {window} disabled until `patchpilot gate release`",
            style.bad("Held:")
        )),
        (GateOutcome::Released, _) => line(format!(
            "{} production window {window} {}",
            style.good("Released:"),
            if report.open == Some(true) {
                "enabled again (the latest decision is open)"
            } else {
                "stays disabled (the latest decision is closed; approve it or wait for staging)"
            }
        )),
        (other, _) => line(format!(
            "{}: {}",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            report.reason.as_deref().unwrap_or("")
        )),
    }
    for action in &report.actions {
        line(format!("  - {action}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_action_reason_and_identity() {
        let operator = json!({"arn": "arn:aws:iam::1:user/ana"});
        let approve = request(
            &GateAction::Approve {
                execution: "e-1".into(),
                reason: "flaky".into(),
            },
            operator.clone(),
        )
        .unwrap();
        assert_eq!(
            approve,
            json!({"operator_request": {"action": "approve", "execution_id": "e-1", "reason": "flaky", "operator": operator}})
        );
        let release = request(&GateAction::Release { reason: None }, operator).unwrap();
        assert_eq!(release["operator_request"]["action"], "release");
        assert_eq!(release["operator_request"]["reason"], Value::Null);
    }
}
