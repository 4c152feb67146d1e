//! Gather → decide → act → report, for one instance (state-change event) or the whole fleet (schedule).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_ec2::types::{Filter, Tag};
use patchpilot_shared::CommonConfig;
use patchpilot_shared::FunctionError;
use patchpilot_shared::aws::pages::Pages;
use patchpilot_shared::budget::{Budget, Pace};
use patchpilot_shared::events::{Event, InstanceState};
use patchpilot_shared::runtime::{Handled, Handler};
use serde::Serialize;
use serde_json::Value;

use crate::config::{RulesSource, TaggerConfig};
use crate::decide::{Action, Decision, Policy, decide};
use crate::facts::InstanceFacts;
use crate::rules::Rules;

/// CreateTags takes at most this many resource ids per call.
pub const CREATE_TAGS_BATCH: usize = 1000;
/// The largest DescribeInstances page.
const DESCRIBE_PAGE: i32 = 1000;
/// Backfill output lists at most this many decisions (the counts cover all of them).
const MAX_LISTED_DECISIONS: usize = 1000;

/// The AWS clients the tagger uses, built once.
#[derive(Clone)]
pub struct Clients {
    /// Instances and tags.
    pub ec2: aws_sdk_ec2::Client,
    /// The rules parameter.
    pub ssm: aws_sdk_ssm::Client,
}

/// The function's state across warm invocations.
pub struct Tagger {
    clients: Clients,
    config: TaggerConfig,
    cached_rules: Mutex<Option<(Arc<Rules>, Instant)>>,
}

/// What an invocation did: the Lambda's return value.
#[derive(Debug, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Output {
    /// An instance reached `running` (or another state): one decision.
    Instance {
        /// What was decided (and done) for the instance.
        decision: Decision,
    },
    /// A backfill of the whole fleet.
    Backfill(BackfillReport),
}

/// What a backfill did.
#[derive(Debug, Default, Serialize)]
pub struct BackfillReport {
    /// Every page was read and every tag written. False: the run stopped for time (see
    /// `stopped_for_time`); the next run continues.
    pub complete: bool,
    /// Where the run stopped, when it stopped for time.
    pub stopped_for_time: Option<StoppedForTime>,
    /// Instances read.
    pub instances_seen: usize,
    /// Decisions by action.
    pub counts: BTreeMap<Action, usize>,
    /// DescribeInstances pages read.
    pub describe_instances_pages: usize,
    /// CreateTags calls made.
    pub create_tags_calls: usize,
    /// Decisions other than `already_tagged`, at most 1,000.
    pub decisions: Vec<Decision>,
    /// More decisions were made than `decisions` lists.
    pub decisions_truncated: bool,
}

/// Where a backfill stopped for time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoppedForTime {
    /// DescribeInstances pages fully handled before the stop.
    pub after_pages: usize,
    /// Instances decided for tagging whose CreateTags the run did not reach.
    pub not_reached: usize,
    /// The time kept before the deadline for reporting.
    pub margin_seconds: f64,
}

impl Tagger {
    /// Builds the tagger; rules from Parameter Store are loaded now, so bad rules fail cold start.
    pub async fn new(clients: Clients, config: TaggerConfig) -> Result<Self, FunctionError> {
        let tagger = Self {
            clients,
            config,
            cached_rules: Mutex::new(None),
        };
        tagger.rules().await?;
        Ok(tagger)
    }

    async fn rules(&self) -> Result<Arc<Rules>, FunctionError> {
        let (name, ttl) = match &self.config.rules {
            RulesSource::Inline(rules) => return Ok(rules.clone()),
            RulesSource::Parameter { name, ttl } => (name, *ttl),
        };
        if let Some((rules, fetched)) = self
            .cached_rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && fetched.elapsed() < ttl
        {
            return Ok(rules.clone());
        }
        let parameter = self
            .clients
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .map_err(|err| FunctionError::aws("ssm:GetParameter", err))?;
        // Rules are configuration, not secrets: a SecureString read without decryption would parse
        // its ciphertext. Refuse it by name rather than grant kms:Decrypt for no reason.
        if parameter
            .parameter()
            .and_then(|p| p.r#type())
            .is_some_and(|kind| *kind == aws_sdk_ssm::types::ParameterType::SecureString)
        {
            return Err(FunctionError::Config(patchpilot_shared::ConfigError::Invalid {
                variable: "TAG_RULES_PARAMETER".to_owned(),
                value: name.clone(),
                expected: "a String parameter (it is a SecureString; tagging rules are not secret, store them as String)".to_owned(),
            }));
        }
        let text = parameter
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default();
        let rules = Rules::parse(text, &format!("SSM parameter {name}")).map_err(|err| {
            FunctionError::Config(patchpilot_shared::ConfigError::Invalid {
                variable: "TAG_RULES_PARAMETER".to_owned(),
                value: name.clone(),
                expected: err.to_string(),
            })
        })?;
        let rules = Arc::new(rules);
        *self.cached_rules.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((rules.clone(), Instant::now()));
        Ok(rules)
    }

    async fn policy(&self) -> Result<Policy, FunctionError> {
        Ok(Policy {
            rules: self.rules().await?,
            default_patch_group: self.config.default_patch_group.clone(),
            tag_key: self.config.tag_key,
            overwrite_existing: self.config.overwrite_existing,
        })
    }
}

impl Handler for Tagger {
    type Report = Output;

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }

