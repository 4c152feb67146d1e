//! The gate's policy: a pure function from what was read about the staging run to open or closed, with
//! every check's result. Anything that could not be read fails its check: the gate fails closed.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use patchpilot_shared::events::WindowExecutionStatus;
use serde::{Deserialize, Serialize};

/// The configurable policy (strict defaults).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// `MAX_FAILED_INSTANCES` (default 0).
    pub max_failed_instances: usize,
    /// `MIN_REPORTED_PERCENT` (default 100).
    pub min_reported_percent: f64,
    /// `ALLOW_PENDING_REBOOT` (default false).
    pub allow_pending_reboot: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failed_instances: 0,
            min_reported_percent: 100.0,
            allow_pending_reboot: false,
        }
    }
}

/// The staging window execution being judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The window execution id.
    pub id: String,
    /// How it ended (or where it is, if it has not).
    pub status: WindowExecutionStatus,
    /// When it started: reports must be newer.
    pub start: DateTime<Utc>,
}

/// A task of the execution: patch tasks run a patch document; any other task is a verification task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// The task execution id.
    pub task_execution_id: String,
    /// The task's document (its ARN or name).
    pub document: String,
    /// Whether the document is one of `PATCH_DOCUMENTS`.
    pub is_patch: bool,
    /// How the task ended.
    pub status: WindowExecutionStatus,
    /// For patch tasks: each invocation's status and (when known) its instance.
    pub invocations: Vec<Invocation>,
}

/// One invocation of a patch task on one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    /// How the invocation ended.
    pub status: WindowExecutionStatus,
    /// The instance, when it could be resolved; otherwise a description of the invocation.
    pub instance: String,
}

/// One member of the staging patch group, as Patch Manager last saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    /// The instance.
    pub instance_id: String,
    /// `None`: the instance never reported.
    pub operation: Option<String>,
    /// When that operation ended.
    pub operation_end: Option<DateTime<Utc>>,
    /// Patches in state Failed.
    pub failed: i64,
    /// Patches installed and awaiting a reboot.
    pub pending_reboot: i64,
}

/// Everything the decision needs. A read that failed is `Err(what went wrong)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facts {
    /// The execution judged.
    pub execution: Execution,
    /// The execution's tasks and their invocations.
    pub tasks: Result<Vec<Task>, String>,
    /// The staging patch group's members and their last patch state.
    pub members: Result<Vec<Member>, String>,
    /// `None` when no health-alarm prefix is configured; otherwise the alarms in ALARM.
    pub alarms: Option<Result<Vec<String>, String>>,
}

/// The gate's checks, serialised as the decision records and outputs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// The staging window execution ended `SUCCESS`.
    ExecutionSucceeded,
    /// The patch tasks' invocations succeeded (within `MAX_FAILED_INSTANCES`).
    PatchTasksSucceeded,
    /// Every non-patch (verification) task succeeded.
    VerificationSucceeded,
    /// Enough of the staging group reported an Install after the execution started.
    InstancesReported,
    /// No more instances failed than `MAX_FAILED_INSTANCES`.
    NoFailedPatches,
    /// No instance awaits a reboot (unless `ALLOW_PENDING_REBOOT`).
    NoPendingReboot,
    /// No health alarm under the configured prefix is in ALARM.
    HealthAlarmsOk,
    /// Production's baselines were pinned to what staging tested (added when pinning fails).
    ProductionPinned,
    /// No operator holds production closed (added, failing, while a hold is in place).
    OperatorHold,
    /// The re-check: no staging instance reported a failed Install that the decision did not know.
    NoNewInstallFailures,
}

impl CheckName {
    /// The name as records, messages and outputs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExecutionSucceeded => "execution_succeeded",
            Self::PatchTasksSucceeded => "patch_tasks_succeeded",
            Self::VerificationSucceeded => "verification_succeeded",
            Self::InstancesReported => "instances_reported",
            Self::NoFailedPatches => "no_failed_patches",
            Self::NoPendingReboot => "no_pending_reboot",
            Self::HealthAlarmsOk => "health_alarms_ok",
            Self::ProductionPinned => "production_pinned",
            Self::OperatorHold => "operator_hold",
            Self::NoNewInstallFailures => "no_new_install_failures",
        }
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Which check.
    pub name: CheckName,
    /// Whether it let production open.
    pub passed: bool,
    /// What was found, for the message and the record.
    pub detail: String,
}

