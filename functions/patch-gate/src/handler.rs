//! The gate's entry: the event parsed and handed on — a finished staging execution or the re-check
//! to judging (judge.rs: gather → decide), which acts (act.rs: pin → promote → window → page) and
//! records; a finished production execution to its check (verify.rs); an operator's request to
//! requests.rs — then the state published for the brake (brake.rs) and the report logged.

use chrono::Utc;
use patchpilot_shared::CommonConfig;
use patchpilot_shared::Event;
use patchpilot_shared::budget::Budget;
use patchpilot_shared::events::WindowExecutionStatus;
use patchpilot_shared::runtime::{Handled, Handler};
use serde_json::Value;

use crate::config::GateConfig;
use crate::decide::Execution;
use crate::operator;
use crate::production::{AwsProduction, Production};
use crate::report::{GateOutcome, GateReport, Trigger};
use crate::store::Store;

/// The function name metrics carry (dimension `Function`).
pub const FUNCTION: &str = "patch-gate";
/// The decision metric: 1 open, 0 closed, per production window.
pub const GATE_METRIC: &str = "GateOpen";
/// Installs of a production run outside the promoted list (0 when it kept to it).
pub const EXCEEDED_METRIC: &str = "PromotionExceeded";
/// The dimension naming the production window the gate guards.
pub const GATE_DIMENSION: &str = "ProductionWindow";

/// The AWS clients the gate calls, built once per execution environment.
#[derive(Clone)]
pub struct Clients {
    /// Production's window and baselines; staging's executions, patch states and baseline too,
    /// unless `staging` says staging is elsewhere.
    pub ssm: aws_sdk_ssm::Client,
    /// The decision's message.
    pub sns: aws_sdk_sns::Client,
    /// Health alarms (staging's, unless `staging` says staging is elsewhere).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Decision records.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Production's install ceiling (`PROMOTION_BUCKET`).
    pub s3: aws_sdk_s3::Client,
    /// Staging's account, when it is not this one (`STAGING_ROLE_ARN`); none: staging is read
    /// through `ssm` and `cloudwatch`.
    pub staging: Option<StagingClients>,
}

/// The clients that read staging in its own account, through the role it gives the gate.
#[derive(Clone)]
pub struct StagingClients {
    /// Staging's window executions, patch states and baseline.
    pub ssm: aws_sdk_ssm::Client,
    /// Staging's health alarms.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    /// Where staging's results, patch states and baseline are read.
    pub fn staging_ssm(&self) -> &aws_sdk_ssm::Client {
        self.staging
            .as_ref()
            .map_or(&self.ssm, |staging| &staging.ssm)
    }

    /// Where staging's health alarms are read.
    pub fn staging_cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        self.staging
            .as_ref()
            .map_or(&self.cloudwatch, |staging| &staging.cloudwatch)
    }
}

/// The S3 client: path-style requests (`endpoint/bucket/key`), which S3 serves for every bucket
/// name the template creates (no dots) and which an endpoint set by `AWS_ENDPOINT_URL` serves too.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The SDK configuration for staging's account: credentials from assuming `staging.role_arn` (STS,
/// refreshed before they expire; session `patchpilot-gate`), in staging's Region. The gate's own
/// credentials only need `sts:AssumeRole` on that role.
pub async fn staging_sdk_config(
    sdk: &aws_config::SdkConfig,
    staging: &crate::config::StagingAccount,
) -> aws_config::SdkConfig {
    let region = staging
        .region
        .clone()
        .map(aws_config::Region::new)
        .or_else(|| sdk.region().cloned());
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(&staging.role_arn)
        .session_name("patchpilot-gate")
        .configure(sdk);
    if let Some(region) = sdk.region() {
        // STS is called in the gate's Region (its regional endpoint), whatever staging's is.
        provider = provider.region(region.clone());
    }
    let provider = provider.build().await;
    let mut builder = sdk.to_builder().credentials_provider(
        aws_credential_types::provider::SharedCredentialsProvider::new(provider),
    );
    builder.set_region(region);
    builder.build()
}

