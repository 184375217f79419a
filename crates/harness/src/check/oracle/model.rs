//! The state model: what the harness itself believes about each thing's executions, the jobs
//! the case seeded, and the target's clock. Judges read it to predict an answer and move it on.

use std::collections::BTreeMap;

use serde_json::Value;

use super::order::OpenPick;
use super::{JobFacts, Window};
use crate::finding::{Cause, Finding};
use jobcert_contract::{ExecutionModel, RequirementId, Status, execution_model, req};

/// What the model believes a value is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Belief<T> {
    /// Certain: a different observation breaks the requirement of the check.
    Known(T),
    /// The default of an open question: a different observation breaks `requirement`.
    Expected(T, RequirementId),
    /// Not known yet: the first observation is taken.
    Unknown,
}

impl<T: PartialEq + Clone + std::fmt::Debug> Belief<T> {
    /// Compares `observed`, reports under `requirement` (or the belief's own), then adopts it.
    pub(super) fn settle(
        &mut self,
        observed: T,
        requirement: RequirementId,
        what: &str,
        seq: Option<u64>,
        out: &mut Vec<Finding>,
    ) {
        match self {
            Belief::Known(v) => out.push(Finding::check(
                *v == observed,
                requirement,
                format!("{what}: expected {v:?}, got {observed:?}"),
                seq,
            )),
            Belief::Expected(v, r) => out.push(Finding::check(
                *v == observed,
                *r,
                format!("{what}: expected {v:?}, got {observed:?}"),
                seq,
            )),
            Belief::Unknown => {}
        }
        *self = Belief::Known(observed);
    }

    pub(super) fn value(&self) -> Option<&T> {
        match self {
            Belief::Known(v) | Belief::Expected(v, _) => Some(v),
            Belief::Unknown => None,
        }
    }
}

impl Belief<i64> {
    /// One more, as certain as before: a change adds one to whatever the value was (spec
    /// §7.10 leaves only the first value open, and that stays under its own requirement).
    pub(super) fn bumped(&self) -> Self {
        match self {
            Belief::Known(v) => Belief::Known(v + 1),
            Belief::Expected(v, r) => Belief::Expected(v + 1, *r),
            Belief::Unknown => Belief::Unknown,
        }
    }
}

/// Which timer set a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    Step,
    InProgress,
    /// A step timer set to run past the in-progress deadline, so capped at it.
    CappedStep,
}

impl Timer {
    pub(super) fn name(self) -> &'static str {
        match self {
            Timer::Step => "step timer",
            Timer::InProgress => "in-progress timer",
            Timer::CappedStep => "step timer, capped at the in-progress deadline,",
        }
    }

    pub(super) fn expiry_requirement(self) -> RequirementId {
        match self {
            Timer::Step => req::TM_STEP_EXPIRY,
            Timer::InProgress => req::TM_IN_PROGRESS_EXPIRY,
            Timer::CappedStep => req::UP_STEP_CAP,
        }
    }
}

/// One execution as the model believes it to be.
#[derive(Debug, Clone)]
pub(super) struct Execution {
    /// The job's logical id.
    pub(super) job: String,
    pub(super) number: Belief<i64>,
    pub(super) status: Status,
    pub(super) version: Belief<i64>,
    pub(super) details: Belief<BTreeMap<String, String>>,
    pub(super) queued: Window,
    pub(super) started: Option<Window>,
    pub(super) step: Option<Window>,
    pub(super) in_progress: Option<Window>,
    /// The deadline may have passed, but not surely by the slack: either status is right.
    pub(super) uncertain: bool,
    /// Creation sequence across the case (the tie-break of spec §7.12).
    pub(super) order: usize,
    pub(super) retries_used: u32,
    /// A retry's number is opaque but greater than its predecessor's (spec §1.1, §5.3).
    pub(super) number_above: Option<i64>,
    /// The exchange that last set a timer.
    pub(super) timers_set_by: Option<u64>,
    /// An accepted request whose stepTimeoutInMinutes the schema refuses, which must have left
    /// every timer as it was (UP-STEP-INVALID-TIMERS): a timer that then does not fire is
    /// blamed on it, not on the timer.
    pub(super) timers_kept_after: Option<u64>,
    /// The accepted Update whose stepTimeoutInMinutes -1 cancelled a running step timer, and
    /// nothing else (UP-STEP-CANCEL): an end before the in-progress deadline is blamed on it.
    pub(super) step_cancelled_by: Option<u64>,
    /// The timestamps the target reported (queuedAt and startedAt never change).
    pub(super) stamps: Stamps,
    /// Why the current state is believed without having been seen, if it is.
    pub(super) predicted: Option<Prediction>,
    /// After an update that supplied statusDetails: the map merged into the stored one, the
    /// alternative to `details` that spec §7.8 leaves open.
    pub(super) details_merged: Option<BTreeMap<String, String>>,
}

