//! What the fleet reports say of a rollout of `jobs`: per job, the time until every thing it
//! targeted was notified, started and finished, an abort's time and reach, the executions the
//! job's retries added, the late joiners, and (in `report.html`) its executions by status
//! minute by minute.

use std::fmt::{self, Write};

use super::chart;
use crate::record::{FleetRecord, JobRollout};
use crate::report::kit::Esc;

/// Statuses charted minute by minute, in the order of their lines.
const CHARTED: [&str; 7] = [
    "QUEUED",
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "REJECTED",
    "TIMED_OUT",
    "CANCELED",
];

/// `s` seconds in minutes, or `-` when not every thing got there.
fn minutes(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), |s| format!("{:.1} min", s / 60.0))
}

/// One line per fact of `job`.
fn job_lines(job: &JobRollout) -> Vec<String> {
    let status = job.status.as_deref().unwrap_or("(never described)");
    let mut lines = vec![format!(
        "job {}: {status}, {} things targeted, {} started it; all notified {}, started {}, finished {}",
        job.name,
        job.targeted,
        job.devices_started,
        minutes(job.until_all_notified_s),
        minutes(job.until_all_started_s),
        minutes(job.until_all_finished_s),
    )];
    if let Some(a) = &job.abort {
        lines.push(format!(
            "  aborted after {}: {} devices had started it, {} executions canceled{}",
            minutes(Some(a.after_s)),
            a.devices_started,
            a.canceled,
            job.reason_code
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    let extra = job.executions_started.saturating_sub(job.devices_started);
    if extra > 0 {
        lines.push(format!(
            "  its retry configuration made {extra} more executions that devices started"
        ));
    }
    if let Some(j) = &job.joiners {
        lines.push(format!(
            "  {} things joined its groups during the run; {} of them started it",
            j.joined, j.started
        ));
    }
    lines
}

/// The console's rollout lines, none without a rollout of `jobs`.
pub(super) fn lines(record: &FleetRecord) -> Vec<String> {
    let Some(rollout) = &record.rollout else {
        return Vec::new();
    };
    let mut out: Vec<String> = rollout.jobs.iter().flat_map(job_lines).collect();
    if rollout.describe_failures > 0 {
        out.push(format!(
            "{} DescribeJob calls of the watch got no usable answer",
            rollout.describe_failures
        ));
    }
    out
}

/// The `report.html` section: the facts of every job, and its executions by status per
/// minute as a chart.
pub(super) fn section(out: &mut String, record: &FleetRecord) -> fmt::Result {
    let Some(rollout) = &record.rollout else {
        return Ok(());
    };
    writeln!(
        out,
        r#"<section id="rollout"><h2>Rollout</h2><p class="muted">Times from each job's <code>createdAt</code>, on the target's clock: notified and started from the <code>queuedAt</code> and <code>startedAt</code> of the executions devices started; statuses from DescribeJob's counts.</p>"#
    )?;
    for (i, job) in rollout.jobs.iter().enumerate() {
        writeln!(out, "<h3>{}</h3><ul>", Esc(&job.job_id))?;
        for line in job_lines(job) {
            writeln!(out, "<li>{}</li>", Esc(line.trim()))?;
        }
        writeln!(out, "</ul>")?;
        let series: Vec<(&str, Vec<(f64, f64)>)> = CHARTED
            .iter()
            .map(|status| {
                let points = job
                    .minutes
                    .iter()
                    .map(|m| {
                        let n = m.counts.get(*status).copied().unwrap_or(0);
                        (m.minute as f64, n as f64)
                    })
                    .collect();
                (*status, points)
            })
            .filter(|(_, p): &(&str, Vec<(f64, f64)>)| p.iter().any(|(_, n)| *n > 0.0))
            .collect();
        if !series.is_empty() {
            let title = format!("Executions of {} by status, minute by minute", job.job_id);
            chart::minute_lines(out, &format!("rollout-{i}"), &title, &series)?;
        }
    }
    writeln!(out, "</section>")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::record::{AbortFigures, RolloutRecord, StatusSample};

    fn aborted() -> JobRollout {
        JobRollout {
            name: "bad".into(),
            job_id: "r-bad".into(),
            aborts: true,
            status: Some("CANCELED".into()),
            targeted: 1000,
            devices_started: 120,
            executions_started: 125,
            minutes: vec![StatusSample {
                minute: 1,
                counts: BTreeMap::from([("FAILED".to_string(), 12)]),
            }],
            abort: Some(AbortFigures {
                after_s: 150.0,
                devices_started: 120,
                canceled: 30,
            }),
            ..JobRollout::default()
        }
    }

    #[test]
    fn an_abort_says_when_and_how_far_the_job_got() {
        let text = job_lines(&aborted()).join("\n");
        assert!(text.contains("job bad: CANCELED, 1000 things targeted, 120 started it"));
        assert!(text.contains("all notified -"), "{text}");
        assert!(text.contains("aborted after 2.5 min: 120 devices had started it, 30"));
        assert!(text.contains("made 5 more executions"), "{text}");
    }

    #[test]
    fn the_section_charts_only_statuses_that_occurred() {
        let record = FleetRecord {
            rollout: Some(RolloutRecord {
                jobs: vec![aborted()],
                describe_failures: 0,
            }),
            ..crate::report::fleet::fixture::sample().0
        };
        let mut html = String::new();
        section(&mut html, &record).unwrap();
        assert!(html.contains(r#"<svg id="rollout-0""#), "{html}");
        assert!(html.contains(">FAILED</text>") && !html.contains(">QUEUED</text>"));
        assert!(
            lines(&FleetRecord {
                rollout: None,
                ..record
            })
            .is_empty()
        );
    }
}
