//! Reports of a fleet run: `summary.json` (schema in
//! `schemas/report/fleet-summary.schema.json`), `junit.xml`, `report.html`, the HdrHistogram
//! interval log `latency.hlog`, one `.hgrm` file per latency histogram, and the console summary.
//! They read the record and its verdict; they judge nothing.

mod chart;
mod console;
#[cfg(test)]
mod fixture;
mod hlog;
mod html;
mod junit;
mod rollout;
mod summary;

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

pub use console::console;
pub use summary::{ReadError, read_record};

use super::{file_part, unanswered};
use crate::record::{CONNECT, FleetRecord, Handshakes, LatencyKey, Shard, hgrm};
use crate::transport::{Exchange, Outcome, redact};
use crate::verdict::fleet::FleetVerdict;

/// What the fleet reports need.
#[derive(Debug, Clone, Copy)]
pub struct FleetReport<'a> {
    /// The run's record (one shard, or several merged).
    pub record: &'a FleetRecord,
    /// Its verdict.
    pub verdict: &'a FleetVerdict,
}

/// Writes summary.json, junit.xml, report.html, latency.hlog and one
/// `<operation>.<outcome>.hgrm` per whole-run histogram into `dir` (created if missing).
pub fn write_all(dir: &Path, report: &FleetReport<'_>) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("summary.json"), summary::json(report)?)?;
    fs::write(dir.join("junit.xml"), junit::xml(report)?)?;
    fs::write(dir.join("report.html"), html::page(report))?;
    fs::write(dir.join("latency.hlog"), hlog::log(report.record)?)?;
    for (key, h) in report.record.latency.histograms() {
        fs::write(dir.join(format!("{}.hgrm", key_name(key))), hgrm(h))?;
    }
    Ok(())
}

/// `<operation>.<outcome>` with only file-name-safe characters: the `.hgrm` file stem and the
/// interval log tag of a histogram.
fn key_name(key: &LatencyKey) -> String {
    format!("{}.{}", file_part(&key.operation), file_part(&key.outcome))
}

/// The latency of one operation and outcome over the whole run, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Stat {
    operation: String,
    outcome: String,
    count: u64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// One row per whole-run histogram, in key order.
fn stats(record: &FleetRecord) -> Vec<Stat> {
    record
        .latency
        .histograms()
        .map(|(key, h)| Stat {
            operation: key.operation.clone(),
            outcome: key.outcome.clone(),
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
        .collect()
}

/// Data-plane requests over the run's wall time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Throughput {
    requests: u64,
    seconds: f64,
    /// `None` when the run took no time.
    per_second: Option<f64>,
}

fn throughput(record: &FleetRecord) -> Throughput {
    let requests = record.data_requests();
    let seconds = record.duration_ms as f64 / 1000.0;
    Throughput {
        requests,
        seconds,
        per_second: (seconds > 0.0).then(|| requests as f64 / seconds),
    }
}

/// A measured number for people: whole numbers as such, others with a few decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let text = if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.5}")
    };
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The cost of a TLS connect ramp, e.g. `40 handshakes in 2 s, 20.0/s; 3.00 ms of CPU per
/// handshake (the whole harness process's CPU time over the ramp)`.
fn handshakes_text(h: &Handshakes) -> String {
    let rate = h
        .per_second()
        .map_or_else(|| "-".to_string(), |r| format!("{r:.1}/s"));
    let cpu = h.cpu_ms_each().map_or_else(
        || "CPU per handshake unknown".to_string(),
        |ms| {
            format!(
                "{ms:.2} ms of CPU per handshake (the whole harness process's CPU time over \
                 the ramp)"
            )
        },
    );
    format!(
        "{} handshakes in {} s, {rate}; {cpu}",
        h.count,
        number(h.ramp_ms as f64 / 1000.0)
    )
}

