//! The patch week: a fleet launches, the staging window fails on some instances, alerts page, the
//! snapshot publishes and the compliance alarm fires, the gate keeps production closed; the failure is
//! fixed, staging runs clean, the gate opens production and pins its baseline; production runs and the
//! fleet is compliant. Everything flows as in an account: events through EventBridge rules made from
//! template.yaml, into the functions' binaries under the Lambda Runtime API, acting on LocalStack,
//! moto and the SSM simulator. Each step prints its evidence; the report says what was missing.

mod brake;
mod error;
pub mod evidence;
mod fleet;
pub mod iam_check;
mod kept;
mod log_level;
mod messy;
mod operator;
mod promotion;
mod rerun;
mod sunday;
mod thursday;
pub mod world;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    Filter, InstanceMetadataOptionsRequest, InstanceMetadataTagsState, InstanceType, ResourceType,
    Tag, TagSpecification,
};
use chrono::{DateTime, Utc};
use patchpilot_test_support::ssm_sim::run::{InstanceOutcome, RunRequest, run_window};
use patchpilot_test_support::ssm_sim::scenario::Scenario;
use patchpilot_test_support::ssm_sim::state::{
    Instance, InstancePatch, PatchCounts, PatchReport, PatchState, State,
};
use patchpilot_test_support::workspace_root;
use serde_json::{Value, json};

pub use crate::error::{Call, WeekError};
pub use crate::evidence::Evidence;
use crate::world::World;

/// How long the week waits for the functions to go quiet after it sends events.
pub(crate) const SETTLE: Duration = Duration::from_secs(120);

pub const STAGING_WINDOW: &str = "mw-0c50858d01ff4a3b1";
pub const PRODUCTION_WINDOW: &str = "mw-0d61969e12ee5b4c2";
pub const PRODUCTION_BASELINE: &str = "pb-0c10000000000000b";
pub const NAMESPACE: &str = "PatchCompliance";
/// The gate's brake alarm, as template.yaml names it for a stack called `patchpilot`.
pub const BRAKE_ALARM: &str = "patchpilot-gate-closed";
/// The application log level the week deploys with.
pub const LOG_LEVEL: &str = "WARN";
/// The tagger's rules live in Parameter Store, as a deployment that changes them without a redeploy
/// keeps them.
pub const RULES_PARAMETER: &str = "/patchpilot/tag-rules";
const RULES: &str = r#"[{"name":"eks-nodes","skip":true,"match":{"tag_present":["eks:cluster-name"]}},{"name":"staging","patch_group":"staging","match":{"tags":{"Environment":"staging"}}},{"name":"production","patch_group":"production","match":{"tags":{"Environment":"production"}}}]"#;

#[derive(Debug, Clone)]
pub struct Options {
    /// Instances in the fleet, half staging, half production (at least 8).
    pub fleet: usize,
    /// Seeds which staging installs fail.
    pub seed: u64,
    /// Staging installs that fail in the first run.
    pub failures: usize,
    /// Where the four functions' binaries are.
    pub bin_dir: PathBuf,
    /// Storm threshold for install-alerts.
    pub storm_threshold: usize,
    /// Print the narrative as it happens.
    pub verbose: bool,
    /// Leave the services running (until Ctrl-C) for exploration with the AWS CLI.
    pub keep: bool,
}

/// One step's evidence.
#[derive(Debug, Clone)]
pub struct Row {
    pub step: Evidence,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub init_times: BTreeMap<String, Duration>,
    pub elapsed: Duration,
    /// The operator's first five minutes with the kept week, as a shell shows them: `--keep`, the
    /// exports, then `patchpilot status`, `compliance`, `doctor` (the real binary, with only those
    /// exports) and the week's own `gate approve`. The README carries it; a test keeps them equal.
    pub transcript: Vec<String>,
    /// Step 5b's approval, as typed and as answered, for the transcript.
    pub(crate) approval: Option<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|row| row.ok)
    }
}

struct Narrator {
    verbose: bool,
    report: Report,
}

impl Narrator {
    fn say(&self, text: impl AsRef<str>) {
        if self.verbose {
            println!("{}", text.as_ref());
        }
    }

