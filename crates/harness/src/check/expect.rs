//! Explicit expectations written in a scenario step.

use serde_json::Value;

use super::answer::Answer;
use crate::finding::{Finding, Profile};
use crate::plan::Expectation;
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{Binding, Operation, RequirementId, outcomes, req};

/// The expectation a call is held to: the step's own, and, for an input its request schema
/// refuses or whose reading the contract leaves open (`situation`, see `whole_query`), the
/// default — refused as `InvalidRequestException` under the situation's requirement, or the
/// operation's input requirement — unless the step expects something else.
pub fn effective(
    step: &Expectation,
    operation: Operation,
    valid: bool,
    situation: Option<RequirementId>,
) -> Expectation {
    let mut expectation = step.clone();
    if !valid && expectation.error.is_none() && expectation.status.is_none() {
        expectation.error = Some("InvalidRequestException".to_string());
        expectation
            .requirement
            .get_or_insert_with(|| situation.unwrap_or_else(|| input_requirement(operation)));
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

/// What a step's answer is judged in besides the step: the profile, and the state model's
/// findings on the same call, which name the situation the call was in (DE-TERMINAL for a
/// describe of a terminal execution) and so the answers the contract allows in it.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    /// The profile of the run.
    pub profile: Profile,
    /// The state model's findings on the call.
    pub judged: &'a [Finding],
}

/// Checks `answer` against the step's explicit expectations, citing `requirement`.
/// `resolve` maps a logical thing or job name to the name used on the target.
///
/// An expectation is never stricter than the contract: when the answer is another outcome
/// the contract allows in the call's situation (`schemas/outcomes.json`), the step passes and
/// says what came back and which section allows it; a non-default outcome is reported under
/// the situation's ambiguous partner (unless the state model did so already). A `strict-only`
/// expectation is judged as written under the strict profile, and is at most a warning under
/// `aws`.
pub fn check(
    expect: &Expectation,
    exchange: &Exchange,
    answer: &Answer,
    requirement: RequirementId,
    judging: Judging<'_>,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    // No answer is a timeout or a transport failure (WI-ANSWER), not a wrong answer.
    if matches!(answer, Answer::Unanswered) {
        return Vec::new();
    }
    let strict = judging.profile == Profile::Strict;
    if !(strict && expect.strict_only)
        && let Some(out) = allowed_instead(expect, exchange, answer, requirement, judging.judged)
    {
        return out;
    }
    let mut out = as_written(expect, exchange, answer, requirement, resolve);
    if expect.strict_only
        && !strict
        && let Some(partner) = outcomes().partner(requirement)
    {
        for finding in out.iter_mut().filter(|f| !f.passed) {
            finding.requirement = partner;
            finding.message = format!("{} (a strict-only expectation)", finding.message);
        }
    }
    out
}

/// The binding an exchange travelled on.
fn binding_of(exchange: &Exchange) -> Binding {
    if exchange.request.transport == "http" {
        Binding::Http
    } else {
        Binding::Mqtt
    }
}

/// The findings of a step answered with another outcome than it wrote, which the contract
/// allows in the situation of the step's requirement or of one the state model judged the call
/// under; `None` when the answer is no such outcome (it is then judged as written).
fn allowed_instead(
    expect: &Expectation,
    exchange: &Exchange,
    answer: &Answer,
    requirement: RequirementId,
    judged: &[Finding],
) -> Option<Vec<Finding>> {
    if expect.status.is_none() && expect.error.is_none() && expect.body.is_empty() {
        return None;
    }
    let binding = binding_of(exchange);
    let status = match (&exchange.outcome, binding) {
        (Outcome::Answered(r), Binding::Http) => Some(r.status),
        _ => None,
    };
    let seq = Some(exchange.seq);
    let mut situations = vec![requirement];
    for f in judged {
        if !situations.contains(&f.requirement) {
            situations.push(f.requirement);
        }
    }
    situations.into_iter().find_map(|situation| {
        let alternatives = outcomes().get(situation)?;
        let written = alternatives
            .over(binding)
            .find(|o| expect.writes(o, binding))?;
        let got = alternatives.matching(binding, status, answer.error_type())?;
        if std::ptr::eq(written, got) {
            return None;
        }
        let came = came_back(exchange, answer);
        let section = &alternatives.section;
        let mut out = vec![Finding::pass(
            requirement,
            format!(
                "{came} came back, which §{section} allows when {} ({situation}: {}); the step \
                 expected {written}",
                alternatives.situation, got.means
            ),
            seq,
        )];
        let partner = outcomes().partner(situation);
        if let (false, Some(partner), Some(default)) =
            (got.default, partner, alternatives.default_over(binding))
            && !judged.iter().any(|f| f.requirement == partner)
        {
            out.push(Finding::fail(
                partner,
                format!("{came} instead of the §{section} default, {default}"),
                seq,
            ));
        }
        Some(out)
    })
}

/// The step's expectations judged as written.
fn as_written(
    expect: &Expectation,
    exchange: &Exchange,
    answer: &Answer,
    requirement: RequirementId,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let seq = Some(exchange.seq);
    let mut out = Vec::new();
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
mod tests;
