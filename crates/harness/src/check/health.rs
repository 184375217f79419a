//! Reading the thing back after a negative request. Whether the target refused the request or
//! accepted it, it must go on answering for the thing the request named; after a refusal that
//! must change nothing, its state must also be the one the oracle holds. An accepted request
//! that corrupts the target is otherwise seen only by later steps, under requirements that do
//! not name it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::answer::Answer;
use super::expect;
use super::oracle::{Call, Subject};
use crate::finding::{Cause, Finding};
use crate::plan::Expectation;
use crate::transport::WireRequest;
use jobcert_contract::{Operation, RequirementId, req};

/// The longest part of a request a message quotes, in characters.
const QUOTED: usize = 120;

/// The reads that follow one call, and how their answers are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadBack {
    /// The thing read back (logical name).
    pub thing: String,
    /// Each read's operation and input (logical names).
    pub reads: Vec<(Operation, Map<String, Value>)>,
    /// The requirement a changed state breaks: set only after a refusal that must change
    /// nothing. An accepted request may have changed the state in ways the oracle does not
    /// follow, so only the target's health is judged then.
    pub unchanged: Option<RequirementId>,
    /// The call and what came of it, as the messages name it.
    pub after: String,
    /// The operation of the call: what a read shows of its input, it stored.
    pub stored_by: Operation,
}

/// The read-back `call` needs, if any: after every negative request (one its request schema
/// refuses, or a raw body or topic), and after a refusal the step expects to change nothing.
/// Only a thing (`is_thing`) and job (`is_job`) of the case are read back. `sent` is the
/// request as it went on the wire.
pub fn read_back(
    call: &Call<'_>,
    expectation: &Expectation,
    requirement: RequirementId,
    answer: &Answer,
    sent: &WireRequest,
    is_thing: &dyn Fn(&str) -> bool,
    is_job: &dyn Fn(&str) -> bool,
) -> Option<ReadBack> {
    let refused = matches!(answer, Answer::Error { .. });
    let unchanged =
        expect::unchanged_requirement(call.operation, expectation, call.valid, requirement)
            .filter(|_| refused);
    if call.valid && unchanged.is_none() {
        return None;
    }
    let Subject::Seeded(thing) = &call.thing else {
        return None;
    };
    if !is_thing(thing) {
        return None;
    }
    let mut reads = vec![(
        Operation::GetPendingJobExecutions,
        object(json!({ "thing": thing })),
    )];
    if let Subject::Seeded(job) = &call.job
        && is_job(job)
    {
        reads.push((
            Operation::DescribeJobExecution,
            object(json!({ "thing": thing, "job": job })),
        ));
    }
    Some(ReadBack {
        thing: thing.clone(),
        reads,
        unchanged,
        after: format!(
            "{} {}",
            describe_request(call.operation, sent),
            fate(answer)
        ),
        stored_by: call.operation,
    })
}

/// The health finding of one read's answer: a server error or an answer that cannot be parsed
/// fails WI-HEALTH, naming the request read back after; silence is WI-ANSWER's alone.
pub fn judge(back: &ReadBack, read: Operation, answer: &Answer, seq: u64) -> Option<Finding> {
    if matches!(answer, Answer::Unanswered) {
        return None;
    }
    let broken = is_broken(answer);
    let got = match answer {
        Answer::Error { body: None, .. } => {
            format!("{} with a body that is not JSON", answer.describe())
        }
        _ => answer.describe(),
    };
    Some(Finding::check(
        !broken,
        req::WI_HEALTH,
        format!("after {}, {} answered {got}", back.after, read.name()),
        Some(seq),
    ))
}

/// Whether an answer is what a broken target answers: a server error, an error whose body is
/// not JSON, or a success whose body is not a JSON object.
fn is_broken(answer: &Answer) -> bool {
    match answer {
        Answer::Unanswered | Answer::Success(_) => false,
        Answer::Garbled => true,
        Answer::Error { status, body, .. } => *status >= 500 || body.is_none(),
    }
}

/// The things of a case a request broke, each with the WI-HEALTH failure that named it. From
/// then on a broken answer about the thing says nothing of the requirement a later step checks
/// (its error type, a describe, a timer): every failure of it is a follow-on of that one.
#[derive(Debug, Default)]
pub struct Breakage {
    things: BTreeMap<String, Cause>,
}