    fn check(&mut self, step: Evidence, ok: bool, detail: String) {
        self.say(format!(
            "   {} {step}: {detail}",
            if ok { "✔" } else { "✘" }
        ));
        self.report.rows.push(Row { step, ok, detail });
    }
}

/// A transcript with what changes from run to run made constant, for comparing two of them: ids,
/// ports, times, ages, every number and the length of a trend. The words, the lines and their order must stay the same.
pub fn normalise_transcript(text: &str) -> String {
    // Ages come in their own units (`45 s ago`, `1 min ago`): the unit changes with the timing too.
    let replacements = [
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "<uuid>",
        ),
        (r"\bi-[0-9a-f]{8,17}\b", "i-<id>"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
        (r"/tmp/[^\s']+", "<tmp>"),
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( UTC|Z|\+00:00)?",
            "<time>",
        ),
        (r"\d{4}-\d{2}-\d{2}", "<date>"),
        (r"\b\d+ (s|min|h|d)( \d+ (min|h))? (ago|old)\b", "<age> $4"),
        (r"\b\d+(\.\d+)?\b", "N"),
        // A compliance trend has as many points as snapshots fell in distinct minutes of the run.
        (r"N(?: → N)+", "N → … → N"),
    ];
    let mut text = text.to_owned();
    for (pattern, with) in replacements {
        let pattern = regex::Regex::new(pattern).expect("a valid pattern");
        text = pattern.replace_all(&text, with).into_owned();
    }
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

pub(crate) fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Two patches released on the boundary day of the staging run at `run` (ApproveAfterDays 2): one
/// just before run − 2 days (staging approves it; production's whole-day cutoff holds it back) and
/// one just after (staging does not approve it; the old date-only cutoff would have let production
/// install it untested). Added to every Amazon Linux instance as not yet approved. Returns (id, release, approved
/// by staging at the run).
fn release_on_the_boundary_day(
    world: &World,
    run: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, bool)>, WeekError> {
    use patchpilot_test_support::ssm_sim::state::PatchInfo;
    let edge = run - chrono::Duration::days(2);
    let midnight = edge
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .ok_or_else(|| WeekError::Account("midnight".to_owned()))?
        .and_utc();
    let since_midnight = edge - midnight;
    let until_next = midnight + chrono::Duration::days(1) - edge;
    let half = |span: chrono::Duration| span.min(chrono::Duration::minutes(60)) / 2;
    let mut patches = vec![("tzdata.noarch", edge - half(since_midnight), true)];
    let after = edge + half(until_next) + chrono::Duration::seconds(1);
    if after.date_naive() == edge.date_naive() {
        patches.push(("sudo.x86_64", after, false));
    }
    let mut state = world.sim_state_mut()?;
    let mut out = Vec::new();
    for (id, released, approved) in patches {
        let index = state.catalog.len() as u32;
        state.catalog.push(PatchInfo {
            id: id.to_owned(),
            title: format!("{id}:0:2026.1-1.amzn2023"),
            classification: "Security".into(),
            severity: "Critical".into(),
            compliance_level: "CRITICAL".into(),
            cve_ids: None,
            release_date: Some(released),
            repository: None,
        });
        state.catalog_index.insert(id.to_owned(), index);
        // Amazon Linux packages: on the Amazon Linux instances only.
        let ids: Vec<String> = state
            .instances
            .values()
            .filter(|instance| instance.operating_system == "AMAZON_LINUX_2023")
            .map(|instance| instance.id.clone())
            .collect();
        for instance in &ids {
            if let Some(found) = state.instances.get_mut(instance) {
                found.patches.push(InstancePatch {
                    patch: index,
                    state: PatchState::NotApproved,
                    installed_time: None,
                });
            }
            state.recount(instance);
        }
        out.push((id.to_owned(), released, approved));
    }
    Ok(out)
}

