//! Parameter Store: GetParameter, PutParameter and LabelParameterVersion, with the live service's
//! names (a top-level name with or without its leading slash, an ARN, `Name:version` and
//! `Name:label` selectors), versions (the latest 100 kept), labels and tiers (ledger row 31).

use chrono::Utc;
use serde_json::{Value, json};

use super::secret_reference;
use crate::api::{ApiError, ApiResult, Request, strings};
use crate::state::{Parameter, ParameterVersion, State, epoch, parameter_key};

/// The live service's message for a malformed name (the phrase a recording of the live service shows
/// for `/a//b` and `a/b`).
const NAME_RULES: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";
/// A hierarchy's deepest level.
const MAX_LEVELS: usize = 15;
/// The longest name, counting the ARN before it.
const MAX_NAME_WITH_ARN: usize = 1011;
/// Versions kept of one parameter.
const MAX_VERSIONS: usize = 100;
/// Labels on one version.
const MAX_LABELS: usize = 10;
/// Value sizes by tier, in bytes.
const STANDARD_VALUE: usize = 4096;
const ADVANCED_VALUE: usize = 8192;

fn not_found(requested: &str) -> ApiError {
    ApiError::new(
        "ParameterNotFound",
        format!("Parameter {requested} not found."),
    )
}

fn version_not_found(version: &str, name: &str) -> ApiError {
    ApiError::new(
        "ParameterVersionNotFound",
        format!(
            "Systems Manager could not find version {version} of {name}. Verify the version and try again."
        ),
    )
}

/// Letters, digits, `.-_`, and `/` between non-empty levels of a name that starts with one.
fn well_formed(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/');
    if name.is_empty() || !name.chars().all(allowed) {
        return false;
    }
    match name.strip_prefix('/') {
        Some(path) => path.split('/').all(|level| !level.is_empty()),
        None => !name.contains('/'),
    }
}

/// What a write may name: well formed, not under the reserved `aws`/`ssm` prefixes, at most 15
/// levels, at most 1,011 characters with the ARN.
fn check_new_name(state: &State, name: &str) -> Result<(), ApiError> {
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if !well_formed(name) || first.starts_with("aws") || first.starts_with("ssm") {
        return Err(ApiError::validation(NAME_RULES));
    }
    if name.split('/').filter(|level| !level.is_empty()).count() > MAX_LEVELS {
        return Err(ApiError::new(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the AWS Systems Manager User Guide.",
        ));
    }
    if state.arn("parameter", "").len() + name.trim_start_matches('/').len() > MAX_NAME_WITH_ARN {
        return Err(ApiError::validation(format!(
            "Parameter name {name} is longer than {MAX_NAME_WITH_ARN} characters with its ARN."
        )));
    }
    Ok(())
}

/// A version number or a label after the name.
#[derive(Debug, PartialEq)]
enum Selector<'a> {
    Version(&'a str),
    Label(&'a str),
}

/// A request's `Name` taken apart.
struct Named<'a> {
    /// The parameter's key.
    key: String,
    /// The name as the request gave it, without ARN or selector: what the response names, unless the
    /// request named an ARN (then the stored name).
    name: &'a str,
    by_arn: bool,
    selector: Option<Selector<'a>>,
}

/// Takes `Name` apart: an ARN of this account and Region or a name, then at most one selector.
fn named<'a>(state: &State, requested: &'a str) -> Result<Named<'a>, ApiError> {
    let arn_prefix = state.arn("parameter", "");
    let (rest, by_arn) = if requested.starts_with("arn:") {
        // `…:parameter/name` for a top-level name, `…:parameter/path/name` for `/path/name`.
        let rest = requested
            .strip_prefix(arn_prefix.as_str())
            .ok_or_else(|| not_found(requested))?;
        (rest, true)
    } else {
        (requested, false)
    };
    let mut parts = rest.split(':');
    let name = parts.next().unwrap_or_default();
    let selector = parts.next();
    if parts.next().is_some() {
        return Err(not_found(requested));
    }
    let full = if by_arn && name.contains('/') {
        format!("/{name}")
    } else {
        name.to_owned()
    };
    if !well_formed(&full) {
        return Err(ApiError::validation(NAME_RULES));
    }
    let selector = selector.map(|s| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            Selector::Version(s)
        } else {
            Selector::Label(s)
        }
    });
    Ok(Named {
        key: parameter_key(&full),
        name,
        by_arn,
        selector,
    })
}