    /// Handles one event inside `budget`. A backfill stopped for time after tagging something ends in
    /// a retryable error, so Lambda's retry continues it; one that tagged nothing ends `Ok` and says
    /// so (`BackfillStalled`), since a retry would only repeat it.
    async fn handle_within(&self, payload: Value, budget: &Budget) -> Handled<Self> {
        match Event::parse(payload)? {
            Event::InstanceState(_, detail) => {
                let decision = if detail.state == InstanceState::Running {
                    self.tag_one(&detail.instance_id).await?
                } else {
                    Decision {
                        instance_id: detail.instance_id,
                        action: Action::Skipped,
                        patch_group: None,
                        tag_key: None,
                        rule: None,
                        reason: format!("state {} is not running; the schedule's backfill covers it", detail.state),
                    }
                };
                tracing::info!(instance_id = %decision.instance_id, action = ?decision.action, patch_group = ?decision.patch_group, tag_key = ?decision.tag_key, rule = ?decision.rule, reason = %decision.reason, "decision");
                patchpilot_shared::metrics::emit("patch-group-tagger", &[(metric_name(decision.action), 1.0)]);
                Ok(Output::Instance { decision })
            }
            Event::Scheduled(..) => {
                let report = self.backfill(budget).await?;
                match &report.stopped_for_time {
                    Some(stop) if report.written() > 0 => Err(FunctionError::StoppedForTime(format!(
                        "backfill stopped {:.0} s before its deadline after {} pages ({} instances seen, {} tagged, {} decided but not reached); a retry continues, skipping instances already tagged",
                        stop.margin_seconds,
                        stop.after_pages,
                        report.instances_seen,
                        report.written(),
                        stop.not_reached
                    ))),
                    _ => Ok(Output::Backfill(report)),
                }
            }
            other => Err(FunctionError::BadEvent(patchpilot_shared::EventError {
                detail_type: Some(other.meta().detail_type.clone()),
                field: "detail-type".to_owned(),
                message: "patch-group-tagger handles EC2 Instance State-change Notification and Scheduled Event only".to_owned(),
            })),
        }
    }
}

impl Tagger {
    async fn tag_one(&self, instance_id: &str) -> Result<Decision, FunctionError> {
        let policy = self.policy().await?;
        let described = self
            .clients
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await;
        let instance = match described {
            Ok(output) => output
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .map(InstanceFacts::from),
            Err(err) if is_not_found(&err) => None,
            Err(err) => return Err(FunctionError::aws("ec2:DescribeInstances", err)),
        };
        let Some(facts) = instance else {
            return Ok(not_found(instance_id));
        };
        let mut decision = decide(&facts, &policy);
        if decision.action != Action::Tagged {
            return Ok(decision);
        }
        if self.config.common.dry_run {
            decision.action = Action::DryRun;
            return Ok(decision);
        }
        let (key, group) = (
            decision.tag_key.clone().unwrap_or_default(),
            decision.patch_group.clone().unwrap_or_default(),
        );
        match self
            .create_tags(&key, &group, vec![instance_id.to_owned()])
            .await
        {
            Ok(()) => Ok(decision),
            Err(err) if is_not_found(&err) => Ok(not_found(instance_id)),
            Err(err) => Err(FunctionError::aws("ec2:CreateTags", err)),
        }
    }

    async fn create_tags(
        &self,
        key: &str,
        group: &str,
        ids: Vec<String>,
    ) -> Result<
        (),
        aws_sdk_ec2::error::SdkError<aws_sdk_ec2::operation::create_tags::CreateTagsError>,
    > {
        self.clients
            .ec2
            .create_tags()
            .set_resources(Some(ids))
            .tags(Tag::builder().key(key).value(group).build())
            .send()
            .await
            .map(|_| ())
    }

