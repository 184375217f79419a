//! Explicit expectations written in a scenario step.

use serde_json::Value;

use super::answer::Answer;
use crate::finding::Finding;
use crate::plan::Expectation;
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{Operation, RequirementId, req};

/// The expectation a call is held to: the step's own, and, for an input its request schema
/// refuses, the contract's default — refused as `InvalidRequestException` under the
/// operation's input requirement — unless the step expects something else.
pub fn effective(step: &Expectation, operation: Operation, valid: bool) -> Expectation {
    let mut expectation = step.clone();
    if !valid && expectation.error.is_none() && expectation.status.is_none() {
        expectation.error = Some("InvalidRequestException".to_string());
        expectation
            .requirement
            .get_or_insert_with(|| input_requirement(operation));
    }
    expectation
}

/// The requirement an invalid input of `operation` breaks when the step names none.
fn input_requirement(operation: Operation) -> RequirementId {
    match operation {
        Operation::StartNextPendingJobExecution => req::SN_BODY,
        Operation::UpdateJobExecution => req::UP_INPUT,
        Operation::DescribeJobExecution => req::DE_INPUT,
        Operation::GetPendingJobExecutions => req::GP_INPUT,
    }
}

/// Whether a refused call must be followed by reading the thing back, and the requirement a
/// changed state then breaks: a refused start-next breaks SN-REJECT-UNCHANGED, any other
/// refusal the requirement the call was checked under.
pub fn unchanged_requirement(
    operation: Operation,
    expectation: &Expectation,
    valid: bool,
    requirement: RequirementId,
) -> Option<RequirementId> {
    let mutating = matches!(
        operation,
        Operation::StartNextPendingJobExecution | Operation::UpdateJobExecution
    );
    (mutating && (expectation.state_unchanged || !valid)).then_some(match operation {
        Operation::StartNextPendingJobExecution => req::SN_REJECT_UNCHANGED,
        _ => requirement,
    })
}

/// What came back, for a message: the answer as the SDKs read it (`410
/// TerminalStateException`, `200 success`), or why nothing did.
fn came_back(exchange: &Exchange, answer: &Answer) -> String {
    match &exchange.outcome {
        Outcome::Timeout { deadline_ms } => {
            format!("no answer (timeout after {deadline_ms} ms)")
        }
        Outcome::Failed { message, .. } => format!("no answer (transport failure: {message})"),
        Outcome::Answered(_) => answer.describe(),
    }
}

/// What came back instead of a body member: an error names itself; a success lacks the member.
fn missing(exchange: &Exchange, answer: &Answer) -> String {
    match answer {
        Answer::Success(_) => format!("{} without it", came_back(exchange, answer)),
        _ => came_back(exchange, answer),
    }
}

