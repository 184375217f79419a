//! Live progress on stderr, from what a driver publishes (the drivers themselves print
//! nothing). A fleet run: rate, requests in flight, errors, p99 so far, devices drained and an
//! ETA. A conformance run: cases done and how they ended, cases running, the timer the run is
//! waiting on and an ETA; on a terminal as a line redrawn once a second, otherwise as a plain
//! line now and then while a long timer wait would leave a log silent.

use std::io::Write;
use std::time::{Duration, Instant};

use jobcert_harness::drive::conformance::RunStatus;
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

/// How a conformance run's progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunDisplay {
    /// A line redrawn once a second (stderr is a terminal).
    Line,
    /// A plain line at most once every `period`, and only while the run waits on a timer
    /// longer than that, so that a log shows the run is alive.
    Log { period: Duration },
}

/// The running progress display of a conformance run.
pub struct RunProgress {
    task: tokio::task::JoinHandle<()>,
    display: RunDisplay,
}

impl RunProgress {
    /// Shows, as `display` says, the status `live` holds.
    pub fn start(live: watch::Receiver<RunStatus>, display: RunDisplay) -> Self {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut logged = started;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let status = live.borrow().clone();
                let now = Instant::now();
                let line = run_line(&status, now - started, now);
                let text = match display {
                    // Auto-wrap off while drawing: a line wider than the terminal is cut
                    // at its edge instead of wrapping onto a row the next `\r` cannot reach.
                    RunDisplay::Line => format!("\x1b[?7l\r{line}\x1b[K\x1b[?7h"),
                    RunDisplay::Log { period } if log_due(&status, period, now - logged) => {
                        logged = now;
                        format!("jobcert run: {line}\n")
                    }
                    RunDisplay::Log { .. } => continue,
                };
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(text.as_bytes());
                let _ = err.flush();
            }
        });
        Self { task, display }
    }

    /// Stops the display and clears the line it drew.
    pub async fn finish(self) {
        self.task.abort();
        let _ = self.task.await;
        if self.display == RunDisplay::Line {
            eprint!("\r\x1b[K");
        }
    }
}

/// Whether a plain progress line is due: the run waits on a timer longer than `period`, and
/// the last line is `period` old.
fn log_due(status: &RunStatus, period: Duration, since_logged: Duration) -> bool {
    since_logged >= period && status.waiting_on().is_some_and(|w| w.real > period)
}

/// `status` as one line, `elapsed` into the run, at `now`.
fn run_line(status: &RunStatus, elapsed: Duration, now: Instant) -> String {
    let mut line = format!(
        "{:>4.0} s  cases {}/{} ({} passed, {} warned, {} failed), {} running",
        elapsed.as_secs_f64(),
        status.done(),
        status.total,
        status.passed,
        status.warned,
        status.failed,
        status.running,
    );
    if let Some(w) = status.waiting_on() {
        line.push_str(&format!(
            "  waiting: {} \u{2014} {} min of target time, {} left",
            w.case,
            w.minutes,
            seconds(w.until.saturating_duration_since(now)),
        ));
    }
    let eta = eta(status, elapsed, now).map_or_else(|| "\u{2013}".to_string(), seconds);
    line.push_str(&format!("  ETA {eta}"));
    line
}

/// Time left: the pace so far over the cases not yet done, and no less than the wait the run
/// is waiting on; unknown before the first case ends and while nothing waits.
fn eta(status: &RunStatus, elapsed: Duration, now: Instant) -> Option<Duration> {
    let done = status.done();
    let by_pace =
        (done > 0).then(|| elapsed.mul_f64(status.total.saturating_sub(done) as f64 / done as f64));
    let wait = status
        .waiting_on()
        .map(|w| w.until.saturating_duration_since(now));
    by_pace.max(wait)
}

/// A duration in whole seconds, or minutes and seconds from two minutes on.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    if s < 120 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use jobcert_harness::drive::conformance::Wait;
    use rstest::rstest;

    use super::*;

    /// A status of 329 cases, `done` of them passed and one warned, 8 running, waiting on
    /// `waits` as (case, target minutes, real seconds, seconds left).
    fn status(done: usize, waits: &[(&str, f64, u64, u64)], now: Instant) -> RunStatus {
        RunStatus {
            total: 329,
            passed: done.saturating_sub(1),
            warned: done.min(1),
            failed: 0,
            running: 8,
            waits: waits
                .iter()
                .map(|(case, minutes, real, left)| Wait {
                    case: (*case).into(),
                    minutes: *minutes,
                    real: Duration::from_secs(*real),
                    until: now + Duration::from_secs(*left),
                })
                .collect(),
        }
    }

    #[rstest]
    #[case::at_the_start(0, &[], 0, "   0 s  cases 0/329 (0 passed, 0 warned, 0 failed), 8 running  ETA \u{2013}")]
    #[case::by_pace(100, &[], 10, "  10 s  cases 100/329 (99 passed, 1 warned, 0 failed), 8 running  ETA 23 s")]
    #[case::waiting_longer_than_the_pace(
        300,
        &[("mqtt:timers/a", 3.5, 210, 30), ("http:update/a-new-step-timeout-replaces-the-old", 4.5, 270, 200)],
        60,
        "  60 s  cases 300/329 (299 passed, 1 warned, 0 failed), 8 running  waiting: http:update/a-new-step-timeout-replaces-the-old \u{2014} 4.5 min of target time, 3 min 20 s left  ETA 3 min 20 s"
    )]
    #[case::a_short_wait_under_the_pace(
        10,
        &[("http:update/x", 0.5, 3, 2)],
        5,
        "   5 s  cases 10/329 (9 passed, 1 warned, 0 failed), 8 running  waiting: http:update/x \u{2014} 0.5 min of target time, 2 s left  ETA 2 min 40 s"
    )]
    fn a_status_reads_as_one_line(
        #[case] done: usize,
        #[case] waits: &[(&str, f64, u64, u64)],
        #[case] elapsed_s: u64,
        #[case] expected: &str,
    ) {
        let now = Instant::now();
        let status = status(done, waits, now);
        assert_eq!(
            run_line(&status, Duration::from_secs(elapsed_s), now),
            expected
        );
    }

    #[rstest]
    #[case::no_wait(&[], 31, false)]
    #[case::a_wait_shorter_than_the_period(&[("http:a", 4.5, 20, 10)], 31, false)]
    #[case::a_long_wait_but_a_line_just_went(&[("http:a", 4.5, 270, 100)], 29, false)]
    #[case::a_long_wait_and_a_line_is_due(&[("http:a", 4.5, 270, 100)], 30, true)]
    fn a_plain_line_goes_only_during_a_long_wait_and_not_too_often(
        #[case] waits: &[(&str, f64, u64, u64)],
        #[case] since_logged_s: u64,
        #[case] due: bool,
    ) {
        let status = status(5, waits, Instant::now());
        let period = Duration::from_secs(30);
        assert_eq!(
            log_due(&status, period, Duration::from_secs(since_logged_s)),
            due
        );
    }
}
