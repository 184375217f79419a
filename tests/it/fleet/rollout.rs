//! Rollouts shaped as AWS shapes them, against the reference at a fast clock, each asserted
//! from the fleet's own report (`summary.json`'s `record.rollout`, built from the target's own
//! `createdAt`, `queuedAt`, `startedAt` and DescribeJob counts):
//!
//! * a constant rate of 1,000 a minute notifies 5,000 devices over 5 minutes;
//! * an exponential rate follows AWS's documented table: 50, 100, 200, then 400 a minute once
//!   1,000, 2,000 and 3,000 things were notified;
//! * an abort at 10 % FAILED (after 100 executed) cancels every still-queued execution, lets the
//!   in-progress ones finish, and the report's figures are the reference's own counts;
//! * the rollout thresholds judge those figures.

use serde_json::Value;

use super::runs::{assert_passed, run};
use crate::common::scratch;

/// The rollout record of job `k`.
fn job(summary: &Value, k: usize) -> &Value {
    &summary["record"]["rollout"]["jobs"][k]
}

/// A fleet of `count` HTTP devices, one group of them all, and `job` (YAML members of the one
/// job, indented for its mapping), at time scale `scale`.
fn scenario(name: &str, count: u64, job: &str, behaviour: &str, scale: u32) -> String {
    format!(
        "\
fleet:
  name: {name}
  seed: 5
  things: {{ count: {count} }}
  transport: http
  http: {{ connections: pool, pool: 64 }}
  connect: {{ rate: 100000 }}
  rollout:
    groups: [{{ name: all }}]
    jobs:
      - id: fw
        targets: [all]
{job}
  behaviour:
    work: {{ constant: 100 }}
    idle: {{ constant: 1500 }}
{behaviour}
  load: {{ model: closed }}
  run: {{ until: drained, max-duration-s: 50, deadline-ms: 20000 }}
  reference: {{ time-scale: {scale} }}
"
    )
}

/// Minutes from the job's creation until `n` things were notified.
fn minute_reaching(per_minute: &[u64], n: u64) -> Option<usize> {
    let mut total = 0;
    per_minute.iter().position(|c| {
        total += c;
        total >= n
    })
}

fn per_minute(job: &Value) -> Vec<u64> {
    job["notified_per_minute"]
        .as_array()
        .expect("a series")
        .iter()
        .map(|v| v.as_u64().expect("a count"))
        .collect()
}

#[test]
fn a_constant_rate_of_1000_a_minute_notifies_5000_devices_over_5_minutes() {
    let dir = scratch("rollout-constant");
    let job_members = "        jobExecutionsRolloutConfig: { maximumPerMinute: 1000 }";
    let thresholds = "  thresholds: { rollout: { completed-within: 60m } }";
    let text = scenario("constant", 5000, job_members, "", 120) + thresholds + "\n";
    let (ran, summary) = run(&dir, &text, "constant", &[]);
    assert_passed(&ran, &summary);
    let job = job(&summary, 0);
    assert_eq!(job["status"], "COMPLETED", "{job:#}");
    assert_eq!(job["targeted"], 5000);
    assert_eq!(job["devices_started"], 5000);
    let notified = job["until_all_notified_s"]
        .as_f64()
        .expect("everyone notified");
    assert!((240.0..=360.0).contains(&notified), "{notified} s");
    let minutes = per_minute(job);
    assert!(minutes.iter().all(|n| *n <= 1000), "{minutes:?}");
    assert_eq!(minutes.iter().sum::<u64>(), 5000);
    assert!(
        ran.stdout
            .contains("job fw: COMPLETED, 5000 things targeted"),
        "{ran}"
    );
    assert_eq!(summary["verdict"]["thresholds"][0]["passed"], true);
}

#[test]
fn an_exponential_rate_follows_aws_s_table() {
    let dir = scratch("rollout-exponential");
    let job_members = "        jobExecutionsRolloutConfig:
          exponentialRate:
            baseRatePerMinute: 50
            incrementFactor: 2
            rateIncreaseCriteria: { numberOfNotifiedThings: 1000 }";
    let text = scenario("exponential", 3400, job_members, "", 600);
    let (ran, summary) = run(&dir, &text, "exponential", &[]);
    assert_passed(&ran, &summary);
    let job = job(&summary, 0);
    let minutes = per_minute(job);
    // 1,000 at 50 a minute take 20 minutes, the next 1,000 at 100 take 10, the next at 200
    // take 5, and the last 400 at 400 a minute one.
    for (n, minute) in [(1000, 20), (2000, 30), (3000, 35), (3400, 36)] {
        let reached = minute_reaching(&minutes, n).expect("reached");
        assert!(
            reached.abs_diff(minute - 1) <= 1,
            "{n} notified in minute {reached}, not {minute}: {minutes:?}"
        );
    }
    for (minute, rate) in [(10, 50), (25, 100), (32, 200)] {
        assert!(
            minutes[minute].abs_diff(rate) <= 1,
            "minute {minute}: {} not {rate}: {minutes:?}",
            minutes[minute]
        );
    }
}

