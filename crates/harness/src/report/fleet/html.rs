//! `report.html` of a fleet run: one self-contained page (inline CSS and SVG, no scripts, no
//! external assets) with every text from the records escaped.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use super::{
    FleetReport, chart, connects_text, evidence, handshakes_text, number, shards_text, stats,
    throttles_text, throughput,
};
use crate::finding::Severity;
use crate::record::FleetRecord;
use crate::report::kit::{
    Esc, badge, document, passed_word, profile_word, severity_word, target_rows,
};
use crate::verdict::fleet::FleetVerdict;

fn schedule_text(record: &FleetRecord) -> String {
    let s = &record.schedule;
    if s.intended == 0 {
        return "closed loop (no schedule)".into();
    }
    let target = s
        .target_rate
        .map(|r| format!("target {} cycles/s; ", number(r)))
        .unwrap_or_default();
    format!(
        "{target}{} intended, {} started ({:.1}%), {} late, max lateness {:.3} ms, over {} s",
        s.intended,
        s.started,
        s.started as f64 * 100.0 / s.intended as f64,
        s.late,
        s.max_lateness_us as f64 / 1000.0,
        number(s.seconds)
    )
}

/// The run's facts, as label and value.
fn facts(record: &FleetRecord) -> Vec<(&'static str, String)> {
    let t = throughput(record);
    let mut rows = vec![
        ("Scenario", record.scenario.clone()),
        ("Run id", record.run_id.clone()),
        ("Shards", shards_text(&record.shards)),
    ];
    rows.extend(target_rows(&record.target));
    rows.extend([
        ("Profile", profile_word(record.profile).to_string()),
        (
            "Devices",
            format!("{} ({} connected)", record.devices, record.connected),
        ),
        ("Jobs", record.jobs.to_string()),
        ("Duration", format!("{} s", number(t.seconds))),
        ("Data-plane requests", t.requests.to_string()),
        (
            "Achieved rate",
            t.per_second
                .map_or_else(|| "-".into(), |r| format!("{r:.1} requests/s")),
        ),
        ("Schedule", schedule_text(record)),
    ]);
    if let Some(h) = &record.handshakes {
        rows.push(("TLS connect ramp", handshakes_text(h)));
    }
    if let Some(text) = connects_text(record) {
        rows.push(("Connects", text));
    }
    if let Some(text) = throttles_text(record) {
        rows.push(("Throttled", text));
    }
    if let Some(m) = record.memory {
        rows.push((
            "Harness memory",
            format!(
                "{:.1} MiB before the devices, {:.1} MiB at peak",
                m.baseline_kib as f64 / 1024.0,
                m.peak_kib as f64 / 1024.0
            ),
        ));
    }
    rows
}

