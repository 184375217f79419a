//! What a fleet device can judge from its own vantage point: the jobs created for its thing
//! (and acknowledged before it asked), the ones it has finished, and the step timer it set.
//! Every answer also gets the checks of [`super::answer::read`]. Missing or late answers are not
//! findings here: under load they are errors, which the run's thresholds weigh.

use std::collections::HashSet;

use serde_json::Value;

use super::answer::{Answer, read};
use crate::finding::{Finding, Profile};
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{Binding, Operation, req};

/// A job the control plane acknowledged creating for the device's thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedJob {
    /// Job id.
    pub id: String,
    /// When the CreateJob call went out, µs since the run started.
    pub sent_us: u64,
    /// When it was acknowledged.
    pub acked_us: u64,
}

/// Two jobs created this close together may share a queue second (SN-TIE-ORDER).
const SAME_SECOND_US: u64 = 1_000_000;

/// What a start-next answer told the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// The job now IN_PROGRESS.
    pub job_id: String,
    /// Its version, for the update's `expectedVersion`.
    pub version: Option<i64>,
}

/// The judged answer of one exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The checks made.
    pub findings: Vec<Finding>,
    /// What failed the device, if anything: `timeout`, `failed:<class>`, an error type, ….
    pub error: Option<String>,
}

/// One device's view of its executions.
#[derive(Debug, Clone, Default)]
pub struct DeviceOracle {
    finished: HashSet<String>,
}

impl DeviceOracle {
    /// Notes that `job` reached a terminal status.
    pub fn finished(&mut self, job: &str) {
        self.finished.insert(job.to_string());
    }

    /// Whether `job` is finished.
    pub fn is_finished(&self, job: &str) -> bool {
        self.finished.contains(job)
    }

    /// Judges a start-next answer. `created` lists the jobs acknowledged before the request
    /// went out, in creation order; `exact` says whether no creation was in flight then (only
    /// then is "nothing pending" a certainty). `stateful` is false for programs that do not
    /// track state (every answer is then checked for form only).
    pub fn start_next(
        &self,
        exchange: &Exchange,
        binding: Binding,
        profile: Profile,
        created: &[CreatedJob],
        exact: bool,
        stateful: bool,
    ) -> (Option<Started>, Judged) {
        let op = Operation::StartNextPendingJobExecution;
        let (answer, mut findings) = wire(exchange, op, binding, profile);
        let error = error_of(exchange, &answer);
        let Some(body) = answer.success() else {
            return (None, Judged { findings, error });
        };
        let execution = body.get("execution").filter(|e| !e.is_null());
        let seq = Some(exchange.seq);
        if !stateful {
            let started = execution.and_then(started_of);
            return (started, Judged { findings, error });
        }
        let pending: Vec<&CreatedJob> = created
            .iter()
            .filter(|j| !self.finished.contains(&j.id))
            .collect();
        let Some(execution) = execution else {
            if exact || !pending.is_empty() {
                findings.push(Finding::check(
                    pending.is_empty(),
                    if pending.is_empty() {
                        req::SN_EMPTY
                    } else {
                        req::SN_NEXT_ORDER
                    },
                    match pending.first() {
                        Some(j) => format!("{} is pending, yet no execution came back", j.id),
                        None => "nothing pending and no execution".to_string(),
                    },
                    seq,
                ));
            }
            return (None, Judged { findings, error });
        };
        let Some(started) = started_of(execution) else {
            return (None, Judged { findings, error });
        };
        if let Some(f) = order(&started.job_id, &pending, created, exact, seq) {
            findings.push(f);
        }
        let status = execution.get("status").and_then(Value::as_str);
        findings.push(Finding::check(
            status == Some("IN_PROGRESS"),
            req::SN_START,
            format!(
                "start-next returned {} with status {}",
                started.job_id,
                status.unwrap_or("(none)")
            ),
            seq,
        ));
        (Some(started), Judged { findings, error })
    }

    /// Judges the answer to an update of an IN_PROGRESS execution. `timer_may_have_fired`
    /// says the step timer could have run out before the update arrived: a refusal is then
    /// no finding and no error (the device goes on to look at the execution).
    pub fn update(
        &self,
        exchange: &Exchange,
        binding: Binding,
        profile: Profile,
        job: &str,
        status: &str,
        timer_may_have_fired: bool,
    ) -> (bool, Judged) {
        let (answer, mut findings) =
            wire(exchange, Operation::UpdateJobExecution, binding, profile);
        let accepted = answer.success().is_some();
        // A refusal that may be the timer's doing is neither a finding nor an error.
        let excused = timer_may_have_fired && matches!(answer, Answer::Error { .. });
        let error = if excused {
            None
        } else {
            error_of(exchange, &answer)
        };
        if !excused && !matches!(answer, Answer::Unanswered) {
            findings.push(Finding::check(
                accepted,
                req::UP_TRANSITION,
                format!("IN_PROGRESS → {status} on {job}: {}", answer.describe()),
                Some(exchange.seq),
            ));
        }
        (accepted, Judged { findings, error })
    }