#[test]
fn an_abort_at_10_percent_failed_cancels_the_queued_and_lets_the_started_finish() {
    let dir = scratch("rollout-abort");
    let job_members = "        jobExecutionsRolloutConfig: { maximumPerMinute: 200 }
        abortConfig:
          criteriaList:
            - { failureType: FAILED, action: CANCEL, thresholdPercentage: 10, minNumberOfExecutedThings: 100 }";
    let behaviour = "    outcomes: { SUCCEEDED: 0.7, FAILED: 0.3 }";
    let thresholds = "  thresholds: { abort: { devices-started: { max: 999 } } }";
    let text = scenario("abort", 1000, job_members, behaviour, 120) + thresholds + "\n";
    let (ran, summary) = run(&dir, &text, "abort", &[]);
    assert_passed(&ran, &summary);
    let job = job(&summary, 0);
    assert_eq!(job["status"], "CANCELED", "{job:#}");
    let abort = &job["abort"];
    let started = job["devices_started"].as_u64().unwrap();
    assert!((100..1000).contains(&started), "{job:#}");
    // The report's figures are the reference's own counts.
    assert_eq!(abort["devices_started"].as_u64(), Some(started), "{job:#}");
    let counts = &job["final_counts"];
    assert!(abort["canceled"].as_u64().unwrap() > 0, "{job:#}");
    assert_eq!(counts["QUEUED"], 0, "{job:#}");
    assert_eq!(
        counts["IN_PROGRESS"], 0,
        "every started one finished: {job:#}"
    );
    let finished = counts["SUCCEEDED"].as_u64().unwrap() + counts["FAILED"].as_u64().unwrap();
    assert_eq!(finished, started, "{job:#}");
    assert!(abort["after_s"].as_f64().unwrap() > 0.0, "{job:#}");
    assert!(ran.stdout.contains("aborted after"), "{ran}");
}

#[test]
fn a_rollout_threshold_that_cannot_hold_fails_the_run() {
    let dir = scratch("rollout-threshold");
    let job_members = "        jobExecutionsRolloutConfig: { maximumPerMinute: 100 }";
    let thresholds = "  thresholds: { rollout: { completed-within: 1m } }";
    let text = scenario("slow", 300, job_members, "", 600) + thresholds + "\n";
    let (ran, summary) = run(&dir, &text, "slow", &[]);
    assert_eq!(ran.code, Some(1), "{ran}");
    let verdict = &summary["verdict"]["thresholds"][0];
    assert_eq!(verdict["passed"], false, "{verdict:#}");
    assert!(verdict["observed"].as_f64().unwrap() > 120.0, "{verdict:#}");
}

#[test]
fn a_continuous_job_reaches_late_joiners_and_its_retries_add_executions() {
    let dir = scratch("rollout-continuous");
    let text = "\
fleet:
  name: continuous
  seed: 9
  things: { count: 200 }
  transport: http
  http: { connections: pool, pool: 32 }
  connect: { rate: 100000 }
  rollout:
    groups:
      - name: all
        joiners: { from: 150, count: 50, after-s: 120, per-minute: 100 }
    jobs:
      - id: agent-config
        targets: [all]
        targetSelection: CONTINUOUS
        jobExecutionsRetryConfig: { criteriaList: [{ failureType: FAILED, numberOfRetries: 1 }] }
      - id: later
        targets: [all]
        at-s: 60
        jobExecutionsRolloutConfig: { maximumPerMinute: 100 }
  behaviour:
    work: { constant: 50 }
    outcomes: { SUCCEEDED: 0.7, FAILED: 0.3 }
    idle: { constant: 300 }
  load: { model: closed }
  run: { until: drained, max-duration-s: 50, deadline-ms: 20000 }
  reference: { time-scale: 120 }
";
    let (ran, summary) = run(&dir, text, "continuous", &[]);
    assert_passed(&ran, &summary);
    let continuous = job(&summary, 0);
    assert_eq!(continuous["continuous"], true);
    assert_eq!(continuous["targeted"], 200, "{continuous:#}");
    assert_eq!(continuous["devices_started"], 200, "{continuous:#}");
    assert_eq!(continuous["joiners"]["joined"], 50, "{continuous:#}");
    assert_eq!(continuous["joiners"]["started"], 50, "{continuous:#}");
    assert!(
        continuous["until_all_finished_s"].as_f64().is_some(),
        "{continuous:#}"
    );
    // About 30 % of the first executions FAILED and were retried once.
    let extra = continuous["executions_started"].as_u64().unwrap() - 200;
    assert!((20..=110).contains(&extra), "{continuous:#}");
    assert!(
        ran.stdout.contains("more executions that devices started"),
        "{ran}"
    );
    let later = job(&summary, 1);
    assert_eq!(later["status"], "COMPLETED", "{later:#}");
    // A snapshot job created at 60 s reaches the 150 things of the group then, no joiner.
    assert_eq!(later["targeted"], 150, "{later:#}");
    assert_eq!(later["devices_started"], 150, "{later:#}");
    assert_eq!(later["joiners"]["started"], 0, "{later:#}");
}

#[test]
fn a_rollout_of_jobs_is_not_captured_half_way() {
    let dir = scratch("rollout-capture");
    let job_members = "        jobExecutionsRolloutConfig: { maximumPerMinute: 100 }";
    let text = scenario("capture", 10, job_members, "", 600);
    let capture = dir.path().join("c.jsonl");
    let ran = super::runs::run_without_report(
        &dir,
        &text,
        "capture",
        &["--capture", capture.to_str().unwrap()],
    );
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(
        ran.stderr
            .contains("thing groups, which a capture cannot seed"),
        "{ran}"
    );
    assert!(!capture.exists());
}
