//! The judge of StartNextPendingJobExecution: the head of the pending list (spec §4), started
//! if it was queued and returned untouched if it was already running (spec §7.9).

use super::super::answer::Answer;
use super::Call;
use super::body::check_execution;
use super::cause::resync_head;
use super::model::{Belief, Case, ThingModel, details_of, minutes_ms, whole};
use super::order::OpenPick;
use super::refusal::expect_success;
use crate::finding::Finding;
use jobcert_contract::{Status, req};

/// Judges a StartNext answer for `thing` and moves the model on.
pub(super) fn judge(
    thing: &mut ThingModel,
    case: &mut Case,
    call: &Call<'_>,
    answer: &Answer,
    out: &mut Vec<Finding>,
) {
    let seq = call.seq;
    let Some(body) = expect_success(out, answer, req::SN_ROUTE, seq) else {
        return;
    };
    out.push(Finding::pass(req::SN_ROUTE, "answered 200", Some(seq)));
    let (candidates, predicted) = resync_head(thing, case, body.get("execution"), seq, out);
    let Some(execution) = body.get("execution") else {
        match predicted {
            None if candidates.is_empty() => out.push(Finding::pass(
                req::SN_EMPTY,
                "nothing pending: no execution",
                Some(seq),
            )),
            None => {
                // Every candidate may have timed out: they did.
                for i in candidates {
                    thing.executions[i].time_out(case.facts);
                }
            }
            Some(i) => out.push(Finding::fail(
                req::SN_NEXT_ORDER,
                format!(
                    "{} is pending, yet no execution was returned",
                    case.real_id(&thing.executions[i].job)
                ),
                Some(seq),
            )),
        }
        return;
    };
    if candidates.is_empty() {
        out.push(Finding::fail(
            req::SN_EMPTY,
            format!(
                "nothing is pending, yet {} was returned",
                execution["jobId"]
            ),
            Some(seq),
        ));
        return;
    }
    let real_job = execution["jobId"].as_str().unwrap_or_default();
    let hit = candidates
        .iter()
        .copied()
        .find(|&i| case.is_job(&thing.executions[i], real_job));
    let Some(i) = hit.or_else(|| other_taken(thing, case, real_job, candidates[0], seq, out))
    else {
        return;
    };
    if hit.is_some() {
        out.push(Finding::pass(
            req::SN_NEXT_ORDER,
            format!("{real_job} is the head"),
            Some(seq),
        ));
    }
    if let Some(p) =
        predicted.filter(|p| hit.is_some() && *p != i && !thing.executions[i].uncertain)
    {
        let pick = OpenPick {
            returned: thing.executions[i].order,
            passed_over: thing.executions[p].order,
            seq,
            requirement: req::SN_NEXT_ORDER,
        };
        thing.open_picks.push(pick);
        out.push(Finding::fail(
            req::SN_TIE_ORDER,
            format!(
                "{} was queued first in the same second, but {real_job} was returned",
                case.real_id(&thing.executions[p].job)
            ),
            Some(seq),
        ));
    } else if predicted == Some(i) && candidates.len() > 1 {
        out.push(Finding::pass(
            req::SN_TIE_ORDER,
            "creation order among equal queue times",
            Some(seq),
        ));
    }
    // Open candidates skipped before the one returned have expired.
    for &j in candidates.iter().take_while(|&&j| hit.is_some() && j != i) {
        let e = &mut thing.executions[j];
        if e.uncertain {
            e.time_out(case.facts);
        }
    }
    let step = call.input.get("stepTimeoutInMinutes").and_then(whole);
    let supplied = details_of(call.input.get("statusDetails"));
    let e = &mut thing.executions[i];
    if e.status == Status::Queued {
        e.status = Status::InProgress;
        e.started = Some(call.window);
        e.changed();
        e.timers_set_by = Some(seq);
        if let Some(d) = supplied {
            e.details = Belief::Known(d);
        }
        let ip = case.jobs.get(&e.job).and_then(|j| j.in_progress_minutes);
        e.in_progress = ip.map(|m| call.window.shifted(minutes_ms(m)));
        e.step = step.map(|m| call.window.shifted(minutes_ms(m)).min(e.in_progress));
        let observed_status = execution["status"].as_str().unwrap_or_default();
        out.push(Finding::check(
            observed_status == "IN_PROGRESS" && execution.get("startedAt").is_some(),
            req::SN_START,
            format!("a started execution is IN_PROGRESS with startedAt; got {observed_status}"),
            Some(seq),
        ));
        if let Some(got) = execution["versionNumber"].as_i64() {
            e.version.settle(
                got,
                req::SN_START,
                "versionNumber after start",
                Some(seq),
                out,
            );
        }
        if call.input.contains_key("statusDetails") {
            let got = details_of(execution.get("statusDetails")).unwrap_or_default();
            e.details.settle(
                got,
                req::SN_DETAILS,
                "statusDetails after start",
                Some(seq),
                out,
            );
        }
        if step.is_some() {
            out.push(Finding::check(
                execution.get("approximateSecondsBeforeTimedOut").is_some()
                    || e.deadline().is_some(),
                req::SN_STEP_TIMER,
                "the step timer runs",
                Some(seq),
            ));
        }
    } else {
        // Whether the details or step timer supplied touch a running head is open (§7.9).
        e.stamps.changed |= ["statusDetails", "stepTimeoutInMinutes"]
            .iter()
            .any(|k| call.input.contains_key(*k));
        let got = details_of(execution.get("statusDetails")).unwrap_or_default();
        e.details.settle(
            got,
            req::SN_IN_PROGRESS_HEAD,
            "statusDetails of an IN_PROGRESS head",
            Some(seq),
            out,
        );
        if let Some(now) = execution["versionNumber"].as_i64() {
            e.version.settle(
                now,
                req::SN_IN_PROGRESS_UNTOUCHED,
                "versionNumber of an IN_PROGRESS head",
                Some(seq),
                out,
            );
        }
    }
    check_execution(thing, i, case, execution, call, true, out);
}