    /// Tags every pending, running or stopped instance that has no patch group yet, page by page:
    /// each page's tags are written before the next page is read, so memory holds one page and a run
    /// cut short by its deadline keeps every tag it wrote. The next run resumes for free: instances
    /// already tagged are decided `already_tagged` and cost no write.
    pub async fn backfill(&self, budget: &Budget) -> Result<BackfillReport, FunctionError> {
        let policy = self.policy().await?;
        let mut report = BackfillReport {
            complete: true,
            ..Default::default()
        };
        let mut failures = Vec::new();
        let mut pace = Pace::default();
        let mut pages = Pages::new(
            self.clients
                .ec2
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopped")
                        .build(),
                )
                .max_results(DESCRIBE_PAGE)
                .into_paginator()
                .send(),
            "ec2:DescribeInstances",
        );
        loop {
            // The next page (read and tagged) is assumed to take as long as the slowest so far.
            if !budget.allows(pace.expected()) {
                report.stop_for_time(budget, None);
                break;
            }
            let started = Instant::now();
            let page = match budget.run(pages.next()).await {
                None => {
                    report.stop_for_time(budget, None);
                    break;
                }
                Some(page) => match page? {
                    Some(page) => page,
                    None => break,
                },
            };
            report.describe_instances_pages += 1;
            // The last page says so: no time check stands between it and a complete run.
            let last_page = page.next_token().is_none_or(str::is_empty);
            let decisions: Vec<Decision> = page
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .map(|instance| decide(&InstanceFacts::from(instance), &policy))
                .collect();
            drop(page);
            let cut_off = self
                .tag_page(decisions, budget, &mut report, &mut failures)
                .await;
            if cut_off || last_page {
                break;
            }
            pace.record(started.elapsed());
        }
        let mut metrics: Vec<(&str, f64)> = report
            .counts
            .iter()
            .map(|(action, count)| (metric_name(*action), *count as f64))
            .collect();
        metrics.push(("BackfillPages", report.describe_instances_pages as f64));
        metrics.push(("BackfillStalled", if report.stalled() { 1.0 } else { 0.0 }));
        patchpilot_shared::metrics::emit("patch-group-tagger", &metrics);
        patchpilot_shared::logging::report("backfill finished", &report);
        if failures.is_empty() {
            Ok(report)
        } else {
            Err(FunctionError::Partial(format!(
                "backfill tagged what it could; CreateTags failed for {}",
                failures.join("; ")
            )))
        }
    }

    /// Decides and tags one page (batched per tag key and group, at most 1,000 ids a call), each
    /// call cut off at the budget's stop time. Returns whether the page was cut off; ids it did not
    /// reach are counted `not_reached`, never `tagged`.
    async fn tag_page(
        &self,
        decisions: Vec<Decision>,
        budget: &Budget,
        report: &mut BackfillReport,
        failures: &mut Vec<String>,
    ) -> bool {
        let mut batches: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut decisions = decisions;
        for decision in &mut decisions {
            report.instances_seen += 1;
            if decision.action == Action::Tagged {
                if self.config.common.dry_run {
                    decision.action = Action::DryRun;
                } else {
                    let key = (
                        decision.tag_key.clone().unwrap_or_default(),
                        decision.patch_group.clone().unwrap_or_default(),
                    );
                    batches
                        .entry(key)
                        .or_default()
                        .push(decision.instance_id.clone());
                }
            }
        }
        let mut not_reached: std::collections::HashSet<String> = std::collections::HashSet::new();
        // Instance → why its CreateTags failed.
        let mut not_tagged: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        let mut cut_off = false;
        for ((key, group), ids) in batches {
            for chunk in ids.chunks(CREATE_TAGS_BATCH) {
                if cut_off {
                    not_reached.extend(chunk.iter().cloned());
                    continue;
                }
                report.create_tags_calls += 1;
                match budget
                    .run(self.create_tags(&key, &group, chunk.to_vec()))
                    .await
                {
                    Some(Ok(())) => {}
                    Some(Err(err)) => {
                        let err = FunctionError::aws("ec2:CreateTags", err);
                        failures.push(format!(
                            "{} instances for {key}={group}: {err}",
                            chunk.len()
                        ));
                        not_tagged.extend(chunk.iter().map(|id| (id.clone(), err.to_string())));
                    }
                    None => {
                        // Cut off mid-call: EC2 may or may not have applied it; the next run sees.
                        cut_off = true;
                        not_reached.extend(chunk.iter().cloned());
                    }
                }
            }
        }
        for mut decision in decisions {
            if not_reached.contains(&decision.instance_id) {
                decision.action = Action::NotReached;
                decision.reason =
                    "the run stopped for time before tagging it; the next run tags it".to_owned();
            } else if let Some(why) = not_tagged.remove(&decision.instance_id) {
                decision.action = Action::TagFailed;
                decision.reason = format!("{why}; the next run tags it");
            }
            report.record(decision);
        }
        if cut_off {
            report.stop_for_time(budget, Some(not_reached.len()));
        }
        cut_off
    }
}

