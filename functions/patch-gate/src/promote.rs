//! Promote what staging installed: after a clean staging run, the exact package versions staging's
//! instances run become production's install ceiling, as `AWS-RunPatchBaseline`'s
//! `InstallOverrideList` (user guide, "AWS-RunPatchBaseline", parameter `InstallOverrideList`: a YAML
//! list of `id`/`title` entries that "overrides the patches specified by the current default patch
//! baseline"). On Linux an entry's `id` is `name.arch` and its `title` the version in the form
//! DescribeInstancePatches reports it (`name.arch:epoch:version-release`, apt `name.arch:version`),
//! so an entry matches one version only; Windows entries are KB ids. It works alike on every
//! operating system, apt included, where baselines take no approval dates.
//!
//! The ceiling is every patch `Installed` on a staging instance by the end of the staging run (in this
//! run or an earlier one: what staging runs has been tested). Pure: plain data in, plain data out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use patchpilot_shared::aws::ssm::InstalledPatch;

/// The entry written when staging has nothing installed: an id no package has, so the list still
/// overrides the baseline and production installs nothing. Whether an empty list overrides
/// anything is not documented; an empty list read as "no override" would install the whole
/// baseline.
pub const NOTHING_TO_PROMOTE: &str = "patchpilot-nothing-promoted.none";

/// Characters the install override list reads as wildcards: an entry containing one would match
/// versions staging never ran.
const WILDCARDS: &[char] = &['*', '?', '[', ']'];

/// One `InstallOverrideList` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The KB id (Windows) or `name.arch` (Linux).
    pub id: String,
    /// Linux: the exact version (`name.arch:…`); Windows: the update's title (informational).
    pub title: String,
}

/// What one staging instance reported as installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInstalls {
    /// The instance.
    pub instance_id: String,
    /// Its installed patches, or why they could not be read.
    pub patches: Result<Vec<InstalledPatch>, String>,
}

/// Production's install ceiling, and how it was drawn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// The staging execution whose end bounds the ceiling.
    pub staging_execution_id: String,
    /// Installs after this time (someone else's, on a staging instance) are not promoted.
    pub run_end: Option<DateTime<Utc>>,
    /// The entries, once each, sorted.
    pub entries: Vec<Entry>,
    /// Of them, how many a staging instance installed during the run.
    pub installed_this_run: usize,
    /// Staging instances read.
    pub instances_read: usize,
    /// Staging instances not read (over the read cap, or refused), with why: what only they
    /// installed is held back from production, never added.
    pub instances_unread: Vec<String>,
    /// Installed patches that cannot be an exact entry, with why (held back, never widened).
    pub refused: Vec<String>,
    /// Installed on a staging instance after the run ended: not tested by this run, not promoted.
    pub installed_after_run: usize,
    /// Where the list was written (`s3://bucket/key`), once written.
    pub url: Option<String>,
}

impl Promotion {
    /// Whether `id` at `title` is within the ceiling.
    pub fn allows(&self, id: &str, title: &str) -> bool {
        self.entries
            .binary_search_by(|entry| (entry.id.as_str(), entry.title.as_str()).cmp(&(id, title)))
            .is_ok()
    }
}

/// The exact entry for an installed patch, or why it cannot have one.
pub fn entry(patch: &InstalledPatch) -> Result<Entry, String> {
    let id = patch.kb_id.trim();
    let title = patch.title.trim();
    if id.is_empty() {
        return Err(format!("{title:?} has no id"));
    }
    if id.contains(WILDCARDS) || title.contains(WILDCARDS) {
        return Err(format!(
            "{id} {title:?} contains a wildcard character; as an entry it would match versions staging never ran"
        ));
    }
    let windows = id.starts_with("KB") || id.starts_with("MS");
    if !windows && !title.starts_with(&format!("{id}:")) {
        return Err(format!(
            "{id}: its title {title:?} does not give the version as name.arch:version, so an entry could not pin it"
        ));
    }
    Ok(Entry {
        id: id.to_owned(),
        title: title.to_owned(),
    })
}

/// The ceiling drawn from what `instances` reported, for the staging execution `execution_id` that
/// started at `run_start` and ended at `run_end`.
pub fn promotion(
    execution_id: &str,
    run_start: DateTime<Utc>,
    run_end: DateTime<Utc>,
    instances: &[InstanceInstalls],
) -> Promotion {
    let mut entries: BTreeMap<Entry, bool> = BTreeMap::new();
    let mut refused = BTreeSet::new();
    let mut unread = Vec::new();
    let mut read = 0;
    let mut after = 0;
    for instance in instances {
        let patches = match &instance.patches {
            Ok(patches) => patches,
            Err(why) => {
                unread.push(format!("{}: {why}", instance.instance_id));
                continue;
            }
        };
        read += 1;
        for patch in patches {
            if patch.installed_time.is_some_and(|at| at > run_end) {
                after += 1;
                continue;
            }
            match entry(patch) {
                Ok(entry) => {
                    let this_run = patch
                        .installed_time
                        .is_some_and(|at| at >= run_start && at <= run_end);
                    *entries.entry(entry).or_default() |= this_run;
                }
                Err(why) => {
                    refused.insert(why);
                }
            }
        }
    }
    Promotion {
        staging_execution_id: execution_id.to_owned(),
        run_end: Some(run_end),
        installed_this_run: entries.values().filter(|this_run| **this_run).count(),
        entries: entries.into_keys().collect(),
        instances_read: read,
        instances_unread: unread,
        refused: refused.into_iter().collect(),
        installed_after_run: after,
        url: None,
    }
}

