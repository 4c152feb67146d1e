//! GetParameter on `/aws/reference/secretsmanager/<secret>[:stage-or-version]`: Parameter Store passes
//! the read through to Secrets Manager and answers in its own shape (ledger row 34). The order of the
//! refusals, their texts and the members of the answer are those a recording of the live service shows.

use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult};
use crate::state::{Secret, SecretVersion, State, epoch};

/// The reserved path a secret reference starts with.
pub const PREFIX: &str = "/aws/reference/secretsmanager/";

/// The live text for a reference with more than one selector, an empty one, or an ARN (two spaces
/// before `<name>` as recorded).
const BAD_SELECTOR: &str = "Invalid parameter name. Please use correct syntax for referencing a version/label  <name>:<version/label>";
const NEEDS_DECRYPTION: &str =
    "WithDecryption flag must be True for retrieving a Secret Manager secret.";

/// `requested` is the whole name; `reference` what follows [`PREFIX`].
pub fn get(state: &State, requested: &str, reference: &str, decrypt: bool) -> ApiResult {
    // The syntax is judged first, then the decryption flag, then the secret (the recorded order).
    let (id, selector) = match reference.split_once(':') {
        None => (reference, None),
        Some((id, selector)) if !selector.is_empty() && !selector.contains(':') => {
            (id, Some(selector))
        }
        Some(_) => return Err(ApiError::validation(BAD_SELECTOR)),
    };
    if !decrypt {
        return Err(ApiError::validation(NEEDS_DECRYPTION));
    }
    let secret = state
        .secrets
        .get(id)
        .ok_or_else(|| not_found(id, selector))?;
    if secret.deleted {
        return Err(ApiError::validation("Invalid Request to Secrets Manager"));
    }
    let version = pick(secret, selector).ok_or_else(|| not_found(id, selector))?;
    let arn = state.secret_arn(&secret.name);
    let mut parameter = json!({
        // As asked, without the selector; no DataType, and Version 0: it is no parameter.
        "Name": requested.split_once(':').map_or(requested, |(name, _)| name),
        "Type": "SecureString",
        "Version": 0,
        "ARN": arn,
        "LastModifiedDate": epoch(version.created),
        "SourceResult": source_result(&arn, secret, version),
    });
    if let Some(value) = &version.string {
        parameter["Value"] = json!(value);
    }
    if let Some(selector) = selector {
        parameter["Selector"] = json!(format!(":{selector}"));
    }
    Ok(json!({ "Parameter": parameter }))
}

/// The version a selector names, by staging label or version id; `AWSCURRENT` without one.
fn pick<'s>(secret: &'s Secret, selector: Option<&str>) -> Option<&'s SecretVersion> {
    let wanted = selector.unwrap_or("AWSCURRENT");
    secret
        .versions
        .iter()
        .find(|version| version.stages.iter().any(|stage| stage == wanted))
        .or_else(|| selector.and_then(|id| secret.versions.iter().find(|version| version.id == id)))
}

/// The live text: the path without its leading slash, then `:selector`, or (recorded as such) `null`
/// when there was none.
fn not_found(id: &str, selector: Option<&str>) -> ApiError {
    let tail = selector.map_or_else(|| "null".to_owned(), |s| format!(":{s}"));
    ApiError::new(
        "ParameterNotFound",
        format!(
            "An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret {}{id}{tail} not found.",
            PREFIX.trim_start_matches('/')
        ),
    )
}

