//! The timing premise of a case: its scenario puts every step on one side of each timer
//! deadline, counting only the target time its `wait`s (and awaited notifications) let pass
//! since the timer was set; the other steps are meant to take no time. A step that ended after
//! a deadline its scenario put it before came late (the harness was descheduled, or an answer
//! was slow), so what the target then answered depends on that lateness, not on the target.
//! Such a case is played again alone, under fresh names; one late at every attempt is not
//! judged from the late step on (WI-TIMING-PREMISE, a warning).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::Settings;
use super::case::CaseRun;
use crate::check::oracle::Deadline;
use crate::finding::{Cause, Finding};
use crate::plan::PlannedCase;
use crate::record::{CaseRecord, DiscardedAttempt};
use crate::transport::{ControlClient, DataClient, Target};
use jobcert_contract::req;

/// Attempts at one case, the first included.
const ATTEMPTS: u32 = 3;

/// How far the harness's clock (which stands still while the machine is paused) and the wall
/// clock (which a target's timers follow) may part during a case before its timing is no longer
/// what its scenario meant.
const CLOCKS_PART: Duration = Duration::from_secs(1);

/// How far the wall clock ran ahead of (or behind) the harness's clock, when by more than
/// [`CLOCKS_PART`]: `mono` and `wall` are the time each says has passed.
fn parted(mono: Duration, wall: Duration) -> Option<Duration> {
    let gap = wall.abs_diff(mono);
    (gap > CLOCKS_PART).then_some(gap)
}

/// Whether a timer `deadline` came before the end (`until`) of a step its scenario put before
/// it. `anchor` places the scenario's timeline on the target's clock at the step that set the
/// timer (its start less the target time the scenario meant to have passed by then), and
/// `intended` is the target time the scenario meant to have passed by the step (its `wait`s,
/// and the time notifications were awaited): the scenario put the step at `anchor + intended`.
/// Lateness before the timer was set moves the deadline with it, so it does not count.
fn came_late(anchor: f64, intended: f64, until: f64, deadline: f64) -> bool {
    anchor + intended < deadline && deadline < until
}

/// One call step: its number (from 1), what it called, when it began and the target time its
/// scenario meant to have passed by then.
#[derive(Debug, Clone, Copy)]
struct Mark {
    step: usize,
    what: &'static str,
    start: f64,
    intended: f64,
}

/// Where a case's call steps landed, in target milliseconds since the run began, and the first
/// that came later than a timer deadline its scenario put it before.
#[derive(Debug)]
pub(super) struct Track {
    marks: Vec<Mark>,
    /// Target time the scenario meant to pass so far.
    intended: f64,
    late: Option<Late>,
    /// The harness's clock and the wall clock when the case began.
    began: (Instant, SystemTime),
}

impl Track {
    /// The track of a case beginning now.
    pub(super) fn new() -> Self {
        Self {
            marks: Vec::new(),
            intended: 0.0,
            late: None,
            began: (Instant::now(), SystemTime::now()),
        }
    }

    /// After step number `step` (`what` it did; `findings` and `exchanges` how many the case
    /// had before it): when the wall clock has parted from the harness's since the case began
    /// (the machine was paused, or its clock stepped), every timer the target runs has moved
    /// against the scenario's steps, so the case came late here.
    pub(super) fn clocks(
        &mut self,
        (step, what): (usize, &str),
        (findings, exchanges): (usize, usize),
    ) {
        if self.late.is_some() {
            return;
        }
        let mono = self.began.0.elapsed();
        let wall = SystemTime::now()
            .duration_since(self.began.1)
            .unwrap_or_default();
        if let Some(gap) = parted(mono, wall) {
            self.late = Some(Late {
                deadline: format!(
                    "the wall clock and the harness's clock parted by {:.1} s (the machine was \
                     paused, or its clock stepped), moving every timer of the target",
                    gap.as_secs_f64()
                ),
                between: format!("the start and step {step} ({what})"),
                findings,
                exchanges,
            });
        }
    }

    /// `ms` of target time the scenario meant to pass (a `wait`, an awaited notification).
    pub(super) fn intend(&mut self, ms: f64) {
        self.intended += ms;
    }

