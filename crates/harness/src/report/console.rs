//! The console summary: totals, each failing or aborted case with its failures and the command
//! that re-runs it, and the verdict.

use std::fmt::Write;

use super::ReportInput;
use super::command::rerun;
use super::kit::{Paint, Tone, paint, passed_word};
use crate::finding::Severity;
use crate::verdict::Verdict;

/// The console summary (a few lines, one line per failing or aborted case, one per problem
/// finding of those and its re-run command), styled as `colour` says. The caller prints the report path.
pub fn console(input: &ReportInput<'_>, colour: Paint) -> String {
    let t = &input.assessment.totals;
    // A count is coloured only when it is not zero.
    let count = |n: usize, tone: Tone, what: &str| {
        let colour = if n > 0 { colour } else { Paint::Plain };
        paint(colour, tone, &format!("{n} {what}"))
    };
    let mut counts = vec![
        count(t.passed, Tone::Good, "passed"),
        count(t.warned, Tone::Caution, "warned"),
    ];
    if t.deviations > 0 {
        counts.push(count(t.deviations, Tone::Caution, "deviated"));
    }
    counts.push(count(t.failed, Tone::Bad, "failed"));
    if t.aborted > 0 {
        counts.push(count(t.aborted, Tone::Bad, "aborted"));
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
        let _ = writeln!(
            out,
            "{} {}{source}",
            paint(colour, Tone::Bad, label),
            case.id
        );
        if let Some(reason) = &case.aborted {
            let _ = writeln!(out, "    aborted: {reason}");
        }
        for (p, follows) in verdict.grouped() {
            if p.severity != Severity::Failure {
                continue;
            }
            let _ = writeln!(out, "    {}: {}", p.finding.requirement, p.finding.message);
            for f in follows {
                let _ = writeln!(
                    out,
                    "      follow-on {}: {}",
                    f.finding.requirement, f.finding.message
                );
            }
        }
        let _ = writeln!(out, "    re-run: {}", rerun(input, &case.id));
    }
    if warnings > 0 {
        let line = format!("{warnings} warning(s) in {warned_cases} case(s); see the report");
        let _ = writeln!(out, "{}", paint(colour, Tone::Caution, &line));
    }
    let unused = &input.assessment.unused_deviations;
    if !unused.is_empty() {
        let ids: Vec<&str> = unused.iter().map(|d| d.requirement.as_str()).collect();
        let _ = writeln!(out, "unused deviations: {}", ids.join(", "));
    }

    let passed = input.assessment.passed;
    let tone = if passed { Tone::Good } else { Tone::Bad };
    let verdict = paint(colour, tone, &passed_word(passed).to_uppercase());
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
    use anstream::ColorChoice;

    use super::super::fixture;
    use super::super::kit::printed;
    use super::*;

    #[test]
    fn lists_failures_and_ends_with_the_verdict() {
        let (run, assessment) = fixture::sample();
        let text = console(&fixture::input(&run, &assessment), Paint::Plain);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "jobcert: 3 cases, 7 checks — 1 passed, 0 warned, 1 failed, 1 aborted"
        );
        assert!(lines.contains(&"FAIL start-next/empty (scenarios/start-next.yaml:3:5)"));
        let cause = lines
            .iter()
            .position(|l| *l == "    SN-EMPTY: expected no `execution` member")
            .expect("the cause is listed");
        assert_eq!(
            lines[cause + 1],
            "      follow-on SN-NEXT-ORDER: returned a job not pending"
        );
        assert!(lines.contains(&"ABORT update/timeout (scenarios/update.yaml:3:5)"));
        let rerun = format!("    re-run: {} --only update/timeout", fixture::RERUN);
        assert!(lines.contains(&rerun.as_str()));
        assert!(lines.contains(&"1 warning(s) in 1 case(s); see the report"));
        assert_eq!(lines.last(), Some(&"verdict: FAIL"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colours_only_when_asked() {
        let (run, assessment) = fixture::sample();
        let input = fixture::input(&run, &assessment);
        let styled = console(&input, Paint::Ansi);
        assert!(styled.contains("\x1b[31mFAIL\x1b[0m"));
        assert!(styled.contains("\x1b[32m1 passed\x1b[0m, 0 warned"));
        let plain = console(&input, Paint::Plain);
        assert!(!plain.contains('\x1b'));
        // What a terminal under NO_COLOR receives is the plain text.
        assert_eq!(printed(&styled, ColorChoice::Never), plain);
        assert_eq!(printed(&styled, ColorChoice::AlwaysAnsi), styled);
    }
}