/// The timestamps the target last reported for an execution, and whether an accepted change
/// since then lets lastUpdatedAt move.
#[derive(Debug, Clone, Default)]
pub(super) struct Stamps {
    pub(super) queued_at: Option<i64>,
    pub(super) started_at: Option<i64>,
    pub(super) updated_at: Option<i64>,
    /// A change was accepted (or may have happened) since `updated_at` was seen.
    pub(super) changed: bool,
}

/// A state the model moved an execution to on its own (a timer that fired, a retry queued,
/// a cancel) rather than because the target showed it: the requirement that demands it, what
/// was predicted and from which exchange, and the state before it (none for an execution the
/// prediction created). A contradiction is blamed on the prediction once (see `cause`).
#[derive(Debug, Clone)]
pub(super) struct Prediction {
    pub(super) requirement: RequirementId,
    pub(super) what: String,
    pub(super) before: Option<Box<Execution>>,
    /// The creation sequence of the execution whose retry this is.
    pub(super) retry_of: Option<usize>,
    /// A failure named earlier that already says the prediction cannot come true (a step
    /// timer whose start failed its check): a contradiction is its follow-on, not a new cause.
    pub(super) caused_by: Option<Cause>,
}

impl Execution {
    /// A freshly queued execution of `job`.
    pub(super) fn queued(job: &str, window: Window, order: usize, facts: &ExecutionModel) -> Self {
        Self {
            job: job.to_string(),
            number: Belief::Unknown,
            status: Status::Queued,
            version: Belief::Expected(facts.initial_version_number, req::EX_INITIAL_VERSION),
            details: Belief::Known(BTreeMap::new()),
            queued: window,
            started: None,
            step: None,
            in_progress: None,
            uncertain: false,
            order,
            retries_used: 0,
            number_above: None,
            timers_set_by: None,
            timers_kept_after: None,
            step_cancelled_by: None,
            stamps: Stamps::default(),
            predicted: None,
            details_merged: None,
        }
    }

    /// The nearer of the running timers' deadlines, and which timer set it.
    pub(super) fn deadline(&self) -> Option<(Window, Timer)> {
        match (self.step, self.in_progress) {
            // A step deadline is set capped, so it reaches the in-progress one only when capped.
            (Some(s), Some(i)) if i.hi <= s.hi => Some((i, Timer::CappedStep)),
            (Some(s), ip) => Some((s.min(ip), Timer::Step)),
            (None, Some(i)) => Some((i, Timer::InProgress)),
            (None, None) => None,
        }
    }

    /// A service-driven transition to `status`: timers stop and the version is expected to
    /// move on (spec §7.10).
    pub(super) fn service_moved(&mut self, status: Status) {
        self.status = status;
        self.step = None;
        self.in_progress = None;
        self.uncertain = false;
        self.stamps.changed = true;
        let v = self.version.value().copied();
        self.version = v.map_or(Belief::Unknown, |v| {
            Belief::Expected(v + 1, req::TM_SERVICE_VERSION)
        });
    }

    /// Settles the stored statusDetails with `observed` under `requirement`. After an update
    /// that supplied a map, merged instead of replaced breaks only UP-DETAILS-REPLACE (spec
    /// §7.8); anything else loses what the target accepted (UP-DETAILS-STORED).
    pub(super) fn settle_details(
        &mut self,
        observed: BTreeMap<String, String>,
        (requirement, what): (RequirementId, &str),
        seq: Option<u64>,
        out: &mut Vec<Finding>,
    ) {
        if let Some(merged) = self.details_merged.take() {
            let accepted = self.details.value().cloned().unwrap_or_default();
            let stored = observed == accepted || observed == merged;
            out.push(Finding::check(
                stored,
                req::UP_DETAILS_STORED,
                format!("{what}: the update accepted {accepted:?}, got {observed:?}"),
                seq,
            ));
            if !stored || observed == merged {
                out.push(Finding::check(
                    observed == accepted,
                    req::UP_DETAILS_REPLACE,
                    format!(
                        "{what}: expected {accepted:?} in place of the stored map, got {observed:?}"
                    ),
                    seq,
                ));
                self.details = Belief::Known(observed);
                return;
            }
        }
        self.details.settle(observed, requirement, what, seq, out);
    }

    /// A change the target accepted: one more version, and lastUpdatedAt may move.
    pub(super) fn changed(&mut self) {
        self.version = self.version.bumped();
        self.stamps.changed = true;
    }

    /// Its timer expired.
    pub(super) fn time_out(&mut self, facts: &ExecutionModel) {
        self.service_moved(facts.timers.expired_status);
    }
}