    /// Call step number `step` (`what` it calls) ran from `start` to `end`; `deadlines` are the
    /// timers the model knew running before it, each with when the exchange that set it was
    /// sent, and `findings` and `exchanges` how many the case had then.
    pub(super) fn call(
        &mut self,
        (step, what): (usize, &'static str),
        (start, end): (f64, f64),
        deadlines: &[(Deadline, Option<f64>)],
        (findings, exchanges): (usize, usize),
    ) {
        let here = Mark {
            step,
            what,
            start,
            intended: self.intended,
        };
        if self.late.is_none() {
            self.late = deadlines.iter().find_map(|(d, set_at)| {
                let setter = set_at.and_then(|t| self.last_before(t)).unwrap_or(here);
                let anchor = setter.start - setter.intended;
                came_late(anchor, self.intended, end, d.at.lo).then(|| {
                    let before = self.last_before(d.at.lo).unwrap_or(setter);
                    Late {
                        deadline: d.what.clone(),
                        between: format!(
                            "step {} ({}) and step {step} ({what})",
                            before.step, before.what
                        ),
                        findings,
                        exchanges,
                    }
                })
            });
        }
        self.marks.push(here);
    }

    /// The latest call step that began by `ms`.
    fn last_before(&self, ms: f64) -> Option<Mark> {
        self.marks.iter().rev().find(|m| m.start <= ms).copied()
    }

    /// The first lateness seen, if any.
    pub(super) fn late(self) -> Option<Late> {
        self.late
    }
}

/// A deadline that came before the end of a step its scenario put before it.
#[derive(Debug, Clone)]
pub(super) struct Late {
    deadline: String,
    between: String,
    /// The case's findings and exchanges from the late step on are these and after.
    findings: usize,
    exchanges: usize,
}

impl Late {
    /// Whether the lateness may have changed the case's verdict: something from the late step
    /// on was found wrong (a pass cannot have been caused by it).
    fn mattered(&self, record: &CaseRecord) -> bool {
        record.findings[self.findings.min(record.findings.len())..]
            .iter()
            .any(|f| !f.passed && f.caused_by.is_none())
    }

    fn discarded(&self, attempt: u32) -> DiscardedAttempt {
        DiscardedAttempt {
            attempt,
            deadline: self.deadline.clone(),
            between: self.between.clone(),
        }
    }

    /// Leaves the findings from the late step on unweighed: follow-ons of one WI-TIMING-PREMISE
    /// warning that says where the case came late.
    fn excuse(&self, record: &mut CaseRecord) {
        let at = self.findings.min(record.findings.len());
        let exchange = record.exchanges.get(self.exchanges).map(|e| e.seq);
        let warning = Finding::fail(
            req::WI_TIMING_PREMISE,
            format!(
                "{} fell between {}, at each of {ATTEMPTS} attempts; the checks from then on \
                 depend on how late the step came, so they are not weighed",
                self.deadline, self.between
            ),
            exchange,
        );
        let cause = Cause::of(&warning);
        for f in &mut record.findings[at..] {
            if !f.passed && f.caused_by.is_none() {
                f.caused_by = Some(cause);
            }
        }
        record.findings.insert(at, warning);
    }
}

/// One case and what every attempt at it shares.
pub(super) struct Attempts<'a> {
    pub(super) case: &'a PlannedCase,
    pub(super) index: usize,
    pub(super) target: &'a Target,
    pub(super) settings: &'a Settings,
    pub(super) seq: Arc<AtomicU64>,
    /// The run's shared pool or broker; each attempt has its own client on it.
    pub(super) client: DataClient,
    pub(super) control: &'a ControlClient,
}

