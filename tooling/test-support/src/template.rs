//! template.yaml as data: tests read the event patterns, names and metrics it declares instead of
//! retyping them, so a test fails when the template and the code drift apart.
//!
//! The template is held in CloudFormation's JSON long form (`!Ref X` becomes `{"Ref": "X"}`,
//! `!Sub …` becomes `{"Fn::Sub": …}`), the form the SAM transform's output also has, so one
//! resolver serves the SAM template and the translated one. The resolver is as strict as
//! CloudFormation where a lenient one would hide a failed deploy: a `Fn::Join` delimiter must be a
//! literal string, a `Ref` must name a parameter, resource or pseudo parameter, and a parameter value
//! must satisfy its declaration (`AllowedPattern` on every entry of a list, `AllowedValues`,
//! lengths, number bounds).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub id: String,
    pub namespace: String,
    pub metric: String,
    /// (name, value) as written.
    pub dimensions: Vec<(String, String)>,
}

/// Why a template could not be read or resolved, by kind; the text follows CloudFormation's wording
/// where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The file, its YAML or JSON, or a short-form tag.
    #[error("{0}")]
    Read(String),
    /// A parameter unknown, missing, or refused by its declaration.
    #[error("{0}")]
    Parameter(String),
    /// A condition missing or not a boolean.
    #[error("{0}")]
    Condition(String),
    /// A `Ref` or `Fn::GetAtt` to nothing.
    #[error("{0}")]
    Reference(String),
    /// An intrinsic function used as CloudFormation would refuse it.
    #[error("{0}")]
    Function(String),
}

/// Callers that report in text.
impl From<TemplateError> for String {
    fn from(err: TemplateError) -> Self {
        err.to_string()
    }
}

/// The parsed template, in CloudFormation's JSON long form.
pub struct Template {
    pub root: Value,
}

/// YAML with CloudFormation's short-form tags → JSON long form.
fn long_form(value: &serde_yaml::Value) -> Result<Value, TemplateError> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(flag) => Value::Bool(*flag),
        Y::Number(number) => serde_json::from_str(&number.to_string())
            .map_err(|err| TemplateError::Read(format!("number {number}: {err}")))?,
        Y::String(text) => Value::String(text.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(long_form).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut object = Map::new();
            for (key, item) in map {
                let key = match key {
                    Y::String(text) => text.clone(),
                    Y::Number(number) => number.to_string(),
                    Y::Bool(flag) => flag.to_string(),
                    other => {
                        return Err(TemplateError::Read(format!(
                            "unsupported mapping key {other:?}"
                        )));
                    }
                };
                object.insert(key, long_form(item)?);
            }
            Value::Object(object)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(&tagged.value)?;
            let (key, inner) = match name {
                "Ref" => ("Ref".to_owned(), inner),
                "Condition" => ("Condition".to_owned(), inner),
                // `!GetAtt A.B` is the string form of `Fn::GetAtt: [A, B]`.
                "GetAtt" => match inner {
                    Value::String(text) => {
                        let (resource, attribute) = text.split_once('.').ok_or_else(|| {
                            TemplateError::Read(format!(
                                "!GetAtt {text}: expected Resource.Attribute"
                            ))
                        })?;
                        (
                            "Fn::GetAtt".to_owned(),
                            Value::from(vec![resource, attribute]),
                        )
                    }
                    other => ("Fn::GetAtt".to_owned(), other),
                },
                other => (format!("Fn::{other}"), inner),
            };
            let mut object = Map::new();
            object.insert(key, inner);
            Value::Object(object)
        }
    })
}

