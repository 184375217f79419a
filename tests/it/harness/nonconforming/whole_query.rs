//! `executionNumber=1.0` in a query string (WI-QUERY-WHOLE): the contract leaves open whether a
//! whole decimal is a long there, so a target refusing it (the reference, the default) passes,
//! one reading it as its integer passes with a warning under the aws profile, and one that
//! answers anything else (a server error) fails.

use jobcert_harness::finding::Severity;
use jobcert_harness::plan::Plan;
use jobcert_harness::scenario::load_file;
use jobcert_harness::verdict::Assessment;
use rstest::rstest;

use super::{DEADLINE, Fault, run_through};
use crate::common::faults::{cited, failures, listing};
use crate::common::{ScratchExt, scratch};

const WHOLE_EXECUTION_NUMBER: &str = "\
cases:
  - name: whole-execution-number
    requirements: [WI-QUERY-WHOLE]
    things: [dev]
    jobs:
      - { id: whole, targets: [dev] }
    steps:
      - describe: { thing: dev, job: whole, executionNumber: 1.0 }
      - describe: { thing: dev, job: whole, executionNumber: 1 }
        expect: { body: { execution.executionNumber: 1 } }
";

fn plan() -> Plan {
    let dir = scratch("whole-query");
    let path = dir.write("whole-query.yaml", WHOLE_EXECUTION_NUMBER);
    Plan {
        cases: load_file(&path).expect("the scenario loads"),
    }
    .over(jobcert_contract::Binding::Http)
}

/// `(requirement, severity)` of every problem the assessment weighed.
fn problems(assessment: &Assessment) -> Vec<(String, Severity)> {
    assessment
        .cases
        .iter()
        .flat_map(|c| &c.problems)
        .map(|w| (w.finding.requirement.to_string(), w.severity))
        .collect()
}

#[rstest]
#[case::refused_by_the_reference(Fault::Faithful, &[], &[])]
#[case::read_as_the_integer(Fault::WholeQueryRead, &[], &["WI-QUERY-WHOLE-REFUSED"])]
// InternalError is also no error type of the service model (WI-ERROR-TYPE).
#[case::answered_with_a_server_error(
    Fault::WholeQueryBreaks,
    &["WI-ERROR-TYPE", "WI-QUERY-WHOLE"],
    &[]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn either_reading_passes_and_nothing_else_does(
    #[case] fault: Fault,
    #[case] failed: &[&str],
    #[case] warned: &[&str],
) {
    let (record, assessment) = run_through(fault, &plan(), DEADLINE).await;
    let sent = record
        .cases
        .iter()
        .flat_map(|c| &c.exchanges)
        .any(|e| e.request.target.ends_with("executionNumber=1.0"));
    assert!(sent, "no request carried executionNumber=1.0");
    let failures = failures(&assessment);
    let cited: Vec<&str> = cited(&failures).into_iter().collect();
    assert_eq!(cited, failed, "failures:\n{}", listing(&failures));
    let warnings: Vec<String> = problems(&assessment)
        .into_iter()
        .filter(|(_, s)| *s == Severity::Warning)
        .map(|(r, _)| r)
        .collect();
    assert_eq!(warnings, warned, "{:?}", problems(&assessment));
    let broken = failed.contains(&"WI-QUERY-WHOLE");
    let judged = record
        .cases
        .iter()
        .flat_map(|c| &c.findings)
        .any(|f| f.requirement.as_str() == "WI-QUERY-WHOLE" && f.passed != broken);
    assert!(judged, "no WI-QUERY-WHOLE finding");
}
