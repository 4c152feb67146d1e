//! The week deploys with `LogLevel=WARN`, as a team that wants quiet logs would. With JSON logs and an
//! application log level, Lambda drops every record below it, and a record without a (valid) `level`
//! counts as INFO (Lambda developer guide, log-level filtering). The functions' metric lines must
//! survive that filter, or the alarms on them go blind. This applies the documented filter to what the
//! functions printed.

use std::path::Path;

use serde_json::Value;

/// Lambda's levels, lowest first.
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

fn rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// Whether Lambda keeps `record` at `configured`: its level (INFO when missing or invalid) at or above.
pub fn kept(record: &Value, configured: &str) -> bool {
    let level = record["level"].as_str().and_then(rank).unwrap_or(2);
    rank(configured).is_some_and(|configured| level >= configured)
}

/// (metric lines printed, metric lines Lambda keeps at `configured`) in the functions' logs.
pub fn metric_lines(log_dir: &Path, configured: &str) -> Result<(usize, usize), String> {
    let (mut printed, mut survived) = (0, 0);
    let entries =
        std::fs::read_dir(log_dir).map_err(|err| format!("{}: {err}", log_dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|err| err.to_string())?.path();
        let text = std::fs::read_to_string(&path).map_err(|err| err.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_filter_is_lambdas() {
        assert!(
            !kept(&json!({"_aws": {}}), "WARN"),
            "no level counts as INFO"
        );
        assert!(kept(&json!({"_aws": {}}), "INFO"));
        assert!(kept(&json!({"level": "WARN"}), "WARN"));
        assert!(!kept(&json!({"level": "nonsense"}), "WARN"));
        assert!(kept(&json!({"level": "ERROR"}), "WARN"));
    }
}
