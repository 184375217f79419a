//! The record of a fleet run: latency histograms (whole run and per interval), counts of
//! outcomes, statuses and errors, the tally of every check, and how well the schedule was kept.
//! It is what `summary.json` carries, so shard records merge exactly into one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::latency::{LatencyBook, outcome_name};
use super::replay::ReplayTally;
use super::run::TargetInfo;
use crate::finding::Finding;
use crate::scenario::fleet::Thresholds;
use crate::transport::Exchange;

/// The pseudo-operation connection attempts are counted under.
pub const CONNECT: &str = "Connect";
/// The prefix of the error classes of seeding calls.
pub const SETUP_ERROR: &str = "setup:";

/// Failure examples kept per requirement.
pub const EXAMPLES_KEPT: usize = 5;

/// Which part of a sharded run a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// The whole run, unsharded.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` (0 ≤ K < N).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("a shard is K/N, not {text:?}"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index {k:?}"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count {n:?}"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index counts from 0 to N-1"
            ));
        }
        Ok(Self { index, count })
    }

    /// Whether block `block` belongs to this shard.
    pub fn owns(&self, block: u64) -> bool {
        block % u64::from(self.count) == u64::from(self.index)
    }
}

/// Passes and failures of one requirement, with the first failures as examples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Checks met.
    pub passed: u64,
    /// Checks broken.
    pub failed: u64,
    /// The first broken checks, with the exchange each is about.
    pub examples: Vec<Example>,
}

/// A broken check and its exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The finding.
    pub finding: Finding,
    /// The exchange it cites.
    pub exchange: Option<Exchange>,
}

/// How well an open-loop schedule was kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Cycles per second the load model asked for, over the run (open loop only).
    pub target_rate: Option<f64>,
    /// Cycles the schedule called for.
    pub intended: u64,
    /// Cycles that started.
    pub started: u64,
    /// Cycles that started more than the lateness allowance after their intended time.
    pub late: u64,
    /// Largest lateness, in microseconds.
    pub max_lateness_us: u64,
    /// Seconds the schedule ran.
    pub seconds: f64,
    /// Requests that found every sending slot taken and waited for one (counted, never hidden).
    #[serde(default)]
    pub queued: u64,
    /// How late each scheduled request went out (actual − intended send time), by operation
    /// and outcome; one on time counts as 1 µs. Filled by open loops and replays.
    #[serde(default, skip_serializing_if = "LatencyBook::is_empty")]
    pub lateness: LatencyBook,
}

/// One interval's histograms (completions within it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interval {
    /// Start, epoch milliseconds.
    pub start_ms: u64,
    /// Length, in milliseconds.
    pub length_ms: u64,
    /// Latency of what completed in it.
    pub latency: LatencyBook,
    /// Requests the target throttled in it, by operation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttled: BTreeMap<String, u64>,
    /// Connection attempts that ended in it (first connections, retries and reconnections).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connects: u64,
    /// Of which failed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connect_failures: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A fleet run's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetRecord {
    /// Scenario name.
    pub scenario: String,
    /// Run id (shared by every shard of one run).
    pub run_id: String,
    /// The shards this record holds (one, or all of them once merged).
    pub shards: Vec<Shard>,
    /// Start, epoch milliseconds.
    pub started_at_ms: u64,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// Whether the run stopped early (interrupted or out of time).
    pub partial: bool,
    /// Why, when partial.
    pub stopped_by: Option<String>,
    /// What was tested.
    pub target: TargetInfo,
    /// Devices simulated.
    pub devices: u64,
    /// Devices that connected.
    pub connected: u64,
    /// Jobs created.
    pub jobs: u64,
    /// Requests by operation and outcome (`answered`, `timeout`, `failed`).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Final execution statuses the devices saw (SUCCEEDED, FAILED, REJECTED, TIMED_OUT).
    pub statuses: BTreeMap<String, u64>,
    /// Requests the target throttled (429, MQTT `RequestThrottled`), by operation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttled: BTreeMap<String, u64>,
    /// Attempts devices gave up to try again, by their retry policy, by operation (connection
    /// attempts under `Connect`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retries: BTreeMap<String, u64>,
    /// What failed a device, by class: data-plane requests (`timeout`, `failed:reset`, an
    /// unexpected error type, `garbled`), connections (`connect: …`), and the seeding calls
    /// (`setup:CreateThing`, `setup:CreateJob`).
    pub errors: BTreeMap<String, u64>,
    /// Checks by requirement.
    pub findings: BTreeMap<String, Tally>,
    /// The schedule's keeping.
    pub schedule: Schedule,
    /// Latency over the whole run.
    pub latency: LatencyBook,
    /// Latency per interval.
    pub intervals: Vec<Interval>,
    /// The thresholds the verdict is judged by.
    pub thresholds: Thresholds,
    /// The profile findings are weighed under.
    pub profile: crate::finding::Profile,
    /// Resident memory of the harness process: before the devices started, and at its peak,
    /// in KiB (summed over shards once merged; absent off Linux).
    pub memory: Option<Memory>,
    /// For a replay: how much of the capture was played and where answers departed from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayTally>,
    /// How long listening devices took from hearing a `notify-next` that named an execution to
    /// sending their start-next, in microseconds, by the start-next's outcome; empty when no
    /// device listens.
    #[serde(default, skip_serializing_if = "LatencyBook::is_empty")]
    pub notice_to_start: LatencyBook,
    /// What bringing the devices online over TLS cost; absent when their connections are not
    /// TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshakes: Option<Handshakes>,
    /// For a rollout of `jobs`: each job's pace, statuses by minute and abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::RolloutRecord>,
}

