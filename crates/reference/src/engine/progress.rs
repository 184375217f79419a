//! Moving jobs along on the virtual clock: rolling out paced executions as they fall due and
//! canceling a job whose abort criteria were met.
//!
//! Like timer expiry, this is applied by every operation before it reads (`Engine::settle`),
//! so answers are exact whatever the timer task's lag; the task only makes it happen without a
//! request. Lock order: a job's `rollout`, then a thing, then the job's `outcomes`.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use jobcert_contract::Status;

use super::abort::{ABORT_REASON_CODE, AbortDenominator};
use super::bounds::StateBounds;
use super::job::{Job, Rollout};
use super::timers::Due;
use super::{Change, Engine, JobStatus, VirtualMillis, execution};

/// Whether a target not rolled out yet has an execution: AWS says nothing either way. A
/// `jobcert serve` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unreleased {
    /// Its execution comes into being when rolled out (and is then announced like any new one).
    #[default]
    Absent,
    /// Its execution exists, QUEUED, from CreateJob; rolling out only announces it.
    Queued,
}

impl FromStr for Unreleased {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "absent" => Ok(Self::Absent),
            "queued" => Ok(Self::Queued),
            other => Err(format!("{other:?} is neither absent nor queued")),
        }
    }
}

/// The engine's settings where the documentation leaves room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineSettings {
    /// Whether targets not rolled out yet have executions.
    pub unreleased: Unreleased,
    /// What abort thresholds are a share of.
    pub abort_denominator: AbortDenominator,
    /// The bounds on state (those of the newest embedded AWS limits file by default).
    pub bounds: StateBounds,
}

impl Engine {
    /// The engine's settings.
    pub fn settings(&self) -> EngineSettings {
        self.settings
    }

    /// Watches `job` until its rollout is over and its abort criteria can no longer apply.
    pub(super) fn watch(&self, job: Arc<Job>) {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        watched.push(job);
        self.watching.store(watched.len(), Ordering::Release);
    }

    /// Applies every abort met and every rollout due by `now`.
    pub(super) fn settle(&self, now: VirtualMillis) {
        if self.watching.load(Ordering::Acquire) == 0 {
            return;
        }
        let jobs = self
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut done = Vec::new();
        for job in jobs {
            self.apply_abort(&job, now);
            let rolled_out = self.release(&job, now);
            self.apply_end(&job, now);
            let open =
                job.state.lock().unwrap_or_else(|p| p.into_inner()).status == JobStatus::InProgress;
            // Abort criteria apply as long as the job is open.
            let may_abort = open && !job.spec.abort.is_empty();
            let may_end = open && job.end.lock().unwrap_or_else(|p| p.into_inner()).is_some();
            if rolled_out && !may_abort && !may_end {
                done.push(job.id.clone());
            }
        }
        if !done.is_empty() {
            let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            watched.retain(|j| !done.contains(&j.id));
            self.watching.store(watched.len(), Ordering::Release);
        }
    }

    /// Rolls out `job`'s executions due by `now`; true once none is left to come.
    fn release(&self, job: &Arc<Job>, now: VirtualMillis) -> bool {
        let mut rollout = job.rollout.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = rollout.as_mut() else {
            return true;
        };
        let successes = job
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .success_crossings
            .clone();
        // Nothing falls due before the armed deadline unless a success raised the rate since.
        if r.armed.is_some_and(|at| at > now) && r.successes_seen == successes.len() {
            return false;
        }
        r.successes_seen = successes.len();
        loop {
            let (from, until) = match &r.schedule {
                None => (VirtualMillis::MIN, VirtualMillis::MAX),
                Some(s) => match s.open_from(r.cursor) {
                    Some(open) => open,
                    // Nothing opens any more: the rest never comes.
                    None => {
                        *rollout = None;
                        return true;
                    }
                },
            };
            if from > now {
                self.arm_rollout(job, r, from);
                return false;
            }
            if r.schedule.is_some() && r.open_from != Some(from) {
                r.pace.resume(from);
                r.open_from = Some(from);
            }
            let horizon = now.min(until.saturating_sub(1));
            let times = r.pace.release(horizon, r.waiting.len() as u64, &successes);
            for at in times {
                let Some(thing) = r.waiting.pop_front() else {
                    break;
                };
                self.roll_out(job, &thing, at);
                job.notified.fetch_add(1, Ordering::AcqRel);
            }
            if r.waiting.is_empty() {
                *rollout = None;
                return true;
            }
            let next = r.pace.next_due(&successes);
            if next < until {
                self.arm_rollout(job, r, next);
                return false;
            }
            // This stretch closes before the next is due: ask the schedule again from its end.
            r.cursor = until;
        }
    }

