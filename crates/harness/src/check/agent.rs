//! What a fleet device can judge from its own vantage point: the jobs created for its thing
//! (and acknowledged before it asked), the ones it has finished, and the step timer it set.
//! Every answer also gets the checks of [`super::answer::read`]. Missing or late answers are not
//! findings here: under load they are errors, which the run's thresholds weigh. A replay feeds
//! the same oracle what its device saw (`reads` judges the reads a replayed device makes).

mod reads;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use serde_json::Value;

use super::answer::{Answer, read};
use crate::finding::{Finding, Profile};
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{Binding, Operation, RequirementId, req};

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
    /// Jobs the device moved to IN_PROGRESS (and has not finished): the head of the list.
    in_progress: HashSet<String>,
    /// Jobs whose state the device can no longer tell (a timer may have ended them, a
    /// cancellation reached them, an update went unanswered): nothing is concluded about them.
    forgotten: HashSet<String>,
}

impl DeviceOracle {
    /// Notes that `job` reached a terminal status.
    pub fn finished(&mut self, job: &str) {
        self.in_progress.remove(job);
        self.finished.insert(job.to_string());
    }

    /// Whether `job` is finished.
    pub fn is_finished(&self, job: &str) -> bool {
        self.finished.contains(job)
    }

    /// Notes that `job` is IN_PROGRESS (started, or moved there by an update).
    pub fn started(&mut self, job: &str) {
        if !self.finished.contains(job) {
            self.in_progress.insert(job.to_string());
        }
    }

    /// Whether `job` is IN_PROGRESS as far as the device knows.
    pub fn is_in_progress(&self, job: &str) -> bool {
        self.in_progress.contains(job)
    }

    /// Stops concluding anything about `job`: the device no longer knows its state.
    pub fn forget(&mut self, job: &str) {
        self.in_progress.remove(job);
        self.forgotten.insert(job.to_string());
    }

    /// Whether `job` is finished, unless forgotten.
    fn known_finished(&self, job: &str) -> bool {
        self.finished.contains(job) && !self.forgotten.contains(job)
    }