impl BackfillReport {
    fn record(&mut self, decision: Decision) {
        *self.counts.entry(decision.action).or_default() += 1;
        if decision.action != Action::AlreadyTagged {
            if self.decisions.len() < MAX_LISTED_DECISIONS {
                self.decisions.push(decision);
            } else {
                self.decisions_truncated = true;
            }
        }
    }

    /// Marks the run stopped for time; `not_reached` is set when the stop cut a page's tagging short
    /// (that page is then not counted as handled).
    fn stop_for_time(&mut self, budget: &Budget, not_reached: Option<usize>) {
        self.complete = false;
        let cut_page = usize::from(not_reached.is_some());
        self.stopped_for_time = Some(StoppedForTime {
            after_pages: self.describe_instances_pages.saturating_sub(cut_page),
            not_reached: not_reached.unwrap_or(0),
            margin_seconds: budget.margin().as_secs_f64(),
        });
    }

    /// Instances this run tagged (or, under DRY_RUN, would have).
    pub fn written(&self) -> usize {
        self.counts.get(&Action::Tagged).copied().unwrap_or(0)
    }

    /// Stopped for time having written nothing: a retry would only repeat this run.
    pub fn stalled(&self) -> bool {
        !self.complete && self.written() == 0
    }
}

fn not_found(instance_id: &str) -> Decision {
    Decision {
        instance_id: instance_id.to_owned(),
        action: Action::NotFound,
        patch_group: None,
        tag_key: None,
        rule: None,
        reason: "the instance no longer exists".to_owned(),
    }
}

fn is_not_found<E: aws_sdk_ec2::error::ProvideErrorMetadata, R>(
    err: &aws_sdk_ec2::error::SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .and_then(|service| service.code())
        .is_some_and(|code| {
            code.starts_with("InvalidInstanceID.NotFound") || code == "InvalidInstanceID.Malformed"
        })
}

/// Every metric the tagger emits (EMF, namespace `patchpilot`, dimension `Function`).
pub const METRIC_NAMES: &[&str] = &[
    "InstancesTagged",
    "InstancesAlreadyTagged",
    "InstancesSkipped",
    "InstancesUnmatched",
    "InstancesWouldTag",
    "InstancesNotFound",
    "InstancesNotReached",
    "InstancesTagFailed",
    "BackfillPages",
    "BackfillStalled",
];

/// The metric each action is counted in.
pub fn metric_name(action: Action) -> &'static str {
    match action {
        Action::Tagged => "InstancesTagged",
        Action::AlreadyTagged => "InstancesAlreadyTagged",
        Action::Skipped => "InstancesSkipped",
        Action::NoMatch => "InstancesUnmatched",
        Action::DryRun => "InstancesWouldTag",
        Action::NotFound => "InstancesNotFound",
        Action::NotReached => "InstancesNotReached",
        Action::TagFailed => "InstancesTagFailed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_counts_in_a_declared_metric() {
        for action in [
            Action::Tagged,
            Action::AlreadyTagged,
            Action::Skipped,
            Action::NoMatch,
            Action::DryRun,
            Action::NotFound,
            Action::NotReached,
            Action::TagFailed,
        ] {
            assert!(METRIC_NAMES.contains(&metric_name(action)), "{action:?}");
        }
    }

    #[test]
    fn a_stop_with_nothing_written_is_a_stall_and_one_with_progress_is_not() {
        let budget = Budget::new(std::time::Duration::ZERO, std::time::Duration::ZERO);
        let mut report = BackfillReport {
            complete: true,
            ..Default::default()
        };
        assert!(!report.stalled(), "a complete run never stalls");
        report.describe_instances_pages = 2;
        report.stop_for_time(&budget, Some(40));
        let stop = report.stopped_for_time.clone().unwrap();
        assert_eq!(
            (stop.after_pages, stop.not_reached),
            (1, 40),
            "the cut page is not counted as handled"
        );
        assert!(report.stalled());
        report.counts.insert(Action::Tagged, 3);
        assert!(
            !report.stalled(),
            "three instances tagged: a retry continues from there"
        );
        report.stop_for_time(&budget, None);
        assert_eq!(report.stopped_for_time.unwrap().after_pages, 2);
    }
}

