//! Exact promotion in the week: the install list the gate promotes after a clean staging run is
//! what production's patch task installs from (`patchpilot gate promote` attached it at
//! deployment). The simulator takes the list as Systems Manager's agent would download it; the
//! week checks production installed exactly what staging ran, and that a package only production's
//! instances have (one that reached the repository after staging's run with an old updated date,
//! which the date pin would approve) stays out.

use crate::error::{Call, WeekError};
use crate::evidence::Evidence;
use std::collections::BTreeMap;

use chrono::Utc;
use patch_gate::promote::{InstalledPatch, InstanceInstalls, Promotion, exceeded};
use patchpilot_test_support::ssm_sim::state::{InstancePatch, PatchInfo, PatchState};

use serde_json::Value;

use crate::world::World;
use crate::{Narrator, PRODUCTION_WINDOW, list_or_none};

/// The package that reaches the repository after staging's run, on production's instances only,
/// with an updated date weeks old.
pub const LATE_PACKAGE: &str = "libxml2.x86_64";

/// The install lists `window`'s tasks name, downloaded from S3 as the instances would (a list that
/// cannot be read is left out: the simulator fails those invocations, as the document fails).
pub async fn override_lists(
    world: &World,
    window: &str,
) -> Result<BTreeMap<String, String>, WeekError> {
    let urls: Vec<String> = world
        .sim_state()?
        .windows
        .get(window)
        .into_iter()
        .flat_map(|w| &w.tasks)
        .filter_map(|task| task.parameters.get("InstallOverrideList"))
        .filter_map(|values| values.first().cloned())
        .collect();
    let mut lists = BTreeMap::new();
    for url in urls {
        let Some((bucket, key)) = url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        let Ok(object) = world.s3.get_object().bucket(bucket).key(key).send().await else {
            continue;
        };
        let body = object
            .body
            .collect()
            .await
            .call(&format!("s3:GetObject {url}"))?
            .into_bytes();
        lists.insert(url, String::from_utf8_lossy(&body).into_owned());
    }
    Ok(lists)
}

/// The record the gate wrote beside the list.
pub async fn promoted(world: &World) -> Result<Promotion, WeekError> {
    let key = patch_gate::config::promotion_record_key(PRODUCTION_WINDOW);
    let object = world
        .s3
        .get_object()
        .bucket(&world.promotion_bucket)
        .key(&key)
        .send()
        .await
        .call(&format!("s3:GetObject {key}"))?;
    let body = object
        .body
        .collect()
        .await
        .call(&format!("s3:GetObject {key}"))?
        .into_bytes();
    serde_json::from_slice(&body).map_err(|err| WeekError::Account(format!("{key}: {err}")))
}

/// What each instance of `group` has installed, as DescribeInstancePatches would report it.
pub fn installs_of(world: &World, group: &str) -> Result<Vec<InstanceInstalls>, WeekError> {
    let state = world.sim_state()?;
    Ok(state
        .instances
        .values()
        .filter(|instance| instance.patch_group.as_deref() == Some(group))
        .map(|instance| InstanceInstalls {
            instance_id: instance.id.clone(),
            patches: Ok(instance
                .patches
                .iter()
                .filter(|p| matches!(p.state, PatchState::Installed | PatchState::InstalledOther))
                .map(|p| {
                    let info = &state.catalog[p.patch as usize];
                    InstalledPatch {
                        kb_id: info.id.clone(),
                        title: info.title.clone(),
                        installed_time: p.installed_time,
                    }
                })
                .collect()),
        })
        .collect())
}

/// Step 7's production run, judged against the promoted list: every install of the run is in it.
pub fn production_within(
    promotion: &Promotion,
    production: &[InstanceInstalls],
    run: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
) -> (usize, Vec<String>) {
    let installed = production
        .iter()
        .flat_map(|i| i.patches.iter().flatten())
        .filter(|p| {
            p.installed_time
                .is_some_and(|at| at >= run.0 && at <= run.1)
        })
        .count();
    let excess = exceeded(promotion, run.0, run.1, production)
        .into_iter()
        .map(|e| format!("{} {} on {}", e.id, e.title, e.instance_id))
        .collect();
    (installed, excess)
}