/// The gate's verdict on one staging execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Production may patch: every check passed.
    pub open: bool,
    /// Every check, in the order they run.
    pub checks: Vec<Check>,
    /// Instances that failed in staging (invocations and patches), sorted.
    pub failed_instances: Vec<String>,
}

impl Decision {
    /// The failed checks' details: why the gate is closed.
    pub fn reasons(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|check| !check.passed)
            .map(|check| format!("{}: {}", check.name, check.detail))
            .collect()
    }
}

fn check(name: CheckName, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        name,
        passed,
        detail: detail.into(),
    }
}

fn unreadable(name: CheckName, what: &str, error: &str) -> Check {
    check(name, false, format!("could not read {what}: {error}"))
}

fn list(items: &[String], limit: usize) -> String {
    let shown: Vec<&str> = items.iter().take(limit).map(String::as_str).collect();
    if items.len() > limit {
        format!("{} and {} more", shown.join(", "), items.len() - limit)
    } else {
        shown.join(", ")
    }
}

/// Judges the staging run: every check below, open only if all pass. A read that failed fails the
/// checks that needed it.
pub fn decide(facts: &Facts, policy: &Policy) -> Decision {
    let mut checks = vec![execution_succeeded(&facts.execution)];
    let mut failed: BTreeSet<String> = BTreeSet::new();
    match &facts.tasks {
        Err(error) => {
            let what = "the execution's tasks";
            checks.push(unreadable(CheckName::PatchTasksSucceeded, what, error));
            checks.push(unreadable(CheckName::VerificationSucceeded, what, error));
        }
        Ok(tasks) => {
            checks.push(patch_tasks_succeeded(tasks, policy, &mut failed));
            checks.push(verification_succeeded(tasks));
        }
    }
    match &facts.members {
        Err(error) => {
            let what = "the staging group";
            checks.push(unreadable(CheckName::InstancesReported, what, error));
            checks.push(unreadable(CheckName::NoFailedPatches, what, error));
            if !policy.allow_pending_reboot {
                checks.push(unreadable(CheckName::NoPendingReboot, what, error));
            }
        }
        Ok(members) => {
            let start = facts.execution.start;
            checks.push(instances_reported(members, start, policy));
            checks.push(no_failed_patches(members, policy, &mut failed));
            if !policy.allow_pending_reboot {
                checks.push(no_pending_reboot(members));
            }
        }
    }
    checks.extend(alarms_check(facts.alarms.as_ref()));
    verdict(checks, failed)
}

/// What the re-check reads: the staging group as it is now, and the health alarms. The execution's
/// tasks do not change after it ends, so they are not read again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecheckFacts {
    /// The decided execution.
    pub execution: Execution,
    /// The staging patch group's members and their *last* patch operation.
    pub members: Result<Vec<Member>, String>,
    /// `None` when no health-alarm prefix is configured; otherwise the alarms in ALARM.
    pub alarms: Option<Result<Vec<String>, String>>,
}

/// The re-check of an open decision: only what is *new* since it was made can close production.
///
/// An instance's patch state describes its last operation, not the staging run: a Scan since then
/// (Quick Setup's daily scan, a scan association, a patch policy, an operator) replaces `Operation`
/// and the counts. Re-judging the run against that data would close production for a routine scan,
/// so the re-check judges two things only: health alarms firing now, and failed *Installs* reported
/// after the execution started by instances the decision did not already count as failed (together
/// with those, more than `MAX_FAILED_INSTANCES`). A Scan's counts are never read as a new failure.
pub fn recheck(facts: &RecheckFacts, decided_failed: &[String], policy: &Policy) -> Decision {
    let mut checks = Vec::new();
    let mut failed: BTreeSet<String> = decided_failed.iter().cloned().collect();
    match &facts.members {
        Err(error) => checks.push(unreadable(
            CheckName::NoNewInstallFailures,
            "the staging group",
            error,
        )),
        Ok(members) => checks.push(no_new_install_failures(
            members,
            facts.execution.start,
            policy,
            &mut failed,
        )),
    }
    checks.extend(alarms_check(facts.alarms.as_ref()));
    verdict(checks, failed)
}