/// A YAML single-quoted scalar: `'` doubles, nothing else is special inside.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The `InstallOverrideList` document: `patches:` with one `id`/`title` pair per entry.
pub fn render(promotion: &Promotion) -> String {
    let mut yaml = format!(
        "# patchpilot: production's install ceiling, what staging ran at the end of execution {}\n# {} entries from {} staging instances\npatches:\n",
        promotion.staging_execution_id,
        promotion.entries.len(),
        promotion.instances_read
    );
    if promotion.entries.is_empty() {
        yaml.push_str(&format!("  - id: {}\n", quoted(NOTHING_TO_PROMOTE)));
    }
    for entry in &promotion.entries {
        yaml.push_str(&format!(
            "  - id: {}\n    title: {}\n",
            quoted(&entry.id),
            quoted(&entry.title)
        ));
    }
    yaml
}

/// An install on a production instance outside the ceiling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excess {
    /// The production instance.
    pub instance_id: String,
    /// The package (`name.arch`) or KB id.
    pub id: String,
    /// The version installed.
    pub title: String,
}

/// What production instances installed during their run (`run_start`..=`run_end`) that the
/// ceiling does not allow.
pub fn exceeded(
    promotion: &Promotion,
    run_start: DateTime<Utc>,
    run_end: DateTime<Utc>,
    production: &[InstanceInstalls],
) -> Vec<Excess> {
    let mut excess = Vec::new();
    for instance in production {
        let Ok(patches) = &instance.patches else {
            continue;
        };
        for patch in patches {
            let in_run = patch
                .installed_time
                .is_some_and(|at| at >= run_start && at <= run_end);
            if in_run && !promotion.allows(patch.kb_id.trim(), patch.title.trim()) {
                excess.push(Excess {
                    instance_id: instance.instance_id.clone(),
                    id: patch.kb_id.clone(),
                    title: patch.title.clone(),
                });
            }
        }
    }
    excess
}

/// A production run checked against the promoted list (`Promotion.Exceeded` when it installed more).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The production execution.
    pub production_execution_id: String,
    /// The staging execution whose list it was checked against.
    pub staging_execution_id: String,
    /// The list.
    pub list_url: Option<String>,
    /// Production instances whose installs were read.
    pub instances_checked: usize,
    /// Installs during the run, on those instances.
    pub installs: usize,
    /// Installs outside the list: each package, version, instance.
    pub exceeded: Vec<Excess>,
    /// Production instances whose installs could not be read, with why.
    pub unread: Vec<String>,
}

