//! A small world for the judges' tables: one thing with jobs queued on it, calls made at a
//! fixed time, answers built as a conforming target would give them, and a check of findings.

use serde_json::{Map, Value, json};

use super::super::answer::Answer;
use super::model::{Belief, Case, Execution, ThingModel};
use super::{Call, JobFacts, Subject, Window, follow_on, judge_of};
use crate::finding::Finding;
use jobcert_contract::{Binding, Operation, RequirementId, Status};

/// The thing's real name.
pub(super) const THING: &str = "thing-real";
/// The target's epoch second at run time 0.
pub(super) const EPOCH: i64 = 1_700_000_000;
/// When calls are made, in run milliseconds.
pub(super) const CALL_MS: f64 = 2_000.0;

/// A window 10 ms wide starting at `ms`.
pub(super) fn at(ms: f64) -> Window {
    Window {
        lo: ms,
        hi: ms + 10.0,
    }
}

/// The real id of logical job `job`.
pub(super) fn real(job: &str) -> String {
    format!("real-{job}")
}

/// The document text of logical job `job`.
pub(super) fn document(job: &str) -> String {
    format!("{{\"job\":\"{job}\"}}")
}

/// One thing and the case around it.
pub(super) struct Fixture {
    pub(super) thing: ThingModel,
    pub(super) case: Case,
}

impl Fixture {
    pub(super) fn new() -> Self {
        Self {
            thing: ThingModel::new(THING),
            case: Case::new(1_000.0),
        }
    }

    /// Job `job` created at `ms`, its execution QUEUED on the thing.
    pub(super) fn queued(mut self, job: &str, ms: f64) -> Self {
        self.case.jobs.insert(
            job.to_string(),
            JobFacts {
                id: job.to_string(),
                real_id: real(job),
                document: document(job),
                in_progress_minutes: None,
                retry: Vec::new(),
            },
        );
        let order = self.case.next_order();
        self.thing
            .executions
            .push(Execution::queued(job, at(ms), order, self.case.facts));
        self
    }

    /// Changes the latest execution of `job`.
    pub(super) fn with(mut self, job: &str, change: impl FnOnce(&mut Execution)) -> Self {
        let e = self
            .thing
            .executions
            .iter_mut()
            .rev()
            .find(|e| e.job == job)
            .expect("the fixture queued the job");
        change(e);
        self
    }

    /// The latest execution of `job` with `details` stored.
    pub(super) fn details(self, job: &str, details: &[(&str, &str)]) -> Self {
        let map = details
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.with(job, |e| e.details = Belief::Known(map))
    }

    /// The latest execution of `job` started at 1 s (version 2).
    pub(super) fn started(self, job: &str) -> Self {
        self.with(job, |e| {
            e.status = Status::InProgress;
            e.started = Some(at(1_000.0));
            e.version = Belief::Known(2);
        })
    }

    /// The latest execution of `job` started at 1 s and finished with `status` (version 3).
    pub(super) fn finished(self, job: &str, status: Status) -> Self {
        self.started(job).with(job, |e| {
            e.status = status;
            e.version = Belief::Known(3);
        })
    }

    /// Makes `operation` about `job` at [`CALL_MS`] over HTTP and judges `answer` as the
    /// oracle does: timers first, then the operation's judge.
    pub(super) fn call(
        &mut self,
        operation: Operation,
        job: Subject,
        input: Value,
        answer: Answer,
    ) -> Vec<Finding> {
        self.call_over(Binding::Http, operation, job, input, answer)
    }

    /// As [`Fixture::call`], over `binding`.
    pub(super) fn call_over(
        &mut self,
        binding: Binding,
        operation: Operation,
        job: Subject,
        input: Value,
        answer: Answer,
    ) -> Vec<Finding> {
        let input: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
        let call = Call {
            operation,
            thing: Subject::Seeded("t".into()),
            job,
            input: &input,
            valid: true,
            binding,
            window: at(CALL_MS),
            seq: 7,
        };
        let mut out = Vec::new();
        self.thing
            .expire(&mut self.case, call.window, Some(call.seq));
        judge_of(operation)(&mut self.thing, &mut self.case, &call, &answer, &mut out);
        let cause_at = self.case.cause_at.take();
        follow_on(&mut out, cause_at);
        out
    }
}

/// A job named by the case.
pub(super) fn seeded(job: &str) -> Subject {
    Subject::Seeded(job.to_string())
}

/// A 200 answer.
pub(super) fn ok(body: Value) -> Answer {
    Answer::Success(body)
}

/// An error answer.
pub(super) fn refused(status: u16, type_name: &str) -> Answer {
    Answer::Error {
        status,
        type_name: Some(type_name.to_string()),
        body: None,
    }
}

/// A JobExecution of `job` (queued at 0 s, execution number 1) as a conforming target reports
/// it: startedAt when it is not QUEUED, and the job's document.
pub(super) fn execution(job: &str, status: &str, version: i64) -> Value {
    let mut body = json!({
        "jobId": real(job),
        "thingName": THING,
        "status": status,
        "versionNumber": version,
        "executionNumber": 1,
        "queuedAt": EPOCH,
        "lastUpdatedAt": EPOCH + 2,
        "jobDocument": document(job),
    });
    if status != "QUEUED" {
        body["startedAt"] = json!(EPOCH + 2);
    }
    body
}

/// `base` with the members of `changes` set (a null removes the member).
pub(super) fn patched(mut base: Value, changes: Value) -> Value {
    let object = base.as_object_mut().expect("an object");
    for (k, v) in changes.as_object().expect("an object") {
        if v.is_null() {
            object.remove(k);
        } else {
            object.insert(k.clone(), v.clone());
        }
    }
    base
}

/// Every expected (requirement, passed) is among the findings, and every failure found was
/// expected.
pub(super) fn assert_findings(found: &[Finding], expected: &[(RequirementId, bool)]) {
    for &(requirement, passed) in expected {
        assert!(
            found
                .iter()
                .any(|f| f.requirement == requirement && f.passed == passed),
            "expected {requirement} {}; found {found:#?}",
            if passed { "passed" } else { "failed" }
        );
    }
    for f in found.iter().filter(|f| !f.passed) {
        assert!(
            expected.contains(&(f.requirement, false)),
            "unexpected failure {f:#?}"
        );
    }
}
