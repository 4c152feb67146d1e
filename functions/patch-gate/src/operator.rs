//! Operator requests: a person approving a closed decision, holding production closed, or releasing
//! a hold. They reach the gate through Lambda `Invoke` (so IAM decides who may), carry the caller's
//! identity as STS reported it to the tool, and are recorded beside the decisions they change.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use patchpilot_shared::FunctionError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decide::{Check, CheckName, Decision};

/// The payload key that marks an operator request (EventBridge events never carry it).
pub const REQUEST_KEY: &str = "operator_request";

/// The longest reason kept: enough for a sentence and a ticket link.
pub const MAX_REASON_CHARS: usize = 500;

/// Who asked, as `sts:GetCallerIdentity` answered the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The caller's ARN (a user, or an assumed role with its session name).
    pub arn: String,
    /// The caller's account.
    #[serde(default)]
    pub account: Option<String>,
    /// The caller's unique id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Always true: the identity is what the request *says*. A direct Lambda invocation does not tell
    /// the function who invoked it, so records and messages label it as claimed; IAM on
    /// `lambda:InvokeFunction` is the control, and CloudTrail's Lambda data events the proof.
    #[serde(default = "claimed")]
    pub claimed: bool,
}

fn claimed() -> bool {
    true
}

impl Operator {
    /// The identity as records and messages show it: the ARN, labelled as claimed.
    pub fn label(&self) -> String {
        format!("{} (claimed)", self.arn)
    }
}

/// What the operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Open production over the failures of staging execution `execution_id`'s closed decision.
    Approve {
        /// The staging execution whose decision is approved.
        execution_id: String,
        /// Why, for the record.
        reason: String,
    },
    /// Keep production closed, whatever staging says, until released.
    Hold {
        /// Why, for the record.
        reason: String,
    },
    /// End a hold: production returns to what the latest decision says.
    Release {
        /// Why, for the record (optional).
        reason: Option<String>,
    },
}

/// A request and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRequest {
    /// What is asked.
    pub request: Request,
    /// Who asked.
    pub operator: Operator,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    action: String,
    #[serde(default)]
    execution_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    operator: Operator,
}

/// Reads an operator request (the value under [`REQUEST_KEY`]); anything malformed is refused with
/// what is wrong.
pub fn parse(value: &Value) -> Result<OperatorRequest, FunctionError> {
    let refuse = |what: String| FunctionError::Refused(format!("operator request: {what}"));
    let raw: Raw = serde_json::from_value(value.clone()).map_err(|err| refuse(err.to_string()))?;
    if raw.operator.arn.trim().is_empty() {
        return Err(refuse("operator.arn is empty".to_owned()));
    }
    let mut raw = raw;
    // Whatever the payload says: the gate cannot verify who invoked it.
    raw.operator.claimed = true;
    let reason = match raw.reason.map(|r| r.trim().to_owned()) {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => {
            return Err(refuse(format!(
                "reason is longer than {MAX_REASON_CHARS} characters"
            )));
        }
        Some(r) if r.is_empty() => None,
        other => other,
    };
    let needs_reason = |action: &str| refuse(format!("{action} needs a reason"));
    let request = match raw.action.as_str() {
        "approve" => Request::Approve {
            execution_id: raw
                .execution_id
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| refuse("approve needs execution_id".to_owned()))?,
            reason: reason.ok_or_else(|| needs_reason("approve"))?,
        },
        "hold" => Request::Hold {
            reason: reason.ok_or_else(|| needs_reason("hold"))?,
        },
        "release" => Request::Release { reason },
        other => {
            return Err(refuse(format!(
                "action {other:?} is not one of approve, hold, release"
            )));
        }
    };
    Ok(OperatorRequest {
        request,
        operator: raw.operator,
    })
}

/// An approval recorded on a decision: who opened production over which failures, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub by: Operator,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The failures production was opened over; the re-check closes again only on others.
    pub approved_over: ApprovedOver,
}

/// The failures an approval covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedOver {
    /// The checks that had failed.
    pub checks: Vec<CheckName>,
    /// The instances that had failed in staging.
    pub failed_instances: Vec<String>,
}

impl ApprovedOver {
    /// What `decision` failed on.
    pub fn of(decision: &Decision) -> Self {
        Self {
            checks: decision
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name)
                .collect(),
            failed_instances: decision.failed_instances.clone(),
        }
    }

    /// What `decision` fails on that this approval did not cover: failed checks it did not name, and
    /// failed instances it did not list. Empty: the approval still holds.
    pub fn new_failures(&self, decision: &Decision) -> Vec<String> {
        let checks: BTreeSet<CheckName> = self.checks.iter().copied().collect();
        let instances: BTreeSet<&str> = self.failed_instances.iter().map(String::as_str).collect();
        let mut new: Vec<String> = decision
            .checks
            .iter()
            .filter(|c| !c.passed && !checks.contains(&c.name))
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        new.extend(
            decision
                .failed_instances
                .iter()
                .filter(|id| !instances.contains(id.as_str()))
                .map(|id| format!("{id} failed in staging")),
        );
        new
    }
}

