//! Values the live service spells differently from botocore's service model (and so from the AWS
//! SDK's enums). Every such field is read through this module, which accepts both spellings and keeps
//! an unknown value visibly as unknown; every filter sends the documented spelling. Sources are in the
//! README's fidelity ledger.

use std::fmt;

/// A patch's state on an instance (`DescribeInstancePatches` → `Patches[].State`).
///
/// The model's enum is upper case (`INSTALLED`, `FAILED`); the live service returns `Installed`,
/// `Failed` (the AWS CLI's documented output) and takes those as `State` filter values (API
/// reference sample values `Installed | InstalledOther | InstalledPendingReboot`). The SDK parses the
/// live spelling as `PatchComplianceDataState::Unknown`, so matching on the SDK enum would miss it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatchState {
    /// Installed.
    Installed,
    /// Installed, but not by this baseline's approval.
    InstalledOther,
    /// Installed; the instance awaits a reboot.
    InstalledPendingReboot,
    /// Installed although the baseline rejects it.
    InstalledRejected,
    /// Approved and applicable, not installed.
    Missing,
    /// Not applicable to the instance.
    NotApplicable,
    /// The install failed.
    Failed,
    /// A security update available but not approved (Windows).
    AvailableSecurityUpdate,
    /// A value neither spelling knows, kept as the service sent it.
    Unknown(String),
}

/// The `State` filter value for failed patches, as the API reference and the CLI examples spell it.
pub const PATCH_STATE_FILTER_FAILED: &str = "Failed";

/// Letters and digits only, lower case: `INSTALLED_PENDING_REBOOT` and `InstalledPendingReboot` read
/// alike, as do `Delivery Timed Out` and `DeliveryTimedOut`.
pub fn fold(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl PatchState {
    /// Reads either spelling.
    pub fn parse(text: &str) -> Self {
        match fold(text).as_str() {
            "installed" => Self::Installed,
            "installedother" => Self::InstalledOther,
            "installedpendingreboot" => Self::InstalledPendingReboot,
            "installedrejected" => Self::InstalledRejected,
            "missing" => Self::Missing,
            "notapplicable" => Self::NotApplicable,
            "failed" => Self::Failed,
            "availablesecurityupdate" => Self::AvailableSecurityUpdate,
            _ => Self::Unknown(text.to_owned()),
        }
    }

    /// The documented (live) spelling.
    pub fn as_live(&self) -> &str {
        match self {
            Self::Installed => "Installed",
            Self::InstalledOther => "InstalledOther",
            Self::InstalledPendingReboot => "InstalledPendingReboot",
            Self::InstalledRejected => "InstalledRejected",
            Self::Missing => "Missing",
            Self::NotApplicable => "NotApplicable",
            Self::Failed => "Failed",
            Self::AvailableSecurityUpdate => "AvailableSecurityUpdate",
            Self::Unknown(text) => text,
        }
    }
}

/// What a Run Command invocation's outcome is called: the API's `Status` is coarse (`Pending |
/// InProgress | Delayed | Success | Cancelled | TimedOut | Failed | Cancelling`) and its
/// `StatusDetails` says why (`Delivery Timed Out`, `Execution Timed Out`, `Undeliverable`,
/// `Terminated`, `Access Denied`, …), as the console shows it. The detail, read in either spelling,
/// when there is one; else the status.
pub fn invocation_outcome(
    status: Option<&str>,
    details: Option<&str>,
) -> crate::events::CommandStatus {
    match details.map(str::trim).filter(|d| !d.is_empty()) {
        Some(details) => crate::events::CommandStatus::from(details),
        None => crate::events::CommandStatus::from(status.unwrap_or("Unknown")),
    }
}

impl fmt::Display for PatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_live())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_read_alike_and_unknown_stays_visible() {
        for (live, model) in [
            ("Installed", "INSTALLED"),
            ("InstalledOther", "INSTALLED_OTHER"),
            ("InstalledPendingReboot", "INSTALLED_PENDING_REBOOT"),
            ("InstalledRejected", "INSTALLED_REJECTED"),
            ("Missing", "MISSING"),
            ("NotApplicable", "NOT_APPLICABLE"),
            ("Failed", "FAILED"),
            ("AvailableSecurityUpdate", "AVAILABLE_SECURITY_UPDATE"),
        ] {
            assert_eq!(PatchState::parse(live), PatchState::parse(model));
            assert_eq!(PatchState::parse(model).as_live(), live);
            assert!(!matches!(PatchState::parse(live), PatchState::Unknown(_)));
        }
        assert_eq!(
            PatchState::parse("Superseded"),
            PatchState::Unknown("Superseded".into())
        );
        assert_eq!(PatchState::parse("Superseded").to_string(), "Superseded");
        assert_eq!(PATCH_STATE_FILTER_FAILED, PatchState::Failed.as_live());
    }

    #[test]
    fn invocation_outcomes_read_the_detail_in_either_spelling() {
        use crate::events::CommandStatus;
        assert_eq!(
            invocation_outcome(Some("TimedOut"), Some("Delivery Timed Out")),
            CommandStatus::DeliveryTimedOut
        );
        assert_eq!(
            invocation_outcome(Some("Failed"), Some("Undeliverable")),
            CommandStatus::Undeliverable
        );
        assert_eq!(
            invocation_outcome(Some("Failed"), Some("Access Denied")),
            CommandStatus::AccessDenied
        );
        assert_eq!(
            invocation_outcome(Some("Success"), None),
            CommandStatus::Success
        );
        assert_eq!(
            invocation_outcome(Some("Failed"), Some("Quota Exhausted")),
            CommandStatus::Other("Quota Exhausted".into()),
            "an unknown detail stays visible"
        );
        assert!(CommandStatus::from("Execution Timed Out").is_failure());
    }
}
