//! ListResourceComplianceSummaries: one summary per managed node of its `Patch` compliance (ledger
//! row 36), fleet-wide in instance-id order, 50 a page at most.

use serde_json::{Value, json};

use super::patches::instances_after;
use super::{after_key, with_token};
use crate::api::{ApiError, ApiResult, Request, strings};
use crate::pagination::take_page;
use crate::state::{Instance, PatchReport, PatchState, State, epoch};

/// The compliance severities, highest first (the model's `ComplianceSeverity` enum).
const SEVERITIES: [&str; 6] = [
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "INFORMATIONAL",
    "UNSPECIFIED",
];

/// Counts of compliance items by severity, in [`SEVERITIES`] order.
#[derive(Default)]
struct SeverityCounts([i64; 6]);

impl SeverityCounts {
    fn add(&mut self, level: &str) {
        let index = SEVERITIES
            .iter()
            .position(|severity| *severity == level)
            .unwrap_or(SEVERITIES.len() - 1);
        self.0[index] += 1;
    }

    fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    fn highest(&self) -> Option<&'static str> {
        SEVERITIES
            .iter()
            .zip(self.0)
            .find(|(_, count)| *count > 0)
            .map(|(severity, _)| *severity)
    }

    fn to_json(&self) -> Value {
        let [critical, high, medium, low, informational, unspecified] = self.0;
        json!({
            "CriticalCount": critical, "HighCount": high, "MediumCount": medium, "LowCount": low,
            "InformationalCount": informational, "UnspecifiedCount": unspecified,
        })
    }
}

/// A `ComplianceStringFilter` on one of the keys this simulator serves.
struct Filter<'a> {
    key: &'a str,
    values: Vec<&'a str>,
    operator: &'a str,
}

/// The keys served. The live service's list is not published; any other key is refused by name
/// rather than silently matching everything (ledger row 36).
const KEYS: &[&str] = &["ComplianceType", "Status", "OverallSeverity"];

impl<'a> Filter<'a> {
    fn parse(filter: &'a Value) -> Result<Self, ApiError> {
        let key = filter["Key"].as_str().unwrap_or_default();
        if !KEYS.contains(&key) {
            return Err(ApiError::invalid_filter(format!(
                "Invalid filter key {key:?}; valid keys are {}",
                KEYS.join(", ")
            )));
        }
        let operator = filter["Type"].as_str().unwrap_or("EQUAL");
        if !matches!(operator, "EQUAL" | "NOT_EQUAL" | "BEGIN_WITH") {
            return Err(ApiError::invalid_filter(format!(
                "Filter type {operator} does not apply to the text key {key}"
            )));
        }
        let values = filter["Values"]
            .as_array()
            .map(|values| strings(values))
            .unwrap_or_default();
        Ok(Self {
            key,
            values,
            operator,
        })
    }

    fn matches(&self, field: &str) -> bool {
        let any = match self.operator {
            "BEGIN_WITH" => self.values.iter().any(|value| field.starts_with(value)),
            _ => self.values.contains(&field),
        };
        if self.operator == "NOT_EQUAL" {
            !any
        } else {
            any
        }
    }
}

/// The Patch compliance summary of a node that has reported: every patch Patch Manager reports on
/// is one compliance item, at the compliance level its baseline rule gives it.
fn patch_summary(
    state: &State,
    instance: &Instance,
    report: &PatchReport,
) -> (&'static str, &'static str, Value) {
    let available_security_non_compliant = state
        .baseline_for(instance.patch_group.as_deref(), &instance.operating_system)
        .and_then(|baseline| {
            baseline
                .available_security_updates_compliance_status
                .as_deref()
        })
        == Some("NON_COMPLIANT");
    let mut compliant = SeverityCounts::default();
    let mut non_compliant = SeverityCounts::default();
    for entry in &instance.patches {
        let level = state.catalog[entry.patch as usize]
            .compliance_level
            .as_str();
        match entry.state {
            PatchState::NotApproved | PatchState::NotApplicable => {}
            PatchState::AvailableSecurityUpdate if !available_security_non_compliant => {}
            state if state.is_non_compliant() => non_compliant.add(level),
            PatchState::AvailableSecurityUpdate => non_compliant.add(level),
            _ => compliant.add(level),
        }
    }
    let status = if non_compliant.total() == 0 {
        "COMPLIANT"
    } else {
        "NON_COMPLIANT"
    };
    let overall = non_compliant.highest().unwrap_or("UNSPECIFIED");
    let body = json!({
        "ComplianceType": "Patch",
        "ResourceType": "ManagedInstance",
        "ResourceId": instance.id,
        "Status": status,
        "OverallSeverity": overall,
        "ExecutionSummary": {"ExecutionTime": epoch(report.end), "ExecutionType": "Command"},
        "CompliantSummary": {"CompliantCount": compliant.total(), "SeveritySummary": compliant.to_json()},
        "NonCompliantSummary": {
            "NonCompliantCount": non_compliant.total(),
            "SeveritySummary": non_compliant.to_json(),
        },
    });
    (status, overall, body)
}

pub fn list_resource_compliance_summaries(state: &State, request: &Request<'_>) -> ApiResult {
    const OP: &str = "ListResourceComplianceSummaries";
    let filters = request
        .list("Filters")
        .iter()
        .map(Filter::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let after = after_key(OP, request)?;
    let items = instances_after(state, after.as_deref()).filter_map(|instance| {
        let report = instance.report.as_ref()?;
        let (status, overall, body) = patch_summary(state, instance, report);
        let keep = filters.iter().all(|filter| {
            filter.matches(match filter.key {
                "ComplianceType" => "Patch",
                "Status" => status,
                _ => overall,
            })
        });
        keep.then(|| (instance.id.clone(), body))
    });
    let (page, next) = take_page(OP, items, request.page_size(50));
    Ok(with_token(
        json!({ "ResourceComplianceSummaryItems": page }),
        next,
    ))
}