/// The version a selector picks: (version, type, value, modified, data type).
fn pick<'p>(
    parameter: &'p Parameter,
    selector: Option<&Selector<'_>>,
    requested: &str,
    name: &str,
) -> Result<Picked<'p>, ApiError> {
    let current = Picked {
        version: parameter.version,
        kind: &parameter.kind,
        value: &parameter.value,
        last_modified: parameter.last_modified,
        data_type: &parameter.data_type,
    };
    let older = |old: &'p ParameterVersion| Picked {
        version: old.version,
        kind: &old.kind,
        value: &old.value,
        last_modified: old.last_modified,
        data_type: &old.data_type,
    };
    match selector {
        None => Ok(current),
        Some(Selector::Version(text)) => {
            let wanted: i64 = text.parse().map_err(|_| version_not_found(text, name))?;
            if wanted == parameter.version {
                return Ok(current);
            }
            parameter
                .history
                .iter()
                .find(|old| old.version == wanted)
                .map(older)
                .ok_or_else(|| version_not_found(text, name))
        }
        Some(Selector::Label(label)) => {
            if parameter.labels.iter().any(|l| l == label) {
                return Ok(current);
            }
            parameter
                .history
                .iter()
                .find(|old| old.labels.iter().any(|l| l == label))
                .map(older)
                .ok_or_else(|| not_found(requested))
        }
    }
}

struct Picked<'p> {
    version: i64,
    kind: &'p str,
    value: &'p str,
    last_modified: chrono::DateTime<Utc>,
    data_type: &'p str,
}

pub fn get_parameter(state: &State, request: &Request<'_>) -> ApiResult {
    let requested = request.required_str("Name")?;
    let decrypt = request.bool("WithDecryption").unwrap_or(false);
    if let Some(reference) = requested.strip_prefix(secret_reference::PREFIX) {
        return secret_reference::get(state, requested, reference, decrypt);
    }
    let named = named(state, requested)?;
    let parameter = state
        .parameters
        .get(&named.key)
        .ok_or_else(|| not_found(requested))?;
    let picked = pick(parameter, named.selector.as_ref(), requested, named.name)?;
    // A SecureString read without WithDecryption returns its ciphertext, never the plain text.
    let value = if picked.kind == "SecureString" && !decrypt {
        ciphertext(picked.value)
    } else {
        picked.value.to_owned()
    };
    let shown = if named.by_arn {
        parameter.name.as_str()
    } else {
        named.name
    };
    let mut body = json!({
        "Name": shown,
        "Type": picked.kind,
        "Value": value,
        "Version": picked.version,
        "LastModifiedDate": epoch(picked.last_modified),
        "ARN": state.arn("parameter", parameter.name.trim_start_matches('/')),
        "DataType": picked.data_type,
    });
    if let Some(selector) = &named.selector {
        let text = match selector {
            Selector::Version(s) | Selector::Label(s) => s,
        };
        body["Selector"] = json!(format!(":{text}"));
    }
    Ok(json!({ "Parameter": body }))
}

/// The tier a write leaves the parameter in, and the largest value it takes.
fn tier_for(
    requested: Option<&str>,
    existing: Option<&str>,
    value: &str,
    policies: bool,
) -> Result<&'static str, ApiError> {
    let advanced_before = existing == Some("Advanced");
    let tier = match requested {
        Some("Advanced") => "Advanced",
        Some("Standard") if advanced_before => {
            return Err(ApiError::validation(
                "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.",
            ));
        }
        Some("Standard") => "Standard",
        // Intelligent-Tiering: advanced only when the value or a policy needs it.
        Some(_) if advanced_before || policies || value.len() > STANDARD_VALUE => "Advanced",
        Some(_) => "Standard",
        // No tier: a new parameter takes the account's default (standard), an existing one keeps its.
        None if advanced_before => "Advanced",
        None => "Standard",
    };
    let limit = if tier == "Advanced" {
        ADVANCED_VALUE
    } else {
        STANDARD_VALUE
    };
    if value.len() > limit {
        return Err(ApiError::validation(format!(
            "{tier} tier parameters support a maximum parameter value of {limit} characters. {}",
            if tier == "Standard" {
                "To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
            } else {
                "Store a larger value elsewhere and put its location in the parameter."
            }
        )));
    }
    if policies && tier == "Standard" {
        return Err(ApiError::validation(
            "Standard tier parameters don't support parameter policies. Use the advanced-parameter tier (or Intelligent-Tiering) to attach policies.",
        ));
    }
    Ok(tier)
}

/// Parameter policies: a JSON list of `{Type, Version, Attributes}`, each type at most once.
fn check_policies(text: &str) -> Result<(), ApiError> {
    let policies: Vec<Value> = serde_json::from_str(text).map_err(|_| {
        ApiError::new(
            "InvalidPolicyAttributeException",
            "The policies are not a JSON list of policies.",
        )
    })?;
    let mut seen = Vec::new();
    for policy in &policies {
        let kind = policy["Type"].as_str().unwrap_or_default();
        if !matches!(
            kind,
            "Expiration" | "ExpirationNotification" | "NoChangeNotification"
        ) {
            return Err(ApiError::new(
                "InvalidPolicyTypeException",
                format!(
                    "The policy type {kind:?} is not supported. Use Expiration, ExpirationNotification or NoChangeNotification."
                ),
            ));
        }
        if seen.contains(&kind) {
            return Err(ApiError::new(
                "IncompatiblePolicyException",
                format!(
                    "There is a conflict in the policies specified for this parameter: more than one {kind} policy."
                ),
            ));
        }
        seen.push(kind);
    }
    Ok(())
}