impl Attempts<'_> {
    /// Plays the case, holding `permit` of `gate`; while an attempt came late with something
    /// found wrong after it, plays it again alone (every permit of `gate` held), at most
    /// [`ATTEMPTS`] times in all. The record kept lists the attempts discarded.
    pub(super) async fn play(
        self,
        gate: Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        stop: &CancellationToken,
    ) -> CaseRecord {
        let all = u32::try_from(self.settings.concurrency.max(1)).unwrap_or(u32::MAX);
        let mut held = permit;
        let mut discarded = Vec::new();
        let mut attempt = 1;
        loop {
            let client = self.client.share().expect("a shared pool or broker");
            let (mut record, late) = CaseRun::new(
                self.case,
                (self.index, attempt),
                self.target,
                self.settings,
                self.seq.clone(),
                client,
                self.control,
            )
            .play(stop)
            .await;
            let Some(late) = late.filter(|l| l.mattered(&record)) else {
                record.discarded = discarded;
                return record;
            };
            if attempt == ATTEMPTS || stop.is_cancelled() {
                return excused(record, &late, discarded);
            }
            discarded.push(late.discarded(attempt));
            drop(held);
            held = tokio::select! {
                p = gate.clone().acquire_many_owned(all) => p.expect("semaphore open"),
                () = stop.cancelled() => return excused(record, &late, discarded),
            };
            attempt += 1;
        }
    }
}

