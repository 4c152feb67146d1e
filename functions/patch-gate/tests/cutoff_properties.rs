//! The promotion cutoff, checked over thousands of random staging runs, rules and release times:
//! production's approved set is a subset of what staging had approved at its run under both of
//! AWS's readings of `ApproveAfterDays` (release time + N days, and whole UTC days), and the cutoff
//! is the largest date that keeps it so.

// Test code: helpers state their expectations by unwrapping (the lints deny it in the functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Days, Duration, NaiveDate, TimeZone, Utc};
use patch_gate::pin::{cutoff_date, cutoff_until, staging_approved};
use proptest::prelude::*;

/// A staging rule: approve after N days, or until a date placed before, on or after the run's day.
#[derive(Debug, Clone, Copy)]
enum StagingRule {
    AfterDays(u32),
    UntilOffset(i64),
    AtOnce,
}

/// Staging start times: any second from 2000 to 2100, and the awkward ones on purpose — exactly
/// midnight, the last second of a day, month and year ends, leap days.
fn start_time() -> impl Strategy<Value = DateTime<Utc>> {
    let any_second = (946_684_800i64..4_102_444_800i64)
        .prop_map(|secs| Utc.timestamp_opt(secs, 0).single().expect("in range"));
    let awkward_day = prop_oneof![
        Just((2024, 2, 29)),
        Just((2028, 2, 29)),
        Just((2026, 2, 28)),
        Just((2026, 3, 1)),
        Just((2026, 12, 31)),
        Just((2027, 1, 1)),
        Just((2026, 4, 30)),
        Just((2026, 11, 26)),
    ];
    let awkward_time = prop_oneof![
        Just((0u32, 0u32, 0u32)),
        Just((23, 59, 59)),
        Just((2, 0, 0)),
        (0u32..24, 0u32..60, 0u32..60)
    ];
    let awkward = (awkward_day, awkward_time).prop_map(|((y, m, d), (h, mi, s))| {
        Utc.with_ymd_and_hms(y, m, d, h, mi, s)
            .single()
            .expect("valid")
    });
    prop_oneof![any_second, awkward]
}

fn rule() -> impl Strategy<Value = StagingRule> {
    prop_oneof![
        (0u32..=360).prop_map(StagingRule::AfterDays),
        (-40i64..=40).prop_map(StagingRule::UntilOffset),
        Just(StagingRule::AtOnce),
    ]
}

fn cutoff(start: DateTime<Utc>, rule: StagingRule) -> (NaiveDate, Option<u32>, Option<NaiveDate>) {
    match rule {
        StagingRule::AfterDays(days) => (cutoff_date(start, days), Some(days), None),
        StagingRule::UntilOffset(offset) => {
            let until = start.date_naive() + Duration::days(offset);
            (cutoff_until(start, Some(until)), None, Some(until))
        }
        StagingRule::AtOnce => (cutoff_until(start, None), None, None),
    }
}

fn approved_under_both(
    days: Option<u32>,
    until: Option<NaiveDate>,
    start: DateTime<Utc>,
    release: DateTime<Utc>,
) -> bool {
    staging_approved(days, until, start, release, false)
        && staging_approved(days, until, start, release, true)
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// Every release production approves (released on or before the cutoff day) had been approved
    /// by staging at its run, under both readings.
    #[test]
    fn production_approves_a_subset_of_staging(
        start in start_time(),
        rule in rule(),
        // A release anywhere from 5 days before the cutoff day's start to 5 days after, to the second.
        offset in -5 * 86_400i64..6 * 86_400i64,
    ) {
        let (cutoff, days, until) = cutoff(start, rule);
        let release = day_start(cutoff) + Duration::seconds(offset);
        if release.date_naive() <= cutoff {
            prop_assert!(
                approved_under_both(days, until, start, release),
                "production (until {cutoff}) approves a release at {release} staging had not approved at {start} ({rule:?})"
            );
        }
    }

    /// The cutoff is the largest that keeps the subset: one more day would admit a release staging
    /// had not approved under at least one reading.
    #[test]
    fn the_cutoff_is_the_largest_subset(start in start_time(), rule in rule()) {
        let (cutoff, days, until) = cutoff(start, rule);
        let next = cutoff.checked_add_days(Days::new(1)).expect("in range");
        let last_instant_of_next = day_start(next) + Duration::days(1) - Duration::nanoseconds(1);
        let earliest_of_next = day_start(next);
        prop_assert!(
            !approved_under_both(days, until, start, last_instant_of_next)
                || !approved_under_both(days, until, start, earliest_of_next),
            "the whole of {next} was approved by staging at {start} ({rule:?}), yet the cutoff stops at {cutoff}"
        );
    }
}

#[test]
fn the_readme_worked_example() {
    // Staging Thursday 2026-11-26 02:00 UTC, ApproveAfterDays 2.
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    assert_eq!(cutoff_date(start, 2), day(23));
    // Released Tuesday 01:00: approved by staging under both readings, held back from production.
    let tuesday_early = Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap();
    assert!(approved_under_both(Some(2), None, start, tuesday_early));
    // Released Tuesday 03:00: the timestamp reading had not approved it yet.
    let tuesday_late = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
    assert!(!staging_approved(Some(2), None, start, tuesday_late, false));
    assert!(staging_approved(Some(2), None, start, tuesday_late, true));
    assert_eq!(cutoff_date(start, 0), day(25), "ApproveAfterDays 0");
    assert_eq!(
        cutoff_until(start, Some(day(30))),
        day(25),
        "ApproveUntilDate after the run"
    );
}
