//! The simulated account: managed instances and their patches, baselines, maintenance windows, their
//! executions, Run Command commands and parameters. Per-instance patch counts are derived from the
//! per-patch states and kept up to date on every change, so the summary APIs always agree with
//! DescribeInstancePatches.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A patch as the vendor publishes it (shared by every instance that has it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchInfo {
    /// The KB id (Windows) or package id (Linux), e.g. `KB5031364` or `openssl.x86_64:1:3.0.8-1.amzn2023`.
    pub id: String,
    pub title: String,
    pub classification: String,
    /// Vendor severity, e.g. `Critical`, `Important`, `Medium`, `Low`.
    pub severity: String,
    /// The compliance level the baseline gives it: CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNSPECIFIED.
    #[serde(default = "unspecified")]
    pub compliance_level: String,
    #[serde(default)]
    pub cve_ids: Option<String>,
    #[serde(default)]
    pub release_date: Option<DateTime<Utc>>,
    /// The repository URL that serves it; absent: the operating system's default repositories
    /// (see `crate::sources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

fn unspecified() -> String {
    "UNSPECIFIED".to_owned()
}

impl PatchInfo {
    /// Security patches as Patch Manager counts them (advisory classification).
    pub fn is_security(&self) -> bool {
        matches!(self.classification.as_str(), "Security" | "SecurityUpdates")
    }
}

/// A patch's state on one instance, as DescribeInstancePatches reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatchState {
    Installed,
    InstalledOther,
    InstalledPendingReboot,
    InstalledRejected,
    Missing,
    NotApplicable,
    Failed,
    AvailableSecurityUpdate,
    /// Available but not approved by the instance's baseline at its last operation: Patch Manager
    /// neither lists nor counts it (the simulator keeps it to approve it at a later operation).
    NotApproved,
}

impl PatchState {
    pub const ALL: [PatchState; 8] = [
        Self::Installed,
        Self::InstalledOther,
        Self::InstalledPendingReboot,
        Self::InstalledRejected,
        Self::Missing,
        Self::NotApplicable,
        Self::Failed,
        Self::AvailableSecurityUpdate,
    ];

    /// The spelling the live service returns in `DescribeInstancePatches` (`"State": "Installed"`,
    /// the AWS CLI's documented output) and takes as `State` filter values (API reference sample
    /// values `Installed | InstalledOther | InstalledPendingReboot`), not the model's upper-case enum.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "Installed",
            Self::InstalledOther => "InstalledOther",
            Self::InstalledPendingReboot => "InstalledPendingReboot",
            Self::InstalledRejected => "InstalledRejected",
            Self::Missing => "Missing",
            Self::NotApplicable => "NotApplicable",
            Self::Failed => "Failed",
            Self::AvailableSecurityUpdate => "AvailableSecurityUpdate",
            Self::NotApproved => "NotApproved",
        }
    }

    /// Whether DescribeInstancePatches lists it and the counts include it.
    pub fn is_reported(self) -> bool {
        self != Self::NotApproved
    }

    /// A `State` filter value: the documented spelling only. The model's upper-case spelling is
    /// refused (InvalidFilter) rather than silently matching nothing — a choice, not a documented
    /// behaviour (see the fidelity ledger).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// States that make an instance NON_COMPLIANT under Patch Manager's default rules (pending reboot
    /// and rejected-but-installed count; available security updates do not unless the baseline says so).
    pub fn is_non_compliant(self) -> bool {
        matches!(
            self,
            Self::Missing | Self::Failed | Self::InstalledPendingReboot | Self::InstalledRejected
        )
    }
}

/// One patch on one instance. `patch` indexes the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePatch {
    pub patch: u32,
    pub state: PatchState,
    pub installed_time: Option<DateTime<Utc>>,
}

/// The summary Patch Manager keeps per instance, derived from its patches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PatchCounts {
    pub installed: i64,
    pub installed_other: i64,
    pub installed_pending_reboot: i64,
    pub installed_rejected: i64,
    pub missing: i64,
    pub failed: i64,
    pub not_applicable: i64,
    pub available_security_update: i64,
    pub critical_non_compliant: i64,
    pub security_non_compliant: i64,
    pub other_non_compliant: i64,
}

impl PatchCounts {
    pub fn derive(patches: &[InstancePatch], catalog: &[PatchInfo]) -> Self {
        Self::derive_with(patches, catalog, false)
    }