    /// The jobs of `created` the device still knows about, and whether it knows every one
    /// (`exact` as given, unless a job was forgotten).
    fn known<'a>(&self, created: &'a [CreatedJob], exact: bool) -> (Vec<&'a CreatedJob>, bool) {
        let known: Vec<&CreatedJob> = created
            .iter()
            .filter(|j| !self.forgotten.contains(&j.id))
            .collect();
        (known, exact && self.forgotten.is_empty())
    }

    /// The pending jobs among `known`, head first: IN_PROGRESS before QUEUED, each in creation
    /// order.
    fn pending<'a>(&self, known: &[&'a CreatedJob]) -> Vec<&'a CreatedJob> {
        let mut pending: Vec<&CreatedJob> = known
            .iter()
            .copied()
            .filter(|j| !self.finished.contains(&j.id))
            .collect();
        pending.sort_by_key(|j| !self.in_progress.contains(&j.id));
        pending
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
        let started = if stateful {
            let (started, facts) =
                self.start_next_facts(&answer, Some(exchange.seq), created, exact);
            findings.extend(facts);
            started
        } else {
            answer
                .success()
                .and_then(|b| b.get("execution"))
                .and_then(started_of)
        };
        (started, Judged { findings, error })
    }

    /// The state facts of a start-next answer (see [`Self::start_next`]): the execution
    /// returned is the head of the pending list (SN-NEXT-ORDER, SN-EMPTY) and IN_PROGRESS
    /// (SN-START). Only a success is judged.
    pub fn start_next_facts(
        &self,
        answer: &Answer,
        seq: Option<u64>,
        created: &[CreatedJob],
        exact: bool,
    ) -> (Option<Started>, Vec<Finding>) {
        let mut findings = Vec::new();
        let Some(body) = answer.success() else {
            return (None, findings);
        };
        let execution = body.get("execution").filter(|e| !e.is_null());
        let (known, exact) = self.known(created, exact);
        let pending = self.pending(&known);
        let Some(execution) = execution else {
            findings.extend(self.nothing_returned(&pending, exact, Head::StartNext, seq));
            return (None, findings);
        };
        let Some(started) = started_of(execution) else {
            return (None, findings);
        };
        findings.extend(self.order(
            &started.job_id,
            &pending,
            &known,
            exact,
            Head::StartNext,
            seq,
        ));
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
        (Some(started), findings)
    }

    /// The finding of an answer that names no execution: only wrong while a known job is
    /// pending, and only right for certain when the device knows every job (`exact`).
    fn nothing_returned(
        &self,
        pending: &[&CreatedJob],
        exact: bool,
        head: Head,
        seq: Option<u64>,
    ) -> Option<Finding> {
        (exact || !pending.is_empty()).then(|| {
            Finding::check(
                pending.is_empty(),
                if pending.is_empty() {
                    head.empty()
                } else {
                    head.order()
                },
                match pending.first() {
                    Some(j) => format!("{} is pending, yet no execution came back", j.id),
                    None => "nothing pending and no execution".to_string(),
                },
                seq,
            )
        })
    }

    /// Judges the answer to an update of an IN_PROGRESS execution. `changed_meanwhile` says
    /// the execution may have changed before the update arrived (its step timer could have
    /// run out, or an earlier attempt of the same update that got no answer may have been
    /// applied): a refusal is then no finding and no error (the device goes on to look at the
    /// execution, or forgets what it knew of it).
    pub fn update(
        &self,
        exchange: &Exchange,
        binding: Binding,
        profile: Profile,
        job: &str,
        status: &str,
        changed_meanwhile: bool,
    ) -> (bool, Judged) {
        let (answer, mut findings) =
            wire(exchange, Operation::UpdateJobExecution, binding, profile);
        let accepted = answer.success().is_some();
        // A refusal the execution's change may explain is neither a finding nor an error.
        let excused = changed_meanwhile && matches!(answer, Answer::Error { .. });
        let error = if excused {
            None
        } else {
            error_of(exchange, &answer)
        };
        if !excused {
            findings.extend(transition(&answer, Some(exchange.seq), job, status));
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

/// UP-TRANSITION: an update of an IN_PROGRESS execution of `job` to `status` (IN_PROGRESS or
/// terminal) is accepted. An unanswered one is no finding, nor one the service declined to
/// consider (throttled, 429, or faulted, 5xx): that is an error, not a refused transition.
pub fn transition(answer: &Answer, seq: Option<u64>, job: &str, status: &str) -> Option<Finding> {
    let declined =
        matches!(answer, Answer::Error { status, .. } if *status == 429 || *status >= 500);
    (!matches!(answer, Answer::Unanswered) && !declined).then(|| {
        Finding::check(
            answer.success().is_some(),
            req::UP_TRANSITION,
            format!("IN_PROGRESS → {status} on {job}: {}", answer.describe()),
            seq,
        )
    })
}

/// Which answer names the head of the pending list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Start-next (SN-NEXT-ORDER, SN-EMPTY).
    StartNext,
    /// Describe `$next` (DE-NEXT, DE-NEXT-EMPTY).
    DescribeNext,
}

impl Head {
    fn order(self) -> RequirementId {
        match self {
            Self::StartNext => req::SN_NEXT_ORDER,
            Self::DescribeNext => req::DE_NEXT,
        }
    }

    fn empty(self) -> RequirementId {
        match self {
            Self::StartNext => req::SN_EMPTY,
            Self::DescribeNext => req::DE_NEXT_EMPTY,
        }
    }
}

impl DeviceOracle {
    /// The head facts (SN-NEXT-ORDER or DE-NEXT): the job named is the oldest pending one,
    /// IN_PROGRESS before QUEUED; one queued within the same second as a QUEUED head is only a
    /// tie (SN-TIE-ORDER, which the contract leaves open). Nothing is concluded about a job
    /// unknown to the device while a creation was in flight (or a job was forgotten).
    fn order(
        &self,
        job: &str,
        pending: &[&CreatedJob],
        known: &[&CreatedJob],
        exact: bool,
        kind: Head,
        seq: Option<u64>,
    ) -> Option<Finding> {
        if self.forgotten.contains(job) {
            return None;
        }
        let known = known.iter().any(|j| j.id == job);
        if !known && !exact {
            return None;
        }
        let Some(head) = pending.first() else {
            return Some(Finding::fail(
                kind.order(),
                if known {
                    format!("{job} came back although the device had finished it")
                } else {
                    format!("{job} is not a job of this thing")
                },
                seq,
            ));
        };
        if head.id == job {
            return Some(Finding::pass(
                kind.order(),
                format!("{job} is the oldest pending job"),
                seq,
            ));
        }
        let tie_possible = !self.in_progress.contains(&head.id);
        Some(match pending.iter().find(|j| j.id == job) {
            Some(j) if tie_possible && j.sent_us.saturating_sub(head.acked_us) < SAME_SECOND_US => {
                Finding::fail(
                    req::SN_TIE_ORDER,
                    format!("{job} came before {}, created just before it", head.id),
                    seq,
                )
            }
            Some(_) => Finding::fail(
                kind.order(),
                format!("{job} came before the older {}", head.id),
                seq,
            ),
            None => Finding::fail(
                kind.order(),
                format!("{job} came back, but {} is the oldest pending job", head.id),
                seq,
            ),
        })
    }
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
