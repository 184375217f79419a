//! A case whose step comes later than a timer deadline its scenario meant it to precede (here:
//! a slow answer to the StartNext that set the timer) is played again alone; if it is late at
//! every attempt, what followed is a WI-TIMING-PREMISE warning, never a failure.

use jobcert_contract::req;
use jobcert_harness::finding::{Cause, Severity};
use jobcert_harness::report::{self, ReportInput};
use jobcert_harness::verdict::{Verdict, Weighed};

use super::{DEADLINE, Fault, plan, run_through};
use crate::common;
use crate::common::faults;

/// A 3-minute step timer, then an update meant to land before it fires.
const STEP_REPLACED: &str = "update/a-new-step-timeout-replaces-the-old";
/// Where the step timer's deadline falls when the StartNext answer is late.
const BETWEEN: &str = "step 1 (StartNextPendingJobExecution) and step 2 (UpdateJobExecution)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_late_once_is_played_again_and_passes() {
    let (record, assessment) =
        run_through(Fault::SlowOnce, &plan(&[STEP_REPLACED]), DEADLINE).await;
    faults::assert_clean(&assessment, "a case whose first attempt came late");
    assert_eq!(assessment.cases[0].verdict, Verdict::Pass);
    let [discarded] = record.cases[0].discarded.as_slice() else {
        panic!(
            "one discarded attempt expected: {:#?}",
            record.cases[0].discarded
        );
    };
    assert_eq!(discarded.attempt, 1);
    assert_eq!(discarded.between, BETWEEN);
    assert!(
        discarded
            .deadline
            .starts_with("the step timer set by exchange #"),
        "{}",
        discarded.deadline
    );
    let names: Vec<&str> = record.cases[0]
        .exchanges
        .iter()
        .map(|e| e.request.target.as_str())
        .collect();
    assert!(
        names.iter().all(|t| t.contains("h-0a2")),
        "the kept attempt runs under its own names: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_late_at_every_attempt_is_a_warning_not_a_failure() {
    let (record, assessment) =
        run_through(Fault::SlowEveryTime, &plan(&[STEP_REPLACED]), DEADLINE).await;
    faults::assert_clean(&assessment, "a case late at every attempt");
    assert_eq!(assessment.cases[0].verdict, Verdict::Warn);
    let warned: Vec<&Weighed> = assessment.cases[0]
        .problems
        .iter()
        .filter(|w| w.severity == Severity::Warning)
        .collect();
    let [warning] = warned.as_slice() else {
        panic!("exactly one warning expected: {warned:#?}");
    };
    assert_eq!(warning.finding.requirement, req::WI_TIMING_PREMISE);
    assert!(
        warning.finding.message.contains(BETWEEN),
        "{}",
        warning.finding.message
    );
    // What the target rightly did once its timer fired is shown, under the warning.
    let cause = Cause::of(&warning.finding);
    let follow_ons: Vec<&Weighed> = assessment.cases[0]
        .problems
        .iter()
        .filter(|w| w.severity == Severity::FollowOn)
        .collect();
    assert!(!follow_ons.is_empty(), "nothing followed the lateness");
    assert!(
        follow_ons
            .iter()
            .all(|w| w.finding.caused_by == Some(cause)),
        "{follow_ons:#?}"
    );
    let attempts: Vec<u32> = record.cases[0]
        .discarded
        .iter()
        .map(|d| d.attempt)
        .collect();
    assert_eq!(attempts, [1, 2]);

    let dir = common::scratch("timing-premise");
    let input = ReportInput {
        run: &record,
        assessment: &assessment,
        rerun_prefix: "jobcert run",
        region: "us-east-1",
    };
    report::write_all(dir.path(), &input).expect("reports are written");
    let summary = std::fs::read_to_string(dir.path().join("summary.json")).expect("summary.json");
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("JSON");
    let case = &summary["cases"][0];
    assert_eq!(case["discarded"][1]["between"], BETWEEN, "{case:#}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    let warnings = &html[html
        .find(r#"<section id="warnings">"#)
        .expect("a Warnings section")..];
    assert!(
        warnings.contains("Attempt 2 discarded: the step timer"),
        "{warnings}"
    );
}
