//! SNS message rules every function's notifications follow.

/// SNS refuses a subject of 100 characters or more.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// `text` as SNS accepts a subject: printable ASCII on one line (line breaks and tabs become spaces,
/// anything else outside ASCII `?`), trimmed, and under 100 characters (cut with `...`).
pub fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            ' '..='~' => c,
            _ => '?',
        })
        .collect();
    let clean = clean.trim();
    if clean.len() <= MAX_SUBJECT_CHARS {
        clean.to_owned()
    } else {
        // Only ASCII remains, so any byte index is a character boundary.
        format!("{}...", &clean[..MAX_SUBJECT_CHARS - 3])
    }
}

/// SNS's limit for one published message: 256 KB, message body and attributes together.
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// The bytes SNS counts for a Publish: the message plus every attribute's name, data type and value.
pub fn published_bytes<'a>(
    message: &str,
    attributes: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> usize {
    message.len()
        + attributes
            .into_iter()
            .map(|(name, kind, value)| name.len() + kind.len() + value.len())
            .sum::<usize>()
}

/// The `Message` of a Publish with `MessageStructure=json`: `text` for e-mail and SMS (`default`,
/// `email`), the JSON `document` for machine subscribers (`sqs`, `lambda`, `https`, `http`).
pub fn envelope(text: &str, document: &str) -> String {
    serde_json::json!({
        "default": text,
        "email": text,
        "sqs": document,
        "lambda": document,
        "https": document,
        "http": document,
    })
    .to_string()
}

/// A message for a topic: `MessageStructure=json`, with typed attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject (already through [`subject`]).
    pub subject: String,
    /// The [`envelope`].
    pub envelope: String,
    /// Attributes subscriptions filter on: (name, data type, value).
    pub attributes: Vec<(String, String, String)>,
}

impl Message {
    /// The bytes SNS counts for it.
    pub fn published_bytes(&self) -> usize {
        published_bytes(
            &self.envelope,
            self.attributes
                .iter()
                .map(|(name, kind, value)| (name.as_str(), kind.as_str(), value.as_str())),
        )
    }
}

