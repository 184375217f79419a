//! `jobcert run` end to end: the shipped suite against the embedded reference server passes
//! with full coverage of StartNextPendingJobExecution, and an interrupted run still leaves a
//! valid report marked partial; integers written as whole floats (`5.0`) are judged by the
//! harness as the reference reads them.

use std::time::Duration;

use crate::common::process::{Process, args};
use crate::common::report::run_summary;
use crate::common::{ScratchExt, root, scratch};

/// Longest the whole suite may take against the embedded reference.
const SUITE_LIMIT: Duration = Duration::from_secs(600);

#[test]
fn the_suite_passes_against_the_reference_with_full_start_next_coverage() {
    let dir = scratch("suite");
    let reports = dir.path().join("reports");
    let ran = Process::spawn_in(
        &args(["run".as_ref(), "--report-dir".as_ref(), reports.as_os_str()]),
        &root(),
        &dir,
    )
    .finish(SUITE_LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
    let summary = run_summary(&reports);
    assert_eq!(summary["passed"], true);
    assert_eq!(summary["totals"]["failed"], 0);
    assert!(summary["totals"]["checks"].as_u64().unwrap() > 1000);
    for row in summary["coverage"].as_array().unwrap() {
        let untested = row["verdict"] == "untested";
        if row["operation"] == "StartNextPendingJobExecution" {
            assert!(
                !untested || row["untestable"].is_string(),
                "{} is neither exercised nor listed as untestable",
                row["id"]
            );
        }
        assert!(row["verdict"] != "fail", "{row}");
    }
}

/// Integer members written as whole floats: the contract's reading (`5.0` is 5, README,
/// "Behaviour where the documentation leaves room") on both sides.
const WHOLE_FLOATS: &str = "\
cases:
  - name: whole-floats
    things: [dev]
    jobs:
      - { id: whole, targets: [dev] }
    steps:
      - start-next: { thing: dev, stepTimeoutInMinutes: 5.0 }
        expect: { body: { execution.approximateSecondsBeforeTimedOut: { present: true } } }
      - describe: { thing: dev, job: whole }
      - update: { thing: dev, job: whole, status: IN_PROGRESS, stepTimeoutInMinutes: 2.0, expectedVersion: 2.0, includeJobExecutionState: true }
        expect: { body: { executionState.versionNumber: 3 } }
      - describe: { thing: dev, job: whole }
";

#[test]
fn whole_floats_are_judged_as_the_reference_reads_them() {
    let dir = scratch("whole-floats");
    let scenario = dir.write("whole-floats.yaml", WHOLE_FLOATS);
    let reports = dir.path().join("reports");
    let ran = Process::spawn_in(
        &args([
            "run".as_ref(),
            scenario.as_os_str(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
        ]),
        &root(),
        &dir,
    )
    .finish(SUITE_LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let summary = run_summary(&reports);
    assert_eq!(summary["totals"]["failed"], 0, "{ran}");
    assert_eq!(summary["totals"]["warned"], 0, "{ran}");
}

#[test]
fn an_interrupted_run_leaves_a_partial_report() {
    let dir = scratch("interrupt");
    let scenario = dir.write(
        "long.yaml",
        "cases:\n  - name: waits\n    requirements: [SN-EMPTY]\n    things: [dev]\n    steps:\n      - start-next: { thing: dev }\n      - wait: { minutes: 6000 }\n      - start-next: { thing: dev }\n",
    );
    let reports = dir.path().join("reports");
    let mut run = Process::spawn_in(
        &args([
            "run".as_ref(),
            "--no-generated".as_ref(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
            scenario.as_os_str(),
        ]),
        &root(),
        &dir,
    );
    std::thread::sleep(Duration::from_millis(1500));
    run.interrupt();
    // The run must stop within 10 s of the interrupt.
    let ran = run.finish(Duration::from_millis(11_500));
    assert_eq!(ran.code, Some(1), "an interrupted run is not a pass: {ran}");
    let summary = run_summary(&reports);
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["cases"][0]["verdict"], "aborted");
}
