//! Jobs as the control plane created them.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::clock::VirtualMillis;

/// One retry criterion of a job: how often executions that ended in `failure_type` are retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryCriterion {
    /// `FAILED`, `TIMED_OUT` or `ALL`.
    pub failure_type: String,
    /// Retries allowed for that failure type.
    pub number_of_retries: u32,
}

/// What CreateJob asked for.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Job id.
    pub id: String,
    /// Names of the target things.
    pub things: Vec<String>,
    /// The target ARNs as given.
    pub targets: Vec<String>,
    /// The job document text.
    pub document: String,
    /// Free-text description.
    pub description: Option<String>,
    /// SNAPSHOT or CONTINUOUS.
    pub target_selection: String,
    /// The in-progress timeout, in minutes.
    pub in_progress_timeout_minutes: Option<i64>,
    /// Retry criteria.
    pub retry: Vec<RetryCriterion>,
}

/// Control-plane status of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Executions may still run.
    InProgress,
    /// Canceled by CancelJob.
    Canceled,
    /// Every execution is terminal.
    Completed,
}

/// The mutable part of a job.
#[derive(Debug, Clone)]
pub struct JobState {
    /// Current status.
    pub status: JobStatus,
    /// Last change.
    pub last_updated_at: VirtualMillis,
    /// When it completed or was canceled.
    pub completed_at: Option<VirtualMillis>,
    /// Whether CancelJob used `force`.
    pub force_canceled: bool,
    /// CancelJob's reason code.
    pub reason_code: Option<String>,
    /// CancelJob's comment.
    pub comment: Option<String>,
}

/// A job: its immutable definition and its control-plane state.
#[derive(Debug)]
pub struct Job {
    /// The definition.
    pub spec: JobSpec,
    /// The document, shared by every execution's view.
    pub document: Arc<str>,
    /// The job id, shared by every execution's view.
    pub id: Arc<str>,
    /// Creation time.
    pub created_at: VirtualMillis,
    /// Status and cancellation details.
    pub state: Mutex<JobState>,
}

impl Job {
    /// Whether one more retry is allowed for a failure covered by `covering_types` (from
    /// `schemas/execution-model.json` `timers.retryableFailures`), after `used` retries of this
    /// thing's execution of the job.
    pub fn allows_retry(&self, covering_types: &[String], used: u32) -> bool {
        self.spec
            .retry
            .iter()
            .filter(|c| covering_types.contains(&c.failure_type))
            .any(|c| used < c.number_of_retries)
    }
}
