//! Refusals: the answers that must be errors, the answers that must be successes, and the
//! calls that name nothing the target holds (spec §7.14).

use serde_json::Value;

use super::super::answer::Answer;
use super::model::{ThingModel, whole};
use super::{Call, Subject};
use crate::finding::Finding;
use jobcert_contract::{Operation, RequirementId, outcomes, req};

/// Judges an answer that must be a 4xx refusal of one of the `wanted` types: the refusal under
/// `requirement`, the type under `type_requirement`. True when it was a refusal.
pub(super) fn expect_error(
    out: &mut Vec<Finding>,
    answer: &Answer,
    wanted: &[&str],
    requirement: RequirementId,
    type_requirement: RequirementId,
    seq: u64,
) -> bool {
    match answer {
        Answer::Error {
            status, type_name, ..
        } if (400..500).contains(status) => {
            let got = type_name.as_deref().unwrap_or("(none)");
            out.push(Finding::pass(
                requirement,
                format!("refused with {status} {got}"),
                Some(seq),
            ));
            out.push(Finding::check(
                wanted.contains(&got),
                type_requirement,
                format!("expected {}, got {got}", wanted.join(" or ")),
                Some(seq),
            ));
            true
        }
        // No answer is a timeout (WI-ANSWER), not a wrong answer.
        Answer::Unanswered => false,
        other => {
            out.push(Finding::fail(
                requirement,
                format!(
                    "expected a refusal ({}), got {}",
                    wanted.join(" or "),
                    other.describe()
                ),
                Some(seq),
            ));
            false
        }
    }
}

/// The body of an answer that must be a success; anything else but silence fails `requirement`.
pub(super) fn expect_success<'b>(
    out: &mut Vec<Finding>,
    answer: &'b Answer,
    requirement: RequirementId,
    seq: u64,
) -> Option<&'b Value> {
    match answer {
        Answer::Success(b) => Some(b),
        Answer::Unanswered => None,
        other => {
            out.push(Finding::fail(
                requirement,
                format!("expected success, got {}", other.describe()),
                Some(seq),
            ));
            None
        }
    }
}

/// The execution of `job` a call names (its executionNumber, else the latest). `None` when
/// nothing can be predicted: either there is no such execution (the target's refusal has
/// been judged under `missing`), or the call names an execution number the model has not
/// seen yet (one of its executions' numbers being unknown).
pub(super) fn named_execution(
    thing: &ThingModel,
    job: &str,
    call: &Call<'_>,
    answer: &Answer,
    missing: RequirementId,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let executions = &thing.executions;
    let number = call.input.get("executionNumber").and_then(whole);
    let known = |e: &super::model::Execution| number.is_some_and(|n| e.number.value() == Some(&n));
    if number.is_some()
        && !executions.iter().any(|e| e.job == job && known(e))
        && executions
            .iter()
            .any(|e| e.job == job && e.number.value().is_none())
    {
        return None;
    }
    let found = executions
        .iter()
        .enumerate()
        .filter(|(_, e)| e.job == job && number.is_none_or(|n| e.number.value() == Some(&n)))
        .map(|(i, _)| i)
        .next_back();
    if found.is_none() {
        expect_error(
            out,
            answer,
            &["ResourceNotFoundException"],
            missing,
            missing,
            call.seq,
        );
    }
    found
}

