//! The open-loop arrival schedule: piecewise-linear rate ramps, with arrivals spaced evenly or
//! as a Poisson process. The n-th arrival is placed where the integral of the rate reaches n
//! (or a sum of unit exponentials, for Poisson), so ramps are exact at any rate.

use super::draws::Draws;
use crate::scenario::fleet::Arrivals;

/// Arrival times, in seconds from the start of the load.
#[derive(Debug, Clone)]
pub struct Schedule {
    ramps: Vec<(f64, f64, f64)>,
    arrivals: Arrivals,
    draws: Draws,
    area: f64,
}

impl Schedule {
    /// A schedule over `ramps` (`(from, to, seconds)` per stage, rates per second), every
    /// rate scaled by `share` (a shard's part of the fleet). After the last stage the last
    /// rate holds.
    pub fn new(ramps: &[(f64, f64, f64)], share: f64, arrivals: Arrivals, draws: Draws) -> Self {
        Self {
            ramps: ramps
                .iter()
                .map(|(a, b, d)| (a * share, b * share, *d))
                .collect(),
            arrivals,
            draws,
            area: 0.0,
        }
    }

    /// The mean rate asked for over the first `seconds`.
    pub fn mean_rate(&self, seconds: f64) -> f64 {
        if seconds <= 0.0 {
            return 0.0;
        }
        let mut left = seconds;
        let mut area = 0.0;
        for (i, &(a, b, d)) in self.ramps.iter().enumerate() {
            let last = i + 1 == self.ramps.len();
            let t = if last { left } else { left.min(d) };
            let end_rate = if d.is_finite() && d > 0.0 {
                a + (b - a) * (t.min(d) / d)
            } else {
                a
            };
            area += (a + end_rate) / 2.0 * t.min(d);
            if last && t > d {
                area += b * (t - d);
            }
            left -= t;
            if left <= 0.0 {
                break;
            }
        }
        area / seconds
    }

    /// The time at which the integral of the rate reaches `n`, if it ever does.
    fn time_of(&self, n: f64) -> Option<f64> {
        let mut start = 0.0;
        let mut before = 0.0;
        for (i, &(a, b, d)) in self.ramps.iter().enumerate() {
            let stage_area = if d.is_finite() {
                (a + b) / 2.0 * d
            } else {
                f64::INFINITY
            };
            let rem = n - before;
            if rem <= stage_area {
                // a·τ + (b−a)/(2d)·τ² = rem, solved in the form that is stable when b ≈ a.
                let k = if d.is_finite() {
                    (b - a) / (2.0 * d)
                } else {
                    0.0
                };
                let disc = a * a + 4.0 * k * rem;
                let denom = a + disc.max(0.0).sqrt();
                if denom <= 0.0 {
                    return None;
                }
                return Some(start + 2.0 * rem / denom);
            }
            before += stage_area;
            start += d;
            if i + 1 == self.ramps.len() {
                return (b > 0.0).then(|| start + (n - before) / b);
            }
        }
        None
    }
}

impl Iterator for Schedule {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        self.area += match self.arrivals {
            Arrivals::Constant => 1.0,
            Arrivals::Poisson => self.draws.unit_exponential(),
        };
        self.time_of(self.area)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn even(ramps: &[(f64, f64, f64)]) -> Schedule {
        Schedule::new(ramps, 1.0, Arrivals::Constant, Draws::schedule(1, 0))
    }

    #[test]
    fn a_constant_rate_is_evenly_spaced() {
        let t: Vec<f64> = even(&[(100.0, 100.0, f64::INFINITY)]).take(3).collect();
        assert_eq!(t.len(), 3);
        for (got, want) in t.iter().zip([0.01, 0.02, 0.03]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn a_ramp_from_zero_places_arrivals_on_the_integral() {
        // 0 → 100/s over 10 s: area(t) = 5·t², so arrival n is at sqrt(n/5).
        let s = even(&[(0.0, 100.0, 10.0)]);
        let t: Vec<f64> = s.take(500).collect();
        assert!((t[19] - 2.0).abs() < 1e-9, "{}", t[19]);
        assert!((t[499] - 10.0).abs() < 1e-9, "{}", t[499]);
    }

    #[test]
    fn the_last_rate_holds_and_a_zero_rate_ends() {
        let t: Vec<f64> = even(&[(10.0, 10.0, 1.0)]).take(12).collect();
        assert!((t[11] - 1.2).abs() < 1e-9);
        assert_eq!(even(&[(10.0, 0.0, 1.0)]).count(), 5);
    }

    #[test]
    fn poisson_arrivals_keep_the_mean_rate_and_repeat_with_the_seed() {
        let make = || {
            Schedule::new(
                &[(1000.0, 1000.0, f64::INFINITY)],
                0.5,
                Arrivals::Poisson,
                Draws::schedule(9, 0),
            )
        };
        let n = make().take_while(|t| *t < 20.0).count() as f64;
        assert!((n / 20.0 - 500.0).abs() < 15.0, "{n}");
        assert!(make().take(100).zip(make().take(100)).all(|(a, b)| a == b));
        assert!((make().mean_rate(3.0) - 500.0).abs() < 1e-9);
    }
}