/// Checks `answer` against the step's explicit expectations, citing `requirement`.
/// `resolve` maps a logical thing or job name to the name used on the target.
pub fn check(
    expect: &Expectation,
    exchange: &Exchange,
    answer: &Answer,
    requirement: RequirementId,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let seq = Some(exchange.seq);
    let mut out = Vec::new();
    // No answer is a timeout or a transport failure (WI-ANSWER), not a wrong answer.
    if matches!(answer, Answer::Unanswered) {
        return out;
    }
    // MQTT has no status codes; the error type says it all.
    if let Some(status) = expect
        .status
        .filter(|_| exchange.request.transport == "http")
    {
        let got = match &exchange.outcome {
            Outcome::Answered(r) => Some(r.status),
            _ => None,
        };
        out.push(Finding::check(
            got == Some(status),
            requirement,
            format!(
                "expected HTTP {status}, got {}",
                came_back(exchange, answer)
            ),
            seq,
        ));
    }
    if let Some(error) = &expect.error {
        out.push(Finding::check(
            answer.error_type() == Some(error.as_str()),
            requirement,
            format!("expected {error}, got {}", came_back(exchange, answer)),
            seq,
        ));
    }
    if let Some(error) = &expect.not_error {
        out.push(Finding::check(
            answer.error_type() != Some(error.as_str()),
            requirement,
            format!(
                "a valid value must not be refused as {error}; got {}",
                came_back(exchange, answer)
            ),
            seq,
        ));
    }
    let body = match answer {
        Answer::Success(b) => Some(b),
        Answer::Error { body, .. } => body.as_ref(),
        _ => None,
    };
    for (path, wanted) in &expect.body {
        let got = body.and_then(|b| path.split('.').try_fold(b, |v, k| v.get(k)));
        let (ok, what) = match wanted {
            Value::Object(m) if m.get("absent") == Some(&Value::Bool(true)) => {
                (got.is_none(), "absent".to_string())
            }
            Value::Object(m) if m.get("present") == Some(&Value::Bool(true)) => {
                (got.is_some(), "present".to_string())
            }
            Value::String(s) if path.ends_with("jobId") || path.ends_with("thingName") => {
                let real = resolve(s).unwrap_or_else(|| s.clone());
                (got.and_then(Value::as_str) == Some(real.as_str()), real)
            }
            other => (got == Some(other), other.to_string()),
        };
        out.push(Finding::check(
            ok,
            requirement,
            format!(
                "{path}: expected {what}, got {}",
                got.map_or_else(|| missing(exchange, answer), Value::to_string)
            ),
            seq,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::transport::{FailureClass, Timing, WireRequest, WireResponse};

    fn exchange(transport: &str, outcome: Outcome) -> Exchange {
        Exchange {
            seq: 7,
            context: "case".into(),
            operation: "UpdateJobExecution".into(),
            request: WireRequest {
                transport: transport.into(),
                method: "POST".into(),
                endpoint: "http://127.0.0.1:9080".into(),
                target: "/things/t/jobs/j".into(),
                headers: vec![],
                body: None,
            },
            outcome,
            timing: Timing {
                intended_us: 0,
                sent_us: 0,
                done_us: 1,
            },
        }
    }

    fn answered(status: u16) -> Outcome {
        Outcome::Answered(WireResponse {
            status,
            headers: vec![],
            body: String::new(),
            truncated: false,
        })
    }

    fn refused(status: u16, type_name: &str) -> Answer {
        Answer::Error {
            status,
            type_name: Some(type_name.into()),
            body: Some(json!({ "message": "no" })),
        }
    }

    fn expecting(status: Option<u16>, error: Option<&str>, body: Value) -> Expectation {
        Expectation {
            status,
            error: error.map(str::to_string),
            body: body.as_object().cloned().unwrap_or_default(),
            ..Expectation::default()
        }
    }

    #[rstest]
    #[case::member_of_an_error(
        expecting(None, None, json!({ "execution.status": "SUCCEEDED" })),
        answered(410),
        refused(410, "TerminalStateException"),
        &["execution.status: expected \"SUCCEEDED\", got 410 TerminalStateException"]
    )]
    #[case::member_missing_from_a_success(
        expecting(None, None, json!({ "execution.status": "SUCCEEDED" })),
        answered(200),
        Answer::Success(json!({ "execution": {} })),
        &["execution.status: expected \"SUCCEEDED\", got 200 success without it"]
    )]
    #[case::member_of_another_value(
        expecting(None, None, json!({ "execution.status": "SUCCEEDED" })),
        answered(200),
        Answer::Success(json!({ "execution": { "status": "FAILED" } })),
        &["execution.status: expected \"SUCCEEDED\", got \"FAILED\""]
    )]
    #[case::member_present_not_absent(
        expecting(None, None, json!({ "execution": { "absent": true } })),
        answered(200),
        Answer::Success(json!({ "execution": 1 })),
        &["execution: expected absent, got 1"]
    )]
    #[case::error_type_of_a_success(
        expecting(None, Some("InvalidRequestException"), json!({})),
        answered(200),
        Answer::Success(json!({})),
        &["expected InvalidRequestException, got 200 success"]
    )]
    #[case::status_and_type_of_another_error(
        expecting(Some(400), Some("InvalidRequestException"), json!({})),
        answered(410),
        refused(410, "TerminalStateException"),
        &[
            "expected HTTP 400, got 410 TerminalStateException",
            "expected InvalidRequestException, got 410 TerminalStateException",
        ]
    )]
    fn messages_say_what_came_back(
        #[case] expect: Expectation,
        #[case] outcome: Outcome,
        #[case] answer: Answer,
        #[case] messages: &[&str],
    ) {
        let findings = check(
            &expect,
            &exchange("http", outcome),
            &answer,
            req::UP_INPUT,
            &|_| None,
        );
        let failed: Vec<&str> = findings
            .iter()
            .filter(|f| !f.passed)
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(failed, messages);
        assert!(findings.iter().all(|f| f.exchange == Some(7)));
    }

    #[rstest]
    #[case::timeout(Outcome::Timeout { deadline_ms: 5000 }, "no answer (timeout after 5000 ms)")]
    #[case::reset(
        Outcome::Failed { class: FailureClass::Reset, message: "connection reset".into() },
        "no answer (transport failure: connection reset)"
    )]
    #[case::answered(answered(410), "410 TerminalStateException")]
    fn what_came_back_names_a_missing_answer(#[case] outcome: Outcome, #[case] said: &str) {
        let answer = match outcome {
            Outcome::Answered(_) => refused(410, "TerminalStateException"),
            _ => Answer::Unanswered,
        };
        assert_eq!(came_back(&exchange("http", outcome), &answer), said);
    }

    #[test]
    fn an_unanswered_call_is_left_to_the_answer_check() {
        let expect = expecting(Some(400), Some("InvalidRequestException"), json!({}));
        let timeout = exchange("http", Outcome::Timeout { deadline_ms: 5000 });
        assert!(
            check(
                &expect,
                &timeout,
                &Answer::Unanswered,
                req::UP_INPUT,
                &|_| None
            )
            .is_empty()
        );
    }

    #[test]
    fn mqtt_has_no_status_to_expect() {
        let expect = expecting(Some(400), None, json!({}));
        let rejected = exchange("mqtt", answered(0));
        let answer = refused(400, "InvalidRequestException");
        assert!(check(&expect, &rejected, &answer, req::UP_INPUT, &|_| None).is_empty());
    }
}
