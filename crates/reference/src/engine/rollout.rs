//! The pace of a job's rollout (CreateJob's `jobExecutionsRolloutConfig`): when each of its
//! executions is rolled out, on the virtual clock.
//!
//! Executions are spaced evenly at the current rate: the k-th after the last rate change comes
//! `k × 60,000 / rate` ms after it, so no minute ever holds more than the rate. An exponential
//! rate is multiplied by its factor each time its criterion's count is reached again, and
//! capped by `maximumPerMinute`; a count of notified things is reached when the execution that
//! would come next is due at the old rate (AWS's example: base 50, factor 2, every 1,000
//! notified: 1,000 in the first 20 minutes, 1,000 in the next 10, then 5); a count of
//! succeeded things from the moment the last of them succeeds, the next execution coming no
//! sooner than one interval of the new rate after the one before.

use serde::{Deserialize, Serialize};

use super::clock::VirtualMillis;

const MINUTE_MS: u64 = 60_000;

/// CreateJob's `jobExecutionsRolloutConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutConfig {
    /// The constant rate, or the cap of an exponential one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_per_minute: Option<u32>,
    /// A rate that grows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponential_rate: Option<ExponentialRate>,
}

/// `exponentialRate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExponentialRate {
    /// The first rate.
    pub base_rate_per_minute: u32,
    /// What the rate is multiplied by at each increase.
    pub increment_factor: f64,
    /// When the rate increases.
    pub rate_increase_criteria: RateIncreaseCriteria,
}

/// `rateIncreaseCriteria`: exactly one member (the schema says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateIncreaseCriteria {
    /// Increase each time this many more things were notified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_notified_things: Option<u32>,
    /// Increase each time this many more things succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_succeeded_things: Option<u32>,
}

/// Where a job's rollout stands: the rate in force since an anchor, and how many are out.
#[derive(Debug, Clone)]
pub struct Pace {
    config: RolloutConfig,
    /// How many times the rate has increased.
    level: u32,
    /// The rate's start: the execution numbered `anchor_count` (0-based) is due at `anchor_at`.
    anchor_at: VirtualMillis,
    anchor_count: u64,
    /// Executions rolled out so far.
    released: u64,
    last_release: VirtualMillis,
}

impl Pace {
    /// A rollout starting at `start`.
    pub fn new(config: RolloutConfig, start: VirtualMillis) -> Self {
        Self {
            config,
            level: 0,
            anchor_at: start,
            anchor_count: 0,
            released: 0,
            last_release: start,
        }
    }

    /// Executions per minute at the current level (at least 1).
    pub fn rate(&self) -> u64 {
        let cap = self.config.maximum_per_minute.map(u64::from);
        let rate = match &self.config.exponential_rate {
            None => cap.unwrap_or(u64::MAX),
            Some(e) => {
                let grown =
                    f64::from(e.base_rate_per_minute) * e.increment_factor.powi(self.level as i32);
                // Saturating: a rate beyond u64 is no rate limit at all.
                let grown = grown.floor() as u64;
                cap.map_or(grown, |c| grown.min(c))
            }
        };
        rate.max(1)
    }

    /// Starts the rate over at `at` (a schedule opened again), at its current level.
    pub fn resume(&mut self, at: VirtualMillis) {
        self.anchor_at = at;
        self.anchor_count = self.released;
    }

    /// When the execution numbered `k` (0-based, `k >= anchor_count`) is due at the current rate.
    fn due(&self, k: u64) -> VirtualMillis {
        if self.config.maximum_per_minute.is_none() && self.config.exponential_rate.is_none() {
            // No rate: everything at once (a schedule without a rollout configuration).
            return self.anchor_at;
        }
        let offset = (k - self.anchor_count).saturating_mul(MINUTE_MS);
        let ms = offset.div_ceil(self.rate());
        self.anchor_at
            .saturating_add(VirtualMillis::try_from(ms).unwrap_or(VirtualMillis::MAX))
    }

    /// The count that raises the rate next, and whether it counts successes.
    fn criterion(&self) -> Option<(u64, bool)> {
        let e = self.config.exponential_rate.as_ref()?;
        let c = &e.rate_increase_criteria;
        match (c.number_of_notified_things, c.number_of_succeeded_things) {
            (Some(n), _) => Some((u64::from(n), false)),
            (None, Some(n)) => Some((u64::from(n), true)),
            (None, None) => None,
        }
    }

    /// Whether another increase can change the rate (it has not reached its cap).
    fn may_grow(&self) -> bool {
        self.config
            .maximum_per_minute
            .is_none_or(|c| self.rate() < u64::from(c))
    }

    fn raise(&mut self, at: VirtualMillis) {
        self.level += 1;
        self.anchor_at = at;
        self.anchor_count = self.released;
    }

    /// Raises the rate when the success count is reached at `at`.
    fn raise_on_success(&mut self, at: VirtualMillis) {
        self.raise(at);
        let interval = MINUTE_MS.div_ceil(self.rate());
        let spaced = self
            .last_release
            .saturating_add(VirtualMillis::try_from(interval).unwrap_or(VirtualMillis::MAX));
        self.anchor_at = at.max(spaced);
    }