/// Which boundary patches are installed on some staging instance, and on some production instance.
fn boundary_installs(
    world: &World,
    boundary: &[(String, DateTime<Utc>, bool)],
) -> Result<(Vec<String>, Vec<String>), WeekError> {
    let state = world.sim_state()?;
    let installed_in = |group: &str| -> Vec<String> {
        boundary
            .iter()
            .filter(|(id, _, _)| {
                let Some(index) = state.catalog_index.get(id) else {
                    return false;
                };
                state.instances.values().any(|instance| {
                    instance.patch_group.as_deref() == Some(group)
                        && instance.patches.iter().any(|p| {
                            p.patch == *index
                                && matches!(
                                    p.state,
                                    PatchState::Installed | PatchState::InstalledOther
                                )
                        })
                })
            })
            .map(|(id, _, _)| id.clone())
            .collect()
    };
    Ok((installed_in("staging"), installed_in("production")))
}

/// `name n, name n` for a count table.
fn counts(table: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = table.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A percentage as people read it: `24.5 %`, or `n/a` when there is none.
pub fn percent(value: Option<f64>) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.1} %"),
        _ => "n/a".to_owned(),
    }
}

pub fn scenario() -> Result<State, WeekError> {
    let path = workspace_root().join("tooling/ssm-sim/scenarios/patch-week.json");
    let text = std::fs::read_to_string(&path).map_err(WeekError::file(path.display()))?;
    let mut state = Scenario::from_json(&text)
        .and_then(Scenario::into_state)
        .map_err(|err| WeekError::Setup(err.to_string()))?;
    // The fleet comes from EC2 launches below.
    state.instances.clear();
    state.reindex_groups();
    Ok(state)
}

/// Plays the week. Services and functions stop when it returns.
pub async fn play(options: &Options) -> Result<Report, WeekError> {
    let started = Instant::now();
    let mut n = Narrator {
        verbose: options.verbose,
        report: Report::default(),
    };
    let log_dir = std::env::temp_dir().join(format!("patchpilot-week-{}", std::process::id()));
    n.say("0. A local account: LocalStack, moto, the SSM simulator; template.yaml's resources and rules; the four functions under the Lambda Runtime API");
    let staging_threshold = options.storm_threshold.to_string();
    let parameters = [
        ("StagingWindowId", STAGING_WINDOW),
        ("ProductionWindowId", PRODUCTION_WINDOW),
        ("StagingPatchGroup", "staging"),
        ("ProductionBaselineIds", PRODUCTION_BASELINE),
        ("TagRulesParameter", RULES_PARAMETER),
        ("HealthAlarmPrefix", "staging-health-"),
        ("MetricNamespace", NAMESPACE),
        ("AlertStormThreshold", staging_threshold.as_str()),
        ("DryRun", "false"),
        // Quiet logs, as many teams run: the metric lines the alarms read must survive the filter.
        ("LogLevel", LOG_LEVEL),
    ];
    let mut state = scenario()?;
    state.insert_parameter(patchpilot_test_support::ssm_sim::state::Parameter {
        description: Some("patch-group-tagger rules".to_owned()),
        ..patchpilot_test_support::ssm_sim::state::Parameter::new(RULES_PARAMETER, "String", RULES)
    });
    let world = World::start(state, &options.bin_dir, &parameters, &log_dir).await?;
    n.say(format!(
        "   LocalStack {}, moto {}, simulator {}; function logs in {}",
        world.aws.localstack_url,
        world.aws.dynamodb_url,
        world.sim.url,
        log_dir.display()
    ));
    for (rule, pattern) in &world.rules {
        n.say(format!("   rule {rule}: {pattern}"));
    }
    let inits: Vec<String> = world
        .init_times
        .iter()
        .map(|(f, d)| format!("{f} {:.1} ms", d.as_secs_f64() * 1000.0))
        .collect();
    n.say(format!("   functions initialised: {}", inits.join(", ")));
    n.report.init_times = world.init_times.clone();
    create_alarms(&world).await?;
    Box::pin(operator::attach_brake(&world, &mut n)).await?;
    Box::pin(operator::attach_promotion(&world, &mut n)).await?;

    // Boxed: the week's future is large (every step's state machine), and a debug build polling it
    // on the test thread's stack overflows it.
    let result = Box::pin(week(&world, options, &mut n)).await;
    match log_level::metric_lines(&world.log_dir, LOG_LEVEL) {
        Ok((printed, kept)) => n.check(
            Evidence::MetricsSurviveLogLevel,
            printed > 0 && kept == printed,
            format!("{kept} of the functions' {printed} metric lines kept by Lambda's {LOG_LEVEL} filter (a line without a level counts as INFO and would be dropped)"),
        ),
        Err(err) => n.check(Evidence::MetricsSurviveLogLevel, false, err.to_string()),
    }
    if let Err(err) = kept::check(&world, &mut n, &options.bin_dir).await {
        n.check(Evidence::KeptWeekReachable, false, err.to_string());
    }
    let failures = world.failures().await.unwrap_or(usize::MAX);
    n.check(
        Evidence::NothingDeadLettered,
        failures == 0,
        format!("{failures} events in the failure queue"),
    );
    // Every call the binaries made, against the roles of the translated template.
    match iam_check::check(&world) {
        Ok(findings) => {
            let (ok, detail) = iam_check::summarise(&findings);
            n.check(Evidence::RolesAllowEveryCall, ok, detail);
        }
        Err(err) => n.check(Evidence::RolesAllowEveryCall, false, err.to_string()),
    }
    result?;
    n.report.elapsed = started.elapsed();
    n.say("\nSummary");
    for row in &n.report.rows {
        n.say(format!(
            "   {:<24} {:<8} {}",
            row.step,
            if row.ok { "ok" } else { "MISSING" },
            row.detail
        ));
    }
    n.say(format!("   ({:.0} s)", n.report.elapsed.as_secs_f64()));
    if options.keep {
        println!(
            "\nThe services keep running until Ctrl-C. In another shell, paste (checked by row `the kept week is reachable`):"
        );
        for line in kept::shell_lines(&kept::exports(&world)) {
            println!("   {line}");
        }
        println!(
            "   target/debug/patchpilot status; target/debug/patchpilot compliance; target/debug/patchpilot doctor"
        );
        println!("   .tools/awscli/bin/aws ssm describe-maintenance-windows");
        let _ = tokio::signal::ctrl_c().await;
    }
    Ok(n.report)
}

