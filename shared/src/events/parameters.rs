//! `detail.parameters` of "EC2 Command Status-change Notification".
//!
//! Documented as an object of string arrays, but real events (and AWS's own consumers) also carry it as a
//! JSON-encoded string of that object. Both forms, and single strings in place of arrays, are accepted.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use serde_json::Value;

/// Command parameters: name to values, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CommandParameters(pub BTreeMap<String, Vec<String>>);

impl CommandParameters {
    /// The first value of a parameter, e.g. `Operation` → `Install`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(|values| values.first())
            .map(String::as_str)
    }
}

impl<'de> Deserialize<'de> for CommandParameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        let object = match raw {
            Value::Null => return Ok(Self::default()),
            Value::String(encoded) if encoded.trim().is_empty() => return Ok(Self::default()),
            Value::String(encoded) => serde_json::from_str::<Value>(&encoded).map_err(|err| {
                D::Error::custom(format!(
                    "a JSON-encoded parameters string that does not parse: {err}"
                ))
            })?,
            other => other,
        };
        let Value::Object(map) = object else {
            return Err(D::Error::custom(
                "parameters must be an object of string arrays or a JSON string of one",
            ));
        };
        map.into_iter()
            .map(|(name, values)| {
                let values = match values {
                    Value::Array(items) => items
                        .into_iter()
                        .map(scalar_text)
                        .collect::<Option<Vec<_>>>(),
                    single => scalar_text(single).map(|text| vec![text]),
                };
                values.map(|values| (name.clone(), values)).ok_or_else(|| {
                    D::Error::custom(format!("parameter `{name}` must hold strings"))
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// Strings stay strings; numbers and booleans become their text; anything else is rejected.
fn scalar_text(value: Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<CommandParameters, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn object_of_arrays() {
        let params =
            parse(r#"{"Operation":["Install"],"RebootOption":["RebootIfNeeded"]}"#).unwrap();
        assert_eq!(params.first("Operation"), Some("Install"));
        assert_eq!(params.first("RebootOption"), Some("RebootIfNeeded"));
    }

    #[test]
    fn json_encoded_string() {
        let params =
            parse(r#""{\"Operation\":[\"Scan\"],\"executionTimeout\":[\"3600\"]}""#).unwrap();
        assert_eq!(params.first("Operation"), Some("Scan"));
        assert_eq!(params.first("executionTimeout"), Some("3600"));
    }

    #[test]
    fn single_values_null_and_empty() {
        assert_eq!(
            parse(r#"{"Operation":"Install"}"#)
                .unwrap()
                .first("Operation"),
            Some("Install")
        );
        assert_eq!(parse("null").unwrap(), CommandParameters::default());
        assert_eq!(parse(r#""""#).unwrap(), CommandParameters::default());
    }

    #[test]
    fn garbage_is_an_error_with_a_reason() {
        let err = parse(r#""{not json""#).unwrap_err().to_string();
        assert!(err.contains("does not parse"), "{err}");
        let err = parse("[1,2]").unwrap_err().to_string();
        assert!(err.contains("object of string arrays"), "{err}");
        let err = parse(r#"{"commands":[{"nested":true}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`commands`"), "{err}");
    }
}
