//! Retry policies: the presets are read from `schemas/fleet.schema.json` and back off as the
//! clients they model do; an unknown name is refused with the known ones.

use rstest::rstest;

use super::{Jitter, RetryPolicy, RetrySpec};

fn named(name: &str) -> Result<Option<RetryPolicy>, String> {
    RetrySpec::Named(name.to_string()).policy()
}

/// The AWS IoT Device Client: updates only, 10 s doubling to 640 s, no jitter.
#[rstest]
#[case(1, None)]
#[case(2, Some(10_000.0))]
#[case(3, Some(20_000.0))]
#[case(5, Some(80_000.0))]
#[case(8, Some(640_000.0))]
#[case(9, None)]
fn the_device_client_doubles_from_ten_seconds_to_640_without_jitter(
    #[case] attempt: u32,
    #[case] backoff_ms: Option<f64>,
) {
    let policy = named("device-client").unwrap().expect("a preset");
    assert_eq!(policy.jitter, Jitter::None);
    // The draw does not matter without jitter.
    assert_eq!(policy.backoff_ms(attempt, 0.25), backoff_ms);
    assert!(policy.retries("UpdateJobExecution"));
    assert!(!policy.retries("StartNextPendingJobExecution"));
}

/// The SDKs' standard mode: 3 attempts, min(20 s, 2^(n−2) s) times the draw.
#[rstest]
#[case(2, 0.5, Some(500.0))]
#[case(3, 0.5, Some(1_000.0))]
#[case(3, 0.0, Some(0.0))]
#[case(4, 0.5, None)]
fn the_sdk_standard_mode_makes_three_attempts_with_full_jitter(
    #[case] attempt: u32,
    #[case] draw: f64,
    #[case] backoff_ms: Option<f64>,
) {
    let policy = named("sdk-standard").unwrap().expect("a preset");
    assert_eq!(policy.backoff_ms(attempt, draw), backoff_ms);
    assert!(policy.retries("StartNextPendingJobExecution"));
}

#[test]
fn a_policy_of_its_own_is_capped_at_max_ms_and_none_retries_nothing() {
    let own = RetryPolicy {
        max_attempts: 20,
        base_ms: 100,
        max_ms: 1_000,
        jitter: Jitter::None,
        operations: vec!["UpdateJobExecution".into()],
        comment: None,
    };
    assert_eq!(own.backoff_ms(5, 0.0), Some(800.0));
    assert_eq!(own.backoff_ms(6, 0.0), Some(1_000.0));
    assert_eq!(own.backoff_ms(20, 0.0), Some(1_000.0));
    assert_eq!(RetrySpec::Own(own.clone()).policy(), Ok(Some(own)));
    assert_eq!(named("none"), Ok(None));
    assert_eq!(RetrySpec::default().policy(), Ok(None));
    let unknown = named("aggressive").unwrap_err();
    assert!(
        unknown.contains("device-client") && unknown.contains("sdk-standard"),
        "{unknown}"
    );
}
