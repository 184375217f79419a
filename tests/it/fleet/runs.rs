//! `jobcert fleet` end to end: small fleets run by the real binary against the reference server
//! it starts itself (or against a port where nothing listens), each bounded by its scenario's
//! `run.max-duration-s` and by a time limit here.
//!
//! * HTTP per-device and MQTT closed loops, an HTTP pool open loop with Poisson arrivals and a
//!   ramp, and a step-timeout storm all pass; with every job created before the devices start,
//!   a generous step timer and no silence, the request counts are exact.
//! * The same seed gives the same final statuses; another seed does not.
//! * A threshold that cannot hold fails the run, in `summary.json` and `junit.xml`.
//! * An interrupted run and a run against nothing both leave a valid, partial report.

use std::ffi::OsString;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::common::process::{Process, Ran, args, free_port, jobcert};
use crate::common::report::{count, statuses_total, summary};
use crate::common::{ScratchExt, scratch};

/// Longest one fleet run may take here; each scenario bounds itself well below it.
pub(super) const LIMIT: Duration = Duration::from_secs(60);

/// `jobcert fleet` arguments for `scenario` with reports under `scratch`/reports/`run_id`.
pub(super) fn fleet_args(
    scratch: &TempDir,
    scenario: &str,
    run_id: &str,
    extra: &[&str],
) -> Vec<OsString> {
    let path = scratch.write(&format!("{run_id}.yaml"), scenario);
    let mut out = args([
        OsString::from("fleet"),
        path.into_os_string(),
        OsString::from("--report-dir"),
        scratch.path().join("reports").into_os_string(),
        OsString::from("--run-id"),
        OsString::from(run_id),
        OsString::from("--quiet"),
    ]);
    out.extend(args(extra));
    out
}

/// Runs `scenario` as run `run_id` and reads its summary.
pub(super) fn run(scratch: &TempDir, scenario: &str, run_id: &str, extra: &[&str]) -> (Ran, Value) {
    let ran = jobcert(
        &fleet_args(scratch, scenario, run_id, extra),
        scratch,
        LIMIT,
    );
    let summary = summary(&scratch.path().join("reports").join(run_id));
    (ran, summary)
}

/// Runs `scenario` as run `run_id`, which is expected to write no report.
pub(super) fn run_without_report(
    scratch: &TempDir,
    scenario: &str,
    run_id: &str,
    extra: &[&str],
) -> Ran {
    let ran = jobcert(
        &fleet_args(scratch, scenario, run_id, extra),
        scratch,
        LIMIT,
    );
    assert!(
        !scratch.path().join("reports").join(run_id).exists(),
        "{ran}"
    );
    ran
}

/// Passes and failures of `requirement` in a summary's record.
fn tally(summary: &Value, requirement: &str) -> (u64, u64) {
    let t = &summary["record"]["findings"][requirement];
    (
        t["passed"].as_u64().unwrap_or(0),
        t["failed"].as_u64().unwrap_or(0),
    )
}

/// The run passed: exit 0, `passed`, complete, every threshold held, no check broken, no error.
pub(super) fn assert_passed(ran: &Ran, summary: &Value) {
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains(": PASS"), "{ran}");
    assert_eq!(summary["passed"], true, "{:#}", summary["verdict"]);
    let record = &summary["record"];
    assert_eq!(record["partial"], false, "{:#}", record["stopped_by"]);
    for t in summary["verdict"]["thresholds"]
        .as_array()
        .expect("thresholds")
    {
        assert_eq!(t["passed"], true, "{t:#}");
    }
    for (requirement, t) in record["findings"].as_object().expect("findings") {
        assert_eq!(t["failed"], 0, "{requirement}: {t:#}");
    }
    assert_eq!(
        record["errors"].as_object().map(|e| e.len()),
        Some(0),
        "{:#}",
        record["errors"]
    );
}