async fn create_alarms(world: &World) -> Result<(), WeekError> {
    create_brake_alarm(world).await?;
    // The compliance alarms of template.yaml, with a 60-second period so the local week sees them
    // evaluate (in an account the period follows SnapshotIntervalMinutes).
    let template = patchpilot_test_support::template::Template::load();
    for alarm in template.alarms() {
        if alarm.namespace != "${MetricNamespace}" {
            continue;
        }
        let properties = &template.resource(&alarm.id)["Properties"];
        let mut request = world
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&alarm.id)
            .namespace(NAMESPACE)
            .metric_name(&alarm.metric)
            .statistic(aws_sdk_cloudwatch::types::Statistic::from(
                properties["Statistic"].as_str().unwrap_or("Minimum"),
            ))
            .period(60)
            .evaluation_periods(1)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::from(
                properties["ComparisonOperator"]
                    .as_str()
                    .unwrap_or_default(),
            ))
            .threshold(match alarm.metric.as_str() {
                "CompliancePercent" | "WorstGroupCompliancePercent" => 95.0,
                _ => properties["Threshold"].as_f64().unwrap_or(0.0),
            })
            .treat_missing_data(properties["TreatMissingData"].as_str().unwrap_or("ignore"))
            .alarm_actions(&world.topic_arn);
        for (name, value) in &alarm.dimensions {
            request = request.dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name(name)
                    .value(value)
                    .build(),
            );
        }
        request.send().await.call("cloudwatch:PutMetricAlarm")?;
    }
    Ok(())
}