/// The backfill's writes against `aws-smithy-mocks`: a CreateTags refused part way.
#[cfg(test)]
mod create_tags {
    use super::*;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::create_tags::{CreateTagsError, CreateTagsOutput};
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::types::{Instance, InstanceState as Ec2State, InstanceStateName, Reservation};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const RULES: &str = r#"[
        {"name": "web", "patch_group": "web", "match": {"tags": {"Role": "web"}}},
        {"name": "db", "patch_group": "db", "match": {"tags": {"Role": "db"}}}
    ]"#;

    fn instance(id: &str, role: &str) -> Instance {
        Instance::builder()
            .instance_id(id)
            .state(Ec2State::builder().name(InstanceStateName::Running).build())
            .tags(Tag::builder().key("Role").value(role).build())
            .build()
    }

    /// The `db` group's CreateTags is refused; the `web` group's succeeds.
    async fn tagger() -> (Tagger, aws_smithy_mocks::Rule) {
        let described = mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance("i-0web0000000000001", "web"))
                        .instances(instance("i-0db00000000000001", "db"))
                        .instances(instance("i-0db00000000000002", "db"))
                        .build(),
                )
                .build()
        });
        let refused = mock!(aws_sdk_ec2::Client::create_tags)
            .match_requests(|req| req.tags().iter().any(|tag| tag.value() == Some("db")))
            .then_error(|| {
                CreateTagsError::generic(
                    ErrorMetadata::builder()
                        .code("UnauthorizedOperation")
                        .message("You are not authorized to perform this operation.")
                        .build(),
                )
            });
        let tagged = mock!(aws_sdk_ec2::Client::create_tags)
            .then_output(|| CreateTagsOutput::builder().build());
        let ec2 = mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            &[&described, &refused, &tagged]
        );
        // The rules are inline: Parameter Store is never asked.
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::Config::builder()
                .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
                .region(aws_sdk_ssm::config::Region::new("eu-west-1"))
                .build(),
        );
        let env = std::collections::HashMap::from([("TAG_RULES", RULES)]);
        let config = TaggerConfig::from_env(&env).unwrap();
        let tagger = Tagger::new(Clients { ec2, ssm }, config).await.unwrap();
        (tagger, tagged)
    }

    #[tokio::test]
    async fn a_refused_create_tags_fails_the_backfill_retryably_naming_the_group() {
        let (tagger, tagged) = tagger().await;
        let err = tagger.backfill(&Budget::unbounded()).await.unwrap_err();
        assert!(matches!(err, FunctionError::Partial(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("2 instances for Patch Group=db")
                && text.contains("ec2:CreateTags")
                && text.contains("UnauthorizedOperation"),
            "{text}"
        );
        assert_eq!(tagged.num_calls(), 1, "the web group was still tagged");
    }

    #[tokio::test]
    async fn instances_whose_create_tags_failed_are_counted_apart_from_the_tagged() {
        let (tagger, _) = tagger().await;
        let policy = tagger.policy().await.unwrap();
        let decisions = [
            instance("i-0web0000000000001", "web"),
            instance("i-0db00000000000001", "db"),
            instance("i-0db00000000000002", "db"),
        ]
        .iter()
        .map(|instance| decide(&InstanceFacts::from(instance), &policy))
        .collect();
        let mut report = BackfillReport::default();
        let mut failures = Vec::new();
        let cut_off = tagger
            .tag_page(decisions, &Budget::unbounded(), &mut report, &mut failures)
            .await;
        assert!(!cut_off);
        assert_eq!(report.counts.get(&Action::Tagged), Some(&1));
        assert_eq!(report.counts.get(&Action::TagFailed), Some(&2));
        assert_eq!(report.create_tags_calls, 2);
        let failed: Vec<&Decision> = report
            .decisions
            .iter()
            .filter(|d| d.action == Action::TagFailed)
            .collect();
        assert_eq!(failed.len(), 2);
        assert!(
            failed[0].reason.contains("UnauthorizedOperation"),
            "{}",
            failed[0].reason
        );
        assert_eq!(failures.len(), 1);
    }
}
