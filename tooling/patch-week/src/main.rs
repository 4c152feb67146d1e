//! `patch-week`: plays a patch week on a local fleet with the functions that exist so far, and prints
//! the evidence at each step. Real code throughout: LocalStack EC2, the SSM simulator, and the
//! functions' own handlers. Exits non-zero when a step's evidence is missing.
//!
//! Today: instances launch and patch-group-tagger puts each in its patch group (a human's tag
//! survives; an instance with metadata tags gets `PatchGroup`); the staging window runs in the
//! simulator with failing installs; the per-group compliance and failed patches are read back through
//! the SSM API. The gate, alerts and snapshot steps join as those functions land.

use std::collections::BTreeMap;
use std::process::ExitCode;

use aws_sdk_ec2::types::{
    InstanceMetadataOptionsRequest, InstanceMetadataTagsState, InstanceType, ResourceType, Tag,
    TagSpecification,
};
use clap::Parser;
use patch_group_tagger::config::TaggerConfig;
use patch_group_tagger::decide::Action;
use patch_group_tagger::{Clients, Output, Tagger};
use patchpilot_test_support::ssm_sim::scenario::Scenario;
use patchpilot_test_support::ssm_sim::state::{Instance, InstancePatch, PatchCounts, PatchState};
use patchpilot_test_support::{LocalAws, Simulator, workspace_root};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Play a simulated patch week locally and show what happened and why")]
struct Args {
    /// Instances in the fleet (split between the staging and production patch groups).
    #[arg(long, default_value_t = 50)]
    fleet: usize,
    /// Seed for which staging installs fail.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Installs that fail in the staging window.
    #[arg(long, default_value_t = 2)]
    failures: usize,
}

const STAGING_WINDOW: &str = "mw-0c50858d01ff4a3b1";
const RULES: &str = r#"[
  {"name": "eks-nodes", "skip": true, "match": {"tag_present": ["eks:cluster-name"]}},
  {"name": "staging", "patch_group": "staging", "match": {"tags": {"Environment": "staging"}}},
  {"name": "production", "patch_group": "production", "match": {"tags": {"Environment": "production"}}}
]"#;

struct Evidence {
    rows: Vec<(String, bool, String)>,
}

