//! Secrets Manager secrets read through Parameter Store (ledger row 34), seeded by a scenario and
//! read by the real aws-sdk-ssm and the AWS CLI as a user would: the answers and refusals a recording
//! of the live service shows.

mod common;

use aws_sdk_ssm::error::ProvideErrorMetadata;
use common::*;
use serde_json::json;

const REFERENCE: &str = "/aws/reference/secretsmanager/app/db";

/// A scenario with one rotated secret (two versions) and one scheduled for deletion.
fn scenario() -> serde_json::Value {
    json!({
        "format": "patchpilot-ssm-sim/v1",
        "secrets": [
            {"name": "app/db", "versions": [
                {"id": "6f1c0b8e-0000-4000-8000-000000000001", "string": "{\"password\":\"old\"}",
                 "stages": ["AWSPREVIOUS"], "created": "2026-09-01T08:00:00Z"},
                {"id": "6f1c0b8e-0000-4000-8000-000000000002", "string": "{\"password\":\"new\"}",
                 "stages": ["AWSCURRENT"], "created": "2026-09-28T08:00:00Z"}
            ]},
            {"name": "retired", "deleted": true, "versions": [
                {"id": "6f1c0b8e-0000-4000-8000-000000000003", "string": "x", "stages": ["AWSCURRENT"]}
            ]}
        ]
    })
}

#[tokio::test]
async fn a_secret_reference_reads_through_to_the_secret_as_recorded() {
    let sim = start(patch_week_state());
    let (status, loaded) = control(&sim, "PUT", "/_sim/scenario", Some(&scenario()));
    assert_eq!(status, 200, "{loaded}");
    let ssm = client(&sim);

    let current = ssm
        .get_parameter()
        .name(REFERENCE)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let current = current.parameter().unwrap();
    assert_eq!(current.name(), Some(REFERENCE));
    assert_eq!(current.value(), Some("{\"password\":\"new\"}"));
    assert_eq!(current.version(), 0);
    assert_eq!(current.r#type().map(|t| t.as_str()), Some("SecureString"));
    assert_eq!(current.data_type(), None);
    assert_eq!(current.selector(), None);
    assert!(
        current
            .arn()
            .unwrap()
            .starts_with("arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-"),
        "{:?}",
        current.arn()
    );
    assert_eq!(
        current.last_modified_date().map(|t| t.secs()),
        Some(1_790_582_400),
        "the current version's creation"
    );
    let source: serde_json::Value = serde_json::from_str(current.source_result().unwrap()).unwrap();
    assert_eq!(source["name"], "app/db");
    assert_eq!(source["versionStages"], json!(["AWSCURRENT"]));

    let previous = ssm
        .get_parameter()
        .name(format!("{REFERENCE}:AWSPREVIOUS"))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let previous = previous.parameter().unwrap();
    assert_eq!(
        (previous.name(), previous.value(), previous.selector()),
        (
            Some(REFERENCE),
            Some("{\"password\":\"old\"}"),
            Some(":AWSPREVIOUS")
        )
    );

    let refusal = |name: String, decrypt: bool| {
        let ssm = ssm.clone();
        async move {
            let err = ssm
                .get_parameter()
                .name(name)
                .with_decryption(decrypt)
                .send()
                .await
                .unwrap_err();
            (
                err.code().unwrap_or_default().to_owned(),
                err.message().unwrap_or_default().to_owned(),
            )
        }
    };
    assert_eq!(
        refusal(REFERENCE.to_owned(), false).await,
        (
            "ValidationException".to_owned(),
            "WithDecryption flag must be True for retrieving a Secret Manager secret.".to_owned()
        )
    );
    let (code, message) = refusal(format!("{REFERENCE}:AWSCURRENT:extra"), false).await;
    assert_eq!(code, "ValidationException");
    assert!(message.starts_with("Invalid parameter name."), "{message}");
    assert_eq!(
        refusal("/aws/reference/secretsmanager/app/cache".to_owned(), true).await,
        (
            "ParameterNotFound".to_owned(),
            "An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret aws/reference/secretsmanager/app/cachenull not found.".to_owned()
        )
    );
    assert_eq!(
        refusal("/aws/reference/secretsmanager/retired".to_owned(), true).await,
        (
            "ValidationException".to_owned(),
            "Invalid Request to Secrets Manager".to_owned()
        )
    );
    // Not a writable path: the reserved prefix refuses a put.
    let put = ssm
        .put_parameter()
        .name(REFERENCE)
        .value("x")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap_err();
    assert_eq!(put.code(), Some("ValidationException"));
}

#[test]
fn the_aws_cli_reads_a_secret_reference_with_decryption() {
    let sim = start(patch_week_state());
    let (status, loaded) = control(&sim, "PUT", "/_sim/scenario", Some(&scenario()));
    assert_eq!(status, 200, "{loaded}");
    let (code, stdout, stderr) = aws_ssm(
        &sim,
        &[
            "get-parameter",
            "--name",
            REFERENCE,
            "--with-decryption",
            "--query",
            "Parameter.Value",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let value: String = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value, "{\"password\":\"new\"}");
    let (code, _, stderr) = aws_ssm(&sim, &["get-parameter", "--name", REFERENCE]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("WithDecryption flag must be True"),
        "{stderr}"
    );
}
