//! The judge of DescribeJobExecution: `$next` (empty per spec §7.7), a named execution, and a
//! terminal one, which may be described or refused with 410 (spec §7.6).

use serde_json::Value;

use super::super::answer::Answer;
use super::body::check_execution;
use super::cause::{confirmed, contradicted, ended_early, reconcile, resync_head};
use super::model::{Case, ThingModel, whole};
use super::order::OpenPick;
use super::refusal::{expect_error, expect_success, named_execution};
use super::{Call, Subject};
use crate::finding::Finding;
use jobcert_contract::{Status, outcomes, req};

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
                        req::DE_NEXT_EMPTY,
                        "nothing pending: no execution",
                        Some(seq),
                    )),
                    Answer::Error { .. } => out.push(Finding::fail(
                        req::DE_NEXT_EMPTY,
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
            let Some(body) = expect_success(out, answer, req::DE_NEXT, seq) else {
                return;
            };
            let returned = body
                .get("execution")
                .map(|x| x["jobId"].as_str().unwrap_or_default());
            let (candidates, head) = resync_head(thing, case, body.get("execution"), seq, out);
            if candidates.is_empty() {
                out.push(Finding::check(
                    returned.is_none(),
                    req::DE_NEXT_EMPTY,
                    "nothing pending: no execution",
                    Some(seq),
                ));
                return;
            }
            let real_job = returned.unwrap_or_default();
            let hit = candidates
                .iter()
                .copied()
                .find(|&i| case.is_job(&thing.executions[i], real_job));
            out.push(Finding::check(
                hit.is_some(),
                req::DE_NEXT,
                format!("$next described {real_job}, not the head"),
                Some(seq),
            ));
            let Some(i) = hit else { return };
            if let Some(p) = head.filter(|&p| p != i && !thing.executions[i].uncertain) {
                thing.open_picks.push(OpenPick {
                    returned: thing.executions[i].order,
                    passed_over: thing.executions[p].order,
                    seq,
                    requirement: req::DE_NEXT,
                });
            }
            i
        }
        Subject::Seeded(job) => {
            let Some(i) = named_execution(thing, job, call, answer, req::DE_NOT_FOUND, out) else {
                return;
            };
            let Some(i) = reconcile_describe(thing, i, case, answer, seq, out) else {
                return;
            };
            let e = &thing.executions[i];
            if e.status == Status::InProgress && !e.uncertain && refused_as_terminal(answer) {
                ended_early(thing, i, case, call, &answer.describe(), out);
                return;
            }
            let e = &mut thing.executions[i];
            if case.facts.is_terminal(e.status) || e.uncertain {
                // The answers allowed here are outcomes.json's (§7.6).
                let allowed = outcomes()
                    .get(req::DE_TERMINAL)
                    .expect("outcomes.json lists DE-TERMINAL");
                if let Answer::Error { status, .. } = answer {
                    let refusal = allowed
                        .matching(call.binding, Some(*status), answer.error_type())
                        .filter(|o| !o.is_success());
                    out.push(Finding::check(
                        refusal.is_some(),
                        req::DE_TERMINAL,
                        format!("describing a terminal execution gave {}", answer.describe()),
                        Some(seq),
                    ));
                    if let (Some(refusal), Some(default)) =
                        (refusal, allowed.default_over(call.binding))
                    {
                        out.push(Finding::check(
                            refusal.default,
                            req::DE_TERMINAL_DESCRIBED,
                            format!(
                                "{} instead of the §{} default, {default}",
                                answer.describe(),
                                allowed.section
                            ),
                            Some(seq),
                        ));
                    }
                    if refusal.is_some() && e.uncertain {
                        e.time_out(case.facts);
                    }
                    return;
                }
                if case.facts.is_terminal(e.status) {
                    out.push(Finding::pass(
                        req::DE_TERMINAL,
                        "a terminal execution is described",
                        Some(seq),
                    ));
                    out.push(Finding::pass(
                        req::DE_TERMINAL_DESCRIBED,
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
                req::DE_NOT_FOUND,
                req::DE_NOT_FOUND,
                seq,
            );
            return;
        }
    };
    let Some(body) = expect_success(out, answer, req::DE_EXECUTION_NUMBER, seq) else {
        return;
    };
    let Some(execution) = body.get("execution") else {
        out.push(Finding::fail(
            req::DE_EXECUTION_NUMBER,
            "no execution in the answer",
            Some(seq),
        ));
        return;
    };
    if call.input.contains_key("executionNumber") {
        out.push(Finding::check(
            execution["executionNumber"]
                .as_i64()
                .is_some_and(|n| whole(&call.input["executionNumber"]) == Some(n)),
            req::DE_EXECUTION_NUMBER,
            format!(
                "asked for execution {}, got {}",
                call.input["executionNumber"], execution["executionNumber"]
            ),
            Some(seq),
        ));
    } else if let Subject::Seeded(_) = &call.job
        && let Some(earlier) = latest_described(thing, index, execution, seq, out)
    {
        // The target described that execution: the rest is judged against it.
        check_execution(thing, earlier, case, execution, call, with_document, out);
        return;
    }
    check_execution(thing, index, case, execution, call, with_document, out);
}

/// Without `executionNumber` the latest execution of the job is described (spec §5.3). Once
/// the job has had more than one execution of the thing, a number above every earlier one the
/// target gave shows it; the answer being one of the earlier executions — its number and its
/// status — is this requirement's failure, and that execution is returned so the rest of the
/// answer is judged against it. Any other number is the retry's own (EX-RETRY judges how a
/// retry is numbered), so it is not judged twice.
fn latest_described(
    thing: &ThingModel,
    index: usize,
    execution: &Value,
    seq: u64,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let job = &thing.executions[index].job;
    let earlier: Vec<(usize, i64, &str)> = thing.executions[..index]
        .iter()
        .enumerate()
        .filter(|(_, e)| &e.job == job)
        .filter_map(|(i, e)| Some((i, *e.number.value()?, e.status.as_str())))
        .collect();
    let described = execution["executionNumber"].as_i64()?;
    let status = execution["status"].as_str().unwrap_or_default();
    if !earlier.is_empty() && earlier.iter().all(|&(_, n, _)| described > n) {
        out.push(Finding::pass(
            req::DE_EXECUTION_NUMBER,
            format!("without executionNumber, the latest execution of {job} was described"),
            Some(seq),
        ));
        return None;
    }
    let (i, ..) = earlier
        .iter()
        .find(|&&(_, n, s)| n == described && s == status)?;
    out.push(Finding::fail(
        req::DE_EXECUTION_NUMBER,
        format!(
            "without executionNumber, an earlier execution of {job} was described \
             (execution {described}, {status}), not the latest"
        ),
        Some(seq),
    ));
    Some(*i)
}

/// Whether an answer is the refusal of a terminal execution (spec §7.6).
fn refused_as_terminal(answer: &Answer) -> bool {
    matches!(answer, Answer::Error { status: 410, .. })
        && answer.error_type() == Some("TerminalStateException")
}

/// Reconciles a predicted execution `i` with the answer describing it: the status described,
/// or a refusal as terminal. Returns the execution the answer is about.
fn reconcile_describe(
    thing: &mut ThingModel,
    i: usize,
    case: &mut Case,
    answer: &Answer,
    seq: u64,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let e = &thing.executions[i];
    if e.predicted.is_none() {
        return Some(i);
    }
    if refused_as_terminal(answer) {
        if case.facts.is_terminal(e.status) {
            confirmed(thing, i, seq, out);
            return Some(i);
        }
        let shown = format!("the target refuses it as terminal ({})", answer.describe());
        return contradicted(thing, i, case, &shown, seq, out);
    }
    let observed = answer
        .success()
        .and_then(|b| b["execution"]["status"].as_str())
        .and_then(|s| serde_json::from_value::<Status>(Value::String(s.into())).ok());
    reconcile(thing, i, case, observed, seq, out)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::super::super::answer::Answer;
    use super::super::Subject;
    use super::super::fixture::{
        EPOCH, Fixture, assert_findings, at, execution, ok, patched, refused, seeded,
    };
    use super::super::model::Belief;
    use jobcert_contract::{Operation, RequirementId, Status, req};

    fn described(body: Value) -> Answer {
        ok(json!({ "execution": body }))
    }

    #[rstest]
    // A terminal execution may be described (200 with its status) or refused with 410 (§7.6).
    #[case::terminal_described(
        Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), seeded("a"), json!({}),
        described(execution("a", "SUCCEEDED", 3)), &[(req::DE_TERMINAL, true), (req::DE_TERMINAL_DESCRIBED, true), (req::EX_EXECUTION, true), (req::DE_DOCUMENT, true)]
    )]
    #[case::terminal_refused(
        Fixture::new().queued("a", 0.0).finished("a", Status::Failed), seeded("a"), json!({}),
        refused(410, "TerminalStateException"), &[(req::DE_TERMINAL, true), (req::DE_TERMINAL_DESCRIBED, false)]
    )]
    #[case::terminal_not_found(
        Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), seeded("a"), json!({}),
        refused(404, "ResourceNotFoundException"), &[(req::DE_TERMINAL, false)]
    )]
    #[case::terminal_wrong_status_code(
        Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), seeded("a"), json!({}),
        refused(409, "TerminalStateException"), &[(req::DE_TERMINAL, false)]
    )]
    #[case::terminal_described_running(
        Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), seeded("a"), json!({}),
        described(execution("a", "IN_PROGRESS", 3)), &[(req::DE_TERMINAL, true), (req::EX_EXECUTION, false)]
    )]
    #[case::terminal_timer_runs(
        Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), seeded("a"), json!({}),
        described(patched(execution("a", "SUCCEEDED", 3), json!({"approximateSecondsBeforeTimedOut": 60}))),
        &[(req::TM_TERMINAL_STOPS, false)]
    )]
    #[case::queued_no_timer_runs(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"approximateSecondsBeforeTimedOut": 60}))),
        &[(req::TM_APPROXIMATE, false)]
    )]
    #[case::queued(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(execution("a", "QUEUED", 1)), &[(req::EX_EXECUTION, true), (req::EX_TIMESTAMPS, true)]
    )]
    #[case::initial_version(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(execution("a", "QUEUED", 0)), &[(req::EX_INITIAL_VERSION, false)]
    )]
    #[case::queued_yet_started(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"startedAt": 1_700_000_002}))), &[(req::EX_EXECUTION, false)]
    )]
    #[case::other_thing(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"thingName": "other"}))), &[(req::EX_EXECUTION, false)]
    )]
    #[case::updated_before_queued(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"lastUpdatedAt": 1_699_999_999}))), &[(req::EX_TIMESTAMPS, false)]
    )]
    #[case::stamp_in_milliseconds(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"queuedAt": 1_700_000_000_000_i64}))), &[(req::EX_TIMESTAMP_UNIT, false)]
    )]
    #[case::no_execution(Fixture::new().queued("a", 0.0), seeded("a"), json!({}), ok(json!({})), &[(req::DE_EXECUTION_NUMBER, false)])]
    #[case::without_document(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({"includeJobDocument": false}),
        described(patched(execution("a", "QUEUED", 1), json!({"jobDocument": null}))), &[(req::DE_DOCUMENT, true)]
    )]
    #[case::document_not_omitted(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({"includeJobDocument": false}),
        described(execution("a", "QUEUED", 1)), &[(req::DE_DOCUMENT, false)]
    )]
    #[case::document_missing(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"jobDocument": null}))), &[(req::DE_DOCUMENT, false)]
    )]
    #[case::document_as_object(
        Fixture::new().queued("a", 0.0), seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"jobDocument": {"job": "a"}}))), &[(req::DE_DOCUMENT, true)]
    )]
    #[case::number_selects(
        Fixture::new().queued("a", 0.0).with("a", |e| e.number = Belief::Known(1)), seeded("a"), json!({"executionNumber": 1}),
        described(execution("a", "QUEUED", 1)), &[(req::DE_EXECUTION_NUMBER, true)]
    )]
    #[case::number_ignored(
        Fixture::new().queued("a", 0.0).with("a", |e| e.number = Belief::Known(1)), seeded("a"), json!({"executionNumber": 1}),
        described(patched(execution("a", "QUEUED", 1), json!({"executionNumber": 2}))), &[(req::DE_EXECUTION_NUMBER, false), (req::EX_EXECUTION, false)]
    )]
    #[case::latest_of_a_retried_job(
        Fixture::new().queued("a", 0.0).with("a", |e| { e.number = Belief::Known(1); e.status = Status::Failed; })
            .queued("a", 1.0),
        seeded("a"), json!({}),
        described(patched(execution("a", "QUEUED", 1), json!({"executionNumber": 2}))), &[(req::DE_EXECUTION_NUMBER, true)]
    )]
    #[case::an_earlier_execution_of_a_retried_job(
        Fixture::new().queued("a", 0.0).with("a", |e| { e.number = Belief::Known(1); e.status = Status::Failed; })
            .queued("a", 1.0),
        seeded("a"), json!({}),
        described(patched(execution("a", "FAILED", 1), json!({"executionNumber": 1, "startedAt": null}))), &[(req::DE_EXECUTION_NUMBER, false)]
    )]
    #[case::number_unknown(
        Fixture::new().queued("a", 0.0).with("a", |e| e.number = Belief::Known(1)), seeded("a"), json!({"executionNumber": 2}),
        refused(404, "ResourceNotFoundException"), &[(req::DE_NOT_FOUND, true)]
    )]
    #[case::job_not_on_the_thing(Fixture::new().queued("a", 0.0), seeded("b"), json!({}), refused(404, "ResourceNotFoundException"), &[(req::DE_NOT_FOUND, true)])]
    #[case::job_not_on_the_thing_described(Fixture::new().queued("a", 0.0), seeded("b"), json!({}), described(execution("b", "QUEUED", 1)), &[(req::DE_NOT_FOUND, false)])]
    #[case::foreign_job(Fixture::new().queued("a", 0.0), Subject::Foreign, json!({}), refused(404, "ResourceNotFoundException"), &[(req::DE_NOT_FOUND, true)])]
    #[case::foreign_job_other_type(Fixture::new().queued("a", 0.0), Subject::Foreign, json!({}), refused(400, "InvalidRequestException"), &[(req::DE_NOT_FOUND, true), (req::DE_NOT_FOUND, false)])]
    // `$next` with nothing pending is an empty success (§7.7).
    #[case::next_empty(Fixture::new(), Subject::Next, json!({}), ok(json!({})), &[(req::DE_NEXT_EMPTY, true)])]
    #[case::next_empty_refused(Fixture::new(), Subject::Next, json!({}), refused(404, "ResourceNotFoundException"), &[(req::DE_NEXT_EMPTY, false)])]
    #[case::next_empty_only_terminal(
        Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), Subject::Next, json!({}),
        described(execution("a", "SUCCEEDED", 3)), &[(req::DE_NEXT_EMPTY, false)]
    )]
    #[case::next_head(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0), Subject::Next, json!({}),
        described(execution("a", "QUEUED", 1)), &[(req::DE_NEXT, true), (req::EX_EXECUTION, true)]
    )]
    #[case::next_not_the_head(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0), Subject::Next, json!({}),
        described(execution("b", "QUEUED", 1)), &[(req::DE_NEXT, false)]
    )]
    #[case::next_in_progress_first(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).started("b"), Subject::Next, json!({}),
        described(execution("b", "IN_PROGRESS", 2)), &[(req::DE_NEXT, true)]
    )]
    #[case::next_by_stamps(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).with("a", |e| e.stamps.queued_at = Some(EPOCH)).with("b", |e| e.stamps.queued_at = Some(EPOCH + 1)),
        Subject::Next, json!({}),
        described(patched(execution("b", "QUEUED", 1), json!({"queuedAt": EPOCH + 1}))), &[(req::DE_NEXT, false)]
    )]
    #[case::next_refused(Fixture::new().queued("a", 0.0), Subject::Next, json!({}), refused(404, "ResourceNotFoundException"), &[(req::DE_NEXT, false)])]
    fn judges_describe(
        #[case] mut fixture: Fixture,
        #[case] job: Subject,
        #[case] input: Value,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let found = fixture.call(Operation::DescribeJobExecution, job, input, answer);
        assert_findings(&found, expected);
    }

    #[rstest]
    // Just past the step deadline, inside the slack: either answer is right.
    #[case::timed_out(described(execution("a", "TIMED_OUT", 3)), &[(req::TM_NOT_EARLY, true), (req::TM_STEP_EXPIRY, true), (req::TM_SERVICE_VERSION, true)])]
    #[case::timed_out_without_bump(described(execution("a", "TIMED_OUT", 2)), &[(req::TM_STEP_EXPIRY, true), (req::TM_SERVICE_VERSION, false)])]
    #[case::still_running(described(execution("a", "IN_PROGRESS", 2)), &[(req::TM_STEP_EXPIRY, true), (req::EX_EXECUTION, true)])]
    #[case::refused_as_terminal(refused(410, "TerminalStateException"), &[(req::DE_TERMINAL, true), (req::DE_TERMINAL_DESCRIBED, false)])]
    #[case::refused_otherwise(refused(404, "ResourceNotFoundException"), &[(req::DE_TERMINAL, false)])]
    fn judges_describe_of_an_open_expiry(
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let mut fixture = Fixture::new().queued("a", 0.0).started("a").with("a", |e| {
            e.step = Some(at(1_000.0));
        });
        let found = fixture.call(
            Operation::DescribeJobExecution,
            seeded("a"),
            json!({}),
            answer,
        );
        assert_findings(&found, expected);
    }

    #[rstest]
    // The step deadline passed more than the slack ago: the execution has timed out.
    #[case::timed_out(described(execution("a", "TIMED_OUT", 3)), &[(req::DE_TERMINAL, true), (req::EX_EXECUTION, true)])]
    #[case::timed_out_refused(refused(410, "TerminalStateException"), &[(req::DE_TERMINAL, true), (req::DE_TERMINAL_DESCRIBED, false)])]
    // Still running: the timer never fired, named once under its requirement; the model
    // returns to the target's state, so nothing else fails.
    #[case::still_running(described(execution("a", "IN_PROGRESS", 2)), &[(req::TM_STEP_EXPIRY, false), (req::EX_EXECUTION, true)])]
    fn judges_describe_after_expiry(
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let mut fixture = Fixture::new()
            .queued("a", 0.0)
            .started("a")
            .with("a", |e| e.step = Some(at(1_000.0 - 60_000.0)));
        let found = fixture.call(
            Operation::DescribeJobExecution,
            seeded("a"),
            json!({}),
            answer,
        );
        assert_findings(&found, expected);
    }

    // Surely expired, yet still running: the one failure is the requirement of the timer that
    // should have fired (a step timer set past the in-progress deadline is capped, UP-STEP-CAP).
    #[rstest]
    #[case::step(Some(at(-59_000.0)), None, req::TM_STEP_EXPIRY)]
    #[case::in_progress(None, Some(at(-59_000.0)), req::TM_IN_PROGRESS_EXPIRY)]
    #[case::capped_step(Some(at(-59_000.0)), Some(at(-59_000.0)), req::UP_STEP_CAP)]
    #[case::step_before_in_progress(Some(at(-59_000.0)), Some(at(-50_000.0)), req::TM_STEP_EXPIRY)]
    fn a_timer_that_never_fired_is_blamed_on_its_requirement(
        #[case] step: Option<super::super::Window>,
        #[case] in_progress: Option<super::super::Window>,
        #[case] requirement: RequirementId,
    ) {
        let mut fixture = Fixture::new().queued("a", 0.0).started("a").with("a", |e| {
            e.step = step;
            e.in_progress = in_progress;
        });
        let found = fixture.call(
            Operation::DescribeJobExecution,
            seeded("a"),
            json!({}),
            described(execution("a", "IN_PROGRESS", 2)),
        );
        assert_findings(&found, &[(requirement, false), (req::EX_EXECUTION, true)]);
        assert_eq!(found.iter().filter(|f| !f.passed).count(), 1, "{found:#?}");
    }

    #[test]
    fn a_timer_that_fires_early_is_reported() {
        let mut fixture = Fixture::new()
            .queued("a", 0.0)
            .started("a")
            .with("a", |e| e.step = Some(at(600_000.0)));
        let found = fixture.call(
            Operation::DescribeJobExecution,
            seeded("a"),
            json!({}),
            described(execution("a", "TIMED_OUT", 3)),
        );
        assert_findings(
            &found,
            &[(req::TM_NOT_EARLY, false), (req::TM_STEP_EXPIRY, true)],
        );
    }
}