/// The cost of the connect ramp over TLS: connections made (each with its own handshake),
/// how long the ramp took, and the CPU time the harness process spent meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshakes {
    /// Connections made, each with its TLS handshake (failed attempts are not counted).
    pub count: u64,
    /// Wall time from the first connection attempt to the last one's end, ms.
    pub ramp_ms: u64,
    /// CPU time (user and system) of the whole harness process over the ramp, ms: the
    /// handshakes, and the work of the devices already online; absent off Linux.
    pub process_cpu_ms: Option<u64>,
}

impl Handshakes {
    /// Handshakes per second of the ramp.
    pub fn per_second(&self) -> Option<f64> {
        (self.ramp_ms > 0).then(|| self.count as f64 * 1000.0 / self.ramp_ms as f64)
    }

    /// Process CPU time per handshake, ms.
    pub fn cpu_ms_each(&self) -> Option<f64> {
        self.process_cpu_ms
            .filter(|_| self.count > 0)
            .map(|cpu| cpu as f64 / self.count as f64)
    }

    /// The ramps of shards run side by side, as one: handshakes and CPU time add up, the ramp
    /// lasts as long as the longest.
    fn merge(self, other: Self) -> Self {
        Self {
            count: self.count + other.count,
            ramp_ms: self.ramp_ms.max(other.ramp_ms),
            process_cpu_ms: self
                .process_cpu_ms
                .zip(other.process_cpu_ms)
                .map(|(a, b)| a + b),
        }
    }
}

/// The harness process's resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Before any device existed.
    pub baseline_kib: u64,
    /// Peak (VmHWM).
    pub peak_kib: u64,
}

impl FleetRecord {
    /// The empty record of shard `shard` of run `run_id` of `scenario` against `target`, with
    /// `devices` devices, starting now.
    pub fn starting(
        (scenario, run_id): (&str, &str),
        shard: Shard,
        target: TargetInfo,
        devices: u64,
        (thresholds, profile): (Thresholds, crate::finding::Profile),
    ) -> Self {
        Self {
            scenario: scenario.to_string(),
            run_id: run_id.to_string(),
            shards: vec![shard],
            started_at_ms: super::epoch_ms(),
            duration_ms: 0,
            partial: false,
            stopped_by: None,
            target,
            devices,
            connected: 0,
            jobs: 0,
            requests: BTreeMap::new(),
            statuses: BTreeMap::new(),
            throttled: BTreeMap::new(),
            retries: BTreeMap::new(),
            errors: BTreeMap::new(),
            findings: BTreeMap::new(),
            schedule: Schedule::default(),
            latency: LatencyBook::default(),
            intervals: Vec::new(),
            thresholds,
            profile,
            memory: None,
            replay: None,
            notice_to_start: LatencyBook::default(),
            handshakes: None,
            rollout: None,
        }
    }