/// The re-check's failure check: Installs that ended after `start` with failed patches, on instances
/// not already counted.
fn no_new_install_failures(
    members: &[Member],
    start: DateTime<Utc>,
    policy: &Policy,
    failed: &mut BTreeSet<String>,
) -> Check {
    let name = CheckName::NoNewInstallFailures;
    let new: Vec<&Member> = members
        .iter()
        .filter(|m| m.operation.as_deref() == Some("Install"))
        .filter(|m| m.operation_end.is_some_and(|end| end > start))
        .filter(|m| m.failed > 0 && !failed.contains(&m.instance_id))
        .collect();
    if new.is_empty() {
        return check(
            name,
            true,
            "no staging instance reported a new failed Install since the decision",
        );
    }
    failed.extend(new.iter().map(|m| m.instance_id.clone()));
    let named: Vec<String> = new
        .iter()
        .map(|m| format!("{} ({} failed)", m.instance_id, m.failed))
        .collect();
    let detail = format!(
        "{} instance(s) reported a failed Install since the decision, {} failed in all (allowed {}): {}",
        new.len(),
        failed.len(),
        policy.max_failed_instances,
        list(&named, 10)
    );
    check(name, failed.len() <= policy.max_failed_instances, detail)
}

/// The health-alarm check, when a prefix is configured; a failed read fails it.
fn alarms_check(alarms: Option<&Result<Vec<String>, String>>) -> Option<Check> {
    match alarms? {
        Err(error) => Some(unreadable(
            CheckName::HealthAlarmsOk,
            "the health alarms",
            error,
        )),
        Ok(alarms) => Some(health_alarms_ok(alarms)),
    }
}

/// Open only if every check passed.
fn verdict(checks: Vec<Check>, failed: BTreeSet<String>) -> Decision {
    Decision {
        open: checks.iter().all(|c| c.passed),
        checks,
        failed_instances: failed.into_iter().collect(),
    }
}

/// Check 1: the execution itself ended `SUCCESS`.
fn execution_succeeded(execution: &Execution) -> Check {
    let (passed, detail) = match &execution.status {
        WindowExecutionStatus::Success => (true, format!("{} ended SUCCESS", execution.id)),
        status if status.is_terminal() => (false, format!("{} ended {status}", execution.id)),
        status => (false, format!("{} is {status}, not finished", execution.id)),
    };
    check(CheckName::ExecutionSucceeded, passed, detail)
}

/// Check 2: the patch tasks reached instances and their invocations succeeded; the failed ones
/// are added to `failed`.
fn patch_tasks_succeeded(tasks: &[Task], policy: &Policy, failed: &mut BTreeSet<String>) -> Check {
    let name = CheckName::PatchTasksSucceeded;
    let patch_tasks: Vec<&Task> = tasks.iter().filter(|t| t.is_patch).collect();
    let invocations: Vec<&Invocation> = patch_tasks.iter().flat_map(|t| &t.invocations).collect();
    let bad: Vec<&Invocation> = invocations
        .iter()
        .copied()
        .filter(|i| i.status != WindowExecutionStatus::Success)
        .collect();
    failed.extend(bad.iter().map(|i| i.instance.clone()));
    if patch_tasks.is_empty() {
        return check(name, false, "the execution ran no patch task");
    }
    if invocations.is_empty() {
        return check(name, false, "the patch tasks reached no instance");
    }
    if bad.is_empty() {
        return check(
            name,
            true,
            format!("{} invocations succeeded", invocations.len()),
        );
    }
    let names: Vec<String> = bad
        .iter()
        .map(|i| format!("{} {}", i.instance, i.status))
        .collect();
    let detail = format!(
        "{} of {} invocations did not succeed (allowed {}): {}",
        bad.len(),
        invocations.len(),
        policy.max_failed_instances,
        list(&names, 10)
    );
    check(name, bad.len() <= policy.max_failed_instances, detail)
}

/// Check 3: every verification (non-patch) task succeeded; a window without one passes.
fn verification_succeeded(tasks: &[Task]) -> Check {
    let name = CheckName::VerificationSucceeded;
    let verification: Vec<&Task> = tasks.iter().filter(|t| !t.is_patch).collect();
    let unverified: Vec<String> = verification
        .iter()
        .filter(|t| t.status != WindowExecutionStatus::Success)
        .map(|t| format!("{} ({}) {}", t.document, t.task_execution_id, t.status))
        .collect();
    if verification.is_empty() {
        check(name, true, "the window has no verification task")
    } else if unverified.is_empty() {
        let detail = format!("{} verification task(s) succeeded", verification.len());
        check(name, true, detail)
    } else {
        let detail = format!("verification did not succeed: {}", list(&unverified, 5));
        check(name, false, detail)
    }
}

