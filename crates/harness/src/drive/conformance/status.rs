//! What a running conformance run publishes for a progress display: cases done (passed, warned,
//! failed), cases running, and the timer waits under way. The driver keeps it current on every
//! change; a display reads the latest and brings the clock (seconds left of a wait) itself, so
//! the driver knows nothing of terminals or of how often they redraw.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::finding::{Profile, Severity, severity};
use crate::record::CaseRecord;

/// A running conformance run, as far as it has got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStatus {
    /// Cases the run plans, over every binding it covers.
    pub total: usize,
    /// Cases ended with no failure and no warning.
    pub passed: usize,
    /// Cases ended with a warning and no failure.
    pub warned: usize,
    /// Cases ended with a failure, or aborted.
    pub failed: usize,
    /// Cases under way.
    pub running: usize,
    /// Timer waits under way (a case's `wait` step), in the order they began.
    pub waits: Vec<Wait>,
}

/// One case waiting for a target timer to run out.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    /// The case's id (`http:update/…` once a plan is bound to a transport).
    pub case: String,
    /// The wait in the target's time, in minutes.
    pub minutes: f64,
    /// The wait in real time.
    pub real: Duration,
    /// When it ends.
    pub until: Instant,
}

impl RunStatus {
    /// Cases ended, whatever their outcome.
    pub fn done(&self) -> usize {
        self.passed + self.warned + self.failed
    }

    /// The wait that ends last: the one the run is waiting on.
    pub fn waiting_on(&self) -> Option<&Wait> {
        self.waits.iter().max_by_key(|w| w.until)
    }
}

/// The driver's handle on a [`RunStatus`]; clones share it (one for every binding of a run).
#[derive(Debug, Clone)]
pub struct StatusBoard {
    sender: Arc<watch::Sender<RunStatus>>,
    profile: Profile,
}

impl StatusBoard {
    /// A board for a run of `total` cases whose findings weigh as `profile` says, and the
    /// receiver a display reads it from.
    pub fn new(total: usize, profile: Profile) -> (Self, watch::Receiver<RunStatus>) {
        let (sender, receiver) = watch::channel(RunStatus {
            total,
            ..RunStatus::default()
        });
        let board = Self {
            sender: Arc::new(sender),
            profile,
        };
        (board, receiver)
    }

    /// The status now.
    pub fn now(&self) -> RunStatus {
        self.sender.borrow().clone()
    }

    /// A case began.
    pub(super) fn started(&self) {
        self.sender.send_modify(|s| s.running += 1);
    }

    /// A case ended with `record`.
    pub(super) fn finished(&self, record: &CaseRecord) {
        let worst = match record.aborted {
            Some(_) => Severity::Failure,
            None => record
                .findings
                .iter()
                .map(|f| severity(f, self.profile))
                .max()
                .unwrap_or(Severity::Pass),
        };
        self.sender.send_modify(|s| {
            s.running = s.running.saturating_sub(1);
            match worst {
                Severity::Failure | Severity::Deviation => s.failed += 1,
                Severity::Warning => s.warned += 1,
                Severity::Pass | Severity::FollowOn => s.passed += 1,
            }
        });
    }

    /// `case` begins a wait of `minutes` of target time, `real` of real time; it is listed
    /// until the guard is dropped.
    pub(super) fn waiting(&self, case: String, minutes: f64, real: Duration) -> WaitGuard {
        let until = Instant::now() + real;
        let wait = Wait {
            case,
            minutes,
            real,
            until,
        };
        self.sender.send_modify(|s| s.waits.push(wait.clone()));
        WaitGuard {
            board: self.clone(),
            wait,
        }
    }
}

/// Lists a wait on its board while alive.
pub(super) struct WaitGuard {
    board: StatusBoard,
    wait: Wait,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.board.sender.send_modify(|s| {
            if let Some(i) = s.waits.iter().position(|w| *w == self.wait) {
                s.waits.remove(i);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use jobcert_contract::Level;
    use rstest::rstest;

    use super::*;
    use crate::finding::{Finding, of_level};

    /// A case record with one finding per `(level, passed)`, aborted if `aborted`.
    fn record(findings: &[(Level, bool)], aborted: bool) -> CaseRecord {
        CaseRecord {
            id: "s/c".into(),
            suite: "s".into(),
            name: "c".into(),
            description: None,
            source: None,
            requirements: Vec::new(),
            tags: Vec::new(),
            findings: findings
                .iter()
                .map(|(level, ok)| Finding::check(*ok, of_level(*level), "m", None))
                .collect(),
            exchanges: Vec::new(),
            aborted: aborted.then(|| "setup refused".into()),
            duration_ms: 0,
            discarded: Vec::new(),
        }
    }

    /// `(passed, warned, failed)` after one case with `findings` ends under `profile`.
    #[rstest]
    #[case::nothing_checked(&[], false, Profile::Aws, (1, 0, 0))]
    #[case::all_met(&[(Level::Must, true), (Level::Should, true)], false, Profile::Aws, (1, 0, 0))]
    #[case::a_should_broken(&[(Level::Must, true), (Level::Should, false)], false, Profile::Aws, (0, 1, 0))]
    #[case::ambiguous_warns_under_aws(&[(Level::Ambiguous, false)], false, Profile::Aws, (0, 1, 0))]
    #[case::ambiguous_fails_strictly(&[(Level::Ambiguous, false)], false, Profile::Strict, (0, 0, 1))]
    #[case::a_must_broken_beats_a_warning(&[(Level::Should, false), (Level::Must, false)], false, Profile::Aws, (0, 0, 1))]
    #[case::aborted(&[(Level::Must, true)], true, Profile::Aws, (0, 0, 1))]
    fn a_case_counts_as_its_worst_finding(
        #[case] findings: &[(Level, bool)],
        #[case] aborted: bool,
        #[case] profile: Profile,
        #[case] counts: (usize, usize, usize),
    ) {
        let (board, live) = StatusBoard::new(3, profile);
        board.started();
        board.started();
        assert_eq!(live.borrow().running, 2);
        board.finished(&record(findings, aborted));
        let s = live.borrow().clone();
        assert_eq!((s.passed, s.warned, s.failed), counts);
        assert_eq!((s.running, s.done(), s.total), (1, 1, 3));
    }

    #[test]
    fn the_run_waits_on_the_wait_that_ends_last_while_it_lasts() {
        let (board, live) = StatusBoard::new(2, Profile::Aws);
        assert_eq!(live.borrow().waiting_on(), None);
        let long = board.waiting("http:a".into(), 9.0, Duration::from_secs(60));
        let short = board.waiting("http:b".into(), 4.5, Duration::from_secs(1));
        assert_eq!(
            board.now().waiting_on().map(|w| w.case.as_str()),
            Some("http:a")
        );
        drop(long);
        let s = board.now();
        assert_eq!(s.waits.len(), 1);
        assert_eq!(s.waiting_on().map(|w| w.minutes), Some(4.5));
        drop(short);
        assert!(board.now().waits.is_empty());
    }
}