/// The Region a topic ARN (`arn:<partition>:sns:<region>:<account>:<name>`) names, if it is one.
pub fn topic_region(topic_arn: &str) -> Option<&str> {
    let mut parts = topic_arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("sns"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

/// The SNS client for publishing to `topic_arn`: SNS takes a Publish only at the topic's own
/// Regional endpoint, so the client is for the Region the ARN names (a central topic in another
/// Region, `CentralAlertTopicArn`, included). Endpoint overrides (`AWS_ENDPOINT_URL_SNS`),
/// credentials and retries are the function's.
#[cfg(feature = "sns")]
pub fn client_for_topic(sdk: &aws_config::SdkConfig, topic_arn: &str) -> aws_sdk_sns::Client {
    let mut config = aws_sdk_sns::config::Builder::from(sdk);
    if let Some(region) = topic_region(topic_arn) {
        config = config.region(aws_config::Region::new(region.to_owned()));
    }
    aws_sdk_sns::Client::from_conf(config.build())
}

/// The one publisher both paging functions use: refuses a message over SNS's 256 KB before calling
/// (each function fits its messages first; this keeps a new one from reaching SNS to be refused
/// there), and makes a failed publish retryable, whatever SNS said: a page must not be lost. Returns
/// the message id.
#[cfg(feature = "sns")]
pub async fn publish(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    message: &Message,
) -> Result<Option<String>, crate::FunctionError> {
    use crate::FunctionError;
    let bytes = message.published_bytes();
    if bytes > MAX_MESSAGE_BYTES {
        return Err(FunctionError::Invariant(format!(
            "the message \"{}\" is {bytes} bytes, over SNS's {MAX_MESSAGE_BYTES}: it was not sent",
            message.subject
        )));
    }
    let mut publish = client
        .publish()
        .topic_arn(topic_arn)
        .subject(&message.subject)
        .message_structure("json")
        .message(&message.envelope);
    for (name, data_type, value) in &message.attributes {
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|err| FunctionError::Invariant(format!("message attribute {name}: {err}")))?;
        publish = publish.message_attributes(name, attribute);
    }
    publish
        .send()
        .await
        .map(|output| output.message_id().map(str::to_owned))
        .map_err(|err| FunctionError::aws("sns:Publish", err).retryable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_arn_names_its_region() {
        assert_eq!(
            topic_region("arn:aws:sns:us-east-1:444455556666:central"),
            Some("us-east-1")
        );
        assert_eq!(
            topic_region("arn:aws-us-gov:sns:us-gov-west-1:444455556666:t"),
            Some("us-gov-west-1")
        );
        assert_eq!(topic_region("arn:aws:sqs:us-east-1:444455556666:q"), None);
        assert_eq!(topic_region("my-topic"), None);
        assert_eq!(topic_region("arn:aws:sns::444455556666:t"), None);
    }

    #[cfg(feature = "sns")]
    #[tokio::test]
    async fn a_topic_in_another_region_gets_a_client_for_that_region() {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let region = |arn: &str| {
            client_for_topic(&sdk, arn)
                .config()
                .region()
                .map(|r| r.as_ref().to_owned())
        };
        assert_eq!(
            region("arn:aws:sns:us-east-1:444455556666:central").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region("arn:aws:sns:eu-west-1:111122223333:local").as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn people_get_text_and_machines_the_document() {
        let envelope: serde_json::Value =
            serde_json::from_str(&envelope("Patch failed.", r#"{"kind":"k"}"#)).unwrap();
        assert_eq!(envelope["default"], "Patch failed.");
        assert_eq!(envelope["email"], "Patch failed.");
        for protocol in ["sqs", "lambda", "https", "http"] {
            assert_eq!(envelope[protocol], r#"{"kind":"k"}"#, "{protocol}");
        }
    }

    #[test]
    fn subjects_are_printable_ascii_on_one_line_and_short() {
        assert_eq!(subject("  ok  "), "ok");
        assert_eq!(subject("a\nb\tc"), "a b c");
        assert_eq!(subject("名前 web"), "?? web");
        let long = subject(&"x".repeat(150));
        assert_eq!(long.len(), MAX_SUBJECT_CHARS);
        assert!(long.ends_with("..."));
        assert_eq!(subject(&"y".repeat(99)).len(), 99, "99 characters fit");
    }
}

#[cfg(all(test, feature = "sns"))]
mod publisher {
    use super::*;
    use crate::FunctionError;
    use crate::error::ErrorClass;
    use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    fn message(envelope_bytes: usize) -> Message {
        Message {
            subject: "Patch failed".to_owned(),
            envelope: "x".repeat(envelope_bytes),
            attributes: vec![("kind".to_owned(), "String".to_owned(), "k".to_owned())],
        }
    }

    #[tokio::test]
    async fn a_message_goes_out_as_json_with_its_attributes() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let s = sent.clone();
        let rule = mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
            s.lock().unwrap().push((
                req.topic_arn().map(str::to_owned),
                req.subject().map(str::to_owned),
                req.message_structure().map(str::to_owned),
                req.message_attributes()
                    .and_then(|a| a.get("kind"))
                    .and_then(|v| v.string_value().map(str::to_owned)),
            ));
            PublishOutput::builder().message_id("m-1").build()
        });
        let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&rule]);
        let id = publish(
            &client,
            "arn:aws:sns:eu-west-1:111122223333:t",
            &message(10),
        )
        .await
        .unwrap();
        assert_eq!(id.as_deref(), Some("m-1"));
        assert_eq!(
            *sent.lock().unwrap(),
            [(
                Some("arn:aws:sns:eu-west-1:111122223333:t".to_owned()),
                Some("Patch failed".to_owned()),
                Some("json".to_owned()),
                Some("k".to_owned())
            )]
        );
    }

    #[tokio::test]
    async fn a_message_over_256_kb_is_refused_before_any_call() {
        let rule = mock!(aws_sdk_sns::Client::publish)
            .then_output(|| PublishOutput::builder().message_id("m-1").build());
        let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&rule]);
        // The attribute's 4 + 6 + 1 bytes count too: one byte of envelope over the limit.
        let over = message(MAX_MESSAGE_BYTES - 11 + 1);
        let err = publish(&client, "t", &over).await.unwrap_err();
        assert!(
            matches!(&err, FunctionError::Invariant(text) if text.contains("262145 bytes")),
            "{err}"
        );
        assert_eq!(rule.num_calls(), 0);
        let at_limit = message(MAX_MESSAGE_BYTES - 11);
        assert!(publish(&client, "t", &at_limit).await.is_ok());
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_publish_is_retryable_whatever_sns_said() {
        let rule = mock!(aws_sdk_sns::Client::publish).then_error(|| {
            PublishError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("AuthorizationError")
                    .message("not authorized")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, &[&rule]);
        let err = publish(&client, "t", &message(10)).await.unwrap_err();
        assert!(
            matches!(&err, FunctionError::Aws { operation, class: ErrorClass::Retryable, .. } if operation == "sns:Publish"),
            "{err:?}"
        );
    }
}
