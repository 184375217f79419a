//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no external assets).

use std::fmt::{self, Write};

use super::command::{Signing, rerun, resend};
use super::kit::{
    Esc, badge, document, level_word, passed_word, profile_word, severity_word, target_rows,
    verdict_word,
};
use super::{ReportInput, cited_exchanges, unanswered};
use crate::record::CaseRecord;
use crate::transport::{Exchange, Outcome, redact};
use crate::verdict::{CaseVerdict, Verdict, Weighed};

/// The operation whose coverage the page states as a percentage.
const COVERAGE_OPERATION: &str = "StartNextPendingJobExecution";

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Headers one per line, secret values masked even if the record was not redacted.
fn headers(list: &[(String, String)]) -> String {
    redact(list.iter().cloned())
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect()
}

fn header(out: &mut String, input: &ReportInput<'_>) -> fmt::Result {
    let (run, a) = (input.run, input.assessment);
    let verdict = passed_word(a.passed);
    writeln!(out, "<header><h1>jobcert conformance report</h1>")?;
    if run.partial {
        writeln!(
            out,
            r#"<p class="banner">Partial run: it stopped before every case ran, so it cannot pass.</p>"#
        )?;
    }
    writeln!(
        out,
        r#"<p><span class="badge verdict {verdict}">{verdict}</span></p><table>"#
    )?;
    let facts = std::iter::once(("Run id", run.run_id.clone()))
        .chain(target_rows(&run.target))
        .chain([
            ("Profile", profile_word(a.profile).to_string()),
            ("Duration", format!("{} ms", run.duration_ms)),
        ]);
    for (name, value) in facts {
        writeln!(out, "<tr><th>{name}</th><td>{}</td></tr>", Esc(&value))?;
    }
    let t = &a.totals;
    writeln!(
        out,
        "</table><table><tr><th>Cases</th><th>Checks</th><th>Passed</th><th>Warned</th><th>Deviations</th>\
         <th>Failed</th><th>Aborted</th></tr><tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
        t.cases, t.checks, t.passed, t.warned, t.deviations, t.failed, t.aborted
    )?;
    if !a.unused_deviations.is_empty() {
        write!(
            out,
            r#"<p class="muted">Deviations that matched no failure:"#
        )?;
        for d in &a.unused_deviations {
            write!(
                out,
                " <code>{}</code> ({})",
                Esc(d.requirement.as_str()),
                Esc(&d.reason)
            )?;
        }
        writeln!(out, "</p>")?;
    }
    writeln!(out, "</header>")
}

fn coverage(out: &mut String, input: &ReportInput<'_>) -> fmt::Result {
    let rows = &input.assessment.coverage;
    writeln!(out, r#"<section id="coverage"><h2>Coverage</h2>"#)?;
    let scoped: Vec<_> = rows
        .iter()
        .filter(|r| r.operation == COVERAGE_OPERATION)
        .collect();
    if !scoped.is_empty() {
        let covered = scoped
            .iter()
            .filter(|r| r.verdict != Verdict::Untested || r.untestable.is_some())
            .count();
        writeln!(
            out,
            "<p>{COVERAGE_OPERATION}: {covered} of {} requirements exercised or marked untestable ({}%).</p>",
            scoped.len(),
            covered * 100 / scoped.len()
        )?;
    }
    writeln!(
        out,
        "<table><tr><th>Requirement</th><th>Level</th><th>Section</th><th>Summary</th><th>Verdict</th>\
         <th>Cases</th><th>Untestable</th><th>Deviation</th></tr>"
    )?;
    for r in rows {
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            Esc(&r.id),
            level_word(r.level),
            Esc(&r.section),
            Esc(&r.summary),
            badge(verdict_word(r.verdict)),
            r.cases.len(),
            Esc(r.untestable.as_deref().unwrap_or("")),
            Esc(r.deviation.as_deref().unwrap_or(""))
        )?;
    }
    writeln!(out, "</table></section>")
}

