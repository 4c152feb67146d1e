//! The SDK's timestamps as `chrono` times.

use chrono::{DateTime, Utc};

/// An SDK timestamp as UTC, to the millisecond; `None` outside chrono's range.
pub fn to_utc(value: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(value.to_millis().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_to_the_millisecond() {
        let sdk = aws_smithy_types::DateTime::from_millis(1_764_384_000_123);
        let utc = to_utc(&sdk).unwrap();
        assert_eq!(utc.timestamp_millis(), 1_764_384_000_123);
        assert_eq!(utc.to_rfc3339(), "2025-11-29T02:40:00.123+00:00");
    }
}
