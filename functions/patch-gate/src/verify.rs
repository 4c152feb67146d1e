//! After production runs: its installs checked against the promoted list, and anything outside it
//! paged (`Promotion.Exceeded`).

use chrono::Utc;
use patchpilot_shared::FunctionError;
use serde_json::Value;

use crate::config::promotion_record_key;
use crate::gather;
use crate::handler::{EXCEEDED_METRIC, FUNCTION, GATE_DIMENSION, Gate};
use crate::production::Production;
use crate::promote;
use crate::report::{GateOutcome, GateReport, Trigger};

impl<P: Production> Gate<P> {
    /// A finished production execution, checked against the promoted list: every install of the run
    /// on the instances its patch task ran on must be a version staging runs. Anything outside it
    /// pages (`Promotion.Exceeded`: package, version, instance), is counted in the
    /// `PromotionExceeded` metric and recorded for `patchpilot status`. Without a promotion bucket
    /// or a list there is nothing to check against.
    pub(crate) async fn verify_production(
        &self,
        execution_id: &str,
    ) -> Result<GateReport, FunctionError> {
        let ignored = |reason: String| {
            let mut report = self.report(
                GateOutcome::Ignored,
                Trigger::ProductionExecution,
                Some(reason),
            );
            report.execution = None;
            report
        };
        let Some(bucket) = self.config.promotion_bucket.clone() else {
            return Ok(ignored(format!(
                "production execution {execution_id}: installs are not promoted (no PROMOTION_BUCKET), nothing to check"
            )));
        };
        let ssm = &self.clients.ssm;
        let window = &self.config.production_window_id;
        let Some(execution) = gather::execution(ssm, window, execution_id)
            .await
            .map_err(FunctionError::retryable)?
        else {
            return Ok(ignored(format!(
                "execution {execution_id} is not one of production window {window}'s"
            )));
        };
        let key = promotion_record_key(window);
        let read = self
            .clients
            .s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await;
        let object = match read {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(ignored(format!(
                    "production execution {execution_id}: no list promoted yet (s3://{bucket}/{key}), nothing to check"
                )));
            }
            Err(err) => return Err(FunctionError::aws("s3:GetObject", err).retryable()),
        };
        let body = object.body.collect().await.map_err(|err| {
            FunctionError::Invariant(format!("s3://{bucket}/{key} could not be read: {err}"))
        })?;
        let promotion: promote::Promotion =
            serde_json::from_slice(&body.into_bytes()).map_err(|err| {
                FunctionError::Invariant(format!(
                    "s3://{bucket}/{key} is not a promotion record: {err}"
                ))
            })?;
        let mut instances =
            gather::patched_instances(ssm, execution_id, &self.config.patch_documents)
                .await
                .map_err(FunctionError::retryable)?;
        instances.truncate(self.config.max_promotion_reads);
        // Installs outside the baseline are reported `InstalledOther`: a listed version the pinned
        // baseline does not approve, or a package someone installed by hand. Both are read.
        let reads = gather::installed_patches(
            ssm,
            &instances,
            &[
                patchpilot_shared::live_values::PatchState::Installed,
                patchpilot_shared::live_values::PatchState::InstalledOther,
            ],
        )
        .await;
        let verified = promote::verify(
            &promotion,
            execution_id,
            execution.start,
            Utc::now(),
            &reads,
        );
        patchpilot_shared::metrics::emit_with(
            FUNCTION,
            &[(GATE_DIMENSION, window)],
            &[(EXCEEDED_METRIC, verified.exceeded.len() as f64)],
            patchpilot_shared::metrics::Resolution::Standard,
        );
        let mut report = self.report(GateOutcome::Verified, Trigger::ProductionExecution, None);
        report.execution = Some(execution);
        report.verified = Some(verified.clone());
        if !self.config.common.dry_run {
            if !verified.exceeded.is_empty() {
                self.page_exceeded(&verified).await?;
            }
            let record = serde_json::to_value(&report).unwrap_or(Value::Null);
            self.store
                .save_verification(window, &record, Utc::now())
                .await
                .map_err(FunctionError::retryable)?;
        }
        Ok(report)
    }

    /// Pages `Promotion.Exceeded`: production installed versions staging never ran.
    pub(crate) async fn page_exceeded(
        &self,
        verified: &promote::Verification,
    ) -> Result<(), FunctionError> {
        let window = &self.config.production_window_id;
        let count = verified.exceeded.len();
        let subject = patchpilot_shared::aws::sns::subject(&format!(
            "Promotion exceeded: {window} installed {count} version{} staging never ran",
            if count == 1 { "" } else { "s" }
        ));
        let mut text = format!(
            "Production execution {} installed {count} version(s) outside the list promoted from staging execution {}:\n",
            verified.production_execution_id, verified.staging_execution_id
        );
        for excess in verified.exceeded.iter().take(50) {
            text.push_str(&format!(
                "  {} {} on {}\n",
                excess.id, excess.title, excess.instance_id
            ));
        }
        let mut document =
            serde_json::json!({"kind": "Promotion.Exceeded", "verification": verified});
        if let Some(list) = document["verification"]["exceeded"].as_array_mut() {
            list.truncate(1_000);
        }
        self.publish(
            subject,
            patchpilot_shared::aws::sns::envelope(&text, &document.to_string()),
            &[
                ("kind", "promotion_exceeded"),
                ("severity", "High"),
                ("window_id", window.as_str()),
            ],
        )
        .await
    }
}