/// A package reaches the repository after staging's run with an updated date weeks old, and only
/// `group`'s instances have it yet (production's date-pinned baseline approves it).
pub fn late_package_reaches(world: &World, group: &str) -> Result<(), WeekError> {
    let mut state = world.sim_state_mut()?;
    let index = match state.catalog_index.get(LATE_PACKAGE) {
        Some(index) => *index,
        None => {
            let index = state.catalog.len() as u32;
            state.catalog.push(PatchInfo {
                id: LATE_PACKAGE.to_owned(),
                title: format!("{LATE_PACKAGE}:0:2.10.4-1.amzn2023.0.9"),
                classification: "Security".into(),
                severity: "Important".into(),
                compliance_level: "HIGH".into(),
                cve_ids: Some("CVE-2026-31020".into()),
                release_date: Some(Utc::now() - chrono::Duration::days(20)),
                repository: None,
            });
            state.catalog_index.insert(LATE_PACKAGE.to_owned(), index);
            index
        }
    };
    let members: Vec<String> = state.group_members.get(group).cloned().unwrap_or_default();
    for id in &members {
        if let Some(instance) = state.instances.get_mut(id) {
            instance.patches.push(InstancePatch {
                patch: index,
                state: PatchState::Missing,
                installed_time: None,
            });
        }
        state.recount(id);
    }
    Ok(())
}

/// A package installed by hand at `at` on the first production instance (not from the list):
/// what the after-run check must catch. Returns `id title on instance`.
fn plant_a_manual_install(world: &World, at: chrono::DateTime<Utc>) -> Result<String, WeekError> {
    const PLANTED: &str = "telnet.x86_64";
    let mut state = world.sim_state_mut()?;
    let index = state.catalog.len() as u32;
    let title = format!("{PLANTED}:1:0.17-85.amzn2023");
    state.catalog.push(PatchInfo {
        id: PLANTED.to_owned(),
        title: title.clone(),
        classification: "Bugfix".into(),
        severity: "Low".into(),
        compliance_level: "LOW".into(),
        cve_ids: None,
        release_date: None,
        repository: None,
    });
    state.catalog_index.insert(PLANTED.to_owned(), index);
    let instance = state
        .group_members
        .get("production")
        .and_then(|members| members.first())
        .cloned()
        .ok_or_else(|| WeekError::Account("no production instance".to_owned()))?;
    if let Some(found) = state.instances.get_mut(&instance) {
        found.patches.push(InstancePatch {
            patch: index,
            // Installed outside the baseline's approval: Patch Manager reports it InstalledOther.
            state: PatchState::InstalledOther,
            installed_time: Some(at),
        });
    }
    state.recount(&instance);
    Ok(format!("{PLANTED} {title} on {instance}"))
}

