//! One job execution on one thing, and the views the API returns of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::clock::{VirtualMillis, epoch_seconds, minutes};
use super::job::Job;
use jobcert_contract::{ExecutionModel, Status};

/// statusDetails: key/value pairs supplied by the device.
pub type Details = BTreeMap<String, String>;

/// A job execution as the engine stores it.
#[derive(Debug)]
pub struct Execution {
    pub(super) job: Arc<Job>,
    pub(super) number: i64,
    pub(super) status: Status,
    pub(super) details: Details,
    pub(super) queued_at: VirtualMillis,
    pub(super) started_at: Option<VirtualMillis>,
    pub(super) last_updated_at: VirtualMillis,
    pub(super) version: i64,
    pub(super) step_deadline: Option<VirtualMillis>,
    pub(super) in_progress_deadline: Option<VirtualMillis>,
    /// Creation order across the whole engine: the tie-break of "next" on equal queue times.
    pub(super) seq: u64,
}

/// JobExecution as the API returns it (jobDocument as text; the MQTT binding re-parses it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    /// Job id.
    pub job_id: Arc<str>,
    /// Thing name.
    pub thing_name: Arc<str>,
    /// Status.
    pub status: Status,
    /// statusDetails, omitted when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Details>,
    /// Epoch seconds.
    pub queued_at: i64,
    /// Epoch seconds, once started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Epoch seconds.
    pub last_updated_at: i64,
    /// Seconds left on the earliest running timer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_seconds_before_timed_out: Option<i64>,
    /// Version.
    pub version_number: i64,
    /// Execution number.
    pub execution_number: i64,
    /// The job document, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_document: Option<Arc<str>>,
}

/// JobExecutionSummary, as GetPendingJobExecutions lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryView {
    /// Job id.
    pub job_id: Arc<str>,
    /// Epoch seconds.
    pub queued_at: i64,
    /// Epoch seconds, once started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Epoch seconds.
    pub last_updated_at: i64,
    /// Version.
    pub version_number: i64,
    /// Execution number.
    pub execution_number: i64,
}

/// JobExecutionState: what UpdateJobExecution and its errors report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView {
    /// Status.
    pub status: Status,
    /// statusDetails, omitted when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Details>,
    /// Version.
    pub version_number: i64,
}

impl Execution {
    pub(super) fn queued(
        job: Arc<Job>,
        number: i64,
        now: VirtualMillis,
        seq: u64,
        model: &ExecutionModel,
    ) -> Self {
        Self {
            job,
            number,
            status: Status::Queued,
            details: Details::new(),
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            version: model.initial_version_number,
            step_deadline: None,
            in_progress_deadline: None,
            seq,
        }
    }

    /// The job this executes.
    pub fn job_id(&self) -> &str {
        &self.job.id
    }

    /// The earliest running deadline.
    pub(super) fn deadline(&self) -> Option<VirtualMillis> {
        match (self.step_deadline, self.in_progress_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// QUEUED → IN_PROGRESS: starts the job's in-progress timer and, if asked, a step timer.
    pub(super) fn start(&mut self, now: VirtualMillis, step_minutes: Option<i64>) {
        self.status = Status::InProgress;
        self.started_at = Some(now);
        self.in_progress_deadline = self
            .job
            .spec
            .in_progress_timeout_minutes
            .map(|m| now + minutes(m));
        if let Some(m) = step_minutes {
            self.set_step_timer(now, m);
        }
    }

    /// A new step timer replaces the old one, and never runs past the in-progress deadline.
    pub(super) fn set_step_timer(&mut self, now: VirtualMillis, step_minutes: i64) {
        let at = now + minutes(step_minutes);
        self.step_deadline = Some(self.in_progress_deadline.map_or(at, |cap| at.min(cap)));
    }

    /// Moves to a terminal status; both timers stop.
    pub(super) fn finish(&mut self, status: Status) {
        self.status = status;
        self.step_deadline = None;
        self.in_progress_deadline = None;
    }

    /// Records an accepted change: new version and lastUpdatedAt.
    pub(super) fn touch(&mut self, at: VirtualMillis) {
        self.version += 1;
        self.last_updated_at = at;
    }

    fn seconds_left(&self, now: VirtualMillis) -> Option<i64> {
        self.deadline().map(|d| ((d - now).max(0) + 999) / 1000)
    }

    fn details_view(&self) -> Option<Details> {
        (!self.details.is_empty()).then(|| self.details.clone())
    }

    /// The full JobExecution view.
    pub(super) fn view(
        &self,
        thing: &Arc<str>,
        now: VirtualMillis,
        with_document: bool,
    ) -> ExecutionView {
        ExecutionView {
            job_id: self.job.id.clone(),
            thing_name: thing.clone(),
            status: self.status,
            status_details: self.details_view(),
            queued_at: epoch_seconds(self.queued_at),
            started_at: self.started_at.map(epoch_seconds),
            last_updated_at: epoch_seconds(self.last_updated_at),
            approximate_seconds_before_timed_out: self.seconds_left(now),
            version_number: self.version,
            execution_number: self.number,
            job_document: with_document.then(|| self.job.document.clone()),
        }
    }

    /// The JobExecutionSummary view.
    pub(super) fn summary(&self) -> SummaryView {
        SummaryView {
            job_id: self.job.id.clone(),
            queued_at: epoch_seconds(self.queued_at),
            started_at: self.started_at.map(epoch_seconds),
            last_updated_at: epoch_seconds(self.last_updated_at),
            version_number: self.version,
            execution_number: self.number,
        }
    }

    /// The JobExecutionState view.
    pub(super) fn state(&self) -> StateView {
        StateView {
            status: self.status,
            status_details: self.details_view(),
            version_number: self.version,
        }
    }
}
