//! The reports of a differential run (`jobcert diff`): a console table, `summary.json`
//! (`schemas/report/diff-summary.schema.json`), `junit.xml` (a case per operation and member
//! that differed, failing when the difference counts) and a `report.html` with the samples of
//! each difference side by side.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::kit::{Esc, Paint, Tone, badge, document, paint, passed_word};
use crate::record::differential::{DiffRecord, MemberTally, OperationTally};
use crate::verdict::{DiffVerdict, MemberVerdict};
use jobcert_contract::Operation;

/// What the reports of a differential run are made from.
#[derive(Debug, Clone, Copy)]
pub struct DiffReport<'a> {
    /// The record.
    pub record: &'a DiffRecord,
    /// Its verdict.
    pub verdict: &'a DiffVerdict,
}

impl DiffReport<'_> {
    fn tally(&self, m: &MemberVerdict) -> Option<&MemberTally> {
        self.record
            .operations
            .get(&m.operation)
            .and_then(|o| o.members.get(&m.member))
    }
}

/// Writes `summary.json`, `junit.xml` and `report.html` into `dir`.
pub fn write_all(dir: &Path, report: &DiffReport<'_>) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("summary.json"), json(report)?)?;
    fs::write(dir.join("junit.xml"), junit(report)?)?;
    fs::write(dir.join("report.html"), html(report))?;
    Ok(())
}

#[derive(Serialize)]
struct Summary<'a> {
    kind: &'static str,
    passed: bool,
    verdict: &'a DiffVerdict,
    record: &'a DiffRecord,
}

/// `summary.json`.
pub fn json(report: &DiffReport<'_>) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Summary {
        kind: "diff",
        passed: report.verdict.passed,
        verdict: report.verdict,
        record: report.record,
    })
}

/// The console summary, styled as `colour` says.
pub fn console(report: &DiffReport<'_>, colour: Paint) -> String {
    let (r, v) = (report.record, report.verdict);
    let mut out = String::new();
    let tone = if v.passed { Tone::Good } else { Tone::Bad };
    let word = paint(colour, tone, &passed_word(v.passed).to_uppercase());
    let _ = writeln!(out, "jobcert diff {} (run {}): {word}", r.capture, r.run_id);
    for reason in &v.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    let (notified, answered): (Vec<_>, Vec<_>) = r
        .operations
        .iter()
        .partition(|(name, _)| Operation::from_name(name).is_none());
    let sum = |tallies: Vec<(&String, &OperationTally)>| -> u64 {
        tallies.iter().map(|(_, o)| o.compared).sum()
    };
    let (compared, notifications) = (sum(answered), sum(notified));
    let _ = writeln!(
        out,
        "compared: {compared} exchanges, {notifications} notifications (window {} ms); {} device(s) quarantined ({} exchanges not compared); noise from {}",
        r.notify_window_ms,
        r.quarantined,
        r.skipped,
        if r.targets.secondary.is_some() {
            "the secondary"
        } else {
            "nothing (no --secondary)"
        }
    );
    if v.members.is_empty() {
        let _ = writeln!(out, "no member differed");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<30} {:<44} {:>6} {:>6} {:>8}  counts",
        "operation", "member", "raw", "noise", "compared"
    );
    for m in &v.members {
        let mark = if m.significant {
            paint(colour, Tone::Bad, "yes")
        } else {
            "no".to_string()
        };
        let _ = writeln!(
            out,
            "{:<30} {:<44} {:>6} {:>6} {:>8}  {mark}",
            m.operation, m.member, m.raw, m.noise, m.compared
        );
    }
    out
}

