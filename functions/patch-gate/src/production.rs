//! What the gate changes, behind one seam: the production window, its running executions, its
//! baselines, the promoted list in S3, and the pages. The function runs with [`AwsProduction`]; tests
//! of deciding and acting run with [`InMemoryProduction`], which keeps every change in order and can
//! refuse any kind of change, without an AWS client or a mock in sight. The gate's reads (staging's
//! results, alarms, its own records) stay on its clients: they are facts, not effects.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_ssm::types::{
    PatchAction, PatchComplianceLevel, PatchComplianceStatus, PatchFilter, PatchFilterGroup,
    PatchFilterKey, PatchRule, PatchRuleGroup, PatchSource,
};
use patchpilot_shared::FunctionError;
pub use patchpilot_shared::aws::sns::Message;
use patchpilot_shared::error::ErrorClass;

use crate::pin::{Filter, Pinned};

/// An object written to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The body.
    pub body: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: String,
}

/// The changes the gate makes to production.
pub trait Production: Send + Sync {
    /// Enables or disables the production window. Retryable on failure: closing must happen.
    fn set_window(
        &self,
        window_id: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send;

    /// Cancels an unfinished production execution. Retryable on failure.
    fn cancel_execution(
        &self,
        execution_id: &str,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send;

    /// Replaces a production baseline's rules with staging's, pinned.
    fn pin_baseline(
        &self,
        pinned: &Pinned,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send;

    /// Writes an object (the promoted list, its record).
    fn put_object(&self, object: Object) -> impl Future<Output = Result<(), FunctionError>> + Send;

    /// Publishes a page to `topic_arn` (at most 256 KB). Retryable on failure.
    fn page(
        &self,
        topic_arn: &str,
        message: &Message,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send;
}

/// Production in an AWS account.
#[derive(Clone)]
pub struct AwsProduction {
    ssm: aws_sdk_ssm::Client,
    sns: aws_sdk_sns::Client,
    s3: aws_sdk_s3::Client,
}

impl AwsProduction {
    /// Production through these clients.
    pub fn new(ssm: aws_sdk_ssm::Client, sns: aws_sdk_sns::Client, s3: aws_sdk_s3::Client) -> Self {
        Self { ssm, sns, s3 }
    }
}

impl Production for AwsProduction {
    async fn set_window(&self, window_id: &str, enabled: bool) -> Result<(), FunctionError> {
        self.ssm
            .update_maintenance_window()
            .window_id(window_id)
            .enabled(enabled)
            .send()
            .await
            .map(|_| ())
            // Failing to close must be retried until it works or dead-letters; failing to open is
            // retried too (production stays as it was meanwhile).
            .map_err(|err| FunctionError::aws("ssm:UpdateMaintenanceWindow", err).retryable())
    }

    async fn cancel_execution(&self, execution_id: &str) -> Result<(), FunctionError> {
        self.ssm
            .cancel_maintenance_window_execution()
            .window_execution_id(execution_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                FunctionError::aws("ssm:CancelMaintenanceWindowExecution", err).retryable()
            })
    }

    async fn pin_baseline(&self, pinned: &Pinned) -> Result<(), FunctionError> {
        let rules = pinned
            .rules
            .iter()
            .map(|rule| {
                Ok(PatchRule::builder()
                    .patch_filter_group(filter_group(&rule.filters)?)
                    .set_compliance_level(
                        rule.compliance_level
                            .as_deref()
                            .map(PatchComplianceLevel::from),
                    )
                    .set_approve_until_date(rule.approve_until_date.clone())
                    .set_enable_non_security(rule.enable_non_security)
                    .build())
            })
            .collect::<Result<Vec<_>, FunctionError>>()?;
        let rules = PatchRuleGroup::builder()
            .set_patch_rules(Some(rules))
            .build()
            .map_err(|err| FunctionError::Invariant(format!("patch rule group: {err}")))?;
        let sources = pinned
            .sources
            .iter()
            .map(|source| {
                PatchSource::builder()
                    .name(&source.name)
                    .set_products(Some(source.products.clone()))
                    .configuration(&source.configuration)
                    .build()
                    .map_err(|err| FunctionError::Invariant(format!("patch source: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.ssm
            .update_patch_baseline()
            // An empty list clears production's own alternative repositories: staging's are the copy.
            .set_sources(Some(sources))
            .set_available_security_updates_compliance_status(
                pinned
                    .available_security_updates_compliance_status
                    .as_deref()
                    .map(PatchComplianceStatus::from),
            )
            .baseline_id(&pinned.production_baseline_id)
            .global_filters(filter_group(&pinned.global_filters)?)
            .approval_rules(rules)
            .set_approved_patches(Some(pinned.approved_patches.clone()))
            .set_approved_patches_compliance_level(
                pinned
                    .approved_patches_compliance_level
                    .as_deref()
                    .map(PatchComplianceLevel::from),
            )
            .set_approved_patches_enable_non_security(pinned.approved_patches_enable_non_security)
            .set_rejected_patches(Some(pinned.rejected_patches.clone()))
            .set_rejected_patches_action(
                pinned
                    .rejected_patches_action
                    .as_deref()
                    .map(PatchAction::from),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|err| FunctionError::aws("ssm:UpdatePatchBaseline", err))
    }

    async fn put_object(&self, object: Object) -> Result<(), FunctionError> {
        self.s3
            .put_object()
            .bucket(object.bucket)
            .key(object.key)
            .content_type(object.content_type)
            .body(object.body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|err| FunctionError::aws("s3:PutObject", err))
    }

    async fn page(&self, topic_arn: &str, message: &Message) -> Result<(), FunctionError> {
        patchpilot_shared::aws::sns::publish(&self.sns, topic_arn, message)
            .await
            .map(|_| ())
    }
}

fn filter_group(filters: &[Filter]) -> Result<PatchFilterGroup, FunctionError> {
    let filters = filters
        .iter()
        .map(|f| {
            PatchFilter::builder()
                .key(PatchFilterKey::from(f.key.as_str()))
                .set_values(Some(f.values.clone()))
                .build()
                .map_err(|err| FunctionError::Invariant(format!("patch filter: {err}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    PatchFilterGroup::builder()
        .set_patch_filters(Some(filters))
        .build()
        .map_err(|err| FunctionError::Invariant(format!("patch filter group: {err}")))
}

/// One change made to production, as [`InMemoryProduction`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The window enabled (`true`) or disabled.
    Window {
        /// Which window.
        window_id: String,
        /// Enabled or disabled.
        enabled: bool,
    },
    /// An execution cancelled.
    Cancelled(String),
    /// A baseline pinned.
    Pinned(Box<Pinned>),
    /// An object written.
    Object(Object),
    /// A page published.
    Paged {
        /// The topic.
        topic_arn: String,
        /// The message.
        message: Message,
    },
}

/// The kinds of change, to refuse one in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EffectKind {
    /// UpdateMaintenanceWindow.
    Window,
    /// CancelMaintenanceWindowExecution.
    Cancel,
    /// UpdatePatchBaseline.
    Pin,
    /// PutObject.
    Object,
    /// Publish.
    Page,
}

impl EffectKind {
    fn operation(self) -> &'static str {
        match self {
            Self::Window => "ssm:UpdateMaintenanceWindow",
            Self::Cancel => "ssm:CancelMaintenanceWindowExecution",
            Self::Pin => "ssm:UpdatePatchBaseline",
            Self::Object => "s3:PutObject",
            Self::Page => "sns:Publish",
        }
    }
}

/// Production in memory: every change kept in order; a refused kind fails as the service would
/// answer a denied call (`AccessDeniedException`), after the changes of a given count went through.
#[derive(Debug, Default)]
pub struct InMemoryProduction {
    effects: Mutex<Vec<Effect>>,
    /// Kind → how many of that kind succeed before the rest are refused.
    refused: Mutex<BTreeMap<EffectKind, usize>>,
}

impl InMemoryProduction {
    /// Production that accepts every change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses every change of `kind` after the first `after` of them.
    pub fn refusing(self, kind: EffectKind, after: usize) -> Self {
        if let Ok(mut refused) = self.refused.lock() {
            refused.insert(kind, after);
        }
        self
    }

    /// The changes made, in order.
    pub fn effects(&self) -> Vec<Effect> {
        self.effects
            .lock()
            .map(|effects| effects.clone())
            .unwrap_or_default()
    }

    fn make(&self, kind: EffectKind, effect: Effect) -> Result<(), FunctionError> {
        let mut effects = self
            .effects
            .lock()
            .map_err(|_| FunctionError::Invariant("in-memory production poisoned".to_owned()))?;
        let done = effects.iter().filter(|e| e.kind() == kind).count();
        let refused = self
            .refused
            .lock()
            .map_err(|_| FunctionError::Invariant("in-memory production poisoned".to_owned()))?
            .get(&kind)
            .is_some_and(|after| done >= *after);
        if refused {
            let retryable = matches!(
                kind,
                EffectKind::Window | EffectKind::Cancel | EffectKind::Page
            );
            return Err(FunctionError::Aws {
                operation: kind.operation().to_owned(),
                class: if retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Permanent
                },
                code: Some("AccessDeniedException".to_owned()),
                message: "User is not authorized to perform this action".to_owned(),
            });
        }
        effects.push(effect);
        Ok(())
    }
}

impl Effect {
    fn kind(&self) -> EffectKind {
        match self {
            Self::Window { .. } => EffectKind::Window,
            Self::Cancelled(_) => EffectKind::Cancel,
            Self::Pinned(_) => EffectKind::Pin,
            Self::Object(_) => EffectKind::Object,
            Self::Paged { .. } => EffectKind::Page,
        }
    }
}

impl Production for InMemoryProduction {
    async fn set_window(&self, window_id: &str, enabled: bool) -> Result<(), FunctionError> {
        self.make(
            EffectKind::Window,
            Effect::Window {
                window_id: window_id.to_owned(),
                enabled,
            },
        )
    }

    async fn cancel_execution(&self, execution_id: &str) -> Result<(), FunctionError> {
        self.make(
            EffectKind::Cancel,
            Effect::Cancelled(execution_id.to_owned()),
        )
    }

    async fn pin_baseline(&self, pinned: &Pinned) -> Result<(), FunctionError> {
        self.make(EffectKind::Pin, Effect::Pinned(Box::new(pinned.clone())))
    }

    async fn put_object(&self, object: Object) -> Result<(), FunctionError> {
        self.make(EffectKind::Object, Effect::Object(object))
    }

    async fn page(&self, topic_arn: &str, message: &Message) -> Result<(), FunctionError> {
        self.make(
            EffectKind::Page,
            Effect::Paged {
                topic_arn: topic_arn.to_owned(),
                message: message.clone(),
            },
        )
    }
}

/// Shared, so a test keeps a handle on what the gate changed.
impl<P: Production> Production for std::sync::Arc<P> {
    fn set_window(
        &self,
        window_id: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send {
        P::set_window(self, window_id, enabled)
    }

    fn cancel_execution(
        &self,
        execution_id: &str,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send {
        P::cancel_execution(self, execution_id)
    }

    fn pin_baseline(
        &self,
        pinned: &Pinned,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send {
        P::pin_baseline(self, pinned)
    }

    fn put_object(&self, object: Object) -> impl Future<Output = Result<(), FunctionError>> + Send {
        P::put_object(self, object)
    }

    fn page(
        &self,
        topic_arn: &str,
        message: &Message,
    ) -> impl Future<Output = Result<(), FunctionError>> + Send {
        P::page(self, topic_arn, message)
    }
}
