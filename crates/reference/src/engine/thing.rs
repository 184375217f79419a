//! Everything the engine knows about one thing: its executions, in creation order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::clock::VirtualMillis;
use super::execution::Execution;
use jobcert_contract::{ExecutionModel, Status};

/// An execution's identity: creation sequence and execution number.
type ExecutionKey = (u64, i64);

/// The pending executions (as a set) and the head of the list.
pub(super) type Signature = (Vec<ExecutionKey>, Option<ExecutionKey>);

/// One thing and its job executions.
#[derive(Debug)]
pub struct ThingState {
    pub(super) name: Arc<str>,
    pub(super) id: String,
    pub(super) executions: Vec<Execution>,
}

impl ThingState {
    pub(super) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            id: uuid::Uuid::new_v4().to_string(),
            executions: Vec::new(),
        }
    }

    /// Sets every IN_PROGRESS execution whose deadline has passed to the expired status,
    /// as of its deadline, and queues the retries its job allows. Returns how many expired.
    pub(super) fn expire(
        &mut self,
        now: VirtualMillis,
        model: &ExecutionModel,
        seq: &AtomicU64,
    ) -> usize {
        let due: Vec<usize> = self
            .executions
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.status == Status::InProgress && e.deadline().is_some_and(|d| d <= now)
            })
            .map(|(i, _)| i)
            .collect();
        for &i in &due {
            let e = &mut self.executions[i];
            let at = e.deadline().unwrap_or(now);
            e.finish(model.timers.expired_status);
            e.touch(at);
            self.queue_retry(i, at, model, seq);
        }
        due.len()
    }

    /// After execution `i` ended, queues its next execution if the job allows a retry, and
    /// otherwise counts the outcome for the job.
    pub(super) fn queue_retry(
        &mut self,
        i: usize,
        now: VirtualMillis,
        model: &ExecutionModel,
        seq: &AtomicU64,
    ) {
        let e = &self.executions[i];
        let used = u32::try_from(e.number - 1).unwrap_or(u32::MAX);
        let retry = model
            .timers
            .retryable_failures
            .get(&e.status)
            .is_some_and(|covering| e.job.allows_retry(covering, used));
        if !retry {
            e.job.record_outcome(e.status, now);
            return;
        }
        let next = Execution::queued(
            e.job.clone(),
            e.number + 1,
            now,
            seq.fetch_add(1, Ordering::Relaxed),
            model,
        );
        self.executions.push(next);
    }

    /// Forgets the `n` oldest terminal executions (all of them when fewer are terminal); a job
    /// whose latest execution on this thing goes counts it among its departed, in its status,
    /// as it counts the executions of a deleted thing.
    pub(super) fn forget_oldest_terminal(&mut self, n: usize, model: &ExecutionModel) {
        if n == 0 {
            return;
        }
        let mut terminal: Vec<usize> = (0..self.executions.len())
            .filter(|&i| model.is_terminal(self.executions[i].status))
            .collect();
        terminal.sort_by_key(|&i| self.executions[i].seq);
        terminal.truncate(n);
        for &i in &terminal {
            let e = &self.executions[i];
            if self.find(e.job_id(), None) == Some(i) {
                let mut o = e.job.outcomes.lock().unwrap_or_else(|p| p.into_inner());
                *o.departed.entry(e.status).or_default() += 1;
            }
        }
        let mut i = 0;
        self.executions.retain(|_| {
            let keep = !terminal.contains(&i);
            i += 1;
            keep
        });
    }

    /// Index of the head of the pending list: IN_PROGRESS before QUEUED, then oldest queue time,
    /// then creation order.
    pub(super) fn head(&self, model: &ExecutionModel) -> Option<usize> {
        self.pending(model).into_iter().next()
    }

    /// Indices of the pending executions in "next" order.
    pub(super) fn pending(&self, model: &ExecutionModel) -> Vec<usize> {
        let mut pending: Vec<(usize, usize)> = self
            .executions
            .iter()
            .enumerate()
            .filter_map(|(i, e)| model.pending_rank(e.status).map(|rank| (rank, i)))
            .collect();
        pending
            .sort_by_key(|&(rank, i)| (rank, self.executions[i].queued_at, self.executions[i].seq));
        pending.into_iter().map(|(_, i)| i).collect()
    }

    /// What notifications follow: the pending executions (as a set) and the head.
    pub(super) fn signature(&self, model: &ExecutionModel) -> Signature {
        let pending = self.pending(model);
        let key = |i: usize| (self.executions[i].seq, self.executions[i].number);
        let head = pending.first().map(|&i| key(i));
        let mut set: Vec<ExecutionKey> = pending.into_iter().map(key).collect();
        set.sort_unstable();
        (set, head)
    }

    /// Index of the execution of `job_id` numbered `number`, or the latest one when `number` is `None`.
    pub(super) fn find(&self, job_id: &str, number: Option<i64>) -> Option<usize> {
        self.executions
            .iter()
            .enumerate()
            .filter(|(_, e)| e.job_id() == job_id)
            .filter(|(_, e)| number.is_none_or(|n| e.number == n))
            .max_by_key(|(_, e)| e.number)
            .map(|(i, _)| i)
    }
}
