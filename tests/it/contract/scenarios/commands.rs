//! Whole commands: `validate` of the shipped scenarios, a run that selects nothing, and a run
//! against a target where nothing listens.

use super::*;
use crate::common::report::run_summary;

#[test]
fn validate_accepts_the_conformance_scenarios() {
    let scratch = scratch("validate");
    let ran = jobcert(
        &os(&["validate", "scenarios/conformance"]),
        &root(),
        &scratch,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.starts_with("ok:"), "{ran}");
}

/// A run in which no case is selected made no check, and fails.
#[test]
fn a_run_that_selects_nothing_fails() {
    let scratch = scratch("only");
    let reports = scratch.path().join("reports");
    let mut args = os(&["run", "--only", "NO-SUCH-LABEL", "--report-dir"]);
    args.push(reports.clone().into_os_string());
    let ran = jobcert(&args, &root(), &scratch);
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stderr.contains("no check was executed"), "{ran}");
    let summary = run_summary(&reports);
    assert_eq!(summary["passed"], false, "{summary:#}");
    assert_eq!(summary["totals"]["cases"], 0, "{summary:#}");
    assert_eq!(summary["totals"]["checks"], 0, "{summary:#}");
    assert_eq!(summary["target"]["embedded"], true, "{summary:#}");
}

/// A target where nothing listens: every case fails or aborts (cases with fixtures abort in
/// their set-up), the run exits 1 quickly, and the summary is complete and valid.
#[test]
fn an_unreachable_target_is_a_classified_failure() {
    let scratch = scratch("unreachable");
    let reports = scratch.path().join("reports");
    let scenario = "scenarios/conformance/start-next.yaml";
    let mut args = os(&[
        "run",
        "--target",
        "http://127.0.0.1:1",
        "--control",
        "http://127.0.0.1:1",
        "--deadline-ms",
        "300",
        scenario,
        "--no-generated",
        "--report-dir",
    ]);
    args.push(reports.clone().into_os_string());
    let ran = jobcert(&args, &root(), &scratch);
    assert_eq!(ran.code, Some(1), "{ran}");

    let summary = run_summary(&reports);
    assert_eq!(summary["passed"], false, "{summary:#}");
    assert_eq!(summary["target"]["embedded"], false, "{summary:#}");
    let planned = load(&[root().join(scenario)]).expect("the scenario loads");
    let cases = summary["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), planned.len(), "{summary:#}");
    assert_eq!(summary["totals"]["passed"], 0, "{summary:#}");
    for plan in &planned {
        let case = cases
            .iter()
            .find(|c| c["id"] == format!("http:{}", plan.id).as_str())
            .unwrap_or_else(|| panic!("case {} is missing: {summary:#}", plan.id));
        if plan.things.is_empty() && plan.jobs.is_empty() {
            // Nothing to set up: the first call fails, as a failure of the target.
            assert_eq!(case["verdict"], "fail", "{case:#}");
            let problems = case["problems"].as_array().expect("problems");
            assert!(
                problems.iter().any(|p| p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("transport failure"))),
                "{case:#}"
            );
        } else {
            assert_eq!(case["verdict"], "aborted", "{case:#}");
            let why = case["aborted"].as_str().unwrap_or_default();
            assert!(
                why.starts_with("CreateThing") || why.starts_with("CreateJob"),
                "a set-up error expected: {case:#}"
            );
        }
    }
    let aborted = planned
        .iter()
        .filter(|p| !(p.things.is_empty() && p.jobs.is_empty()))
        .count();
    assert_eq!(summary["totals"]["aborted"], aborted, "{summary:#}");
}