    /// As [`PatchCounts::derive`]; `available_security_non_compliant` is the instance baseline's
    /// `AvailableSecurityUpdatesComplianceStatus = NON_COMPLIANT` (Windows): available security
    /// updates that are not approved then make the instance non-compliant, and count as such.
    pub fn derive_with(
        patches: &[InstancePatch],
        catalog: &[PatchInfo],
        available_security_non_compliant: bool,
    ) -> Self {
        let mut counts = Self::default();
        for entry in patches {
            match entry.state {
                PatchState::Installed => counts.installed += 1,
                PatchState::InstalledOther => counts.installed_other += 1,
                PatchState::InstalledPendingReboot => counts.installed_pending_reboot += 1,
                PatchState::InstalledRejected => counts.installed_rejected += 1,
                PatchState::Missing => counts.missing += 1,
                PatchState::NotApplicable => counts.not_applicable += 1,
                PatchState::Failed => counts.failed += 1,
                PatchState::AvailableSecurityUpdate => counts.available_security_update += 1,
                PatchState::NotApproved => continue,
            }
            if entry.state.is_non_compliant()
                || (available_security_non_compliant
                    && entry.state == PatchState::AvailableSecurityUpdate)
            {
                let info = &catalog[entry.patch as usize];
                if info.compliance_level == "CRITICAL" {
                    counts.critical_non_compliant += 1;
                } else if info.is_security() {
                    counts.security_non_compliant += 1;
                } else {
                    counts.other_non_compliant += 1;
                }
            }
        }
        counts
    }

    /// No non-compliant patch: missing, failed, pending reboot, installed-rejected, or (when the
    /// baseline says so) an available security update.
    pub fn is_compliant(&self) -> bool {
        self.missing + self.failed + self.installed_pending_reboot + self.installed_rejected == 0
            && self.critical_non_compliant + self.security_non_compliant + self.other_non_compliant
                == 0
    }
}

/// The last patch operation an instance reported. Absent: the instance never reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchReport {
    /// `Scan` or `Install`.
    pub operation: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub baseline_id: String,
    #[serde(default)]
    pub snapshot_id: Option<String>,
    #[serde(default = "reboot_if_needed")]
    pub reboot_option: String,
    #[serde(default)]
    pub last_no_reboot_install_operation_time: Option<DateTime<Utc>>,
    /// The `InstallOverrideList` URL the operation ran with (InstancePatchState member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_override_list: Option<String>,
}

fn reboot_if_needed() -> String {
    "RebootIfNeeded".to_owned()
}

/// A managed node.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub name: Option<String>,
    pub platform_type: String,
    pub platform_name: String,
    pub platform_version: String,
    /// Patch Manager's operating-system key, e.g. `AMAZON_LINUX_2023`, `WINDOWS`.
    pub operating_system: String,
    pub patch_group: Option<String>,
    pub ping_status: String,
    pub agent_version: String,
    pub ip_address: String,
    pub computer_name: String,
    pub last_ping: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
    pub patches: Vec<InstancePatch>,
    pub report: Option<PatchReport>,
    pub counts: PatchCounts,
}

/// A patch baseline. Approval rules and filters are kept in AWS's own JSON shape and echoed back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub id: String,
    pub name: String,
    pub operating_system: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The default baseline for its operating system.
    #[serde(default)]
    pub default_baseline: bool,
    /// `AWS` for a baseline AWS provides (named by its ARN in AWS's own account, read-only); absent
    /// for the account's own.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub global_filters: Option<Value>,
    #[serde(default)]
    pub approval_rules: Option<Value>,
    #[serde(default)]
    pub approved_patches: Vec<String>,
    #[serde(default = "unspecified")]
    pub approved_patches_compliance_level: String,
    #[serde(default)]
    pub approved_patches_enable_non_security: bool,
    #[serde(default)]
    pub rejected_patches: Vec<String>,
    #[serde(default = "allow_as_dependency")]
    pub rejected_patches_action: String,
    #[serde(default)]
    pub sources: Vec<Value>,
    #[serde(default)]
    pub available_security_updates_compliance_status: Option<String>,
    /// Patch groups registered with this baseline.
    #[serde(default)]
    pub patch_groups: Vec<String>,
    #[serde(default = "Utc::now")]
    pub created: DateTime<Utc>,
    #[serde(default = "Utc::now")]
    pub modified: DateTime<Utc>,
}

