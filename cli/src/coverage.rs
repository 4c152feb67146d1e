//! `patchpilot compliance --coverage`: the instances patching does not reach, by id. What the
//! snapshot counts (`UnmanagedInstances`, `NeverReportedInstances`, `StaleInstances`,
//! `UngroupedInstances`), listed so someone can fix each one.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ssm::types::InstanceInformationStringFilter;
use chrono::{DateTime, Duration, Utc};
use patch_group_tagger::facts::InstanceFacts;
use patchpilot_shared::PATCH_GROUP_TAG_KEYS;
use patchpilot_shared::aws::ssm::tagged_with_any;
use serde::Serialize;
use serde_json::json;

use crate::clients::Clients;
use crate::error::CliError;
use crate::output::{Output, Style, Table, with_progress};

/// Why patching does not reach an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gap {
    /// A running EC2 instance Systems Manager does not manage: no agent, no instance profile, or no
    /// route to the Systems Manager endpoints.
    Unmanaged,
    /// Managed and in a patch group, but no patch state ever reported: no window or association has
    /// scanned it.
    NeverReported,
    /// Its last patch operation is older than the stale limit.
    Stale,
    /// Managed, but in no patch group: only a default baseline (if any task targets it) patches it.
    Ungrouped,
}

impl Gap {
    fn text(self) -> &'static str {
        match self {
            Self::Unmanaged => "not managed by Systems Manager",
            Self::NeverReported => "never reported a patch state",
            Self::Stale => "last patch report too old",
            Self::Ungrouped => "in no patch group",
        }
    }
}

/// One instance patching does not reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The instance (or hybrid node).
    pub instance_id: String,
    /// Why.
    pub gap: Gap,
    /// Its patch group, from its reported state or its tags.
    pub patch_group: Option<String>,
    /// Its `Name` tag, for EC2 instances.
    pub name: Option<String>,
    /// When its last patch operation ended, if it ever reported.
    pub last_report: Option<DateTime<Utc>>,
}

/// A managed node as DescribeInstanceInformation and DescribeInstancePatchStates show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedNode {
    /// Whether it carries a patch-group tag (the `tag-key` listing).
    pub grouped: bool,
    /// Whether it reported a patch state.
    pub reported: bool,
    /// The group its patch state names.
    pub reported_group: Option<String>,
    /// When its last patch operation ended.
    pub last_report: Option<DateTime<Utc>>,
}

