//! template.yaml as data: tests read the event patterns, names and metrics it declares instead of
//! retyping them, so a test fails when the template and the code drift apart.

use serde_yaml::Value;

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub id: String,
    pub namespace: String,
    pub metric: String,
    /// (name, value) as written.
    pub dimensions: Vec<(String, String)>,
}

/// The parsed template (CloudFormation tags such as `!Ref` kept as tagged values).
pub struct Template {
    pub root: Value,
}

impl Template {
    pub fn load() -> Self {
        let path = crate::workspace_root().join("template.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        Self {
            root: serde_yaml::from_str(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display())),
        }
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        let resource = &self.root["Resources"][logical_id];
        assert!(
            !resource.is_null(),
            "template.yaml has no resource {logical_id}"
        );
        resource
    }

    /// Logical ids of the resources of one type, e.g. `AWS::Serverless::Function`.
    pub fn resources_of_type(&self, kind: &str) -> Vec<String> {
        self.root["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
            .filter_map(|(id, _)| id.as_str().map(str::to_owned))
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
            serde_json::Value::from(default.split(',').map(str::trim).collect::<Vec<_>>())
                .to_string()
        } else {
            default
        }
    }

    /// The alarms the template declares; a `!Ref X` namespace reads as `${X}`.
    pub fn alarms(&self) -> Vec<Alarm> {
        self.resources_of_type("AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|id| {
                let properties = &self.resource(&id)["Properties"];
                let namespace = match &properties["Namespace"] {
                    Value::Tagged(tagged) => {
                        format!("${{{}}}", tagged.value.as_str().unwrap_or_default())
                    }
                    other => other.as_str().unwrap_or_default().to_owned(),
                };
                let metric = properties["MetricName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let dimensions = properties["Dimensions"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        (
                            d["Name"].as_str().unwrap_or_default().to_owned(),
                            d["Value"].as_str().unwrap_or_default().to_owned(),
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

    /// The text of a `!Sub` property (the template string, placeholders unresolved).
    pub fn sub_text(&self, logical_id: &str, property: &str) -> String {
        match &self.resource(logical_id)["Properties"][property] {
            Value::Tagged(tagged) => match &tagged.value {
                Value::String(text) => text.clone(),
                Value::Sequence(items) => items[0].as_str().unwrap_or_default().to_owned(),
                other => panic!("{logical_id}.{property}: unexpected !Sub form {other:?}"),
            },
            Value::String(text) => text.clone(),
            other => panic!("{logical_id}.{property} is not a string: {other:?}"),
        }
    }

    /// The EventPattern of a function's EventBridge event source, as JSON, with `!Ref Parameter`
    /// placeholders replaced from `parameters`.
    pub fn event_pattern(
        &self,
        function: &str,
        event: &str,
        parameters: &[(&str, &str)],
    ) -> serde_json::Value {
        let pattern =
            &self.resource(function)["Properties"]["Events"][event]["Properties"]["Pattern"];
        assert!(
            !pattern.is_null(),
            "{function} has no event {event} with a Pattern"
        );
        to_json(pattern, parameters)
    }
}

/// Converts YAML to JSON, resolving `!Ref <parameter>` from `parameters` (others fail the test).
pub fn to_json(value: &Value, parameters: &[(&str, &str)]) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(flag) => serde_json::Value::Bool(*flag),
        Value::Number(number) => {
            serde_json::from_str(&number.to_string()).expect("YAML numbers are JSON numbers")
        }
        Value::String(text) => serde_json::Value::String(text.clone()),
        Value::Sequence(items) => {
            serde_json::Value::Array(items.iter().map(|item| to_json(item, parameters)).collect())
        }
        Value::Mapping(map) => serde_json::Value::Object(
            map.iter()
                .map(|(key, item)| {
                    (
                        key.as_str().expect("string keys").to_owned(),
                        to_json(item, parameters),
                    )
                })
                .collect(),
        ),
        Value::Tagged(tagged) => {
            let name = tagged.value.as_str().unwrap_or_default();
            match (
                tagged.tag.to_string().as_str(),
                parameters.iter().find(|(key, _)| *key == name),
            ) {
                // A list parameter arrives as JSON array text and becomes the list CloudFormation passes.
                ("!Ref", Some((_, value))) if value.starts_with('[') => {
                    serde_json::from_str(value).expect("a JSON array for a list parameter")
                }
                ("!Ref", Some((_, value))) => serde_json::Value::String((*value).to_owned()),
                (tag, _) => panic!(
                    "cannot resolve {tag} {name} in an event pattern; pass it as a parameter"
                ),
            }
        }
    }
}

/// What `!Ref` and `!GetAtt` resolve to in a local deployment: parameter values (the template's
/// defaults unless overridden) and the physical names of resources created locally.
pub struct Deployment<'a> {
    pub template: &'a Template,
    pub parameters: std::collections::BTreeMap<String, String>,
    /// Logical id (or `Id.Attribute` for `!GetAtt`) → physical value.
    pub resources: std::collections::BTreeMap<String, String>,
}

impl<'a> Deployment<'a> {
    /// Parameters from the template's defaults, overridden by `overrides`.
    pub fn new(template: &'a Template, overrides: &[(&str, &str)]) -> Self {
        let mut parameters = std::collections::BTreeMap::new();
        for (name, parameter) in template.root["Parameters"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default().to_owned();
            let default = match &parameter["Default"] {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                Value::Bool(flag) => Some(flag.to_string()),
                _ => None,
            };
            if let Some(default) = default {
                parameters.insert(name, default);
            }
        }
        for (name, value) in overrides {
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            template,
            parameters,
            resources: Default::default(),
        }
    }