/// The account AWS-provided baselines are named in: the one GetPatchBaseline's reference shows
/// (`arn:aws:ssm:us-east-2:733109147000:patchbaseline/…`). The live account differs by Region and is
/// not published for each; any fixed value other than the caller's own exercises the same code.
pub const AWS_BASELINE_ACCOUNT: &str = "733109147000";

impl Baseline {
    /// Provided by AWS (not the account's own).
    pub fn is_aws_owned(&self) -> bool {
        self.owner.as_deref() == Some("AWS")
    }
}

fn allow_as_dependency() -> String {
    "ALLOW_AS_DEPENDENCY".to_owned()
}

/// What a maintenance-window task does, for the simulator's execution logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// AWS-RunPatchBaseline and friends: patches the targets.
    Patch,
    /// A post-patch verification command.
    Verify,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowTarget {
    pub id: String,
    /// Targets the instances of these patch groups (tag `Patch Group` / `PatchGroup`).
    pub patch_groups: Vec<String>,
    #[serde(default)]
    pub owner_information: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowTask {
    pub id: String,
    pub document: String,
    pub kind: TaskKind,
    /// `Install` or `Scan` for patch tasks.
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default = "reboot_if_needed")]
    pub reboot_option: String,
    /// The task's name, when registered with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The task's description, when given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The role the task runs as, when given one (otherwise Systems Manager's service-linked role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role_arn: Option<String>,
    /// The CloudWatch alarm the task checks before its invocations run (API `AlarmConfiguration`:
    /// `Alarms` with one `Name`, `IgnorePollAlarmFailure`), as the API spells it (ledger row 26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<Value>,
    /// The patch document's other parameters the task sends (`InstallOverrideList`,
    /// `BaselineOverride`, `SnapshotId`, …), as Run Command takes them: name → values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    pub schedule: String,
    #[serde(default)]
    pub schedule_timezone: Option<String>,
    #[serde(default)]
    pub schedule_offset: Option<i64>,
    pub duration: i64,
    pub cutoff: i64,
    #[serde(default)]
    pub allow_unassociated_targets: bool,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub targets: Vec<WindowTarget>,
    #[serde(default)]
    pub tasks: Vec<WindowTask>,
    #[serde(default = "Utc::now")]
    pub created: DateTime<Utc>,
    #[serde(default = "Utc::now")]
    pub modified: DateTime<Utc>,
}

/// One target's run of one task in a window execution; `execution_id` is the Run Command command id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInvocation {
    pub id: String,
    pub execution_id: String,
    pub instance_id: String,
    pub status: String,
    #[serde(default)]
    pub status_details: Option<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub window_target_id: Option<String>,
    #[serde(default)]
    pub owner_information: Option<String>,
    #[serde(default)]
    pub parameters: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskExecution {
    pub id: String,
    pub task_id: String,
    /// The document name (TaskArn of a RUN_COMMAND task).
    pub task_arn: String,
    pub status: String,
    #[serde(default)]
    pub status_details: Option<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub invocations: Vec<TaskInvocation>,
    /// The task's `AlarmConfiguration` when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_configuration: Option<Value>,
    /// The alarms that stopped it (`AlarmStateInformation`: `Name`, `State`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_alarms: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowExecution {
    pub id: String,
    pub window_id: String,
    pub status: String,
    #[serde(default)]
    pub status_details: Option<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tasks: Vec<TaskExecution>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandInvocation {
    pub instance_id: String,
    #[serde(default)]
    pub instance_name: Option<String>,
    pub status: String,
    #[serde(default)]
    pub status_details: Option<String>,
    #[serde(default = "minus_one")]
    pub response_code: i64,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

fn minus_one() -> i64 {
    -1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub id: String,
    pub document_name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, Vec<String>>,
    pub requested: DateTime<Utc>,
    pub expires_after: DateTime<Utc>,
    pub status: String,
    #[serde(default)]
    pub status_details: Option<String>,
    #[serde(default)]
    pub invocations: Vec<CommandInvocation>,
}

impl Command {
    pub fn instance_ids(&self) -> Vec<String> {
        self.invocations
            .iter()
            .map(|invocation| invocation.instance_id.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    #[serde(default = "string_type", rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default = "one")]
    pub version: i64,
    #[serde(default = "Utc::now")]
    pub last_modified: DateTime<Utc>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "text_data_type")]
    pub data_type: String,
    /// `Standard` or `Advanced` (Intelligent-Tiering resolves to one of them when written).
    #[serde(default = "standard_tier")]
    pub tier: String,
    /// The parameter policies (JSON text), advanced parameters only.
    #[serde(default)]
    pub policies: Option<String>,
    /// The labels on the current version.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The earlier versions, oldest first (Parameter Store keeps the latest 100 in all).
    #[serde(default)]
    pub history: Vec<ParameterVersion>,
}

/// An earlier version of a parameter, as `Name:version` and `Name:label` read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterVersion {
    pub version: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    pub last_modified: DateTime<Utc>,
    #[serde(default = "text_data_type")]
    pub data_type: String,
    #[serde(default)]
    pub labels: Vec<String>,
}

impl Parameter {
    /// A new parameter at version 1, standard tier, no labels.
    pub fn new(name: &str, kind: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            value: value.to_owned(),
            version: 1,
            last_modified: Utc::now(),
            description: None,
            data_type: text_data_type(),
            tier: standard_tier(),
            policies: None,
            labels: Vec::new(),
            history: Vec::new(),
        }
    }
}