fn exchange(out: &mut String, e: &Exchange, signing: Signing<'_>) -> fmt::Result {
    let r = &e.request;
    writeln!(
        out,
        "<h4>Exchange #{} — {}</h4><div class=\"pair\"><div><h5>Request</h5>",
        e.seq,
        Esc(&e.operation)
    )?;
    let request = format!(
        "{} {}{}\n{}\n{}",
        r.method,
        r.endpoint,
        r.target,
        headers(&r.headers),
        r.body.as_deref().unwrap_or("")
    );
    writeln!(
        out,
        "<pre>{}</pre></div><div><h5>Response</h5>",
        Esc(&request)
    )?;
    match &e.outcome {
        Outcome::Answered(resp) => {
            let response = format!("{}\n{}\n{}", resp.status, headers(&resp.headers), resp.body);
            writeln!(out, "<pre>{}</pre>", Esc(&response))?;
            if resp.truncated {
                writeln!(
                    out,
                    r#"<p class="muted">Body cut at the transport's limit.</p>"#
                )?;
            }
        }
        other => writeln!(
            out,
            "<p><strong>{}</strong></p>",
            Esc(&unanswered(other).unwrap_or_default())
        )?,
    }
    writeln!(out, "</div></div>")?;
    match resend(e, signing) {
        Some(line) => writeln!(
            out,
            r#"<h5>Send it again</h5><pre class="resend">{}</pre>"#,
            Esc(&line)
        ),
        None => Ok(()),
    }
}

