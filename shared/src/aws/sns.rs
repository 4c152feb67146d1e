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

#[cfg(test)]
mod tests {
    use super::*;

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
