//! Deadlines of running timers and paced rollouts: one queue and one task for the whole engine.
//!
//! Each armed deadline is one small heap entry, not a task; an entry whose timer was replaced
//! or stopped meanwhile finds nothing due when it fires. Reads apply due expiries themselves
//! (see `ThingState::expire`), so the task only makes expiry visible without a read.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::clock::VirtualMillis;

/// What a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// A timer of one of this thing's executions.
    Thing(Arc<str>),
    /// The next execution of this job's rollout.
    Rollout(Arc<str>),
}

/// One armed deadline: when, and what for.
type Deadline = Reverse<(VirtualMillis, Due)>;

/// Armed deadlines, earliest first.
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: Mutex<BinaryHeap<Deadline>>,
    wake: Notify,
}

impl TimerQueue {
    /// Arms a deadline.
    pub(super) fn arm(&self, at: VirtualMillis, due: Due) {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let earlier = heap.peek().is_none_or(|Reverse((first, _))| at < *first);
        heap.push(Reverse((at, due)));
        drop(heap);
        if earlier {
            self.wake.notify_one();
        }
    }

    /// The earliest armed deadline.
    pub(super) fn earliest(&self) -> Option<VirtualMillis> {
        let heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns every deadline at or before `now`.
    pub(super) fn take_due(&self, now: VirtualMillis) -> Vec<Due> {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse((_, what))) = heap.pop() {
                due.push(what);
            }
        }
        due
    }

    /// Resolves when a deadline earlier than all others was armed.
    pub(super) async fn rearmed(&self) {
        self.wake.notified().await;
    }

    /// How many deadlines are armed (including ones whose timer has since been replaced).
    pub fn len(&self) -> usize {
        self.heap.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no deadline is armed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
