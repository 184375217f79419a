//! The harness's own model of the target's state. It knows what the case seeded and every
//! request the harness made, predicts each answer, and checks it. It never calls the
//! reference engine: a bug shared by both would hide itself.
//!
//! Where the contract leaves room (spec §7) the model holds a belief with the default it
//! expects and the requirement to cite; the first observation settles it, so one departure
//! is reported once and does not cascade.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::answer::Answer;
use crate::finding::Finding;
use jobcert_contract::{
    Binding, ExecutionModel, NEXT_EXECUTION, Operation, Status, execution_model,
};

/// A span of target time, in milliseconds since the run started: when a request was sent and
/// when its answer arrived, in the target's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Earliest.
    pub lo: f64,
    /// Latest.
    pub hi: f64,
}

impl Window {
    fn shifted(self, ms: f64) -> Self {
        Self {
            lo: self.lo + ms,
            hi: self.hi + ms,
        }
    }

    fn min(self, other: Option<Window>) -> Self {
        match other {
            Some(o) => Self {
                lo: self.lo.min(o.lo),
                hi: self.hi.min(o.hi),
            },
            None => self,
        }
    }
}

/// What the model believes a value is.
#[derive(Debug, Clone, PartialEq)]
enum Belief<T> {
    /// Certain: a different observation breaks the requirement of the check.
    Known(T),
    /// The default of an open question: a different observation breaks `requirement`.
    Expected(T, &'static str),
    /// Not known yet: the first observation is taken.
    Unknown,
}

impl<T: PartialEq + Clone + std::fmt::Debug> Belief<T> {
    /// Compares `observed`, reports under `requirement` (or the belief's own), then adopts it.
    fn settle(
        &mut self,
        observed: T,
        requirement: &str,
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
                r,
                format!("{what}: expected {v:?}, got {observed:?}"),
                seq,
            )),
            Belief::Unknown => {}
        }
        *self = Belief::Known(observed);
    }

    fn value(&self) -> Option<&T> {
        match self {
            Belief::Known(v) | Belief::Expected(v, _) => Some(v),
            Belief::Unknown => None,
        }
    }
}

/// Which timer set a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Step,
    InProgress,
}

impl Timer {
    fn expiry_requirement(self) -> &'static str {
        match self {
            Timer::Step => "TM-STEP-EXPIRY",
            Timer::InProgress => "TM-IN-PROGRESS-EXPIRY",
        }
    }
}

#[derive(Debug, Clone)]
struct Execution {
    job: String,
    number: Belief<i64>,
    status: Status,
    version: Belief<i64>,
    details: Belief<BTreeMap<String, String>>,
    queued: Window,
    started: Option<Window>,
    step: Option<Window>,
    in_progress: Option<Window>,
    /// The deadline may have passed, but not surely by the slack: either status is right.
    uncertain: bool,
    order: usize,
    retries_used: u32,
}

impl Execution {
    fn deadline(&self) -> Option<(Window, Timer)> {
        match (self.step, self.in_progress) {
            (Some(s), Some(i)) if i.hi <= s.hi => Some((i, Timer::InProgress)),
            (Some(s), ip) => Some((s.min(ip), Timer::Step)),
            (None, Some(i)) => Some((i, Timer::InProgress)),
            (None, None) => None,
        }
    }
}

/// A job as the case seeded it.
#[derive(Debug, Clone)]
pub struct JobFacts {
    /// Logical id.
    pub id: String,
    /// Real id on the target.
    pub real_id: String,
    /// Document text.
    pub document: String,
    /// In-progress timeout.
    pub in_progress_minutes: Option<i64>,
    /// Retry criteria: failure type and count.
    pub retry: Vec<(String, u32)>,
}

#[derive(Debug, Default)]
struct Thing {
    real: String,
    executions: Vec<Execution>,
}

/// Whom a call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A thing or job the case created (logical name).
    Seeded(String),
    /// `$next`.
    Next,
    /// A name the case did not create: its state is unknown.
    Foreign,
    /// Not given.
    Absent,
}

/// One call, as the oracle needs to see it.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The operation.
    pub operation: Operation,
    /// The thing.
    pub thing: Subject,
    /// The job.
    pub job: Subject,
    /// The input as sent (real names).
    pub input: &'a Map<String, Value>,
    /// Whether the input satisfies the request schema and was sent as bound (invalid input
    /// is refused and changes nothing, so the model does not move).
    pub valid: bool,
    /// The wire binding it travelled on.
    pub binding: Binding,
    /// When it was sent and answered, in target time.
    pub window: Window,
    /// The exchange's sequence number.
    pub seq: u64,
}

/// The model of one case's things and jobs.
#[derive(Debug)]
pub struct Oracle {
    model: &'static ExecutionModel,
    things: BTreeMap<String, Thing>,
    absent: BTreeSet<String>,
    jobs: BTreeMap<String, JobFacts>,
    order: usize,
    slack_ms: f64,
    /// The range of offsets (target-clock epoch ms minus run-relative target ms) that every
    /// timestamp seen so far allows.
    epoch_offset: Option<(f64, f64)>,
    /// Tolerance on timestamps and countdowns, in target milliseconds.
    tolerance_ms: f64,
}

fn minutes_ms(m: i64) -> f64 {
    m as f64 * 60_000.0
}

