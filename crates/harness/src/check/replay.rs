//! Comparing a replayed answer with the recorded one. Both are read the way the SDKs read them
//! ([`super::answer::read`]); what a replay must keep is the outcome (an answer at all), the
//! status class and error type, which job `$next` names, and the status an answer gives the
//! execution. Versions and execution numbers are opaque and run-specific: they are not compared
//! but paired ([`Facts`]), so that later requests can be mapped onto the replayed values.

use serde_json::Value;

use super::answer::{Answer, read};
use crate::finding::Profile;
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{Binding, Operation};

/// How a replayed answer departs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Its kind: `outcome`, `status`, `error-type`, `next-job` or `execution-status`.
    pub kind: &'static str,
    /// What was recorded.
    pub recorded: String,
    /// What came back now.
    pub replayed: String,
}

/// What an answer says about the execution it concerns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The job it names (`execution.jobId`).
    pub job: Option<String>,
    /// The execution's status.
    pub status: Option<String>,
    /// Its version.
    pub version: Option<i64>,
    /// Its execution number.
    pub execution_number: Option<i64>,
}

impl Facts {
    /// The facts of a success body: `execution` (StartNext, Describe) or `executionState`
    /// (Update).
    pub fn of(body: &Value) -> Self {
        let execution = body.get("execution").filter(|e| e.is_object());
        let state = execution.or_else(|| body.get("executionState"));
        let text = |v: Option<&Value>, key: &str| {
            v.and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let number =
            |v: Option<&Value>, key: &str| v.and_then(|v| v.get(key)).and_then(Value::as_i64);
        Self {
            job: text(execution, "jobId"),
            status: text(state, "status"),
            version: number(state, "versionNumber"),
            execution_number: number(execution, "executionNumber"),
        }
    }
}

/// Both answers, read, with what each says about its execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// Where the replayed answer departs from the recorded one.
    pub divergences: Vec<Divergence>,
    /// The recorded answer's facts.
    pub recorded: Facts,
    /// The replayed answer's facts.
    pub replayed: Facts,
}

fn summary(answer: &Answer) -> (&'static str, String) {
    match answer {
        Answer::Success(_) => ("success", "success".into()),
        Answer::Error {
            status, type_name, ..
        } => (
            "error",
            format!(
                "{status} {}",
                type_name.as_deref().unwrap_or("(no error type)")
            ),
        ),
        Answer::Garbled => ("garbled", "a garbled success".into()),
        Answer::Unanswered => ("unanswered", "no answer".into()),
    }
}

