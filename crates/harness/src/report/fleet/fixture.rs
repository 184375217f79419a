//! A small fleet run for the report tests: three one-second intervals that cover the run, two
//! data-plane operations (one with timeouts) and a control-plane one, a failing latency threshold,
//! a failing requirement whose example answered a hostile body, and a warned one.

use std::collections::BTreeMap;

use crate::finding::{Finding, Profile};
use crate::record::{FleetRecord, Handshakes, Interval, LatencyBook, Memory, Schedule, Shard};
use crate::scenario::fleet::{Bound, LatencyThreshold, Thresholds};
use crate::transport::{Exchange, Outcome, Timing, WireRequest, WireResponse};
use crate::verdict::fleet::{FleetVerdict, assess_fleet};
use jobcert_contract::req;

/// Start of the sample run, epoch milliseconds.
pub const STARTED_AT_MS: u64 = 1_700_000_000_000;

/// What completed in interval `i` (0, 1, 2): operation, outcome, latency in µs.
fn completions(i: u64) -> Vec<(&'static str, &'static str, u64)> {
    let mut out = Vec::new();
    for n in 0..10 + 2 * i {
        out.push((
            "StartNextPendingJobExecution",
            "answered",
            800 + 150 * n + 500 * i,
        ));
    }
    for n in 0..5 {
        out.push(("UpdateJobExecution", "answered", 1_200 + 300 * n));
    }
    if i > 0 {
        out.push(("UpdateJobExecution", "timeout", 5_000_000));
    } else {
        out.push(("CreateJob", "answered", 40_000));
        out.push(("CreateJob", "answered", 45_000));
    }
    out
}

fn intervals() -> Vec<Interval> {
    (0..3)
        .map(|i| {
            let mut latency = LatencyBook::default();
            for (op, outcome, us) in completions(i) {
                latency.record_value(op, outcome, us);
            }
            Interval {
                start_ms: STARTED_AT_MS + 1000 * i,
                length_ms: 1000,
                latency,
                // The target throttles two updates in the second second.
                throttled: if i == 1 {
                    BTreeMap::from([("UpdateJobExecution".into(), 2)])
                } else {
                    BTreeMap::new()
                },
                // Two devices connect in the first second, one of them at the second try.
                connects: if i == 0 { 3 } else { 0 },
                connect_failures: u64::from(i == 0),
            }
        })
        .collect()
}

/// The failing example: an answer with a hostile body to a redacted, signed request.
pub fn hostile_exchange() -> Exchange {
    Exchange {
        seq: 17,
        context: "device-3".into(),
        operation: "StartNextPendingJobExecution".into(),
        request: WireRequest {
            transport: "http".into(),
            method: "PUT".into(),
            endpoint: "http://127.0.0.1:9080".into(),
            target: "/things/device-3/jobs/$next".into(),
            headers: vec![("authorization".into(), "***".into())],
            body: Some(r#"{"stepTimeoutInMinutes":5}"#.into()),
        },
        outcome: Outcome::Answered(WireResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: r#"{"execution":"<script>alert(1)</script>"}"#.into(),
            truncated: false,
        }),
        timing: Timing {
            intended_us: 1_000,
            sent_us: 1_000,
            done_us: 2_500,
        },
    }
}

fn thresholds() -> Thresholds {
    Thresholds {
        latency: vec![
            LatencyThreshold {
                operation: "StartNextPendingJobExecution".into(),
                percentile: 99.0,
                max_ms: 250.0,
            },
            LatencyThreshold {
                operation: "UpdateJobExecution".into(),
                percentile: 99.0,
                max_ms: 100.0,
            },
        ],
        error_rate: Some(Bound {
            min: None,
            max: Some(0.5),
        }),
        timed_out: None,
        achieved_rate: None,
        rollout: None,
        abort: None,
    }
}

fn tally_findings(record: &mut FleetRecord) {
    for _ in 0..30 {
        record.tally(Finding::pass(req::SN_START, "started", None), None);
        record.tally(Finding::pass(req::SN_DOCUMENT, "document", None), None);
    }
    let example = hostile_exchange();
    for _ in 0..2 {
        let finding = Finding::fail(
            req::SN_START,
            "execution is not an object",
            Some(example.seq),
        );
        record.tally(finding, Some(&example));
    }
    for _ in 0..3 {
        record.tally(
            Finding::pass(req::SN_IN_PROGRESS_UNTOUCHED, "kept", None),
            None,
        );
    }
    record.tally(
        Finding::fail(req::SN_IN_PROGRESS_UNTOUCHED, "version bumped", None),
        None,
    );
}

/// The sample record and its verdict (it fails: the UpdateJobExecution p99 and SN-START).
pub fn sample() -> (FleetRecord, FleetVerdict) {
    let intervals = intervals();
    let mut latency = LatencyBook::default();
    let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for interval in &intervals {
        latency.merge(&interval.latency);
        for (key, h) in interval.latency.histograms() {
            *requests
                .entry(key.operation.clone())
                .or_default()
                .entry(key.outcome.clone())
                .or_default() += h.len();
        }
    }
    let mut record = FleetRecord {
        scenario: "smoke & soak".into(),
        run_id: "f-1a2b".into(),
        shards: vec![Shard::WHOLE],
        started_at_ms: STARTED_AT_MS,
        duration_ms: 3_000,
        partial: false,
        stopped_by: None,
        target: crate::report::kit::sample_target(),
        devices: 10,
        connected: 9,
        jobs: 2,
        requests,
        statuses: BTreeMap::from([("SUCCEEDED".into(), 20), ("TIMED_OUT".into(), 2)]),
        throttled: BTreeMap::from([("UpdateJobExecution".into(), 2)]),
        retries: BTreeMap::from([("UpdateJobExecution".into(), 2)]),
        errors: BTreeMap::from([("timeout".into(), 2)]),
        findings: BTreeMap::new(),
        schedule: Schedule {
            target_rate: Some(10.0),
            intended: 30,
            started: 30,
            late: 1,
            max_lateness_us: 12_500,
            seconds: 3.0,
            queued: 0,
            lateness: {
                let mut late = LatencyBook::default();
                late.record_value("StartNextPendingJobExecution", "answered", 300);
                late.record_value("StartNextPendingJobExecution", "answered", 12_500);
                late
            },
        },
        latency,
        intervals,
        thresholds: thresholds(),
        profile: Profile::Aws,
        memory: Some(Memory {
            baseline_kib: 20_480,
            peak_kib: 65_536,
        }),
        replay: None,
        notice_to_start: LatencyBook::default(),
        handshakes: Some(Handshakes {
            count: 40,
            ramp_ms: 2000,
            process_cpu_ms: Some(120),
        }),
        rollout: None,
    };
    tally_findings(&mut record);
    let verdict = assess_fleet(&record);
    (record, verdict)
}
