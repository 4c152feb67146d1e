//! The dashboard in template.yaml graphs the gate metric the function really emits, with its dimensions.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patch_gate::handler::{FUNCTION, GATE_DIMENSION, GATE_METRIC};
use patchpilot_test_support::template::Template;

#[test]
fn dashboard_graphs_the_gate_metric_with_its_dimensions() {
    let body = Template::load().sub_text("ComplianceDashboard", "DashboardBody");
    let expected = format!(
        r#"["patchpilot", "{GATE_METRIC}", "Function", "{FUNCTION}", "{GATE_DIMENSION}", "${{ProductionWindowId}}"]"#
    );
    assert!(body.contains(&expected), "the dashboard lacks {expected}");
}
