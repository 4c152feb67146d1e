//! The week's evidence rows, one variant each, in the order the week produces them: a row cannot be
//! misspelt where it is checked or where the test looks it up, and the test asks for every one.

macro_rules! evidence {
    ($($variant:ident => $name:literal,)*) => {
        /// One row of the week's evidence.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Evidence {
            $(
                #[doc = $name]
                $variant,
            )*
        }

        impl Evidence {
            /// Every row, in the week's order.
            pub const ALL: &[Evidence] = &[$(Evidence::$variant,)*];

            /// The row's name, as the summary prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Evidence::$variant => $name,)*
                }
            }
        }
    };
}

evidence! {
    Tagger => "tagger",
    StagingRun => "staging run",
    Alerts => "alerts",
    StormControl => "storm control",
    SnapshotMetrics => "snapshot metrics",
    ComplianceAlarm => "compliance alarm",
    GateClosed => "gate closed",
    InstanceTerminatedMidWindow => "an instance terminated mid-window",
    BrakeStopsProduction => "the brake stops production behind the gate's back",
    OperatorApproved => "operator approved",
    HoldAndRelease => "hold and release",
    GateOpenedAndPinned => "gate opened and pinned",
    HeldBackReported => "held back reported",
    StagingVersionsPromoted => "staging's versions promoted",
    FleetCompliant => "fleet compliant",
    CoverageCountsUnmanaged => "coverage counts the unmanaged",
    BoundaryDay => "the boundary day as staging ran it",
    ProductionInstalledOnlyStagings => "production installed only what staging ran",
    UbuntuPairPromoted => "an Ubuntu pair promoted exactly",
    AfterRunCheckCatchesExcess => "the after-run check catches a planted excess",
    LatePackageStaysOut => "a late package stays out of production",
    NextCyclePromotes => "the next cycle promotes it",
    ScanIsNoVerdict => "a scan is no verdict",
    SkippedIsNoVerdict => "a skipped execution is no verdict",
    RedeliveredRepeatsNothing => "a redelivered event repeats nothing",
    RecheckClosed => "re-check closed",
    StatusExplainsClosedGate => "status explains the closed gate",
    Doctor => "doctor",
    AwsManagedBaselinePinned => "AWS-managed staging baseline pinned",
    AnotherTeamsFailure => "another team's failure reaches a human",
    BrakeFollowsGate => "the brake follows the gate",
    MetricsSurviveLogLevel => "metrics survive LogLevel WARN",
    KeptWeekReachable => "the kept week is reachable",
    NothingDeadLettered => "nothing dead-lettered",
    RolesAllowEveryCall => "roles allow every call",
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn each_row_has_a_name_of_its_own() {
        let names: BTreeSet<&str> = Evidence::ALL.iter().map(|row| row.name()).collect();
        assert_eq!(names.len(), Evidence::ALL.len());
    }
}