/// The key Parameter Store finds a parameter by: a top-level name with or without its leading slash
/// is one parameter (`param` and `/param`); a name in a hierarchy always starts with one.
pub fn parameter_key(name: &str) -> String {
    match name.strip_prefix('/') {
        Some(rest) if !rest.contains('/') => rest.to_owned(),
        _ => name.to_owned(),
    }
}

fn standard_tier() -> String {
    "Standard".to_owned()
}

fn string_type() -> String {
    "String".to_owned()
}
fn one() -> i64 {
    1
}
fn text_data_type() -> String {
    "text".to_owned()
}

/// A Secrets Manager secret, as Parameter Store reads it under `/aws/reference/secretsmanager/`
/// (ledger row 34). The simulator serves no Secrets Manager API: scenarios and tests seed secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    /// Its versions; the one staged `AWSCURRENT` is what a reference without a selector reads.
    pub versions: Vec<SecretVersion>,
    /// Scheduled for deletion (Secrets Manager's recovery window): references to it are refused.
    #[serde(default)]
    pub deleted: bool,
}

/// One version of a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretVersion {
    /// Secrets Manager's version id (a UUID).
    pub id: String,
    /// The secret string; absent for a binary secret, whose reference carries no `Value`.
    #[serde(default)]
    pub string: Option<String>,
    /// Its staging labels (`AWSCURRENT`, `AWSPREVIOUS`, or a user's).
    #[serde(default)]
    pub stages: Vec<String>,
    #[serde(default = "Utc::now")]
    pub created: DateTime<Utc>,
}

/// Everything the simulator serves.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub account: String,
    pub region: String,
    pub catalog: Vec<PatchInfo>,
    pub catalog_index: HashMap<String, u32>,
    pub instances: BTreeMap<String, Instance>,
    /// Patch group → its instance ids, sorted (the order pages are served in).
    pub group_members: BTreeMap<String, Vec<String>>,
    pub baselines: BTreeMap<String, Baseline>,
    pub windows: BTreeMap<String, Window>,
    pub executions: BTreeMap<String, WindowExecution>,
    pub commands: BTreeMap<String, Command>,
    pub parameters: BTreeMap<String, Parameter>,
    /// Secrets Manager's secrets by name, read only through Parameter Store's reference path.
    pub secrets: BTreeMap<String, Secret>,
    /// `DescribeInstancePatchStatesForPatchGroup` answers up to the 100 a request may ask for,
    /// instead of the 5 the service model caps its output at (ledger row 30; the default is the
    /// model's cap, the worse case).
    pub wide_group_pages: bool,
    /// `DescribePatchGroupState.Instances` counts every instance tagged into the group, reporting
    /// or not (the other reading of ledger row 10; the default counts reporting instances only).
    pub group_state_counts_members: bool,
}

/// The most instance patch states botocore's model lets one
/// `DescribeInstancePatchStatesForPatchGroup` response hold (`InstancePatchStatesList`, max 5).
pub const GROUP_PAGE_MODEL_CAP: usize = 5;

