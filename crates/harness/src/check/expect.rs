//! Explicit expectations written in a scenario step.

use serde_json::Value;

use super::answer::Answer;
use super::finding::Finding;
use crate::record::{Exchange, Outcome};
use crate::scenario::plan::Expectation;

/// Checks `answer` against the step's explicit expectations, citing `requirement`.
/// `resolve` maps a logical thing or job name to the name used on the target.
pub fn check(
    expect: &Expectation,
    exchange: &Exchange,
    answer: &Answer,
    requirement: &str,
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
