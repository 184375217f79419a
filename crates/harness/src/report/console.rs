//! The console summary: totals, each failing or aborted case with its failures, and the verdict.

use std::fmt::Write;

use super::ReportInput;
use crate::finding::Severity;
use crate::verdict::Verdict;

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// `text` in `colour` when `on`.
fn paint(on: bool, colour: &str, text: &str) -> String {
    if on {
        format!("{colour}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// The console summary (a few lines, one line per failing or aborted case and one per problem
/// finding of those); ANSI colours only when `color` is true. The caller prints the report path.
pub fn console(input: &ReportInput<'_>, color: bool) -> String {
    let t = &input.assessment.totals;
    let mut counts = vec![
        paint(
            color && t.passed > 0,
            GREEN,
            &format!("{} passed", t.passed),
        ),
        paint(
            color && t.warned > 0,
            YELLOW,
            &format!("{} warned", t.warned),
        ),
    ];
    if t.deviations > 0 {
        counts.push(paint(color, YELLOW, &format!("{} deviated", t.deviations)));
    }
    counts.push(paint(
        color && t.failed > 0,
        RED,
        &format!("{} failed", t.failed),
    ));
    if t.aborted > 0 {
        counts.push(paint(color, RED, &format!("{} aborted", t.aborted)));
    }
    let mut out = format!(
        "jobcert: {} cases, {} checks — {}\n",
        t.cases,
        t.checks,
        counts.join(", ")
    );

    let (mut warnings, mut warned_cases) = (0, 0);
    for (case, verdict) in input.cases() {
        let case_warnings = verdict
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
            .count();
        warnings += case_warnings;
        warned_cases += usize::from(case_warnings > 0);
        let label = match verdict.verdict {
            Verdict::Fail => "FAIL",
            Verdict::Aborted | Verdict::Untested => "ABORT",
            Verdict::Pass | Verdict::Warn | Verdict::Deviation => continue,
        };
        let source = case
            .source
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{} {}{source}", paint(color, RED, label), case.id);
        if let Some(reason) = &case.aborted {
            let _ = writeln!(out, "    aborted: {reason}");
        }
        for p in verdict
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Failure)
        {
            let _ = writeln!(out, "    {}: {}", p.finding.requirement, p.finding.message);
        }
    }
    if warnings > 0 {
        let line = format!("{warnings} warning(s) in {warned_cases} case(s); see the report");
        let _ = writeln!(out, "{}", paint(color, YELLOW, &line));
    }
    let unused = &input.assessment.unused_deviations;
    if !unused.is_empty() {
        let ids: Vec<&str> = unused.iter().map(|d| d.requirement.as_str()).collect();
        let _ = writeln!(out, "unused deviations: {}", ids.join(", "));
    }

    let verdict = if input.assessment.passed {
        paint(color, GREEN, "PASS")
    } else {
        paint(color, RED, "FAIL")
    };
    let mut notes = Vec::new();
    if input.run.partial {
        notes.push("partial run");
    }
    if t.checks == 0 {
        notes.push("no checks made");
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    };
    let _ = writeln!(out, "verdict: {verdict}{notes}");
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn lists_failures_and_ends_with_the_verdict() {
        let (run, assessment) = fixture::sample();
        let text = console(&fixture::input(&run, &assessment), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "jobcert: 3 cases, 6 checks — 1 passed, 0 warned, 1 failed, 1 aborted"
        );
        assert!(lines.contains(&"FAIL start-next/empty (scenarios/start-next.yaml:3:5)"));
        assert!(lines.contains(&"    SN-EMPTY: expected no `execution` member"));
        assert!(lines.contains(&"ABORT update/timeout (scenarios/update.yaml:3:5)"));
        assert!(lines.contains(&"1 warning(s) in 1 case(s); see the report"));
        assert_eq!(lines.last(), Some(&"verdict: FAIL"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colours_only_when_asked() {
        let (run, assessment) = fixture::sample();
        let text = console(&fixture::input(&run, &assessment), true);
        assert!(text.contains(&format!("{RED}FAIL{RESET}")));
    }
}
