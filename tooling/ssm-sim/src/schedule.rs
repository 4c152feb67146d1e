//! A maintenance window's next execution time, from its `rate(...)` or `cron(...)` schedule (UTC
//! unless the window names a time zone, which the simulator does not model: it then reports none).
//!
//! Cron expressions are AWS's six fields — minutes, hours, day of month, month, day of week, year —
//! with `*`, `?`, lists, ranges, `/` steps and names (`JAN`, `MON`); `L`, `W` and `#` are not
//! modelled (no next time is reported for them).

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};

fn names(field: &str, table: &[&str], first: u32) -> String {
    let mut out = field.to_ascii_uppercase();
    for (index, name) in table.iter().enumerate() {
        out = out.replace(name, &(first + index as u32).to_string());
    }
    out
}

/// The values a field allows, within `min..=max`; `None` for what is not modelled.
fn field(text: &str, min: u32, max: u32) -> Option<Vec<bool>> {
    let mut allowed = vec![false; (max + 1) as usize];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" | "?" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let at: u32 = range.parse().ok()?;
                    (at, if part.contains('/') { max } else { at })
                }
            },
        };
        if low < min || high > max || low > high {
            return None;
        }
        let mut value = low;
        while value <= high {
            allowed[value as usize] = true;
            value += step;
        }
    }
    Some(allowed)
}

/// The first time after `now` the schedule fires, to the minute.
pub fn next_execution(schedule: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(rate) = schedule
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (count, unit) = rate.trim().split_once(' ')?;
        let count: i64 = count.parse().ok()?;
        let step = match unit.trim_end_matches('s') {
            "minute" => Duration::minutes(count),
            "hour" => Duration::hours(count),
            "day" => Duration::days(count),
            _ => return None,
        };
        return Some(now + step);
    }
    let cron = schedule.strip_prefix("cron(")?.strip_suffix(')')?;
    let parts: Vec<&str> = cron.split_whitespace().collect();
    if parts.len() != 6 || cron.contains(['L', 'W', '#']) {
        return None;
    }
    let months = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let minute = field(parts[0], 0, 59)?;
    let hour = field(parts[1], 0, 23)?;
    let day_of_month = field(parts[2], 1, 31)?;
    let month = field(&names(parts[3], &months, 1), 1, 12)?;
    // AWS numbers days of the week 1 (Sunday) to 7 (Saturday).
    let day_of_week = field(&names(parts[4], &days, 1), 1, 7)?;
    let year = field(parts[5], 1970, 2199)?;
    let mut at = (now + Duration::minutes(1))
        .with_second(0)?
        .with_nanosecond(0)?;
    // At most five years of minutes; the search is cheap and bounded.
    for _ in 0..(5 * 366 * 24 * 60) {
        let dow = at.weekday().number_from_sunday();
        if year.get(at.year() as usize).copied().unwrap_or(false)
            && month[at.month() as usize]
            && day_of_month[at.day() as usize]
            && day_of_week[dow as usize]
            && hour[at.hour() as usize]
            && minute[at.minute() as usize]
        {
            return Some(at);
        }
        at += Duration::minutes(1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn weekly_cron_and_rates() {
        // Thursday 2026-11-26 02:00 UTC; from Saturday the 28th the next is Thursday 3 December.
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(
            next_execution("cron(0 2 ? * THU *)", now),
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap())
        );
        assert_eq!(
            next_execution("cron(0 2 ? * SUN *)", now),
            Some(Utc.with_ymd_and_hms(2026, 11, 29, 2, 0, 0).unwrap())
        );
        assert_eq!(
            next_execution("cron(30 */6 * * ? *)", now),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 12, 30, 0).unwrap())
        );
        assert_eq!(
            next_execution("rate(3 days)", now),
            Some(now + Duration::days(3))
        );
        assert_eq!(
            next_execution("cron(0 2 ? * 5#2 *)", now),
            None,
            "not modelled"
        );
    }
}