    /// When the next execution is due, if `successes` (the times the job's success count
    /// reached 1, 2, 3… × the criterion) raise the rate no further before it.
    pub fn next_due(&self, successes: &[VirtualMillis]) -> VirtualMillis {
        let mut copy = self.clone();
        copy.apply_successes(successes, VirtualMillis::MAX);
        copy.due(copy.released)
    }

    /// Raises the rate for every success crossing before the next execution is due and by `now`.
    fn apply_successes(&mut self, successes: &[VirtualMillis], now: VirtualMillis) {
        while let Some((_, true)) = self.criterion() {
            let Some(&at) = successes.get(self.level as usize) else {
                return;
            };
            if at > now || at >= self.due(self.released) || !self.may_grow() {
                return;
            }
            self.raise_on_success(at);
        }
    }

    /// Rolls out, of `waiting` executions, those due by `now`; returns when each was due.
    pub fn release(
        &mut self,
        now: VirtualMillis,
        waiting: u64,
        successes: &[VirtualMillis],
    ) -> Vec<VirtualMillis> {
        let mut out = Vec::new();
        while (out.len() as u64) < waiting {
            self.apply_successes(successes, now);
            let at = self.due(self.released);
            if at > now {
                break;
            }
            out.push(at);
            self.released += 1;
            self.last_release = at;
            if let Some((n, false)) = self.criterion()
                && self.released == n * (u64::from(self.level) + 1)
                && self.may_grow()
            {
                let next = self.due(self.released);
                self.raise(next);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(per_minute: u32) -> RolloutConfig {
        RolloutConfig {
            maximum_per_minute: Some(per_minute),
            exponential_rate: None,
        }
    }

    fn exponential(
        base: u32,
        factor: f64,
        notified: Option<u32>,
        succeeded: Option<u32>,
        cap: Option<u32>,
    ) -> RolloutConfig {
        RolloutConfig {
            maximum_per_minute: cap,
            exponential_rate: Some(ExponentialRate {
                base_rate_per_minute: base,
                increment_factor: factor,
                rate_increase_criteria: RateIncreaseCriteria {
                    number_of_notified_things: notified,
                    number_of_succeeded_things: succeeded,
                },
            }),
        }
    }

    /// How many of `total` executions are out at each whole minute in `minutes`.
    fn out_by_minute(config: RolloutConfig, total: u64, minutes: &[i64]) -> Vec<u64> {
        let mut pace = Pace::new(config, 0);
        minutes
            .iter()
            .map(|m| {
                let now = m * 60_000;
                pace.release(now, total - pace.released, &[]);
                pace.released
            })
            .collect()
    }

    #[test]
    fn rates_follow_the_table() {
        // (config, total, minutes, executions out by each of those minutes)
        let table = [
            // 5,000 at 1,000 a minute: the last one 4.998 minutes in.
            (
                constant(1000),
                5000,
                vec![0, 1, 2, 4, 5],
                vec![1, 1001, 2001, 4001, 5000],
            ),
            (constant(1), 3, vec![0, 1, 2, 3], vec![1, 2, 3, 3]),
            // AWS's example: 50 → 100 → 200 → 400 a minute at 1,000, 2,000, 3,000 notified.
            (
                exponential(50, 2.0, Some(1000), None, None),
                10_000,
                vec![19, 20, 30, 35, 37],
                vec![951, 1001, 2001, 3001, 3801],
            ),
            // The cap holds the rate at 150 after the first increase.
            (
                exponential(50, 4.0, Some(100), None, Some(150)),
                1000,
                vec![2, 3, 4],
                vec![101, 251, 401],
            ),
            // A factor of 1.5 on 10: 10 → 15 → 22 (floor of 22.5), from 100 s.
            (
                exponential(10, 1.5, Some(10), None, None),
                100,
                vec![1, 2],
                vec![11, 28],
            ),
        ];
        for (config, total, minutes, expected) in table {
            assert_eq!(
                out_by_minute(config.clone(), total, &minutes),
                expected,
                "{config:?}"
            );
        }
    }

    #[test]
    fn successes_raise_the_rate_from_the_moment_they_are_reached() {
        let config = exponential(10, 2.0, None, Some(5), None);
        let mut pace = Pace::new(config, 0);
        // Without successes, 10 a minute.
        assert_eq!(pace.release(60_000, 100, &[]).len(), 11);
        // The fifth success at 1.5 minutes, as the 16th is due at the old rate: 20 a minute
        // from then, the 17th one interval (3 s) after the 16th.
        let released = pace.release(120_000, 100, &[90_000]);
        assert_eq!(released.first(), Some(&66_000));
        assert_eq!(released[4..6], [90_000, 93_000]);
        assert_eq!(released.len(), 15, "{released:?}");
        assert_eq!(pace.next_due(&[90_000]), 123_000);
    }

    #[test]
    fn release_times_are_exact_and_ordered() {
        let mut pace = Pace::new(constant(7), 1_000);
        let times = pace.release(61_000, 100, &[]);
        assert_eq!(times.len(), 8);
        assert_eq!(times[0], 1_000);
        assert_eq!(times[1], 1_000 + 8_572);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pace.next_due(&[]), 1_000 + 68_572);
    }
}