/// Step 7a: production's make-up run with the late package present. The date pin approves it; the
/// promoted list does not name it, so no production instance installs it.
pub async fn late_package_stays_out(world: &World, n: &mut Narrator) -> Result<(), WeekError> {
    n.say(format!(
        "\n7a. {LATE_PACKAGE} reaches the repository after staging's run with an updated date weeks old; only production's instances have it; production runs again"
    ));
    late_package_reaches(world, "production")?;
    // Runs here start long enough ago that their 40 minutes have ended when the gate checks them.
    let start = Utc::now() - chrono::Duration::minutes(50);
    // Someone installs a package by hand on one production instance while the window runs.
    let planted = plant_a_manual_install(world, start + chrono::Duration::minutes(2))?;
    let (execution, status, _) = crate::run(world, PRODUCTION_WINDOW, &[], start).await?;
    world.settle(std::time::Duration::from_secs(60)).await?;
    let verified: Vec<Value> = world
        .take_deliveries()
        .await
        .into_iter()
        .filter(|d| d.function == "patch-gate")
        .filter_map(|d| d.result.ok())
        .filter_map(|report| report.get("verified").cloned())
        .collect();
    let pages: Vec<String> = world
        .alerts()
        .await
        .iter()
        .filter(|m| m["MessageAttributes"]["kind"]["Value"] == "promotion_exceeded")
        .filter_map(|m| m["Subject"].as_str().map(str::to_owned))
        .collect();
    let caught: Vec<String> = verified
        .iter()
        .flat_map(|v| v["exceeded"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            format!(
                "{} {} on {}",
                e["id"].as_str().unwrap_or_default(),
                e["title"].as_str().unwrap_or_default(),
                e["instance_id"].as_str().unwrap_or_default()
            )
        })
        .collect();
    for subject in &pages {
        n.say(format!("   [promotion_exceeded] {subject}"));
    }
    n.check(
        Evidence::AfterRunCheckCatchesExcess,
        caught == [planted.clone()] && pages.len() == 1,
        format!(
            "planted: {planted}; the gate found outside the list: {}; pages: {}",
            list_or_none(&caught),
            pages.len()
        ),
    );
    let promotion = promoted(world).await?;
    let production = installs_of(world, "production")?;
    let with_late: Vec<String> = production
        .iter()
        .filter(|i| i.patches.iter().flatten().any(|p| p.kb_id == LATE_PACKAGE))
        .map(|i| i.instance_id.clone())
        .collect();
    let (held, approved_by_pin) = {
        let state = world.sim_state()?;
        let index = state.catalog_index[LATE_PACKAGE];
        let held = state
            .group_members
            .get("production")
            .into_iter()
            .flatten()
            .filter(|id| {
                state.instances[*id]
                    .patches
                    .iter()
                    .any(|p| p.patch == index && p.state == PatchState::Missing)
            })
            .count();
        let baseline = state.baselines.get(crate::PRODUCTION_BASELINE).cloned();
        let approved = baseline.is_some_and(|b| {
            patchpilot_test_support::ssm_sim::approval::evaluate(&b, &state.catalog[index as usize])
                .approved_at(Utc::now())
        });
        (held, approved)
    };
    n.say(format!(
        "   execution {execution} ended {status}; production's pinned baseline approves {LATE_PACKAGE}: {approved_by_pin}; the promoted list names it: {}",
        promotion.entries.iter().any(|e| e.id == LATE_PACKAGE)
    ));
    n.check(
        Evidence::LatePackageStaysOut,
        status == "SUCCESS" && approved_by_pin && with_late.is_empty() && held > 0,
        format!(
            "installed on: {}; held by promotion (Missing) on {held} production instance(s)",
            list_or_none(&with_late)
        ),
    );

    // The next cycle: staging's instances get the package too, staging runs it, the gate promotes
    // it, and production installs it.
    n.say(format!(
        "   the next cycle: {LATE_PACKAGE} reaches staging's instances; staging runs clean; the gate promotes it; production runs"
    ));
    late_package_reaches(world, "staging")?;
    let (_, staging_status, _) = crate::run(
        world,
        crate::STAGING_WINDOW,
        &[],
        // Started long enough ago that its 40 minutes have ended: the gate promotes what was
        // installed by the time it decides.
        Utc::now() - chrono::Duration::minutes(45),
    )
    .await?;
    world.settle(std::time::Duration::from_secs(60)).await?;
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;
    let listed = promoted(world)
        .await?
        .entries
        .iter()
        .any(|e| e.id == LATE_PACKAGE);
    let (_, production_status, _) = crate::run(
        world,
        PRODUCTION_WINDOW,
        &[],
        Utc::now() - chrono::Duration::minutes(44),
    )
    .await?;
    world.settle(std::time::Duration::from_secs(60)).await?;
    let _ = world.take_deliveries().await;
    let _ = world.alerts().await;
    let production = installs_of(world, "production")?;
    let without: Vec<String> = production
        .iter()
        .filter(|i| !i.patches.iter().flatten().any(|p| p.kb_id == LATE_PACKAGE))
        .map(|i| i.instance_id.clone())
        .collect();
    n.check(
        Evidence::NextCyclePromotes,
        staging_status == "SUCCESS"
            && production_status == "SUCCESS"
            && listed
            && without.is_empty(),
        format!(
            "staging {staging_status}, listed: {listed}; production {production_status}, without it: {}",
            list_or_none(&without)
        ),
    );
    Ok(())
}

/// The apt packages Ubuntu's instances are offered: no release dates (Ubuntu baselines take none).
const APT_PATCHES: &[(&str, &str)] = &[
    ("openssl.amd64", "openssl.amd64:3.0.2-0ubuntu1.18"),
    ("libc6.amd64", "libc6.amd64:2.35-0ubuntu3.8"),
    ("sudo.amd64", "sudo.amd64:1.9.9-1ubuntu2.4"),
];

