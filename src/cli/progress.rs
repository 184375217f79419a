//! The live progress line of a fleet run on a terminal: rate, requests in flight, errors, p99
//! so far, devices drained and an ETA. Written to stderr once a second from what the driver
//! publishes; the driver itself prints nothing.

use std::io::Write;
use std::time::Instant;

use jobcert_harness::drive::fleet::LiveStatus;
use tokio::sync::watch;

/// The running progress line.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Prints every status `live` receives; `planned_s` is the run's planned length, if it has one.
    pub fn start(mut live: watch::Receiver<LiveStatus>, planned_s: Option<f64>) -> Self {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last = (Instant::now(), 0u64);
            while live.changed().await.is_ok() {
                let s = *live.borrow_and_update();
                let now = Instant::now();
                let rate = (s.counts.requests.saturating_sub(last.1)) as f64
                    / now.duration_since(last.0).as_secs_f64();
                last = (now, s.counts.requests);
                let elapsed = started.elapsed().as_secs_f64();
                let (done, devices) = (s.drained, s.devices);
                let eta = match planned_s {
                    Some(d) => format!("{:.0} s", (d - elapsed).max(0.0)),
                    None if done > 0 && done < devices => {
                        format!("{:.0} s", elapsed / done as f64 * (devices - done) as f64)
                    }
                    None => "–".into(),
                };
                let line = format!(
                    "\r{elapsed:>6.0} s  {rate:>8.0} req/s  in flight {:>6}  errors {:>6}  failed checks {:>5}  p99 {:>8.2} ms  drained {done}/{devices}  ETA {eta}   ",
                    s.in_flight, s.counts.errors, s.counts.failed_checks, s.counts.p99_ms,
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
