//! The dashboard in template.yaml graphs only metrics install-alerts really emits.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use install_alerts::handler::METRIC_NAMES;
use patchpilot_test_support::template::Template;

#[test]
fn dashboard_graphs_only_emitted_metrics() {
    let body = Template::load().sub_text("ComplianceDashboard", "DashboardBody");
    let prefix = r#"["patchpilot", ""#;
    let mut graphed = 0;
    for (index, _) in body.match_indices(prefix) {
        let rest = &body[index + prefix.len()..];
        let metric = &rest[..rest.find('"').unwrap()];
        let function = rest.split(',').nth(2).unwrap().trim().trim_matches('"');
        if function == "install-alerts" {
            graphed += 1;
            assert!(
                METRIC_NAMES.contains(&metric),
                "{metric} is not emitted by install-alerts"
            );
        }
    }
    assert!(graphed >= 2, "{graphed}");
}