/// `record`, late at its last attempt, with its checks from then on unweighed.
fn excused(mut record: CaseRecord, late: &Late, discarded: Vec<DiscardedAttempt>) -> CaseRecord {
    late.excuse(&mut record);
    record.discarded = discarded;
    record
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use std::time::Duration;

    use super::{Deadline, Late, Track, came_late, parted};
    use crate::check::oracle::Window;
    use crate::finding::{Cause, Finding, of_level};
    use crate::record::CaseRecord;
    use jobcert_contract::{Level, req};

    #[rstest]
    #[case::together(1_000, 1_000, None)]
    #[case::scheduling_noise(10_000, 10_300, None)]
    #[case::machine_paused(10_000, 54_000, Some(44_000))]
    #[case::clock_stepped_back(10_000, 7_000, Some(3_000))]
    fn the_clocks_part_when_the_machine_pauses_or_a_clock_steps(
        #[case] mono_ms: u64,
        #[case] wall_ms: u64,
        #[case] gap_ms: Option<u64>,
    ) {
        let gap = parted(
            Duration::from_millis(mono_ms),
            Duration::from_millis(wall_ms),
        );
        assert_eq!(gap.map(|g| g.as_millis() as u64), gap_ms);
    }

    #[test]
    fn a_case_whose_clocks_parted_came_late_at_that_step() {
        let mut track = Track::new();
        track.began.1 -= Duration::from_secs(30);
        track.clocks((3, "wait"), (4, 2));
        let late = track.late().expect("late");
        assert!(
            late.deadline.contains("parted by 30.0 s"),
            "{}",
            late.deadline
        );
        assert_eq!(late.between, "the start and step 3 (wait)");
        assert_eq!((late.findings, late.exchanges), (4, 2));
        let mut steady = Track::new();
        steady.clocks((1, "UpdateJobExecution"), (0, 0));
        assert!(steady.late().is_none());
    }

    // Target milliseconds; the timer is set by a step that began at `anchor` on the
    // scenario's timeline, the step judged was meant to come `intended` after the case began
    // and ended at `until`.
    #[rstest]
    #[case::inside_a_wait(0.0, 8_000.0, 8_100.0, 5_000.0, false)]
    #[case::between_two_calls(0.0, 0.0, 10_000.0, 5_000.0, true)]
    #[case::after_a_wait_overran(0.0, 3_000.0, 5_200.0, 5_000.0, true)]
    #[case::steps_before_a_wait_came_late(0.0, 1_200.0, 4_100.0, 4_000.0, true)]
    #[case::lateness_before_the_timer_was_set(3_000.0, 2_200.0, 5_300.0, 4_000.0, false)]
    #[case::still_ahead(0.0, 0.0, 1_000.0, 5_000.0, false)]
    fn a_deadline_before_a_step_meant_to_precede_it_is_late(
        #[case] anchor: f64,
        #[case] intended: f64,
        #[case] until: f64,
        #[case] deadline: f64,
        #[case] late: bool,
    ) {
        assert_eq!(came_late(anchor, intended, until, deadline), late);
    }

    fn deadline(ms: f64, set_at: f64) -> (Deadline, Option<f64>) {
        let at = Window {
            lo: ms,
            hi: ms + 50.0,
        };
        let what = format!("the timer at {ms}");
        (
            Deadline {
                at,
                what,
                set_by: Some(1),
            },
            Some(set_at),
        )
    }

    /// Steps: 1 a call at 0, 2 a call at `second`, 3 a wait of 1,200, 4 a call ending at
    /// `until`; a timer set by step 1 or 2 runs to 4,000.
    #[rstest]
    #[case::none_running(&[], 100.0, 4_500.0, None)]
    #[case::on_time(&[deadline(4_000.0, 0.0)], 100.0, 1_400.0, None)]
    #[case::late(&[deadline(4_000.0, 0.0)], 100.0, 4_500.0, Some("step 2 (B) and step 4 (D)"))]
    #[case::set_by_a_late_step(&[deadline(4_000.0, 3_000.0)], 3_000.0, 4_500.0, None)]
    #[case::set_before_a_late_step(&[deadline(4_000.0, 0.0)], 3_000.0, 4_500.0, Some("step 2 (B) and step 4 (D)"))]
    fn a_track_names_the_steps_a_deadline_fell_between(
        #[case] deadlines: &[(Deadline, Option<f64>)],
        #[case] second: f64,
        #[case] until: f64,
        #[case] between: Option<&str>,
    ) {
        let mut track = Track::new();
        track.call((1, "A"), (0.0, 50.0), &[], (0, 0));
        track.call((2, "B"), (second, second + 50.0), &[], (1, 1));
        track.intend(1_200.0);
        track.call((4, "D"), (until - 50.0, until), deadlines, (2, 2));
        let late = track.late();
        assert_eq!(late.as_ref().map(|l| l.between.as_str()), between);
    }

    /// A case whose step 2 came late; its findings are `(passed, a follow-on)`, the first
    /// one made before the late step.
    fn late_case(findings: &[(bool, bool)]) -> (CaseRecord, Late) {
        let other = Cause {
            requirement: req::SN_ROUTE,
            exchange: Some(1),
        };
        let findings = findings
            .iter()
            .map(|&(passed, follows)| {
                let f = Finding::check(passed, of_level(Level::Must), "m", Some(2));
                if follows { f.following(other) } else { f }
            })
            .collect();
        let record = CaseRecord {
            id: "s/c".into(),
            suite: "s".into(),
            name: "c".into(),
            description: None,
            source: None,
            requirements: Vec::new(),
            tags: Vec::new(),
            findings,
            exchanges: Vec::new(),
            aborted: None,
            duration_ms: 0,
            discarded: Vec::new(),
        };
        let late = Late {
            deadline: "the step timer".into(),
            between: "step 1 (A) and step 2 (B)".into(),
            findings: 1,
            exchanges: 0,
        };
        (record, late)
    }

    #[rstest]
    #[case::a_failure_after(&[(true, false), (false, false)], true)]
    #[case::a_failure_before_only(&[(false, false), (true, false)], false)]
    #[case::a_follow_on_after_only(&[(true, false), (false, true)], false)]
    #[case::nothing_after(&[(false, false)], false)]
    fn only_a_failure_from_the_late_step_on_matters(
        #[case] findings: &[(bool, bool)],
        #[case] matters: bool,
    ) {
        let (record, late) = late_case(findings);
        assert_eq!(late.mattered(&record), matters);
    }

    #[test]
    fn an_excused_case_weighs_one_warning_from_the_late_step_on() {
        let (mut record, late) =
            late_case(&[(false, false), (false, false), (true, false), (false, true)]);
        let before = record.findings.clone();
        late.excuse(&mut record);
        let f = &record.findings;
        assert_eq!(f.len(), 5);
        assert_eq!(f[0], before[0], "a failure before the late step stays one");
        assert_eq!(f[1].requirement, req::WI_TIMING_PREMISE);
        assert!(!f[1].passed && f[1].caused_by.is_none());
        assert!(
            f[1].message.contains("between step 1 (A) and step 2 (B)"),
            "{}",
            f[1].message
        );
        assert_eq!(f[2].caused_by, Some(Cause::of(&f[1])));
        assert_eq!(f[3], before[2], "a pass stays a pass");
        assert_eq!(f[4], before[3], "a follow-on keeps its own cause");
    }
}