/// The findings, from plain data: `running` EC2 instances, `managed` nodes by id. Sorted by gap, then
/// group, then id. Each instance appears once, under its first gap (a node in no group that reports
/// in time is listed as ungrouped, as the snapshot's `UngroupedInstances` counts it).
pub fn findings(
    running: &[InstanceFacts],
    managed: &BTreeMap<String, ManagedNode>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Vec<Finding> {
    let ec2: BTreeMap<&str, &InstanceFacts> = running
        .iter()
        .map(|instance| (instance.instance_id.as_str(), instance))
        .collect();
    let tag_group = |id: &str| {
        ec2.get(id).and_then(|instance| {
            PATCH_GROUP_TAG_KEYS
                .iter()
                .find_map(|key| instance.tags.get(*key).cloned())
        })
    };
    let name = |id: &str| {
        ec2.get(id)
            .and_then(|instance| instance.tags.get("Name").cloned())
    };
    let mut found = Vec::new();
    for instance in running {
        let id = instance.instance_id.as_str();
        if !managed.contains_key(id) {
            found.push(Finding {
                instance_id: id.to_owned(),
                gap: Gap::Unmanaged,
                patch_group: tag_group(id),
                name: name(id),
                last_report: None,
            });
        }
    }
    for (id, node) in managed {
        let stale = node
            .last_report
            .is_none_or(|ended| now - ended > stale_after);
        let gap = match (node.grouped, node.reported) {
            (true, false) => Some(Gap::NeverReported),
            (_, true) if stale => Some(Gap::Stale),
            (false, _) => Some(Gap::Ungrouped),
            (true, true) => None,
        };
        if let Some(gap) = gap {
            found.push(Finding {
                instance_id: id.clone(),
                gap,
                patch_group: node.reported_group.clone().or_else(|| tag_group(id)),
                name: name(id),
                last_report: node.last_report,
            });
        }
    }
    found.sort_by(|a, b| {
        (a.gap, &a.patch_group, &a.instance_id).cmp(&(b.gap, &b.patch_group, &b.instance_id))
    });
    found
}

/// DescribeInstanceInformation returns at most 50 a page; DescribeInstancePatchStates takes at most
/// 50 ids.
const PAGE: usize = 50;

/// Every managed node's id, and whether it carries a patch-group tag.
async fn managed_nodes(clients: &Clients) -> Result<BTreeMap<String, ManagedNode>, CliError> {
    let list = |filter: Option<InstanceInformationStringFilter>| async move {
        let mut ids = BTreeSet::new();
        let mut pages = clients
            .ssm
            .describe_instance_information()
            .set_filters(filter.map(|f| vec![f]))
            .max_results(PAGE as i32)
            .into_paginator()
            .send();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|err| CliError::sdk("ssm:DescribeInstanceInformation", err))?
        {
            ids.extend(
                page.instance_information_list()
                    .iter()
                    .filter_map(|info| info.instance_id().map(str::to_owned)),
            );
        }
        Ok::<_, CliError>(ids)
    };
    let tagged = tagged_with_any(PATCH_GROUP_TAG_KEYS.iter().copied())
        .map_err(|err| CliError::Usage(err.to_string()))?;
    let (all, grouped) = tokio::try_join!(list(None), list(Some(tagged)))?;
    let mut nodes: BTreeMap<String, ManagedNode> = all
        .into_iter()
        .map(|id| {
            let grouped = grouped.contains(&id);
            (
                id,
                ManagedNode {
                    grouped,
                    ..ManagedNode::default()
                },
            )
        })
        .collect();
    let ids: Vec<String> = nodes.keys().cloned().collect();
    for chunk in ids.chunks(PAGE) {
        let mut pages = clients
            .ssm
            .describe_instance_patch_states()
            .set_instance_ids(Some(chunk.to_vec()))
            .max_results(PAGE as i32)
            .into_paginator()
            .send();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|err| CliError::sdk("ssm:DescribeInstancePatchStates", err))?
        {
            for state in page.instance_patch_states() {
                if let Some(node) = nodes.get_mut(state.instance_id()) {
                    node.reported = true;
                    node.reported_group =
                        Some(state.patch_group().to_owned()).filter(|group| !group.is_empty());
                    node.last_report =
                        patchpilot_shared::aws::time::to_utc(state.operation_end_time());
                }
            }
        }
    }
    Ok(nodes)
}

