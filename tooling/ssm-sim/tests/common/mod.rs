//! Helpers shared by the simulator's integration tests: a running simulator, a real aws-sdk-ssm client
//! pointed at it, and a raw awsJson1_1 caller for what the SDK hides (status codes, raw bodies).
#![allow(dead_code)]

use std::path::PathBuf;

use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;
use ssm_sim::Background;
use ssm_sim::faults::FaultSettings;
use ssm_sim::generate::{GenerateOptions, generate};
use ssm_sim::scenario::Scenario;
use ssm_sim::state::State;

pub fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

pub fn patch_week_state() -> State {
    let text = std::fs::read_to_string(scenario_path("patch-week.json")).unwrap();
    Scenario::from_json(&text).unwrap().into_state().unwrap()
}

pub fn generated(instances: usize, groups: usize) -> State {
    generate(&GenerateOptions {
        instances,
        groups,
        seed: 42,
        ..GenerateOptions::default()
    })
}

pub fn start(state: State) -> Background {
    Background::start(state, FaultSettings::default()).expect("simulator starts")
}

/// A real SDK client, retries off so faults surface as they are.
pub fn client(sim: &Background) -> aws_sdk_ssm::Client {
    client_with_attempts(sim, 1)
}

pub fn client_with_attempts(sim: &Background, attempts: u32) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(&sim.url)
        .retry_config(
            aws_sdk_ssm::config::retry::RetryConfig::standard().with_max_attempts(attempts),
        )
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs an awsJson1_1 request; returns (HTTP status, parsed body).
pub fn raw(sim: &Background, operation: &str, body: &Value) -> (u16, Value) {
    raw_text(sim, &format!("AmazonSSM.{operation}"), &body.to_string())
}

pub fn raw_text(sim: &Background, target: &str, body: &str) -> (u16, Value) {
    let mut response = agent()
        .post(format!("{}/", sim.url))
        .header("X-Amz-Target", target)
        .header("Content-Type", "application/x-amz-json-1.1")
        .send(body)
        .expect("request reaches the simulator");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Calls the control endpoint.
pub fn control(sim: &Background, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let url = format!("{}{path}", sim.url);
    let agent = agent();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("POST", Some(body)) => agent.post(&url).send(body.to_string()),
        ("POST", None) => agent.post(&url).send_empty(),
        ("PUT", Some(body)) => agent.put(&url).send(body.to_string()),
        _ => panic!("unsupported control call {method} {path}"),
    }
    .expect("control request reaches the simulator");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The AWS CLI: `PATCHPILOT_AWS_CLI`, else the one tooling/setup.sh installs, else `aws` on PATH.
pub fn aws_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("PATCHPILOT_AWS_CLI") {
        return PathBuf::from(path);
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/awscli/bin/aws");
    if installed.exists() {
        return installed;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("aws"))
        .find(|candidate| candidate.exists());
    on_path.unwrap_or_else(|| {
        panic!("the AWS CLI is not installed: run tooling/setup.sh (or set PATCHPILOT_AWS_CLI)")
    })
}

/// Runs `aws ssm <args>` against the simulator; returns (exit code, stdout, stderr).
pub fn aws_ssm(sim: &Background, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(aws_cli())
        .arg("ssm")
        .args(args)
        .args([
            "--endpoint-url",
            &sim.url,
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The state the simulator holds for `patch` (a catalog id) on `instance`, as `PatchState::as_str`
/// spells it (`NotApproved` for one it neither reports nor installs).
pub fn patch_state(sim: &Background, instance: &str, patch: &str) -> &'static str {
    let state = sim.app.state.read().unwrap();
    let index = state.catalog_index[patch];
    state.instances[instance]
        .patches
        .iter()
        .find(|p| p.patch == index)
        .map(|p| p.state.as_str())
        .unwrap()
}