/// With every job created before the devices start, a step timer that cannot fire and no
/// silence, every device starts each of its jobs, reports it, and finds nothing more: the
/// counts are exact.
fn assert_exact(summary: &Value, devices: u64, blocks: u64, jobs_per_thing: u64) {
    let record = &summary["record"];
    let executions = devices * jobs_per_thing;
    assert_eq!(record["devices"], devices);
    assert_eq!(record["connected"], devices);
    assert_eq!(record["jobs"], blocks * jobs_per_thing);
    assert_eq!(count(summary, "CreateThing", "answered"), devices);
    assert_eq!(
        count(summary, "CreateJob", "answered"),
        blocks * jobs_per_thing
    );
    let start_next = &record["requests"]["StartNextPendingJobExecution"];
    assert_eq!(
        start_next.as_object().map(|o| o.len()),
        Some(1),
        "only answers: {start_next}"
    );
    assert_eq!(
        count(summary, "StartNextPendingJobExecution", "answered"),
        devices * (jobs_per_thing + 1),
        "{:#}",
        record["requests"]
    );
    assert_eq!(
        count(summary, "UpdateJobExecution", "answered"),
        executions,
        "{:#}",
        record["requests"]
    );
    assert!(
        record["requests"].get("DescribeJobExecution").is_none(),
        "{:#}",
        record["requests"]
    );
    assert_eq!(
        statuses_total(summary),
        executions,
        "{:#}",
        record["statuses"]
    );
    assert!(record["statuses"].get("TIMED_OUT").is_none());
    assert_eq!(tally(summary, "SN-START"), (executions, 0));
    assert_eq!(tally(summary, "SN-NEXT-ORDER"), (executions, 0));
    assert_eq!(tally(summary, "UP-TRANSITION"), (executions, 0));
    assert_eq!(tally(summary, "SN-EMPTY"), (devices, 0));
}

const HTTP_CLOSED: &str = "\
fleet:
  name: runs-http-closed
  seed: 41
  things: { count: 150, per-job: 50 }
  transport: http
  http: { connections: per-device }
  connect: { rate: 1000 }
  rollout: { jobs-per-thing: 2, rate: 200, start: before }
  behaviour:
    program: agent
    work: { uniform: { min: 1, max: 10 } }
    outcomes: { SUCCEEDED: 0.6, FAILED: 0.3, REJECTED: 0.1 }
    step-timeout-minutes: 600
  load: { model: closed, think: { exponential: { mean: 5 } } }
  run: { until: drained, max-duration-s: 20, deadline-ms: 15000 }
  thresholds:
    latency:
      - { operation: '*', percentile: 99, max-ms: 15000 }
    error-rate: { max: 0 }
    timed-out: { max: 0 }
  reference: { time-scale: 600 }
";

#[test]
fn an_http_per_device_closed_loop_passes_with_exact_counts() {
    let scratch = scratch("http-closed");
    let (ran, summary) = run(&scratch, HTTP_CLOSED, "http-closed", &[]);
    assert_passed(&ran, &summary);
    assert_exact(&summary, 150, 3, 2);
    // Every device opened its own connection.
    assert_eq!(count(&summary, "Connect", "answered"), 150);
    let target = &summary["record"]["target"];
    assert_eq!(target["transport"], "http");
    assert_eq!(target["embedded"], true);
    assert_eq!(
        summary["record"]["shards"],
        serde_json::json!([{ "index": 0, "count": 1 }])
    );
}

const MQTT_CLOSED: &str = "\
fleet:
  name: runs-mqtt-closed
  seed: 42
  things: { count: 100, per-job: 50 }
  transport: mqtt
  connect: { rate: 1000, timeout-ms: 15000 }
  rollout: { jobs-per-thing: 2, rate: 200, start: before }
  behaviour:
    work: { lognormal: { median: 3, sigma: 0.5 } }
    outcomes: { SUCCEEDED: 0.7, FAILED: 0.3 }
    step-timeout-minutes: 600
  load: { model: closed }
  run: { until: drained, max-duration-s: 20, deadline-ms: 15000 }
  thresholds:
    latency:
      - { operation: StartNextPendingJobExecution, percentile: 99, max-ms: 15000 }
    error-rate: { max: 0 }
";

