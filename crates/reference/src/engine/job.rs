//! Jobs as the control plane created them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::abort::{self, AbortCriterion, AbortDenominator, Tally};
use super::clock::VirtualMillis;
use super::rollout::{Pace, RolloutConfig};
use super::schedule::{Schedule, SchedulingConfig};
use jobcert_contract::Status;

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
    /// Names of the target things (with a group's members once the job is created).
    pub things: Vec<String>,
    /// Names of the target thing groups.
    pub groups: Vec<String>,
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
    /// The rollout rate; none rolls every execution out at once.
    pub rollout: Option<RolloutConfig>,
    /// Abort criteria.
    pub abort: Vec<AbortCriterion>,
    /// When the rollout may run.
    pub scheduling: Option<SchedulingConfig>,
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
    /// The targets not rolled out yet and the pace they come at; none once all are out.
    /// Taken before any thing's lock.
    pub rollout: Mutex<Option<Rollout>>,
    /// Executions rolled out so far.
    pub notified: AtomicU64,
    /// How executions ended, and what follows; taken under a thing's lock, and nothing after it.
    pub outcomes: Mutex<Outcomes>,
    /// What the abort criteria's percentage is a share of.
    pub abort_denominator: AbortDenominator,
    /// Things that joined a target group of a CONTINUOUS job after its creation.
    pub later: Mutex<Vec<Arc<str>>>,
    /// The schedule's end and its behaviour, until applied.
    pub end: Mutex<Option<(VirtualMillis, String)>>,
}

/// Targets waiting for their turn in a paced rollout.
#[derive(Debug)]
pub struct Rollout {
    /// The rate and how far it has come.
    pub pace: Pace,
    /// Things in target order; in `queued` mode their executions already exist.
    pub waiting: VecDeque<Arc<str>>,
    /// The deadline armed for the next one.
    pub armed: Option<VirtualMillis>,
    /// When the rollout may run, if scheduled.
    pub schedule: Option<Schedule>,
    /// The earliest time the schedule is still to be asked about.
    pub cursor: VirtualMillis,
    /// The start of the open stretch the pace runs in.
    pub open_from: Option<VirtualMillis>,
    /// How many success crossings the armed deadline was computed with.
    pub successes_seen: usize,
}

/// How a job's executions ended, and what that set off.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Each thing's last execution once.
    pub tally: Tally,
    /// When the success count reached 1, 2, 3… × the rollout's `numberOfSucceededThings`.
    pub success_crossings: Vec<VirtualMillis>,
    /// When an abort criterion was met, and which one (its failure type and threshold).
    pub abort: Option<(VirtualMillis, AbortCriterion)>,
    /// The last statuses of deleted things' executions (REMOVED for one that had not ended),
    /// which DescribeJob still counts.
    pub departed: HashMap<Status, u64>,
}

impl Job {
    /// Every target thing: those at creation, then those that joined a target group since.
    pub fn targets(&self) -> Vec<Arc<str>> {
        let later = self.later.lock().unwrap_or_else(|p| p.into_inner());
        self.spec
            .things
            .iter()
            .map(|t| Arc::from(t.as_str()))
            .chain(later.iter().cloned())
            .collect()
    }

    /// Whether one more retry is allowed for a failure covered by `covering_types` (from
    /// `schemas/execution-model.json` `timers.retryableFailures`), after `used` retries of this
    /// thing's execution of the job.
    pub fn allows_retry(&self, covering_types: &[String], used: u32) -> bool {
        // A canceled job makes no new executions (AWS cancels its queued retries too).
        let canceled =
            self.state.lock().unwrap_or_else(|p| p.into_inner()).status == JobStatus::Canceled;
        !canceled
            && self
                .spec
                .retry
                .iter()
                .filter(|c| covering_types.contains(&c.failure_type))
                .any(|c| used < c.number_of_retries)
    }

    /// Counts an execution that ended for good at `at` (no retry follows), and notes when the
    /// rate's success count is reached and when an abort criterion is met.
    pub fn record_outcome(&self, status: Status, at: VirtualMillis) {
        let mut o = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        o.tally.add(status);
        let every = self
            .spec
            .rollout
            .as_ref()
            .and_then(|r| r.exponential_rate.as_ref())
            .and_then(|e| e.rate_increase_criteria.number_of_succeeded_things);
        if status == Status::Succeeded
            && let Some(n) = every
            && o.tally.succeeded.is_multiple_of(u64::from(n))
        {
            o.success_crossings.push(at);
        }
        if o.abort.is_none()
            && let Some(c) = abort::met(
                &self.spec.abort,
                &o.tally,
                self.notified.load(Ordering::Acquire),
                self.abort_denominator,
            )
        {
            o.abort = Some((at, c.clone()));
        }
    }
}
