//! A run's request rate: one token bucket shared by every client of the run (control plane
//! included), so that a run against a real service stays under its quota instead of being
//! throttled. Hand-written rather than `governor`: a reservation is a few lines of arithmetic,
//! and it keeps the schedule a pure function that tests can check without sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bucket's arithmetic (a GCRA): times are offsets from the bucket's creation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    /// One token's worth of time: 1 / rate.
    interval: Duration,
    /// How far ahead of `next` a request may go: (burst − 1) tokens.
    slack: Duration,
    /// When the bucket would next be empty had every request gone at its earliest.
    next: Duration,
}

impl Bucket {
    fn new(per_second: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second);
        Self {
            interval,
            slack: interval * burst.saturating_sub(1),
            next: Duration::ZERO,
        }
    }

    /// Takes a token for a request wanting to go at `now`; how long it must wait first.
    fn reserve(&mut self, now: Duration) -> Duration {
        let at = now.max(self.next.saturating_sub(self.slack));
        self.next = self.next.max(now) + self.interval;
        at - now
    }
}

/// At most `per_second` requests a second on average, `burst` at once; clones share the bucket.
#[derive(Debug, Clone)]
pub struct RateLimit {
    bucket: Arc<Mutex<Bucket>>,
    origin: Instant,
}

impl RateLimit {
    /// A limit of `per_second` (> 0) requests a second, spaced evenly (a burst of one).
    pub fn per_second(per_second: f64) -> Self {
        Self {
            bucket: Arc::new(Mutex::new(Bucket::new(per_second, 1))),
            origin: Instant::now(),
        }
    }

    /// Waits until the next request may go.
    pub async fn acquire(&self) {
        let now = self.origin.elapsed();
        let wait = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .reserve(now);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[rstest]
    #[case::spaced(10.0, 1, &[0, 0, 0, 0], &[0, 100, 200, 300])]
    #[case::a_burst_then_spaced(10.0, 3, &[0, 0, 0, 0, 0], &[0, 0, 0, 100, 200])]
    #[case::idle_refills(10.0, 1, &[0, 0, 1000, 1000], &[0, 100, 0, 100])]
    #[case::on_schedule(4.0, 1, &[0, 250, 500, 600], &[0, 0, 0, 150])]
    fn requests_wait_for_their_token(
        #[case] rate: f64,
        #[case] burst: u32,
        #[case] arrivals_ms: &[u64],
        #[case] waits_ms: &[u64],
    ) {
        let mut bucket = Bucket::new(rate, burst);
        let waits: Vec<Duration> = arrivals_ms.iter().map(|&a| bucket.reserve(ms(a))).collect();
        let expected: Vec<Duration> = waits_ms.iter().map(|&w| ms(w)).collect();
        assert_eq!(waits, expected);
    }

    #[test]
    fn no_second_holds_more_than_the_rate_and_the_burst() {
        let (rate, burst) = (20.0, 5);
        let mut bucket = Bucket::new(rate, burst);
        let starts: Vec<Duration> = (0..200).map(|_| bucket.reserve(Duration::ZERO)).collect();
        for (i, first) in starts.iter().enumerate() {
            let within = starts[i..]
                .iter()
                .take_while(|s| **s < *first + Duration::from_secs(1))
                .count();
            assert!(
                within < rate as usize + burst as usize,
                "{within} at {first:?}"
            );
        }
    }
}
