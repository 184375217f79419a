//! The virtual clock: wall-clock time, optionally running faster than real time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch on the virtual clock.
pub type VirtualMillis = i64;

/// A clock that starts at the current wall-clock time and runs `scale` times faster than real time.
///
/// Timers, timestamps and `approximateSecondsBeforeTimedOut` all read this clock, so with
/// `scale = 600` a one-minute step timeout fires after 0.1 s of real time.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    origin: Instant,
    origin_ms: VirtualMillis,
    scale: f64,
}

impl VirtualClock {
    /// A clock running `scale` times real speed (1 = real time). `scale` must be positive.
    pub fn new(scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "time scale must be positive"
        );
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            origin: Instant::now(),
            origin_ms: since_epoch.as_millis() as VirtualMillis,
            scale,
        }
    }

    /// How many times faster than real time this clock runs.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The current virtual time.
    pub fn now_ms(&self) -> VirtualMillis {
        let elapsed = self.origin.elapsed().as_secs_f64() * 1000.0 * self.scale;
        self.origin_ms + elapsed as VirtualMillis
    }

    /// Real time left until the virtual clock reads `at` (zero if it already has).
    pub fn real_until(&self, at: VirtualMillis) -> Duration {
        let left = at - self.now_ms();
        if left <= 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(left as f64 / 1000.0 / self.scale)
        }
    }
}

/// Whole epoch seconds of a virtual instant, as the wire carries timestamps.
pub fn epoch_seconds(at: VirtualMillis) -> i64 {
    at.div_euclid(1000)
}

/// Virtual milliseconds in `minutes` minutes.
pub fn minutes(minutes: i64) -> VirtualMillis {
    minutes.saturating_mul(60_000)
}
