//! What the proxy saw, in one place shared by every listener: exchanges and notifications on
//! one monotonic clock whose origin is the proxy's start.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::record::capture::Notification;
use crate::transport::{Exchange, Label, Outcome, WireRequest};

/// The recording.
pub(super) struct Tape {
    start: Instant,
    origin_ms: u64,
    next_seq: AtomicU64,
    skipped: AtomicU64,
    exchanges: Mutex<Vec<Exchange>>,
    notifications: Mutex<Vec<Notification>>,
}

impl Tape {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            origin_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            next_seq: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            exchanges: Mutex::new(Vec::new()),
            notifications: Mutex::new(Vec::new()),
        }
    }

    /// Microseconds since the proxy started.
    pub(super) fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Wall-clock time of the start, epoch milliseconds.
    pub(super) fn origin_ms(&self) -> u64 {
        self.origin_ms
    }

    /// Keeps an exchange of `operation` (its request's secrets already redacted).
    pub(super) fn exchange(
        &self,
        operation: &str,
        request: WireRequest,
        outcome: Outcome,
        sent_us: u64,
        done_us: u64,
    ) {
        let label = Label {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            context: "proxy",
            operation,
        };
        let e = Exchange::new(label, request, outcome, sent_us, done_us);
        self.exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    /// Keeps a notification a device received.
    pub(super) fn notification(&self, n: Notification) {
        self.notifications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(n);
    }

    /// Counts a request forwarded but not kept (no Jobs operation).
    pub(super) fn skip(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything kept so far, and the count of skipped requests.
    pub(super) fn take(&self) -> (Vec<Exchange>, Vec<Notification>, u64) {
        let exchanges =
            std::mem::take(&mut *self.exchanges.lock().unwrap_or_else(|p| p.into_inner()));
        let notifications =
            std::mem::take(&mut *self.notifications.lock().unwrap_or_else(|p| p.into_inner()));
        (
            exchanges,
            notifications,
            self.skipped.load(Ordering::Relaxed),
        )
    }
}