impl State {
    /// The most instance patch states one `DescribeInstancePatchStatesForPatchGroup` page holds.
    pub fn group_page_cap(&self) -> usize {
        if self.wide_group_pages {
            100
        } else {
            GROUP_PAGE_MODEL_CAP
        }
    }

    /// Rebuilds the patch-group index after instances were added, removed or regrouped.
    pub fn reindex_groups(&mut self) {
        let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for instance in self.instances.values() {
            if let Some(group) = &instance.patch_group {
                members
                    .entry(group.clone())
                    .or_default()
                    .push(instance.id.clone());
            }
        }
        self.group_members = members;
    }

    /// Gives instance `from` the id `to` (a real EC2 instance's, for tests that join the simulator
    /// with LocalStack's EC2), in the group index and in the commands that ran on it. Returns whether
    /// `from` existed.
    pub fn rename_instance(&mut self, from: &str, to: &str) -> bool {
        let Some(mut instance) = self.instances.remove(from) else {
            return false;
        };
        instance.id = to.to_owned();
        self.instances.insert(to.to_owned(), instance);
        self.reindex_groups();
        for command in self.commands.values_mut() {
            for invocation in &mut command.invocations {
                if invocation.instance_id == from {
                    invocation.instance_id = to.to_owned();
                }
            }
        }
        true
    }

    /// Recomputes one instance's derived counts after its patches changed.
    pub fn recount(&mut self, instance_id: &str) {
        let available_security_non_compliant = self
            .instances
            .get(instance_id)
            .and_then(|i| self.baseline_for(i.patch_group.as_deref(), &i.operating_system))
            .and_then(|b| b.available_security_updates_compliance_status.as_deref())
            == Some("NON_COMPLIANT");
        if let Some(instance) = self.instances.get_mut(instance_id) {
            instance.counts = PatchCounts::derive_with(
                &instance.patches,
                &self.catalog,
                available_security_non_compliant,
            );
        }
    }

    /// Recounts every instance (after baselines change, or a scenario is loaded).
    pub fn recount_all(&mut self) {
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        for id in ids {
            self.recount(&id);
        }
    }

    /// The baseline that patches `group` on `operating_system`: the registered one, else the OS default.
    pub fn baseline_for(&self, group: Option<&str>, operating_system: &str) -> Option<&Baseline> {
        let registered = group.and_then(|group| {
            self.baselines.values().find(|baseline| {
                baseline.operating_system == operating_system
                    && baseline.patch_groups.iter().any(|g| g == group)
            })
        });
        registered.or_else(|| {
            self.baselines.values().find(|baseline| {
                baseline.operating_system == operating_system && baseline.default_baseline
            })
        })
    }

    /// How the service names `baseline`: its id, or for an AWS-provided one the ARN in AWS's account
    /// (ledger row 17).
    pub fn baseline_public_id(&self, baseline: &Baseline) -> String {
        if baseline.is_aws_owned() {
            format!(
                "arn:aws:ssm:{}:{AWS_BASELINE_ACCOUNT}:patchbaseline/{}",
                self.region, baseline.id
            )
        } else {
            baseline.id.clone()
        }
    }

    /// Adds (or replaces) a parameter under its Parameter Store key.
    pub fn insert_parameter(&mut self, parameter: Parameter) {
        self.parameters
            .insert(parameter_key(&parameter.name), parameter);
    }

    /// A secret's ARN: Secrets Manager ends it with a hyphen and six random characters, stable per
    /// secret here (derived from the name).
    pub fn secret_arn(&self, name: &str) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        // FNV-1a: a fixed hash, so an ARN is the same in every run.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        let suffix: String = (0..6)
            .map(|i| char::from(ALPHABET[((hash >> (i * 8)) % ALPHABET.len() as u64) as usize]))
            .collect();
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
            self.region, self.account
        )
    }

    pub fn arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ssm:{}:{}:{kind}/{id}", self.region, self.account)
    }
}

/// Epoch seconds with millisecond precision, the awsJson1_1 timestamp form.
pub fn epoch(time: DateTime<Utc>) -> Value {
    serde_json::json!(time.timestamp_millis() as f64 / 1000.0)
}

/// The timestamp type the state uses.
pub type DateTimeUtc = DateTime<Utc>;

/// The current time, for tools that build state by hand.
pub fn now() -> DateTimeUtc {
    Utc::now()
}