/// Secrets Manager's answer as text, its members in the recorded order (`ARN`, `name`, `versionId`,
/// `secretString`, `versionStages`, `createdDate`).
fn source_result(arn: &str, secret: &Secret, version: &SecretVersion) -> String {
    let text = |value: &str| Value::from(value).to_string();
    let mut members = vec![
        format!("\"ARN\":{}", text(arn)),
        format!("\"name\":{}", text(&secret.name)),
        format!("\"versionId\":{}", text(&version.id)),
    ];
    if let Some(string) = &version.string {
        members.push(format!("\"secretString\":{}", text(string)));
    }
    members.push(format!("\"versionStages\":{}", json!(version.stages)));
    // The recording shows a string here but not its format: ISO 8601 is our choice (ledger row 34).
    members.push(format!(
        "\"createdDate\":{}",
        text(
            &version
                .created
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    ));
    format!("{{{}}}", members.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn state() -> State {
        let mut state = State {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            ..State::default()
        };
        let version = |id: &str, value: &str, stage: &str| SecretVersion {
            id: id.into(),
            string: Some(value.into()),
            stages: vec![stage.into()],
            created: Utc.with_ymd_and_hms(2026, 9, 28, 10, 0, 0).unwrap(),
        };
        state.secrets.insert(
            "db/creds".into(),
            Secret {
                name: "db/creds".into(),
                versions: vec![
                    version("11111111-aaaa", "first", "AWSPREVIOUS"),
                    version("22222222-bbbb", "second", "AWSCURRENT"),
                ],
                deleted: false,
            },
        );
        state
    }

    fn read(state: &State, reference: &str, decrypt: bool) -> ApiResult {
        get(state, &format!("{PREFIX}{reference}"), reference, decrypt)
    }

    fn refused(result: ApiResult) -> (String, String) {
        let err = result.expect_err("refused");
        (err.code.to_string(), err.message.to_string())
    }

    #[test]
    fn the_current_version_answers_in_parameter_store_shape() {
        let state = state();
        let answer = read(&state, "db/creds", true).unwrap();
        let parameter = &answer["Parameter"];
        assert_eq!(parameter["Name"], "/aws/reference/secretsmanager/db/creds");
        assert_eq!(parameter["Value"], "second");
        assert_eq!(parameter["Version"], 0);
        assert_eq!(parameter["Type"], "SecureString");
        assert!(parameter.get("DataType").is_none() && parameter.get("Selector").is_none());
        let arn = parameter["ARN"].as_str().unwrap();
        assert!(arn.starts_with("arn:aws:secretsmanager:eu-west-1:111122223333:secret:db/creds-"));
        assert_eq!(
            arn.len(),
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db/creds-".len() + 6
        );
        let source = parameter["SourceResult"].as_str().unwrap();
        assert!(
            source.starts_with(&format!(
                "{{\"ARN\":\"{arn}\",\"name\":\"db/creds\",\"versionId\":\"22222222-bbbb\""
            )),
            "{source}"
        );
        assert!(source.contains(
            "\"secretString\":\"second\",\"versionStages\":[\"AWSCURRENT\"],\"createdDate\":\""
        ));
    }

    #[test]
    fn a_stage_or_a_version_id_selects_and_is_echoed() {
        let state = state();
        for selector in ["AWSPREVIOUS", "11111111-aaaa"] {
            let answer = read(&state, &format!("db/creds:{selector}"), true).unwrap();
            assert_eq!(answer["Parameter"]["Value"], "first");
            assert_eq!(answer["Parameter"]["Selector"], format!(":{selector}"));
            assert_eq!(
                answer["Parameter"]["Name"],
                "/aws/reference/secretsmanager/db/creds"
            );
        }
    }

    #[test]
    fn refusals_come_in_the_recorded_order_with_the_recorded_texts() {
        let state = state();
        // Syntax before decryption.
        for malformed in [
            "db/creds:AWSCURRENT:extra",
            "db/creds:",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db/creds",
        ] {
            assert_eq!(
                refused(read(&state, malformed, false)),
                ("ValidationException".into(), BAD_SELECTOR.into())
            );
        }
        // Decryption before the lookup: a missing secret says the same.
        for reference in ["db/creds", "absent"] {
            assert_eq!(refused(read(&state, reference, false)).1, NEEDS_DECRYPTION);
        }
        assert_eq!(
            refused(read(&state, "absent", true)),
            (
                "ParameterNotFound".into(),
                "An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret aws/reference/secretsmanager/absentnull not found.".into()
            )
        );
        assert_eq!(
            refused(read(&state, "db/creds:NOSUCHSTAGE", true)).1,
            "An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret aws/reference/secretsmanager/db/creds:NOSUCHSTAGE not found."
        );
    }

    #[test]
    fn a_deleted_secret_is_refused_and_a_binary_one_has_no_value() {
        let mut state = state();
        state.secrets.get_mut("db/creds").unwrap().deleted = true;
        assert_eq!(
            refused(read(&state, "db/creds", true)),
            (
                "ValidationException".into(),
                "Invalid Request to Secrets Manager".into()
            )
        );
        let secret = state.secrets.get_mut("db/creds").unwrap();
        secret.deleted = false;
        for version in &mut secret.versions {
            version.string = None;
        }
        let answer = read(&state, "db/creds", true).unwrap();
        assert!(answer["Parameter"].get("Value").is_none());
        assert!(
            !answer["Parameter"]["SourceResult"]
                .as_str()
                .unwrap()
                .contains("secretString")
        );
    }
}