/// A hold on production: closed until released, whatever staging says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Who placed it.
    pub by: Operator,
    /// Why.
    pub reason: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

impl Hold {
    /// The hold in one line, for refusals, checks and messages.
    pub fn describe(&self) -> String {
        format!(
            "held by {} since {}: {}",
            self.by.label(),
            self.since.format("%Y-%m-%d %H:%M UTC"),
            self.reason
        )
    }
}

/// `decision` with a hold in place: closed, with a failing `operator_hold` check saying whose.
pub fn under_hold(mut decision: Decision, hold: Option<&Hold>) -> Decision {
    if let Some(hold) = hold {
        decision.checks.push(Check {
            name: CheckName::OperatorHold,
            passed: false,
            detail: format!("production is {}", hold.describe()),
        });
        decision.open = false;
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn operator() -> Value {
        json!({"arn": "arn:aws:iam::111122223333:user/ana", "account": "111122223333"})
    }

    #[test]
    fn the_operator_is_recorded_as_claimed_whatever_the_payload_says() {
        let mut operator = operator();
        operator["claimed"] = json!(false);
        let parsed =
            parse(&json!({"action": "hold", "reason": "freeze", "operator": operator})).unwrap();
        assert!(parsed.operator.claimed);
        assert_eq!(
            parsed.operator.label(),
            "arn:aws:iam::111122223333:user/ana (claimed)"
        );
    }

    #[test]
    fn requests_parse_and_bad_ones_say_what_is_wrong() {
        let approve = parse(&json!({
            "action": "approve", "execution_id": "e-1", "reason": " flaky host ", "operator": operator()
        }))
        .unwrap();
        assert_eq!(
            approve.request,
            Request::Approve {
                execution_id: "e-1".into(),
                reason: "flaky host".into()
            }
        );
        assert_eq!(approve.operator.account.as_deref(), Some("111122223333"));
        let release = parse(&json!({"action": "release", "operator": operator()})).unwrap();
        assert_eq!(release.request, Request::Release { reason: None });
        for (bad, says) in [
            (
                json!({"action": "approve", "reason": "r", "operator": operator()}),
                "approve needs execution_id",
            ),
            (
                json!({"action": "approve", "execution_id": "e", "reason": "  ", "operator": operator()}),
                "approve needs a reason",
            ),
            (
                json!({"action": "hold", "operator": operator()}),
                "hold needs a reason",
            ),
            (
                json!({"action": "open", "reason": "r", "operator": operator()}),
                "\"open\" is not one of approve, hold, release",
            ),
            (
                json!({"action": "hold", "reason": "r", "operator": {"arn": ""}}),
                "operator.arn is empty",
            ),
            (
                json!({"action": "hold", "reason": "r"}),
                "missing field `operator`",
            ),
            (
                json!({"action": "hold", "reason": "r", "operator": operator(), "force": true}),
                "unknown field `force`",
            ),
            (
                json!({"action": "hold", "reason": "x".repeat(501), "operator": operator()}),
                "longer than 500",
            ),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(matches!(err, FunctionError::Refused(_)), "{err:?}");
            assert!(err.to_string().contains(says), "{err} should say {says}");
        }
    }

    fn check(name: CheckName, passed: bool) -> Check {
        Check {
            name,
            passed,
            detail: "d".into(),
        }
    }

    #[test]
    fn an_approval_covers_what_it_was_given_and_nothing_new() {
        let closed = Decision {
            open: false,
            checks: vec![
                check(CheckName::ExecutionSucceeded, true),
                check(CheckName::PatchTasksSucceeded, false),
                check(CheckName::NoFailedPatches, false),
            ],
            failed_instances: vec!["i-1".into()],
        };
        let over = ApprovedOver::of(&closed);
        assert_eq!(
            over.checks,
            [CheckName::PatchTasksSucceeded, CheckName::NoFailedPatches]
        );
        assert!(over.new_failures(&closed).is_empty());
        // The same checks failing because another instance failed: new.
        let another = Decision {
            failed_instances: vec!["i-1".into(), "i-2".into()],
            ..closed.clone()
        };
        assert_eq!(over.new_failures(&another), ["i-2 failed in staging"]);
        // A check that had passed now failing: new.
        let mut alarm = closed.clone();
        alarm.checks.push(check(CheckName::HealthAlarmsOk, false));
        assert_eq!(over.new_failures(&alarm), ["health_alarms_ok: d"]);
        // Fewer failures than approved: still covered.
        let better = Decision {
            checks: vec![check(CheckName::NoFailedPatches, false)],
            failed_instances: vec![],
            open: false,
        };
        assert!(over.new_failures(&better).is_empty());
    }
}