    /// Judges a describe sent once the step timer of a silent device's execution, and its
    /// slack, have run out: the execution must be TIMED_OUT. Returns the status seen (a
    /// TerminalStateException says terminal, and only the timer can have ended it).
    pub fn after_silence(
        &self,
        exchange: &Exchange,
        binding: Binding,
        profile: Profile,
        job: &str,
        last_try: bool,
    ) -> (Option<String>, Judged) {
        let (answer, mut findings) =
            wire(exchange, Operation::DescribeJobExecution, binding, profile);
        let seq = Some(exchange.seq);
        let status = match &answer {
            Answer::Success(body) => body
                .pointer("/execution/status")
                .and_then(Value::as_str)
                .map(str::to_string),
            Answer::Error { type_name, .. }
                if type_name.as_deref() == Some("TerminalStateException") =>
            {
                Some("TIMED_OUT".to_string())
            }
            _ => None,
        };
        let error = match (&answer, &status) {
            (_, Some(_)) => None,
            _ => error_of(exchange, &answer),
        };
        match status.as_deref() {
            Some("TIMED_OUT") => findings.push(Finding::pass(
                req::TM_STEP_EXPIRY,
                format!("{job} is TIMED_OUT after its step timer ran out"),
                seq,
            )),
            Some(other) if last_try => findings.push(Finding::fail(
                req::TM_STEP_EXPIRY,
                format!("{job} is still {other} after its step timer and its slack ran out"),
                seq,
            )),
            _ => {}
        }
        (status, Judged { findings, error })
    }
}

/// The checks every answer gets, except WI-ANSWER: a missing answer is an error under load.
fn wire(
    exchange: &Exchange,
    operation: Operation,
    binding: Binding,
    profile: Profile,
) -> (Answer, Vec<Finding>) {
    let (answer, mut findings) = read(exchange, operation, binding, profile);
    findings.retain(|f| f.requirement != req::WI_ANSWER);
    (answer, findings)
}

fn started_of(execution: &Value) -> Option<Started> {
    Some(Started {
        job_id: execution.get("jobId")?.as_str()?.to_string(),
        version: execution.get("versionNumber").and_then(Value::as_i64),
    })
}

/// SN-NEXT-ORDER: the job started is the oldest pending one; one created within the same
/// second is only a tie (SN-TIE-ORDER, which the contract leaves open).
/// Nothing is concluded about a job unknown to the device while a creation was in flight.
fn order(
    job: &str,
    pending: &[&CreatedJob],
    created: &[CreatedJob],
    exact: bool,
    seq: Option<u64>,
) -> Option<Finding> {
    let known = created.iter().any(|j| j.id == job);
    if !known && !exact {
        return None;
    }
    let Some(head) = pending.first() else {
        return Some(Finding::check(
            !known,
            req::SN_NEXT_ORDER,
            if known {
                format!("{job} was started although the device had finished it")
            } else {
                format!("{job} is not a job of this thing")
            },
            seq,
        ));
    };
    if head.id == job {
        return Some(Finding::pass(
            req::SN_NEXT_ORDER,
            format!("{job} is the oldest pending job"),
            seq,
        ));
    }
    Some(match pending.iter().find(|j| j.id == job) {
        Some(j) if j.sent_us.saturating_sub(head.acked_us) < SAME_SECOND_US => Finding::fail(
            req::SN_TIE_ORDER,
            format!(
                "{job} was started before {}, created just before it",
                head.id
            ),
            seq,
        ),
        Some(_) => Finding::fail(
            req::SN_NEXT_ORDER,
            format!("{job} was started before the older {}", head.id),
            seq,
        ),
        None => Finding::fail(
            req::SN_NEXT_ORDER,
            format!(
                "{job} was started, but {} is the oldest pending job",
                head.id
            ),
            seq,
        ),
    })
}

/// What failed the device in this exchange, if anything.
pub fn error_of(exchange: &Exchange, answer: &Answer) -> Option<String> {
    match (&exchange.outcome, answer) {
        (Outcome::Timeout { .. }, _) => Some("timeout".into()),
        (Outcome::Failed { class, .. }, _) => Some(format!(
            "failed:{}",
            serde_json::to_value(class)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        )),
        (
            _,
            Answer::Error {
                type_name, status, ..
            },
        ) => Some(
            type_name
                .clone()
                .unwrap_or_else(|| format!("status {status}")),
        ),
        (_, Answer::Garbled) => Some("garbled".into()),
        _ => None,
    }
}