impl Breakage {
    /// Links the failures of one answer about `thing` (its `findings`, every check of the
    /// exchange) to the breakage: when the answer is a broken one and either the thing is
    /// broken already or a WI-HEALTH failure among `findings` names it broken now.
    pub fn follow(&mut self, thing: &Subject, answer: &Answer, findings: &mut [Finding]) {
        let Subject::Seeded(name) = thing else { return };
        if !is_broken(answer) {
            return;
        }
        let cause = match self.things.get(name) {
            Some(c) => *c,
            None => {
                let Some(named) = findings.iter().find(|f| {
                    f.requirement == req::WI_HEALTH && !f.passed && f.caused_by.is_none()
                }) else {
                    return;
                };
                let c = Cause::of(named);
                self.things.insert(name.clone(), c);
                c
            }
        };
        for f in findings.iter_mut() {
            if !f.passed && f.caused_by.is_none() && Cause::of(f) != cause {
                f.caused_by = Some(cause);
            }
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The operation, the path or topic, and the body as sent, each cut to [`QUOTED`] characters.
fn describe_request(operation: Operation, sent: &WireRequest) -> String {
    let mut out = format!("{} {}", operation.name(), quoted(&sent.target));
    if let Some(body) = sent.body.as_deref().filter(|b| !b.is_empty()) {
        out.push(' ');
        out.push_str(&quoted(body));
    }
    out
}

fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// What came of the call, as a clause.
fn fate(answer: &Answer) -> String {
    match answer {
        Answer::Success(_) => "was accepted".into(),
        Answer::Error { .. } => format!("was refused with {}", answer.describe()),
        Answer::Garbled => "was answered with a success whose body is not a JSON object".into(),
        Answer::Unanswered => "went unanswered".into(),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Map, Value, json};

    use super::{
        Answer, Breakage, Call, Cause, Expectation, Finding, ReadBack, Subject, WireRequest, judge,
        read_back,
    };
    use crate::check::oracle::Window;
    use jobcert_contract::{Binding, Operation, RequirementId, req};

    const UPDATE: Operation = Operation::UpdateJobExecution;
    const DESCRIBE: Operation = Operation::DescribeJobExecution;
    const GET: Operation = Operation::GetPendingJobExecutions;

    fn accepted() -> Answer {
        Answer::Success(json!({}))
    }

    fn error(status: u16, type_name: &str) -> Answer {
        Answer::Error {
            status,
            type_name: Some(type_name.into()),
            body: Some(json!({ "message": "m" })),
        }
    }

    fn sent() -> WireRequest {
        WireRequest {
            transport: "http".into(),
            method: "POST".into(),
            endpoint: "http://127.0.0.1:1".into(),
            target: "/things/dev-r1/jobs/a-r1".into(),
            headers: Vec::new(),
            body: Some(r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":"5"}"#.into()),
        }
    }

    /// The read-back of a call of `operation` on thing `thing` and job `job` (`None`: absent).
    fn decide(
        operation: Operation,
        (thing, job): (&str, Option<&str>),
        (valid, state_unchanged): (bool, bool),
        answer: &Answer,
    ) -> Option<ReadBack> {
        let input = Map::new();
        let call = Call {
            operation,
            thing: Subject::Seeded(thing.into()),
            job: job.map_or(Subject::Absent, |j| Subject::Seeded(j.into())),
            input: &input,
            valid,
            binding: Binding::Http,
            window: Window { lo: 0.0, hi: 1.0 },
            seq: 7,
        };
        let expectation = Expectation {
            state_unchanged,
            ..Expectation::default()
        };
        read_back(
            &call,
            &expectation,
            req::UP_INPUT,
            answer,
            &sent(),
            &|t| t == "dev",
            &|j| j == "a",
        )
    }

    #[rstest]
    // A valid call that need not leave the state unchanged is not read back.
    #[case(UPDATE, ("dev", Some("a")), (true, false), accepted(), None)]
    #[case(UPDATE, ("dev", Some("a")), (true, true), accepted(), None)]
    // A refusal that must change nothing: state and health, as before.
    #[case(UPDATE, ("dev", Some("a")), (true, true), error(409, "InvalidStateTransitionException"), Some((2, Some(req::UP_INPUT))))]
    #[case(UPDATE, ("dev", Some("a")), (false, false), error(400, "InvalidRequestException"), Some((2, Some(req::UP_INPUT))))]
    #[case(Operation::StartNextPendingJobExecution, ("dev", None), (false, true), error(400, "InvalidRequestException"), Some((1, Some(req::SN_REJECT_UNCHANGED))))]
    // A negative request accepted, or of a read: health only.
    #[case(UPDATE, ("dev", Some("a")), (false, true), accepted(), Some((2, None)))]
    #[case(DESCRIBE, ("dev", Some("a")), (false, true), error(400, "InvalidRequestException"), Some((2, None)))]
    #[case(GET, ("dev", None), (false, false), Answer::Unanswered, Some((1, None)))]
    // A job or thing the case does not know is not read.
    #[case(UPDATE, ("dev", Some("other")), (false, true), accepted(), Some((1, None)))]
    #[case(UPDATE, ("other", Some("a")), (false, true), accepted(), None)]
    fn which_calls_are_read_back(
        #[case] operation: Operation,
        #[case] names: (&str, Option<&str>),
        #[case] validity: (bool, bool),
        #[case] answer: Answer,
        #[case] expected: Option<(usize, Option<RequirementId>)>,
    ) {
        let back = decide(operation, names, validity, &answer);
        assert_eq!(
            back.as_ref().map(|b| (b.reads.len(), b.unchanged)),
            expected,
            "{back:?}"
        );
        if let Some(back) = back {
            assert_eq!(back.reads[0], (GET, object(json!({ "thing": "dev" }))));
            assert_eq!(back.thing, "dev");
        }
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[rstest]
    #[case(accepted(), Some(true))]
    #[case(error(404, "ResourceNotFoundException"), Some(true))]
    #[case(error(500, "InternalError"), Some(false))]
    #[case(error(503, "ServiceUnavailableException"), Some(false))]
    #[case(Answer::Garbled, Some(false))]
    #[case(Answer::Error { status: 400, type_name: None, body: None }, Some(false))]
    #[case(Answer::Unanswered, None)]
    fn a_read_fails_on_a_server_error_or_an_unparseable_answer(
        #[case] answer: Answer,
        #[case] passed: Option<bool>,
    ) {
        let back = decide(UPDATE, ("dev", Some("a")), (false, true), &accepted())
            .expect("a negative request is read back");
        let finding = judge(&back, GET, &answer, 9);
        assert_eq!(finding.as_ref().map(|f| f.passed), passed, "{finding:?}");
        if let Some(f) = finding {
            assert_eq!(f.requirement, req::WI_HEALTH);
            assert_eq!(f.exchange, Some(9));
        }
    }

    #[test]
    fn a_broken_read_names_the_request_that_broke_it() {
        let back = decide(UPDATE, ("dev", Some("a")), (false, true), &accepted())
            .expect("a negative request is read back");
        let finding = judge(&back, GET, &error(500, "InternalError"), 9).expect("a finding");
        assert_eq!(
            finding.message,
            r#"after UpdateJobExecution /things/dev-r1/jobs/a-r1 {"status":"IN_PROGRESS","stepTimeoutInMinutes":"5"} was accepted, GetPendingJobExecutions answered 500 InternalError"#
        );
        let refused = decide(
            UPDATE,
            ("dev", Some("a")),
            (false, true),
            &error(400, "InvalidRequestException"),
        )
        .expect("a refusal is read back");
        assert!(
            refused
                .after
                .ends_with("was refused with 400 InvalidRequestException"),
            "{}",
            refused.after
        );
    }

    fn health(ok: bool, seq: u64) -> Finding {
        Finding::check(ok, req::WI_HEALTH, "read back", Some(seq))
    }

    fn wrong_type(seq: u64) -> Finding {
        Finding::fail(req::WI_ERROR_TYPE, "InternalError is no type", Some(seq))
    }

    // A broken answer after a WI-HEALTH failure named the thing broken follows from it: the
    // error type next to it, a later step's own check, a later read's health. Another thing, a
    // healthy answer or a thing not yet named broken are judged as they are.
    #[rstest]
    #[case::named_broken_now("dev", error(500, "InternalError"), vec![wrong_type(3), health(false, 3)], &[true, false])]
    #[case::broken_later("dev", error(500, "InternalError"), vec![wrong_type(9), Finding::fail(req::DE_TERMINAL, "500", Some(9))], &[true, true])]
    #[case::broken_read_later("dev", error(500, "InternalError"), vec![wrong_type(9), health(false, 9)], &[true, true])]
    #[case::garbled_later("dev", Answer::Garbled, vec![Finding::fail(req::WI_JSON, "no JSON", Some(9))], &[true])]
    #[case::a_refusal_later("dev", error(409, "InvalidStateTransitionException"), vec![Finding::fail(req::UP_TERMINAL, "409", Some(9))], &[false])]
    #[case::another_thing("other", error(500, "InternalError"), vec![wrong_type(9)], &[false])]
    fn the_answers_of_a_broken_thing_follow_its_breakage(
        #[case] thing: &str,
        #[case] answer: Answer,
        #[case] mut findings: Vec<Finding>,
        #[case] following: &[bool],
    ) {
        let mut breakage = Breakage::default();
        let dev = Subject::Seeded("dev".into());
        let mut first = vec![wrong_type(3), health(false, 3)];
        if findings[0].exchange != Some(3) {
            breakage.follow(&dev, &error(500, "InternalError"), &mut first);
        }
        breakage.follow(&Subject::Seeded(thing.into()), &answer, &mut findings);
        let cause = Cause::of(&health(false, 3));
        let linked: Vec<bool> = findings
            .iter()
            .map(|f| f.caused_by == Some(cause))
            .collect();
        assert_eq!(linked, following, "{findings:#?}");
    }

    #[test]
    fn a_thing_not_named_broken_is_not() {
        let mut breakage = Breakage::default();
        let mut findings = vec![wrong_type(3), health(true, 3)];
        let dev = Subject::Seeded("dev".into());
        breakage.follow(&dev, &error(500, "InternalError"), &mut findings);
        assert!(
            findings.iter().all(|f| f.caused_by.is_none()),
            "{findings:#?}"
        );
    }

    #[test]
    fn a_long_request_is_cut() {
        let mut long = sent();
        long.body = Some("x".repeat(500));
        let described = super::describe_request(UPDATE, &long);
        assert!(
            described.ends_with(&format!("{}…", "x".repeat(120))),
            "{described}"
        );
    }
}