/// Runs `compliance --coverage`: findings exit 1.
pub async fn run(clients: &Clients, stale_hours: u32, style: Style) -> Result<Output, CliError> {
    let (running, managed) = with_progress("the fleet and its managed nodes", async {
        tokio::try_join!(
            crate::tag::instances(clients, &["running"]),
            managed_nodes(clients)
        )
    })
    .await?;
    let stale_after = Duration::hours(i64::from(stale_hours));
    let found = findings(&running, &managed, Utc::now(), stale_after);
    let mut counts: BTreeMap<Gap, usize> = BTreeMap::new();
    for finding in &found {
        *counts.entry(finding.gap).or_default() += 1;
    }
    let mut table = Table::new(&["instance", "gap", "patch group", "name", "last report"]);
    for finding in &found {
        table.row(vec![
            finding.instance_id.clone(),
            style.warn(finding.gap.text()),
            finding
                .patch_group
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            finding.name.clone().unwrap_or_else(|| "-".to_owned()),
            finding.last_report.map_or_else(
                || "never".to_owned(),
                |at| at.format("%Y-%m-%d %H:%M").to_string(),
            ),
        ]);
    }
    let heading = format!(
        "Coverage: {} running EC2 instances, {} managed nodes, stale after {stale_hours} h",
        running.len(),
        managed.len()
    );
    let text = if found.is_empty() {
        format!(
            "{}\nEvery running instance is managed, grouped, and reported within {stale_hours} h.\n",
            style.heading(&heading)
        )
    } else {
        let summary: Vec<String> = counts
            .iter()
            .map(|(gap, count)| format!("{count} {}", gap.text()))
            .collect();
        format!(
            "{}\n{}\n{}.\n",
            style.heading(&heading),
            table.render(2),
            summary.join(", ")
        )
    };
    let count = |gap: Gap| counts.get(&gap).copied().unwrap_or(0);
    Ok(Output {
        text,
        json: json!({
            "running_instances": running.len(),
            "managed_nodes": managed.len(),
            "stale_after_hours": stale_hours,
            "unmanaged": count(Gap::Unmanaged),
            "never_reported": count(Gap::NeverReported),
            "stale": count(Gap::Stale),
            "ungrouped": count(Gap::Ungrouped),
            "findings": found,
        }),
        findings: !found.is_empty(),
        incomplete: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    fn ec2(id: &str, tags: &[(&str, &str)]) -> InstanceFacts {
        InstanceFacts {
            instance_id: id.to_owned(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            platform: None,
            platform_details: None,
            instance_type: None,
            image_id: None,
            vpc_id: None,
            subnet_id: None,
            metadata_tags_enabled: false,
            state: Some("running".to_owned()),
        }
    }

    fn node(grouped: bool, report_hours_ago: Option<i64>, group: Option<&str>) -> ManagedNode {
        ManagedNode {
            grouped,
            reported: report_hours_ago.is_some(),
            reported_group: group.map(str::to_owned),
            last_report: report_hours_ago.map(|h| now() - Duration::hours(h)),
        }
    }

    #[test]
    fn each_instance_is_found_once_under_its_gap() {
        let running = vec![
            ec2("i-unmanaged", &[("Patch Group", "web"), ("Name", "web-9")]),
            ec2("i-unmanagedbare", &[]),
            ec2("i-fresh", &[("Patch Group", "web")]),
            ec2("i-never", &[("PatchGroup", "db"), ("Name", "db-1")]),
            ec2("i-stale", &[("Patch Group", "web")]),
        ];
        let managed = BTreeMap::from([
            ("i-fresh".to_owned(), node(true, Some(2), Some("web"))),
            ("i-never".to_owned(), node(true, None, None)),
            ("i-stale".to_owned(), node(true, Some(200), Some("web"))),
            ("mi-0123456789abcdef0".to_owned(), node(false, None, None)),
            (
                "mi-0000000000000000b".to_owned(),
                node(false, Some(1), None),
            ),
        ]);
        let found = findings(&running, &managed, now(), Duration::hours(168));
        let summary: Vec<(&str, Gap, Option<&str>)> = found
            .iter()
            .map(|f| (f.instance_id.as_str(), f.gap, f.patch_group.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("i-unmanagedbare", Gap::Unmanaged, None),
                ("i-unmanaged", Gap::Unmanaged, Some("web")),
                ("i-never", Gap::NeverReported, Some("db")),
                ("i-stale", Gap::Stale, Some("web")),
                ("mi-0000000000000000b", Gap::Ungrouped, None),
                ("mi-0123456789abcdef0", Gap::Ungrouped, None),
            ]
        );
        assert_eq!(found[1].name.as_deref(), Some("web-9"));
        assert_eq!(found[3].last_report, Some(now() - Duration::hours(200)));
    }

    #[test]
    fn the_stale_limit_is_a_strict_bound() {
        let managed = BTreeMap::from([
            ("i-a".to_owned(), node(true, Some(168), Some("web"))),
            ("i-b".to_owned(), node(true, Some(169), Some("web"))),
        ]);
        let found = findings(&[], &managed, now(), Duration::hours(168));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].instance_id, "i-b");
    }
}