    /// Data-plane requests sent.
    pub fn data_requests(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(op, _)| jobcert_contract::Operation::from_name(op).is_some())
            .flat_map(|(_, by)| by.values())
            .sum()
    }

    /// Connection attempts.
    pub fn connects(&self) -> u64 {
        self.requests.get(CONNECT).map_or(0, |by| by.values().sum())
    }

    /// Data-plane requests and connection attempts that failed a device (the seeding calls,
    /// whose failure ends the run, are not counted).
    pub fn error_count(&self) -> u64 {
        self.errors
            .iter()
            .filter(|(k, _)| !k.starts_with(SETUP_ERROR))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds `finding` (and, when it fails, its exchange as an example).
    pub fn tally(&mut self, finding: Finding, exchange: Option<&Exchange>) {
        // Looked up by reference first: this runs for every check of a fleet.
        if !self.findings.contains_key(finding.requirement.as_str()) {
            self.findings
                .insert(finding.requirement.to_string(), Tally::default());
        }
        let tally = self
            .findings
            .get_mut(finding.requirement.as_str())
            .expect("inserted above");
        if finding.passed {
            tally.passed += 1;
        } else {
            tally.failed += 1;
            if tally.examples.len() < EXAMPLES_KEPT {
                tally.examples.push(Example {
                    finding,
                    exchange: exchange.cloned(),
                });
            }
        }
    }

    /// Counts an exchange (its latency goes in the histograms separately).
    pub fn count(&mut self, exchange: &Exchange) {
        let outcome = outcome_name(&exchange.outcome);
        if let Some(n) = self
            .requests
            .get_mut(&exchange.operation)
            .and_then(|by| by.get_mut(outcome))
        {
            *n += 1;
            return;
        }
        *self
            .requests
            .entry(exchange.operation.clone())
            .or_default()
            .entry(outcome.to_string())
            .or_default() += 1;
    }

    /// Adds another shard's record of the same scenario: counts summed, histograms added,
    /// intervals aligned by wall-clock second.
    pub fn merge(&mut self, other: FleetRecord) {
        let end =
            (self.started_at_ms + self.duration_ms).max(other.started_at_ms + other.duration_ms);
        self.started_at_ms = self.started_at_ms.min(other.started_at_ms);
        self.duration_ms = end - self.started_at_ms;
        self.shards.extend(other.shards);
        self.shards.sort_by_key(|s| s.index);
        self.partial |= other.partial;
        if self.stopped_by.is_none() {
            self.stopped_by = other.stopped_by;
        }
        self.devices += other.devices;
        self.connected += other.connected;
        self.jobs += other.jobs;
        for (op, by) in other.requests {
            let mine = self.requests.entry(op).or_default();
            for (outcome, n) in by {
                *mine.entry(outcome).or_default() += n;
            }
        }
        add_counts(&mut self.statuses, other.statuses);
        add_counts(&mut self.errors, other.errors);
        add_counts(&mut self.throttled, other.throttled);
        add_counts(&mut self.retries, other.retries);
        for (req, t) in other.findings {
            let mine = self.findings.entry(req).or_default();
            mine.passed += t.passed;
            mine.failed += t.failed;
            let room = EXAMPLES_KEPT.saturating_sub(mine.examples.len());
            mine.examples.extend(t.examples.into_iter().take(room));
        }
        let s = &mut self.schedule;
        let o = other.schedule;
        s.target_rate = match (s.target_rate, o.target_rate) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        s.intended += o.intended;
        s.started += o.started;
        s.late += o.late;
        s.max_lateness_us = s.max_lateness_us.max(o.max_lateness_us);
        s.seconds = s.seconds.max(o.seconds);
        s.queued += o.queued;
        s.lateness.merge(&o.lateness);
        self.replay = match (self.replay.take(), other.replay) {
            (Some(mut a), Some(b)) => {
                a.merge(b);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self.memory = match (self.memory, other.memory) {
            (Some(a), Some(b)) => Some(Memory {
                baseline_kib: a.baseline_kib + b.baseline_kib,
                peak_kib: a.peak_kib + b.peak_kib,
            }),
            (a, b) => a.or(b),
        };
        self.handshakes = match (self.handshakes, other.handshakes) {
            (Some(a), Some(b)) => Some(a.merge(b)),
            (a, b) => a.or(b),
        };
        // A rollout of `jobs` runs in one process: at most one record carries it.
        self.rollout = self.rollout.take().or(other.rollout);
        self.notice_to_start.merge(&other.notice_to_start);
        self.latency.merge(&other.latency);
        self.intervals.extend(other.intervals);
        self.intervals = align(std::mem::take(&mut self.intervals));
    }
}

fn add_counts(mine: &mut BTreeMap<String, u64>, other: BTreeMap<String, u64>) {
    for (k, n) in other {
        *mine.entry(k).or_default() += n;
    }
}

/// Intervals re-cut at whole wall-clock seconds: each goes into the second it starts in.
fn align(intervals: Vec<Interval>) -> Vec<Interval> {
    let mut by_second: BTreeMap<u64, Interval> = BTreeMap::new();
    for i in intervals {
        let second = i.start_ms / 1000 * 1000;
        let slot = by_second.entry(second).or_insert_with(|| Interval {
            start_ms: second,
            length_ms: 1000,
            latency: LatencyBook::default(),
            throttled: BTreeMap::new(),
            connects: 0,
            connect_failures: 0,
        });
        slot.latency.merge(&i.latency);
        add_counts(&mut slot.throttled, i.throttled);
        slot.connects += i.connects;
        slot.connect_failures += i.connect_failures;
    }
    by_second.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        let s = Shard::parse("1/3").unwrap();
        assert_eq!((s.index, s.count), (1, 3));
        assert!(s.owns(1) && s.owns(4) && !s.owns(0));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
    }
}