fn failure(
    out: &mut String,
    input: &ReportInput<'_>,
    case: &CaseRecord,
    verdict: &CaseVerdict,
) -> fmt::Result {
    writeln!(
        out,
        r#"<article class="case"><h3>{} {}</h3>"#,
        badge(verdict_word(verdict.verdict)),
        Esc(&case.id)
    )?;
    if let Some(source) = &case.source {
        writeln!(out, r#"<p class="muted">{}</p>"#, Esc(source))?;
    }
    if let Some(description) = &case.description {
        writeln!(out, "<p>{}</p>", Esc(description))?;
    }
    if let Some(reason) = &case.aborted {
        writeln!(out, "<p><strong>Aborted:</strong> {}</p>", Esc(reason))?;
    }
    discarded(out, case)?;
    writeln!(out, "<ul>")?;
    for (p, follows) in verdict.grouped() {
        problem(out, p)?;
        if !follows.is_empty() {
            writeln!(out, "<ul>")?;
            for f in follows {
                problem(out, f)?;
                writeln!(out, "</li>")?;
            }
            writeln!(out, "</ul>")?;
        }
        writeln!(out, "</li>")?;
    }
    writeln!(out, "</ul>")?;
    for e in cited_exchanges(case, verdict) {
        exchange(out, e, Signing::of(input))?;
    }
    writeln!(
        out,
        r#"<h4>Re-run</h4><pre class="rerun">{}</pre></article>"#,
        Esc(&rerun(input, &case.id))
    )
}

/// The attempts at `case` played again because a step came late past a timer deadline.
fn discarded(out: &mut String, case: &CaseRecord) -> fmt::Result {
    for d in &case.discarded {
        writeln!(
            out,
            r#"<p class="muted">Attempt {} discarded: {} fell between {}.</p>"#,
            d.attempt,
            Esc(&d.deadline),
            Esc(&d.between)
        )?;
    }
    Ok(())
}

/// One problem's list item, left open for the follow-ons it causes.
fn problem(out: &mut String, p: &Weighed) -> fmt::Result {
    let at = p
        .finding
        .exchange
        .map(|s| format!(" (exchange #{s})"))
        .unwrap_or_default();
    write!(
        out,
        "<li>{} <code>{}</code> {}{at}",
        badge(severity_word(p.severity)),
        Esc(p.finding.requirement.as_str()),
        Esc(&p.finding.message)
    )
}

/// One section of the cases whose verdict `shown` accepts, each with its problems, the
/// exchanges they cite and the command that re-runs it.
fn problem_cases(
    out: &mut String,
    input: &ReportInput<'_>,
    (id, title): (&str, &str),
    shown: fn(Verdict) -> bool,
) -> fmt::Result {
    writeln!(out, r#"<section id="{id}"><h2>{title}</h2>"#)?;
    let mut any = false;
    for (case, verdict) in input.cases() {
        if shown(verdict.verdict) {
            any = true;
            failure(out, input, case, verdict)?;
        }
    }
    if !any {
        writeln!(out, "<p>None.</p>")?;
    }
    writeln!(out, "</section>")
}

/// Horizontal bars of p50 and p99 per operation, answered exchanges only.
fn chart(out: &mut String, input: &ReportInput<'_>) -> fmt::Result {
    const LABEL: u64 = 260;
    const BARS: u64 = 400;
    const ROW: u64 = 34;
    let rows: Vec<_> = input
        .run
        .latency
        .histograms()
        .filter(|(k, _)| k.outcome == "answered")
        .map(|(k, h)| {
            (
                k.operation.as_str(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let scale = rows.iter().map(|r| r.2).max().unwrap_or(1).max(1);
    let height = 24 + ROW * rows.len() as u64;
    let width = LABEL + BARS + 100;
    writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" font-size="12" font-family="system-ui,sans-serif"><title>p50 and p99 latency per operation (answered)</title>"##
    )?;
    writeln!(
        out,
        r##"<rect x="{LABEL}" y="4" width="10" height="10" fill="#4a78c2"/><text x="{}" y="13">p50</text><rect x="{}" y="4" width="10" height="10" fill="#e8953a"/><text x="{}" y="13">p99 (ms)</text>"##,
        LABEL + 14,
        LABEL + 60,
        LABEL + 74
    )?;
    for (i, (operation, p50, p99)) in rows.iter().enumerate() {
        let y = 24 + ROW * i as u64;
        writeln!(
            out,
            r#"<text x="0" y="{}">{}</text>"#,
            y + 17,
            Esc(operation)
        )?;
        for (j, (value, colour)) in [(*p50, "#4a78c2"), (*p99, "#e8953a")]
            .into_iter()
            .enumerate()
        {
            let bar_y = y + 4 + 13 * j as u64;
            let w = (value * BARS / scale).max(1);
            writeln!(
                out,
                r#"<rect x="{LABEL}" y="{bar_y}" width="{w}" height="11" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
                LABEL + w + 4,
                bar_y + 10,
                ms(value)
            )?;
        }
    }
    writeln!(out, "</svg>")
}

fn latency(out: &mut String, input: &ReportInput<'_>) -> fmt::Result {
    writeln!(
        out,
        r#"<section id="latency"><h2>Latency</h2><p class="muted">Milliseconds from the intended send time.</p>"#
    )?;
    chart(out, input)?;
    writeln!(
        out,
        "<table><tr><th>Operation</th><th>Outcome</th><th>Count</th><th>p50</th><th>p90</th><th>p99</th>\
         <th>p99.9</th><th>Max</th></tr>"
    )?;
    for (key, h) in input.run.latency.histograms() {
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td>",
            Esc(&key.operation),
            Esc(&key.outcome),
            h.len()
        )?;
        for q in [0.5, 0.9, 0.99, 0.999] {
            write!(out, r#"<td class="n">{}</td>"#, ms(h.value_at_quantile(q)))?;
        }
        writeln!(out, r#"<td class="n">{}</td></tr>"#, ms(h.max()))?;
    }
    writeln!(out, "</table></section>")
}

fn cases(out: &mut String, input: &ReportInput<'_>) -> fmt::Result {
    writeln!(
        out,
        r#"<section id="cases"><h2>Cases</h2><table><tr><th>Case</th><th>Verdict</th><th>Checks</th><th>Time (ms)</th><th>Source</th></tr>"#
    )?;
    for (case, verdict) in input.cases() {
        write!(out, "<tr><td>{}", Esc(&case.id))?;
        discarded(out, case)?;
        writeln!(
            out,
            r#"</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            badge(verdict_word(verdict.verdict)),
            verdict.checks,
            case.duration_ms,
            Esc(case.source.as_deref().unwrap_or("generated"))
        )?;
    }
    writeln!(out, "</table></section>")
}

/// The HTML page.
pub(super) fn page(input: &ReportInput<'_>) -> String {
    document(
        &format!("jobcert report {}", input.run.run_id),
        |out| header(out, input),
        |out| {
            coverage(out, input)?;
            problem_cases(out, input, ("failures", "Failures"), |v| {
                matches!(v, Verdict::Fail | Verdict::Aborted)
            })?;
            problem_cases(out, input, ("warnings", "Warnings"), |v| {
                matches!(v, Verdict::Warn | Verdict::Deviation)
            })?;
            latency(out, input)?;
            cases(out, input)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn sample_page() -> String {
        let (run, assessment) = fixture::sample();
        page(&fixture::input(&run, &assessment))
    }

    #[test]
    fn has_the_rerun_command_and_escapes_bodies() {
        let html = sample_page();
        assert!(html.contains(&format!("{} --only start-next/empty", fixture::RERUN)));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(html.contains("no answer within 5000 ms"));
    }

    #[test]
    fn shows_a_warned_case_with_its_exchange_and_curl_line() {
        let (run, assessment) = fixture::warned();
        let html = page(&fixture::input(&run, &assessment));
        let warnings = &html[html.find(r#"<section id="warnings">"#).unwrap()..];
        assert!(warnings.contains("answered 410 TerminalStateException for an unknown thing"));
        assert!(warnings.contains("Exchange #4"));
        let curl = warnings.split(r#"<pre class="resend">"#).nth(1).unwrap();
        let curl = &curl[..curl.find("</pre>").unwrap()];
        assert!(curl.starts_with(
            "curl -sS -i -g --path-as-is -X PUT &#39;http://127.0.0.1:9080/things/t-1/jobs/$next&#39;"
        ));
        assert!(!curl.contains("AKIDSECRET") && !curl.contains("authorization"));
        assert!(warnings.contains("--only start-next/unknown-thing"));
    }

    #[test]
    fn lists_a_follow_on_under_its_cause() {
        let html = sample_page();
        let cause = html
            .find("<code>SN-EMPTY</code> expected no `execution` member (exchange #2)<ul>")
            .expect("the cause opens a list of its follow-ons");
        let follow = html
            .find(r#"<span class="badge follow-on">follow-on</span> <code>SN-NEXT-ORDER</code>"#)
            .expect("the follow-on is listed");
        assert!(cause < follow);
    }

    #[test]
    fn shows_a_discarded_attempt_on_its_case() {
        let html = sample_page();
        let cases = &html[html.find(r#"<section id="cases">"#).unwrap()..];
        let row = &cases[cases.find("<tr><td>start-next/order").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains("Attempt 1 discarded: the step timer set by exchange #0 of job-1 on t-1 fell between step 1 (StartNextPendingJobExecution) and step 2 (UpdateJobExecution)."),
            "{row}"
        );
    }

    #[test]
    fn masks_secret_headers() {
        let html = sample_page();
        assert!(html.contains("authorization: ***"));
        assert!(!html.contains("AKIDSECRET"));
    }

    #[test]
    fn is_self_contained() {
        let html = sample_page();
        assert!(!html.contains("src="));
        assert!(!html.contains("<link"));
        assert!(html.contains("<svg"));
        assert!(html.contains(&format!("{COVERAGE_OPERATION}: ")));
    }
}
