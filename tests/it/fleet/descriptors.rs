//! `jobcert fleet` under a low open-descriptor limit, as most Linux machines give a process
//! (soft 1,024): it raises the soft limit to the hard one, which its reference child inherits,
//! and refuses up front, naming the number, a run that even the hard limit cannot hold.

use crate::common::process::Process;
use crate::common::report::{count, summary};
use crate::common::scratch;

use super::runs::{LIMIT, assert_passed, fleet_args};

/// 600 MQTT devices: a connection each in `jobcert fleet` and in its reference server, so
/// 600 + 256 descriptors each, above a soft limit of 256.
const MQTT_600: &str = "\
fleet:
  name: descriptors-mqtt-600
  seed: 7
  things: { count: 600, per-job: 200 }
  transport: mqtt
  connect: { rate: 3000, timeout-ms: 15000 }
  rollout: { jobs-per-thing: 1, rate: 200, start: before }
  behaviour:
    work: { lognormal: { median: 3, sigma: 0.5 } }
    outcomes: { SUCCEEDED: 1.0 }
    step-timeout-minutes: 600
  load: { model: closed }
  run: { until: drained, max-duration-s: 30, deadline-ms: 15000 }
  thresholds:
    error-rate: { max: 0 }
  reference: { time-scale: 600 }
";

#[test]
fn a_low_soft_limit_is_raised_to_the_hard_one() {
    let scratch = scratch("descriptors-raised");
    let args = fleet_args(&scratch, MQTT_600, "raised", &[]);
    let ran =
        Process::spawn_in_shell("ulimit -Sn 256 && ulimit -Hn 2048", &args, &scratch).finish(LIMIT);
    assert!(!ran.stderr.contains("Too many open files"), "{ran}");
    let summary = summary(&scratch.path().join("reports").join("raised"));
    assert_passed(&ran, &summary);
    assert_eq!(count(&summary, "Connect", "answered"), 600);
}

#[test]
fn a_run_the_hard_limit_cannot_hold_is_refused_before_it_connects() {
    let scratch = scratch("descriptors-refused");
    let args = fleet_args(&scratch, MQTT_600, "refused", &[]);
    let ran =
        Process::spawn_in_shell("ulimit -Sn 256 && ulimit -Hn 256", &args, &scratch).finish(LIMIT);
    assert_eq!(ran.code, Some(2), "{ran}");
    for part in [
        "needs 856 open descriptors",
        "the limit is 256",
        "ulimit -Hn 856",
        "LimitNOFILE=856",
    ] {
        assert!(ran.stderr.contains(part), "{part:?}: {ran}");
    }
    assert!(!ran.stderr.contains("Too many open files"), "{ran}");
    assert!(
        !scratch.path().join("reports").join("refused").exists(),
        "{ran}"
    );
}
