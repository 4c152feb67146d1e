//! Releasing the brake after a close. Production's patch task watches `GateBrakeAlarm`, which is
//! `Minimum(GateOpen) < 1` over 10-second periods, and the gate publishes `GateOpen` only when it sets
//! its state. An open published in the same period as a close therefore reads as closed, and with
//! nothing published after it the alarm would stay in ALARM, with the gate open, until the gate next
//! acted. So every close records when it engaged the brake, and an open published less than a period
//! after that is published once more when that period has certainly ended: the later datapoint sits
//! in a period of its own and the alarm releases.

use chrono::{DateTime, Utc};
use std::time::Duration;

use crate::handler::{FUNCTION, GATE_DIMENSION, GATE_METRIC, Gate};
use crate::production::Production;
use crate::report::GateReport;

/// `GateBrakeAlarm`'s `Period` in template.yaml (a test keeps them equal).
pub const BRAKE_PERIOD: Duration = Duration::from_secs(10);

/// Room for the clock of the close's invocation and of this one to differ, for the close's
/// datapoint to be written a moment after its record, and for an evaluator that looks back over
/// sliding windows rather than aligned periods (LocalStack's, every period, over three periods) to
/// see the later open alone at least once.
const SLACK: Duration = Duration::from_secs(5);

/// How long to wait before publishing an open again, given when the last close engaged the brake:
/// `None` when that close is old enough that this open already lies in a later period. The wait is
/// never longer than one period and the slack, even if the record's clock ran ahead of this one.
pub fn republish_open_after(
    engaged_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let longest = BRAKE_PERIOD + SLACK;
    let since = now.signed_duration_since(engaged_at?);
    let since = since.to_std().unwrap_or(Duration::ZERO);
    longest.checked_sub(since).filter(|wait| !wait.is_zero())
}

impl<P: Production> Gate<P> {
    /// The gate's state as a metric, whenever an invocation set it. A close is recorded first, and
    /// an open within the brake alarm's period of the last close is published again once that
    /// period has ended, so the alarm releases. Recording or reading the close can fail
    /// without failing the invocation, which has already acted: the open is then published once, and
    /// the brake releases at the gate's next publication at the latest (the re-check before
    /// production).
    pub(crate) async fn publish_state(&self, report: &GateReport) {
        let Some(open) = report.open else {
            return;
        };
        let window = &self.config.production_window_id;
        if self.config.common.dry_run {
            self.emit_state(open);
            return;
        }
        if !open {
            if let Err(err) = self.store.brake_engaged(window, Utc::now()).await {
                tracing::warn!(error = %err, "the close is not on record: an open within the brake's period may leave the brake engaged until the gate next publishes");
            }
            self.emit_state(false);
            return;
        }
        let engaged_at = self.store.brake_engaged_at(window).await;
        self.emit_state(true);
        let engaged_at = match engaged_at {
            Ok(at) => at,
            Err(err) => {
                tracing::warn!(error = %err, "the last close could not be read: the open is published once");
                return;
            }
        };
        let Some(wait) = crate::brake::republish_open_after(engaged_at, Utc::now()) else {
            return;
        };
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "the gate closed less than a brake period ago: the open is published again when that period has ended"
        );
        tokio::time::sleep(wait).await;
        // A close published meanwhile must keep the brake engaged: publish again only if none was.
        match self.store.brake_engaged_at(window).await {
            Ok(now) if now == engaged_at => self.emit_state(true),
            Ok(_) => {
                tracing::info!("the gate closed again meanwhile: the open is not published again")
            }
            Err(err) => {
                tracing::warn!(error = %err, "the last close could not be read again: the open is not published again")
            }
        }
    }

    pub(crate) fn emit_state(&self, open: bool) {
        patchpilot_shared::metrics::emit_with(
            FUNCTION,
            &[(GATE_DIMENSION, &self.config.production_window_id)],
            &[(GATE_METRIC, if open { 1.0 } else { 0.0 })],
            // The brake alarm evaluates 10-second periods (template.yaml GateBrakeAlarm).
            patchpilot_shared::metrics::Resolution::High,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_796_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn an_open_with_no_close_on_record_is_published_once() {
        assert_eq!(republish_open_after(None, at(0)), None);
    }

    #[test]
    fn an_open_soon_after_a_close_is_published_again_once_the_closes_period_has_ended() {
        assert_eq!(
            republish_open_after(Some(at(0)), at(3)),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            republish_open_after(Some(at(0)), at(0)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            republish_open_after(Some(at(0)), at(14)),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn an_open_a_period_and_the_slack_after_the_close_is_published_once() {
        assert_eq!(republish_open_after(Some(at(0)), at(15)), None);
        assert_eq!(republish_open_after(Some(at(0)), at(600)), None);
    }

    #[test]
    fn a_close_recorded_by_a_clock_ahead_of_this_one_waits_no_longer_than_a_period_and_the_slack() {
        assert_eq!(
            republish_open_after(Some(at(3_600)), at(0)),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn the_period_is_the_brake_alarms() {
        let template = patchpilot_test_support::template::Template::load();
        let period = &template.resource("GateBrakeAlarm")["Properties"]["Period"];
        assert_eq!(period.as_u64(), Some(BRAKE_PERIOD.as_secs()));
    }
}