impl Template {
    /// template.yaml at the workspace root.
    pub fn load() -> Self {
        let path = crate::workspace_root().join("template.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        Self::from_yaml(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    pub fn from_yaml(text: &str) -> Result<Self, TemplateError> {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|err| TemplateError::Read(err.to_string()))?;
        Ok(Self {
            root: long_form(&yaml)?,
        })
    }

    /// A translated (plain CloudFormation) template, as JSON.
    pub fn from_json_file(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| TemplateError::Read(format!("{}: {err}", path.display())))?;
        Ok(Self {
            root: serde_json::from_str(&text)
                .map_err(|err| TemplateError::Read(format!("{}: {err}", path.display())))?,
        })
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        let resource = &self.root["Resources"][logical_id];
        assert!(
            !resource.is_null(),
            "the template has no resource {logical_id}"
        );
        resource
    }

    /// Logical ids of the resources of one type, e.g. `AWS::Serverless::Function`.
    pub fn resources_of_type(&self, kind: &str) -> Vec<String> {
        self.root["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A parameter's default as CloudFormation would pass it: a list parameter (CommaDelimitedList) as
    /// a JSON array text, others as the text itself. Feed it to [`Template::event_pattern`].
    pub fn parameter_default(&self, name: &str) -> String {
        let parameter = &self.root["Parameters"][name];
        let default = match &parameter["Default"] {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            other => panic!("parameter {name} has no usable Default: {other:?}"),
        };
        if parameter["Type"].as_str() == Some("CommaDelimitedList") {
            Value::from(default.split(',').map(str::trim).collect::<Vec<_>>()).to_string()
        } else {
            default
        }
    }

    /// The alarms the template declares; a `Ref X` namespace or dimension value reads as `${X}`.
    pub fn alarms(&self) -> Vec<Alarm> {
        self.resources_of_type("AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|id| {
                let properties = &self.resource(&id)["Properties"];
                let namespace = text_or_ref(&properties["Namespace"]);
                let metric = properties["MetricName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let dimensions = properties["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        (
                            d["Name"].as_str().unwrap_or_default().to_owned(),
                            text_or_ref(&d["Value"]),
                        )
                    })
                    .collect();
                Alarm {
                    id,
                    namespace,
                    metric,
                    dimensions,
                }
            })
            .collect()
    }

    /// The text of a `Fn::Sub` property (the template string, placeholders unresolved).
    pub fn sub_text(&self, logical_id: &str, property: &str) -> String {
        let value = &self.resource(logical_id)["Properties"][property];
        match value.get("Fn::Sub") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(items)) => items[0].as_str().unwrap_or_default().to_owned(),
            Some(other) => panic!("{logical_id}.{property}: unexpected Fn::Sub form {other:?}"),
            None => value
                .as_str()
                .unwrap_or_else(|| panic!("{logical_id}.{property} is not a string: {value:?}"))
                .to_owned(),
        }
    }

    /// The EventPattern of a function's EventBridge event source, as JSON, with `Ref Parameter`
    /// placeholders replaced from `parameters` (a list parameter as JSON array text).
    pub fn event_pattern(&self, function: &str, event: &str, parameters: &[(&str, &str)]) -> Value {
        let pattern =
            &self.resource(function)["Properties"]["Events"][event]["Properties"]["Pattern"];
        assert!(
            !pattern.is_null(),
            "{function} has no event {event} with a Pattern"
        );
        to_json(pattern, parameters)
    }
}