/// template.yaml's `GateBrakeAlarm` as this deployment resolves it.
async fn create_brake_alarm(world: &World) -> Result<(), WeekError> {
    let template = patchpilot_test_support::template::Template::load();
    let parameters: Vec<(&str, &str)> = world
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let deployment = patchpilot_test_support::template::Deployment::new(&template, &parameters);
    let properties = deployment.resolve(&template.resource("GateBrakeAlarm")["Properties"])?;
    let text = |name: &str| properties[name].as_str().unwrap_or_default().to_owned();
    let number = |name: &str| {
        properties[name]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(1)
    };
    if text("AlarmName") != BRAKE_ALARM {
        return Err(WeekError::Account(format!(
            "template.yaml names the brake alarm {}, the week expects {BRAKE_ALARM}",
            text("AlarmName")
        )));
    }
    let mut request = world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(BRAKE_ALARM)
        .namespace(text("Namespace"))
        .metric_name(text("MetricName"))
        .statistic(aws_sdk_cloudwatch::types::Statistic::from(
            text("Statistic").as_str(),
        ))
        .period(number("Period"))
        .evaluation_periods(number("EvaluationPeriods"))
        .threshold(properties["Threshold"].as_f64().unwrap_or(1.0))
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::from(
            text("ComparisonOperator").as_str(),
        ))
        .treat_missing_data(text("TreatMissingData"));
    for dimension in properties["Dimensions"].as_array().into_iter().flatten() {
        request = request.dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(dimension["Name"].as_str().unwrap_or_default())
                .value(dimension["Value"].as_str().unwrap_or_default())
                .build(),
        );
    }
    request.send().await.call("cloudwatch:PutMetricAlarm")?;
    Ok(())
}

/// The states CloudWatch reports for the alarms `window`'s tasks watch, read as Systems Manager
/// reads them when the window starts (an alarm CloudWatch does not know is left out: unreadable).
pub async fn task_alarm_states(
    world: &World,
    window: &str,
) -> Result<BTreeMap<String, String>, WeekError> {
    let names: Vec<String> = world
        .sim_state()?
        .windows
        .get(window)
        .into_iter()
        .flat_map(|w| &w.tasks)
        .filter_map(|task| task.alarm_configuration.as_ref())
        .filter_map(|config| config["Alarms"][0]["Name"].as_str().map(str::to_owned))
        .collect();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let alarms = world
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names))
        .send()
        .await
        .call("cloudwatch:DescribeAlarms")?;
    Ok(alarms
        .metric_alarms()
        .iter()
        .filter_map(|alarm| {
            Some((
                alarm.alarm_name()?.to_owned(),
                alarm.state_value()?.as_str().to_owned(),
            ))
        })
        .collect())
}

