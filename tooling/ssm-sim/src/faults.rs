//! Injected faults and request counting. Latency, a throttling rate, a 5xx rate and a token-bucket
//! request-rate limit, all changeable at run time; counts per operation for benchmarks to compare API
//! calls against the minimum.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::ApiError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Added to every AWS request before it is answered.
    pub latency_ms: u64,
    /// Share of requests answered with ThrottlingException (0 to 1).
    pub throttle_rate: f64,
    /// Share of requests answered with HTTP 500 InternalServerError (0 to 1).
    pub error_rate: f64,
    /// Requests per second allowed by a token bucket (0: unlimited); beyond it, ThrottlingException.
    pub rate_limit: f64,
    /// Seed for the throttling and error draws, so a run is reproducible.
    pub seed: u64,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            throttle_rate: 0.0,
            error_rate: 0.0,
            rate_limit: 0.0,
            seed: 7,
        }
    }
}

impl FaultSettings {
    pub fn check(&self) -> Result<(), crate::error::SimError> {
        for (name, rate) in [
            ("throttle_rate", self.throttle_rate),
            ("error_rate", self.error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(crate::error::SimError::Faults(format!(
                    "{name} must be between 0 and 1, got {rate}"
                )));
            }
        }
        if self.rate_limit < 0.0 || !self.rate_limit.is_finite() {
            return Err(crate::error::SimError::Faults(format!(
                "rate_limit must be 0 (unlimited) or positive, got {}",
                self.rate_limit
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OperationStats {
    pub requests: u64,
    pub ok: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub client_errors: u64,
}

struct Inner {
    settings: FaultSettings,
    rng: fastrand::Rng,
    tokens: f64,
    refilled: Instant,
    stats: BTreeMap<String, OperationStats>,
}

pub struct Faults {
    inner: Mutex<Inner>,
}

/// What the fault layer decided for one request.
pub struct Admission {
    pub delay: Duration,
    pub fault: Option<ApiError>,
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        let rng = fastrand::Rng::with_seed(settings.seed);
        let tokens = settings.rate_limit;
        Self {
            inner: Mutex::new(Inner {
                settings,
                rng,
                tokens,
                refilled: Instant::now(),
                stats: BTreeMap::new(),
            }),
        }
    }

    pub fn settings(&self) -> FaultSettings {
        self.lock().settings.clone()
    }

    pub fn set(&self, settings: FaultSettings) {
        let mut inner = self.lock();
        inner.rng = fastrand::Rng::with_seed(settings.seed);
        inner.tokens = settings.rate_limit;
        inner.refilled = Instant::now();
        inner.settings = settings;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts the request and decides whether it is delayed, throttled or failed.
    pub fn admit(&self, operation: &str) -> Admission {
        let mut inner = self.lock();
        let settings = inner.settings.clone();
        let mut fault = None;
        if settings.rate_limit > 0.0 {
            let now = Instant::now();
            let elapsed = now.duration_since(inner.refilled).as_secs_f64();
            inner.refilled = now;
            inner.tokens =
                (inner.tokens + elapsed * settings.rate_limit).min(settings.rate_limit.max(1.0));
            if inner.tokens >= 1.0 {
                inner.tokens -= 1.0;
            } else {
                fault = Some(throttled());
            }
        }
        if fault.is_none()
            && settings.throttle_rate > 0.0
            && inner.rng.f64() < settings.throttle_rate
        {
            fault = Some(throttled());
        }
        if fault.is_none() && settings.error_rate > 0.0 && inner.rng.f64() < settings.error_rate {
            fault = Some(ApiError::internal("An internal error occurred."));
        }
        let stats = inner.stats.entry(operation.to_owned()).or_default();
        stats.requests += 1;
        match &fault {
            Some(error) if error.code == "ThrottlingException" => stats.throttled += 1,
            Some(_) => stats.server_errors += 1,
            None => {}
        }
        Admission {
            delay: Duration::from_millis(settings.latency_ms),
            fault,
        }
    }

    /// Counts a request that no fault applies to (another service's, served beside SSM's), and how it
    /// ended.
    pub fn count(&self, operation: &str, ok: bool) {
        self.lock()
            .stats
            .entry(operation.to_owned())
            .or_default()
            .requests += 1;
        self.record(operation, ok);
    }

    /// Records how a request that got through ended.
    pub fn record(&self, operation: &str, ok: bool) {
        let mut inner = self.lock();
        let stats = inner.stats.entry(operation.to_owned()).or_default();
        if ok {
            stats.ok += 1;
        } else {
            stats.client_errors += 1;
        }
    }

    pub fn stats(&self) -> BTreeMap<String, OperationStats> {
        self.lock().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.lock().stats.clear();
    }
}

/// Throttling exactly as SSM answers it.
fn throttled() -> ApiError {
    ApiError::new("ThrottlingException", "Rate exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_rate_is_applied_and_counted() {
        let faults = Faults::new(FaultSettings {
            throttle_rate: 0.5,
            ..FaultSettings::default()
        });
        let throttled = (0..2000)
            .filter(|_| faults.admit("DescribePatchGroups").fault.is_some())
            .count();
        assert!((850..1150).contains(&throttled), "{throttled}");
        let stats = faults.stats()["DescribePatchGroups"];
        assert_eq!(stats.requests, 2000);
        assert_eq!(stats.throttled as usize, throttled);
    }

    #[test]
    fn token_bucket_limits_bursts() {
        let faults = Faults::new(FaultSettings {
            rate_limit: 5.0,
            ..FaultSettings::default()
        });
        let passed = (0..20)
            .filter(|_| faults.admit("Op").fault.is_none())
            .count();
        assert!((5..=6).contains(&passed), "{passed}");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(
            FaultSettings {
                throttle_rate: 1.5,
                ..FaultSettings::default()
            }
            .check()
            .is_err()
        );
        assert!(
            FaultSettings {
                rate_limit: -1.0,
                ..FaultSettings::default()
            }
            .check()
            .is_err()
        );
    }
}