/// The target returned `real_job`, not the head (`head`): SN-NEXT-ORDER fails once, as the
/// root cause of the answer. When `real_job` is another pending execution the model follows
/// what the target did with it (started it, or returned it running), so that the later steps
/// are judged against the target's state and do not repeat the fault; the execution is
/// returned. `None` when the target returned nothing the model holds pending.
fn other_taken(
    thing: &ThingModel,
    case: &mut Case,
    real_job: &str,
    head: usize,
    seq: u64,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    case.cause_at.get_or_insert(out.len());
    out.push(Finding::fail(
        req::SN_NEXT_ORDER,
        format!(
            "the head of the pending list is {}, but {real_job} was returned",
            case.real_id(&thing.executions[head].job)
        ),
        Some(seq),
    ));
    thing
        .pending(case.facts)
        .into_iter()
        .find(|&j| case.is_job(&thing.executions[j], real_job))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::super::super::answer::Answer;
    use super::super::Subject;
    use super::super::fixture::{EPOCH, Fixture, assert_findings, execution, ok, patched, refused};
    use super::super::model::Belief;
    use jobcert_contract::{Operation, RequirementId, req};

    #[rstest]
    #[case::empty(Fixture::new(), json!({}), ok(json!({})), &[(req::SN_ROUTE, true), (req::SN_EMPTY, true)])]
    #[case::empty_yet_one(Fixture::new(), json!({}), ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})), &[(req::SN_EMPTY, false)])]
    #[case::refused(Fixture::new(), json!({}), refused(404, "ResourceNotFoundException"), &[(req::SN_ROUTE, false)])]
    #[case::silence_is_no_finding(Fixture::new().queued("a", 0.0), json!({}), Answer::Unanswered, &[])]
    #[case::starts_the_head(
        Fixture::new().queued("a", 0.0), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true), (req::SN_START, true), (req::SN_DOCUMENT, true), (req::EX_EXECUTION, true), (req::EX_TIMESTAMPS, true)]
    )]
    #[case::pending_yet_empty(Fixture::new().queued("a", 0.0), json!({}), ok(json!({})), &[(req::SN_NEXT_ORDER, false)])]
    #[case::not_started(
        Fixture::new().queued("a", 0.0), json!({}),
        ok(json!({"execution": patched(execution("a", "QUEUED", 1), json!({"lastUpdatedAt": 1_700_000_002}))})),
        &[(req::SN_START, false), (req::EX_EXECUTION, false), (req::EX_INITIAL_VERSION, false)]
    )]
    // A start adds one to the version, whatever the first one was (§7.10): only the first
    // value is open, and judged under its own (ambiguous) requirement.
    #[case::version_not_bumped(
        Fixture::new().queued("a", 0.0).with("a", |e| e.version = Belief::Known(1)), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 1)})),
        &[(req::SN_START, false)]
    )]
    #[case::version_unseen_not_bumped(
        Fixture::new().queued("a", 0.0), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 1)})),
        &[(req::EX_INITIAL_VERSION, false)]
    )]
    #[case::version_from_five(
        Fixture::new().queued("a", 0.0).with("a", |e| e.version = Belief::Known(5)), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 6)})),
        &[(req::SN_START, true)]
    )]
    #[case::version_from_five_adds_two(
        Fixture::new().queued("a", 0.0).with("a", |e| e.version = Belief::Known(5)), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 7)})),
        &[(req::SN_START, false)]
    )]
    #[case::other_document(
        Fixture::new().queued("a", 0.0), json!({}),
        ok(json!({"execution": patched(execution("a", "IN_PROGRESS", 2), json!({"jobDocument": "{}"}))})),
        &[(req::SN_DOCUMENT, false)]
    )]
    // The wrong pick is the one fault; the model follows it, starting what the target started.
    #[case::oldest_first(
        Fixture::new().queued("a", -5_000.0).queued("b", 0.0), json!({}),
        ok(json!({"execution": execution("b", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, false), (req::SN_START, true)]
    )]
    #[case::in_progress_before_queued(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).started("b"), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, false)]
    )]
    #[case::in_progress_head_untouched(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).started("b"), json!({"stepTimeoutInMinutes": 5}),
        ok(json!({"execution": execution("b", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true), (req::SN_IN_PROGRESS_UNTOUCHED, true), (req::SN_IN_PROGRESS_HEAD, true)]
    )]
    #[case::in_progress_head_bumped(
        Fixture::new().queued("b", 100.0).started("b"), json!({}),
        ok(json!({"execution": execution("b", "IN_PROGRESS", 3)})),
        &[(req::SN_IN_PROGRESS_UNTOUCHED, false)]
    )]
    #[case::in_progress_head_details_changed(
        Fixture::new().queued("b", 100.0).started("b"), json!({"statusDetails": {"k": "v"}}),
        ok(json!({"execution": patched(execution("b", "IN_PROGRESS", 2), json!({"statusDetails": {"k": "v"}}))})),
        &[(req::SN_IN_PROGRESS_HEAD, false)]
    )]
    #[case::tie_in_creation_order(
        Fixture::new().queued("a", 0.0).queued("b", 100.0), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true), (req::SN_TIE_ORDER, true)]
    )]
    #[case::tie_out_of_creation_order(
        Fixture::new().queued("a", 0.0).queued("b", 100.0), json!({}),
        ok(json!({"execution": execution("b", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true), (req::SN_TIE_ORDER, false)]
    )]
    // Created in overlapping windows (a fast clock), but the target's own queuedAt orders them.
    #[case::stamps_newer_started(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).with("a", |e| e.stamps.queued_at = Some(EPOCH)).with("b", |e| e.stamps.queued_at = Some(EPOCH + 1)), json!({}),
        ok(json!({"execution": patched(execution("b", "IN_PROGRESS", 2), json!({"queuedAt": EPOCH + 1}))})),
        &[(req::SN_NEXT_ORDER, false)]
    )]
    #[case::stamps_older_started(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).with("a", |e| e.stamps.queued_at = Some(EPOCH)).with("b", |e| e.stamps.queued_at = Some(EPOCH + 1)), json!({}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true)]
    )]
    #[case::stamps_bind(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).with("a", |e| e.stamps.queued_at = Some(EPOCH + 1)).with("b", |e| e.stamps.queued_at = Some(EPOCH)), json!({}),
        ok(json!({"execution": execution("b", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true)]
    )]
    #[case::stamps_tie(
        Fixture::new().queued("a", 0.0).queued("b", 100.0).with("a", |e| e.stamps.queued_at = Some(EPOCH)).with("b", |e| e.stamps.queued_at = Some(EPOCH)), json!({}),
        ok(json!({"execution": execution("b", "IN_PROGRESS", 2)})),
        &[(req::SN_NEXT_ORDER, true), (req::SN_TIE_ORDER, false)]
    )]
    #[case::details_stored(
        Fixture::new().queued("a", 0.0), json!({"statusDetails": {"k": "v"}}),
        ok(json!({"execution": patched(execution("a", "IN_PROGRESS", 2), json!({"statusDetails": {"k": "v"}}))})),
        &[(req::SN_DETAILS, true)]
    )]
    #[case::details_dropped(
        Fixture::new().queued("a", 0.0), json!({"statusDetails": {"k": "v"}}),
        ok(json!({"execution": execution("a", "IN_PROGRESS", 2)})),
        &[(req::SN_DETAILS, false)]
    )]
    #[case::step_countdown(
        Fixture::new().queued("a", 0.0), json!({"stepTimeoutInMinutes": 10}),
        ok(json!({"execution": patched(execution("a", "IN_PROGRESS", 2), json!({"approximateSecondsBeforeTimedOut": 600}))})),
        &[(req::SN_STEP_TIMER, true), (req::TM_APPROXIMATE, true)]
    )]
    #[case::step_countdown_wrong(
        Fixture::new().queued("a", 0.0), json!({"stepTimeoutInMinutes": 10}),
        ok(json!({"execution": patched(execution("a", "IN_PROGRESS", 2), json!({"approximateSecondsBeforeTimedOut": 6000}))})),
        &[(req::TM_APPROXIMATE, false)]
    )]
    // `5.0` is the integer 5 (contract `whole_number`): it starts a 5-minute timer.
    #[case::integral_float_step_countdown(
        Fixture::new().queued("a", 0.0), json!({"stepTimeoutInMinutes": 5.0}),
        ok(json!({"execution": patched(execution("a", "IN_PROGRESS", 2), json!({"approximateSecondsBeforeTimedOut": 300}))})),
        &[(req::SN_STEP_TIMER, true), (req::TM_APPROXIMATE, true)]
    )]
    #[case::integral_float_step_misread(
        Fixture::new().queued("a", 0.0), json!({"stepTimeoutInMinutes": 5.0}),
        ok(json!({"execution": patched(execution("a", "IN_PROGRESS", 2), json!({"approximateSecondsBeforeTimedOut": 3000}))})),
        &[(req::TM_APPROXIMATE, false)]
    )]
    #[case::terminal_not_pending(
        Fixture::new().queued("a", 0.0).finished("a", jobcert_contract::Status::Succeeded), json!({}),
        ok(json!({})),
        &[(req::SN_EMPTY, true)]
    )]
    fn judges_start_next(
        #[case] mut fixture: Fixture,
        #[case] input: Value,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let found = fixture.call(
            Operation::StartNextPendingJobExecution,
            Subject::Absent,
            input,
            answer,
        );
        assert_findings(&found, expected);
    }

    #[test]
    fn a_started_head_is_in_progress_afterwards() {
        let mut fixture = Fixture::new().queued("a", 0.0);
        let body = json!({"execution": execution("a", "IN_PROGRESS", 2)});
        fixture.call(
            Operation::StartNextPendingJobExecution,
            Subject::Absent,
            json!({}),
            ok(body.clone()),
        );
        // The second StartNext returns it as it is: the same version, still IN_PROGRESS.
        let again = fixture.call(
            Operation::StartNextPendingJobExecution,
            Subject::Absent,
            json!({}),
            ok(body),
        );
        assert_findings(
            &again,
            &[
                (req::SN_IN_PROGRESS_UNTOUCHED, true),
                (req::EX_EXECUTION, true),
            ],
        );
    }
}
