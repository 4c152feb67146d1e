//! Step 1 of the week: the fleet launches; EC2's state-change events reach patch-group-tagger through
//! its rule; Systems Manager then manages the instances with the groups EC2 shows.

use crate::error::WeekError;
use crate::evidence::Evidence;
use crate::world::World;
use crate::{
    Narrator, Options, counts, delivery_summary, launch, managed_instance, running_event, tags_of,
};
use serde_json::Value;

/// Launches and tags the fleet; returns the staging group's members as Systems Manager lists them.
pub(crate) async fn launch_and_tag(
    world: &World,
    options: &Options,
    n: &mut Narrator,
) -> Result<Vec<String>, WeekError> {
    n.say("\n1. Instances launch; EC2's state-change events reach patch-group-tagger through its rule");
    let half = options.fleet.max(8) / 2;
    let mut launched: Vec<String> = Vec::new();
    let mut human = Vec::new();
    let mut metadata = Vec::new();
    for (environment, count) in [
        ("staging", half),
        ("production", options.fleet.max(8) - half),
    ] {
        launched.extend(
            launch(
                &world.ec2,
                count - 2,
                &[
                    ("Environment", environment),
                    ("Name", &format!("{environment}-web")),
                ],
                false,
            )
            .await?,
        );
        // A human already chose this one's group; it must survive.
        let chosen = if environment == "staging" {
            "staging-canary"
        } else {
            "production"
        };
        let h = launch(
            &world.ec2,
            1,
            &[("Environment", environment), ("Patch Group", chosen)],
            false,
        )
        .await?;
        human.extend(h.iter().map(|id| (id.clone(), chosen.to_owned())));
        launched.extend(h);
        // Instance-metadata tags on: only `PatchGroup` (no space) is allowed.
        let m = launch(&world.ec2, 1, &[("Environment", environment)], true).await?;
        metadata.extend(m.iter().map(|id| (id.clone(), environment.to_owned())));
        launched.extend(m);
    }
    let events: Vec<Value> = launched.iter().map(|id| running_event(id)).collect();
    world.put_events(&events).await?;
    world.settle(crate::SETTLE).await?;
    let (by_function, errors) = delivery_summary(&world.take_deliveries().await);
    let tags = tags_of(world, &launched).await?;
    let grouped = tags
        .values()
        .filter(|t| t.contains_key("Patch Group") || t.contains_key("PatchGroup"))
        .count();
    let human_kept = human
        .iter()
        .all(|(id, group)| tags.get(id).and_then(|t| t.get("Patch Group")) == Some(group));
    let metadata_ok = metadata
        .iter()
        .all(|(id, group)| tags.get(id).and_then(|t| t.get("PatchGroup")) == Some(group));
    n.say(format!(
        "   deliveries: {}; {errors} errors",
        counts(&by_function)
    ));
    n.check(
        Evidence::Tagger,
        grouped == launched.len() && human_kept && metadata_ok && errors == 0,
        format!(
            "{grouped}/{} instances in a patch group; human tag kept: {human_kept}; metadata-tags instance got PatchGroup: {metadata_ok}",
            launched.len()
        ),
    );

    // Systems Manager now manages them: the simulator learns the fleet with the groups EC2 shows.
    {
        let mut state = world.sim_state_mut()?;
        for id in &launched {
            let instance_tags = tags.get(id).cloned().unwrap_or_default();
            let group = instance_tags
                .get("Patch Group")
                .or_else(|| instance_tags.get("PatchGroup"))
                .cloned()
                .unwrap_or_default();
            let instance = managed_instance(&state, id, &group, &instance_tags);
            state.instances.insert(id.clone(), instance);
        }
        state.reindex_groups();
    }
    let staging: Vec<String> = {
        let state = world.sim_state()?;
        state
            .group_members
            .get("staging")
            .cloned()
            .unwrap_or_default()
    };
    Ok(staging)
}