fn details_of(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let map = v?.as_object()?;
    map.iter()
        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

impl Oracle {
    /// An empty model; `tolerance_ms` bounds clock disagreements (in target milliseconds).
    pub fn new(tolerance_ms: f64) -> Self {
        let model = execution_model();
        Self {
            model,
            things: BTreeMap::new(),
            absent: BTreeSet::new(),
            jobs: BTreeMap::new(),
            order: 0,
            slack_ms: model.timers.expiry_slack_seconds as f64 * 1000.0,
            epoch_offset: None,
            tolerance_ms,
        }
    }

    /// Records a created thing.
    pub fn thing_created(&mut self, logical: &str, real: &str) {
        self.things.insert(
            logical.to_string(),
            Thing {
                real: real.to_string(),
                executions: Vec::new(),
            },
        );
    }

    /// Records a thing the case names but never creates.
    pub fn thing_absent(&mut self, logical: &str) {
        self.absent.insert(logical.to_string());
    }

    /// Records a created job: one QUEUED execution per target.
    pub fn job_created(&mut self, job: JobFacts, targets: &[String], window: Window) {
        for t in targets {
            self.order += 1;
            if let Some(thing) = self.things.get_mut(t) {
                thing.executions.push(Execution {
                    job: job.id.clone(),
                    number: Belief::Unknown,
                    status: Status::Queued,
                    version: Belief::Expected(
                        self.model.initial_version_number,
                        "EX-INITIAL-VERSION",
                    ),
                    details: Belief::Known(BTreeMap::new()),
                    queued: window,
                    started: None,
                    step: None,
                    in_progress: None,
                    uncertain: false,
                    order: self.order,
                    retries_used: 0,
                });
            }
        }
        self.jobs.insert(job.id.clone(), job);
    }

    /// Records a CancelJob the target accepted.
    pub fn job_canceled(&mut self, job: &str, force: bool, window: Window) {
        let ids: Vec<String> = self.things.keys().cloned().collect();
        for id in ids {
            self.expire(&id, window);
            let thing = self.things.get_mut(&id).expect("listed");
            for e in thing.executions.iter_mut().filter(|e| e.job == job) {
                if e.status == Status::Queued || (force && e.status == Status::InProgress) {
                    e.status = Status::Canceled;
                    e.step = None;
                    e.in_progress = None;
                    e.uncertain = false;
                    let v = e.version.value().copied();
                    e.version = v.map_or(Belief::Unknown, |v| {
                        Belief::Expected(v + 1, "TM-SERVICE-VERSION")
                    });
                }
            }
        }
    }

    /// Applies the timers of `thing` as of `window`: deadlines surely past (beyond the slack)
    /// have expired; deadlines that may have passed leave the status open.
    fn expire(&mut self, thing: &str, window: Window) {
        let Some(t) = self.things.get_mut(thing) else {
            return;
        };
        let mut retries = Vec::new();
        for (i, e) in t.executions.iter_mut().enumerate() {
            if e.status != Status::InProgress {
                continue;
            }
            let Some((deadline, _)) = e.deadline() else {
                continue;
            };
            if window.lo > deadline.hi + self.slack_ms {
                Self::time_out(e, self.model);
                retries.push(i);
            } else {
                e.uncertain = window.hi >= deadline.lo;
            }
        }
        for i in retries {
            Self::queue_retry(t, i, &self.jobs, self.model, &mut self.order, window);
        }
    }

    fn time_out(e: &mut Execution, model: &ExecutionModel) {
        e.status = model.timers.expired_status;
        e.step = None;
        e.in_progress = None;
        e.uncertain = false;
        let v = e.version.value().copied();
        e.version = v.map_or(Belief::Unknown, |v| {
            Belief::Expected(v + 1, "TM-SERVICE-VERSION")
        });
    }

    fn queue_retry(
        t: &mut Thing,
        i: usize,
        jobs: &BTreeMap<String, JobFacts>,
        model: &ExecutionModel,
        order: &mut usize,
        window: Window,
    ) {
        let e = &t.executions[i];
        let Some(covering) = model.timers.retryable_failures.get(&e.status) else {
            return;
        };
        let Some(job) = jobs.get(&e.job) else { return };
        let allowed = job
            .retry
            .iter()
            .any(|(kind, n)| covering.contains(kind) && e.retries_used < *n);
        if !allowed {
            return;
        }
        *order += 1;
        let next = Execution {
            job: e.job.clone(),
            number: e
                .number
                .value()
                .map_or(Belief::Unknown, |n| Belief::Known(n + 1)),
            status: Status::Queued,
            version: Belief::Expected(model.initial_version_number, "EX-INITIAL-VERSION"),
            details: Belief::Known(BTreeMap::new()),
            queued: window,
            started: None,
            step: None,
            in_progress: None,
            uncertain: false,
            order: *order,
            retries_used: e.retries_used + 1,
        };
        t.executions.push(next);
    }

    fn pending(&self, thing: &Thing) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..thing.executions.len())
            .filter(|&i| {
                self.model
                    .pending_rank(thing.executions[i].status)
                    .is_some()
            })
            .collect();
        idx.sort_by_key(|&i| {
            let e = &thing.executions[i];
            (self.model.pending_rank(e.status), e.order)
        });
        idx
    }

    /// The executions that could be the head: the first pending one, any before it whose
    /// expiry is open, and any queued in the same second as it (the tie-break is open). The
    /// second value is the head the defaults predict.
    fn head_candidates(&self, thing: &Thing) -> (Vec<usize>, Option<usize>) {
        let pending = self.pending(thing);
        let mut candidates = Vec::new();
        for (n, &i) in pending.iter().enumerate() {
            candidates.push(i);
            let head = &thing.executions[i];
            if !head.uncertain {
                candidates.extend(pending[n + 1..].iter().copied().filter(|&j| {
                    let other = &thing.executions[j];
                    other.status == head.status && may_tie(head, other)
                }));
                return (candidates, Some(i));
            }
        }
        (candidates, None)
    }

    /// Judges one answer against the model and moves the model on. `attribution` replaces the
    /// requirement of every state check (used for the reads that verify a refusal changed nothing).
    pub fn judge(
        &mut self,
        call: &Call<'_>,
        answer: &Answer,
        attribution: Option<&str>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        // Invalid input is judged by the step's expectation; the model only checks it changed nothing.
        let Subject::Seeded(thing) = &call.thing else {
            return out;
        };
        if !call.valid {
            return out;
        }
        let thing = thing.clone();
        if self.absent.contains(&thing) {
            Self::absent_thing(call, answer, &mut out);
            return out;
        }
        self.expire(&thing, call.window);
        match call.operation {
            Operation::StartNextPendingJobExecution => {
                self.start_next(&thing, call, answer, &mut out)
            }
            Operation::UpdateJobExecution => self.update(&thing, call, answer, &mut out),
            Operation::DescribeJobExecution => self.describe(&thing, call, answer, &mut out),
            Operation::GetPendingJobExecutions => self.get_pending(&thing, call, answer, &mut out),
        }
        if let Some(r) = attribution {
            for f in &mut out {
                f.requirement = r.to_string();
            }
        }
        out
    }

    /// The execution a call names: `Ok(Some(i))`, `Ok(None)` when there is none (the target
    /// must say ResourceNotFound, citing `missing`), or `Err(())` when the call names an
    /// execution number the model has not seen yet (nothing can be predicted).
    fn named_execution(
        &self,
        thing: &str,
        job: &str,
        call: &Call<'_>,
        answer: &Answer,
        missing: &str,
        out: &mut Vec<Finding>,
    ) -> Result<usize, ()> {
        let executions = &self.things[thing].executions;
        let number = call.input.get("executionNumber").and_then(Value::as_i64);
        if number.is_some()
            && executions
                .iter()
                .any(|e| e.job == job && e.number.value().is_none())
        {
            return Err(());
        }
        let found = executions
            .iter()
            .enumerate()
            .filter(|(_, e)| e.job == job && number.is_none_or(|n| e.number.value() == Some(&n)))
            .map(|(i, _)| i)
            .next_back();
        found.ok_or_else(|| {
            Self::expect_error(
                out,
                answer,
                &["ResourceNotFoundException"],
                missing,
                missing,
                call.seq,
            );
        })
    }

    /// A thing that does not exist: nothing is pending and no execution of it exists (spec §7.14).
    fn absent_thing(call: &Call<'_>, answer: &Answer, out: &mut Vec<Finding>) {
        let seq = call.seq;
        let empty_ok = match call.operation {
            Operation::StartNextPendingJobExecution => Some(("SN-UNKNOWN-THING", "execution")),
            Operation::DescribeJobExecution if call.job == Subject::Next => {
                Some(("EX-UNKNOWN-THING", "execution"))
            }
            Operation::GetPendingJobExecutions => Some(("EX-UNKNOWN-THING", "")),
            _ => None,
        };
        match empty_ok {
            Some((requirement, member)) => match answer {
                Answer::Success(body) => {
                    let empty = if member.is_empty() {
                        body["inProgressJobs"].as_array().is_some_and(Vec::is_empty)
                            && body["queuedJobs"].as_array().is_some_and(Vec::is_empty)
                    } else {
                        body.get(member).is_none()
                    };
                    out.push(Finding::check(
                        empty,
                        "EX-EXECUTION",
                        format!("a thing that does not exist has nothing pending; got {body}"),
                        Some(seq),
                    ));
                    out.push(Finding::pass(
                        requirement,
                        "empty success for a thing that does not exist",
                        Some(seq),
                    ));
                }
                Answer::Error { .. } => out.push(Finding::check(
                    answer.error_type() == Some("ResourceNotFoundException"),
                    requirement,
                    format!(
                        "expected an empty success for a thing that does not exist, got {}",
                        answer.describe()
                    ),
                    Some(seq),
                )),
                _ => {}
            },
            None => {
                let requirement = match call.operation {
                    Operation::UpdateJobExecution => "UP-NOT-FOUND",
                    _ => "DE-NOT-FOUND",
                };
                Self::expect_error(
                    out,
                    answer,
                    &["ResourceNotFoundException"],
                    requirement,
                    requirement,
                    seq,
                );
            }
        }
    }

    fn expect_error(
        out: &mut Vec<Finding>,
        answer: &Answer,
        wanted: &[&str],
        requirement: &str,
        type_requirement: &str,
        seq: u64,
    ) -> bool {
        match answer {
            Answer::Error {
                status, type_name, ..
            } if (400..500).contains(status) => {
                let got = type_name.as_deref().unwrap_or("(none)");
                out.push(Finding::pass(
                    requirement,
                    format!("refused with {status} {got}"),
                    Some(seq),
                ));
                out.push(Finding::check(
                    wanted.contains(&got),
                    type_requirement,
                    format!("expected {}, got {got}", wanted.join(" or ")),
                    Some(seq),
                ));
                true
            }
            // No answer is a timeout (WI-ANSWER), not a wrong answer.
            Answer::Unanswered => false,
            other => {
                out.push(Finding::fail(
                    requirement,
                    format!(
                        "expected a refusal ({}), got {}",
                        wanted.join(" or "),
                        other.describe()
                    ),
                    Some(seq),
                ));
                false
            }
        }
    }

    fn expect_success<'b>(
        out: &mut Vec<Finding>,
        answer: &'b Answer,
        requirement: &str,
        seq: u64,
    ) -> Option<&'b Value> {
        match answer {
            Answer::Success(b) => Some(b),
            Answer::Unanswered => None,
            other => {
                out.push(Finding::fail(
                    requirement,
                    format!("expected success, got {}", other.describe()),
                    Some(seq),
                ));
                None
            }
        }
    }

    /// Checks an execution body against the model entry `i` of `thing` (without moving it).
    fn check_execution(
        &mut self,
        thing: &str,
        i: usize,
        body: &Value,
        call: &Call<'_>,
        with_document: bool,
        out: &mut Vec<Finding>,
    ) {
        let seq = Some(call.seq);
        let slack = self.slack_ms;
        let tol = self.tolerance_ms;
        let real_thing = self.things[thing].real.clone();
        let job = self
            .jobs
            .get(&self.things[thing].executions[i].job)
            .cloned();
        let e = &mut self.things.get_mut(thing).expect("seeded").executions[i];
        if let Some(job) = &job {
            out.push(Finding::check(
                body["jobId"] == job.real_id.as_str(),
                "EX-EXECUTION",
                format!("jobId: expected {}, got {}", job.real_id, body["jobId"]),
                seq,
            ));
            if with_document {
                let doc_req = match call.operation {
                    Operation::StartNextPendingJobExecution => "SN-DOCUMENT",
                    _ => "DE-DOCUMENT",
                };
                out.push(Finding::check(
                    document_matches(&body["jobDocument"], &job.document),
                    doc_req,
                    format!(
                        "jobDocument: expected the job's document text, got {}",
                        body["jobDocument"]
                    ),
                    seq,
                ));
            } else if call.operation == Operation::DescribeJobExecution {
                out.push(Finding::check(
                    body.get("jobDocument").is_none(),
                    "DE-DOCUMENT",
                    "includeJobDocument=false omits jobDocument",
                    seq,
                ));
            }
        }
        if body.get("thingName").is_some() {
            out.push(Finding::check(
                body["thingName"] == real_thing.as_str(),
                "EX-EXECUTION",
                format!(
                    "thingName: expected {real_thing}, got {}",
                    body["thingName"]
                ),
                seq,
            ));
        }
        if let Some(n) = body["executionNumber"].as_i64() {
            e.number
                .settle(n, "EX-EXECUTION", "executionNumber", seq, out);
        }
        // Status, with open expiry settled by what the target says.
        let observed = body["status"]
            .as_str()
            .and_then(|s| serde_json::from_value::<Status>(Value::String(s.into())).ok());
        if let Some(observed) = observed {
            if e.status == Status::InProgress
                && observed == self.model.timers.expired_status
                && let Some((deadline, timer)) = e.deadline()
            {
                let early = call.window.hi < deadline.lo;
                out.push(Finding::check(
                    !early,
                    "TM-NOT-EARLY",
                    format!("{} before its deadline", observed.as_str()),
                    seq,
                ));
                out.push(Finding::pass(
                    timer.expiry_requirement(),
                    "timed out after its deadline",
                    seq,
                ));
                let v = e.version.value().copied();
                e.status = observed;
                e.step = None;
                e.in_progress = None;
                e.uncertain = false;
                e.version = v.map_or(Belief::Unknown, |v| {
                    Belief::Expected(v + 1, "TM-SERVICE-VERSION")
                });
            }
            if e.status == Status::InProgress
                && observed == Status::InProgress
                && let Some((deadline, timer)) = e.deadline()
            {
                if call.window.hi < deadline.lo {
                    out.push(Finding::pass(
                        "TM-NOT-EARLY",
                        "still running before its deadline",
                        seq,
                    ));
                }
                let late = call.window.lo > deadline.hi + slack;
                out.push(Finding::check(
                    !late,
                    timer.expiry_requirement(),
                    "still IN_PROGRESS after its deadline and the slack",
                    seq,
                ));
            }
            out.push(Finding::check(
                observed == e.status,
                "EX-EXECUTION",
                format!(
                    "status: expected {}, got {}",
                    e.status.as_str(),
                    observed.as_str()
                ),
                seq,
            ));
            e.status = observed;
        }
        if let Some(v) = body["versionNumber"].as_i64() {
            e.version
                .settle(v, "EX-EXECUTION", "versionNumber", seq, out);
        }
        let details = details_of(body.get("statusDetails")).unwrap_or_default();
        e.details
            .settle(details, "EX-EXECUTION", "statusDetails", seq, out);
        // startedAt exactly when started.
        out.push(Finding::check(
            body.get("startedAt").is_some() == e.started.is_some(),
            "EX-EXECUTION",
            format!(
                "startedAt {} while {}",
                if body.get("startedAt").is_some() {
                    "present"
                } else {
                    "absent"
                },
                if e.started.is_some() {
                    "started"
                } else {
                    "never started"
                }
            ),
            seq,
        ));
        // Timestamps: whole seconds, consistent with one offset between the target's clock and
        // the harness's. Each stamp narrows the range of offsets its event window allows.
        let mut stamp = |name: &str, ts: Option<i64>, w: Window, epoch: &mut Option<(f64, f64)>| {
            let Some(ts) = ts else { return };
            let ms = ts as f64 * 1000.0;
            let (lo, hi) = (ms - w.hi - tol, ms + 1000.0 - w.lo + tol);
            let (known_lo, known_hi) = epoch.unwrap_or((lo, hi));
            let (lo, hi) = (known_lo.max(lo), known_hi.min(hi));
            let consistent = lo <= hi;
            out.push(Finding::check(
                consistent,
                "EX-TIMESTAMPS",
                format!("{name} {ts} does not fit the time of the event it records (by the target's other timestamps)"),
                seq,
            ));
            if consistent {
                *epoch = Some((lo, hi));
            }
        };
        let queued_at = body["queuedAt"].as_i64();
        stamp("queuedAt", queued_at, e.queued, &mut self.epoch_offset);
        if let Some(w) = e.started {
            stamp(
                "startedAt",
                body["startedAt"].as_i64(),
                w,
                &mut self.epoch_offset,
            );
        }
        match (queued_at, body["lastUpdatedAt"].as_i64()) {
            (Some(q), Some(u)) => out.push(Finding::check(
                u >= q,
                "EX-TIMESTAMPS",
                format!("lastUpdatedAt {u} is before queuedAt {q}"),
                seq,
            )),
            _ => out.push(Finding::fail(
                "EX-TIMESTAMPS",
                "queuedAt or lastUpdatedAt is missing or not an integer",
                seq,
            )),
        }
        // The countdown.
        let left = body["approximateSecondsBeforeTimedOut"].as_i64();
        match (e.deadline(), left) {
            (Some((d, _)), Some(left)) if e.status == Status::InProgress => {
                let lo = (d.lo - call.window.hi - tol) / 1000.0 - 1.0;
                let hi = (d.hi - call.window.lo + tol) / 1000.0 + 1.0;
                out.push(Finding::check(
                    (left as f64) >= lo.floor() && (left as f64) <= hi.ceil(),
                    "TM-APPROXIMATE",
                    format!(
                        "approximateSecondsBeforeTimedOut {left}, expected {:.0}..{:.0}",
                        lo.max(0.0),
                        hi
                    ),
                    seq,
                ));
            }
            (None, Some(left)) => out.push(Finding::fail(
                if self.model.is_terminal(e.status) {
                    "TM-TERMINAL-STOPS"
                } else {
                    "TM-APPROXIMATE"
                },
                format!("approximateSecondsBeforeTimedOut {left} while no timer runs"),
                seq,
            )),
            _ => {}
        }
    }

    fn start_next(
        &mut self,
        thing: &str,
        call: &Call<'_>,
        answer: &Answer,
        out: &mut Vec<Finding>,
    ) {
        let seq = call.seq;
        let (candidates, predicted) = self.head_candidates(&self.things[thing]);
        let Some(body) = Self::expect_success(out, answer, "SN-ROUTE", seq) else {
            return;
        };
        out.push(Finding::pass("SN-ROUTE", "answered 200", Some(seq)));
        let Some(execution) = body.get("execution") else {
            match predicted {
                None if candidates.is_empty() => out.push(Finding::pass(
                    "SN-EMPTY",
                    "nothing pending: no execution",
                    Some(seq),
                )),
                None => {
                    // Every candidate may have timed out: they did.
                    let t = self.things.get_mut(thing).expect("seeded");
                    for i in candidates {
                        Self::time_out(&mut t.executions[i], self.model);
                    }
                }
                Some(i) => out.push(Finding::fail(
                    "SN-NEXT-ORDER",
                    format!(
                        "{} is pending, yet no execution was returned",
                        self.jobs[&self.things[thing].executions[i].job].real_id
                    ),
                    Some(seq),
                )),
            }
            return;
        };
        if candidates.is_empty() {
            out.push(Finding::fail(
                "SN-EMPTY",
                format!(
                    "nothing is pending, yet {} was returned",
                    execution["jobId"]
                ),
                Some(seq),
            ));
            return;
        }
        let real_job = execution["jobId"].as_str().unwrap_or_default();
        let Some(&i) = candidates.iter().find(|&&i| {
            let e = &self.things[thing].executions[i];
            self.jobs.get(&e.job).is_some_and(|j| j.real_id == real_job)
        }) else {
            let expected = &self.things[thing].executions[candidates[0]].job;
            out.push(Finding::fail(
                "SN-NEXT-ORDER",
                format!(
                    "the head of the pending list is {}, but {real_job} was returned",
                    self.jobs[expected].real_id
                ),
                Some(seq),
            ));
            return;
        };
        out.push(Finding::pass(
            "SN-NEXT-ORDER",
            format!("{real_job} is the head"),
            Some(seq),
        ));
        if let Some(p) =
            predicted.filter(|p| *p != i && !self.things[thing].executions[i].uncertain)
        {
            let first = &self.jobs[&self.things[thing].executions[p].job].real_id;
            out.push(Finding::fail(
                "SN-TIE-ORDER",
                format!("{first} was queued first in the same second, but {real_job} was returned"),
                Some(seq),
            ));
        } else if predicted == Some(i) && candidates.len() > 1 {
            out.push(Finding::pass(
                "SN-TIE-ORDER",
                "creation order among equal queue times",
                Some(seq),
            ));
        }
        // Open candidates skipped before the one returned have expired.
        for &j in candidates.iter().take_while(|&&j| j != i) {
            let e = &mut self.things.get_mut(thing).expect("seeded").executions[j];
            if e.uncertain {
                Self::time_out(e, self.model);
            }
        }
        let step = call
            .input
            .get("stepTimeoutInMinutes")
            .and_then(Value::as_i64);
        let supplied = details_of(call.input.get("statusDetails"));
        let was = self.things[thing].executions[i].status;
        let e = &mut self.things.get_mut(thing).expect("seeded").executions[i];
        if was == Status::Queued {
            e.status = Status::InProgress;
            e.started = Some(call.window);
            let v = e.version.value().copied();
            e.version = v.map_or(Belief::Unknown, |v| Belief::Known(v + 1));
            if let Some(d) = supplied {
                e.details = Belief::Known(d);
            }
            let ip = self.jobs.get(&e.job).and_then(|j| j.in_progress_minutes);
            e.in_progress = ip.map(|m| call.window.shifted(minutes_ms(m)));
            e.step = step.map(|m| call.window.shifted(minutes_ms(m)).min(e.in_progress));
            let observed_status = execution["status"].as_str().unwrap_or_default();
            out.push(Finding::check(
                observed_status == "IN_PROGRESS" && execution.get("startedAt").is_some(),
                "SN-START",
                format!("a started execution is IN_PROGRESS with startedAt; got {observed_status}"),
                Some(seq),
            ));
            if let Some(got) = execution["versionNumber"].as_i64() {
                e.version
                    .settle(got, "SN-START", "versionNumber after start", Some(seq), out);
            }
            if call.input.contains_key("statusDetails") {
                let got = details_of(execution.get("statusDetails")).unwrap_or_default();
                e.details.settle(
                    got,
                    "SN-DETAILS",
                    "statusDetails after start",
                    Some(seq),
                    out,
                );
            }
            if step.is_some() {
                out.push(Finding::check(
                    execution.get("approximateSecondsBeforeTimedOut").is_some()
                        || e.deadline().is_some(),
                    "SN-STEP-TIMER",
                    "the step timer runs",
                    Some(seq),
                ));
            }
        } else {
            let got = details_of(execution.get("statusDetails")).unwrap_or_default();
            e.details.settle(
                got,
                "SN-IN-PROGRESS-HEAD",
                "statusDetails of an IN_PROGRESS head",
                Some(seq),
                out,
            );
            if let Some(now) = execution["versionNumber"].as_i64() {
                e.version.settle(
                    now,
                    "SN-IN-PROGRESS-UNTOUCHED",
                    "versionNumber of an IN_PROGRESS head",
                    Some(seq),
                    out,
                );
            }
        }
        self.check_execution(thing, i, execution, call, true, out);
    }

    fn update(&mut self, thing: &str, call: &Call<'_>, answer: &Answer, out: &mut Vec<Finding>) {
        let seq = call.seq;
        let Subject::Seeded(job) = &call.job else {
            Self::expect_error(
                out,
                answer,
                &["ResourceNotFoundException"],
                "UP-NOT-FOUND",
                "UP-NOT-FOUND",
                seq,
            );
            return;
        };
        let Ok(i) = self.named_execution(thing, job, call, answer, "UP-NOT-FOUND", out) else {
            return;
        };
        let requested: Option<Status> = call
            .input
            .get("status")
            .and_then(|s| serde_json::from_value(s.clone()).ok());
        let Some(requested) = requested else { return };
        let e = self.things[thing].executions[i].clone();
        if !self.model.is_device_settable(requested) {
            Self::expect_error(
                out,
                answer,
                &["InvalidRequestException"],
                "UP-DEVICE-STATUS",
                "UP-DEVICE-STATUS-TYPE",
                seq,
            );
            return;
        }
        if let (Some(expected), Some(stored)) = (
            expected_version(call.input.get("expectedVersion")),
            e.version.value(),
        ) && expected != *stored
        {
            // Over MQTT the code is documented (VersionMismatch); over HTTP it is open (§7.3).
            let (wanted, type_requirement) = match call.binding {
                Binding::Http => (
                    "InvalidStateTransitionException",
                    "UP-EXPECTED-VERSION-TYPE",
                ),
                Binding::Mqtt => ("VersionMismatch", "MQ-VERSION-MISMATCH"),
            };
            Self::expect_error(
                out,
                answer,
                &[wanted],
                "UP-EXPECTED-VERSION",
                type_requirement,
                seq,
            );
            return;
        }
        if call.binding == Binding::Mqtt
            && call
                .input
                .get("expectedVersion")
                .is_some_and(Value::is_string)
            && !matches!(answer, Answer::Unanswered)
        {
            out.push(Finding::check(
                answer.success().is_some(),
                "MQ-VERSION-STRING",
                format!(
                    "expectedVersion as a decimal string gave {}",
                    answer.describe()
                ),
                Some(seq),
            ));
        }
        if self.model.is_terminal(e.status) {
            Self::expect_error(
                out,
                answer,
                &["InvalidStateTransitionException"],
                "UP-TERMINAL",
                "UP-TERMINAL",
                seq,
            );
            return;
        }
        let cancel = self.model.timers.cancel_step_timeout;
        let step = call
            .input
            .get("stepTimeoutInMinutes")
            .and_then(Value::as_i64);
        if e.uncertain || (step == Some(cancel) && e.step.is_none()) {
            // Either answer is right: the execution may have timed out, or there is no timer to cancel.
            if answer.success().is_none() {
                if e.uncertain && answer.error_type() == Some("InvalidStateTransitionException") {
                    let ex = &mut self.things.get_mut(thing).expect("seeded").executions[i];
                    Self::time_out(ex, self.model);
                }
                return;
            }
        }
        let requirement = if e.status == Status::Queued && self.model.is_terminal(requested) {
            "UP-QUEUED-FINISH"
        } else {
            "UP-TRANSITION"
        };
        let Some(body) = Self::expect_success(out, answer, requirement, seq) else {
            return;
        };
        out.push(Finding::pass(
            requirement,
            format!("{} → {} accepted", e.status.as_str(), requested.as_str()),
            Some(seq),
        ));
        let include_state = call
            .input
            .get("includeJobExecutionState")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let include_doc = call
            .input
            .get("includeJobDocument")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        out.push(Finding::check(
            body.get("executionState").is_some() == include_state && body.get("jobDocument").is_some() == include_doc,
            "UP-RESPONSE",
            format!("includeJobExecutionState={include_state}, includeJobDocument={include_doc}; got members {:?}", body.as_object().map(|o| o.keys().collect::<Vec<_>>()).unwrap_or_default()),
            Some(seq),
        ));
        if include_doc && let Some(job) = self.jobs.get(job) {
            out.push(Finding::check(
                document_matches(&body["jobDocument"], &job.document),
                "UP-RESPONSE",
                "jobDocument is the job's document",
                Some(seq),
            ));
        }
        // Move the model.
        let supplied = details_of(call.input.get("statusDetails"));
        let ip_minutes = self.jobs.get(job).and_then(|j| j.in_progress_minutes);
        let ex = &mut self.things.get_mut(thing).expect("seeded").executions[i];
        let previous_details = ex.details.value().cloned().unwrap_or_default();
        match (ex.status, requested) {
            (Status::Queued, Status::InProgress) => {
                ex.started = Some(call.window);
                ex.in_progress = ip_minutes.map(|m| call.window.shifted(minutes_ms(m)));
                ex.step = step
                    .filter(|m| *m != cancel)
                    .map(|m| call.window.shifted(minutes_ms(m)).min(ex.in_progress));
            }
            (_, Status::InProgress) => match step {
                Some(m) if m == cancel => ex.step = None,
                Some(m) => ex.step = Some(call.window.shifted(minutes_ms(m)).min(ex.in_progress)),
                None => {}
            },
            _ => {
                ex.step = None;
                ex.in_progress = None;
            }
        }
        ex.status = requested;
        let v = ex.version.value().copied();
        ex.version = v.map_or(Belief::Unknown, |v| Belief::Known(v + 1));
        ex.details = match supplied {
            Some(d) => Belief::Expected(d, "UP-DETAILS-REPLACE"),
            None => Belief::Known(previous_details.clone()),
        };
        if let Some(state) = body.get("executionState") {
            let got_status = state["status"].as_str().unwrap_or_default();
            out.push(Finding::check(
                got_status == requested.as_str(),
                "UP-TRANSITION",
                format!(
                    "executionState.status: expected {}, got {got_status}",
                    requested.as_str()
                ),
                Some(seq),
            ));
            if let Some(got) = state["versionNumber"].as_i64() {
                ex.version.settle(
                    got,
                    "UP-VERSION",
                    "versionNumber after the update",
                    Some(seq),
                    out,
                );
            }
            let got = details_of(state.get("statusDetails")).unwrap_or_default();
            let requirement = if call.input.contains_key("statusDetails") {
                "UP-DETAILS-REPLACE"
            } else {
                "UP-DETAILS-OMITTED"
            };
            ex.details.settle(
                got,
                requirement,
                "statusDetails after the update",
                Some(seq),
                out,
            );
        }
        if self.model.is_terminal(requested) {
            let mut order = self.order;
            let t = self.things.get_mut(thing).expect("seeded");
            Self::queue_retry(t, i, &self.jobs, self.model, &mut order, call.window);
            self.order = order;
        }
    }

    fn describe(&mut self, thing: &str, call: &Call<'_>, answer: &Answer, out: &mut Vec<Finding>) {
        let seq = call.seq;
        let with_document = call
            .input
            .get("includeJobDocument")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let index = match &call.job {
            Subject::Next => {
                let (candidates, _) = self.head_candidates(&self.things[thing]);
                if candidates.is_empty() {
                    match answer {
                        Answer::Success(b) => out.push(Finding::check(
                            b.get("execution").is_none(),
                            "DE-NEXT-EMPTY",
                            "nothing pending: no execution",
                            Some(seq),
                        )),
                        Answer::Error { .. } => out.push(Finding::fail(
                            "DE-NEXT-EMPTY",
                            format!(
                                "nothing pending: expected an empty success, got {}",
                                answer.describe()
                            ),
                            Some(seq),
                        )),
                        _ => {}
                    }
                    return;
                }
                let Some(body) = Self::expect_success(out, answer, "DE-NEXT", seq) else {
                    return;
                };
                let real_job = body["execution"]["jobId"].as_str().unwrap_or_default();
                let hit = candidates.iter().copied().find(|&i| {
                    let e = &self.things[thing].executions[i];
                    self.jobs.get(&e.job).is_some_and(|j| j.real_id == real_job)
                });
                out.push(Finding::check(
                    hit.is_some(),
                    "DE-NEXT",
                    format!("$next described {real_job}, not the head"),
                    Some(seq),
                ));
                let Some(i) = hit else { return };
                i
            }
            Subject::Seeded(job) => {
                let Ok(i) = self.named_execution(thing, job, call, answer, "DE-NOT-FOUND", out)
                else {
                    return;
                };
                let e = &self.things[thing].executions[i];
                if self.model.is_terminal(e.status) || e.uncertain {
                    if let Answer::Error { status, .. } = answer {
                        let ok =
                            answer.error_type() == Some("TerminalStateException") && *status == 410;
                        out.push(Finding::check(
                            ok,
                            "DE-TERMINAL",
                            format!("describing a terminal execution gave {}", answer.describe()),
                            Some(seq),
                        ));
                        if ok && e.uncertain {
                            let ex = &mut self.things.get_mut(thing).expect("seeded").executions[i];
                            Self::time_out(ex, self.model);
                        }
                        return;
                    }
                    if self.model.is_terminal(e.status) {
                        out.push(Finding::pass(
                            "DE-TERMINAL",
                            "a terminal execution is described",
                            Some(seq),
                        ));
                    }
                }
                i
            }
            Subject::Foreign | Subject::Absent => {
                Self::expect_error(
                    out,
                    answer,
                    &["ResourceNotFoundException"],
                    "DE-NOT-FOUND",
                    "DE-NOT-FOUND",
                    seq,
                );
                return;
            }
        };
        let Some(body) = Self::expect_success(out, answer, "DE-EXECUTION-NUMBER", seq) else {
            return;
        };
        let Some(execution) = body.get("execution") else {
            out.push(Finding::fail(
                "DE-EXECUTION-NUMBER",
                "no execution in the answer",
                Some(seq),
            ));
            return;
        };
        if call.input.contains_key("executionNumber") {
            out.push(Finding::check(
                execution["executionNumber"] == call.input["executionNumber"],
                "DE-EXECUTION-NUMBER",
                format!(
                    "asked for execution {}, got {}",
                    call.input["executionNumber"], execution["executionNumber"]
                ),
                Some(seq),
            ));
        }
        self.check_execution(thing, index, execution, call, with_document, out);
    }

    fn get_pending(
        &mut self,
        thing: &str,
        call: &Call<'_>,
        answer: &Answer,
        out: &mut Vec<Finding>,
    ) {
        let seq = call.seq;
        let Some(body) = Self::expect_success(out, answer, "GP-LISTS", seq) else {
            return;
        };
        let lists_present = body["inProgressJobs"].is_array() && body["queuedJobs"].is_array();
        out.push(Finding::check(
            lists_present,
            "GP-LISTS",
            "inProgressJobs and queuedJobs are both present",
            Some(seq),
        ));
        if !lists_present {
            return;
        }
        let listed = |key: &str| -> Vec<String> {
            body[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["jobId"].as_str().map(str::to_string))
                .collect()
        };
        let (in_progress, queued) = (listed("inProgressJobs"), listed("queuedJobs"));
        let t = &self.things[thing];
        let real = |i: usize| {
            self.jobs
                .get(&t.executions[i].job)
                .map(|j| j.real_id.clone())
                .unwrap_or_default()
        };
        let pending = self.pending(t);
        let limit = self.model.pending_list_limit;
        let certain = |status: Status| -> Vec<String> {
            pending
                .iter()
                .copied()
                .filter(|&i| t.executions[i].status == status && !t.executions[i].uncertain)
                .map(real)
                .collect()
        };
        let possible = |status: Status| -> Vec<String> {
            pending
                .iter()
                .copied()
                .filter(|&i| t.executions[i].status == status)
                .map(real)
                .collect()
        };
        let total = in_progress.len() + queued.len();
        out.push(Finding::check(
            total <= limit,
            "GP-CAP",
            format!("{total} executions listed; at most {limit}"),
            Some(seq),
        ));
        let capped = pending.len() > limit;
        let index_of = |id: &String| pending.iter().copied().find(|&i| real(i) == *id);
        let fits = |got: &[String], sure: &[String], maybe: &[String]| {
            let subset = got.iter().all(|j| maybe.contains(j));
            let ordered = got
                .windows(2)
                .all(|w| match (index_of(&w[0]), index_of(&w[1])) {
                    (Some(a), Some(b)) => {
                        let (a, b) = (&t.executions[a], &t.executions[b]);
                        a.order < b.order || may_tie(a, b)
                    }
                    _ => true,
                });
            let complete = capped || sure.iter().all(|j| got.contains(j));
            subset && ordered && complete
        };
        let ok = fits(
            &in_progress,
            &certain(Status::InProgress),
            &possible(Status::InProgress),
        ) && fits(&queued, &certain(Status::Queued), &possible(Status::Queued));
        out.push(Finding::check(
            ok,
            "GP-CONTENT",
            format!(
                "expected IN_PROGRESS {:?} and QUEUED {:?}, got {in_progress:?} and {queued:?}",
                possible(Status::InProgress),
                possible(Status::Queued)
            ),
            Some(seq),
        ));
        // Listed executions are not expired; unlisted open ones are.
        let listed_all: Vec<String> = in_progress.iter().chain(queued.iter()).cloned().collect();
        let ids: Vec<(usize, String)> = pending.iter().map(|&i| (i, real(i))).collect();
        let t = self.things.get_mut(thing).expect("seeded");
        for (i, id) in ids {
            let e = &mut t.executions[i];
            if e.uncertain {
                if listed_all.contains(&id) {
                    e.uncertain = false;
                } else if !capped {
                    Self::time_out(e, self.model);
                }
            }
        }
        if let Some(items) = body["inProgressJobs"].as_array().filter(|_| !capped) {
            for item in items {
                out.push(Finding::check(
                    item.get("startedAt").is_some(),
                    "GP-CONTENT",
                    "an IN_PROGRESS summary carries startedAt",
                    Some(seq),
                ));
            }
        }
    }
}

