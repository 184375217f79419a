//! The console summary of a fleet run: the verdict, throughput, schedule keeping, latency per
//! operation and outcome, the thresholds, and the requirements that failed or warned.

use std::fmt::Write;

use super::{
    FleetReport, connects_text, handshakes_text, number, stats, throttles_text, throughput,
};
use crate::finding::Severity;
use crate::record::FleetRecord;
use crate::report::kit::{Paint, Tone, paint, passed_word};

/// ✓ in green or ✗ in red.
fn mark(colour: Paint, passed: bool) -> String {
    if passed {
        paint(colour, Tone::Good, "✓")
    } else {
        paint(colour, Tone::Bad, "✗")
    }
}

fn verdict(out: &mut String, report: &FleetReport<'_>, colour: Paint) {
    let v = report.verdict;
    let tone = if v.passed { Tone::Good } else { Tone::Bad };
    let word = paint(colour, tone, &passed_word(v.passed).to_uppercase());
    let r = report.record;
    let command = if r.replay.is_some() {
        "replay"
    } else {
        "fleet"
    };
    let _ = writeln!(
        out,
        "jobcert {command} {} (run {}): {word}",
        r.scenario, r.run_id
    );
    for reason in &v.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
}

fn rates(out: &mut String, record: &FleetRecord) {
    let t = throughput(record);
    let rate = t
        .per_second
        .map_or_else(|| "-".to_string(), |r| format!("{r:.1}/s"));
    let _ = writeln!(
        out,
        "requests: {} in {:.1} s, {rate}; {} devices ({} connected), {} jobs",
        t.requests, t.seconds, record.devices, record.connected, record.jobs
    );
    if let Some(h) = &record.handshakes {
        let _ = writeln!(out, "TLS connect ramp: {}", handshakes_text(h));
    }
    if let Some(text) = connects_text(record) {
        let _ = writeln!(out, "connects: {text}");
    }
    if let Some(text) = throttles_text(record) {
        let _ = writeln!(out, "throttled: {text}");
    }
    for line in super::rollout::lines(record) {
        let _ = writeln!(out, "{line}");
    }
    let s = &record.schedule;
    if s.intended > 0 || s.target_rate.is_some() {
        let target = s
            .target_rate
            .map(|r| format!("target {}/s, ", number(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "schedule: {target}{} intended, {} started, {} late, max lateness {:.1} ms",
            s.intended,
            s.started,
            s.late,
            s.max_lateness_us as f64 / 1000.0
        );
    }
}

fn replayed(out: &mut String, record: &FleetRecord) {
    let Some(t) = &record.replay else {
        return;
    };
    let pace = t.speed.map_or_else(
        || "as fast as possible".to_string(),
        |s| format!("{}x", number(s)),
    );
    let _ = writeln!(
        out,
        "replay: {} of {} exchanges at {pace}, {} cop{} of each device, {} queued for a free slot",
        t.replayed,
        t.planned,
        t.clones,
        if t.clones == 1 { "y" } else { "ies" },
        record.schedule.queued
    );
    let kinds: Vec<String> = t
        .divergences
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let _ = match kinds.is_empty() {
        true => writeln!(out, "divergences from the recording: none"),
        false => writeln!(
            out,
            "divergences from the recording: {}; {} device(s) rebound to the job $next named",
            kinds.join(", "),
            t.rebound
        ),
    };
    for e in &t.examples {
        let _ = writeln!(
            out,
            "  {} at line {} ({}): recorded {}, replayed {}",
            e.kind, e.line, e.device, e.recorded, e.replayed
        );
    }
}

fn latency(out: &mut String, record: &FleetRecord) {
    let rows = stats(record);
    if rows.is_empty() {
        return;
    }
    let width = rows.iter().map(|r| r.operation.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "{:width$}  {:8} {:>9} {:>10} {:>10} {:>10}",
        "operation", "outcome", "count", "p50 ms", "p99 ms", "max ms"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:width$}  {:8} {:>9} {:>10.3} {:>10.3} {:>10.3}",
            r.operation, r.outcome, r.count, r.p50_ms, r.p99_ms, r.max_ms
        );
    }
}

