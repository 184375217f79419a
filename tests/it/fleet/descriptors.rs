//! `jobcert fleet` under a low open-descriptor limit, as most Linux machines give a process
//! (soft 1,024): it raises the soft limit to the hard one, which its reference child inherits,
//! and refuses up front, naming the number, a run that even the hard limit cannot hold. The
//! shipped 15,000-device scenario runs whole under the usual soft 1,024.

use std::ffi::OsString;
use std::time::Duration;

use crate::common::process::{Process, args};
use crate::common::report::{count, summary};
use crate::common::{root, scratch};

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

/// The shipped rollout to 15,000 MQTT devices, 15,256 descriptors in each process.
const ROLLOUT_15K: &str = "scenarios/fleet/rollout-mqtt-15k.yaml";

/// Longest the 15k rollout may take here: about 40 s in a debug build on two busy cores, and
/// its own bound (`run.max-duration-s`) is 240 s.
const LIMIT_15K: Duration = Duration::from_secs(300);

fn rollout_15k_args(reports: &std::path::Path) -> Vec<OsString> {
    args([
        OsString::from("fleet"),
        root().join(ROLLOUT_15K).into_os_string(),
        OsString::from("--report-dir"),
        reports.as_os_str().to_owned(),
        OsString::from("--run-id"),
        OsString::from("fleet15k"),
        OsString::from("--quiet"),
    ])
}

#[test]
fn the_15k_rollout_passes_under_a_soft_limit_of_1024() {
    let scratch = scratch("descriptors-15k");
    let reports = scratch.path().join("reports");
    let ran = Process::spawn_in_shell("ulimit -Sn 1024", &rollout_15k_args(&reports), &scratch)
        .finish(LIMIT_15K);
    assert!(!ran.stderr.contains("Too many open files"), "{ran}");
    let summary = summary(&reports.join("fleet15k"));
    assert_passed(&ran, &summary);
    assert_eq!(count(&summary, "Connect", "answered"), 15_000);
}

#[test]
fn the_15k_rollout_is_refused_before_it_connects_under_a_hard_limit_of_1024() {
    let scratch = scratch("descriptors-15k-refused");
    let reports = scratch.path().join("reports");
    let ran = Process::spawn_in_shell(
        "ulimit -Sn 1024 && ulimit -Hn 1024",
        &rollout_15k_args(&reports),
        &scratch,
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(2), "{ran}");
    for part in [
        "needs 15256 open descriptors",
        "the limit is 1024",
        "ulimit -Hn 15256",
    ] {
        assert!(ran.stderr.contains(part), "{part:?}: {ran}");
    }
    assert!(!reports.join("fleet15k").exists(), "{ran}");
}