/// Whether a jobDocument as answered is the job's document: its text over HTTP, the object
/// that text parses to over MQTT.
fn document_matches(answered: &Value, text: &str) -> bool {
    match answered {
        Value::String(s) => s == text,
        other => serde_json::from_str::<Value>(text).is_ok_and(|parsed| parsed == *other),
    }
}

/// expectedVersion as sent: a number, or over MQTT possibly a decimal string.
fn expected_version(value: Option<&Value>) -> Option<i64> {
    let v = value?;
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// Whether two executions may carry the same queuedAt second, so that their order is the
/// open tie-break (spec §7.12) rather than queue time.
fn may_tie(a: &Execution, b: &Execution) -> bool {
    a.queued.lo - 1000.0 < b.queued.hi && b.queued.lo - 1000.0 < a.queued.hi
}

/// The subject a call's `thing` or `job` member names.
pub fn subject(logical: Option<&Value>, literal: Option<&Value>) -> Subject {
    match (logical.and_then(Value::as_str), literal) {
        (Some(NEXT_EXECUTION), _) => Subject::Next,
        (Some(name), _) => Subject::Seeded(name.to_string()),
        (None, Some(v)) if v.as_str() == Some(NEXT_EXECUTION) => Subject::Next,
        (None, Some(_)) => Subject::Foreign,
        (None, None) => Subject::Absent,
    }
}
