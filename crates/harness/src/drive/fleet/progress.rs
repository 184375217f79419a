//! The live progress line on a terminal: rate, requests in flight, errors, p99 so far, devices
//! done and an ETA. Written to stderr, once a second, only when asked for (on a TTY).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Fleet;

/// The running progress line.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts printing the progress of `fleet` of `devices` devices.
    pub fn start(fleet: Arc<Fleet>, devices: u64) -> Self {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let s = fleet.recorder.snapshot();
                let now = Instant::now();
                let rate = (s.requests - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, s.requests);
                let done = fleet.drained.load(Ordering::Relaxed);
                let elapsed = started.elapsed().as_secs_f64();
                let eta = match fleet.spec.planned_duration_s() {
                    Some(d) => format!("{:.0} s", (d - elapsed).max(0.0)),
                    None if done > 0 && done < devices => {
                        format!("{:.0} s", elapsed / done as f64 * (devices - done) as f64)
                    }
                    None => "–".into(),
                };
                let line = format!(
                    "\r{elapsed:>6.0} s  {rate:>8.0} req/s  in flight {:>6}  errors {:>6}  failed checks {:>5}  p99 {:>8.2} ms  drained {done}/{devices}  ETA {eta}   ",
                    fleet.in_flight.load(Ordering::Relaxed),
                    s.errors,
                    s.failed_checks,
                    s.p99_ms,
                );
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(line.as_bytes());
                let _ = err.flush();
            }
        });
        Self { task }
    }

    /// Stops the line and ends it.
    pub async fn finish(self) {
        self.task.abort();
        let _ = self.task.await;
        eprintln!();
    }
}