/// Check 4: enough members reported an Install that ended after the execution started.
fn instances_reported(members: &[Member], start: DateTime<Utc>, policy: &Policy) -> Check {
    let name = CheckName::InstancesReported;
    if members.is_empty() {
        return check(name, false, "the staging patch group has no instances");
    }
    let fresh = |m: &&Member| {
        m.operation.as_deref() == Some("Install") && m.operation_end.is_some_and(|end| end > start)
    };
    let reported = members.iter().filter(fresh).count();
    let missing: Vec<String> = members
        .iter()
        .filter(|m| !fresh(m))
        .map(|m| match (&m.operation, m.operation_end) {
            (None, _) => format!("{} never reported", m.instance_id),
            (Some(op), Some(end)) => format!(
                "{} last {op} ended {}",
                m.instance_id,
                end.format("%Y-%m-%d %H:%M")
            ),
            (Some(op), None) => format!("{} last {op} has no end time", m.instance_id),
        })
        .collect();
    let percent = reported as f64 * 100.0 / members.len() as f64;
    let passed = percent >= policy.min_reported_percent;
    if missing.is_empty() {
        let detail = format!(
            "all {} instances reported an Install after the execution started",
            members.len()
        );
        return check(name, passed, detail);
    }
    let detail = format!(
        "{reported} of {} ({percent:.1} %, required {} %) reported an Install after the execution started; not: {}",
        members.len(),
        policy.min_reported_percent,
        list(&missing, 10)
    );
    check(name, passed, detail)
}

/// Check 5: no more instances failed (patches here, invocations already in `failed`) than allowed.
fn no_failed_patches(members: &[Member], policy: &Policy, failed: &mut BTreeSet<String>) -> Check {
    let with_failed: Vec<&Member> = members.iter().filter(|m| m.failed > 0).collect();
    failed.extend(with_failed.iter().map(|m| m.instance_id.clone()));
    let passed = failed.len() <= policy.max_failed_instances;
    if with_failed.is_empty() {
        return check(
            CheckName::NoFailedPatches,
            passed,
            "no instance reports a failed patch",
        );
    }
    let named: Vec<String> = with_failed
        .iter()
        .map(|m| format!("{} ({} failed)", m.instance_id, m.failed))
        .collect();
    let detail = format!(
        "{} instances failed (allowed {}); with failed patches: {}",
        failed.len(),
        policy.max_failed_instances,
        list(&named, 10)
    );
    check(CheckName::NoFailedPatches, passed, detail)
}

/// Check 6: no member awaits a reboot (checked only when `ALLOW_PENDING_REBOOT` is false).
fn no_pending_reboot(members: &[Member]) -> Check {
    let pending: Vec<String> = members
        .iter()
        .filter(|m| m.pending_reboot > 0)
        .map(|m| m.instance_id.clone())
        .collect();
    let detail = if pending.is_empty() {
        "no instance awaits a reboot".to_owned()
    } else {
        format!("awaiting a reboot: {}", list(&pending, 10))
    };
    check(CheckName::NoPendingReboot, pending.is_empty(), detail)
}