/// Throttles and retries, e.g. `UpdateJobExecution 12 (at most 5 in one second); 12 attempts
/// retried (UpdateJobExecution 12)`; `None` when the target throttled nothing and nothing was
/// retried.
fn throttles_text(record: &FleetRecord) -> Option<String> {
    if record.throttled.is_empty() && record.retries.is_empty() {
        return None;
    }
    let by_operation = |counts: &std::collections::BTreeMap<String, u64>| {
        counts
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let peak = record
        .intervals
        .iter()
        .map(|i| i.throttled.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    let throttled = if record.throttled.is_empty() {
        "none throttled".to_string()
    } else {
        format!(
            "{} (at most {peak} in one second)",
            by_operation(&record.throttled)
        )
    };
    let retries: u64 = record.retries.values().sum();
    let retried = if retries == 0 {
        "no attempt retried".to_string()
    } else {
        format!(
            "{retries} attempts retried ({})",
            by_operation(&record.retries)
        )
    };
    Some(format!("{throttled}; {retried}"))
}

/// Connection attempts when there were more than first connections (reconnections after a
/// drop, failures, retries), e.g. `230 attempts, 12 failed, 5 retried; at most 118 in one
/// second (12 failed), 4 s after the start`; `None` otherwise.
fn connects_text(record: &FleetRecord) -> Option<String> {
    let attempts: u64 = record.intervals.iter().map(|i| i.connects).sum();
    if attempts <= record.connected {
        return None;
    }
    let failed: u64 = record.intervals.iter().map(|i| i.connect_failures).sum();
    let retried = record.retries.get(CONNECT).copied().unwrap_or(0);
    let peak = record
        .intervals
        .iter()
        .max_by_key(|i| (i.connects, std::cmp::Reverse(i.start_ms)))?;
    Some(format!(
        "{attempts} attempts, {failed} failed, {retried} retried; at most {} in one second ({} failed), {} s after the start",
        peak.connects,
        peak.connect_failures,
        peak.start_ms.saturating_sub(record.started_at_ms) / 1000
    ))
}

/// The shards a record holds, e.g. `0/4, 2/4`, or `whole run`.
fn shards_text(shards: &[Shard]) -> String {
    if shards == [Shard::WHOLE] {
        return "whole run".into();
    }
    let list: Vec<String> = shards
        .iter()
        .map(|s| format!("{}/{}", s.index, s.count))
        .collect();
    list.join(", ")
}

/// An exchange as text: the request line, headers (secrets masked) and body, then the answer's
/// status, headers and body, or why there was none.
fn evidence(e: &Exchange) -> String {
    let r = &e.request;
    let mut lines = vec![format!(
        "exchange #{} {} ({})",
        e.seq, e.operation, e.context
    )];
    lines.push(if r.method.is_empty() {
        format!("> {} {}", r.transport, r.target)
    } else {
        format!("> {} {}{}", r.method, r.endpoint, r.target)
    });
    lines.extend(header_lines('>', &r.headers));
    if let Some(body) = &r.body {
        lines.push(format!("> {}", super::cut_body(body)));
    }
    match &e.outcome {
        Outcome::Answered(resp) => {
            lines.push(match resp.status {
                0 => "< answer".to_string(),
                status => format!("< {status}"),
            });
            lines.extend(header_lines('<', &resp.headers));
            lines.push(format!("< {}", super::cut_body(&resp.body)));
        }
        other => lines.push(format!("< {}", unanswered(other).unwrap_or_default())),
    }
    lines.join("\n")
}

/// Headers one per line after `mark`, secret values masked even if the record was not redacted.
fn header_lines(mark: char, headers: &[(String, String)]) -> impl Iterator<Item = String> {
    redact(headers.iter().cloned())
        .into_iter()
        .map(move |(k, v)| format!("{mark} {k}: {v}"))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case(
        Handshakes { count: 40, ramp_ms: 2000, process_cpu_ms: Some(120) },
        "40 handshakes in 2 s, 20.0/s; 3.00 ms of CPU per handshake (the whole harness process's"
    )]
    #[case(
        Handshakes { count: 3, ramp_ms: 1500, process_cpu_ms: None },
        "3 handshakes in 1.5 s, 2.0/s; CPU per handshake unknown"
    )]
    #[case(
        Handshakes { count: 0, ramp_ms: 0, process_cpu_ms: Some(10) },
        "0 handshakes in 0 s, -; CPU per handshake unknown"
    )]
    fn handshake_costs_read_as_rates(#[case] h: Handshakes, #[case] starts: &str) {
        let text = handshakes_text(&h);
        assert!(text.starts_with(starts), "{text}");
    }

    #[test]
    fn throttles_read_by_operation_with_the_busiest_second() {
        let (mut record, _) = fixture::sample();
        assert_eq!(
            throttles_text(&record).as_deref(),
            Some(
                "UpdateJobExecution 2 (at most 2 in one second); 2 attempts retried \
                 (UpdateJobExecution 2)"
            )
        );
        record.retries.clear();
        assert_eq!(
            throttles_text(&record).as_deref(),
            Some("UpdateJobExecution 2 (at most 2 in one second); no attempt retried")
        );
        record.throttled.clear();
        assert_eq!(throttles_text(&record), None);
    }

    /// The sample's first second has 3 connection attempts, one failed: they are told only
    /// when there were more attempts than devices connected.
    #[rstest]
    #[case(9, 0, None)]
    #[case(3, 0, None)]
    #[case(
        2,
        1,
        Some(
            "3 attempts, 1 failed, 1 retried; at most 3 in one second (1 failed), 0 s after the start"
        )
    )]
    fn connects_are_told_when_devices_connected_more_than_once(
        #[case] connected: u64,
        #[case] retried: u64,
        #[case] text: Option<&str>,
    ) {
        let (mut record, _) = fixture::sample();
        record.connected = connected;
        if retried > 0 {
            record.retries.insert(CONNECT.into(), retried);
        }
        assert_eq!(connects_text(&record).as_deref(), text);
    }

    #[test]
    fn write_all_writes_every_file() {
        let (record, verdict) = fixture::sample();
        let report = FleetReport {
            record: &record,
            verdict: &verdict,
        };
        let dir = std::env::temp_dir().join(format!("jobcert-fleet-{}", uuid::Uuid::new_v4()));
        write_all(&dir, &report).unwrap();
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "CreateJob.answered.hgrm",
                "StartNextPendingJobExecution.answered.hgrm",
                "UpdateJobExecution.answered.hgrm",
                "UpdateJobExecution.timeout.hgrm",
                "junit.xml",
                "latency.hlog",
                "report.html",
                "summary.json",
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stats_and_throughput_read_the_record() {
        let (record, _) = fixture::sample();
        let rows = stats(&record);
        assert_eq!(rows.len(), 4);
        let update = &rows[3];
        assert_eq!(
            (update.operation.as_str(), update.outcome.as_str()),
            ("UpdateJobExecution", "timeout")
        );
        assert_eq!(update.count, 2);
        assert!((update.max_ms - 5000.0).abs() < 5.0);
        let t = throughput(&record);
        assert_eq!(t.requests, record.data_requests());
        assert_eq!(t.seconds, 3.0);
        assert_eq!(t.per_second, Some(t.requests as f64 / 3.0));
    }

    #[test]
    fn numbers_and_bodies_are_shortened() {
        assert_eq!(number(250.0), "250");
        assert_eq!(number(12.34567), "12.346");
        assert_eq!(number(0.0125), "0.0125");
        let body = "é".repeat(crate::report::BODY_LIMIT);
        assert!(
            crate::report::cut_body(&body).ends_with(&format!("… ({} bytes in all)", body.len()))
        );
    }

    #[test]
    fn evidence_shows_both_sides_with_secrets_masked() {
        let mut e = fixture::hostile_exchange();
        e.request.headers = vec![("Authorization".into(), "AWS4-HMAC-SHA256 AKIDSECRET".into())];
        let text = evidence(&e);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "exchange #17 StartNextPendingJobExecution (device-3)"
        );
        assert_eq!(
            lines[1],
            "> PUT http://127.0.0.1:9080/things/device-3/jobs/$next"
        );
        assert_eq!(lines[2], "> Authorization: ***");
        assert!(lines.contains(&"< 200"));
        assert!(!text.contains("AKIDSECRET"));
        e.outcome = Outcome::Timeout { deadline_ms: 5000 };
        assert!(evidence(&e).ends_with("< no answer within 5000 ms"));
    }

    #[test]
    fn a_record_naming_an_id_the_catalogue_does_not_know_fails_with_its_reason() {
        use crate::finding::Severity;
        use crate::record::Tally;
        use crate::verdict::fleet::assess_fleet;

        let (mut record, before) = fixture::sample();
        record.findings.insert(
            "SN-NO-SUCH-THING".into(),
            Tally {
                passed: 4,
                failed: 0,
                examples: Vec::new(),
            },
        );
        let verdict = assess_fleet(&record);
        let unknown = verdict
            .conformance
            .iter()
            .find(|c| c.requirement == "SN-NO-SUCH-THING")
            .expect("listed");
        assert_eq!(unknown.severity, Severity::Failure);
        assert!(!verdict.passed);
        assert!(
            verdict.reasons.contains(
                &"unknown requirement ID SN-NO-SUCH-THING: its 4 checks cannot be weighed"
                    .to_string()
            ),
            "{:#?}",
            verdict.reasons
        );
        // Everything else is weighed as before.
        for c in &before.conformance {
            assert!(verdict.conformance.contains(c), "{c:?}");
        }
        for r in &before.reasons {
            assert!(verdict.reasons.contains(r), "{r}");
        }
    }
}