pub fn put_parameter(state: &mut State, request: &Request<'_>) -> ApiResult {
    let name = request.required_str("Name")?;
    let value = request.required_str("Value")?;
    check_new_name(state, name)?;
    let key = parameter_key(name);
    let overwrite = request.bool("Overwrite").unwrap_or(false);
    let existing = state.parameters.get(&key);
    if existing.is_some() && !overwrite {
        return Err(ApiError::new(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let policies = request.str("Policies");
    if let Some(text) = policies {
        check_policies(text)?;
    }
    let tier = tier_for(
        request.str("Tier"),
        existing.map(|p| p.tier.as_str()),
        value,
        policies.is_some(),
    )?;
    let kind = match (request.str("Type"), existing) {
        (Some(kind), Some(old)) if kind != old.kind => {
            return Err(ApiError::new(
                "HierarchyTypeMismatchException",
                format!(
                    "Parameter Store can't change {}'s type from {} to {kind}: create a new parameter instead.",
                    old.name, old.kind
                ),
            ));
        }
        (Some(kind), _) => kind.to_owned(),
        (None, Some(old)) => old.kind.clone(),
        // The model leaves Type optional; the live service needs it for a new parameter.
        (None, None) => {
            return Err(ApiError::validation(
                "A parameter type is required when you create a parameter.",
            ));
        }
    };
    let data_type = request.str("DataType").unwrap_or("text").to_owned();
    let description = request.str("Description").map(str::to_owned);
    let version = match state.parameters.get_mut(&key) {
        Some(parameter) => {
            if parameter.history.len() + 1 >= MAX_VERSIONS {
                let oldest = &parameter.history[0];
                if !oldest.labels.is_empty() {
                    return Err(ApiError::new(
                        "ParameterMaxVersionLimitExceeded",
                        format!(
                            "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                            parameter.name, oldest.version
                        ),
                    ));
                }
                parameter.history.remove(0);
            }
            parameter.history.push(ParameterVersion {
                version: parameter.version,
                kind: parameter.kind.clone(),
                value: std::mem::take(&mut parameter.value),
                last_modified: parameter.last_modified,
                data_type: parameter.data_type.clone(),
                labels: std::mem::take(&mut parameter.labels),
            });
            parameter.version += 1;
            parameter.kind = kind;
            parameter.value = value.to_owned();
            parameter.last_modified = Utc::now();
            parameter.data_type = data_type;
            parameter.tier = tier.to_owned();
            if description.is_some() {
                parameter.description = description;
            }
            if let Some(text) = policies {
                parameter.policies = Some(text.to_owned());
            }
            parameter.version
        }
        None => {
            let parameter = Parameter {
                description,
                data_type,
                tier: tier.to_owned(),
                policies: policies.map(str::to_owned),
                ..Parameter::new(name, &kind, value)
            };
            state.parameters.insert(key, parameter);
            1
        }
    };
    Ok(json!({"Version": version, "Tier": tier}))
}

/// The labels of one version of `parameter`, if it has that version.
fn labels_of(parameter: &mut Parameter, version: i64) -> Option<&mut Vec<String>> {
    if version == parameter.version {
        return Some(&mut parameter.labels);
    }
    parameter
        .history
        .iter_mut()
        .find(|old| old.version == version)
        .map(|old| &mut old.labels)
}

/// A label is letters, digits, `.-_`, not starting with a digit or with `aws`/`ssm`.
fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    !label.is_empty()
        && label.len() <= 100
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

pub fn label_parameter_version(state: &mut State, request: &Request<'_>) -> ApiResult {
    let requested = request.required_str("Name")?;
    let named = named(state, requested)?;
    if named.selector.is_some() {
        return Err(not_found(requested));
    }
    let labels = strings(request.list("Labels"));
    let parameter = state
        .parameters
        .get_mut(&named.key)
        .ok_or_else(|| not_found(requested))?;
    let version = request.int("ParameterVersion").unwrap_or(parameter.version);
    let (valid, invalid): (Vec<&str>, Vec<&str>) =
        labels.into_iter().partition(|label| valid_label(label));
    let mut after = labels_of(parameter, version)
        .ok_or_else(|| version_not_found(&version.to_string(), named.name))?
        .clone();
    for label in &valid {
        if !after.iter().any(|l| l == label) {
            after.push((*label).to_owned());
        }
    }
    if after.len() > MAX_LABELS {
        return Err(ApiError::new(
            "ParameterVersionLabelLimitExceeded",
            "A parameter version can have a maximum of ten labels.",
        ));
    }
    // A label names one version: moving it takes it off the version that had it.
    parameter.labels.retain(|l| !valid.contains(&l.as_str()));
    for old in &mut parameter.history {
        old.labels.retain(|l| !valid.contains(&l.as_str()));
    }
    if let Some(labels) = labels_of(parameter, version) {
        *labels = after;
    }
    Ok(json!({"InvalidLabels": invalid, "ParameterVersion": version}))
}

/// A stand-in for KMS ciphertext: opaque, base64-looking, and never the plain text.
fn ciphertext(plain: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::from("AQICAHi");
    for (index, byte) in plain.bytes().enumerate() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        if index % 2 == 0 {
            out.push(char::from(ALPHABET[(hash % 64) as usize]));
        }
    }
    out.push_str("==");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_hierarchy_rules() {
        for good in ["param", "/param", "/a/b/c", "a.b-c_d", "/A1/b.2"] {
            assert!(well_formed(good), "{good}");
        }
        for bad in ["", "a/b/c", "/a//b", "/a/", "/", "a b", "a:b", "/a/b$"] {
            assert!(!well_formed(bad), "{bad}");
        }
        let state = State::default();
        assert!(check_new_name(&state, "awsParam").is_err());
        assert!(check_new_name(&state, "/SSM/param").is_err());
        assert!(
            check_new_name(&state, "/team/aws").is_ok(),
            "only the first level is reserved"
        );
        let deep = format!("/{}", vec!["l"; 16].join("/"));
        assert_eq!(
            check_new_name(&state, &deep).unwrap_err().code,
            "HierarchyLevelLimitExceededException"
        );
        let fifteen = format!("/{}", vec!["l"; 15].join("/"));
        assert!(check_new_name(&state, &fifteen).is_ok());
        let long = format!("/{}", "n".repeat(1000));
        assert_eq!(
            check_new_name(&state, &long).unwrap_err().code,
            "ValidationException"
        );
    }

    #[test]
    fn selectors_are_versions_or_labels_and_one_at_most() {
        let state = State::default();
        let n = named(&state, "/app/db:3").unwrap();
        assert_eq!(
            (n.key.as_str(), n.selector),
            ("/app/db", Some(Selector::Version("3")))
        );
        let n = named(&state, "param:prod").unwrap();
        assert_eq!(
            (n.key.as_str(), n.selector),
            ("param", Some(Selector::Label("prod")))
        );
        assert_eq!(named(&state, "/param").unwrap().key, "param");
        assert_eq!(
            named(&state, "a:1:2").err().unwrap().code,
            "ParameterNotFound"
        );
        let arn = format!("{}app/db:2", state.arn("parameter", ""));
        let n = named(&state, &arn).unwrap();
        assert_eq!((n.key.as_str(), n.by_arn), ("/app/db", true));
        let other_account = "arn:aws:ssm:us-east-1:999999999999:parameter/app/db";
        assert_eq!(
            named(&state, other_account).err().unwrap().code,
            "ParameterNotFound"
        );
    }

    #[test]
    fn tiers_upgrade_never_downgrade() {
        let small = "v";
        let large = "v".repeat(5000);
        assert_eq!(tier_for(None, None, small, false).unwrap(), "Standard");
        assert_eq!(
            tier_for(None, Some("Advanced"), small, false).unwrap(),
            "Advanced"
        );
        assert!(tier_for(Some("Standard"), Some("Advanced"), small, false).is_err());
        assert_eq!(
            tier_for(Some("Intelligent-Tiering"), None, small, false).unwrap(),
            "Standard"
        );
        assert_eq!(
            tier_for(Some("Intelligent-Tiering"), None, &large, false).unwrap(),
            "Advanced"
        );
        assert_eq!(
            tier_for(Some("Intelligent-Tiering"), None, small, true).unwrap(),
            "Advanced"
        );
        assert!(
            tier_for(None, None, &large, false).is_err(),
            "4 KB on the standard tier"
        );
        assert!(tier_for(Some("Advanced"), None, &"v".repeat(9000), false).is_err());
        assert!(
            tier_for(Some("Standard"), None, small, true).is_err(),
            "policies need advanced"
        );
    }

    #[test]
    fn labels_follow_their_rules() {
        for good in ["prod", "Release_1.2-a"] {
            assert!(valid_label(good), "{good}");
        }
        for bad in ["1prod", "awsprod", "SSM-x", "a b", "a/b", ""] {
            assert!(!valid_label(bad), "{bad}");
        }
    }
}
