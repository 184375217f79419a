//! The live recorder of a fleet run: every device hands it each exchange with its findings;
//! it keeps the counts, the whole-run and per-interval histograms, and a snapshot for the
//! progress line. Intervals are cut at whole wall-clock seconds, so shards line up.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::fleet::{CONNECT, FleetRecord, Interval};
use super::latency::{LatencyBook, outcome_name};
use crate::finding::Finding;
use crate::transport::{Exchange, Outcome};

/// What the progress line shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// Data-plane requests completed.
    pub requests: u64,
    /// Of which failed the device.
    pub errors: u64,
    /// Checks broken.
    pub failed_checks: u64,
    /// p99 of data-plane latency so far, in milliseconds.
    pub p99_ms: f64,
}

struct Live {
    record: FleetRecord,
    current: LatencyBook,
    current_throttled: BTreeMap<String, u64>,
    current_connects: u64,
    current_connect_failures: u64,
    current_start_ms: u64,
    snapshot: Snapshot,
}

/// What one connection attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectAttempt {
    /// A device's first connection: it counts among the devices connected.
    Made,
    /// A connection made again after a drop.
    Remade,
    /// Failed, and the device's retry policy tries again: counted as retried, no error.
    Retried(String),
    /// Failed for good: an error of the device (`connect: …`).
    Failed(String),
}

/// Every exchange of a run, kept for a capture when asked for.
pub type Kept = std::sync::Arc<Mutex<Vec<Exchange>>>;

/// Collects a fleet run's record while devices run.
pub struct Recorder {
    live: Mutex<Live>,
    kept: Option<Kept>,
}

/// Epoch milliseconds now.
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

impl Recorder {
    /// A recorder filling `record` (whose `started_at_ms` is the run's start).
    pub fn new(record: FleetRecord) -> Self {
        let current_start_ms = record.started_at_ms;
        Self {
            live: Mutex::new(Live {
                record,
                current: LatencyBook::default(),
                current_throttled: BTreeMap::new(),
                current_connects: 0,
                current_connect_failures: 0,
                current_start_ms,
                snapshot: Snapshot::default(),
            }),
            kept: None,
        }
    }