impl Evidence {
    fn check(&mut self, step: &str, ok: bool, detail: String) {
        println!("   {} {step}: {detail}", if ok { "✔" } else { "✘" });
        self.rows.push((step.to_owned(), ok, detail));
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("patch-week: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<bool, String> {
    let mut evidence = Evidence { rows: Vec::new() };
    println!(
        "patchpilot patch week: fleet of {} instances, seed {}\n",
        args.fleet, args.seed
    );

    println!("0. Local AWS: LocalStack (EC2) and the SSM simulator");
    let aws = LocalAws::shared();
    let config = aws.isolated_sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let scenario_path = workspace_root().join("tooling/ssm-sim/scenarios/patch-week.json");
    let text = std::fs::read_to_string(&scenario_path)
        .map_err(|err| format!("{}: {err}", scenario_path.display()))?;
    let mut state = Scenario::from_json(&text)
        .and_then(Scenario::into_state)
        .map_err(|err| err.to_string())?;
    state.instances.clear();
    println!(
        "   LocalStack at {}; scenario {}",
        aws.localstack_url,
        scenario_path.display()
    );

    println!("\n1. Instances launch; patch-group-tagger puts each in its patch group");
    let half = args.fleet / 2;
    let mut launched: Vec<(String, &str)> = Vec::new();
    for (environment, count) in [("staging", half), ("production", args.fleet - half)] {
        let special = usize::from(count > 2) * 2;
        launched.extend(
            launch(
                &ec2,
                count - special,
                &[("Environment", environment)],
                false,
            )
            .await?
            .into_iter()
            .map(|id| (id, environment)),
        );
        if special > 0 {
            let human = launch(
                &ec2,
                1,
                &[("Environment", environment), ("Patch Group", environment)],
                false,
            )
            .await?;
            let metadata = launch(&ec2, 1, &[("Environment", environment)], true).await?;
            launched.extend(
                human
                    .into_iter()
                    .chain(metadata)
                    .map(|id| (id, environment)),
            );
        }
    }
    let env: std::collections::HashMap<&str, &str> = [("TAG_RULES", RULES)].into_iter().collect();
    let tagger_config = TaggerConfig::from_env(&env).map_err(|err| err.to_string())?;
    let sim = Simulator::start(state.clone());
    let tagger = Tagger::new(
        Clients {
            ec2: ec2.clone(),
            ssm: sim.client().await,
        },
        tagger_config,
    )
    .await
    .map_err(|err| err.to_string())?;
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    for (id, _) in &launched {
        let event = json!({"version": "0", "id": "e", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
            "account": "111122223333", "time": "2026-11-26T09:14:02Z", "region": "eu-west-1", "resources": [],
            "detail": {"instance-id": id, "state": "running"}});
        let Output::Instance { decision } =
            tagger.handle(event).await.map_err(|err| err.to_string())?
        else {
            return Err("the tagger answered a launch event with a backfill".into());
        };
        *actions.entry(format!("{:?}", decision.action)).or_default() += 1;
        if let (Some(key), Some(group)) = (&decision.tag_key, &decision.patch_group) {
            *keys.entry(key.clone()).or_default() += 1;
            groups.insert(id.clone(), group.clone());
        }
    }
    println!("   decisions: {actions:?}; tag keys: {keys:?}");
    let tagged = actions
        .get(&format!("{:?}", Action::Tagged))
        .copied()
        .unwrap_or_default();
    let kept = actions
        .get(&format!("{:?}", Action::AlreadyTagged))
        .copied()
        .unwrap_or_default();
    evidence.check(
        "tagger",
        tagged + kept == launched.len() && keys.contains_key("PatchGroup"),
        format!(
            "{tagged} tagged, {kept} human tags kept, PatchGroup key used {} times",
            keys.get("PatchGroup").copied().unwrap_or_default()
        ),
    );

    println!("\n2. The staging window runs; some installs fail");
    let catalog = state.catalog.clone();
    let mut sim_state = state;
    for (id, group) in &groups {
        let patches: Vec<InstancePatch> = (0..catalog.len() as u32)
            .map(|patch| InstancePatch {
                patch,
                state: PatchState::Missing,
                installed_time: None,
            })
            .collect();
        let counts = PatchCounts::derive(&patches, &catalog);
        sim_state.instances.insert(
            id.clone(),
            Instance {
                id: id.clone(),
                name: Some(format!("{group}-{}", &id[id.len() - 4..])),
                platform_type: "Linux".into(),
                platform_name: "Amazon Linux".into(),
                platform_version: "2023".into(),
                operating_system: "AMAZON_LINUX_2023".into(),
                patch_group: Some(group.clone()),
                ping_status: "Online".into(),
                agent_version: "3.3.1142.0".into(),
                ip_address: "10.0.0.1".into(),
                computer_name: format!("{id}.internal"),
                last_ping: chrono_now(),
                tags: Default::default(),
                patches,
                report: None,
                counts,
            },
        );
    }
    sim_state.reindex_groups();
    drop(sim);
    let sim = Simulator::start(sim_state);
    let staging: Vec<&String> = groups
        .iter()
        .filter(|(_, g)| g.as_str() == "staging")
        .map(|(id, _)| id)
        .collect();
    let mut rng_pick = args.seed as usize;
    let mut outcomes = serde_json::Map::new();
    for _ in 0..args.failures.min(staging.len()) {
        rng_pick = (rng_pick * 31 + 17) % staging.len();
        outcomes.insert(
            staging[rng_pick].clone(),
            json!({"status": "Failed", "failed_patches": [catalog[1].id]}),
        );
    }
    let run = control(
        &sim.sim.url,
        "/_sim/window-executions",
        &json!({"window_id": STAGING_WINDOW, "outcomes": outcomes}),
    )?;
    let events = run["events"].as_array().cloned().unwrap_or_default();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        patchpilot_shared::events::Event::parse(event.clone()).map_err(|err| err.to_string())?;
        *kinds
            .entry(event["detail-type"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    println!(
        "   window execution {} ended {}; events AWS would send: {kinds:?}",
        run["window_execution_id"], run["status"]
    );
    evidence.check(
        "staging window",
        run["status"] == "FAILED" && !events.is_empty(),
        format!("status {}, {} events", run["status"], events.len()),
    );

    println!("\n3. Compliance, read back through the SSM API");
    let ssm = sim.client().await;
    for group in ["staging", "production"] {
        let state = ssm
            .describe_patch_group_state()
            .patch_group(group)
            .send()
            .await
            .map_err(|err| err.to_string())?;
        println!(
            "   {group}: {} reporting, {} with failed patches, {} with missing patches",
            state.instances(),
            state.instances_with_failed_patches(),
            state.instances_with_missing_patches()
        );
    }
    let mut failed_seen = 0;
    for id in outcomes.keys() {
        let patches = ssm
            .describe_instance_patches()
            .instance_id(id)
            .filters(
                aws_sdk_ssm::types::PatchOrchestratorFilter::builder()
                    .key("State")
                    .values("FAILED")
                    .build(),
            )
            .send()
            .await
            .map_err(|err| err.to_string())?;
        for patch in patches.patches() {
            failed_seen += 1;
            println!("   {id}: {} ({}) FAILED", patch.title(), patch.kb_id());
        }
    }
    evidence.check(
        "failed patches",
        failed_seen == outcomes.len(),
        format!(
            "{failed_seen} failed patches found on {} failing instances",
            outcomes.len()
        ),
    );
    println!(
        "\n   Next steps land with their issues: install-alerts pages on these failures, compliance-snapshot publishes"
    );
    println!("   the metrics, patch-gate keeps production closed until staging runs clean.");

    println!("\nSummary");
    for (step, ok, detail) in &evidence.rows {
        println!(
            "   {:<16} {:<4} {detail}",
            step,
            if *ok { "ok" } else { "MISSING" }
        );
    }
    Ok(evidence.rows.iter().all(|(_, ok, _)| *ok))
}

fn chrono_now() -> patchpilot_test_support::ssm_sim::state::DateTimeUtc {
    patchpilot_test_support::ssm_sim::state::now()
}

async fn launch(
    ec2: &aws_sdk_ec2::Client,
    count: usize,
    tags: &[(&str, &str)],
    metadata_tags: bool,
) -> Result<Vec<String>, String> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (key, value) in tags {
        spec = spec.tags(Tag::builder().key(*key).value(*value).build());
    }
    let mut request = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::T3Micro)
        .min_count(count as i32)
        .max_count(count as i32)
        .tag_specifications(spec.build());
    if metadata_tags {
        request = request.metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .instance_metadata_tags(InstanceMetadataTagsState::Enabled)
                .build(),
        );
    }
    let output = request
        .send()
        .await
        .map_err(|err| format!("ec2:RunInstances: {err:?}"))?;
    Ok(output
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect())
}

fn control(base: &str, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("{base}{path}"))
        .send(body.to_string())
        .map_err(|err| err.to_string())?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    if !response.status().is_success() {
        return Err(format!("{path}: {text}"));
    }
    serde_json::from_str(&text).map_err(|err| err.to_string())
}