    fn is_list_parameter(&self, name: &str) -> bool {
        self.template.root["Parameters"][name]["Type"].as_str() == Some("CommaDelimitedList")
    }

    fn condition(&self, name: &str) -> Result<bool, String> {
        let condition = &self.template.root["Conditions"][name];
        match self.resolve(condition)? {
            serde_json::Value::Bool(flag) => Ok(flag),
            other => Err(format!("condition {name} resolved to {other}")),
        }
    }

    /// Resolves a template value: `!Ref`, `!GetAtt`, `!Join`, `!If`, `!Not`, `!Equals`, `!Sub`.
    pub fn resolve(&self, value: &Value) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match value {
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let inner = &tagged.value;
                match tag.as_str() {
                    "!Ref" => {
                        let name = inner.as_str().unwrap_or_default();
                        if let Some(value) = self.parameters.get(name) {
                            if self.is_list_parameter(name) {
                                J::from(
                                    value
                                        .split(',')
                                        .map(str::trim)
                                        .filter(|v| !v.is_empty())
                                        .collect::<Vec<_>>(),
                                )
                            } else {
                                J::String(value.clone())
                            }
                        } else if let Some(value) = self.resources.get(name) {
                            J::String(value.clone())
                        } else if name == "AWS::Region" {
                            J::String(crate::REGION.to_owned())
                        } else if name == "AWS::NoValue" {
                            J::Null
                        } else {
                            return Err(format!("!Ref {name}: no parameter or local resource"));
                        }
                    }
                    "!GetAtt" => {
                        let name = inner.as_str().map(str::to_owned).unwrap_or_else(|| {
                            inner
                                .as_sequence()
                                .map(|parts| {
                                    parts
                                        .iter()
                                        .filter_map(|p| p.as_str())
                                        .collect::<Vec<_>>()
                                        .join(".")
                                })
                                .unwrap_or_default()
                        });
                        J::String(
                            self.resources
                                .get(&name)
                                .cloned()
                                .ok_or_else(|| format!("!GetAtt {name}: no local resource"))?,
                        )
                    }
                    "!Join" => {
                        let parts = inner.as_sequence().ok_or("!Join takes a list")?;
                        let separator = self.resolve(&parts[0])?;
                        let items = self.resolve(&parts[1])?;
                        let texts: Vec<String> = items
                            .as_array()
                            .ok_or("!Join joins a list")?
                            .iter()
                            .map(|item| item.as_str().unwrap_or_default().to_owned())
                            .collect();
                        J::String(texts.join(separator.as_str().unwrap_or_default()))
                    }
                    "!If" => {
                        let parts = inner.as_sequence().ok_or("!If takes a list")?;
                        let chosen = if self.condition(parts[0].as_str().unwrap_or_default())? {
                            &parts[1]
                        } else {
                            &parts[2]
                        };
                        self.resolve(chosen)?
                    }
                    "!Not" => {
                        let parts = inner.as_sequence().ok_or("!Not takes a list")?;
                        J::Bool(!self.resolve(&parts[0])?.as_bool().unwrap_or(false))
                    }
                    "!Equals" => {
                        let parts = inner.as_sequence().ok_or("!Equals takes a list")?;
                        J::Bool(self.resolve(&parts[0])? == self.resolve(&parts[1])?)
                    }
                    "!Sub" => {
                        let mut text = inner
                            .as_str()
                            .ok_or("only the string form of !Sub")?
                            .to_owned();
                        for (name, value) in self.parameters.iter().chain(self.resources.iter()) {
                            text = text.replace(&format!("${{{name}}}"), value);
                        }
                        J::String(text)
                    }
                    other => return Err(format!("{other} is not resolved locally")),
                }
            }
            Value::Sequence(items) => J::Array(
                items
                    .iter()
                    .map(|i| self.resolve(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Mapping(map) => J::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.as_str().unwrap_or_default().to_owned(), self.resolve(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::String(text) => J::String(text.clone()),
            Value::Number(number) => serde_json::from_str(&number.to_string()).unwrap_or(J::Null),
            Value::Bool(flag) => J::Bool(*flag),
            Value::Null => J::Null,
        })
    }

    /// A function's environment as Lambda would set it: Globals first, then the function's own.
    pub fn environment(&self, function: &str) -> Result<Vec<(String, String)>, String> {
        let mut variables = std::collections::BTreeMap::new();
        for source in [
            &self.template.root["Globals"]["Function"]["Environment"]["Variables"],
            &self.template.resource(function)["Properties"]["Environment"]["Variables"],
        ] {
            for (name, value) in source.as_mapping().into_iter().flatten() {
                let resolved = self.resolve(value)?;
                let text = match resolved {
                    serde_json::Value::String(text) => text,
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                variables.insert(name.as_str().unwrap_or_default().to_owned(), text);
            }
        }
        Ok(variables.into_iter().collect())
    }

    /// The function's EventBridge rules: (event name, pattern as JSON).
    pub fn rules(&self, function: &str) -> Result<Vec<(String, serde_json::Value)>, String> {
        let mut rules = Vec::new();
        let events = &self.template.resource(function)["Properties"]["Events"];
        for (name, event) in events.as_mapping().into_iter().flatten() {
            if event["Type"].as_str() == Some("EventBridgeRule") {
                rules.push((
                    name.as_str().unwrap_or_default().to_owned(),
                    self.resolve(&event["Properties"]["Pattern"])?,
                ));
            }
        }
        Ok(rules)
    }
}
