//! Time budgets: the invocation's deadline, less a safety margin kept for reporting.
//!
//! Lambda kills an invocation at its timeout with no report, no metric and nothing written. Every
//! function therefore reads the deadline Lambda hands it (`Lambda-Runtime-Deadline-Ms`, in the
//! invocation's [`lambda_runtime::Context`]), stops its long work at `deadline - margin`, and spends the
//! margin publishing what it has and saying what it did not reach.
//!
//! Two ways to stop, used together:
//! - before starting a unit of work (a page, a batch), [`Budget::allows`] asks whether the slowest unit
//!   seen so far ([`Pace`]) still fits;
//! - a unit already running is cut off at the stop time by [`Budget::run`], so one slow call (retries
//!   and back-off included) cannot carry the invocation past its deadline.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The smallest margin: enough for a few AWS calls (a PutMetricData, an SNS publish, a DynamoDB write).
pub const MIN_MARGIN: Duration = Duration::from_secs(3);
/// The largest margin taken by default, however long the timeout.
pub const MAX_MARGIN: Duration = Duration::from_secs(30);
/// The share of the invocation's time kept as margin by default.
pub const MARGIN_SHARE: f64 = 0.05;

/// The margin kept before the deadline: `configured` when set, else 5 % of the time the invocation
/// had at its start, between 3 and 30 seconds.
pub fn margin_for(total: Duration, configured: Option<Duration>) -> Duration {
    configured.unwrap_or_else(|| total.mul_f64(MARGIN_SHARE).clamp(MIN_MARGIN, MAX_MARGIN))
}

/// How long until `deadline_ms` (milliseconds since the epoch, as Lambda sends it), seen at `now`.
pub fn time_left(deadline_ms: u64, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    Duration::from_millis(
        u64::try_from(u128::from(deadline_ms).saturating_sub(now_ms)).unwrap_or(0),
    )
}

/// Whether a unit expected to take `expected` may start with `remaining` left before the stop time.
pub fn may_start(remaining: Duration, expected: Duration) -> bool {
    remaining > expected
}

/// The time one invocation may spend on its long work.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    stop_at: Option<Instant>,
    margin: Duration,
}

impl Budget {
    /// A budget ending `margin` before a deadline `time_left` from now.
    pub fn new(time_left: Duration, margin: Duration) -> Self {
        let now = Instant::now();
        Self {
            stop_at: Some(now + time_left.saturating_sub(margin)),
            margin,
        }
    }

    /// The invocation's budget: Lambda's deadline less the margin (see [`margin_for`]).
    pub fn from_context(
        context: &lambda_runtime::Context,
        configured_margin: Option<Duration>,
    ) -> Self {
        let left = time_left(context.deadline, SystemTime::now());
        Self::new(left, margin_for(left, configured_margin))
    }

    /// No deadline: for work run outside Lambda (a benchmark driving a handler in-process, a tool).
    pub fn unbounded() -> Self {
        Self {
            stop_at: None,
            margin: Duration::ZERO,
        }
    }

    /// This budget with `reserve` more kept back before the deadline: for work whose own cost after
    /// the stop time is known to grow with what was read (publishing it).
    pub fn reserving(&self, reserve: Duration) -> Self {
        Self {
            // A reserve larger than the clock can go back: spent at once.
            stop_at: self.stop_at.map(|stop_at| {
                stop_at
                    .checked_sub(reserve)
                    .unwrap_or_else(|| Instant::now().min(stop_at))
            }),
            margin: self.margin.saturating_add(reserve),
        }
    }

    /// This budget with its margin given back but for `slack`: for the last work of an invocation
    /// (publishing what was read), which may use the margin and must end just before the deadline.
    /// Unbounded stays unbounded.
    pub fn with_margin(&self, slack: Duration) -> Self {
        Self {
            stop_at: self.stop_at.map(|stop_at| {
                // Never earlier than this budget's own stop time.
                let deadline = stop_at.checked_add(self.margin).unwrap_or(stop_at);
                deadline.checked_sub(slack).unwrap_or(stop_at).max(stop_at)
            }),
            margin: slack,
        }
    }

    /// The margin kept after the stop time.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// Time left before the stop time (`Duration::MAX` without a deadline).
    pub fn remaining(&self) -> Duration {
        match self.stop_at {
            Some(stop_at) => stop_at.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        }
    }

    /// Time left before the deadline itself, margin included (`Duration::MAX` without a deadline).
    pub fn until_deadline(&self) -> Duration {
        match self.stop_at {
            Some(_) => self.remaining().saturating_add(self.margin),
            None => Duration::MAX,
        }
    }

    /// Whether a unit expected to take `expected` still fits.
    pub fn allows(&self, expected: Duration) -> bool {
        may_start(self.remaining(), expected)
    }

    /// Whether the stop time has passed.
    pub fn is_spent(&self) -> bool {
        self.stop_at
            .is_some_and(|stop_at| Instant::now() >= stop_at)
    }

    /// Runs `work` until it finishes (`Some`) or the stop time comes (`None`: it was cut off).
    pub async fn run<F: Future>(&self, work: F) -> Option<F::Output> {
        match self.stop_at {
            Some(stop_at) => tokio::time::timeout_at(stop_at.into(), work).await.ok(),
            None => Some(work.await),
        }
    }
}