/// What the model knows of the case beyond any one thing: the contract's facts, the seeded
/// jobs, the creation sequence and the target's clock.
#[derive(Debug)]
pub(super) struct Case {
    pub(super) facts: &'static ExecutionModel,
    pub(super) jobs: BTreeMap<String, JobFacts>,
    /// The last creation sequence number handed out.
    pub(super) order: usize,
    /// Deadlines surely past only after this much more time.
    pub(super) slack_ms: f64,
    /// The range of offsets (target-clock epoch ms minus run-relative target ms) that every
    /// timestamp seen so far allows.
    pub(super) epoch_offset: Option<(f64, f64)>,
    /// Tolerance on timestamps and countdowns, in target milliseconds.
    pub(super) tolerance_ms: f64,
    /// Where, among the findings of the answer being judged, its root cause was named.
    pub(super) cause_at: Option<usize>,
    /// The failed scripted checks that a step timer did not start (SN-STEP-TIMER), by the
    /// exchange that was to start it.
    pub(super) timers_not_started: BTreeMap<u64, Cause>,
}

impl Case {
    pub(super) fn new(tolerance_ms: f64) -> Self {
        let facts = execution_model();
        Self {
            facts,
            jobs: BTreeMap::new(),
            order: 0,
            slack_ms: facts.timers.expiry_slack_seconds as f64 * 1000.0,
            epoch_offset: None,
            tolerance_ms,
            cause_at: None,
            timers_not_started: BTreeMap::new(),
        }
    }

    /// The failure that says the step timer exchange `seq` set never started, if one was named.
    pub(super) fn timer_not_shown(&self, seq: u64) -> Option<Cause> {
        self.timers_not_started.get(&seq).copied()
    }

    /// The next creation sequence number.
    pub(super) fn next_order(&mut self) -> usize {
        self.order += 1;
        self.order
    }

    /// The real id of a logical job, for messages (the logical id if the job is not seeded).
    pub(super) fn real_id<'a>(&'a self, job: &'a str) -> &'a str {
        self.jobs.get(job).map_or(job, |j| j.real_id.as_str())
    }

    /// Whether execution `e` is of the job whose real id is `real`.
    pub(super) fn is_job(&self, e: &Execution, real: &str) -> bool {
        self.jobs.get(&e.job).is_some_and(|j| j.real_id == real)
    }
}

/// One thing the case created, with its executions in creation order.
#[derive(Debug, Default)]
pub(super) struct ThingModel {
    /// Its real name on the target.
    pub(super) real: String,
    pub(super) executions: Vec<Execution>,
    /// Head picks the target's queuedAt has yet to settle.
    pub(super) open_picks: Vec<OpenPick>,
}

impl ThingModel {
    pub(super) fn new(real: &str) -> Self {
        Self {
            real: real.to_string(),
            executions: Vec::new(),
            open_picks: Vec::new(),
        }
    }

    /// Applies the timers as of `window`: deadlines surely past (beyond the slack) have
    /// expired; deadlines that may have passed leave the status open.
    /// An expiry the model applies unseen is a prediction of the timer's requirement.
    pub(super) fn expire(&mut self, case: &mut Case, window: Window, seq: Option<u64>) {
        let mut retries = Vec::new();
        for (i, e) in self.executions.iter_mut().enumerate() {
            if e.status != Status::InProgress {
                continue;
            }
            let Some((deadline, timer)) = e.deadline() else {
                continue;
            };
            if window.lo > deadline.hi + case.slack_ms {
                let before = e.clone();
                e.time_out(case.facts);
                let by = e
                    .timers_set_by
                    .map_or(String::new(), |n| format!(" set by exchange #{n}"));
                let when = seq.map_or(String::new(), |n| format!(" by exchange #{n}"));
                let (requirement, kept) = match e.timers_kept_after {
                    Some(n) => (
                        req::UP_STEP_INVALID_TIMERS,
                        format!(", exchange #{n}'s invalid stepTimeoutInMinutes leaving it"),
                    ),
                    None => (timer.expiry_requirement(), String::new()),
                };
                let caused_by = match timer {
                    Timer::Step | Timer::CappedStep => {
                        e.timers_set_by.and_then(|n| case.timer_not_shown(n))
                    }
                    Timer::InProgress => None,
                };
                e.predicted = Some(Prediction {
                    requirement,
                    what: format!(
                        "the {}{by} had expired{when}{kept}, so {} was predicted",
                        timer.name(),
                        e.status.as_str()
                    ),
                    before: Some(Box::new(before)),
                    retry_of: None,
                    caused_by,
                });
                retries.push(i);
            } else {
                e.uncertain = window.hi >= deadline.lo;
                e.stamps.changed |= e.uncertain;
            }
        }
        for i in retries {
            self.queue_retry(i, case, window, None);
        }
    }