/// Replaces `{"Ref": parameter}` from `parameters` (others fail the test).
pub fn to_json(value: &Value, parameters: &[(&str, &str)]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| to_json(i, parameters)).collect()),
        Value::Object(object) if object.len() == 1 && object.contains_key("Ref") => {
            let name = object["Ref"].as_str().unwrap_or_default();
            match parameters.iter().find(|(key, _)| *key == name) {
                // A list parameter arrives as JSON array text and becomes the list CloudFormation passes.
                Some((_, value)) if value.starts_with('[') => {
                    serde_json::from_str(value).expect("a JSON array for a list parameter")
                }
                Some((_, value)) => Value::String((*value).to_owned()),
                None => {
                    panic!("cannot resolve Ref {name} in an event pattern; pass it as a parameter")
                }
            }
        }
        Value::Object(object) if object.keys().any(|k| k.starts_with("Fn::")) => {
            panic!("cannot resolve {object:?} in an event pattern")
        }
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, item)| (key.clone(), to_json(item, parameters)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What `Ref` and `Fn::GetAtt` resolve to in a deployment: parameter values (the template's
/// defaults unless overridden) and the physical names of resources.
pub struct Deployment<'a> {
    pub template: &'a Template,
    pub parameters: BTreeMap<String, String>,
    /// Logical id (or `Id.Attribute` for `Fn::GetAtt`) → physical value.
    pub resources: BTreeMap<String, String>,
    pub account: String,
    pub region: String,
    pub stack_name: String,
}

fn number_of(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

/// The parameters template.yaml has no default for, as the template tests give them.
pub const SAMPLE_PARAMETERS: &[(&str, &str)] = &[
    ("StagingWindowId", "mw-0c50858d01ff4a3b1"),
    ("ProductionWindowId", "mw-0d61969e12ee5b4c2"),
    ("StagingPatchGroup", "staging"),
    ("ProductionBaselineIds", "pb-0c10000000000000b"),
];

/// Physical names the template tests give the stack's resources (`Id` for `Ref`, `Id.Attribute` for
/// `Fn::GetAtt`), in account 000000000000, eu-west-1.
pub const SAMPLE_RESOURCES: &[(&str, &str)] = &[
    (
        "AlertTopic",
        "arn:aws:sns:eu-west-1:000000000000:patchpilot-alerts",
    ),
    (
        "AlertKey.Arn",
        "arn:aws:kms:eu-west-1:000000000000:key/local",
    ),
    (
        "StateTable.Arn",
        "arn:aws:dynamodb:eu-west-1:000000000000:table/state",
    ),
    (
        "FailureQueue.Arn",
        "arn:aws:sqs:eu-west-1:000000000000:failures",
    ),
    ("PromotionBucket", "stack-promotionbucket-1"),
    (
        "PromotionBucket.Arn",
        "arn:aws:s3:::stack-promotionbucket-1",
    ),
    (
        "PatchGateFunction.Arn",
        "arn:aws:lambda:eu-west-1:000000000000:function:patch-gate",
    ),
    (
        "GateBrakeAlarm.Arn",
        "arn:aws:cloudwatch:eu-west-1:000000000000:alarm:patchpilot-gate-closed",
    ),
    (
        "AWS::StackId",
        "arn:aws:cloudformation:eu-west-1:000000000000:stack/patchpilot/1",
    ),
];

impl<'a> Deployment<'a> {
    /// [`SAMPLE_PARAMETERS`] and `extra` (which may override them), with [`SAMPLE_RESOURCES`]: the
    /// deployment the template tests resolve policies and properties for.
    pub fn sample(template: &'a Template, extra: &[(&str, &str)]) -> Self {
        let mut parameters = SAMPLE_PARAMETERS.to_vec();
        parameters.extend_from_slice(extra);
        let mut deployment = Self::new(template, &parameters);
        deployment.resources.extend(
            SAMPLE_RESOURCES
                .iter()
                .map(|(id, value)| ((*id).to_owned(), (*value).to_owned())),
        );
        deployment
    }

    /// Parameters from the template's defaults, overridden by `overrides`. Panics (failing the test)
    /// where CloudFormation would refuse the parameters; [`Deployment::try_new`] returns the error.
    pub fn new(template: &'a Template, overrides: &[(&str, &str)]) -> Self {
        Self::try_new(template, overrides).unwrap_or_else(|err| panic!("{err}"))
    }

    /// As CloudFormation takes parameters: an unknown name, a missing value without default, or a
    /// value its declaration refuses is an error naming the parameter.
    pub fn try_new(
        template: &'a Template,
        overrides: &[(&str, &str)],
    ) -> Result<Self, TemplateError> {
        let declared = template.root["Parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut parameters = BTreeMap::new();
        for (name, parameter) in &declared {
            let default = match &parameter["Default"] {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                Value::Bool(flag) => Some(flag.to_string()),
                _ => None,
            };
            if let Some(default) = default {
                parameters.insert(name.clone(), default);
            }
        }
        for (name, value) in overrides {
            if !declared.contains_key(*name) {
                return Err(TemplateError::Parameter(format!(
                    "Parameters: [{name}] do not exist in the template"
                )));
            }
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        let deployment = Self {
            template,
            parameters,
            resources: Default::default(),
            account: crate::ACCOUNT.to_owned(),
            region: crate::REGION.to_owned(),
            stack_name: "patchpilot".to_owned(),
        };
        for (name, declaration) in &declared {
            deployment.check_parameter(name, declaration)?;
        }
        Ok(deployment)
    }

    /// CloudFormation's parameter constraints, with its wording where it has one.
    fn check_parameter(&self, name: &str, declaration: &Value) -> Result<(), TemplateError> {
        let Some(value) = self.parameters.get(name) else {
            return Err(TemplateError::Parameter(format!(
                "Parameters: [{name}] must have values"
            )));
        };
        let kind = declaration["Type"].as_str().unwrap_or("String");
        let entries: Vec<&str> = if kind == "CommaDelimitedList" {
            value.split(',').map(str::trim).collect()
        } else {
            vec![value.as_str()]
        };
        let refuse = |entry: &str, why: String| {
            let constraint = declaration["ConstraintDescription"]
                .as_str()
                .map(|text| format!(" ({text})"))
                .unwrap_or_default();
            Err(TemplateError::Parameter(format!(
                "Parameter '{name}' must satisfy constraint: {why}; value {entry:?}{constraint}"
            )))
        };
        for entry in entries {
            if let Some(pattern) = declaration["AllowedPattern"].as_str() {
                // CloudFormation matches the whole value (Java regex semantics).
                let anchored = format!("^(?:{pattern})$");
                let regex = fancy_regex::Regex::new(&anchored).map_err(|err| {
                    TemplateError::Parameter(format!(
                        "parameter {name}: AllowedPattern {pattern:?}: {err}"
                    ))
                })?;
                if !regex.is_match(entry).unwrap_or(false) {
                    return refuse(entry, format!("AllowedPattern {pattern}"));
                }
            }
            if let Some(allowed) = declaration["AllowedValues"].as_array() {
                let allowed: Vec<String> = allowed
                    .iter()
                    .map(|v| match v {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                if !allowed.iter().any(|a| a == entry) {
                    return refuse(entry, format!("AllowedValues {allowed:?}"));
                }
            }
            let length = entry.chars().count() as u64;
            if declaration["MinLength"]
                .as_u64()
                .is_some_and(|min| length < min)
            {
                return refuse(entry, format!("MinLength {}", declaration["MinLength"]));
            }
            if declaration["MaxLength"]
                .as_u64()
                .is_some_and(|max| length > max)
            {
                return refuse(entry, format!("MaxLength {}", declaration["MaxLength"]));
            }
            if kind == "Number" {
                let Some(number) = number_of(entry) else {
                    return refuse(entry, "a number".to_owned());
                };
                if declaration["MinValue"]
                    .as_f64()
                    .is_some_and(|min| number < min)
                {
                    return refuse(entry, format!("MinValue {}", declaration["MinValue"]));
                }
                if declaration["MaxValue"]
                    .as_f64()
                    .is_some_and(|max| number > max)
                {
                    return refuse(entry, format!("MaxValue {}", declaration["MaxValue"]));
                }
            }
        }
        Ok(())
    }

    fn is_list_parameter(&self, name: &str) -> bool {
        self.template.root["Parameters"][name]["Type"].as_str() == Some("CommaDelimitedList")
    }

    /// A condition of the template's `Conditions` section.
    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        let condition = &self.template.root["Conditions"][name];
        if condition.is_null() {
            return Err(TemplateError::Condition(format!("no condition {name}")));
        }
        match self.resolve(condition)? {
            Value::Bool(flag) => Ok(flag),
            other => Err(TemplateError::Condition(format!(
                "condition {name} resolved to {other}"
            ))),
        }
    }

    fn pseudo(&self, name: &str) -> Option<Value> {
        Some(Value::String(match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/0",
                self.region, self.account, self.stack_name
            ),
            "AWS::NoValue" => return Some(Value::Null),
            _ => return None,
        }))
    }

    fn reference(&self, name: &str) -> Result<Value, TemplateError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(if self.is_list_parameter(name) {
                Value::from(value.split(',').map(str::trim).collect::<Vec<_>>())
            } else {
                Value::String(value.clone())
            });
        }
        if let Some(value) = self.resources.get(name) {
            return Ok(Value::String(value.clone()));
        }
        self.pseudo(name).ok_or_else(|| {
            TemplateError::Reference(format!(
                "Ref {name}: no parameter, resource or pseudo parameter"
            ))
        })
    }

    fn substitute(
        &self,
        text: &str,
        variables: &Map<String, Value>,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` writes `${Literal}`.
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after.find('}').ok_or_else(|| {
                TemplateError::Function(format!("Fn::Sub: unclosed ${{ in {text:?}"))
            })?;
            let name = &after[..end];
            let value = if let Some(value) = variables.get(name) {
                self.resolve(value)?
            } else if let Some((resource, attribute)) = name.split_once('.') {
                self.get_att(resource, attribute)?
            } else {
                self.reference(name)?
            };
            match value {
                Value::String(text) => out.push_str(&text),
                Value::Number(number) => out.push_str(&number.to_string()),
                other => {
                    return Err(TemplateError::Function(format!(
                        "Fn::Sub: ${{{name}}} is not a string: {other}"
                    )));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn get_att(&self, resource: &str, attribute: &str) -> Result<Value, TemplateError> {
        self.resources
            .get(&format!("{resource}.{attribute}"))
            .map(|value| Value::String(value.clone()))
            .ok_or_else(|| {
                TemplateError::Reference(format!(
                    "Fn::GetAtt {resource}.{attribute}: no such resource attribute"
                ))
            })
    }

    /// Resolves a template value. A `Fn::If` that yields `AWS::NoValue` removes the list item or
    /// property, as CloudFormation does.
    pub fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
        match value {
            Value::Array(items) => {
                let mut resolved = Vec::with_capacity(items.len());
                for item in items {
                    match self.resolve(item)? {
                        Value::Null => {}
                        other => resolved.push(other),
                    }
                }
                Ok(Value::Array(resolved))
            }
            Value::Object(object) if object.len() == 1 => {
                let (key, inner) = object.iter().next().expect("one entry");
                if key == "Ref" || key == "Condition" || key.starts_with("Fn::") {
                    self.function(key, inner)
                } else {
                    self.resolve_object(object)
                }
            }
            Value::Object(object) => self.resolve_object(object),
            other => Ok(other.clone()),
        }
    }

    fn resolve_object(&self, object: &Map<String, Value>) -> Result<Value, TemplateError> {
        let mut resolved = Map::new();
        for (key, item) in object {
            match self.resolve(item)? {
                Value::Null => {}
                other => {
                    resolved.insert(key.clone(), other);
                }
            }
        }
        Ok(Value::Object(resolved))
    }

    fn arguments<'v>(
        name: &str,
        inner: &'v Value,
        count: usize,
    ) -> Result<&'v [Value], TemplateError> {
        match inner.as_array() {
            Some(items) if items.len() == count => Ok(items),
            _ => Err(TemplateError::Function(format!(
                "{name} takes a list of {count}: {inner}"
            ))),
        }
    }

    fn function(&self, name: &str, inner: &Value) -> Result<Value, TemplateError> {
        let text = |value: Value, what: &str| -> Result<String, TemplateError> {
            match value {
                Value::String(text) => Ok(text),
                other => Err(TemplateError::Function(format!(
                    "{name}: {what} must be a string, got {other}"
                ))),
            }
        };
        match name {
            "Ref" => self.reference(
                inner
                    .as_str()
                    .ok_or_else(|| TemplateError::Function("Ref takes a name".to_owned()))?,
            ),
            "Condition" => Ok(Value::Bool(self.condition(inner.as_str().ok_or_else(
                || TemplateError::Function("Condition takes a name".to_owned()),
            )?)?)),
            "Fn::GetAtt" => {
                let parts = Self::arguments(name, inner, 2)?;
                self.get_att(
                    parts[0].as_str().unwrap_or_default(),
                    parts[1].as_str().unwrap_or_default(),
                )
            }
            "Fn::Join" => {
                let parts = Self::arguments(name, inner, 2)?;
                // "For the Fn::Join delimiter, you can't use any functions."
                let delimiter = parts[0].as_str().ok_or_else(|| {
                    TemplateError::Function(format!(
                        "Fn::Join: the delimiter must be a literal string, not {}",
                        parts[0]
                    ))
                })?;
                let items = self.resolve(&parts[1])?;
                let items = items
                    .as_array()
                    .ok_or_else(|| TemplateError::Function("Fn::Join joins a list".to_owned()))?;
                let texts = items
                    .iter()
                    .map(|item| text(item.clone(), "each joined value"))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Value::String(texts.join(delimiter)))
            }
            "Fn::Split" => {
                let parts = Self::arguments(name, inner, 2)?;
                let delimiter = parts[0].as_str().ok_or_else(|| {
                    TemplateError::Function(format!(
                        "Fn::Split: the delimiter must be a literal string, not {}",
                        parts[0]
                    ))
                })?;
                let source = text(self.resolve(&parts[1])?, "the source")?;
                Ok(Value::from(source.split(delimiter).collect::<Vec<_>>()))
            }
            "Fn::Select" => {
                let parts = Self::arguments(name, inner, 2)?;
                let index = match self.resolve(&parts[0])? {
                    Value::Number(number) => number.as_u64(),
                    Value::String(text) => text.parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    TemplateError::Function("Fn::Select: the index must be a number".to_owned())
                })?;
                let list = self.resolve(&parts[1])?;
                let list = list.as_array().ok_or_else(|| {
                    TemplateError::Function("Fn::Select selects from a list".to_owned())
                })?;
                list.get(index as usize).cloned().ok_or_else(|| {
                    TemplateError::Function(format!(
                        "Fn::Select: index {index} is out of bounds of a list of {}",
                        list.len()
                    ))
                })
            }
            "Fn::Sub" => match inner {
                Value::String(template) => {
                    Ok(Value::String(self.substitute(template, &Map::new())?))
                }
                Value::Array(parts) if parts.len() == 2 => {
                    let template = parts[0].as_str().ok_or_else(|| {
                        TemplateError::Function("Fn::Sub: the string must be a literal".to_owned())
                    })?;
                    let variables = parts[1].as_object().ok_or_else(|| {
                        TemplateError::Function("Fn::Sub: variables map".to_owned())
                    })?;
                    Ok(Value::String(self.substitute(template, variables)?))
                }
                other => Err(TemplateError::Function(format!(
                    "Fn::Sub: unexpected form {other}"
                ))),
            },
            "Fn::If" => {
                let parts = Self::arguments(name, inner, 3)?;
                let condition = parts[0].as_str().ok_or_else(|| {
                    TemplateError::Function("Fn::If: a condition name".to_owned())
                })?;
                if self.condition(condition)? {
                    self.resolve(&parts[1])
                } else {
                    self.resolve(&parts[2])
                }
            }
            "Fn::Not" => {
                let parts = Self::arguments(name, inner, 1)?;
                Ok(Value::Bool(!self.boolean(&parts[0])?))
            }
            "Fn::And" | "Fn::Or" => {
                let parts = inner
                    .as_array()
                    .ok_or_else(|| TemplateError::Function("Fn::And/Or take a list".to_owned()))?;
                let values = parts
                    .iter()
                    .map(|part| self.boolean(part))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Bool(if name == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                }))
            }
            "Fn::Equals" => {
                let parts = Self::arguments(name, inner, 2)?;
                Ok(Value::Bool(
                    self.resolve(&parts[0])? == self.resolve(&parts[1])?,
                ))
            }
            "Fn::FindInMap" => {
                let parts = Self::arguments(name, inner, 3)?;
                let keys = parts
                    .iter()
                    .map(|part| text(self.resolve(part)?, "a map key"))
                    .collect::<Result<Vec<_>, _>>()?;
                let value = &self.template.root["Mappings"][&keys[0]][&keys[1]][&keys[2]];
                if value.is_null() {
                    Err(TemplateError::Function(format!(
                        "Fn::FindInMap: no {}/{}/{}",
                        keys[0], keys[1], keys[2]
                    )))
                } else {
                    Ok(value.clone())
                }
            }
            other => Err(TemplateError::Function(format!(
                "{other} is not resolved here"
            ))),
        }
    }

    fn boolean(&self, value: &Value) -> Result<bool, TemplateError> {
        match self.resolve(value)? {
            Value::Bool(flag) => Ok(flag),
            Value::String(text) if text == "true" || text == "false" => Ok(text == "true"),
            other => Err(TemplateError::Condition(format!(
                "expected a condition, got {other}"
            ))),
        }
    }

    /// A function's environment as Lambda would set it: Globals first, then the function's own.
    pub fn environment(&self, function: &str) -> Result<Vec<(String, String)>, TemplateError> {
        let mut variables = BTreeMap::new();
        for source in [
            &self.template.root["Globals"]["Function"]["Environment"]["Variables"],
            &self.template.resource(function)["Properties"]["Environment"]["Variables"],
        ] {
            for (name, value) in source.as_object().into_iter().flatten() {
                let text = match self.resolve(value)? {
                    Value::String(text) => text,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                variables.insert(name.clone(), text);
            }
        }
        Ok(variables.into_iter().collect())
    }

    /// The function's EventBridge rules: (event name, pattern as JSON).
    pub fn rules(&self, function: &str) -> Result<Vec<(String, Value)>, TemplateError> {
        let mut rules = Vec::new();
        let events = &self.template.resource(function)["Properties"]["Events"];
        for (name, event) in events.as_object().into_iter().flatten() {
            if event["Type"].as_str() == Some("EventBridgeRule") {
                rules.push((name.clone(), self.resolve(&event["Properties"]["Pattern"])?));
            }
        }
        Ok(rules)
    }
}

/// A property's text, or `${X}` for `Ref X`.
fn text_or_ref(value: &Value) -> String {
    match value {
        Value::Object(object) if object.contains_key("Ref") => {
            format!("${{{}}}", object["Ref"].as_str().unwrap_or_default())
        }
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Template {
        Template::from_yaml(text).unwrap()
    }

    const LIST: &str = r#"
Parameters:
  Ids:
    Type: CommaDelimitedList
    Default: ""
    AllowedPattern: "^$|^([A-Z0-9_]+=)?pb-[0-9a-f]{17}$"
  Namespace:
    Type: String
    Default: PatchCompliance
    AllowedPattern: "^(?!AWS/)[A-Za-z0-9_./#:-]{1,255}$"
  Count:
    Type: Number
    Default: 5
    MinValue: 1
    MaxValue: 20
Resources:
  Bad:
    Value: !Join [!Sub ",${AWS::Region}", !Ref Ids]
  Good:
    Value: !Join [",", !Ref Ids]
  Unknown:
    Value: !Ref Nope
"#;

    #[test]
    fn a_function_as_join_delimiter_is_refused() {
        let template = template(LIST);
        let deployment = Deployment::new(&template, &[("Ids", "pb-0123456789abcdef0")]);
        let err = deployment
            .resolve(&template.resource("Bad")["Value"])
            .unwrap_err();
        assert!(
            matches!(&err, TemplateError::Function(text) if text.contains("delimiter must be a literal")),
            "{err}"
        );
        assert_eq!(
            deployment
                .resolve(&template.resource("Good")["Value"])
                .unwrap(),
            "pb-0123456789abcdef0"
        );
    }

    #[test]
    fn unknown_parameters_and_references_are_refused() {
        let template = template(LIST);
        let err = Deployment::try_new(&template, &[("Idz", "x")])
            .err()
            .unwrap();
        assert!(
            matches!(&err, TemplateError::Parameter(text) if text.contains("[Idz] do not exist")),
            "{err}"
        );
        let deployment = Deployment::new(&template, &[]);
        let err = deployment
            .resolve(&template.resource("Unknown")["Value"])
            .unwrap_err();
        assert!(
            matches!(&err, TemplateError::Reference(text) if text.contains("Ref Nope")),
            "{err}"
        );
    }

    #[test]
    fn values_are_checked_against_their_declaration() {
        let template = template(LIST);
        for ok in [
            "",
            "pb-0123456789abcdef0",
            "pb-0123456789abcdef0,AMAZON_LINUX_2023=pb-0fedcba9876543210",
        ] {
            Deployment::try_new(&template, &[("Ids", ok)]).unwrap();
        }
        for bad in [
            "pb-1",
            "pb-0123456789abcdef0,arn:aws:ssm:x",
            "amazon=pb-0123456789abcdef0",
        ] {
            let err = Deployment::try_new(&template, &[("Ids", bad)])
                .err()
                .unwrap();
            assert!(
                matches!(&err, TemplateError::Parameter(text) if text.contains("Parameter 'Ids' must satisfy")),
                "{bad}: {err}"
            );
        }
        let err = Deployment::try_new(&template, &[("Namespace", "AWS/EC2")])
            .err()
            .unwrap();
        assert!(
            matches!(&err, TemplateError::Parameter(text) if text.contains("AllowedPattern")),
            "{err}"
        );
        let err = Deployment::try_new(&template, &[("Count", "21")])
            .err()
            .unwrap();
        assert!(
            matches!(&err, TemplateError::Parameter(text) if text.contains("MaxValue")),
            "{err}"
        );
        let err = Deployment::try_new(&template, &[("Count", "many")])
            .err()
            .unwrap();
        assert!(
            matches!(&err, TemplateError::Parameter(text) if text.contains("a number")),
            "{err}"
        );
    }

    #[test]
    fn the_real_template_resolves_and_refuses_what_cloudformation_refuses() {
        let template = Template::load();
        let parameters = [
            ("StagingWindowId", "mw-0a1b2c3d4e5f60718"),
            ("ProductionWindowId", "mw-0f1e2d3c4b5a69788"),
            ("StagingPatchGroup", "staging"),
        ];
        let mut with_bad = parameters.to_vec();
        with_bad.push(("ProductionBaselineIds", "production-baseline"));
        assert!(Deployment::try_new(&template, &with_bad).is_err());
        let mut with_bad = parameters.to_vec();
        with_bad.push(("StagingWindowId", "mw-123"));
        assert!(Deployment::try_new(&template, &with_bad).is_err());
        let deployment = Deployment::new(&template, &parameters);
        assert!(!deployment.condition("PinsBaseline1").unwrap());
    }
}