    fn arm_rollout(&self, job: &Arc<Job>, r: &mut Rollout, at: VirtualMillis) {
        if r.armed != Some(at) {
            r.armed = Some(at);
            self.timers.arm(at, Due::Rollout(job.id.clone()));
        }
    }

    /// Rolls out `job`'s execution on `thing`, as of `at`.
    pub(super) fn roll_out(&self, job: &Arc<Job>, thing: &Arc<str>, at: VirtualMillis) {
        match self.settings.unreleased {
            Unreleased::Absent => {
                let seq = self.seq.fetch_add(1, Ordering::Relaxed);
                let exists = self.with_thing(thing, |t| {
                    let Some(t) = t else { return false };
                    if t.find(&job.spec.id, None).is_none() {
                        t.executions.push(execution::Execution::queued(
                            job.clone(),
                            1,
                            at,
                            seq,
                            self.model,
                        ));
                    }
                    true
                });
                if !exists {
                    // Deleted before its turn.
                    let mut o = job.outcomes.lock().unwrap_or_else(|p| p.into_inner());
                    *o.departed.entry(Status::Removed).or_default() += 1;
                }
            }
            Unreleased::Queued => {
                let head = self.things.with(thing, |t| {
                    t.and_then(|t| {
                        t.head(self.model)
                            .map(|i| t.executions[i].job_id() == &*job.id)
                    })
                });
                if let Some(head_changed) = head {
                    // Nobody listening is fine.
                    let _ = self.changes.send(Change {
                        thing: thing.clone(),
                        list_changed: true,
                        head_changed,
                    });
                }
            }
        }
    }

    /// Cancels `job` if one of its abort criteria was met: its QUEUED executions and the ones
    /// not rolled out yet; IN_PROGRESS ones go on.
    fn apply_abort(&self, job: &Arc<Job>, now: VirtualMillis) {
        let Some((at, criterion)) = job
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .abort
            .clone()
        else {
            return;
        };
        if !self.is_open(job) {
            return;
        }
        let comment = format!(
            "abort criterion met: {} % or more of executions {} after at least {} executed",
            criterion.threshold_percentage,
            criterion.failure_type,
            criterion.min_number_of_executed_things
        );
        self.cancel_at(
            job,
            false,
            Some(ABORT_REASON_CODE.to_string()),
            Some(comment),
            at,
            now,
        );
    }

    fn is_open(&self, job: &Job) -> bool {
        job.state.lock().unwrap_or_else(|p| p.into_inner()).status == JobStatus::InProgress
    }

    /// At the schedule's `endTime`: STOP_ROLLOUT ends the rollout, CANCEL cancels the job as
    /// CancelJob does, FORCE_CANCEL as CancelJob with `force`.
    fn apply_end(&self, job: &Arc<Job>, now: VirtualMillis) {
        let behavior = {
            let mut end = job.end.lock().unwrap_or_else(|p| p.into_inner());
            match &*end {
                Some((at, _)) if *at <= now => end.take(),
                _ => None,
            }
        };
        let Some((at, behavior)) = behavior else {
            return;
        };
        if !self.is_open(job) {
            return;
        }
        match behavior.as_str() {
            "CANCEL" | "FORCE_CANCEL" => {
                let force = behavior == "FORCE_CANCEL";
                let comment = format!("the schedule's endTime was reached ({behavior})");
                self.cancel_at(job, force, None, Some(comment), at, now);
            }
            _ => *job.rollout.lock().unwrap_or_else(|p| p.into_inner()) = None,
        }
    }
}
