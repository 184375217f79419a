//! `junit.xml`: one testsuite per case suite, one testcase per case, with the evidence of every
//! failure in the failure's text.

use std::fmt::Write;
use std::io;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::command::rerun;
use super::kit::severity_word;
use super::{ReportInput, cited_exchanges, unanswered};
use crate::finding::Severity;
use crate::record::CaseRecord;
use crate::transport::{Exchange, Outcome};
use crate::verdict::{CaseVerdict, Verdict, Weighed};

fn problem_line(p: &Weighed) -> String {
    let at = p
        .finding
        .exchange
        .map(|s| format!(" (exchange #{s})"))
        .unwrap_or_default();
    format!(
        "[{}] {}: {}{at}",
        severity_word(p.severity),
        p.finding.requirement,
        p.finding.message
    )
}

fn evidence(e: &Exchange) -> String {
    let r = &e.request;
    let mut out = format!(
        "exchange #{} {}\n> {} {}{}\n",
        e.seq, e.operation, r.method, r.endpoint, r.target
    );
    if let Some(body) = &r.body {
        let _ = writeln!(out, "> {}", super::cut_body(body));
    }
    match &e.outcome {
        Outcome::Answered(resp) => {
            let _ = writeln!(out, "< {}", resp.status);
            let _ = writeln!(out, "< {}", super::cut_body(&resp.body));
        }
        other => {
            let _ = writeln!(out, "< {}", unanswered(other).unwrap_or_default());
        }
    }
    out
}

/// The failure (or error) text: every problem, the evidence of each exchange they cite, and
/// the command that re-runs the case.
fn details(input: &ReportInput<'_>, case: &CaseRecord, verdict: &CaseVerdict) -> String {
    let mut lines: Vec<String> = case
        .aborted
        .iter()
        .map(|a| format!("aborted: {a}"))
        .collect();
    for (p, follows) in verdict.grouped() {
        lines.push(problem_line(p));
        lines.extend(
            follows
                .into_iter()
                .map(|f| format!("  {}", problem_line(f))),
        );
    }
    let exchanges: Vec<String> = cited_exchanges(case, verdict)
        .into_iter()
        .map(evidence)
        .collect();
    format!(
        "{}\n\n{}\nre-run: {}",
        lines.join("\n"),
        exchanges.join("\n"),
        rerun(input, &case.id)
    )
}

fn status(input: &ReportInput<'_>, case: &CaseRecord, verdict: &CaseVerdict) -> TestCaseStatus {
    match verdict.verdict {
        Verdict::Fail => {
            let mut ids: Vec<&str> = Vec::new();
            for p in verdict
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Failure)
            {
                if !ids.contains(&p.finding.requirement.as_str()) {
                    ids.push(p.finding.requirement.as_str());
                }
            }
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("failed: {}", ids.join(", ")))
                .set_type("conformance")
                .set_description(details(input, case, verdict));
            s
        }
        Verdict::Aborted | Verdict::Untested => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(case.aborted.as_deref().unwrap_or("aborted"))
                .set_type("aborted")
                .set_description(details(input, case, verdict));
            s
        }
        Verdict::Pass | Verdict::Warn | Verdict::Deviation => TestCaseStatus::success(),
    }
}

fn test_case(input: &ReportInput<'_>, case: &CaseRecord, verdict: &CaseVerdict) -> TestCase {
    let mut tc = TestCase::new(case.name.as_str(), status(input, case, verdict));
    tc.set_classname(case.suite.as_str())
        .set_assertions(verdict.checks)
        .set_time(Duration::from_millis(case.duration_ms));
    if matches!(verdict.verdict, Verdict::Warn | Verdict::Deviation) {
        let notes: Vec<String> = verdict.problems.iter().map(problem_line).collect();
        tc.set_system_out(notes.join("\n"));
    }
    tc
}

/// The JUnit XML document.
pub(super) fn xml(input: &ReportInput<'_>) -> io::Result<String> {
    let mut suites: Vec<TestSuite> = Vec::new();
    for (case, verdict) in input.cases() {
        let index = match suites.iter().position(|s| s.name.as_str() == case.suite) {
            Some(i) => i,
            None => {
                suites.push(TestSuite::new(case.suite.as_str()));
                suites.len() - 1
            }
        };
        let suite = &mut suites[index];
        let time = suite.time.unwrap_or_default() + Duration::from_millis(case.duration_ms);
        suite
            .add_test_case(test_case(input, case, verdict))
            .set_time(time);
    }
    let mut report = Report::new("jobcert");
    report
        .set_time(Duration::from_millis(input.run.duration_ms))
        .add_test_suites(suites);
    report.to_string().map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn one_testcase_per_case_and_evidence_for_failures() {
        let (run, assessment) = fixture::sample();
        let xml = xml(&fixture::input(&run, &assessment)).unwrap();
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert_eq!(xml.matches("<testsuite ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<error ").count(), 1);
        assert!(xml.contains(r#"message="failed: SN-EMPTY""#));
        assert!(xml.contains(
            "[failure] SN-EMPTY: expected no `execution` member (exchange #2)\n  [follow-on] SN-NEXT-ORDER: returned a job not pending (exchange #2)"
        ));
        assert!(xml.contains("[warning] SN-UNKNOWN-THING"));
        assert!(xml.contains("&gt; PUT http://127.0.0.1:9080/things/t-1/jobs/$next"));
        assert!(xml.contains("&lt;script&gt;"));
        assert!(xml.contains("no answer within 5000 ms"));
        assert!(xml.contains(&format!(
            "re-run: {} --only start-next/empty",
            fixture::RERUN
        )));
        assert!(!xml.contains("AKIDSECRET"));
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(crate::report::BODY_LIMIT);
        let cut = crate::report::cut_body(&body);
        assert!(cut.len() < body.len());
        assert!(cut.ends_with(&format!("… ({} bytes in all)", body.len())));
    }
}
