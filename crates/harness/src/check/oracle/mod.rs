//! The harness's own model of the target's state. It knows what the case seeded and every
//! request the harness made, predicts each answer, and checks it. It never calls the
//! reference engine: a bug shared by both would hide itself.
//!
//! Where the contract leaves room (spec §7) the model holds a belief with the default it
//! expects and the requirement to cite; the first observation settles it, so one departure
//! is reported once and does not cascade.
//!
//! What the contract fixes only relatively is judged relatively: versions by their differences,
//! execution numbers as opaque ordered values, order by the target's own queuedAt once it has
//! shown it. A state the model predicts without seeing it (a timer that fired, a retry queued,
//! a cancel) keeps its provenance; when the target contradicts it, `cause` names it once under
//! the requirement that demands it and the model takes the target's state, and every other
//! failure of that answer is a follow-on of the cause.
//!
//! `model` holds the beliefs, `refusal`, `body` and `stamps` the checks the operations share,
//! and each operation has one judge of its own (`start_next`, `update`, `describe`,
//! `get_pending`), all with one signature.

mod body;
mod cause;
mod describe;
mod get_pending;
mod model;
mod order;
mod refusal;
mod stamps;
mod start_next;
mod update;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod rules_test;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::answer::Answer;
use crate::finding::{Cause, Finding};
use jobcert_contract::{Binding, Level, NEXT_EXECUTION, Operation, RequirementId, Status, req};
use model::{Case, Execution, Prediction, ThingModel};

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

/// A timer deadline the model believes is running, in target time.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadline {
    /// When it falls.
    pub at: Window,
    /// Which timer of which execution, for messages.
    pub what: String,
    /// The exchange that last set a timer of the execution.
    pub set_by: Option<u64>,
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
    /// The input as sent (real names; a raw body's members when the step sends one).
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