/// Why a finished execution is no verdict on staging, if it is not one.
///
/// `SKIPPED_OVERLAPPING` means the window started while its previous execution was still running and
/// ran nothing: it patched nothing and proves nothing. Deciding it would close production and, as the
/// latest decision, make the real execution's later verdict look stale.
pub fn not_a_verdict(execution: &Execution) -> Option<String> {
    match &execution.status {
        WindowExecutionStatus::SkippedOverlapping => Some(format!(
            "execution {} was skipped (SKIPPED_OVERLAPPING): it patched nothing and is not a verdict on staging",
            execution.id
        )),
        status if !status.is_terminal() => Some(format!(
            "execution {} is {status} according to the service, not finished",
            execution.id
        )),
        _ => None,
    }
}

/// The gate: judges staging and acts on production, through `P` (AWS in the function).
pub struct Gate<P = AwsProduction> {
    pub(crate) clients: Clients,
    pub(crate) config: GateConfig,
    pub(crate) store: Store,
    pub(crate) production: P,
}

impl Gate {
    /// The gate with its clients and settings, acting on production through the same clients.
    pub fn new(clients: Clients, config: GateConfig) -> Self {
        let production =
            AwsProduction::new(clients.ssm.clone(), clients.sns.clone(), clients.s3.clone());
        Self::with_production(clients, config, production)
    }
}

impl<P: Production> Gate<P> {
    /// The gate reading through `clients` and acting on production through `production`.
    pub fn with_production(clients: Clients, config: GateConfig, production: P) -> Self {
        let store = Store::new(
            clients.dynamodb.clone(),
            config.table.clone(),
            config.decision_ttl_days,
        );
        Self {
            clients,
            config,
            store,
            production,
        }
    }

    pub(crate) fn report(
        &self,
        outcome: GateOutcome,
        trigger: Trigger,
        reason: Option<String>,
    ) -> GateReport {
        GateReport {
            outcome,
            reason,
            trigger,
            staging_window_id: self.config.staging_window_id.clone(),
            production_window_id: self.config.production_window_id.clone(),
            execution: None,
            open: None,
            checks: Vec::new(),
            failed_instances: Vec::new(),
            actions: Vec::new(),
            pinned: Vec::new(),
            not_pinned: Vec::new(),
            dry_run: self.config.common.dry_run,
            decided_at: Utc::now(),
            approval: None,
            hold: None,
            failed_patches_unread: Vec::new(),
            promoted: None,
            verified: None,
        }
    }
}

impl<P: Production> Handler for Gate<P> {
    type Report = GateReport;

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }

    /// Handles one event inside `budget`: staging's results must be read before the stop time, so
    /// the margin is left for acting and recording; otherwise nothing changes and the invocation
    /// ends in a retryable error.
    ///
    /// Each branch's future is boxed: nested inline, the four SDK clients' futures make the
    /// invocation's future too deep for rustc to lay out without raising its recursion limit.
    async fn handle_within(&self, payload: Value, budget: &Budget) -> Handled<Self> {
        if let Some(request) = payload.get(operator::REQUEST_KEY) {
            let request = operator::parse(request)?;
            let report = Box::pin(self.operate(request)).await?;
            self.publish_state(&report).await;
            patchpilot_shared::logging::report("gate", &report);
            return Ok(report);
        }
        let report = match Event::parse(payload)? {
            Event::WindowExecution(_, detail)
                if detail.window_id == self.config.production_window_id
                    && detail.status.is_terminal() =>
            {
                Box::pin(self.verify_production(&detail.window_execution_id)).await?
            }
            Event::WindowExecution(_, detail) => {
                if detail.window_id != self.config.staging_window_id {
                    self.report(GateOutcome::Ignored, Trigger::StagingExecution, Some(format!(
                        "window {} is not the staging window {}",
                        detail.window_id, self.config.staging_window_id
                    )))
                } else if !detail.status.is_terminal() {
                    self.report(GateOutcome::Ignored, Trigger::StagingExecution, Some(format!(
                        "execution {} is {}, not finished",
                        detail.window_execution_id, detail.status
                    )))
                } else {
                    Box::pin(self.decide_event(&detail.window_execution_id, budget)).await?
                }
            }
            Event::Scheduled(..) => Box::pin(self.recheck(budget)).await?,
            other => self.report(GateOutcome::Ignored, Trigger::StagingExecution, Some(format!(
                "patch-gate handles the staging window's execution events and its schedule, not {:?}",
                other.meta().detail_type
            ))),
        };
        self.publish_state(&report).await;
        patchpilot_shared::logging::report("gate", &report);
        Ok(report)
    }
}
