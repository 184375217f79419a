//! Throttles and service faults from a target that makes them: told (`--target-faults`), the
//! suite exercises SN-THROTTLING and SN-UNAVAILABLE through the probe cases and passes; not
//! told, a reference throttling and faulting the things of every case fails nothing (throttles
//! retried, faults reported as warnings); a dropped connection is a classified reset, not a
//! hang. Every fault is chosen by thing name, so no verdict depends on the machine's speed.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::process::{Process, Ran, Serve, args};
use crate::common::report::run_summary;
use crate::common::{root, scratch};

/// Longest a run may take: it must not hang.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// `jobcert run EXTRA --no-generated --report-dir REPORTS` from the crate root.
async fn run(extra: &[&str], reports: &Path) -> Ran {
    let mut all: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
    all.extend(extra.iter().map(|a| -> &std::ffi::OsStr { a.as_ref() }));
    all.extend([
        "--no-generated".as_ref(),
        "--quiet".as_ref(),
        "--report-dir".as_ref(),
        reports.as_os_str(),
    ]);
    let command = args(all);
    let outputs = reports.parent().expect("a scratch folder").to_path_buf();
    tokio::task::spawn_blocking(move || {
        Process::spawn_in(&command, &root(), outputs).finish(RUN_LIMIT)
    })
    .await
    .expect("the run's thread")
}

/// The coverage row of `id`.
fn row<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["coverage"]
        .as_array()
        .expect("a coverage matrix")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} is in the coverage matrix"))
}

/// Every problem of every case, as `requirement: message (severity)`.
fn problems(summary: &Value) -> Vec<String> {
    summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["problems"].as_array().cloned().unwrap_or_default())
        .map(|p| format!("{}: {} ({})", p["requirement"], p["message"], p["severity"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn told_the_target_faults_the_suite_exercises_throttling_and_unavailability() {
    let dir = scratch("told-faults");
    let reports = dir.path().join("reports");
    let ran = run(
        &[
            "--target-faults",
            "--only",
            "service-faults",
            "--only",
            "SN-EMPTY",
        ],
        &reports,
    )
    .await;
    assert_eq!(ran.code, Some(0), "{ran}");
    let summary = run_summary(&reports);
    for id in [
        "SN-THROTTLING",
        "SN-UNAVAILABLE",
        "WI-THROTTLED-OUT",
        "WI-UNAVAILABLE",
    ] {
        let r = row(&summary, id);
        assert_eq!(r["verdict"], "pass", "{r}");
        assert!(r["checks"].as_u64() > Some(0), "{r}");
        assert!(
            r.get("untestable").is_none(),
            "exercised, not untestable: {r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_told_the_suite_stays_untestable_there_and_passes() {
    let dir = scratch("untold-faults");
    let reports = dir.path().join("reports");
    let ran = run(&["--only", "SN-EMPTY", "--transport", "http"], &reports).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    let summary = run_summary(&reports);
    for id in ["SN-THROTTLING", "SN-UNAVAILABLE"] {
        let r = row(&summary, id);
        assert_eq!(r["verdict"], "untested", "{r}");
        assert!(
            r["untestable"]
                .as_str()
                .is_some_and(|u| u.contains("--target-faults")),
            "{r}"
        );
    }
}

/// Every case's things (`dev`, `other`, … with run-unique suffixes) throttled at their first
/// update and faulted at their first pending-list read; the probes' rules too, unused.
const EVERY_CASE: &str = "rules:
  - {operations: [UpdateJobExecution], fault: throttle, things: '*', firstPerThing: 1}
  - {operations: [GetPendingJobExecutions], fault: unavailable, things: '*', firstPerThing: 1}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_the_harness_was_not_told_of_fail_nothing() {
    let dir = scratch("untold-target");
    let faults = dir.path().join("faults.yaml");
    let probes = std::fs::read_to_string(root().join("faults/probes.yaml")).unwrap();
    let rules = probes.split_once("rules:\n").unwrap().1;
    std::fs::write(&faults, format!("{EVERY_CASE}{rules}")).unwrap();
    let server = Serve::with(&[
        "--time-scale",
        "600",
        "--quotas",
        "--faults",
        faults.to_str().unwrap(),
    ]);
    let reports = dir.path().join("reports");
    let ran = run(
        &[
            "scenarios/conformance/start-next.yaml",
            "scenarios/conformance/update.yaml",
            "--target",
            &server.data,
            "--control",
            &server.control,
            "--target-time-scale",
            "600",
        ],
        &reports,
    )
    .await;
    let summary = run_summary(&reports);
    assert_eq!(ran.code, Some(0), "{ran}\n{:#?}", problems(&summary));
    assert_eq!(summary["totals"]["failed"], 0);
    let throttles = row(&summary, "SN-THROTTLING");
    assert_eq!(
        throttles["verdict"], "pass",
        "throttles retried: {throttles}"
    );
    let faulted = row(&summary, "WI-UNAVAILABLE");
    assert_eq!(faulted["verdict"], "warn", "faults reported: {faulted}");
    assert_eq!(row(&summary, "SN-UNAVAILABLE")["verdict"], "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_a_classified_reset_not_a_hang() {
    let dir = scratch("dropped");
    let faults = dir.path().join("faults.yaml");
    std::fs::write(
        &faults,
        "rules: [{operations: [StartNextPendingJobExecution], fault: drop}]\n",
    )
    .unwrap();
    let server = Serve::with(&["--time-scale", "600", "--faults", faults.to_str().unwrap()]);
    let reports = dir.path().join("reports");
    let ran = run(
        &[
            "scenarios/conformance/start-next.yaml",
            "--only",
            "SN-EMPTY",
            "--target",
            &server.data,
            "--control",
            &server.control,
            "--target-time-scale",
            "600",
            "--deadline-ms",
            "10000",
        ],
        &reports,
    )
    .await;
    assert_eq!(ran.code, Some(1), "{ran}");
    let found = problems(&run_summary(&reports));
    assert!(
        found
            .iter()
            .any(|p| p.contains("transport failure (Reset)")),
        "{found:#?}"
    );
}