    /// Queues the retry of execution `i`, just finished, when its job's retry criteria allow one.
    /// The retry is a prediction of EX-RETRY until the target shows it.
    pub(super) fn queue_retry(
        &mut self,
        i: usize,
        case: &mut Case,
        window: Window,
        seq: Option<u64>,
    ) {
        let e = &self.executions[i];
        let Some(covering) = case.facts.timers.retryable_failures.get(&e.status) else {
            return;
        };
        let Some(job) = case.jobs.get(&e.job) else {
            return;
        };
        let allowed = job
            .retry
            .iter()
            .any(|(kind, n)| covering.contains(kind) && e.retries_used < *n);
        if !allowed {
            return;
        }
        let by = seq.map_or(String::new(), |n| format!(" by exchange #{n}"));
        let what = format!(
            "{}{by} with retries configured, so a new QUEUED execution of {} was predicted",
            e.status.as_str(),
            case.real_id(&e.job)
        );
        let (job, above, retries_used, retry_of) = (
            e.job.clone(),
            e.number.value().copied(),
            e.retries_used + 1,
            e.order,
        );
        let order = case.next_order();
        let mut next = Execution::queued(&job, window, order, case.facts);
        next.number_above = above;
        next.retries_used = retries_used;
        next.predicted = Some(Prediction {
            requirement: req::EX_RETRY,
            what,
            before: None,
            retry_of: Some(retry_of),
            caused_by: None,
        });
        self.executions.push(next);
    }

    /// The pending executions, in "next" order.
    pub(super) fn pending(&self, facts: &ExecutionModel) -> Vec<usize> {
        let idx: Vec<usize> = (0..self.executions.len())
            .filter(|&i| facts.pending_rank(self.executions[i].status).is_some())
            .collect();
        // The target's own queuedAt orders them when it has shown every one of a group;
        // creation order otherwise (and within a second, spec §7.12).
        let stamped = |rank| {
            idx.iter().all(|&i| {
                let e = &self.executions[i];
                facts.pending_rank(e.status) != rank || e.stamps.queued_at.is_some()
            })
        };
        let keys: Vec<_> = idx
            .iter()
            .map(|&i| {
                let e = &self.executions[i];
                let rank = facts.pending_rank(e.status);
                let second = e.stamps.queued_at.filter(|_| stamped(rank));
                (rank, second, e.order, i)
            })
            .collect();
        let mut keys = keys;
        keys.sort();
        keys.into_iter().map(|(.., i)| i).collect()
    }

    /// The executions that could be the head: the first pending one, any before it whose
    /// expiry is open, and any queued in the same second as it (the tie-break is open). The
    /// second value is the head the defaults predict.
    pub(super) fn head_candidates(&self, facts: &ExecutionModel) -> (Vec<usize>, Option<usize>) {
        let pending = self.pending(facts);
        let mut candidates = Vec::new();
        for (n, &i) in pending.iter().enumerate() {
            candidates.push(i);
            let head = &self.executions[i];
            if !head.uncertain {
                candidates.extend(pending[n + 1..].iter().copied().filter(|&j| {
                    let other = &self.executions[j];
                    other.status == head.status && may_tie(head, other)
                }));
                return (candidates, Some(i));
            }
        }
        (candidates, None)
    }
}

pub(super) fn minutes_ms(m: i64) -> f64 {
    m as f64 * 60_000.0
}

/// An integer member as sent, read as the target reads it: `5.0` is 5
/// ([`jobcert_contract::whole_number`]).
pub(super) fn whole(v: &Value) -> Option<i64> {
    v.as_number().and_then(jobcert_contract::whole_number)
}

/// A statusDetails map as sent or answered (`None` unless every value is a string).
pub(super) fn details_of(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let map = v?.as_object()?;
    map.iter()
        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

/// Whether two executions may carry the same queuedAt second, so that their order is the
/// open tie-break (spec §7.12) rather than queue time: the harness's windows allow it and the
/// target's own queuedAt, once it has shown both, agrees.
pub(super) fn may_tie(a: &Execution, b: &Execution) -> bool {
    let windows = a.queued.lo - 1000.0 < b.queued.hi && b.queued.lo - 1000.0 < a.queued.hi;
    match (a.stamps.queued_at, b.stamps.queued_at) {
        (Some(x), Some(y)) => windows && x == y,
        _ => windows,
    }
}

/// Whether `a` may be listed before `b` (both of one status): queued earlier by the target's
/// clock when it has shown both in different seconds, else created earlier, or in the same
/// second.
pub(super) fn may_precede(a: &Execution, b: &Execution) -> bool {
    match (a.stamps.queued_at, b.stamps.queued_at) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a.order < b.order || may_tie(a, b),
    }
}
