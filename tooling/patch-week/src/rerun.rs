//! Step 6 of the week: the failure is fixed, an Ubuntu instance joins each group, staging runs again
//! cleanly, and the gate opens production, pins its baseline and promotes what staging runs.

use crate::error::{Call, WeekError};
use crate::evidence::Evidence;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::world::World;
use crate::{
    Narrator, PRODUCTION_BASELINE, STAGING_WINDOW, delivery_summary, kind_of, production_enabled,
    promotion, release_on_the_boundary_day, run,
};

/// What the clean staging run leaves for Sunday's checks.
pub(crate) struct Rerun {
    /// The Ubuntu pair: (staging instance, production instance).
    pub ubuntu: (String, String),
    /// The patches released on the boundary day: (id, release, approved by staging at the run).
    pub boundary: Vec<(String, DateTime<Utc>, bool)>,
}

/// Runs staging again without failures and checks the gate's opening.
pub(crate) async fn staging_passes(world: &World, n: &mut Narrator) -> Result<Rerun, WeekError> {
    n.say("\n6. The failure is fixed; an Ubuntu instance joins each group; staging runs again cleanly; the gate opens production, pins its baseline and promotes what staging runs");
    let ubuntu = Box::pin(promotion::ubuntu_pair_joins(world)).await?;
    let rerun = Utc::now() - chrono::Duration::hours(1);
    let boundary = release_on_the_boundary_day(world, rerun)?;
    for (id, released, approved) in &boundary {
        n.say(format!(
            "   {id} released {} ({})",
            released.format("%Y-%m-%d %H:%M:%S UTC"),
            if *approved {
                "staging approves it at the run: ApproveAfterDays 2 has passed"
            } else {
                "after the run minus 2 days: staging does not approve it yet"
            }
        ));
    }
    let (execution, status, _) = run(world, STAGING_WINDOW, &[], rerun).await?;
    n.say(format!("   execution {execution} ended {status}"));
    world.settle(crate::SETTLE).await?;
    let deliveries = world.take_deliveries().await;
    let (_, errors) = delivery_summary(&deliveries);
    let held_back: Vec<Value> = deliveries
        .iter()
        .filter(|d| d.function == "patch-gate")
        .filter_map(|d| d.result.as_ref().ok())
        .flat_map(|report| report["pinned"].as_array().cloned().unwrap_or_default())
        .map(|pinned| pinned["held_back"].clone())
        .collect();
    let promoted = deliveries
        .iter()
        .filter(|d| d.function == "patch-gate")
        .filter_map(|d| d.result.as_ref().ok())
        .find_map(|report| report.get("promoted").cloned())
        .unwrap_or(Value::Null);
    let messages = world.alerts().await;
    let baseline = world
        .ssm
        .get_patch_baseline()
        .baseline_id(PRODUCTION_BASELINE)
        .send()
        .await
        .call("ssm:GetPatchBaseline")?;
    let cutoffs: Vec<String> = baseline
        .approval_rules()
        .map(|r| {
            r.patch_rules()
                .iter()
                .filter_map(|rule| rule.approve_until_date().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // ApproveAfterDays 2: the last whole day before (start − 2 days).
    let expected_cutoff = (rerun.date_naive() - chrono::Days::new(3))
        .format("%Y-%m-%d")
        .to_string();
    let enabled = production_enabled(world).await?;
    for message in &messages {
        n.say(format!(
            "   [{}] {}",
            kind_of(message),
            message["Subject"].as_str().unwrap_or_default()
        ));
    }
    n.check(
        Evidence::GateOpenedAndPinned,
        enabled && cutoffs == [expected_cutoff.clone()] && errors == 0,
        format!("production enabled: {enabled}; {PRODUCTION_BASELINE} ApproveUntilDate {} (staging ran {}, ApproveAfterDays 2)", cutoffs.join(", "), rerun.format("%Y-%m-%d %H:%M UTC")),
    );
    let staging_runs = promotion::installs_of(world, "staging")?;
    let staging_pairs: std::collections::BTreeSet<(String, String)> = staging_runs
        .iter()
        .flat_map(|i| i.patches.iter().flatten())
        .map(|p| (p.kb_id.clone(), p.title.clone()))
        .collect();
    let record = promotion::promoted(world).await;
    let listed: std::collections::BTreeSet<(String, String)> = record
        .iter()
        .flat_map(|r| &r.entries)
        .map(|e| (e.id.clone(), e.title.clone()))
        .collect();
    n.check(
        Evidence::StagingVersionsPromoted,
        !listed.is_empty() && listed == staging_pairs && promoted["url"].is_string(),
        format!(
            "{} exact versions ({} installed in this run) from {} staging instances in {}",
            promoted["entries"],
            promoted["installed_this_run"],
            promoted["instances_read"],
            promoted["url"].as_str().unwrap_or("no list")
        ),
    );

    n.check(
        Evidence::HeldBackReported,
        held_back
            .iter()
            .any(|h| h["patches"].as_u64() == Some(boundary.iter().filter(|b| b.2).count() as u64)),
        format!(
            "the gate says held back: {}",
            held_back
                .iter()
                .map(|h| format!(
                    "{} ({})",
                    h["patches"],
                    h["examples"]
                        .as_array()
                        .map(|e| e
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    Ok(Rerun { ubuntu, boundary })
}
