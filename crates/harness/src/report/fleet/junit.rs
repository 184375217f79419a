//! `junit.xml` of a fleet run: a `thresholds` suite (one case per threshold), a `conformance`
//! suite (one case per requirement checked, with its example failures as evidence) and a `fleet`
//! suite whose case `run` fails when the run is partial or sent no data-plane request.

use std::io;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{FleetReport, evidence, number};
use crate::finding::Severity;
use crate::record::{FleetRecord, Tally};
use crate::report::kit::severity_word;
use crate::verdict::fleet::{RequirementVerdict, ThresholdVerdict};

fn failure(kind: &str, message: String, description: String) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_message(message)
        .set_type(kind)
        .set_description(description);
    s
}

fn observed_text(t: &ThresholdVerdict) -> String {
    match t.observed {
        Some(v) => format!("observed {}, limit {}", number(v), t.limit),
        None => format!("nothing to measure, limit {}", t.limit),
    }
}

fn threshold_case(t: &ThresholdVerdict) -> TestCase {
    let status = if t.passed {
        TestCaseStatus::success()
    } else {
        failure("threshold", observed_text(t), String::new())
    };
    let mut tc = TestCase::new(t.name.as_str(), status);
    tc.set_classname("thresholds");
    if t.passed {
        tc.set_system_out(observed_text(t));
    }
    tc
}

fn checks_text(v: &RequirementVerdict) -> String {
    format!(
        "[{}] {} failed {} of {} checks",
        severity_word(v.severity),
        v.requirement,
        v.failed,
        v.passed + v.failed
    )
}

/// Each example failure: its message, then its exchange.
fn examples_text(tally: Option<&Tally>) -> String {
    let examples = tally.map_or(&[][..], |t| &t.examples);
    let parts: Vec<String> = examples
        .iter()
        .map(|ex| match &ex.exchange {
            Some(e) => format!("{}\n{}", ex.finding.message, evidence(e)),
            None => ex.finding.message.clone(),
        })
        .collect();
    parts.join("\n\n")
}

fn requirement_case(record: &FleetRecord, v: &RequirementVerdict) -> TestCase {
    let examples = || examples_text(record.findings.get(&v.requirement));
    let status = match v.severity {
        Severity::Failure => failure("conformance", checks_text(v), examples()),
        _ => TestCaseStatus::success(),
    };
    let mut tc = TestCase::new(v.requirement.as_str(), status);
    tc.set_classname("conformance")
        .set_assertions((v.passed + v.failed) as usize);
    if matches!(v.severity, Severity::Warning | Severity::Deviation) {
        tc.set_system_out(format!("{}\n\n{}", checks_text(v), examples()));
    }
    tc
}

/// Why the run as a whole cannot pass, if it cannot.
fn run_problems(record: &FleetRecord) -> Vec<String> {
    let mut out = Vec::new();
    if record.partial {
        out.push(format!(
            "the run is partial: {}",
            record.stopped_by.as_deref().unwrap_or("stopped early")
        ));
    }
    if record.data_requests() == 0 {
        out.push("no data-plane request was sent".into());
    }
    out
}

fn run_case(record: &FleetRecord) -> TestCase {
    let problems = run_problems(record);
    let status = if problems.is_empty() {
        TestCaseStatus::success()
    } else {
        failure("run", problems.join("; "), problems.join("\n"))
    };
    let mut tc = TestCase::new("run", status);
    tc.set_classname("fleet")
        .set_time(Duration::from_millis(record.duration_ms));
    tc
}

/// The JUnit XML document.
pub(super) fn xml(report: &FleetReport<'_>) -> io::Result<String> {
    let (record, verdict) = (report.record, report.verdict);
    let mut thresholds = TestSuite::new("thresholds");
    thresholds.add_test_cases(verdict.thresholds.iter().map(threshold_case));
    let mut conformance = TestSuite::new("conformance");
    conformance.add_test_cases(
        verdict
            .conformance
            .iter()
            .map(|v| requirement_case(record, v)),
    );
    let mut fleet = TestSuite::new("fleet");
    fleet.add_test_case(run_case(record));
    let mut out = Report::new(format!("jobcert fleet {}", record.scenario));
    out.set_time(Duration::from_millis(record.duration_ms))
        .add_test_suites([thresholds, conformance, fleet]);
    out.to_string().map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn sample_xml() -> String {
        let (record, verdict) = fixture::sample();
        xml(&FleetReport {
            record: &record,
            verdict: &verdict,
        })
        .unwrap()
    }

    #[test]
    fn failed_thresholds_and_requirements_are_failures() {
        let xml = sample_xml();
        assert_eq!(xml.matches("<testsuite ").count(), 3);
        // Three thresholds, three requirements, and the run.
        assert_eq!(xml.matches("<testcase ").count(), 7);
        assert_eq!(xml.matches("<failure ").count(), 2);
        assert!(xml.contains(r#"<testcase name="UpdateJobExecution p99" classname="thresholds""#));
        assert!(xml.contains(r#"message="observed 5001.215, limit ≤ 100 ms""#));
        assert!(xml.contains(r#"message="[failure] SN-START failed 2 of 32 checks""#));
        assert!(xml.contains("execution is not an object"));
        assert!(xml.contains("&gt; PUT http://127.0.0.1:9080/things/device-3/jobs/$next"));
        assert!(xml.contains("&lt;script&gt;"));
        assert!(xml.contains("[warning] SN-IN-PROGRESS-UNTOUCHED failed 1 of 4 checks"));
    }

    #[test]
    fn the_run_case_fails_when_partial_or_idle() {
        let (mut record, _) = fixture::sample();
        assert!(run_problems(&record).is_empty());
        record.partial = true;
        record.stopped_by = Some("interrupted".into());
        record.requests.clear();
        assert_eq!(
            run_problems(&record),
            [
                "the run is partial: interrupted",
                "no data-plane request was sent"
            ]
        );
        let tc = run_case(&record);
        assert!(matches!(tc.status, TestCaseStatus::NonSuccess { .. }));
    }
}
