//! Every call a function makes, checked against the role CloudFormation would give it.
//!
//! The roles come from the translated template (the SAM transform's output), resolved for one
//! parameter set by the strict [`Deployment`] resolver; each recorded call becomes an IAM request
//! (action, the resource ARN the call names, the condition keys it carries) and is evaluated with
//! the `iam-rs` policy engine. The other direction is checked too: a statement of ours whose action
//! or resource no call used is over-granted.

use crate::SupportError;
use std::collections::{BTreeMap, BTreeSet};

pub use iam_rs::Decision;
use iam_rs::{Arn, Context, ContextValue, IAMPolicy, IAMRequest, Principal, PrincipalId};
use serde_json::Value;

use crate::recorder::RecordedCall;
use crate::template::{Deployment, Template};

/// An IAM request derived from a recorded call.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Vec<String>>,
}

/// One statement of a role's inline policies, resolved.
#[derive(Debug, Clone)]
pub struct Statement {
    pub policy: String,
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub document: Value,
}

/// A function's role as deployed: inline statements and managed policy ARNs.
#[derive(Debug, Clone)]
pub struct Role {
    pub statements: Vec<Statement>,
    pub managed: Vec<String>,
}

fn one(members: &BTreeMap<String, Vec<String>>, name: &str) -> Option<String> {
    members.get(name).and_then(|values| values.first()).cloned()
}

/// The IAM requests one call needs. `keys` maps topic ARNs to the KMS key that encrypts them:
/// publishing to an encrypted topic also needs `kms:GenerateDataKey*` and `kms:Decrypt` on its key.
pub fn requests(
    call: &RecordedCall,
    account: &str,
    region: &str,
    keys: &BTreeMap<String, String>,
) -> Vec<Request> {
    let arn = |service: &str, resource: String| {
        format!("arn:aws:{service}:{region}:{account}:{resource}")
    };
    let action = format!("{}:{}", call.service, call.operation);
    let m = &call.members;
    let mut context = BTreeMap::new();
    let resources: Vec<String> = match (call.service.as_str(), call.operation.as_str()) {
        (
            "ssm",
            "UpdateMaintenanceWindow"
            | "GetMaintenanceWindow"
            | "GetMaintenanceWindowTask"
            | "UpdateMaintenanceWindowTask",
        ) => one(m, "WindowId")
            .map(|id| vec![arn("ssm", format!("maintenancewindow/{id}"))])
            .unwrap_or_default(),
        (
            "ssm",
            "UpdatePatchBaseline" | "GetPatchBaseline" | "DescribeEffectivePatchesForPatchBaseline",
        ) => one(m, "BaselineId")
            // An AWS-managed baseline is named by its full ARN, in AWS's own account.
            .map(|id| match id.starts_with("arn:") {
                true => vec![id],
                false => vec![arn("ssm", format!("patchbaseline/{id}"))],
            })
            .unwrap_or_default(),
        ("ssm", "GetParameter") => one(m, "Name")
            .map(|name| {
                vec![arn(
                    "ssm",
                    format!("parameter/{}", name.trim_start_matches('/')),
                )]
            })
            .unwrap_or_default(),
        ("ec2", "CreateTags") => {
            context.insert(
                "aws:TagKeys".to_owned(),
                m.get("Tag.Key").cloned().unwrap_or_default(),
            );
            m.get("ResourceId")
                .into_iter()
                .flatten()
                .map(|id| arn("ec2", format!("instance/{id}")))
                .collect()
        }
        ("sns", "Publish") => one(m, "TopicArn").into_iter().collect(),
        ("s3", "PutObject" | "GetObject" | "HeadObject" | "DeleteObject") => {
            match (one(m, "Bucket"), one(m, "Key")) {
                (Some(bucket), Some(key)) => vec![format!("arn:aws:s3:::{bucket}/{key}")],
                _ => Vec::new(),
            }
        }
        ("dynamodb", _) => one(m, "TableName")
            .map(|table| vec![arn("dynamodb", format!("table/{table}"))])
            .unwrap_or_default(),
        ("cloudwatch", "PutMetricData") => {
            context.insert(
                "cloudwatch:namespace".to_owned(),
                m.get("Namespace").cloned().unwrap_or_default(),
            );
            vec!["*".to_owned()]
        }
        // Reads without resource-level permissions are authorised against "*".
        _ => vec!["*".to_owned()],
    };
    let mut out: Vec<Request> = resources
        .iter()
        .map(|resource| Request {
            action: action.clone(),
            resource: resource.clone(),
            context: context.clone(),
        })
        .collect();
    if action == "sns:Publish" {
        for topic in &resources {
            if let Some(key) = keys.get(topic) {
                for kms in ["kms:GenerateDataKey", "kms:Decrypt"] {
                    out.push(Request {
                        action: kms.to_owned(),
                        resource: key.clone(),
                        context: BTreeMap::new(),
                    });
                }
            }
        }
    }
    out
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The role SAM generated for `function` (`<Function>Role`), resolved.
pub fn role(
    translated: &Template,
    deployment: &Deployment,
    function: &str,
) -> Result<Role, SupportError> {
    let logical_id = format!("{function}Role");
    let resource = translated.root["Resources"]
        .get(&logical_id)
        .ok_or_else(|| {
            SupportError::Policy(format!("the translated template has no {logical_id}"))
        })?;
    let properties = deployment.resolve(&resource["Properties"])?;
    let statements = properties["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|policy| {
            statements_of(
                policy["PolicyName"].as_str().unwrap_or_default(),
                &policy["PolicyDocument"],
            )
        })
        .collect();
    Ok(Role {
        statements,
        managed: strings(&properties["ManagedPolicyArns"]),
    })
}