fn thresholds(out: &mut String, report: &FleetReport<'_>, colour: Paint) {
    for t in &report.verdict.thresholds {
        let mark = mark(colour, t.passed);
        let observed = t.observed.map_or_else(|| "nothing".to_string(), number);
        let _ = writeln!(out, "{mark} {} {} (observed {observed})", t.name, t.limit);
    }
}

fn requirements(out: &mut String, report: &FleetReport<'_>, colour: Paint) {
    for c in &report.verdict.conformance {
        let mark = match c.severity {
            Severity::Pass | Severity::FollowOn => continue,
            Severity::Failure => mark(colour, false),
            Severity::Warning | Severity::Deviation => paint(colour, Tone::Caution, "!"),
        };
        let _ = writeln!(
            out,
            "{mark} {} failed {} of {} checks",
            c.requirement,
            c.failed,
            c.passed + c.failed
        );
    }
}

/// The console summary, styled as `colour` says. The caller prints the report folder.
pub fn console(report: &FleetReport<'_>, colour: Paint) -> String {
    let mut out = String::new();
    verdict(&mut out, report, colour);
    rates(&mut out, report.record);
    replayed(&mut out, report.record);
    latency(&mut out, report.record);
    thresholds(&mut out, report, colour);
    requirements(&mut out, report, colour);
    out
}

#[cfg(test)]
mod tests {
    use anstream::ColorChoice;

    use super::super::fixture;
    use super::*;
    use crate::report::kit::printed;

    #[test]
    fn says_the_verdict_the_figures_and_what_broke() {
        let (record, verdict) = fixture::sample();
        let report = FleetReport {
            record: &record,
            verdict: &verdict,
        };
        let text = console(&report, Paint::Plain);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "jobcert fleet smoke & soak (run f-1a2b): FAIL");
        assert!(lines[1].starts_with("  - threshold UpdateJobExecution p99 ≤ 100 ms"));
        assert!(lines.contains(&"  - SN-START failed 2 of 32 checks"));
        assert!(lines.contains(&"requests: 53 in 3.0 s, 17.7/s; 10 devices (9 connected), 2 jobs"));
        assert!(lines.contains(
            &"schedule: target 10/s, 30 intended, 30 started, 1 late, max lateness 12.5 ms"
        ));
        assert!(text.contains("UpdateJobExecution            timeout"));
        assert!(lines.contains(&"✓ StartNextPendingJobExecution p99 ≤ 250 ms (observed 3.751)"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("✗ UpdateJobExecution p99 ≤ 100 ms"))
        );
        assert!(lines.contains(&"✗ SN-START failed 2 of 32 checks"));
        assert!(lines.contains(&"! SN-IN-PROGRESS-UNTOUCHED failed 1 of 4 checks"));
        assert!(!text.contains("SN-DOCUMENT"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colours_only_when_asked() {
        let (record, verdict) = fixture::sample();
        let report = FleetReport {
            record: &record,
            verdict: &verdict,
        };
        let styled = console(&report, Paint::Ansi);
        assert!(styled.contains("\x1b[31mFAIL\x1b[0m"));
        assert!(styled.contains("\x1b[32m✓\x1b[0m"));
        assert!(styled.contains("\x1b[33m!\x1b[0m SN-IN-PROGRESS-UNTOUCHED"));
        let plain = console(&report, Paint::Plain);
        assert!(!plain.contains('\x1b'));
        // What a terminal under NO_COLOR receives is the plain text.
        assert_eq!(printed(&styled, ColorChoice::Never), plain);
        assert_eq!(printed(&styled, ColorChoice::AlwaysAnsi), styled);
    }
}