/// Checks what `production` installed between `run_start` and `run_end` against `promotion`.
pub fn verify(
    promotion: &Promotion,
    production_execution_id: &str,
    run_start: DateTime<Utc>,
    run_end: DateTime<Utc>,
    production: &[InstanceInstalls],
) -> Verification {
    let in_run = |patch: &&InstalledPatch| {
        patch
            .installed_time
            .is_some_and(|at| at >= run_start && at <= run_end)
    };
    Verification {
        production_execution_id: production_execution_id.to_owned(),
        staging_execution_id: promotion.staging_execution_id.clone(),
        list_url: promotion.url.clone(),
        instances_checked: production.iter().filter(|i| i.patches.is_ok()).count(),
        installs: production
            .iter()
            .filter_map(|i| i.patches.as_ref().ok())
            .flatten()
            .filter(in_run)
            .count(),
        exceeded: exceeded(promotion, run_start, run_end, production),
        unread: production
            .iter()
            .filter_map(|i| {
                i.patches
                    .as_ref()
                    .err()
                    .map(|why| format!("{}: {why}", i.instance_id))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap()
    }

    fn installed(id: &str, version: &str, hour: Option<u32>) -> InstalledPatch {
        InstalledPatch {
            kb_id: id.to_owned(),
            title: format!("{id}:{version}"),
            installed_time: hour.map(at),
        }
    }

    fn instance(id: &str, patches: Vec<InstalledPatch>) -> InstanceInstalls {
        InstanceInstalls {
            instance_id: id.to_owned(),
            patches: Ok(patches),
        }
    }

    #[test]
    fn the_ceiling_is_every_version_staging_runs_at_the_end_of_its_run() {
        let staging = [
            instance(
                "i-1",
                vec![
                    installed("openssl.x86_64", "1:3.0.8-1.amzn2023", Some(10)),
                    installed("curl.x86_64", "0:8.5.0-1.amzn2023", Some(2)),
                    // Installed by someone after the run: not tested by it.
                    installed("kernel.x86_64", "0:6.1.100-1.amzn2023", Some(14)),
                ],
            ),
            instance(
                "i-2",
                vec![
                    installed("openssl.x86_64", "1:3.0.8-1.amzn2023", Some(10)),
                    // Another staging instance runs an older version: both were tested.
                    installed("curl.x86_64", "0:8.4.0-1.amzn2023", Some(1)),
                ],
            ),
            InstanceInstalls {
                instance_id: "i-3".to_owned(),
                patches: Err("InvalidInstanceId: terminated".to_owned()),
            },
        ];
        let promotion = promotion("exec-1", at(9), at(11), &staging);
        let ids: Vec<(&str, &str)> = promotion
            .entries
            .iter()
            .map(|e| (e.id.as_str(), e.title.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("curl.x86_64", "curl.x86_64:0:8.4.0-1.amzn2023"),
                ("curl.x86_64", "curl.x86_64:0:8.5.0-1.amzn2023"),
                ("openssl.x86_64", "openssl.x86_64:1:3.0.8-1.amzn2023"),
            ]
        );
        assert_eq!(promotion.installed_this_run, 1);
        assert_eq!(promotion.installed_after_run, 1);
        assert_eq!(promotion.instances_read, 2);
        assert_eq!(
            promotion.instances_unread,
            ["i-3: InvalidInstanceId: terminated"]
        );
        assert!(promotion.allows("curl.x86_64", "curl.x86_64:0:8.4.0-1.amzn2023"));
        assert!(!promotion.allows("kernel.x86_64", "kernel.x86_64:0:6.1.100-1.amzn2023"));
    }

    #[test]
    fn apt_and_windows_patches_become_exact_entries_and_wildcards_are_refused() {
        let apt = installed("openssl.amd64", "3.0.2-0ubuntu1.18", None);
        assert_eq!(
            entry(&apt).unwrap().title,
            "openssl.amd64:3.0.2-0ubuntu1.18"
        );
        let windows = InstalledPatch {
            kb_id: "KB5031364".to_owned(),
            title: "2023-10 Cumulative Update (KB5031364)".to_owned(),
            installed_time: None,
        };
        assert_eq!(entry(&windows).unwrap().id, "KB5031364");
        let starred = installed("lib*.x86_64", "0:1-1", None);
        assert!(entry(&starred).unwrap_err().contains("wildcard"));
        let unversioned = InstalledPatch {
            kb_id: "ALAS-2023-100".to_owned(),
            title: "Amazon Linux security advisory".to_owned(),
            installed_time: None,
        };
        assert!(
            entry(&unversioned)
                .unwrap_err()
                .contains("name.arch:version")
        );
    }

    #[test]
    fn the_list_quotes_every_value_and_an_empty_ceiling_still_overrides_the_baseline() {
        let staging = [instance(
            "i-1",
            vec![installed("it's.noarch", "1.0", Some(10))],
        )];
        let yaml = render(&promotion("exec-1", at(9), at(11), &staging));
        assert!(yaml.contains("  - id: 'it''s.noarch'\n    title: 'it''s.noarch:1.0'\n"));
        let empty = render(&promotion("exec-2", at(9), at(11), &[]));
        assert!(empty.ends_with(&format!("patches:\n  - id: '{NOTHING_TO_PROMOTE}'\n")));
    }

    #[test]
    fn only_installs_during_production_run_outside_the_ceiling_exceed_it() {
        let staging = [instance(
            "i-s",
            vec![installed("openssl.x86_64", "1:3.0.8-1", Some(10))],
        )];
        let ceiling = promotion("exec-1", at(9), at(11), &staging);
        let production = [instance(
            "i-p",
            vec![
                installed("openssl.x86_64", "1:3.0.8-1", Some(20)),
                installed("openssl.x86_64", "1:3.0.9-1", Some(20)),
                // Installed before production's run: not this run's doing.
                installed("zlib.x86_64", "0:1.3-1", Some(3)),
            ],
        )];
        let verified = verify(&ceiling, "exec-p", at(19), at(21), &production);
        assert_eq!(verified.installs, 2);
        assert_eq!(verified.instances_checked, 1);
        assert_eq!(verified.staging_execution_id, "exec-1");
        let excess = verified.exceeded;
        assert_eq!(
            excess,
            [Excess {
                instance_id: "i-p".to_owned(),
                id: "openssl.x86_64".to_owned(),
                title: "openssl.x86_64:1:3.0.9-1".to_owned(),
            }]
        );
    }
}
