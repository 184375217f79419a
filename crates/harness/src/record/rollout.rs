//! The record of a rollout of `jobs`: per job, what the target's own data says of its pace
//! (its `createdAt`, `completedAt`, and the `queuedAt` and `startedAt` of the executions the
//! devices started), its executions by status minute by minute (DescribeJob's counts, the
//! series CloudWatch's Jobs metrics show), and, for an abort, when it came and how many
//! devices the job reached before it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every job of a rollout of `jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// The jobs, in the order of the file.
    pub jobs: Vec<JobRollout>,
    /// DescribeJob calls of the watch that got no usable answer.
    pub describe_failures: u64,
}

/// One job of the rollout. Times are seconds of the target's clock from the job's
/// `createdAt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRollout {
    /// Its name in the file.
    pub name: String,
    /// Its job id.
    pub job_id: String,
    /// Whether it keeps reaching things that join its groups (`targetSelection: CONTINUOUS`).
    pub continuous: bool,
    /// Whether it has abort criteria.
    pub aborts: bool,
    /// Its `createdAt` (epoch seconds, the target's clock); absent when it was never created
    /// or never described.
    pub created_at_s: Option<f64>,
    /// Its last status (DescribeJob).
    pub status: Option<String>,
    /// Its last `reasonCode`, if any.
    pub reason_code: Option<String>,
    /// Things in its groups when the run ended, by the fleet's count.
    pub targeted: u64,
    /// Distinct devices whose start-next returned it.
    pub devices_started: u64,
    /// Executions of it the devices started: more than the devices when the job's retry
    /// configuration made new executions.
    pub executions_started: u64,
    /// From `createdAt` until the last targeted thing was notified (its execution's
    /// `queuedAt`); absent unless every targeted thing started it.
    pub until_all_notified_s: Option<f64>,
    /// ... until the last one started it (`startedAt`).
    pub until_all_started_s: Option<f64>,
    /// ... until every targeted thing finished: the job's `completedAt`, or, for a
    /// continuous job, the first minute whose counts showed every targeted thing in a final
    /// status.
    pub until_all_finished_s: Option<f64>,
    /// Things notified in each minute from `createdAt` (the `queuedAt` of the first execution
    /// each device started).
    pub notified_per_minute: Vec<u64>,
    /// Things that started it in each minute (`startedAt`).
    pub started_per_minute: Vec<u64>,
    /// Its executions by status at the end of each minute from `createdAt` (DescribeJob's
    /// `jobProcessDetails`; minutes no description fell in are left out).
    pub minutes: Vec<StatusSample>,
    /// Its executions by status when the run ended.
    pub final_counts: BTreeMap<String, u64>,
    /// When it was aborted, if it was.
    pub abort: Option<AbortFigures>,
    /// The things that joined its groups during the run, if any did.
    pub joiners: Option<JoinerFigures>,
}

/// Executions by status at one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusSample {
    /// Minutes from `createdAt`.
    pub minute: u64,
    /// Executions by status (QUEUED, IN_PROGRESS, SUCCEEDED, ...).
    pub counts: BTreeMap<String, u64>,
}

/// An abort: when, and how far the job had got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AbortFigures {
    /// From `createdAt` until the job was canceled (its `completedAt`, else `lastUpdatedAt`).
    pub after_s: f64,
    /// Devices that started the job (the target's count: executions in any status but
    /// QUEUED and CANCELED).
    pub devices_started: u64,
    /// Executions the abort canceled (the target's count).
    pub canceled: u64,
}

/// Things that joined a job's groups while the run went on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinerFigures {
    /// How many joined.
    pub joined: u64,
    /// How many of them started the job.
    pub started: u64,
}

impl JobRollout {
    /// The execution count of `status` when the run ended.
    pub fn count(&self, status: &str) -> u64 {
        self.final_counts.get(status).copied().unwrap_or(0)
    }
}

/// Per-minute counts of `times` (seconds from an origin): entry m counts those in
/// [60m, 60m + 60); negative times fall in minute 0.
pub fn per_minute(times: impl IntoIterator<Item = f64>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for t in times {
        let m = (t.max(0.0) / 60.0).floor() as usize;
        if out.len() <= m {
            out.resize(m + 1, 0);
        }
        out[m] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::none(&[], &[])]
    #[case::one_minute(&[0.0, 59.9], &[2])]
    #[case::a_gap(&[1.0, 125.0], &[1, 0, 1])]
    #[case::early_clock(&[-1.0, 61.0], &[1, 1])]
    fn times_fall_in_their_minute(#[case] times: &[f64], #[case] expected: &[u64]) {
        assert_eq!(per_minute(times.iter().copied()), expected);
    }
}
