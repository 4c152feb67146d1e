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
    assert_eq!(checked, ["BackfillStalledAlarm", "SummaryIncompleteAlarm"]);
}