/// The slowest unit of work seen so far: what the next one is assumed to cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pace {
    slowest: Duration,
    units: usize,
}

impl Pace {
    /// Records a finished unit.
    pub fn record(&mut self, took: Duration) {
        self.slowest = self.slowest.max(took);
        self.units += 1;
    }

    /// The expected cost of the next unit (zero before the first: the first always starts).
    pub fn expected(&self) -> Duration {
        self.slowest
    }

    /// Units recorded.
    pub fn units(&self) -> usize {
        self.units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_share_of_the_time_within_bounds() {
        assert_eq!(margin_for(Duration::from_secs(900), None), MAX_MARGIN);
        assert_eq!(
            margin_for(Duration::from_secs(300), None),
            Duration::from_secs(15)
        );
        assert_eq!(margin_for(Duration::from_secs(60), None), MIN_MARGIN);
        assert_eq!(margin_for(Duration::from_secs(1), None), MIN_MARGIN);
        assert_eq!(
            margin_for(Duration::from_secs(900), Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn time_left_reads_lambdas_deadline() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        assert_eq!(time_left(1_060_000, now), Duration::from_secs(60));
        assert_eq!(
            time_left(999_000, now),
            Duration::ZERO,
            "a passed deadline leaves nothing"
        );
    }

    #[test]
    fn a_unit_starts_only_when_it_fits() {
        assert!(may_start(Duration::from_secs(10), Duration::from_secs(9)));
        assert!(!may_start(Duration::from_secs(10), Duration::from_secs(10)));
        assert!(
            !may_start(Duration::ZERO, Duration::ZERO),
            "nothing starts at the stop time"
        );
        assert!(may_start(Duration::from_millis(1), Duration::ZERO));
    }

    #[test]
    fn pace_remembers_the_slowest_unit() {
        let mut pace = Pace::default();
        assert_eq!(pace.expected(), Duration::ZERO);
        pace.record(Duration::from_millis(200));
        pace.record(Duration::from_millis(900));
        pace.record(Duration::from_millis(100));
        assert_eq!(pace.expected(), Duration::from_millis(900));
        assert_eq!(pace.units(), 3);
    }

    #[test]
    fn a_reserve_moves_the_stop_time_earlier_and_widens_the_margin() {
        let budget = Budget::new(Duration::from_secs(100), Duration::from_secs(5));
        let reserved = budget.reserving(Duration::from_secs(20));
        assert_eq!(reserved.margin(), Duration::from_secs(25));
        let gap = budget.remaining() - reserved.remaining();
        assert!(
            gap.abs_diff(Duration::from_secs(20)) < Duration::from_millis(50),
            "{gap:?}"
        );
        let spent = budget.reserving(Duration::from_secs(200));
        assert!(spent.is_spent() && spent.remaining() == Duration::ZERO);
        assert!(
            !Budget::unbounded()
                .reserving(Duration::from_secs(60))
                .is_spent()
        );
    }

    #[test]
    fn the_last_work_may_use_the_margin_but_for_its_slack() {
        let budget = Budget::new(Duration::from_secs(100), Duration::from_secs(30));
        let last = budget.with_margin(Duration::from_secs(1));
        assert_eq!(last.margin(), Duration::from_secs(1));
        let gained = last.remaining() - budget.remaining();
        assert!(
            gained.abs_diff(Duration::from_secs(29)) < Duration::from_millis(50),
            "{gained:?}"
        );
        let reserved = budget.reserving(Duration::from_secs(20));
        let back = reserved.with_margin(Duration::from_secs(1));
        assert!(back.remaining().abs_diff(last.remaining()) < Duration::from_millis(50));
        assert!(
            !Budget::unbounded()
                .with_margin(Duration::from_secs(1))
                .is_spent()
        );
    }

    #[test]
    fn a_budget_keeps_its_margin_and_an_unbounded_one_never_ends() {
        let budget = Budget::new(Duration::from_secs(60), Duration::from_secs(5));
        assert!(budget.remaining() <= Duration::from_secs(55));
        assert!(budget.remaining() > Duration::from_secs(54));
        assert!(budget.allows(Duration::from_secs(50)));
        assert!(!budget.allows(Duration::from_secs(56)));
        assert!(!budget.is_spent());
        let spent = Budget::new(Duration::from_secs(2), Duration::from_secs(3));
        assert!(spent.is_spent());
        assert!(!spent.allows(Duration::ZERO));
        let unbounded = Budget::unbounded();
        assert!(unbounded.allows(Duration::from_secs(86_400)));
        assert!(!unbounded.is_spent());
    }

    #[tokio::test]
    async fn work_is_cut_off_at_the_stop_time() {
        let budget = Budget::new(Duration::from_millis(150), Duration::from_millis(50));
        let started = Instant::now();
        let cut = budget
            .run(tokio::time::sleep(Duration::from_secs(10)))
            .await;
        assert!(cut.is_none());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(
            budget.run(async { 7 }).await,
            Some(7),
            "finished work is kept"
        );
        assert_eq!(Budget::unbounded().run(async { 8 }).await, Some(8));
    }
}
