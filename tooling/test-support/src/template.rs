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
