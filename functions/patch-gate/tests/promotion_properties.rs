//! Exact promotion, checked over thousands of random fleets on every operating system the gate
//! supports: whatever staging's instances installed and whatever versions production's instances
//! are offered, an Install from the list the gate renders — read and applied by the simulator's
//! model of `AWS-RunPatchBaseline`'s `InstallOverrideList` — installs only versions some staging
//! instance runs, and every offered version staging runs is installed.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use patch_gate::promote::{InstalledPatch, InstanceInstalls, promotion, render};
use patchpilot_test_support::ssm_sim::override_list::{Listed, listed, parse};
use proptest::prelude::*;

/// How an operating system's patches are named in `DescribeInstancePatches`.
#[derive(Debug, Clone, Copy)]
enum Family {
    /// yum/dnf/zypper: `name.arch`, `name.arch:epoch:version-release`.
    Rpm,
    /// apt: `name.arch`, `name.arch:version` (versions with `~`, `+`, epochs).
    Apt,
    /// Windows: KB ids, free-text titles.
    Windows,
}

const NAMES: &[&str] = &[
    "openssl",
    "kernel",
    "curl",
    "glibc",
    "libxml2",
    "sudo",
    "tzdata",
    "python3",
    "bind-libs",
    "libstdc++",
];
const VERSIONS: &[&str] = &[
    "1:3.0.8-1.amzn2023.0.18",
    "0:6.1.119-129.201.amzn2023",
    "0:8.5.0-1.amzn2023.0.6",
    "3.0.2-0ubuntu1.18",
    "2:1.6.6-5ubuntu2.1",
    "1.2.27~rc1+dfsg",
    "32:9.8.2-0.62.rc1.57.amzn1",
];

/// A patch of `family` from indexes into the name and version tables.
fn patch(family: Family, name_index: usize, version_index: usize) -> (String, String) {
    let name = NAMES[name_index % NAMES.len()];
    let version = VERSIONS[version_index % VERSIONS.len()];
    match family {
        Family::Rpm => {
            let id = format!("{name}.x86_64");
            let title = format!("{id}:{version}");
            (id, title)
        }
        Family::Apt => {
            let id = format!("{name}.amd64");
            let title = format!("{id}:{version}");
            (id, title)
        }
        Family::Windows => {
            let kb = format!("KB50{:05}", name_index * 7 + version_index);
            let title = format!("2026-11 Cumulative Update ({kb}) it's \"quoted\": {version}");
            (kb, title)
        }
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Rpm), Just(Family::Apt), Just(Family::Windows)]
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// Staging instances: each a list of (name, version, installed minutes after the run's start).
fn staging() -> impl Strategy<Value = Vec<Vec<(usize, usize, i64)>>> {
    prop::collection::vec(
        prop::collection::vec((0usize..10, 0usize..7, -10_000i64..60), 0..12),
        0..6,
    )
}

/// Production's offered versions: (name, version) pairs an instance could install.
fn offered() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0usize..10, 0usize..7), 0..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn production_installs_only_and_all_of_what_staging_runs(
        family in family(),
        staging in staging(),
        offered in offered(),
    ) {
        let (start, end) = (at(0), at(40));
        let instances: Vec<InstanceInstalls> = staging
            .iter()
            .enumerate()
            .map(|(i, patches)| InstanceInstalls {
                instance_id: format!("i-{i:017}"),
                patches: Ok(patches
                    .iter()
                    .map(|(name, version, minutes)| {
                        let (kb_id, title) = patch(family, *name, *version);
                        InstalledPatch { kb_id, title, installed_time: Some(at(*minutes)) }
                    })
                    .collect()),
            })
            .collect();
        // What staging runs at the decision (installs up to the run's end).
        let runs: BTreeSet<(String, String)> = staging
            .iter()
            .flatten()
            .filter(|(_, _, minutes)| at(*minutes) <= end)
            .map(|(name, version, _)| patch(family, *name, *version))
            .collect();
        let ceiling = promotion("exec", start, end, &instances);
        let entries = parse(&render(&ceiling)).unwrap();

        for (name, version) in offered {
            let (id, title) = patch(family, name, version);
            let decision = listed(&entries, &id, &title);
            let tested = runs.contains(&(id.clone(), title.clone()));
            match family {
                // Linux entries carry the exact version: installed iff staging runs it.
                Family::Rpm | Family::Apt => prop_assert_eq!(
                    decision == Listed::Install,
                    tested,
                    "{} {} -> {:?}", id, title, decision
                ),
                // Windows entries are KB ids: a KB is installed iff staging installed it.
                Family::Windows => prop_assert_eq!(
                    decision == Listed::Install,
                    runs.iter().any(|(kb, _)| *kb == id),
                    "{} -> {:?}", id, decision
                ),
            }
        }
        // An empty ceiling still overrides the baseline, and installs nothing.
        if runs.is_empty() {
            prop_assert_eq!(entries.len(), 1);
            let (id, title) = patch(family, 0, 0);
            prop_assert_eq!(listed(&entries, &id, &title), Listed::NotListed);
        }
    }
}
