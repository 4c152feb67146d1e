//! The week deploys with `LogLevel=WARN`, as a team that wants quiet logs would. With JSON logs and an
//! application log level, Lambda drops every record below it, and a record without a (valid) `level`
//! counts as INFO (Lambda developer guide, log-level filtering). The functions' metric lines must
//! survive that filter, or the alarms on them go blind. This applies the documented filter to what the
//! functions printed.

use crate::error::WeekError;
use std::path::Path;

use serde_json::Value;

/// Whether Lambda keeps `record` at `configured` (the filter itself lives with the EMF forwarder).
pub use patchpilot_test_support::emf::lambda_keeps as kept;

/// (metric lines printed, metric lines Lambda keeps at `configured`) in the functions' logs.
pub fn metric_lines(log_dir: &Path, configured: &str) -> Result<(usize, usize), WeekError> {
    let (mut printed, mut survived) = (0, 0);
    let entries = std::fs::read_dir(log_dir).map_err(WeekError::file(log_dir.display()))?;
    for entry in entries {
        let path = entry.map_err(WeekError::file(log_dir.display()))?.path();
        let text = std::fs::read_to_string(&path).map_err(WeekError::file(path.display()))?;
        for line in text.lines() {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if record.get("_aws").is_some() {
                printed += 1;
                survived += usize::from(kept(&record, configured));
            }
        }
    }
    Ok((printed, survived))
}
