//! Every alarm on the functions' own metrics (EMF, namespace `patchpilot`, dimension `Function`)
//! watches a metric that function declares and emits; the snapshot's alarms are checked against what
//! it really publishes in compliance-snapshot's LocalStack test.

use patchpilot_test_support::template::Template;

#[test]
fn alarms_on_function_metrics_watch_metrics_the_functions_emit() {
    let template = Template::load();
    let mut checked = Vec::new();
    for alarm in template.alarms() {
        if alarm.namespace != patchpilot_shared::metrics::NAMESPACE {
            continue;
        }
        let function = alarm
            .dimensions
            .iter()
            .find(|(name, _)| name == "Function")
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("alarm {} has no Function dimension", alarm.id));
        let declared: &[&str] = match function {
            "install-alerts" => install_alerts::handler::METRIC_NAMES,
            "patch-group-tagger" => patch_group_tagger::handler::METRIC_NAMES,
            "patch-gate" => {
                // The gate's metric carries the production window too.
                let names: Vec<&str> = alarm.dimensions.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(
                    names,
                    ["Function", patch_gate::handler::GATE_DIMENSION],
                    "alarm {}",
                    alarm.id
                );
                &[patch_gate::handler::GATE_METRIC]
            }
            other => panic!(
                "alarm {} watches function {other}, which emits no metrics",
                alarm.id
            ),
        };
        assert!(
            declared.contains(&alarm.metric.as_str()),
            "alarm {} watches {function}'s {}, which it does not emit",
            alarm.id,
            alarm.metric
        );
        checked.push(alarm.id);
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "BackfillStalledAlarm",
            "GateBrakeAlarm",
            "SummaryIncompleteAlarm"
        ]
    );
}

/// The stale-instances alarm must be able to fire whatever the snapshot's interval: one point per
/// snapshot, a day of them required. A fixed hourly period needing 24 of 24 points never fired when
/// snapshots came every 2 hours or less often.
#[test]
fn the_stale_alarm_can_fire_at_every_snapshot_interval() {
    use patchpilot_test_support::template::Deployment;
    let template = Template::load();
    let intervals = template.root["Parameters"]["SnapshotIntervalMinutes"]["AllowedValues"]
        .as_array()
        .unwrap()
        .clone();
    assert!(intervals.len() >= 8);
    for interval in intervals {
        let minutes = interval.as_str().unwrap();
        let deployment = Deployment::new(
            &template,
            &[
                ("StagingWindowId", "mw-0c50858d01ff4a3b1"),
                ("ProductionWindowId", "mw-0d61969e12ee5b4c2"),
                ("StagingPatchGroup", "staging"),
                ("SnapshotIntervalMinutes", minutes),
            ],
        );
        let alarm = &template.resource("StaleInstancesAlarm")["Properties"];
        let number = |name: &str| -> i64 {
            let value = deployment.resolve(&alarm[name]).unwrap();
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
                .unwrap_or_else(|| panic!("{name} is {value}"))
        };
        let interval_seconds = minutes.parse::<i64>().unwrap() * 60;
        assert_eq!(
            number("Period"),
            interval_seconds,
            "{minutes} min: a point per period"
        );
        assert_eq!(number("DatapointsToAlarm"), number("EvaluationPeriods"));
        assert_eq!(
            number("Period") * number("EvaluationPeriods"),
            86_400,
            "{minutes} min: a day"
        );
    }
}

/// A new account has an unreserved concurrency of 10 (often) and Lambda lets an account reserve its
/// unreserved concurrency minus 100: the default deployment must reserve none.
#[test]
fn the_default_deployment_reserves_no_concurrency() {
    let template = Template::load();
    assert_eq!(template.parameter_default("ReserveConcurrency"), "false");
}
