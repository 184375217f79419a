//! Devices offline when the run starts: whether each one is, and for how long, drawn from a
//! part of its own stream (so the same seed takes the same devices away for the same time,
//! whichever shard runs them, and their other draws stay as they were).

use super::draws::{Draws, Part};
use crate::scenario::fleet::OfflineSpec;

/// How long device `index` stays away from the start, in seconds of device time; `None` when
/// it is online from the start.
pub(super) fn away_s(spec: Option<&OfflineSpec>, seed: u64, index: u64) -> Option<f64> {
    let spec = spec?;
    let mut draws = Draws::device_part(seed, index, Part::Offline);
    draws
        .chance(spec.share)
        .then(|| draws.duration(&spec.for_ms).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::scenario::fleet::Distribution;

    fn offline(share: f64, for_ms: Distribution) -> OfflineSpec {
        OfflineSpec { share, for_ms }
    }

    /// Of 2,000 devices: how many are away, and the shortest and longest time away (s).
    #[rstest]
    #[case::none_without_a_spec(None, 0, 0, None)]
    #[case::none_at_share_0(Some(offline(0.0, Distribution::Constant(5_000.0))), 0, 0, None)]
    #[case::all_at_share_1(
        Some(offline(1.0, Distribution::Constant(5_000.0))),
        2_000,
        2_000,
        Some((5.0, 5.0))
    )]
    #[case::near_the_share(
        Some(offline(0.3, Distribution::Uniform { min: 1_000.0, max: 3_000.0 })),
        540,
        660,
        Some((1.0, 3.0))
    )]
    fn a_share_of_devices_is_away_for_a_drawn_time(
        #[case] spec: Option<OfflineSpec>,
        #[case] at_least: usize,
        #[case] at_most: usize,
        #[case] range_s: Option<(f64, f64)>,
    ) {
        let away: Vec<f64> = (0..2_000)
            .filter_map(|i| away_s(spec.as_ref(), 11, i))
            .collect();
        assert!(
            (at_least..=at_most).contains(&away.len()),
            "{} away",
            away.len()
        );
        if let Some((low, high)) = range_s {
            assert!(away.iter().all(|s| (low..=high).contains(s)), "{away:?}");
        }
    }

    #[test]
    fn the_same_seed_takes_the_same_devices_away_and_another_does_not() {
        let spec = offline(0.5, Distribution::Exponential { mean: 2_000.0 });
        let draw =
            |seed| -> Vec<Option<f64>> { (0..200).map(|i| away_s(Some(&spec), seed, i)).collect() };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }
}
