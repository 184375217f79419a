//! The judge of DescribeJobExecution: `$next` (empty per spec §7.7), a named execution, and a
//! terminal one, which may be described or refused with 410 (spec §7.6).

use serde_json::Value;

use super::super::answer::Answer;
use super::super::finding::Finding;
use super::body::check_execution;
use super::model::{Case, ThingModel};
use super::refusal::{expect_error, expect_success, named_execution};
use super::{Call, Subject};

/// Judges a Describe answer for `thing` and moves the model on.
pub(super) fn judge(
    thing: &mut ThingModel,
    case: &mut Case,
    call: &Call<'_>,
    answer: &Answer,
    out: &mut Vec<Finding>,
) {
    let seq = call.seq;
    let with_document = call
        .input
        .get("includeJobDocument")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let index = match &call.job {
        Subject::Next => {
            let (candidates, _) = thing.head_candidates(case.facts);
            if candidates.is_empty() {
                match answer {
                    Answer::Success(b) => out.push(Finding::check(
                        b.get("execution").is_none(),
                        "DE-NEXT-EMPTY",
                        "nothing pending: no execution",
                        Some(seq),
                    )),
                    Answer::Error { .. } => out.push(Finding::fail(
                        "DE-NEXT-EMPTY",
                        format!(
                            "nothing pending: expected an empty success, got {}",
                            answer.describe()
                        ),
                        Some(seq),
                    )),
                    _ => {}
                }
                return;
            }
            let Some(body) = expect_success(out, answer, "DE-NEXT", seq) else {
                return;
            };
            let real_job = body["execution"]["jobId"].as_str().unwrap_or_default();
            let hit = candidates
                .iter()
                .copied()
                .find(|&i| case.is_job(&thing.executions[i], real_job));
            out.push(Finding::check(
                hit.is_some(),
                "DE-NEXT",
                format!("$next described {real_job}, not the head"),
                Some(seq),
            ));
            let Some(i) = hit else { return };
            i
        }
        Subject::Seeded(job) => {
            let Some(i) = named_execution(thing, job, call, answer, "DE-NOT-FOUND", out) else {
                return;
            };
            let e = &mut thing.executions[i];
            if case.facts.is_terminal(e.status) || e.uncertain {
                if let Answer::Error { status, .. } = answer {
                    let ok =
                        answer.error_type() == Some("TerminalStateException") && *status == 410;
                    out.push(Finding::check(
                        ok,
                        "DE-TERMINAL",
                        format!("describing a terminal execution gave {}", answer.describe()),
                        Some(seq),
                    ));
                    if ok && e.uncertain {
                        e.time_out(case.facts);
                    }
                    return;
                }
                if case.facts.is_terminal(e.status) {
                    out.push(Finding::pass(
                        "DE-TERMINAL",
                        "a terminal execution is described",
                        Some(seq),
                    ));
                }
            }
            i
        }
        Subject::Foreign | Subject::Absent => {
            expect_error(
                out,
                answer,
                &["ResourceNotFoundException"],
                "DE-NOT-FOUND",
                "DE-NOT-FOUND",
                seq,
            );
            return;
        }
    };
    let Some(body) = expect_success(out, answer, "DE-EXECUTION-NUMBER", seq) else {
        return;
    };
    let Some(execution) = body.get("execution") else {
        out.push(Finding::fail(
            "DE-EXECUTION-NUMBER",
            "no execution in the answer",
            Some(seq),
        ));
        return;
    };
    if call.input.contains_key("executionNumber") {
        out.push(Finding::check(
            execution["executionNumber"] == call.input["executionNumber"],
            "DE-EXECUTION-NUMBER",
            format!(
                "asked for execution {}, got {}",
                call.input["executionNumber"], execution["executionNumber"]
            ),
            Some(seq),
        ));
    }
    check_execution(thing, index, case, execution, call, with_document, out);
}