/// The statements of a resolved policy `document`, filed under policy `name`.
pub fn statements_of(name: &str, document: &Value) -> Vec<Statement> {
    document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|statement| Statement {
            policy: name.to_owned(),
            sid: statement["Sid"].as_str().unwrap_or_default().to_owned(),
            actions: strings(&statement["Action"]),
            resources: strings(&statement["Resource"]),
            document: statement.clone(),
        })
        .collect()
}

/// The inline statements `function` declares in the SAM template (its `Policies` documents),
/// resolved for `deployment`: what SAM puts in the function's role, before the transform.
pub fn sam_inline_statements(
    deployment: &Deployment,
    function: &str,
) -> Result<Vec<Statement>, SupportError> {
    let policies =
        deployment.resolve(&deployment.template.resource(function)["Properties"]["Policies"])?;
    Ok(policies
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|policy| statements_of("inline", policy))
        .collect())
}

fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|skip| go(&p[1..], &t[skip..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn action_matches(pattern: &str, action: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// What IAM decides for `request` under `statements`, through iam-rs.
pub fn decide(statements: &[Statement], request: &Request) -> Result<Decision, SupportError> {
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": statements.iter().map(|s| s.document.clone()).collect::<Vec<_>>(),
    });
    let policy = IAMPolicy::from_json(&document.to_string())
        .map_err(|err| SupportError::Policy(format!("policy: {err}")))?;
    // Actions without resource-level permissions are evaluated against "*"; iam-rs needs an ARN, and
    // an ARN with a bare "*" resource matches only statements whose Resource is "*".
    let resource = if request.resource == "*" {
        let service = request.action.split(':').next().unwrap_or("iam");
        format!("arn:aws:{service}:{}:{}:*", crate::REGION, crate::ACCOUNT)
    } else {
        request.resource.clone()
    };
    let arn =
        Arn::parse(&resource).map_err(|err| SupportError::Policy(format!("{resource}: {err}")))?;
    let mut context = Context::new();
    for (key, values) in &request.context {
        context.insert(key.clone(), ContextValue::StringList(values.clone()));
    }
    let principal = Principal::Aws(PrincipalId::String(format!(
        "arn:aws:sts::{}:assumed-role/patchpilot/function",
        crate::ACCOUNT
    )));
    let request = IAMRequest::new_with_context(principal, request.action.clone(), arn, context);
    iam_rs::evaluate_policy(&policy, &request)
        .map_err(|err| SupportError::Policy(format!("{err:?}")))
}

/// What the check found for one function.
#[derive(Debug, Default)]
pub struct Findings {
    /// Calls the role does not allow: (request, decision).
    pub denied: Vec<(Request, String)>,
    /// Statements (policy/sid) of ours with an action or resource no call used.
    pub unused: Vec<String>,
    /// Distinct (action, resource) pairs allowed.
    pub allowed: BTreeSet<(String, String)>,
}

/// Checks `calls` against `role`. Statements in policies named in `runtime_policies` are grants the
/// Lambda service itself uses (on-failure destinations), not the code; they are left out of the
/// unused check. `expected_unused` lists (action, why) pairs of ours that the recorded run cannot
/// reach, each with its reason.
pub fn check(
    role: &Role,
    calls: &[RecordedCall],
    keys: &BTreeMap<String, String>,
    runtime_policies: &[&str],
    expected_unused: &[(&str, &str)],
) -> Result<Findings, SupportError> {
    let mut findings = Findings::default();
    let requests: Vec<Request> = calls
        .iter()
        .flat_map(|call| requests(call, crate::ACCOUNT, crate::REGION, keys))
        .collect();
    for request in &requests {
        match decide(&role.statements, request)? {
            Decision::Allow => {
                findings
                    .allowed
                    .insert((request.action.clone(), request.resource.clone()));
            }
            other => findings
                .denied
                .push((request.clone(), format!("{other:?}"))),
        }
    }
    for statement in &role.statements {
        if runtime_policies
            .iter()
            .any(|p| statement.policy.contains(p))
        {
            continue;
        }
        for action in &statement.actions {
            let used = requests.iter().any(|r| action_matches(action, &r.action));
            let excused = expected_unused.iter().any(|(a, _)| a == action);
            if !used && !excused {
                findings.unused.push(format!(
                    "{}/{}: action {action} is allowed but no call used it",
                    statement.policy, statement.sid
                ));
            }
        }
        for resource in &statement.resources {
            let used = requests.iter().any(|r| {
                statement
                    .actions
                    .iter()
                    .any(|a| action_matches(a, &r.action))
                    && (resource == "*" || glob(resource, &r.resource))
            });
            let excused = statement
                .actions
                .iter()
                .all(|a| expected_unused.iter().any(|(e, _)| e == a));
            if !used && !excused {
                findings.unused.push(format!(
                    "{}/{}: resource {resource} is allowed but no call named it",
                    statement.policy, statement.sid
                ));
            }
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(document: Value) -> Statement {
        Statement {
            policy: "p".into(),
            sid: document["Sid"].as_str().unwrap_or_default().into(),
            actions: strings(&document["Action"]),
            resources: strings(&document["Resource"]),
            document,
        }
    }

    fn request(action: &str, resource: &str, context: &[(&str, &[&str])]) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn tag_keys_must_be_patch_group_keys_and_present() {
        let statements = [statement(serde_json::json!({
            "Sid": "Tag", "Effect": "Allow", "Action": "ec2:CreateTags",
            "Resource": "arn:aws:ec2:eu-west-1:000000000000:instance/*",
            "Condition": {
                "ForAllValues:StringEquals": {"aws:TagKeys": ["Patch Group", "PatchGroup"]},
                "ForAnyValue:StringEquals": {"aws:TagKeys": ["Patch Group", "PatchGroup"]}
            }
        }))];
        let instance = "arn:aws:ec2:eu-west-1:000000000000:instance/i-1";
        let allowed = |keys: &[&str]| {
            decide(
                &statements,
                &request("ec2:CreateTags", instance, &[("aws:TagKeys", keys)]),
            )
            .unwrap()
                == Decision::Allow
        };
        assert!(allowed(&["Patch Group"]));
        assert!(allowed(&["PatchGroup"]));
        assert!(!allowed(&["Owner"]));
        assert!(!allowed(&["PatchGroup", "Owner"]));
        assert!(
            !allowed(&[]),
            "ForAnyValue refuses a request with no tag keys"
        );
    }

    #[test]
    fn resources_and_namespaces_are_scoped() {
        let statements = [
            statement(serde_json::json!({
                "Effect": "Allow", "Action": "ssm:UpdatePatchBaseline",
                "Resource": ["arn:aws:ssm:eu-west-1:000000000000:patchbaseline/pb-0123456789abcdef0"]
            })),
            statement(serde_json::json!({
                "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "PatchCompliance"}}
            })),
            statement(serde_json::json!({
                "Effect": "Allow", "Action": ["ssm:DescribeInstancePatches"], "Resource": "*"
            })),
        ];
        let baseline = |id: &str| format!("arn:aws:ssm:eu-west-1:000000000000:patchbaseline/{id}");
        assert_eq!(
            decide(
                &statements,
                &request(
                    "ssm:UpdatePatchBaseline",
                    &baseline("pb-0123456789abcdef0"),
                    &[]
                )
            )
            .unwrap(),
            Decision::Allow
        );
        assert_ne!(
            decide(
                &statements,
                &request(
                    "ssm:UpdatePatchBaseline",
                    &baseline("pb-0fedcba9876543210"),
                    &[]
                )
            )
            .unwrap(),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &statements,
                &request(
                    "cloudwatch:PutMetricData",
                    "*",
                    &[("cloudwatch:namespace", &["PatchCompliance"])]
                )
            )
            .unwrap(),
            Decision::Allow
        );
        assert_ne!(
            decide(
                &statements,
                &request(
                    "cloudwatch:PutMetricData",
                    "*",
                    &[("cloudwatch:namespace", &["Other"])]
                )
            )
            .unwrap(),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &statements,
                &request("ssm:DescribeInstancePatches", "*", &[])
            )
            .unwrap(),
            Decision::Allow
        );
        assert_ne!(
            decide(
                &statements,
                &request("ssm:DescribeInstancePatchStates", "*", &[])
            )
            .unwrap(),
            Decision::Allow,
            "an action no statement names is denied"
        );
    }

    #[test]
    fn calls_become_requests_with_resources_and_keys() {
        let call = RecordedCall {
            function: "f".into(),
            service: "ec2".into(),
            operation: "CreateTags".into(),
            members: [
                (
                    "ResourceId".to_owned(),
                    vec!["i-1".to_owned(), "i-2".to_owned()],
                ),
                ("Tag.Key".to_owned(), vec!["PatchGroup".to_owned()]),
            ]
            .into_iter()
            .collect(),
        };
        let requests = requests(&call, "000000000000", "eu-west-1", &BTreeMap::new());
        assert_eq!(requests.len(), 2);
        assert_eq!(
            requests[1].resource,
            "arn:aws:ec2:eu-west-1:000000000000:instance/i-2"
        );
        assert_eq!(requests[0].context["aws:TagKeys"], ["PatchGroup"]);
        let publish = RecordedCall {
            function: "f".into(),
            service: "sns".into(),
            operation: "Publish".into(),
            members: [("TopicArn".to_owned(), vec!["arn:t".to_owned()])]
                .into_iter()
                .collect(),
        };
        let keys = [("arn:t".to_owned(), "arn:k".to_owned())]
            .into_iter()
            .collect();
        let requests = super::requests(&publish, "a", "r", &keys);
        let actions: Vec<&str> = requests.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"]
        );
    }
}
