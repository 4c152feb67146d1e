//! `patchpilot tag preview`: the tagger's rules applied to the fleet as it is, with the tagger's own
//! configuration parsing and decision code; nothing is written.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use patch_group_tagger::config::{RulesSource, TaggerConfig};
use patch_group_tagger::decide::{Decision, Policy, decide};
use patch_group_tagger::facts::InstanceFacts;
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::CliError;
use crate::output::{Output, Style, Table, with_progress};
use crate::settings::Settings;

/// Where the rules come from, in order: a file, the inline rules, the rules parameter.
pub async fn rules_text(
    clients: &Clients,
    settings: &Settings,
    file: Option<&Path>,
) -> Result<Option<(String, String)>, CliError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|err| CliError::File {
            path: path.display().to_string(),
            message: err.to_string(),
        })?;
        return Ok(Some((path.display().to_string(), text)));
    }
    if let Some(parameter) = &settings.tag_rules_parameter {
        let value = clients
            .ssm
            .get_parameter()
            .name(parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|err| CliError::sdk("ssm:GetParameter", err))?;
        let text = value
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_owned();
        return Ok(Some((format!("SSM parameter {parameter}"), text)));
    }
    Ok(settings
        .tag_rules
        .clone()
        .filter(|rules| rules.trim() != "[]")
        .map(|rules| ("TagRules".to_owned(), rules)))
}

/// The tagger's policy from `rules` and the deployment's tagger settings, parsed by the tagger's own
/// configuration code (so a rule set it would refuse is refused here with the same words).
pub fn policy(settings: &Settings, source: &str, rules: &str) -> Result<Policy, CliError> {
    let mut env: HashMap<&str, &str> = HashMap::from([("TAG_RULES", rules)]);
    if let Some(group) = &settings.default_patch_group {
        env.insert("DEFAULT_PATCH_GROUP", group);
    }
    if let Some(key) = &settings.tag_key {
        env.insert("PATCH_GROUP_TAG_KEY", key);
    }
    let config =
        TaggerConfig::from_env(&env).map_err(|err| CliError::Usage(format!("{source}: {err}")))?;
    let RulesSource::Inline(rules) = config.rules else {
        return Err(CliError::Usage(format!("{source}: no inline rules")));
    };
    Ok(Policy {
        rules,
        default_patch_group: config.default_patch_group,
        tag_key: config.tag_key,
        // A preview shows what a backfill does to untagged instances; existing groups are kept
        // unless the deployment overwrites them.
        overwrite_existing: config.overwrite_existing,
    })
}

/// Every instance of the fleet (pending and running), as the tagger sees it.
pub async fn fleet(clients: &Clients) -> Result<Vec<InstanceFacts>, CliError> {
    instances(clients, &["pending", "running"]).await
}

/// Every instance in one of `states`, as the tagger sees it.
pub async fn instances(clients: &Clients, states: &[&str]) -> Result<Vec<InstanceFacts>, CliError> {
    let mut facts = Vec::new();
    let mut pages = clients
        .ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .set_values(Some(states.iter().map(|s| (*s).to_owned()).collect()))
                .build(),
        )
        // The most a page may hold (EC2 takes 5–1,000 with filters): a bounded answer per call.
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages
        .try_next()
        .await
        .map_err(|err| CliError::sdk("ec2:DescribeInstances", err))?
    {
        for reservation in page.reservations() {
            facts.extend(reservation.instances().iter().map(InstanceFacts::from));
        }
    }
    Ok(facts)
}

fn action_name(decision: &Decision) -> String {
    serde_json::to_value(decision.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Runs `tag preview`.
pub async fn preview(
    clients: &Clients,
    settings: &Settings,
    rules_file: Option<&Path>,
    style: Style,
) -> Result<Output, CliError> {
    let Some((source, rules)) = rules_text(clients, settings, rules_file).await? else {
        return Err(CliError::Usage(
            "no tagging rules: pass --rules-file, --tag-rules or --tag-rules-parameter (or --stack)"
                .to_owned(),
        ));
    };
    let policy = policy(settings, &source, &rules)?;
    let instances = with_progress("the fleet", fleet(clients)).await?;
    let mut decisions: Vec<(InstanceFacts, Decision)> = instances
        .into_iter()
        .map(|instance| {
            let decision = decide(&instance, &policy);
            (instance, decision)
        })
        .collect();
    decisions.sort_by(|a, b| {
        (action_name(&a.1), &a.1.instance_id).cmp(&(action_name(&b.1), &b.1.instance_id))
    });
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut table = Table::new(&["instance", "name", "would", "patch group", "rule", "why"]);
    for (instance, decision) in &decisions {
        let action = action_name(decision);
        *counts.entry(action.clone()).or_default() += 1;
        let shown = match action.as_str() {
            "tagged" => style.good("tag"),
            "already_tagged" => "keep".to_owned(),
            "skipped" => style.warn("skip"),
            "no_match" => style.warn("no match"),
            other => other.to_owned(),
        };
        table.row(vec![
            decision.instance_id.clone(),
            instance.tags.get("Name").cloned().unwrap_or_default(),
            shown,
            decision.patch_group.clone().unwrap_or_default(),
            decision.rule.clone().unwrap_or_default(),
            decision.reason.clone(),
        ]);
    }
    let summary: Vec<String> = counts.iter().map(|(a, n)| format!("{a} {n}")).collect();
    let text = format!(
        "{}\n{}\n  {} instance(s): {}; nothing was written.\n",
        style.heading(&format!("Tagging preview with the rules from {source}")),
        table.render(2),
        decisions.len(),
        summary.join(", ")
    );
    let json = json!({
        "rules_from": source,
        "counts": counts,
        "decisions": decisions.iter().map(|(_, d)| serde_json::to_value(d).unwrap_or(Value::Null)).collect::<Vec<_>>(),
    });
    Ok(Output {
        text,
        json,
        findings: false,
        incomplete: false,
    })
}
