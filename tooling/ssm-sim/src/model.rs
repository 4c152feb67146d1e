//! The official SSM service model (the subset the simulator serves, extracted from botocore by
//! `model/extract.py`), used to validate requests the way AWS does and, in tests, to check that responses
//! only carry members of the documented output shapes with the right types.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

const MODEL_JSON: &str = include_str!("../model/ssm-model.json");

#[derive(Debug, Deserialize)]
struct RawModel {
    operations: BTreeMap<String, Operation>,
    shapes: HashMap<String, Shape>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub input: String,
    pub output: String,
    pub errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct MemberRef {
    shape: String,
}

#[derive(Debug, Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    members: BTreeMap<String, MemberRef>,
    member: Option<MemberRef>,
    value: Option<MemberRef>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    enum_values: Option<Vec<String>>,
}

/// Why a request body was refused before any operation logic ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputProblem {
    /// The body is not the JSON shape the operation takes (AWS: SerializationException).
    Serialization(String),
    /// Constraint violations, in AWS's "Value ... at '...' failed to satisfy constraint" wording.
    Constraints(Vec<String>),
}

pub struct ServiceModel {
    operations: BTreeMap<String, Operation>,
    shapes: HashMap<String, Shape>,
    patterns: HashMap<String, Regex>,
}