fn header(out: &mut String, report: &FleetReport<'_>) -> fmt::Result {
    let (record, verdict) = (report.record, report.verdict);
    let word = passed_word(verdict.passed);
    writeln!(
        out,
        "<header><h1>jobcert fleet report — {}</h1>",
        Esc(&record.scenario)
    )?;
    if record.partial {
        writeln!(
            out,
            r#"<p class="banner">Partial run: {}. It cannot pass.</p>"#,
            Esc(record.stopped_by.as_deref().unwrap_or("it stopped early"))
        )?;
    }
    writeln!(
        out,
        r#"<p><span class="badge verdict {word}">{word}</span></p>"#
    )?;
    if !verdict.reasons.is_empty() {
        writeln!(out, "<ul>")?;
        for reason in &verdict.reasons {
            writeln!(out, "<li>{}</li>", Esc(reason))?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "<table>")?;
    for (label, value) in facts(record) {
        writeln!(out, "<tr><th>{label}</th><td>{}</td></tr>", Esc(&value))?;
    }
    writeln!(out, "</table></header>")
}

fn thresholds(out: &mut String, verdict: &FleetVerdict) -> fmt::Result {
    writeln!(out, r#"<section id="thresholds"><h2>Thresholds</h2>"#)?;
    if verdict.thresholds.is_empty() {
        return writeln!(out, "<p>None set.</p></section>");
    }
    writeln!(
        out,
        "<table><tr><th>Threshold</th><th>Limit</th><th>Observed</th><th>Verdict</th></tr>"
    )?;
    for t in &verdict.thresholds {
        writeln!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            Esc(&t.name),
            Esc(&t.limit),
            t.observed.map_or_else(|| "nothing".into(), number),
            badge(passed_word(t.passed))
        )?;
    }
    writeln!(out, "</table></section>")
}

fn latency(out: &mut String, record: &FleetRecord) -> fmt::Result {
    writeln!(
        out,
        r#"<section id="latency"><h2>Latency</h2><p class="muted">Milliseconds from the intended send time, over the whole run.</p>"#
    )?;
    writeln!(
        out,
        "<table><tr><th>Operation</th><th>Outcome</th><th>Count</th><th>Mean</th><th>p50</th>\
         <th>p90</th><th>p99</th><th>p99.9</th><th>Max</th></tr>"
    )?;
    for s in stats(record) {
        write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td>"#,
            Esc(&s.operation),
            Esc(&s.outcome),
            s.count
        )?;
        for v in [s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms] {
            write!(out, r#"<td class="n">{v:.3}</td>"#)?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(
        out,
        "</table><h3>Percentile spectrum</h3><p class=\"muted\">All outcomes of each operation together; latency on a log scale.</p>"
    )?;
    chart::percentile_spectrum(out, &record.latency)?;
    writeln!(out, "</section>")
}

fn over_time(out: &mut String, record: &FleetRecord) -> fmt::Result {
    writeln!(
        out,
        r#"<section id="over-time-section"><h2>Over time</h2><p class="muted">Data-plane requests completed in each interval, and their latency (log scale).</p>"#
    )?;
    chart::over_time(out, record)?;
    writeln!(out, "</section>")
}

fn counts(out: &mut String, id: &str, title: &str, counts: &BTreeMap<String, u64>) -> fmt::Result {
    writeln!(out, r#"<section id="{id}"><h2>{title}</h2>"#)?;
    if counts.is_empty() {
        return writeln!(out, "<p>None.</p></section>");
    }
    writeln!(out, "<table>")?;
    for (name, n) in counts {
        writeln!(
            out,
            r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#,
            Esc(name)
        )?;
    }
    writeln!(out, "</table></section>")
}

fn examples(
    out: &mut String,
    record: &FleetRecord,
    requirement: &str,
    severity: Severity,
) -> fmt::Result {
    let Some(tally) = record
        .findings
        .get(requirement)
        .filter(|t| !t.examples.is_empty())
    else {
        return Ok(());
    };
    writeln!(
        out,
        r#"<article class="req"><h3>{} <code>{}</code></h3><p>Examples: {} of {} failures.</p>"#,
        badge(severity_word(severity)),
        Esc(requirement),
        tally.examples.len(),
        tally.failed
    )?;
    for example in &tally.examples {
        writeln!(out, "<p>{}</p>", Esc(&example.finding.message))?;
        if let Some(e) = &example.exchange {
            writeln!(out, "<pre>{}</pre>", Esc(&evidence(e)))?;
        }
    }
    writeln!(out, "</article>")
}

fn findings(out: &mut String, report: &FleetReport<'_>) -> fmt::Result {
    let rows = &report.verdict.conformance;
    writeln!(out, r#"<section id="findings"><h2>Findings</h2>"#)?;
    if rows.is_empty() {
        return writeln!(out, "<p>No checks made.</p></section>");
    }
    writeln!(
        out,
        "<table><tr><th>Requirement</th><th>Verdict</th><th>Passed</th><th>Failed</th></tr>"
    )?;
    for r in rows {
        writeln!(
            out,
            r#"<tr><td><code>{}</code></td><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            Esc(&r.requirement),
            badge(severity_word(r.severity)),
            r.passed,
            r.failed
        )?;
    }
    writeln!(out, "</table>")?;
    for r in rows.iter().filter(|r| r.failed > 0) {
        examples(out, report.record, &r.requirement, r.severity)?;
    }
    writeln!(out, "</section>")
}

/// The HTML page.
pub(super) fn page(report: &FleetReport<'_>) -> String {
    let record = report.record;
    document(
        &format!("jobcert fleet report {}", record.run_id),
        |out| header(out, report),
        |out| {
            thresholds(out, report.verdict)?;
            latency(out, record)?;
            over_time(out, record)?;
            super::rollout::section(out, record)?;
            counts(out, "statuses", "Final statuses", &record.statuses)?;
            counts(out, "errors", "Errors", &record.errors)?;
            findings(out, report)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn sample_page() -> String {
        let (record, verdict) = fixture::sample();
        page(&FleetReport {
            record: &record,
            verdict: &verdict,
        })
    }

    /// The part of `html` from the element with `id` to the end of its SVG.
    fn svg<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html.find(&format!(r#"<svg id="{id}""#)).unwrap();
        let end = start + html[start..].find("</svg>").unwrap();
        &html[start..end]
    }

    #[test]
    fn escapes_every_text_from_the_records() {
        let html = sample_page();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(html.contains("jobcert fleet report — smoke &amp; soak"));
        assert!(html.contains("authorization: ***"));
        assert!(html.contains("execution is not an object"));
    }

    #[test]
    fn is_self_contained() {
        let html = sample_page();
        for external in ["src=", "href=", "<link", "url(", "@import"] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn has_every_section_and_both_charts() {
        let html = sample_page();
        for id in [
            "thresholds",
            "latency",
            "over-time-section",
            "statuses",
            "errors",
            "findings",
        ] {
            assert!(html.contains(&format!(r#"<section id="{id}">"#)), "{id}");
        }
        let operations = 3;
        assert_eq!(
            svg(&html, "spectrum").matches("<polyline ").count(),
            operations
        );
        assert_eq!(svg(&html, "over-time").matches("<polyline ").count(), 2);
        assert!(html.contains("<td>TIMED_OUT</td><td class=\"n\">2</td>"));
        assert!(html.contains(
            "target 10 cycles/s; 30 intended, 30 started (100.0%), 1 late, max lateness 12.500 ms, over 3 s"
        ));
        assert!(html.contains("20.0 MiB before the devices, 64.0 MiB at peak"));
        assert!(html.contains("Examples: 2 of 2 failures."));
        assert!(html.contains("<li>threshold UpdateJobExecution p99 ≤ 100 ms"));
    }

    #[test]
    fn a_partial_run_says_so() {
        let (mut record, verdict) = fixture::sample();
        record.partial = true;
        record.stopped_by = Some("interrupted <SIGINT>".into());
        let html = page(&FleetReport {
            record: &record,
            verdict: &verdict,
        });
        assert!(html.contains("Partial run: interrupted &lt;SIGINT&gt;. It cannot pass."));
    }
}