/// Check 7: no health alarm is in ALARM (checked only when a prefix is configured).
fn health_alarms_ok(alarms: &[String]) -> Check {
    let detail = if alarms.is_empty() {
        "no health alarm is in ALARM".to_owned()
    } else {
        format!("in ALARM: {}", list(alarms, 10))
    };
    check(CheckName::HealthAlarmsOk, alarms.is_empty(), detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
    }

    fn member(id: &str) -> Member {
        Member {
            instance_id: id.into(),
            operation: Some("Install".into()),
            operation_end: Some(start() + Duration::minutes(20)),
            failed: 0,
            pending_reboot: 0,
        }
    }

    fn invocation(instance: &str, status: &str) -> Invocation {
        Invocation {
            status: status.into(),
            instance: instance.into(),
        }
    }

    fn good() -> Facts {
        Facts {
            execution: Execution {
                id: "exec-1".into(),
                status: "SUCCESS".into(),
                start: start(),
            },
            tasks: Ok(vec![
                Task {
                    task_execution_id: "t-1".into(),
                    document: "AWS-RunPatchBaseline".into(),
                    is_patch: true,
                    status: "SUCCESS".into(),
                    invocations: vec![invocation("i-1", "SUCCESS"), invocation("i-2", "SUCCESS")],
                },
                Task {
                    task_execution_id: "t-2".into(),
                    document: "AWS-RunShellScript".into(),
                    is_patch: false,
                    status: "SUCCESS".into(),
                    invocations: vec![],
                },
            ]),
            members: Ok(vec![member("i-1"), member("i-2")]),
            alarms: Some(Ok(vec![])),
        }
    }

    fn recheck_facts(members: Vec<Member>, alarms: Vec<String>) -> RecheckFacts {
        RecheckFacts {
            execution: good().execution,
            members: Ok(members),
            alarms: Some(Ok(alarms)),
        }
    }

    fn scanned(id: &str, hours_after: i64, failed: i64) -> Member {
        Member {
            operation: Some("Scan".into()),
            operation_end: Some(start() + Duration::hours(hours_after)),
            failed,
            ..member(id)
        }
    }

    #[test]
    fn a_routine_scan_after_the_run_does_not_close_the_recheck() {
        let policy = Policy::default();
        // The daily scan overwrote both instances' last operation (and one still reports a missing
        // patch as failed from the scan's point of view): nothing new happened to the run.
        let facts = recheck_facts(vec![scanned("i-1", 5, 0), scanned("i-2", 6, 1)], vec![]);
        let decision = recheck(&facts, &[], &policy);
        assert!(decision.open, "{:?}", decision.reasons());
        // The same scan data fails the full decision: the reason the re-check must not re-judge the run.
        let mut full = good();
        full.members = facts.members.clone();
        assert!(!decide(&full, &policy).open);
    }

    #[test]
    fn the_recheck_closes_on_a_new_failed_install_or_a_firing_alarm_only() {
        let policy = Policy::default();
        let mut failed_install = member("i-2");
        failed_install.failed = 2;
        let decision = recheck(
            &recheck_facts(vec![member("i-1"), failed_install.clone()], vec![]),
            &[],
            &policy,
        );
        assert!(!decision.open);
        assert_eq!(decision.failed_instances, ["i-2"]);
        assert_eq!(decision.checks[0].name, CheckName::NoNewInstallFailures);
        // Already counted by the decision (allowed by the policy): not new.
        let lenient = Policy {
            max_failed_instances: 1,
            ..Policy::default()
        };
        let known = recheck(
            &recheck_facts(vec![failed_install.clone()], vec![]),
            &["i-2".into()],
            &lenient,
        );
        assert!(known.open, "{:?}", known.reasons());
        // An Install before the execution started is not new either.
        failed_install.operation_end = Some(start() - Duration::hours(1));
        assert!(recheck(&recheck_facts(vec![failed_install], vec![]), &[], &policy).open);
        let alarm = recheck(
            &recheck_facts(vec![member("i-1")], vec!["svc-health".into()]),
            &[],
            &policy,
        );
        assert!(!alarm.open);
        assert_eq!(alarm.reasons(), ["health_alarms_ok: in ALARM: svc-health"]);
        let mut unreadable = recheck_facts(vec![], vec![]);
        unreadable.members = Err("throttled".into());
        assert!(!recheck(&unreadable, &[], &policy).open, "fails closed");
    }

    fn failed_checks(facts: &Facts, policy: &Policy) -> Vec<&'static str> {
        let decision = decide(facts, policy);
        assert_eq!(decision.open, decision.reasons().is_empty());
        decision
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn table_of_scenarios() {
        let strict = Policy::default();
        let lenient = Policy {
            max_failed_instances: 1,
            allow_pending_reboot: true,
            ..Policy::default()
        };
        type Edit = fn(&mut Facts);
        let scenarios: Vec<(&str, Edit, &Policy, Vec<&str>)> = vec![
            ("all good", |_| {}, &strict, vec![]),
            (
                "one failed instance",
                |f| {
                    let tasks = f.tasks.as_mut().unwrap();
                    tasks[0].invocations[1].status = "FAILED".into();
                    f.members.as_mut().unwrap()[1].failed = 2;
                },
                &strict,
                vec!["patch_tasks_succeeded", "no_failed_patches"],
            ),
            (
                "one failed instance, one allowed",
                |f| {
                    f.tasks.as_mut().unwrap()[0].invocations[1].status = "FAILED".into();
                    f.members.as_mut().unwrap()[1].failed = 2;
                },
                &lenient,
                vec![],
            ),
            (
                "an instance that never reported",
                |f| {
                    let m = &mut f.members.as_mut().unwrap()[1];
                    m.operation = None;
                    m.operation_end = None;
                },
                &strict,
                vec!["instances_reported"],
            ),
            (
                "a report older than the execution",
                |f| {
                    f.members.as_mut().unwrap()[0].operation_end =
                        Some(start() - Duration::hours(30));
                },
                &strict,
                vec!["instances_reported"],
            ),
            (
                "a Scan after the execution is not an Install",
                |f| {
                    f.members.as_mut().unwrap()[0].operation = Some("Scan".into());
                },
                &strict,
                vec!["instances_reported"],
            ),
            (
                "pending reboot not allowed",
                |f| {
                    f.members.as_mut().unwrap()[0].pending_reboot = 1;
                },
                &strict,
                vec!["no_pending_reboot"],
            ),
            (
                "pending reboot allowed",
                |f| {
                    f.members.as_mut().unwrap()[0].pending_reboot = 1;
                },
                &lenient,
                vec![],
            ),
            (
                "an alarm firing",
                |f| {
                    f.alarms = Some(Ok(vec!["staging-5xx".into()]));
                },
                &strict,
                vec!["health_alarms_ok"],
            ),
            (
                "no alarm prefix configured",
                |f| f.alarms = None,
                &strict,
                vec![],
            ),
            (
                "execution FAILED",
                |f| f.execution.status = "FAILED".into(),
                &strict,
                vec!["execution_succeeded"],
            ),
            (
                "execution TIMED_OUT",
                |f| f.execution.status = "TIMED_OUT".into(),
                &strict,
                vec!["execution_succeeded"],
            ),
            (
                "execution CANCELLED",
                |f| f.execution.status = "CANCELLED".into(),
                &strict,
                vec!["execution_succeeded"],
            ),
            (
                "execution SKIPPED_OVERLAPPING",
                |f| f.execution.status = "SKIPPED_OVERLAPPING".into(),
                &strict,
                vec!["execution_succeeded"],
            ),
            (
                "verification failed",
                |f| {
                    f.tasks.as_mut().unwrap()[1].status = "FAILED".into();
                },
                &strict,
                vec!["verification_succeeded"],
            ),
            (
                "no verification task",
                |f| {
                    f.tasks.as_mut().unwrap().pop();
                },
                &strict,
                vec![],
            ),
            (
                "no patch task",
                |f| {
                    f.tasks.as_mut().unwrap().remove(0);
                },
                &strict,
                vec!["patch_tasks_succeeded"],
            ),
            (
                "tasks unreadable",
                |f| f.tasks = Err("AccessDenied".into()),
                &strict,
                vec!["patch_tasks_succeeded", "verification_succeeded"],
            ),
            (
                "group unreadable",
                |f| f.members = Err("ThrottlingException".into()),
                &strict,
                vec![
                    "instances_reported",
                    "no_failed_patches",
                    "no_pending_reboot",
                ],
            ),
            (
                "alarms unreadable",
                |f| f.alarms = Some(Err("AccessDenied".into())),
                &strict,
                vec!["health_alarms_ok"],
            ),
            (
                "empty group",
                |f| f.members = Ok(vec![]),
                &strict,
                vec!["instances_reported"],
            ),
        ];
        for (name, edit, policy, expected) in scenarios {
            let mut facts = good();
            edit(&mut facts);
            let failed = failed_checks(&facts, policy);
            assert_eq!(failed, expected, "{name}");
            assert_eq!(decide(&facts, policy).open, expected.is_empty(), "{name}");
        }
    }

    #[test]
    fn reported_percent_threshold() {
        let mut facts = good();
        let members = facts.members.as_mut().unwrap();
        members.extend((3..=10).map(|n| member(&format!("i-{n}"))));
        members[9].operation = None;
        let ninety = Policy {
            min_reported_percent: 90.0,
            ..Policy::default()
        };
        assert!(decide(&facts, &ninety).open);
        let strict = Policy::default();
        let decision = decide(&facts, &strict);
        assert!(!decision.open);
        assert!(
            decision.reasons()[0].contains("9 of 10 (90.0 %"),
            "{:?}",
            decision.reasons()
        );
        assert!(decision.reasons()[0].contains("i-10 never reported"));
    }

    #[test]
    fn failed_instances_are_named_once() {
        let mut facts = good();
        facts.tasks.as_mut().unwrap()[0].invocations[1].status = "TIMED_OUT".into();
        facts.members.as_mut().unwrap()[1].failed = 1;
        let decision = decide(&facts, &Policy::default());
        assert_eq!(decision.failed_instances, ["i-2"]);
    }
}