#[test]
fn an_mqtt_closed_loop_passes_with_exact_counts() {
    let scratch = scratch("mqtt-closed");
    let (ran, summary) = run(&scratch, MQTT_CLOSED, "mqtt-closed", &[]);
    assert_passed(&ran, &summary);
    assert_exact(&summary, 100, 2, 2);
    assert_eq!(count(&summary, "Connect", "answered"), 100);
    let target = &summary["record"]["target"];
    assert_eq!(target["transport"], "mqtt");
    assert!(
        target["data_plane"]
            .as_str()
            .is_some_and(|u| u.starts_with("mqtt://")),
        "{target}"
    );
    assert!(
        summary["record"].get("handshakes").is_none(),
        "no TLS, no handshake cost"
    );
}

const HTTP_OPEN: &str = "\
fleet:
  name: runs-http-open
  seed: 43
  things: { count: 120, per-job: 40 }
  transport: http
  http: { connections: pool, pool: 8 }
  rollout: { jobs-per-thing: 2, rate: 200, start: before }
  behaviour:
    work: { exponential: { mean: 3 } }
    outcomes: { SUCCEEDED: 0.9, REJECTED: 0.1 }
    step-timeout-minutes: 600
  load:
    model: open
    arrivals: poisson
    start-rate: 20
    stages:
      - { rate: 300, duration-s: 1 }
      - { rate: 300, duration-s: 60 }
  run: { until: drained, max-duration-s: 20, deadline-ms: 15000 }
  thresholds:
    error-rate: { max: 0 }
    achieved-rate: { min: 0.9 }
";

#[test]
fn an_http_pool_open_loop_with_poisson_arrivals_and_a_ramp_passes_with_exact_counts() {
    let scratch = scratch("http-open");
    let (ran, summary) = run(&scratch, HTTP_OPEN, "http-open", &[]);
    assert_passed(&ran, &summary);
    assert_exact(&summary, 120, 3, 2);
    // Pooled devices open no connection of their own.
    assert_eq!(count(&summary, "Connect", "answered"), 0);
    // Each cycle the schedule started is one start-next.
    let schedule = &summary["record"]["schedule"];
    assert_eq!(schedule["started"], 120 * 3, "{schedule:#}");
    assert_eq!(schedule["started"], schedule["intended"], "{schedule:#}");
    assert!(
        schedule["target_rate"].as_f64().is_some_and(|r| r > 0.0),
        "{schedule:#}"
    );
}

const STORM: &str = "\
fleet:
  name: runs-storm
  seed: 7
  things: { count: 120, per-job: 40 }
  transport: http
  http: { connections: pool, pool: 16 }
  rollout: { jobs-per-thing: 2, rate: 200, start: before }
  behaviour:
    work: { uniform: { min: 1, max: 10 } }
    outcomes: { SUCCEEDED: 0.8, FAILED: 0.2 }
    step-timeout-minutes: 1
    silent: 0.25
  load:
    model: open
    arrivals: poisson
    start-rate: 50
    stages:
      - { rate: 300, duration-s: 1 }
      - { rate: 300, duration-s: 60 }
  run: { until: drained, max-duration-s: 20, deadline-ms: 15000 }
  thresholds:
    error-rate: { max: 0 }
    timed-out: { min: 1 }
  reference: { time-scale: 600 }
";

#[test]
fn a_step_timeout_storm_passes_and_every_execution_ends_once() {
    let scratch = scratch("storm");
    let (ran, summary) = run(&scratch, STORM, "storm", &[]);
    assert_passed(&ran, &summary);
    let record = &summary["record"];
    let timed_out = record["statuses"]["TIMED_OUT"].as_u64().unwrap_or(0);
    assert!(timed_out > 0, "{:#}", record["statuses"]);
    assert_eq!(
        statuses_total(&summary),
        120 * 2,
        "{:#}",
        record["statuses"]
    );
    // Each TIMED_OUT was seen by a describe, and is a check of the step timer.
    assert_eq!(tally(&summary, "TM-STEP-EXPIRY"), (timed_out, 0));
    assert!(count(&summary, "DescribeJobExecution", "answered") >= timed_out);
    // Every other execution was reported and accepted; an update the timer beat was refused
    // (no error, no check) and its execution found TIMED_OUT.
    let statuses = &record["statuses"];
    let reported =
        statuses["SUCCEEDED"].as_u64().unwrap_or(0) + statuses["FAILED"].as_u64().unwrap_or(0);
    assert_eq!(reported + timed_out, 120 * 2, "{statuses:#}");
    assert_eq!(tally(&summary, "UP-TRANSITION"), (reported, 0));
    assert!(count(&summary, "UpdateJobExecution", "answered") >= reported);
}

