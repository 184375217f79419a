//! Seeded random draws. ChaCha8 is named explicitly so a seed gives the same run in every
//! build; each device draws from its own stream (its global index), so a device behaves the
//! same whichever shard runs it and however its requests interleave with others'.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::fleet::{Distribution, Outcomes};

/// The stream of the arrival schedule (device streams are their indices).
const SCHEDULE_STREAM: u64 = u64::MAX;

/// Parts of a device's stream that lie far beyond anything its behaviour draws, so that
/// drawing from them changes none of its work times, outcomes or backoffs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Whether the device is offline at the start, and for how long.
    Offline,
    /// The backoffs of its first connection's retries.
    Connect,
    /// The backoffs of its retries to reconnect after a drop.
    Reconnect,
}

impl Part {
    /// Where the part begins, in 32-bit words of the stream (2^64 words apart).
    fn word(self) -> u128 {
        let k: u128 = match self {
            Self::Offline => 1,
            Self::Connect => 2,
            Self::Reconnect => 3,
        };
        k << 64
    }
}

/// One stream of draws.
#[derive(Debug, Clone)]
pub struct Draws(ChaCha8Rng);

impl Draws {
    /// The stream of device `index`.
    pub fn device(seed: u64, index: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        Self(rng)
    }

    /// Part `part` of the stream of device `index`.
    pub fn device_part(seed: u64, index: u64, part: Part) -> Self {
        let mut draws = Self::device(seed, index);
        draws.0.set_word_pos(part.word());
        draws
    }

    /// The stream of the arrival schedule of shard `shard`.
    pub fn schedule(seed: u64, shard: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SCHEDULE_STREAM - u64::from(shard));
        Self(rng)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Exponential with mean 1.
    pub fn unit_exponential(&mut self) -> f64 {
        -(1.0 - self.unit()).ln()
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A duration drawn from `d` (milliseconds).
    pub fn duration(&mut self, d: &Distribution) -> Duration {
        let ms = match *d {
            Distribution::Constant(v) => v,
            Distribution::Uniform { min, max } => min + (max - min) * self.unit(),
            Distribution::Exponential { mean } => mean * self.unit_exponential(),
            Distribution::Lognormal { median, sigma } => median * (sigma * self.normal()).exp(),
        };
        Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 86_400.0))
    }

    /// The status a job ends with.
    pub fn outcome(&mut self, o: &Outcomes) -> &'static str {
        let u = self.unit();
        if u < o.succeeded {
            "SUCCEEDED"
        } else if u < o.succeeded + o.failed {
            "FAILED"
        } else {
            "REJECTED"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_and_stream_repeat_exactly_and_streams_differ() {
        let d = Distribution::Lognormal {
            median: 100.0,
            sigma: 0.5,
        };
        let a: Vec<_> = (0..5)
            .map(|_| Draws::device(7, 3))
            .map(|mut r| r.duration(&d))
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Draws::device(7, 3).duration(&d),
            Draws::device(7, 4).duration(&d)
        );
    }

    #[test]
    fn a_part_of_a_device_s_stream_repeats_and_leaves_its_behaviour_draws_alone() {
        let d = Distribution::Uniform {
            min: 0.0,
            max: 1000.0,
        };
        let mut behaviour = Draws::device(7, 3);
        let mut offline = Draws::device_part(7, 3, Part::Offline);
        let first: Vec<f64> = (0..4).map(|_| offline.unit()).collect();
        let again: Vec<f64> = (0..4)
            .map({
                let mut o = Draws::device_part(7, 3, Part::Offline);
                move |_| o.unit()
            })
            .collect();
        assert_eq!(first, again);
        // The behaviour's draws are the same whether or not the part was drawn from.
        assert_eq!(behaviour.duration(&d), Draws::device(7, 3).duration(&d));
        let parts = [Part::Offline, Part::Connect, Part::Reconnect]
            .map(|p| Draws::device_part(7, 3, p).unit());
        assert!(parts[0] != parts[1] && parts[1] != parts[2], "{parts:?}");
        assert_ne!(
            Draws::device_part(7, 3, Part::Offline).unit(),
            Draws::device(7, 3).unit()
        );
    }

    #[test]
    fn distributions_have_their_documented_centre() {
        let mut r = Draws::device(1, 0);
        let n = 20_000;
        let mean = |r: &mut Draws, d: Distribution| {
            (0..n)
                .map(|_| r.duration(&d).as_secs_f64() * 1000.0)
                .sum::<f64>()
                / n as f64
        };
        assert!((mean(&mut r, Distribution::Exponential { mean: 50.0 }) - 50.0).abs() < 2.0);
        assert!(
            (mean(
                &mut r,
                Distribution::Uniform {
                    min: 10.0,
                    max: 30.0
                }
            ) - 20.0)
                .abs()
                < 0.5
        );
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                r.duration(&Distribution::Lognormal {
                    median: 80.0,
                    sigma: 1.0,
                })
                .as_secs_f64()
                    * 1000.0
            })
            .collect();
        v.sort_by(f64::total_cmp);
        assert!((v[n / 2] - 80.0).abs() < 4.0, "median {}", v[n / 2]);
        let o = Outcomes {
            succeeded: 0.5,
            failed: 0.3,
            rejected: 0.2,
        };
        let failed = (0..n).filter(|_| r.outcome(&o) == "FAILED").count() as f64 / n as f64;
        assert!((failed - 0.3).abs() < 0.02);
    }
}
