//! The bounds the loader holds a fleet's numbers to, read from `schemas/fleet.schema.json`
//! (its `$defs` `Rate`, `Seconds` and `Milliseconds`, the `maximum` of the time scale, of a
//! log-normal shape and of a retry policy's attempts), so that the schema an editor checks
//! against and the loader agree.

use std::sync::LazyLock;

use serde_json::Value;

/// The figures, once read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Lowest non-zero rate, per second.
    pub min_rate: f64,
    /// Highest rate, per second.
    pub max_rate: f64,
    /// Longest time, in seconds.
    pub max_seconds: f64,
    /// Longest duration of a distribution or a deadline, in milliseconds.
    pub max_ms: f64,
    /// Fastest virtual clock of the reference.
    pub max_time_scale: f64,
    /// Widest log-normal shape.
    pub max_sigma: f64,
    /// Most attempts a retry policy makes.
    pub max_attempts: u32,
}

/// The bounds of the embedded schema.
pub fn bounds() -> Bounds {
    static BOUNDS: LazyLock<Bounds> = LazyLock::new(|| {
        let schema: Value = serde_json::from_str(
            jobcert_contract::file("fleet.schema.json").expect("fleet.schema.json is embedded"),
        )
        .expect("fleet.schema.json is JSON");
        let at = |pointer: &str| {
            schema
                .pointer(pointer)
                .and_then(Value::as_f64)
                .unwrap_or_else(|| panic!("fleet.schema.json has a number at {pointer}"))
        };
        Bounds {
            min_rate: at("/$defs/Rate/minimum"),
            max_rate: at("/$defs/Rate/maximum"),
            max_seconds: at("/$defs/Seconds/maximum"),
            max_ms: at("/$defs/Milliseconds/maximum"),
            max_time_scale: at("/$defs/Reference/properties/time-scale/maximum"),
            max_sigma: at(
                "/$defs/Distribution/oneOf/3/properties/lognormal/properties/sigma/maximum",
            ),
            max_attempts: at("/$defs/RetryPolicy/properties/max-attempts/maximum") as u32,
        }
    });
    *BOUNDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The schema states every bound, and they fit together: a week in milliseconds is a week
    /// in seconds, and the lowest rate is below the highest.
    #[test]
    fn the_schema_states_bounds_that_fit_together() {
        let b = bounds();
        assert_eq!(b.max_ms, b.max_seconds * 1000.0);
        assert!(0.0 < b.min_rate && b.min_rate < b.max_rate, "{b:?}");
        assert!(b.max_time_scale > 1.0 && b.max_sigma > 0.0, "{b:?}");
        assert!(b.max_attempts > 1, "{b:?}");
    }

    /// The loader holds a fleet to the schema's figures: at a bound passes, beyond it is refused
    /// naming the member.
    #[rstest]
    #[case::highest_rate("connect: { rate: 10000000 }", None)]
    #[case::rate_beyond("connect: { rate: 10000001 }", Some("connect.rate"))]
    #[case::lowest_rate("rollout: { rate: 0.001 }", None)]
    #[case::rate_below("rollout: { rate: 0.0009 }", Some("rollout.rate"))]
    #[case::a_week("run: { max-duration-s: 604800 }", None)]
    #[case::beyond_a_week("run: { max-duration-s: 604801 }", Some("run.max-duration-s"))]
    #[case::work_beyond_a_week(
        "behaviour: { work: { constant: 604800001 } }",
        Some("behaviour.work")
    )]
    #[case::fastest_clock("reference: { time-scale: 1000000 }", None)]
    #[case::clock_beyond("reference: { time-scale: 1000001 }", Some("reference.time-scale"))]
    #[case::most_attempts(
        "behaviour: { retry: { max-attempts: 20, base-ms: 1, max-ms: 2, jitter: full, operations: [CONNECT] } }",
        None
    )]
    #[case::attempts_beyond(
        "behaviour: { retry: { max-attempts: 21, base-ms: 1, max-ms: 2, jitter: full, operations: [CONNECT] } }",
        Some("behaviour.retry")
    )]
    #[case::widest_shape(
        "load: { model: closed, think: { lognormal: { median: 1, sigma: 10 } } }",
        None
    )]
    #[case::shape_beyond(
        "load: { model: closed, think: { lognormal: { median: 1, sigma: 10.5 } } }",
        Some("load.think")
    )]
    fn the_loader_holds_a_fleet_to_the_schema_s_bounds(
        #[case] member: &str,
        #[case] refused: Option<&str>,
    ) {
        let mut text =
            String::from("fleet:\n  name: bounds\n  things: { count: 1 }\n  transport: http\n");
        for (key, default) in [
            ("rollout", "rollout: {}"),
            ("behaviour", "behaviour: {}"),
            ("load", "load: { model: closed }"),
        ] {
            if !member.starts_with(key) {
                text.push_str(&format!("  {default}\n"));
            }
        }
        text.push_str(&format!("  {member}\n"));
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, &text).expect("write");
        match (super::super::load_fleet(&file), refused) {
            (Ok(_), None) => {}
            (Err(errors), Some(at)) => assert!(
                errors.iter().any(|e| e.message.starts_with(at)),
                "{at}: {errors:?}"
            ),
            (got, want) => panic!("{text}: expected a refusal at {want:?}, got {got:?}"),
        }
    }
}