/// Every operation's judge: given the state of the thing the call names (its timers already
/// applied), the case, the call and the answer, it adds findings and moves the state on.
type Judge = fn(&mut ThingModel, &mut Case, &Call<'_>, &Answer, &mut Vec<Finding>);

/// The judge of `operation`.
fn judge_of(operation: Operation) -> Judge {
    match operation {
        Operation::StartNextPendingJobExecution => start_next::judge,
        Operation::UpdateJobExecution => update::judge,
        Operation::DescribeJobExecution => describe::judge,
        Operation::GetPendingJobExecutions => get_pending::judge,
    }
}

/// The model of one case's things and jobs.
#[derive(Debug)]
pub struct Oracle {
    things: BTreeMap<String, ThingModel>,
    absent: BTreeSet<String>,
    case: Case,
    /// The root causes named so far in the case.
    causes: Vec<Cause>,
}

impl Oracle {
    /// An empty model; `tolerance_ms` bounds clock disagreements (in target milliseconds).
    pub fn new(tolerance_ms: f64) -> Self {
        Self {
            things: BTreeMap::new(),
            absent: BTreeSet::new(),
            case: Case::new(tolerance_ms),
            causes: Vec::new(),
        }
    }

    /// Records a created thing.
    pub fn thing_created(&mut self, logical: &str, real: &str) {
        self.things
            .insert(logical.to_string(), ThingModel::new(real));
    }

    /// Records a thing the case names but never creates.
    pub fn thing_absent(&mut self, logical: &str) {
        self.absent.insert(logical.to_string());
    }

    /// Records a created job: one QUEUED execution per target.
    pub fn job_created(&mut self, job: JobFacts, targets: &[String], window: Window) {
        for t in targets {
            let order = self.case.next_order();
            if let Some(thing) = self.things.get_mut(t) {
                thing
                    .executions
                    .push(Execution::queued(&job.id, window, order, self.case.facts));
            }
        }
        self.case.jobs.insert(job.id.clone(), job);
    }

    /// Records a CancelJob the target accepted: its executions are predicted CANCELED.
    pub fn job_canceled(&mut self, job: &str, force: bool, window: Window) {
        let real = self.case.real_id(job).to_string();
        for thing in self.things.values_mut() {
            thing.expire(&mut self.case, window, None);
            for e in thing.executions.iter_mut().filter(|e| e.job == job) {
                if e.status == Status::Queued || (force && e.status == Status::InProgress) {
                    let before = e.clone();
                    e.service_moved(Status::Canceled);
                    e.predicted = Some(Prediction {
                        requirement: req::EX_EXECUTION,
                        what: format!(
                            "CancelJob of {real} was accepted, so {} was predicted",
                            e.status.as_str()
                        ),
                        before: Some(Box::new(before)),
                        retry_of: None,
                        caused_by: None,
                    });
                }
            }
        }
    }

    /// The deadlines of the timers running on IN_PROGRESS executions, as far as the model
    /// knows: the driver tells from them whether a step came later than its case assumed.
    pub fn running_deadlines(&self) -> Vec<Deadline> {
        self.things
            .values()
            .flat_map(|thing| thing.executions.iter().map(move |e| (thing, e)))
            .filter(|(_, e)| e.status == Status::InProgress)
            .filter_map(|(thing, e)| {
                let (at, timer) = e.deadline()?;
                let by = e
                    .timers_set_by
                    .map_or(String::new(), |n| format!(" set by exchange #{n}"));
                let what = format!(
                    "the {}{by} of {} on {}",
                    timer.name(),
                    self.case.real_id(&e.job),
                    thing.real
                );
                Some(Deadline {
                    at,
                    what,
                    set_by: e.timers_set_by,
                })
            })
            .collect()
    }

    /// Judges one answer against the model and moves the model on. `attribution` replaces the
    /// requirement of every state check (used for the reads that verify a refusal changed nothing).
    pub fn judge(
        &mut self,
        call: &Call<'_>,
        answer: &Answer,
        attribution: Option<RequirementId>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        // Invalid input is judged by the step's expectation; the model only checks it changed nothing.
        let Subject::Seeded(name) = &call.thing else {
            return out;
        };
        if !call.valid {
            if let (Some(thing), Some(body)) = (self.things.get_mut(name), answer.success())
                && matches!(
                    call.operation,
                    Operation::StartNextPendingJobExecution | Operation::UpdateJobExecution
                )
            {
                cause::accepted_invalid(thing, &self.case, call, body);
            }
            return out;
        }
        if self.absent.contains(name) {
            refusal::absent_thing(call, answer, &mut out);
        } else if let Some(thing) = self.things.get_mut(name) {
            thing.expire(&mut self.case, call.window, Some(call.seq));
            judge_of(call.operation)(thing, &mut self.case, call, answer, &mut out);
        }
        // Picks of an earlier exchange that this answer's queuedAt settles.
        let mut settled = Vec::new();
        if let Some(thing) = self.things.get_mut(name) {
            let case = &self.case;
            order::settle(thing, |job| case.real_id(job).to_string(), &mut settled);
        }
        // Otherwise the case never declared the thing: like a foreign name, its state is unknown.
        let cause_at = self.case.cause_at.take();
        for (n, f) in out.iter_mut().enumerate() {
            // A §7 item (an ambiguous or recommended requirement) met or not on the way is its
            // own finding, not a change the refusal made.
            if Some(n) == cause_at || f.requirement.level() != Level::Must {
                continue;
            }
            if let Some(r) = attribution {
                f.requirement = r;
            }
        }
        follow_on(&mut out, cause_at);
        self.causes.extend(cause_at.map(|n| root_of(&out[n])));
        out.extend(settled);
        out
    }

    /// The root cause a disagreement outside the model (a scenario's explicit expectation)
    /// follows from: the latest cause named in the case, when the model judged the same answer
    /// (`judged`, not empty) and found nothing but causes and their follow-ons, so that the
    /// model, re-synchronised with the target, agrees with what the target answered.
    pub fn cause_behind(&self, judged: &[Finding]) -> Option<Cause> {
        let cause = *self.causes.last()?;
        let agrees = judged
            .iter()
            .all(|f| f.passed || f.caused_by.is_some() || self.causes.contains(&Cause::of(f)));
        (agrees && !judged.is_empty()).then_some(cause)
    }

    /// Takes note of a step's scripted checks on the answer just judged: a failed check that
    /// the step timer the call asked for started (SN-STEP-TIMER) is the root cause of that
    /// timer not firing later, which is then its follow-on.
    pub fn scripted(&mut self, checked: &[Finding]) {
        for f in checked {
            if let (false, None, Some(seq), req::SN_STEP_TIMER) =
                (f.passed, f.caused_by, f.exchange, f.requirement)
            {
                self.case
                    .timers_not_started
                    .entry(seq)
                    .or_insert(Cause::of(f));
            }
        }
    }
}

/// The root cause a cause finding stands for: its own, or the earlier one it follows from.
fn root_of(cause: &Finding) -> Cause {
    cause.caused_by.unwrap_or_else(|| Cause::of(cause))
}

/// Every failure of one answer other than its root cause (at `cause_at`) follows from it.
fn follow_on(out: &mut [Finding], cause_at: Option<usize>) {
    let Some(at) = cause_at else { return };
    let cause = root_of(&out[at]);
    for (n, f) in out.iter_mut().enumerate() {
        if n != at && !f.passed {
            f.caused_by = Some(cause);
        }
    }
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

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Map, Value, json};

    use super::fixture::{assert_findings, at, document, execution, ok, real, refused};
    use super::{Answer, Call, JobFacts, Oracle, Subject, subject};
    use jobcert_contract::{Binding, Level, Operation, RequirementId, req};

    fn oracle_with(job: &str, retry: Vec<(String, u32)>) -> Oracle {
        let mut oracle = Oracle::new(1_000.0);
        oracle.thing_created("t", super::fixture::THING);
        oracle.thing_absent("ghost");
        let facts = JobFacts {
            id: job.to_string(),
            real_id: real(job),
            document: document(job),
            in_progress_minutes: None,
            retry,
        };
        oracle.job_created(facts, &["t".to_string()], at(0.0));
        oracle
    }

    fn judge(
        oracle: &mut Oracle,
        (operation, thing, job): (Operation, &str, Subject),
        input: Value,
        answer: Answer,
        attribution: Option<RequirementId>,
    ) -> Vec<super::Finding> {
        let input: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
        let call = Call {
            operation,
            thing: Subject::Seeded(thing.to_string()),
            job,
            input: &input,
            valid: true,
            binding: Binding::Http,
            window: at(2_000.0),
            seq: 3,
        };
        oracle.judge(&call, &answer, attribution)
    }

    #[test]
    fn a_thing_the_case_never_declared_is_unknown() {
        let mut oracle = oracle_with("a", Vec::new());
        let describe = (Operation::DescribeJobExecution, "undeclared", Subject::Next);
        let found = judge(&mut oracle, describe, json!({}), ok(json!({})), None);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn an_absent_thing_is_judged_as_such() {
        let mut oracle = oracle_with("a", Vec::new());
        let start = (
            Operation::StartNextPendingJobExecution,
            "ghost",
            Subject::Absent,
        );
        let found = judge(&mut oracle, start, json!({}), ok(json!({})), None);
        assert_findings(&found, &[(req::SN_UNKNOWN_THING, true)]);
    }

    #[test]
    fn attribution_replaces_every_must_requirement() {
        let mut oracle = oracle_with("a", Vec::new());
        let describe = (
            Operation::DescribeJobExecution,
            "t",
            Subject::Seeded("a".into()),
        );
        let wrong = execution("a", "IN_PROGRESS", 1);
        let found = judge(
            &mut oracle,
            describe,
            json!({}),
            ok(json!({ "execution": wrong })),
            Some(req::SN_REJECT_UNCHANGED),
        );
        assert_findings(&found, &[(req::SN_REJECT_UNCHANGED, false)]);
        assert!(
            found
                .iter()
                .filter(|f| f.requirement.level() == Level::Must)
                .all(|f| f.requirement == req::SN_REJECT_UNCHANGED)
        );
    }

    #[test]
    fn attribution_leaves_a_seventh_item_its_own() {
        let mut oracle = oracle_with("a", Vec::new());
        oracle.job_canceled("a", false, at(1_000.0));
        let describe = (
            Operation::DescribeJobExecution,
            "t",
            Subject::Seeded("a".into()),
        );
        let found = judge(
            &mut oracle,
            describe,
            json!({}),
            refused(410, "TerminalStateException"),
            Some(req::UP_TERMINAL),
        );
        assert_findings(
            &found,
            &[
                (req::UP_TERMINAL, true),
                (req::DE_TERMINAL_DESCRIBED, false),
            ],
        );
    }

    // A refused invalid call moves nothing; one the target accepted is followed: the model
    // takes what the target shows instead of repeating the input check's failure.
    #[rstest]
    #[case::refused(refused(400, "InvalidRequestException"), execution("a", "QUEUED", 1))]
    #[case::accepted(ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})), execution("a", "IN_PROGRESS", 2))]
    fn an_invalid_call_is_judged_by_its_input_check(#[case] answer: Answer, #[case] later: Value) {
        let mut oracle = oracle_with("a", Vec::new());
        let input = Map::new();
        let call = Call {
            operation: Operation::StartNextPendingJobExecution,
            thing: Subject::Seeded("t".into()),
            job: Subject::Absent,
            input: &input,
            valid: false,
            binding: Binding::Http,
            window: at(2_000.0),
            seq: 1,
        };
        assert!(oracle.judge(&call, &answer, None).is_empty());
        let describe = (
            Operation::DescribeJobExecution,
            "t",
            Subject::Seeded("a".into()),
        );
        let found = judge(
            &mut oracle,
            describe,
            json!({}),
            ok(json!({"execution": later})),
            None,
        );
        assert!(found.iter().all(|f| f.passed), "{found:#?}");
    }

    #[test]
    fn a_canceled_job_is_terminal_one_version_on() {
        let mut oracle = oracle_with("a", Vec::new());
        oracle.job_canceled("a", false, at(1_000.0));
        let describe = (
            Operation::DescribeJobExecution,
            "t",
            Subject::Seeded("a".into()),
        );
        let mut canceled = execution("a", "CANCELED", 2);
        canceled
            .as_object_mut()
            .expect("an object")
            .remove("startedAt");
        let found = judge(
            &mut oracle,
            describe.clone(),
            json!({}),
            ok(json!({ "execution": canceled.clone() })),
            None,
        );
        assert_findings(
            &found,
            &[(req::DE_TERMINAL, true), (req::TM_SERVICE_VERSION, true)],
        );
        canceled["versionNumber"] = json!(1);
        let mut again = oracle_with("a", Vec::new());
        again.job_canceled("a", false, at(1_000.0));
        let found = judge(
            &mut again,
            describe,
            json!({}),
            ok(json!({ "execution": canceled })),
            None,
        );
        assert_findings(&found, &[(req::TM_SERVICE_VERSION, false)]);
    }

    #[test]
    fn a_failure_within_the_retry_criteria_is_queued_again() {
        for (retry, pending) in [(vec![("FAILED".to_string(), 1)], true), (Vec::new(), false)] {
            let mut oracle = oracle_with("a", retry);
            let update = (
                Operation::UpdateJobExecution,
                "t",
                Subject::Seeded("a".into()),
            );
            judge(
                &mut oracle,
                update,
                json!({"status": "FAILED"}),
                ok(json!({})),
                None,
            );
            let get = (Operation::GetPendingJobExecutions, "t", Subject::Absent);
            let listed = json!({"inProgressJobs": [], "queuedJobs": [{"jobId": real("a")}]});
            let found = judge(&mut oracle, get, json!({}), ok(listed), None);
            let content = if pending {
                (req::GP_CONTENT, true)
            } else {
                (req::GP_CONTENT, false)
            };
            assert_findings(&found, &[content]);
        }
    }

    #[test]
    fn a_refusal_is_not_a_start() {
        let mut oracle = oracle_with("a", Vec::new());
        let start = (
            Operation::StartNextPendingJobExecution,
            "t",
            Subject::Absent,
        );
        let found = judge(
            &mut oracle,
            start,
            json!({}),
            refused(503, "ServiceUnavailableException"),
            None,
        );
        assert_findings(&found, &[(req::SN_ROUTE, false)]);
    }

    #[test]
    fn only_a_started_execution_has_a_running_deadline() {
        let mut oracle = oracle_with("a", Vec::new());
        assert!(oracle.running_deadlines().is_empty());
        let start = (
            Operation::StartNextPendingJobExecution,
            "t",
            Subject::Absent,
        );
        let mut started = execution("a", "IN_PROGRESS", 2);
        started["approximateSecondsBeforeTimedOut"] = json!(180);
        judge(
            &mut oracle,
            start,
            json!({"stepTimeoutInMinutes": 3}),
            ok(json!({ "execution": started })),
            None,
        );
        let deadlines = oracle.running_deadlines();
        let [deadline] = deadlines.as_slice() else {
            panic!("one running timer expected: {deadlines:?}");
        };
        assert_eq!(deadline.at, at(2_000.0 + 180_000.0));
        assert_eq!(deadline.set_by, Some(3));
        assert!(
            deadline
                .what
                .starts_with("the step timer set by exchange #3 of real-a"),
            "{}",
            deadline.what
        );
    }

    #[test]
    fn subjects_are_named_by_logical_name_or_literal() {
        let next = json!("$next");
        let name = json!("a");
        assert_eq!(subject(Some(&next), None), Subject::Next);
        assert_eq!(subject(Some(&name), None), Subject::Seeded("a".into()));
        assert_eq!(subject(None, Some(&next)), Subject::Next);
        assert_eq!(subject(None, Some(&name)), Subject::Foreign);
        assert_eq!(subject(None, None), Subject::Absent);
    }
}