/// `junit.xml`: one case per operation and member that differed.
pub fn junit(report: &DiffReport<'_>) -> io::Result<String> {
    let mut suite = TestSuite::new("diff");
    for m in &report.verdict.members {
        let text = format!(
            "candidate differs in {} of {}, secondary in {}",
            m.raw, m.compared, m.noise
        );
        let status = if m.significant {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(text.clone()).set_type("difference");
            s
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(format!("{} {}", m.operation, m.member), status);
        case.set_classname(m.operation.as_str());
        case.set_system_out(text);
        suite.add_test_case(case);
    }
    let mut run = TestCase::new(
        "run",
        if report.record.stopped_by.is_some() || report.record.unsent > 0 {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(report.verdict.reasons.join("; "));
            s
        } else {
            TestCaseStatus::success()
        },
    );
    run.set_classname("diff");
    suite.add_test_case(run);
    let mut out = Report::new(format!("jobcert diff {}", report.record.capture));
    out.set_time(Duration::from_millis(report.record.duration_ms));
    out.add_test_suite(suite);
    out.to_string().map_err(io::Error::other)
}

/// `report.html`.
pub fn html(report: &DiffReport<'_>) -> String {
    let (r, v) = (report.record, report.verdict);
    document(
        &format!("jobcert diff {}", r.capture),
        |out| {
            writeln!(
                out,
                "<header><h1>jobcert diff {} {}</h1><p class=\"muted\">run {}; primary {}, candidate {}{}; thresholds: relative {} %, absolute {} %</p></header>",
                Esc(&r.capture),
                badge(if v.passed { "pass" } else { "fail" }),
                Esc(&r.run_id),
                Esc(&r.targets.primary.data_plane),
                Esc(&r.targets.candidate.data_plane),
                r.targets
                    .secondary
                    .as_ref()
                    .map(|s| format!(", secondary {}", Esc(&s.data_plane)))
                    .unwrap_or_default(),
                r.relative,
                r.absolute
            )
        },
        |out| {
            for reason in &v.reasons {
                writeln!(out, "<p class=\"banner\">{}</p>", Esc(reason))?;
            }
            writeln!(
                out,
                "<h2>Members</h2><table><tr><th>operation</th><th>member</th><th>raw</th><th>noise</th><th>compared</th><th>counts</th></tr>"
            )?;
            for m in &v.members {
                writeln!(
                    out,
                    "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    Esc(&m.operation),
                    Esc(&m.member),
                    m.raw,
                    m.noise,
                    m.compared,
                    badge(if m.significant { "fail" } else { "pass" })
                )?;
            }
            writeln!(out, "</table><h2>Samples</h2>")?;
            for m in v.members.iter().filter(|m| m.raw > 0) {
                let Some(tally) = report.tally(m) else {
                    continue;
                };
                writeln!(
                    out,
                    "<div class=\"case\"><h3>{} <code>{}</code></h3>",
                    Esc(&m.operation),
                    Esc(&m.member)
                )?;
                for s in &tally.samples {
                    writeln!(
                        out,
                        "<h4>line {} ({}): primary <code>{}</code>, candidate <code>{}</code>{}</h4><div class=\"pair\">",
                        s.line,
                        Esc(&s.device),
                        Esc(&s.primary.to_string()),
                        Esc(&s.candidate.to_string()),
                        s.secondary
                            .as_ref()
                            .map(|x| format!(", secondary <code>{}</code>", Esc(&x.to_string())))
                            .unwrap_or_default()
                    )?;
                    let who = ["primary", "candidate", "secondary"];
                    for (who, n) in who.iter().zip(&s.notifications) {
                        let text = n.as_ref().map_or_else(
                            || "nothing published within the window".to_string(),
                            |n| format!("{} at {} µs\n{}", n.topic, n.at_us, n.payload),
                        );
                        writeln!(out, "<div><h5>{who}</h5><pre>{}</pre></div>", Esc(&text))?;
                    }
                    for (who, e) in who.iter().zip(&s.exchanges).take(2) {
                        let answer = match &e.outcome {
                            crate::transport::Outcome::Answered(a) => {
                                format!("{} {}", a.status, a.body)
                            }
                            other => format!("{other:?}"),
                        };
                        writeln!(
                            out,
                            "<div><h5>{who}</h5><pre>{} {}\n{}</pre><pre>{}</pre></div>",
                            Esc(&e.request.method),
                            Esc(&e.request.target),
                            Esc(e.request.body.as_deref().unwrap_or("")),
                            Esc(&answer)
                        )?;
                    }
                    writeln!(out, "</div>")?;
                }
                writeln!(out, "</div>")?;
            }
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::record::differential::{Compared, MemberTally, Notified, OperationTally, Sample};
    use crate::report::kit::sample_target;
    use crate::verdict::assess_diff;
    use jobcert_contract::schemas;

    fn record() -> DiffRecord {
        let member = MemberTally {
            raw: 4,
            noise: 0,
            samples: vec![Sample {
                line: 7,
                device: "{thing:d}".into(),
                primary: json!("4xx InvalidRequestException"),
                candidate: json!("4xx ResourceNotFoundException"),
                secondary: Some(json!("4xx InvalidRequestException")),
                exchanges: Vec::new(),
                notifications: Vec::new(),
            }],
        };
        let published = Notified {
            topic: "$aws/things/t/jobs/notify-next".into(),
            payload: r#"{"timestamp":1}"#.into(),
            at_us: 1500,
        };
        let dropped = MemberTally {
            raw: 1,
            noise: 0,
            samples: vec![Sample {
                line: 9,
                device: "{thing:d}".into(),
                primary: json!({"timestamp": 1}),
                candidate: json!(null),
                secondary: Some(json!({"timestamp": 1})),
                exchanges: Vec::new(),
                notifications: vec![Some(published.clone()), None, Some(published)],
            }],
        };
        DiffRecord {
            capture: "c.jsonl".into(),
            run_id: "r1".into(),
            started_at_ms: 1,
            duration_ms: 2,
            stopped_by: None,
            targets: Compared {
                primary: sample_target(),
                candidate: sample_target(),
                secondary: None,
            },
            relative: 20.0,
            absolute: 0.03,
            notify_window_ms: 2000,
            operations: BTreeMap::from([
                (
                    "UpdateJobExecution".to_string(),
                    OperationTally {
                        compared: 10,
                        members: BTreeMap::from([("(outcome)".to_string(), member)]),
                    },
                ),
                (
                    "notify-next".to_string(),
                    OperationTally {
                        compared: 3,
                        members: BTreeMap::from([("(published)".to_string(), dropped)]),
                    },
                ),
            ]),
            quarantined: 1,
            skipped: 2,
            unsent: 0,
        }
    }

    #[test]
    fn the_summary_validates_and_every_report_names_the_difference() {
        let record = record();
        let verdict = assess_diff(&record);
        let report = DiffReport {
            record: &record,
            verdict: &verdict,
        };
        let value: serde_json::Value = serde_json::from_str(&json(&report).unwrap()).unwrap();
        let schema = schemas().get("report/diff-summary.schema.json").unwrap();
        assert_eq!(schema.violations(&value), []);
        assert_eq!(value["passed"], false);
        let text = console(&report, Paint::Plain);
        assert!(
            text.starts_with("jobcert diff c.jsonl (run r1): FAIL"),
            "{text}"
        );
        assert!(
            text.contains("UpdateJobExecution             (outcome)"),
            "{text}"
        );
        assert!(junit(&report).unwrap().contains("<failure"));
        assert!(
            text.contains("compared: 10 exchanges, 3 notifications (window 2000 ms)"),
            "{text}"
        );
        let page = html(&report);
        assert!(page.contains("4xx ResourceNotFoundException"), "{page}");
        assert!(
            page.contains("nothing published within the window"),
            "{page}"
        );
    }
}