impl ServiceModel {
    /// Loads the embedded model; the patterns are compiled once.
    pub fn load() -> Self {
        let raw: RawModel =
            serde_json::from_str(MODEL_JSON).expect("the embedded service model is valid JSON");
        let patterns = raw
            .shapes
            .iter()
            .filter_map(|(name, shape)| {
                let pattern = shape.pattern.as_ref()?;
                Regex::new(pattern).ok().map(|regex| (name.clone(), regex))
            })
            .collect();
        Self {
            operations: raw.operations,
            shapes: raw.shapes,
            patterns,
        }
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Validates a request body against the operation's input shape.
    pub fn validate_input(&self, operation: &str, body: &Value) -> Result<(), InputProblem> {
        let Some(op) = self.operations.get(operation) else {
            return Err(InputProblem::Serialization(format!(
                "unknown operation {operation}"
            )));
        };
        let mut problems = Vec::new();
        self.check(&op.input, body, "", &mut problems)
            .map_err(InputProblem::Serialization)?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InputProblem::Constraints(problems))
        }
    }

    /// Checks a response body against the operation's output shape: every member documented, types
    /// right, required members present. Returns the problems found (tests assert there are none).
    pub fn check_output(&self, operation: &str, body: &Value) -> Vec<String> {
        let Some(op) = self.operations.get(operation) else {
            return vec![format!("unknown operation {operation}")];
        };
        let mut problems = Vec::new();
        self.check_shape_strict(&op.output, body, operation, &mut problems);
        problems
    }

    /// Input validation: a type mismatch is a serialization failure (returned as Err), constraint
    /// violations are collected.
    fn check(
        &self,
        shape_name: &str,
        value: &Value,
        path: &str,
        problems: &mut Vec<String>,
    ) -> Result<(), String> {
        let Some(shape) = self.shapes.get(shape_name) else {
            return Ok(());
        };
        if value.is_null() {
            return Ok(());
        }
        let mismatch = || {
            format!(
                "Unexpected value at '{}': expected {}",
                display_path(path),
                shape.kind
            )
        };
        match shape.kind.as_str() {
            "structure" => {
                let object = value.as_object().ok_or_else(mismatch)?;
                for required in &shape.required {
                    if object.get(required).is_none_or(Value::is_null) {
                        problems.push(format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            join(path, required)
                        ));
                    }
                }
                for (name, member) in &shape.members {
                    if let Some(child) = object.get(name) {
                        self.check(&member.shape, child, &join(path, name), problems)?;
                    }
                }
            }
            "list" => {
                let items = value.as_array().ok_or_else(mismatch)?;
                self.check_length(shape, items.len(), &render(value), path, problems);
                if let Some(member) = &shape.member {
                    for (index, item) in items.iter().enumerate() {
                        self.check(
                            &member.shape,
                            item,
                            &format!("{path}.{}.member", index + 1),
                            problems,
                        )?;
                    }
                }
            }
            "map" => {
                let object = value.as_object().ok_or_else(mismatch)?;
                if let Some(member) = &shape.value {
                    for (key, item) in object {
                        self.check(&member.shape, item, &format!("{path}.{key}"), problems)?;
                    }
                }
            }
            "string" => {
                let text = value.as_str().ok_or_else(mismatch)?;
                self.check_length(shape, text.chars().count(), text, path, problems);
                if let Some(allowed) = &shape.enum_values
                    && !allowed.iter().any(|candidate| candidate == text)
                {
                    problems.push(format!(
                        "Value '{text}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        display_path(path),
                        allowed.join(", ")
                    ));
                }
                if let (Some(pattern), Some(regex)) =
                    (&shape.pattern, self.patterns.get(shape_name))
                    && !regex.is_match(text)
                {
                    problems.push(format!(
                        "Value '{text}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}",
                        display_path(path)
                    ));
                }
            }
            "integer" | "long" => {
                let number = value.as_i64().ok_or_else(mismatch)?;
                if let Some(min) = shape.min
                    && (number as f64) < min
                {
                    problems.push(format!(
                        "Value '{number}' at '{}' failed to satisfy constraint: Member must have value greater than or equal to {min}",
                        display_path(path)
                    ));
                }
                if let Some(max) = shape.max
                    && (number as f64) > max
                {
                    problems.push(format!(
                        "Value '{number}' at '{}' failed to satisfy constraint: Member must have value less than or equal to {max}",
                        display_path(path)
                    ));
                }
            }
            "boolean" => {
                value.as_bool().ok_or_else(mismatch)?;
            }
            "timestamp" if !(value.is_number() || value.is_string()) => return Err(mismatch()),
            _ => {}
        }
        Ok(())
    }

    fn check_length(
        &self,
        shape: &Shape,
        length: usize,
        shown: &str,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        if let Some(min) = shape.min
            && (length as f64) < min
        {
            problems.push(format!(
                "Value '{shown}' at '{}' failed to satisfy constraint: Member must have length greater than or equal to {min}",
                display_path(path)
            ));
        }
        if let Some(max) = shape.max
            && (length as f64) > max
        {
            problems.push(format!(
                "Value '{shown}' at '{}' failed to satisfy constraint: Member must have length less than or equal to {max}",
                display_path(path)
            ));
        }
    }

    fn check_shape_strict(
        &self,
        shape_name: &str,
        value: &Value,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        let Some(shape) = self.shapes.get(shape_name) else {
            problems.push(format!("{path}: shape {shape_name} is not in the model"));
            return;
        };
        let kind_ok = match shape.kind.as_str() {
            "structure" | "map" => value.is_object(),
            "list" => value.is_array(),
            "string" => value.is_string(),
            "integer" | "long" => value.is_i64() || value.is_u64(),
            "double" | "float" => value.is_number(),
            "boolean" => value.is_boolean(),
            "timestamp" => value.is_number(),
            _ => true,
        };
        if !kind_ok {
            problems.push(format!(
                "{path}: expected {} ({shape_name}), got {value}",
                shape.kind
            ));
            return;
        }
        match shape.kind.as_str() {
            "structure" => {
                let object = value.as_object().expect("checked above");
                for required in &shape.required {
                    if !object.contains_key(required) {
                        problems.push(format!("{path}: required member {required} is missing"));
                    }
                }
                for (name, child) in object {
                    match shape.members.get(name) {
                        Some(member) => self.check_shape_strict(
                            &member.shape,
                            child,
                            &format!("{path}.{name}"),
                            problems,
                        ),
                        None => {
                            problems.push(format!("{path}: member {name} is not in {shape_name}"))
                        }
                    }
                }
            }
            "list" => {
                if let Some(member) = &shape.member {
                    for (index, item) in value.as_array().expect("checked above").iter().enumerate()
                    {
                        self.check_shape_strict(
                            &member.shape,
                            item,
                            &format!("{path}[{index}]"),
                            problems,
                        );
                    }
                }
            }
            "map" => {
                if let Some(member) = &shape.value {
                    for (key, item) in value.as_object().expect("checked above") {
                        self.check_shape_strict(
                            &member.shape,
                            item,
                            &format!("{path}.{key}"),
                            problems,
                        );
                    }
                }
            }
            "string" => {
                if let Some(allowed) = &shape.enum_values {
                    let text = value.as_str().expect("checked above");
                    let live = LIVE_SPELLINGS
                        .iter()
                        .find(|(shape, _)| *shape == shape_name)
                        .is_some_and(|(_, values)| values.contains(&text));
                    if !live && !allowed.iter().any(|candidate| candidate == text) {
                        problems.push(format!(
                            "{path}: {text:?} is not one of {shape_name}'s values"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Enum shapes whose values the live service spells differently from botocore's model; responses
/// follow the live service (fidelity ledger, rows 1 and 14).
pub const LIVE_SPELLINGS: &[(&str, &[&str])] = &[
    // An invocation without notifications reports `"NotificationType": ""` (the AWS CLI's
    // list-command-invocations example), outside the model's `Command | Invocation`.
    ("NotificationType", &[""]),
    (
        "PatchComplianceDataState",
        &[
            "Installed",
            "InstalledOther",
            "InstalledPendingReboot",
            "InstalledRejected",
            "Missing",
            "NotApplicable",
            "Failed",
            "AvailableSecurityUpdate",
        ],
    ),
];

/// AWS names members in validation messages with a lower-case first letter.
fn join(path: &str, member: &str) -> String {
    let mut chars = member.chars();
    let lowered = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    if path.is_empty() {
        lowered
    } else {
        format!("{path}.{lowered}")
    }
}

fn display_path(path: &str) -> &str {
    path.trim_start_matches('.')
}

fn render(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|item| item
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| item.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Formats collected constraint violations as AWS's ValidationException message.
pub fn validation_message(problems: &[String]) -> String {
    let count = problems.len();
    let noun = if count == 1 { "error" } else { "errors" };
    format!(
        "{count} validation {noun} detected: {}",
        problems.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constraints_come_from_the_model() {
        let model = ServiceModel::load();
        assert!(
            model
                .validate_input("DescribePatchGroups", &json!({}))
                .is_ok()
        );
        let Err(InputProblem::Constraints(problems)) = model.validate_input(
            "DescribeInstancePatchStatesForPatchGroup",
            &json!({"MaxResults": 101}),
        ) else {
            panic!("expected constraint violations")
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("'patchGroup'") && problems[0].contains("must not be null"));
        assert!(problems[1].contains("less than or equal to 100"));
    }

    #[test]
    fn enums_patterns_and_nested_lists() {
        let model = ServiceModel::load();
        let body = json!({"PatchGroup": "web", "Filters": [{"Key": "FailedCount", "Values": ["0"], "Type": "Sideways"}]});
        let Err(InputProblem::Constraints(problems)) =
            model.validate_input("DescribeInstancePatchStatesForPatchGroup", &body)
        else {
            panic!("expected constraint violations")
        };
        assert!(
            problems[0].contains("'filters.1.member.type'")
                && problems[0].contains("enum value set"),
            "{problems:?}"
        );
        let Err(InputProblem::Constraints(problems)) = model.validate_input(
            "GetMaintenanceWindow",
            &json!({"WindowId": "mw-nothex00000000000"}),
        ) else {
            panic!("expected a pattern violation")
        };
        assert!(
            problems[0].contains("regular expression pattern"),
            "{problems:?}"
        );
    }

    #[test]
    fn wrong_json_types_are_serialization_errors() {
        let model = ServiceModel::load();
        assert!(matches!(
            model.validate_input("DescribePatchGroups", &json!({"MaxResults": "ten"})),
            Err(InputProblem::Serialization(_))
        ));
    }

    #[test]
    fn output_check_finds_undocumented_members() {
        let model = ServiceModel::load();
        let problems = model.check_output(
            "DescribePatchGroups",
            &json!({"Mappings": [{"PatchGroup": "web", "Bogus": 1}]}),
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            model
                .check_output("DescribePatchGroups", &json!({"Mappings": []}))
                .is_empty()
        );
    }
}
