//! Waiting until a send is due, to the tens of microseconds. Tokio's timer fires on whole
//! milliseconds (a sleep ends up to 1 ms after its deadline, before the task even runs), which
//! alone would spend half of a replay's timing budget. So a wait sleeps on tokio's timer until
//! shortly before it is due, and the last stretch is kept by one thread of its own that sleeps
//! to the due time of the earliest waiter and wakes each waiter when it is due.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long before its due time a wait moves from tokio's timer to the fine one: more than
/// tokio's rounding, so the fine timer holds only the waits of the next few milliseconds.
const HANDOVER: Duration = Duration::from_millis(2);

/// Waits until `due`; at once when it has passed. Dropping the future drops the wait.
pub async fn until(due: Instant) {
    if let Some(coarse) = due.checked_sub(HANDOVER)
        && coarse > Instant::now()
    {
        tokio::time::sleep_until(coarse.into()).await;
    }
    if Instant::now() >= due {
        return;
    }
    let (wake, woken) = oneshot::channel();
    fine().add(due, wake);
    let _ = woken.await;
}

/// A waiter of the fine timer, earliest first (and first come first among equals).
struct Waiter {
    due: Instant,
    order: u64,
    wake: oneshot::Sender<()>,
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

#[derive(Default)]
struct Queue {
    waiters: BinaryHeap<Waiter>,
    added: u64,
}

/// The fine timer: its waiters, and the signal that an earlier one came.
#[derive(Default)]
struct Fine {
    queue: Mutex<Queue>,
    earlier: Condvar,
}

/// The process's fine timer, its thread started on first use.
fn fine() -> &'static Fine {
    static FINE: OnceLock<&'static Fine> = OnceLock::new();
    FINE.get_or_init(|| {
        let fine: &'static Fine = Box::leak(Box::default());
        std::thread::Builder::new()
            .name("jobcert-due".into())
            .spawn(move || fine.keep())
            .expect("a thread for the fine timer");
        fine
    })
}

impl Fine {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, due: Instant, wake: oneshot::Sender<()>) {
        let mut queue = self.lock();
        let order = queue.added;
        queue.added += 1;
        let earliest = queue.waiters.peek().is_none_or(|w| due < w.due);
        queue.waiters.push(Waiter { due, order, wake });
        drop(queue);
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// Wakes every waiter when it is due, for the life of the process.
    fn keep(&self) {
        let mut queue = self.lock();
        let mut due_now = Vec::new();
        loop {
            let now = Instant::now();
            while queue.waiters.peek().is_some_and(|w| w.due <= now) {
                due_now.extend(queue.waiters.pop().map(|w| w.wake));
            }
            if !due_now.is_empty() {
                drop(queue);
                for wake in due_now.drain(..) {
                    // A waiter that stopped waiting has dropped its end.
                    let _ = wake.send(());
                }
                queue = self.lock();
                continue;
            }
            queue = match queue.waiters.peek().map(|w| w.due - now) {
                Some(wait) => {
                    self.earlier
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .earlier
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_leave_earliest_first_and_in_arrival_order_among_equals() {
        let start = Instant::now();
        let mut heap = BinaryHeap::new();
        let mut ends = Vec::new();
        for (order, ms) in [7u64, 1, 4, 0, 4].into_iter().enumerate() {
            let (wake, woken) = oneshot::channel();
            ends.push(woken);
            heap.push(Waiter {
                due: start + Duration::from_millis(ms),
                order: order as u64,
                wake,
            });
        }
        let popped: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|w| w.order)).collect();
        assert_eq!(popped, [3, 1, 2, 4, 0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waits_never_end_early() {
        let start = Instant::now();
        let waits: Vec<_> = (0..50u64)
            .map(|k| {
                let due = start + Duration::from_micros(k * 137);
                tokio::spawn(async move {
                    until(due).await;
                    Instant::now() >= due
                })
            })
            .collect();
        for (k, w) in waits.into_iter().enumerate() {
            assert!(w.await.unwrap(), "wait {k} ended before it was due");
        }
    }

    #[tokio::test]
    async fn a_dropped_wait_does_not_stop_the_others() {
        use futures_util::FutureExt;
        let due = Instant::now() + Duration::from_millis(1);
        assert!(until(due).now_or_never().is_none(), "a wait ended early");
        until(due + Duration::from_millis(1)).await;
        assert!(Instant::now() >= due + Duration::from_millis(1));
    }
}