/// Compares `replayed` with the answer `recorded` for the same request. `job_name` maps a
/// recorded job id onto the replay's name for it, so that `$next` naming "the same" job is
/// judged across the two runs' names.
pub fn compare(
    recorded: &Outcome,
    replayed: &Exchange,
    operation: Operation,
    binding: Binding,
    job_name: impl Fn(&str) -> String,
) -> Compared {
    let mut then = replayed.clone();
    then.outcome = recorded.clone();
    let (before, _) = read(&then, operation, binding, Profile::Aws);
    let (now, _) = read(replayed, operation, binding, Profile::Aws);
    let recorded_facts = before.success().map(Facts::of).unwrap_or_default();
    let replayed_facts = now.success().map(Facts::of).unwrap_or_default();
    let mut divergences = Vec::new();
    let ((kind_then, said_then), (kind_now, said_now)) = (summary(&before), summary(&now));
    let diverge = |kind, recorded: String, replayed: String| Divergence {
        kind,
        recorded,
        replayed,
    };
    if kind_then != kind_now {
        let kind = if kind_then == "unanswered" || kind_now == "unanswered" {
            "outcome"
        } else {
            "status"
        };
        divergences.push(diverge(kind, said_then, said_now));
    } else if let (
        Answer::Error {
            status: a,
            type_name: ta,
            ..
        },
        Answer::Error {
            status: b,
            type_name: tb,
            ..
        },
    ) = (&before, &now)
    {
        if a / 100 != b / 100 {
            divergences.push(diverge("status", said_then, said_now));
        } else if ta != tb {
            divergences.push(diverge("error-type", said_then, said_now));
        }
    } else if kind_now == "success" {
        let expected_job = recorded_facts.job.as_deref().map(&job_name);
        if expected_job != replayed_facts.job {
            divergences.push(diverge(
                "next-job",
                expected_job.unwrap_or_else(|| "no job".into()),
                replayed_facts
                    .job
                    .clone()
                    .unwrap_or_else(|| "no job".into()),
            ));
        } else if recorded_facts.status != replayed_facts.status {
            divergences.push(diverge(
                "execution-status",
                recorded_facts
                    .status
                    .clone()
                    .unwrap_or_else(|| "none".into()),
                replayed_facts
                    .status
                    .clone()
                    .unwrap_or_else(|| "none".into()),
            ));
        }
    }
    Compared {
        divergences,
        recorded: recorded_facts,
        replayed: replayed_facts,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::{Label, WireRequest, WireResponse};

    fn answered(status: u16, error: Option<&str>, body: &str) -> Outcome {
        Outcome::Answered(WireResponse {
            status,
            headers: error
                .iter()
                .map(|e| ("x-amzn-errortype".to_string(), e.to_string()))
                .chain([("content-type".to_string(), "application/json".to_string())])
                .collect(),
            body: body.into(),
            truncated: false,
        })
    }

    fn exchange(outcome: Outcome) -> Exchange {
        let request = WireRequest {
            transport: "http".into(),
            method: "PUT".into(),
            endpoint: "http://127.0.0.1:1".into(),
            target: "/things/t/jobs/$next".into(),
            headers: Vec::new(),
            body: Some("{}".into()),
        };
        let label = Label {
            seq: 1,
            context: "t",
            operation: "StartNextPendingJobExecution",
        };
        Exchange::new(label, request, outcome, 0, 1)
    }

    const STARTED_A: &str = r#"{"execution":{"jobId":"a-1","thingName":"t","status":"IN_PROGRESS","queuedAt":1,"lastUpdatedAt":1,"versionNumber":2,"executionNumber":1}}"#;
    const STARTED_A_LATER: &str = r#"{"execution":{"jobId":"a-2","thingName":"t","status":"IN_PROGRESS","queuedAt":1,"lastUpdatedAt":1,"versionNumber":7,"executionNumber":9}}"#;
    const STARTED_B: &str = r#"{"execution":{"jobId":"b-2","thingName":"t","status":"IN_PROGRESS","queuedAt":1,"lastUpdatedAt":1,"versionNumber":2,"executionNumber":1}}"#;
    const QUEUED_A: &str = r#"{"execution":{"jobId":"a-2","thingName":"t","status":"QUEUED","queuedAt":1,"lastUpdatedAt":1,"versionNumber":1,"executionNumber":1}}"#;

    #[rstest]
    #[case::same_job_other_numbers(
        answered(200, None, STARTED_A),
        answered(200, None, STARTED_A_LATER),
        None
    )]
    #[case::other_job(
        answered(200, None, STARTED_A),
        answered(200, None, STARTED_B),
        Some("next-job")
    )]
    #[case::other_status(
        answered(200, None, STARTED_A),
        answered(200, None, QUEUED_A),
        Some("execution-status")
    )]
    #[case::nothing_then_a_job(
        answered(200, None, "{}"),
        answered(200, None, STARTED_A_LATER),
        Some("next-job")
    )]
    #[case::refused_now(
        answered(200, None, STARTED_A),
        answered(409, Some("VersionConflictException"), "{}"),
        Some("status")
    )]
    #[case::other_error(
        answered(400, Some("InvalidRequestException"), "{}"),
        answered(404, Some("ResourceNotFoundException"), "{}"),
        Some("error-type")
    )]
    #[case::other_class(
        answered(400, Some("InvalidRequestException"), "{}"),
        answered(500, Some("InvalidRequestException"), "{}"),
        Some("status")
    )]
    #[case::same_error(
        answered(400, Some("InvalidRequestException"), "{}"),
        answered(400, Some("InvalidRequestException:http://x"), "{}"),
        None
    )]
    #[case::timed_out_now(answered(200, None, STARTED_A), Outcome::Timeout { deadline_ms: 5 }, Some("outcome"))]
    fn replayed_answers_are_compared_on_what_a_replay_keeps(
        #[case] recorded: Outcome,
        #[case] now: Outcome,
        #[case] kind: Option<&str>,
    ) {
        let rename = |job: &str| job.replace("-1", "-2");
        let compared = compare(
            &recorded,
            &exchange(now),
            Operation::StartNextPendingJobExecution,
            Binding::Http,
            rename,
        );
        assert_eq!(
            compared.divergences.first().map(|d| d.kind),
            kind,
            "{compared:?}"
        );
        assert!(compared.divergences.len() <= 1);
    }

    #[test]
    fn facts_pair_versions_and_execution_numbers() {
        let compared = compare(
            &answered(200, None, STARTED_A),
            &exchange(answered(200, None, STARTED_A_LATER)),
            Operation::StartNextPendingJobExecution,
            Binding::Http,
            |j| j.replace("-1", "-2"),
        );
        assert_eq!(
            (compared.recorded.version, compared.replayed.version),
            (Some(2), Some(7))
        );
        assert_eq!(
            (
                compared.recorded.execution_number,
                compared.replayed.execution_number
            ),
            (Some(1), Some(9))
        );
        let update = Facts::of(
            &serde_json::json!({"executionState": {"status": "SUCCEEDED", "versionNumber": 3}}),
        );
        assert_eq!(
            (update.status.as_deref(), update.version, update.job),
            (Some("SUCCEEDED"), Some(3), None)
        );
    }
}