#[test]
fn the_same_seed_gives_the_same_statuses_and_another_seed_does_not() {
    let scratch = scratch("seed");
    let mut runs: Vec<(&str, Process)> =
        [("seed-a", None), ("seed-b", None), ("seed-c", Some("977"))]
            .into_iter()
            .map(|(id, seed)| {
                let extra: Vec<&str> = seed.map(|s| vec!["--seed", s]).unwrap_or_default();
                let process =
                    Process::spawn(&fleet_args(&scratch, HTTP_CLOSED, id, &extra), &scratch);
                (id, process)
            })
            .collect();
    let summaries: Vec<Value> = runs
        .iter_mut()
        .map(|(id, process)| {
            let ran = process.finish(LIMIT);
            let summary = summary(&scratch.path().join("reports").join(*id));
            assert_passed(&ran, &summary);
            summary
        })
        .collect();
    let statuses = |s: &Value| s["record"]["statuses"].clone();
    assert_eq!(statuses(&summaries[0]), statuses(&summaries[1]));
    assert_eq!(
        summaries[0]["record"]["requests"],
        summaries[1]["record"]["requests"]
    );
    assert_ne!(
        statuses(&summaries[0]),
        statuses(&summaries[2]),
        "another seed, other draws"
    );
    assert_eq!(statuses_total(&summaries[2]), 300);
}

