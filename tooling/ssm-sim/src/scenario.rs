//! The scenario file: a documented, versioned JSON description of a simulated account.
//! The format is documented in docs/simulator.md; `scenarios/` holds examples.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::state::{
    Baseline, Command, Instance, InstancePatch, Parameter, PatchCounts, PatchInfo, PatchReport,
    PatchState, Secret, State, Window, WindowExecution,
};

/// The only format this version reads.
pub const FORMAT: &str = "patchpilot-ssm-sim/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Must be `patchpilot-ssm-sim/v1`.
    pub format: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// The patch catalog every instance's patches refer to.
    #[serde(default)]
    pub patches: Vec<PatchInfo>,
    #[serde(default)]
    pub instances: Vec<ScenarioInstance>,
    #[serde(default)]
    pub baselines: Vec<Baseline>,
    #[serde(default)]
    pub windows: Vec<Window>,
    #[serde(default)]
    pub executions: Vec<WindowExecution>,
    #[serde(default)]
    pub commands: Vec<Command>,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// Secrets Manager secrets, read through Parameter Store's `/aws/reference/secretsmanager/`.
    #[serde(default)]
    pub secrets: Vec<Secret>,
}

fn default_account() -> String {
    "111122223333".to_owned()
}
fn default_region() -> String {
    "eu-west-1".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInstance {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `Linux`, `Windows` or `MacOS`.
    #[serde(default = "linux")]
    pub platform_type: String,
    #[serde(default = "amazon_linux")]
    pub platform_name: String,
    #[serde(default = "al2023")]
    pub platform_version: String,
    #[serde(default = "al2023_os")]
    pub operating_system: String,
    #[serde(default)]
    pub patch_group: Option<String>,
    #[serde(default = "online")]
    pub ping_status: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub patches: Vec<ScenarioPatch>,
    /// The last patch operation; leave out for an instance that never reported.
    #[serde(default)]
    pub report: Option<PatchReport>,
}

fn linux() -> String {
    "Linux".to_owned()
}
fn amazon_linux() -> String {
    "Amazon Linux".to_owned()
}
fn al2023() -> String {
    "2023".to_owned()
}
fn al2023_os() -> String {
    "AMAZON_LINUX_2023".to_owned()
}
fn online() -> String {
    "Online".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioPatch {
    /// A catalog patch id.
    pub id: String,
    pub state: PatchState,
    #[serde(default)]
    pub installed_time: Option<DateTime<Utc>>,
}

/// A scenario that cannot be loaded, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("scenario format {found:?} is not supported; expected {FORMAT:?}")]
    Format { found: String },
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = serde_json::from_str(text)?;
        if scenario.format != FORMAT {
            return Err(ScenarioError::Format {
                found: scenario.format,
            });
        }
        Ok(scenario)
    }

    /// Builds the simulator state, checking every cross-reference.
    pub fn into_state(self) -> Result<State, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid(message);
        let mut state = State {
            account: self.account,
            region: self.region,
            ..State::default()
        };
        let mut index = HashMap::new();
        for (position, patch) in self.patches.into_iter().enumerate() {
            if index.insert(patch.id.clone(), position as u32).is_some() {
                return Err(invalid(format!("patch {} is listed twice", patch.id)));
            }
            state.catalog.push(patch);
        }
        state.catalog_index = index;
        let now = Utc::now();
        for item in self.instances {
            let mut patches = Vec::with_capacity(item.patches.len());
            for patch in &item.patches {
                let Some(&position) = state.catalog_index.get(&patch.id) else {
                    return Err(invalid(format!(
                        "instance {}: patch {} is not in the catalog",
                        item.id, patch.id
                    )));
                };
                patches.push(InstancePatch {
                    patch: position,
                    state: patch.state,
                    installed_time: patch.installed_time,
                });
            }
            let counts = PatchCounts::derive(&patches, &state.catalog);
            let instance = Instance {
                name: item.name,
                ip_address: synthetic_ip(state.instances.len()),
                computer_name: format!("{}.internal", item.id),
                platform_type: item.platform_type,
                platform_name: item.platform_name,
                platform_version: item.platform_version,
                operating_system: item.operating_system,
                patch_group: item.patch_group,
                ping_status: item.ping_status,
                agent_version: "3.3.1142.0".to_owned(),
                last_ping: now,
                tags: item.tags,
                patches,
                report: item.report,
                counts,
                id: item.id,
            };
            if state
                .instances
                .insert(instance.id.clone(), instance)
                .is_some()
            {
                return Err(invalid("an instance id is listed twice".to_owned()));
            }
        }
        for baseline in self.baselines {
            state.baselines.insert(baseline.id.clone(), baseline);
        }
        for window in self.windows {
            state.windows.insert(window.id.clone(), window);
        }
        for execution in self.executions {
            if !state.windows.contains_key(&execution.window_id) {
                return Err(invalid(format!(
                    "execution {}: window {} is not defined",
                    execution.id, execution.window_id
                )));
            }
            state.executions.insert(execution.id.clone(), execution);
        }
        for command in self.commands {
            state.commands.insert(command.id.clone(), command);
        }
        for parameter in self.parameters {
            state.insert_parameter(parameter);
        }
        for secret in self.secrets {
            state.secrets.insert(secret.name.clone(), secret);
        }
        state.reindex_groups();
        state.recount_all();
        Ok(state)
    }
}

/// A private address per instance, stable for a given position.
pub fn synthetic_ip(position: usize) -> String {
    format!(
        "10.{}.{}.{}",
        (position >> 16) & 0xff,
        (position >> 8) & 0xff,
        position & 0xff
    )
}