/// A thing that does not exist: nothing is pending and no execution of it exists (spec §7.14).
pub(super) fn absent_thing(call: &Call<'_>, answer: &Answer, out: &mut Vec<Finding>) {
    let seq = call.seq;
    let empty_ok = match call.operation {
        Operation::StartNextPendingJobExecution => Some((req::SN_UNKNOWN_THING, "execution")),
        Operation::DescribeJobExecution if call.job == Subject::Next => {
            Some((req::EX_UNKNOWN_THING, "execution"))
        }
        Operation::GetPendingJobExecutions => Some((req::EX_UNKNOWN_THING, "")),
        _ => None,
    };
    match empty_ok {
        Some((requirement, member)) => match answer {
            Answer::Success(body) => {
                let empty = if member.is_empty() {
                    body["inProgressJobs"].as_array().is_some_and(Vec::is_empty)
                        && body["queuedJobs"].as_array().is_some_and(Vec::is_empty)
                } else {
                    body.get(member).is_none()
                };
                out.push(Finding::check(
                    empty,
                    req::EX_EXECUTION,
                    format!("a thing that does not exist has nothing pending; got {body}"),
                    Some(seq),
                ));
                out.push(Finding::pass(
                    requirement,
                    "empty success for a thing that does not exist",
                    Some(seq),
                ));
            }
            // The refusals allowed instead are outcomes.json's (§7.14).
            Answer::Error { status, .. } => out.push(Finding::check(
                outcomes()
                    .get(requirement)
                    .and_then(|a| a.matching(call.binding, Some(*status), answer.error_type()))
                    .is_some_and(|o| !o.is_success()),
                requirement,
                format!(
                    "expected an empty success for a thing that does not exist, got {}",
                    answer.describe()
                ),
                Some(seq),
            )),
            _ => {}
        },
        None => {
            let requirement = match call.operation {
                Operation::UpdateJobExecution => req::UP_NOT_FOUND,
                _ => req::DE_NOT_FOUND,
            };
            expect_error(
                out,
                answer,
                &["ResourceNotFoundException"],
                requirement,
                requirement,
                seq,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Map, Value, json};

    use super::super::super::answer::Answer;
    use super::super::fixture::{assert_findings, at, execution, ok, refused};
    use super::super::{Call, Subject};
    use super::absent_thing;
    use jobcert_contract::{Binding, Operation, RequirementId, req};

    // A thing that does not exist (§7.14): empty success or not found where nothing is
    // pending; not found where a specific execution is named.
    #[rstest]
    #[case::start_next_empty(Operation::StartNextPendingJobExecution, Subject::Absent, ok(json!({})), &[(req::SN_UNKNOWN_THING, true), (req::EX_EXECUTION, true)])]
    #[case::start_next_not_found(Operation::StartNextPendingJobExecution, Subject::Absent, refused(404, "ResourceNotFoundException"), &[(req::SN_UNKNOWN_THING, true)])]
    #[case::start_next_other_error(Operation::StartNextPendingJobExecution, Subject::Absent, refused(400, "InvalidRequestException"), &[(req::SN_UNKNOWN_THING, false)])]
    #[case::start_next_an_execution(Operation::StartNextPendingJobExecution, Subject::Absent, ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})), &[(req::SN_UNKNOWN_THING, true), (req::EX_EXECUTION, false)])]
    #[case::get_pending_empty(Operation::GetPendingJobExecutions, Subject::Absent, ok(json!({"inProgressJobs": [], "queuedJobs": []})), &[(req::EX_UNKNOWN_THING, true), (req::EX_EXECUTION, true)])]
    #[case::get_pending_without_lists(Operation::GetPendingJobExecutions, Subject::Absent, ok(json!({})), &[(req::EX_UNKNOWN_THING, true), (req::EX_EXECUTION, false)])]
    #[case::describe_next_empty(Operation::DescribeJobExecution, Subject::Next, ok(json!({})), &[(req::EX_UNKNOWN_THING, true)])]
    #[case::describe_next_not_found(Operation::DescribeJobExecution, Subject::Next, refused(404, "ResourceNotFoundException"), &[(req::EX_UNKNOWN_THING, true)])]
    #[case::describe_not_found(Operation::DescribeJobExecution, Subject::Seeded("a".into()), refused(404, "ResourceNotFoundException"), &[(req::DE_NOT_FOUND, true)])]
    #[case::describe_empty(Operation::DescribeJobExecution, Subject::Seeded("a".into()), ok(json!({})), &[(req::DE_NOT_FOUND, false)])]
    #[case::update_not_found(Operation::UpdateJobExecution, Subject::Seeded("a".into()), refused(404, "ResourceNotFoundException"), &[(req::UP_NOT_FOUND, true)])]
    #[case::update_other_error(Operation::UpdateJobExecution, Subject::Seeded("a".into()), refused(409, "InvalidStateTransitionException"), &[(req::UP_NOT_FOUND, true), (req::UP_NOT_FOUND, false)])]
    #[case::update_accepted(Operation::UpdateJobExecution, Subject::Seeded("a".into()), ok(json!({})), &[(req::UP_NOT_FOUND, false)])]
    #[case::silence_is_no_finding(Operation::UpdateJobExecution, Subject::Seeded("a".into()), Answer::Unanswered, &[])]
    fn judges_a_thing_that_does_not_exist(
        #[case] operation: Operation,
        #[case] job: Subject,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let input: Map<String, Value> = Map::new();
        let call = Call {
            operation,
            thing: Subject::Seeded("ghost".into()),
            job,
            input: &input,
            valid: true,
            binding: Binding::Http,
            window: at(0.0),
            seq: 1,
        };
        let mut found = Vec::new();
        absent_thing(&call, &answer, &mut found);
        assert_findings(&found, expected);
    }
}