#[test]
fn a_threshold_that_cannot_hold_fails_the_run() {
    let scenario = HTTP_CLOSED.replace(
        "      - { operation: '*', percentile: 99, max-ms: 15000 }\n",
        "      - { operation: '*', percentile: 99, max-ms: 15000 }\n      - { operation: StartNextPendingJobExecution, percentile: 50, max-ms: 0.001 }\n",
    );
    assert_ne!(scenario, HTTP_CLOSED);
    let scratch = scratch("threshold");
    let (ran, summary) = run(&scratch, &scenario, "threshold", &[]);
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stdout.contains(": FAIL"), "{ran}");
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["record"]["partial"], false);
    let thresholds = summary["verdict"]["thresholds"]
        .as_array()
        .expect("thresholds");
    let failed: Vec<&Value> = thresholds.iter().filter(|t| t["passed"] == false).collect();
    assert_eq!(failed.len(), 1, "{thresholds:#?}");
    assert_eq!(failed[0]["name"], "StartNextPendingJobExecution p50");
    assert!(
        failed[0]["observed"].as_f64().is_some_and(|v| v > 0.001),
        "{:#}",
        failed[0]
    );
    // The threshold is the only reason.
    let reasons = summary["verdict"]["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 1, "{reasons:#?}");
    assert!(
        reasons[0]
            .as_str()
            .is_some_and(|r| r.starts_with("threshold StartNextPendingJobExecution p50")),
        "{reasons:#?}"
    );
    let junit = std::fs::read_to_string(scratch.path().join("reports/threshold/junit.xml"))
        .expect("junit.xml");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    let case = junit
        .split("<testcase ")
        .find(|c| c.starts_with(r#"name="StartNextPendingJobExecution p50""#))
        .unwrap_or_else(|| panic!("no test case for the threshold:\n{junit}"));
    assert!(case.contains(r#"classname="thresholds""#), "{case}");
    assert!(case.contains("<failure"), "{case}");
}

/// Devices that poll without end, until a duration far longer than the test.
const POLL_FOR_A_MINUTE: &str = "\
fleet:
  name: runs-poll
  things: { count: 20, per-job: 10 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { program: poll }
  load: { model: closed, think: { constant: 50 } }
  run: { until: duration, duration-s: 60, max-duration-s: 60 }
";

#[rstest::rstest]
#[case::ctrl_c(Process::interrupt)]
#[case::sigterm(Process::terminate)]
fn an_interrupted_run_leaves_a_partial_report(#[case] stop: fn(&Process)) {
    let scratch = scratch("interrupt");
    let mut process = Process::spawn(
        &fleet_args(&scratch, POLL_FOR_A_MINUTE, "interrupt", &[]),
        &scratch,
    );
    std::thread::sleep(Duration::from_secs(3));
    stop(&process);
    let ran = process.finish(Duration::from_secs(25));
    assert_eq!(ran.code, Some(1), "an interrupted run is not a pass: {ran}");
    let summary = summary(&scratch.path().join("reports/interrupt"));
    let record = &summary["record"];
    assert_eq!(summary["passed"], false);
    assert_eq!(record["partial"], true);
    assert_eq!(record["stopped_by"], "interrupted");
    // It was interrupted mid-run, with the devices polling.
    assert_eq!(record["devices"], 20);
    assert!(
        count(&summary, "StartNextPendingJobExecution", "answered") > 20,
        "{:#}",
        record["requests"]
    );
    assert!(
        record["duration_ms"].as_u64().is_some_and(|d| d < 30_000),
        "{record:#}"
    );
    let junit = std::fs::read_to_string(scratch.path().join("reports/interrupt/junit.xml"))
        .expect("junit.xml");
    assert!(junit.contains("the run is partial: interrupted"), "{junit}");
}

#[test]
fn a_target_where_nothing_listens_ends_in_a_partial_report_within_seconds() {
    let scratch = scratch("unreachable");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (ran, summary) = run(
        &scratch,
        HTTP_CLOSED,
        "unreachable",
        &["--target", &url, "--control", &url],
    );
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.elapsed < Duration::from_secs(15), "{ran}");
    let record = &summary["record"];
    assert_eq!(summary["passed"], false);
    assert_eq!(record["partial"], true);
    assert_eq!(record["target"]["embedded"], false);
    assert_eq!(record["target"]["data_plane"], url.as_str());
    assert!(
        record["stopped_by"]
            .as_str()
            .is_some_and(|s| s.starts_with("CreateThing")),
        "{record:#}"
    );
    assert_eq!(record["connected"], 0);
    assert_eq!(
        count(&summary, "StartNextPendingJobExecution", "answered"),
        0
    );
    assert!(count(&summary, "CreateThing", "failed") >= 1, "{record:#}");
}

#[test]
fn over_the_reference_s_mtls_plane_each_device_presents_its_own_certificate_and_passes() {
    let scratch = scratch("http-mtls");
    let (ran, summary) = run(&scratch, HTTP_CLOSED, "http-mtls", &["--reference-tls"]);
    assert_passed(&ran, &summary);
    assert_exact(&summary, 150, 3, 2);
    assert_eq!(count(&summary, "Connect", "answered"), 150);
    let target = &summary["record"]["target"];
    for plane in ["data_plane", "control_plane"] {
        assert!(
            target[plane]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{target}"
        );
    }
    // No device key reached the reports.
    assert_no_private_key(&scratch.path().join("reports"));
}

/// No file under `dir` holds a PEM private key.
fn assert_no_private_key(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).expect("a folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            assert_no_private_key(&path);
        } else {
            let bytes = std::fs::read(&path).expect("a readable file");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("PRIVATE KEY"), "{}", path.display());
        }
    }
}

#[test]
fn the_reference_s_faults_and_quotas_reach_the_fleet_as_the_target_s_errors() {
    let scratch = scratch("http-faults");
    let faults = scratch.write(
        "outage.yaml",
        "rules:\n  - { operations: [StartNextPendingJobExecution], fault: unavailable, share: 0.2 }\n",
    );
    let quotas = scratch.write(
        "quotas.json",
        std::fs::read_to_string(crate::common::root().join("schemas/limits/aws-2026-12-03.json"))
            .expect("the embedded limits")
            .replace("\"perSecond\": 200", "\"perSecond\": 5")
            .replace("\"burst\": 200", "\"burst\": 5"),
    );
    for (extra, error) in [
        (
            vec!["--faults".to_string(), faults.display().to_string()],
            "ServiceUnavailableException",
        ),
        (
            vec!["--quotas".to_string(), quotas.display().to_string()],
            "ThrottlingException",
        ),
        (Vec::new(), ""),
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let run_id = format!("faults-{}", extra.len() + error.len());
        let (ran, summary) = run(&scratch, HTTP_CLOSED, &run_id, &extra);
        let errors = &summary["record"]["errors"];
        if error.is_empty() {
            assert_passed(&ran, &summary);
        } else {
            assert_eq!(ran.code, Some(1), "{ran}");
            assert!(errors[error].as_u64().is_some_and(|n| n > 0), "{errors:#}");
        }
    }
}

#[test]
fn with_quotas_on_throttles_are_counted_per_second_and_a_retry_policy_carries_them() {
    let scratch = scratch("http-retry");
    let quotas = scratch.write(
        "quotas.json",
        std::fs::read_to_string(crate::common::root().join("schemas/limits/aws-2026-12-03.json"))
            .expect("the embedded limits")
            .replace("\"perSecond\": 200", "\"perSecond\": 5")
            .replace("\"burst\": 200", "\"burst\": 5"),
    );
    // Five requests a second of the target's clock at time scale 60 (300 a second of real
    // time, a burst of five), and 30 devices asking at once: any machine's fleet is throttled.
    let quotas = quotas.display().to_string();
    let mut seen = Vec::new();
    for retry in ["none", "sdk-standard"] {
        let scenario = HTTP_CLOSED
            .replace(
                "    step-timeout-minutes: 600\n",
                &format!("    step-timeout-minutes: 600\n    retry: {retry}\n"),
            )
            .replace("time-scale: 600", "time-scale: 60");
        let (_, summary) = run(
            &scratch,
            &scenario,
            retry,
            &["--quotas", &quotas, "--devices", "30"],
        );
        let record = &summary["record"];
        let sum = |v: &serde_json::Value| {
            v.as_object()
                .map_or(0, |o| o.values().filter_map(|n| n.as_u64()).sum::<u64>())
        };
        let throttled = sum(&record["throttled"]);
        assert!(
            throttled > 0,
            "{retry}: nothing throttled: {:#}",
            record["errors"]
        );
        let per_second: u64 = record["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .map(|i| sum(&i["throttled"]))
            .sum();
        assert_eq!(
            per_second, throttled,
            "{retry}: every throttle in its second"
        );
        let failed = record["errors"]["ThrottlingException"]
            .as_u64()
            .unwrap_or(0);
        let retried = sum(&record["retries"]);
        seen.push((retry, throttled, failed, retried));
    }
    let [
        (_, throttled, failed, retried),
        (_, _, failed_retrying, retried_retrying),
    ] = seen[..]
    else {
        unreachable!("two runs")
    };
    assert_eq!(
        (failed, retried),
        (throttled, 0),
        "without retries every throttle fails: {seen:?}"
    );
    assert!(retried_retrying > 0, "{seen:?}");
    assert!(
        failed_retrying < retried_retrying,
        "retries carry most throttled requests: {seen:?}"
    );
}

/// Over MQTT an injected delay holds the reply, not the work: the first update of every thing
/// is applied at once and answered after the deadline. The Device Client's policy sends it
/// again, and the target refuses the retry (the version moved): a refusal the first attempt
/// explains, so no transition is judged and nothing fails.
#[test]
fn a_refused_retry_of_an_update_that_was_applied_is_no_finding() {
    let scratch = scratch("mqtt-applied-retry");
    let faults = scratch.write(
        "late.yaml",
        "rules:\n  - { operations: [UpdateJobExecution], fault: delay, delayMs: 600000, firstPerThing: 1 }\n",
    );
    let scenario = "\
fleet:
  name: applied-retry
  seed: 3
  things: { count: 20, per-job: 20 }
  transport: mqtt
  rollout: { jobs-per-thing: 1, start: before }
  behaviour:
    work: { constant: 10 }
    retry: device-client
  load: { model: closed }
  run: { until: drained, max-duration-s: 30, deadline-ms: 300 }
  reference: { time-scale: 600 }
";
    let (ran, summary) = run(
        &scratch,
        scenario,
        "applied",
        &["--faults", faults.to_str().unwrap()],
    );
    assert_passed(&ran, &summary);
    let record = &summary["record"];
    let updates = &record["requests"]["UpdateJobExecution"];
    assert_eq!(updates["answered"], 20, "{record:#}");
    assert!(updates["timeout"].as_u64() >= Some(20), "{record:#}");
}
