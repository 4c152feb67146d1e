//! Status values as open enums: known values are variants, anything AWS adds later is kept verbatim in
//! `Other` instead of failing the whole event.

/// Declares a string enum whose unknown values survive as `Other(String)`.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`")] $variant,)+
            /// A value this version does not know yet, kept as AWS sent it.
            Other(String),
        }

        impl $name {
            /// Every value this version knows, in the order AWS documents them.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant,)+];

            /// The value as AWS spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            /// The exact spelling first; then the same letters in another case or spacing, since AWS
            /// spells one status several ways (`DeliveryTimedOut` in events, `Delivery Timed Out` in
            /// the API's StatusDetails, `TIMED_OUT` / `TimedOut`).
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => {
                        let folded = crate::live_values::fold(other);
                        $(if crate::live_values::fold($text) == folded {
                            return Self::$variant;
                        })+
                        Self::Other(other.to_owned())
                    }
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(text.as_ref()))
            }
        }
    };
}

open_enum!(
    /// Status of a Run Command command or of one of its invocations.
    CommandStatus {
        Pending => "Pending",
        InProgress => "InProgress",
        Delayed => "Delayed",
        Success => "Success",
        Cancelling => "Cancelling",
        Cancelled => "Cancelled",
        Failed => "Failed",
        TimedOut => "TimedOut",
        DeliveryTimedOut => "DeliveryTimedOut",
        ExecutionTimedOut => "ExecutionTimedOut",
        Undeliverable => "Undeliverable",
        Terminated => "Terminated",
        InvalidPlatform => "InvalidPlatform",
        AccessDenied => "AccessDenied",
        Incomplete => "Incomplete",
        RateExceeded => "RateExceeded",
        NoInstancesInTag => "No Instances In Tag",
    }
);

impl CommandStatus {
    /// A final status that means the work did not get done.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Cancelled
                | Self::Failed
                | Self::TimedOut
                | Self::DeliveryTimedOut
                | Self::ExecutionTimedOut
                | Self::Undeliverable
                | Self::Terminated
                | Self::InvalidPlatform
                | Self::AccessDenied
                | Self::Incomplete
                | Self::RateExceeded
                | Self::NoInstancesInTag
        )
    }

    /// A status after which nothing more happens to the command or invocation.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success) || self.is_failure()
    }
}

open_enum!(
    /// Status of a maintenance-window execution, task execution or task invocation.
    WindowExecutionStatus {
        Pending => "PENDING",
        InProgress => "IN_PROGRESS",
        Success => "SUCCESS",
        Failed => "FAILED",
        TimedOut => "TIMED_OUT",
        Cancelling => "CANCELLING",
        Cancelled => "CANCELLED",
        SkippedOverlapping => "SKIPPED_OVERLAPPING",
    }
);

impl WindowExecutionStatus {
    /// A status after which the execution does not change again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Success
                | Self::Failed
                | Self::TimedOut
                | Self::Cancelled
                | Self::SkippedOverlapping
        )
    }
}

open_enum!(
    /// An EC2 instance's lifecycle state.
    InstanceState {
        Pending => "pending",
        Running => "running",
        ShuttingDown => "shutting-down",
        Terminated => "terminated",
        Stopping => "stopping",
        Stopped => "stopped",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_and_unknown_ones_are_kept() {
        let known: CommandStatus = serde_json::from_str("\"No Instances In Tag\"").unwrap();
        assert_eq!(known, CommandStatus::NoInstancesInTag);
        assert_eq!(
            serde_json::to_string(&known).unwrap(),
            "\"No Instances In Tag\""
        );

        let unknown: WindowExecutionStatus = serde_json::from_str("\"PAUSED_FOR_LUNCH\"").unwrap();
        assert_eq!(
            unknown,
            WindowExecutionStatus::Other("PAUSED_FOR_LUNCH".into())
        );
        assert_eq!(unknown.as_str(), "PAUSED_FOR_LUNCH");
        assert!(!unknown.is_terminal());
    }

    #[test]
    fn failure_and_terminal_classification() {
        for failed in [
            "Failed",
            "TimedOut",
            "Cancelled",
            "DeliveryTimedOut",
            "ExecutionTimedOut",
            "Undeliverable",
            "Terminated",
            "InvalidPlatform",
            "AccessDenied",
        ] {
            let status = CommandStatus::from(failed);
            assert!(status.is_failure(), "{failed} must count as a failure");
            assert!(status.is_terminal());
        }
        assert!(!CommandStatus::Success.is_failure());
        assert!(CommandStatus::Success.is_terminal());
        assert!(!CommandStatus::InProgress.is_terminal());
        assert!(WindowExecutionStatus::SkippedOverlapping.is_terminal());
        assert!(!WindowExecutionStatus::Cancelling.is_terminal());
    }
}
