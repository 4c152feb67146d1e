//! Conformance with AWS's published examples: for each served operation with an AWS CLI example, the
//! example's command runs through the AWS CLI against the simulator, and the output must carry every
//! member the example's output shows, with values in the spellings the service uses. The facts are in
//! `tests/conformance/*.json` (members and spellings read from the examples, not their text).

mod common;

use common::*;
use serde_json::Value;

/// The values at `path` (`Patches[].State`, `CommandInvocations[].CommandPlugins[]`, `` for the top).
fn at<'v>(value: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![value];
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, each) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        current = current
            .into_iter()
            .filter_map(|v| v.get(name))
            .flat_map(|v| {
                if each {
                    v.as_array().map(|a| a.iter().collect()).unwrap_or_default()
                } else {
                    vec![v]
                }
            })
            .collect();
    }
    current
}

#[test]
fn every_published_example_conforms() {
    let state = patch_week_state();
    let region = state.region.clone();
    let sim = start(state);
    // A staging run with one failure gives commands and invocations to ask about.
    let (status, run) = control(
        &sim,
        "POST",
        "/_sim/window-executions",
        Some(&serde_json::json!({"window_id": "mw-0c50858d01ff4a3b1"})),
    );
    assert_eq!(status, 200, "{run}");
    let instance = "i-00a00000000000001";
    let command = run["command_ids"][instance].as_str().unwrap().to_owned();
    let execution = run["window_execution_id"].as_str().unwrap().to_owned();
    let task = run["task_execution_ids"][0].as_str().unwrap().to_owned();

    for (name, kind) in [
        ("/conformance/hello", "String"),
        ("/conformance/secret", "SecureString"),
    ] {
        let (code, _, stderr) = aws_ssm(
            &sim,
            &[
                "put-parameter",
                "--name",
                name,
                "--type",
                kind,
                "--value",
                "Good day",
            ],
        );
        assert_eq!(code, 0, "{stderr}");
    }

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "conformance fixtures in {}",
        dir.display()
    );
    let mut problems = Vec::new();
    for file in &files {
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let fill = |text: &str| {
            text.replace("{instance}", instance)
                // A production instance: not patched by the staging run, so it still misses patches.
                .replace("{unpatched}", "i-00a00000000000065")
                .replace("{command}", &command)
                .replace("{execution}", &execution)
                .replace("{task}", &task)
                .replace("{window_task}", "5d1a2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7b")
                .replace("{window}", "mw-0c50858d01ff4a3b1")
                .replace("{region}", &region)
        };
        let args: Vec<String> = fixture["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| fill(a.as_str().unwrap()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // What the example's account had before the command (earlier versions, a label), made
        // through the CLI too.
        for step in fixture["setup"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let step: Vec<&str> = step
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let (code, _, stderr) = aws_ssm(&sim, &step);
            assert_eq!(code, 0, "{name}: setup {step:?}: {stderr}");
        }
        let (code, stdout, stderr) = aws_ssm(&sim, &args);
        if code != 0 {
            problems.push(format!("{name}: the CLI failed: {stderr}"));
            continue;
        }
        let output: Value = serde_json::from_str(&stdout).unwrap();
        for (path, members) in fixture["members"].as_object().unwrap() {
            let objects = at(&output, path);
            if objects.is_empty() {
                problems.push(format!("{name}: nothing at {path:?} to compare"));
            }
            for object in objects {
                for member in members.as_array().unwrap() {
                    let member = member.as_str().unwrap();
                    if object.get(member).is_none() {
                        problems.push(format!("{name}: {path:?} lacks {member}"));
                    }
                }
            }
        }
        for (path, allowed) in fixture["values"].as_object().unwrap() {
            let allowed: Vec<Value> = allowed
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    a.as_str()
                        .map_or_else(|| a.clone(), |s| Value::from(fill(s)))
                })
                .collect();
            for value in at(&output, path) {
                let matches = allowed
                    .iter()
                    .any(|a| a == value || (a.is_number() && a.as_f64() == value.as_f64()));
                if !matches {
                    problems.push(format!("{name}: {path} is {value}, not one of {allowed:?}"));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "departures from the published examples:\n{}",
        problems.join("\n")
    );
}