/// Waits (at most `limit`) until CloudWatch reports `alarm` in `state`; the state it last saw.
pub async fn wait_for_alarm(world: &World, alarm: &str, state: &str, limit: Duration) -> String {
    let waited = Instant::now();
    loop {
        let now = alarm_state(world, alarm).await;
        if now == state || waited.elapsed() >= limit {
            return now;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn launch(
    ec2: &aws_sdk_ec2::Client,
    count: usize,
    tags: &[(&str, &str)],
    metadata_tags: bool,
) -> Result<Vec<String>, WeekError> {
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
    let output = request.send().await.call("ec2:RunInstances")?;
    Ok(output
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect())
}

pub fn running_event(instance_id: &str) -> Value {
    json!({
        "version": "0", "id": format!("{:032x}", fastrand::u128(..)),
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "000000000000", "time": Utc::now().to_rfc3339(), "region": patchpilot_test_support::REGION,
        "resources": [format!("arn:aws:ec2:{}:000000000000:instance/{instance_id}", patchpilot_test_support::REGION)],
        "detail": {"instance-id": instance_id, "state": "running"}
    })
}

async fn tags_of(
    world: &World,
    ids: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, WeekError> {
    let mut tags: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut pages = world
        .ec2
        .describe_tags()
        .filters(
            Filter::builder()
                .name("resource-type")
                .values("instance")
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.call("ec2:DescribeTags")?;
        for tag in page.tags() {
            let id = tag.resource_id().unwrap_or_default().to_owned();
            if ids.contains(&id) {
                tags.entry(id).or_default().insert(
                    tag.key().unwrap_or_default().to_owned(),
                    tag.value().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    Ok(tags)
}

/// The simulator's view of a launched instance: managed, in its group, every catalog patch missing,
/// last scanned two days ago.
pub fn managed_instance(
    state: &State,
    id: &str,
    group: &str,
    tags: &BTreeMap<String, String>,
) -> Instance {
    let patches: Vec<InstancePatch> = (0..state.catalog.len() as u32)
        .map(|patch| InstancePatch {
            patch,
            state: PatchState::Missing,
            installed_time: None,
        })
        .collect();
    let counts = PatchCounts::derive(&patches, &state.catalog);
    let scanned = Utc::now() - chrono::Duration::days(2);
    Instance {
        id: id.to_owned(),
        name: tags.get("Name").cloned(),
        platform_type: "Linux".into(),
        platform_name: "Amazon Linux".into(),
        platform_version: "2023".into(),
        operating_system: "AMAZON_LINUX_2023".into(),
        patch_group: Some(group.to_owned()),
        ping_status: "Online".into(),
        agent_version: "3.3.1142.0".into(),
        ip_address: "10.0.0.1".into(),
        computer_name: format!("{id}.internal"),
        last_ping: Utc::now(),
        tags: tags.clone(),
        patches,
        report: Some(PatchReport {
            operation: "Scan".into(),
            start: scanned,
            end: scanned + chrono::Duration::minutes(3),
            baseline_id: format!(
                "arn:aws:ssm:{}:{}:patchbaseline/pb-0c10000000000000c",
                patchpilot_test_support::REGION,
                patchpilot_test_support::ssm_sim::state::AWS_BASELINE_ACCOUNT
            ),
            snapshot_id: None,
            reboot_option: "NoReboot".into(),
            last_no_reboot_install_operation_time: None,
            install_override_list: None,
        }),
        counts,
    }
}

fn run_request(
    window: &str,
    failing: &[String],
    terminated: &[String],
    start: DateTime<Utc>,
) -> RunRequest {
    let failed = failing.iter().map(|id| {
        let outcome: InstanceOutcome = serde_json::from_value(json!({
            "status": "Failed",
            "stderr": "Error: Transaction check error:\n  file /usr/lib64/libssl.so.3 conflicts between attempted installs of openssl-libs\n"
        }))
        .expect("a valid outcome");
        (id.clone(), outcome)
    });
    let gone = terminated.iter().map(|id| {
        let outcome: InstanceOutcome =
            serde_json::from_value(json!({"terminated": true})).expect("a valid outcome");
        (id.clone(), outcome)
    });
    let outcomes = failed.chain(gone).collect();
    RunRequest {
        window_id: window.to_owned(),
        outcomes,
        status: None,
        verification: None,
        start: Some(start),
        duration_minutes: 40,
        alarm_states: Default::default(),
        override_lists: Default::default(),
    }
}

/// Runs a window in the simulator (instances in `failing` fail their install); returns what AWS
/// would have emitted, without sending it.
pub fn run_in_simulator(
    world: &World,
    window: &str,
    failing: &[String],
    start: DateTime<Utc>,
) -> Result<patchpilot_test_support::ssm_sim::run::RunResult, WeekError> {
    let mut state = world.sim_state_mut()?;
    run_window(
        &mut state,
        run_request(window, failing, &[], start),
        &mut fastrand::Rng::new(),
    )
    .map_err(WeekError::from)
}

/// Runs a window in the simulator, which sends the events it produced to LocalStack's EventBridge.
pub async fn run(
    world: &World,
    window: &str,
    failing: &[String],
    start: DateTime<Utc>,
) -> Result<(String, String, usize), WeekError> {
    run_with_terminations(world, window, failing, &[], start).await
}

/// As [`run`], with `terminated` instances terminated while their patch task runs.
pub async fn run_with_terminations(
    world: &World,
    window: &str,
    failing: &[String],
    terminated: &[String],
    start: DateTime<Utc>,
) -> Result<(String, String, usize), WeekError> {
    let app = world.sim.app.clone();
    let mut request = run_request(window, failing, terminated, start);
    request.alarm_states = task_alarm_states(world, window).await?;
    request.override_lists = promotion::override_lists(world, window).await?;
    let (result, sent) = tokio::task::spawn_blocking(move || app.run_window(request)).await??;
    Ok((result.window_execution_id, result.status, sent))
}

async fn metric(world: &World, name: &str, group: &str) -> Option<f64> {
    metric_stat(world, name, group, "Minimum").await
}

async fn metric_stat(world: &World, name: &str, group: &str, stat: &str) -> Option<f64> {
    let now = Utc::now().timestamp();
    let query = aws_sdk_cloudwatch::types::MetricDataQuery::builder()
        .id("q")
        .metric_stat(
            aws_sdk_cloudwatch::types::MetricStat::builder()
                .metric(
                    aws_sdk_cloudwatch::types::Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(name)
                        .dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name("PatchGroup")
                                .value(group)
                                .build(),
                        )
                        .build(),
                )
                .period(60)
                .stat(stat)
                .build(),
        )
        .build();
    let output = world
        .cloudwatch
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(aws_smithy_types::DateTime::from_secs(now - 120))
        .end_time(aws_smithy_types::DateTime::from_secs(now + 60))
        .send()
        .await
        .ok()?;
    // Newest first.
    output
        .metric_data_results()
        .first()?
        .values()
        .first()
        .copied()
}

async fn alarm_state(world: &World, name: &str) -> String {
    world
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.metric_alarms()
                .first()
                .and_then(|a| a.state_value().map(|s| s.as_str().to_owned()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(crate) async fn production_enabled(world: &World) -> Result<bool, WeekError> {
    world
        .ssm
        .get_maintenance_window()
        .window_id(PRODUCTION_WINDOW)
        .send()
        .await
        .map(|w| w.enabled())
        .call("ssm:GetMaintenanceWindow")
}

/// What a topic message is: the `kind` attribute patchpilot sets, or `alarm` for CloudWatch's own.
fn kind_of(message: &Value) -> String {
    if let Some(kind) = message["MessageAttributes"]["kind"]["Value"].as_str() {
        return kind.to_owned();
    }
    let subject = message["Subject"].as_str().unwrap_or_default();
    if subject.starts_with("ALARM") || subject.starts_with("OK") {
        "alarm".to_owned()
    } else {
        "other".to_owned()
    }
}

fn kinds(messages: &[Value]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for message in messages {
        *kinds.entry(kind_of(message)).or_default() += 1;
    }
    kinds
}

fn delivery_summary(deliveries: &[world::Delivery]) -> (BTreeMap<String, usize>, usize) {
    let mut by_function = BTreeMap::new();
    let mut errors = 0;
    for delivery in deliveries {
        *by_function.entry(delivery.function.clone()).or_default() += 1;
        errors += usize::from(delivery.result.is_err());
    }
    (by_function, errors)
}

async fn week(world: &World, options: &Options, n: &mut Narrator) -> Result<(), WeekError> {
    let staging = Box::pin(fleet::launch_and_tag(world, options, n)).await?;
    let thursday = Box::pin(thursday::staging_fails(world, options, n, &staging)).await?;
    Box::pin(brake::behind_the_gates_back(world, n)).await?;
    Box::pin(operator::approve_hold_release(world, n)).await?;
    let rerun = Box::pin(rerun::staging_passes(world, n)).await?;
    Box::pin(sunday::production_runs(world, n, rerun)).await?;
    Box::pin(messy::other_things_happen(world, n)).await?;

    n.say("\n8. A staging health alarm fires (a composite alarm, the usual shape of a service-health signal); the scheduled re-check closes production again");
    Box::pin(recheck_after_health_alarm(world, n)).await?;

    Box::pin(operator::doctor(world, n)).await?;

    Box::pin(messy::staging_on_the_aws_default_baseline(world, n)).await?;

    Box::pin(messy::another_teams_window(world, n, thursday)).await?;
    Box::pin(brake::follows_the_gate(world, n)).await
}

/// A `staging-health-` composite alarm goes to ALARM; the gate's re-check schedule fires; production
/// closes.
async fn recheck_after_health_alarm(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    let alarm = "staging-health-canary";
    let errors = "canary-errors";
    world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(errors)
        .namespace("Canary")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(0.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .call("cloudwatch:PutMetricAlarm")?;
    world
        .cloudwatch
        .put_composite_alarm()
        .alarm_name(alarm)
        .alarm_rule(format!("ALARM(\"{errors}\")"))
        .send()
        .await
        .call("cloudwatch:PutCompositeAlarm")?;
    world
        .cloudwatch
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("the canary failed after the staging run")
        .send()
        .await
        .call("cloudwatch:SetAlarmState")?;
    let recheck = json!({
        "version": "0", "id": format!("{:032x}", fastrand::u128(..)),
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": patchpilot_test_support::ACCOUNT, "time": Utc::now().to_rfc3339(),
        "region": patchpilot_test_support::REGION,
        "resources": [format!("arn:aws:events:{}:{}:rule/patchpilot-gate-recheck", patchpilot_test_support::REGION, patchpilot_test_support::ACCOUNT)],
        "detail": {}
    });
    world.schedule("patch-gate", &recheck).await?;
    world.settle(Duration::from_secs(60)).await?;
    let deliveries = world.take_deliveries().await;
    let (_, errors) = delivery_summary(&deliveries);
    let outcome = deliveries
        .iter()
        .rev()
        .find(|d| d.function == "patch-gate")
        .and_then(|d| d.result.as_ref().ok())
        .map(|report| report["outcome"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let _ = world.alerts().await;
    let enabled = production_enabled(world).await?;
    n.check(
        Evidence::RecheckClosed,
        !enabled && errors == 0,
        format!(
            "alarm {alarm} in ALARM; re-check outcome {outcome}; production enabled: {enabled}"
        ),
    );
    operator::status_explains_the_recheck(world, n, alarm).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_compare_without_what_changes_from_run_to_run() {
        let one = "Gate:       OPEN, by the decision at 2026-12-06 16:56 UTC (14 s ago)\n  \
            staging execution fed35876-1442-4c35-b657-e54a7643aa84 on i-0a1b2c3d4e5f60718, \
            13 invocations; last snapshot 45 s ago; export AWS_ENDPOINT_URL='http://127.0.0.1:35815'\n\
            ok   snapshot_recent: the last snapshot is 1 min old; pb-0c10000000000000b AMAZON_LINUX_2023  ";
        let two = "Gate:       OPEN, by the decision at 2026-12-07 09:01 UTC (1 min ago)\n  \
            staging execution 0a1b2c3d-0000-4000-8000-000000000001 on i-99999999999999999, \
            14 invocations; last snapshot 2 min ago; export AWS_ENDPOINT_URL='http://127.0.0.1:41000'\n\
            ok   snapshot_recent: the last snapshot is 59 s old; pb-0c10000000000000b AMAZON_LINUX_2023";
        assert_eq!(normalise_transcript(one), normalise_transcript(two));
        assert_eq!(
            normalise_transcript("  staging   100.0 %    13         7.7 → 100.0 (+92.3)"),
            normalise_transcript("  staging   100.0 %    13         7.7 → 100.0 → 100.0 (+92.3)"),
            "a trend's length follows the run's timing"
        );
        // Identifiers with digits inside them stay as they are; words and their order still count.
        let normalised = normalise_transcript(one);
        assert!(
            normalised.contains("pb-0c10000000000000b AMAZON_LINUX_2023"),
            "{normalised}"
        );
        assert_ne!(
            normalise_transcript("ok   baselines_registered"),
            normalise_transcript("FAIL baselines_registered")
        );
    }

    #[test]
    fn numbers_read_as_people_read_them() {
        assert_eq!(percent(Some(24.489795918367346)), "24.5 %");
        assert_eq!(percent(Some(50.0)), "50.0 %");
        assert_eq!(percent(None), "n/a");
        assert_eq!(percent(Some(f64::NAN)), "n/a");
        let table: BTreeMap<String, usize> = [
            ("install-alerts".to_owned(), 12),
            ("patch-gate".to_owned(), 1),
        ]
        .into();
        assert_eq!(counts(&table), "install-alerts 12, patch-gate 1");
        assert_eq!(counts(&BTreeMap::new()), "none");
    }
}