    /// The same recorder, also keeping a copy of every exchange in `kept`.
    pub fn keeping(self, kept: Option<Kept>) -> Self {
        Self { kept, ..self }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a data-plane or control-plane exchange, its findings and the error it was to
    /// the device, if any.
    pub fn exchange(&self, exchange: &Exchange, findings: Vec<Finding>, error: Option<String>) {
        if let Some(kept) = &self.kept {
            kept.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(exchange.clone());
        }
        let latency = exchange.timing.latency_us();
        let outcome = outcome_name(&exchange.outcome);
        let mut live = self.live();
        let live = &mut *live;
        live.record.count(exchange);
        live.record
            .latency
            .record_value(&exchange.operation, outcome, latency);
        live.current
            .record_value(&exchange.operation, outcome, latency);
        live.snapshot.requests += 1;
        for f in findings {
            if !f.passed {
                live.snapshot.failed_checks += 1;
                live.record.tally(f, Some(exchange));
            } else {
                live.record.tally(f, None);
            }
        }
        if let Some(e) = error {
            live.snapshot.errors += 1;
            *live.record.errors.entry(e).or_default() += 1;
        }
        if throttled(exchange) {
            *live
                .record
                .throttled
                .entry(exchange.operation.clone())
                .or_default() += 1;
            *live
                .current_throttled
                .entry(exchange.operation.clone())
                .or_default() += 1;
        }
    }

    /// Counts an attempt of `operation` a device gave up to try again.
    pub fn retried(&self, operation: &str) {
        *self
            .live()
            .record
            .retries
            .entry(operation.to_string())
            .or_default() += 1;
    }

    /// Records a device's first connection attempt's time (`Connect`, answered or failed).
    pub fn connect(&self, latency_us: u64, failure: Option<String>) {
        self.connect_attempt(
            latency_us,
            match failure {
                Some(f) => ConnectAttempt::Failed(f),
                None => ConnectAttempt::Made,
            },
        );
    }

    /// Records a connection attempt's time (`Connect`, answered or failed) and what it came
    /// to; it counts in its interval's `connects` and `connect_failures`.
    pub fn connect_attempt(&self, latency_us: u64, attempt: ConnectAttempt) {
        let failed = matches!(
            attempt,
            ConnectAttempt::Retried(_) | ConnectAttempt::Failed(_)
        );
        let outcome = if failed { "failed" } else { "answered" };
        let mut live = self.live();
        let live = &mut *live;
        *live
            .record
            .requests
            .entry(CONNECT.into())
            .or_default()
            .entry(outcome.into())
            .or_default() += 1;
        live.record
            .latency
            .record_value(CONNECT, outcome, latency_us);
        live.current.record_value(CONNECT, outcome, latency_us);
        live.current_connects += 1;
        live.current_connect_failures += u64::from(failed);
        match attempt {
            ConnectAttempt::Failed(f) => {
                *live
                    .record
                    .errors
                    .entry(format!("connect: {f}"))
                    .or_default() += 1;
                live.snapshot.errors += 1;
            }
            ConnectAttempt::Retried(_) => {
                *live.record.retries.entry(CONNECT.into()).or_default() += 1;
            }
            ConnectAttempt::Made => live.record.connected += 1,
            ConnectAttempt::Remade => {}
        }
    }

    /// Records how late a scheduled request went out (its send time after its intended time).
    pub fn lateness(&self, exchange: &Exchange) {
        let t = exchange.timing;
        self.live().record.schedule.lateness.record_value(
            &exchange.operation,
            outcome_name(&exchange.outcome),
            t.sent_us.saturating_sub(t.intended_us),
        );
    }

    /// Records how long a listening device took from a `notify-next` to its start-next
    /// (`exchange`), heard at `heard_us` (µs since the run started).
    pub fn notice_to_start(&self, exchange: &Exchange, heard_us: u64) {
        self.live().record.notice_to_start.record_value(
            &exchange.operation,
            outcome_name(&exchange.outcome),
            exchange.timing.sent_us.saturating_sub(heard_us).max(1),
        );
    }

    /// Records the final status of an execution.
    pub fn status(&self, status: &str) {
        *self
            .live()
            .record
            .statuses
            .entry(status.into())
            .or_default() += 1;
    }

    /// Applies `change` to the record (for counts the driver keeps: jobs, schedule).
    pub fn update(&self, change: impl FnOnce(&mut FleetRecord)) {
        change(&mut self.live().record);
    }

    /// Closes the current interval at `now_ms` and opens the next.
    pub fn rotate(&self, now_ms: u64) {
        let mut live = self.live();
        let live = &mut *live;
        if now_ms <= live.current_start_ms {
            return;
        }
        let latency = std::mem::take(&mut live.current);
        live.record.intervals.push(Interval {
            start_ms: live.current_start_ms,
            length_ms: now_ms - live.current_start_ms,
            latency,
            throttled: std::mem::take(&mut live.current_throttled),
            connects: std::mem::take(&mut live.current_connects),
            connect_failures: std::mem::take(&mut live.current_connect_failures),
        });
        live.current_start_ms = now_ms;
        let all = live
            .record
            .latency
            .combined(|k| jobcert_contract::Operation::from_name(&k.operation).is_some());
        live.snapshot.p99_ms = all.value_at_quantile(0.99) as f64 / 1000.0;
    }

    /// What the progress line shows.
    pub fn snapshot(&self) -> Snapshot {
        self.live().snapshot
    }

    /// The record so far, with the current interval closed.
    pub fn finish(&self) -> FleetRecord {
        let end = epoch_ms();
        self.rotate(end);
        let mut record = self.live().record.clone();
        record.duration_ms = end.saturating_sub(record.started_at_ms);
        record
    }
}

/// Whether the target throttled `exchange`: HTTP 429, or an MQTT rejection whose code
/// `errors.json` files under 429 (`RequestThrottled`).
fn throttled(exchange: &Exchange) -> bool {
    matches!(&exchange.outcome, Outcome::Answered(r) if r.status_class() == 429)
}