/// Before step 6: an Ubuntu instance joins each group (launched in EC2 with its patch group tag),
/// with the apt packages above missing; one Ubuntu baseline (approval by filters only, no dates) is
/// registered for both groups. Returns (staging instance, production instance).
pub async fn ubuntu_pair_joins(world: &World) -> Result<(String, String), WeekError> {
    let mut ids = Vec::new();
    for group in ["staging", "production"] {
        let launched = crate::launch(
            &world.ec2,
            1,
            &[
                ("Environment", group),
                ("Patch Group", group),
                ("Name", &format!("{group}-ubuntu")),
            ],
            false,
        )
        .await?;
        ids.push((
            launched
                .first()
                .cloned()
                .ok_or_else(|| WeekError::Account("no instance launched".to_owned()))?,
            group,
        ));
    }
    let mut state = world.sim_state_mut()?;
    let mut indexes = Vec::new();
    for (id, title) in APT_PATCHES {
        let index = state.catalog.len() as u32;
        state.catalog.push(PatchInfo {
            id: (*id).to_owned(),
            title: (*title).to_owned(),
            classification: "Security".into(),
            severity: "Important".into(),
            compliance_level: "HIGH".into(),
            cve_ids: None,
            release_date: None,
            repository: None,
        });
        state.catalog_index.insert((*id).to_owned(), index);
        indexes.push(index);
    }
    let baseline: patchpilot_test_support::ssm_sim::state::Baseline =
        serde_json::from_value(serde_json::json!({
            "id": "pb-0c10000000000000e",
            "name": "patchpilot-ubuntu",
            "operating_system": "UBUNTU",
            "description": "Ubuntu: security updates, no approval dates (Ubuntu baselines take none)",
            "approval_rules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": [
                {"Key": "PRIORITY", "Values": ["Required", "Important", "Standard"]}]},
                "ComplianceLevel": "HIGH", "EnableNonSecurity": false}]},
            "patch_groups": ["staging", "production"]
        }))
        .map_err(|err| WeekError::Setup(err.to_string()))?;
    state.baselines.insert(baseline.id.clone(), baseline);
    for (id, group) in &ids {
        let tags = BTreeMap::from([
            ("Environment".to_owned(), (*group).to_owned()),
            ("Patch Group".to_owned(), (*group).to_owned()),
        ]);
        let mut instance = crate::managed_instance(&state, id, group, &tags);
        instance.platform_name = "Ubuntu".into();
        instance.platform_version = "22.04".into();
        instance.operating_system = "UBUNTU".into();
        instance.patches = indexes
            .iter()
            .map(|index| InstancePatch {
                patch: *index,
                state: PatchState::Missing,
                installed_time: None,
            })
            .collect();
        state.instances.insert(id.clone(), instance);
        state.recount(id);
    }
    state.reindex_groups();
    Ok((ids[0].0.clone(), ids[1].0.clone()))
}

/// The apt versions `instance` has installed.
fn apt_installed(world: &World, instance: &str) -> Result<Vec<String>, WeekError> {
    let state = world.sim_state()?;
    let mut installed: Vec<String> = state
        .instances
        .get(instance)
        .into_iter()
        .flat_map(|i| &i.patches)
        .filter(|p| matches!(p.state, PatchState::Installed | PatchState::InstalledOther))
        .map(|p| state.catalog[p.patch as usize].title.clone())
        .filter(|title| title.contains(".amd64:"))
        .collect();
    installed.sort();
    Ok(installed)
}

/// After step 7: the Ubuntu pair. Staging's instance installed the apt versions its baseline
/// approves; production's installed exactly those, from the promoted list (no dates to pin).
pub async fn ubuntu_pair_promoted(
    world: &World,
    n: &mut Narrator,
    (staging, production): (&str, &str),
) -> Result<(), WeekError> {
    let staged = apt_installed(world, staging)?;
    let produced = apt_installed(world, production)?;
    let listed = promoted(world).await?;
    let listed_apt = listed
        .entries
        .iter()
        .filter(|e| e.id.ends_with(".amd64"))
        .count();
    n.check(
        Evidence::UbuntuPairPromoted,
        !staged.is_empty() && produced == staged && listed_apt == staged.len(),
        format!(
            "staging's Ubuntu instance runs {}; production's installed {}; {listed_apt} apt entries in the list",
            list_or_none(&staged),
            list_or_none(&produced)
        ),
    );
    Ok(())
}
