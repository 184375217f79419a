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
                got.map_or("no answer".to_string(), |s| s.to_string())
            ),
            seq,
        ));
    }
    if let Some(error) = &expect.error {
        out.push(Finding::check(
            answer.error_type() == Some(error.as_str()),
            requirement,
            format!("expected {error}, got {}", answer.describe()),
            seq,
        ));
    }
    if let Some(error) = &expect.not_error {
        out.push(Finding::check(
            answer.error_type() != Some(error.as_str()),
            requirement,
            format!(
                "a valid value must not be refused as {error}; got {}",
                answer.describe()
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
                got.map_or("nothing".to_string(), Value::to_string)
            ),
            seq,
        ));
    }
    out
}
