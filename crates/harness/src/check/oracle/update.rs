//! The judge of UpdateJobExecution: device statuses, the expected version (spec §7.3),
//! terminal executions, step timers and statusDetails replacement (spec §7.8).

use serde_json::Value;

use super::super::answer::Answer;
use super::body::document_matches;
use super::cause::{confirmed, contradicted};
use super::model::{Belief, Case, ThingModel, details_of, minutes_ms, whole};
use super::refusal::{expect_error, expect_success, named_execution};
use super::{Call, Subject};
use crate::finding::Finding;
use jobcert_contract::{Binding, RequirementId, Status, outcomes, req};

/// The error type of the §7 default answer in `requirement`'s situation over `binding`
/// (`schemas/outcomes.json`); any other allowed refusal is reported under the type
/// requirement the caller names.
fn default_error(requirement: RequirementId, binding: Binding) -> &'static str {
    outcomes()
        .get(requirement)
        .and_then(|a| a.default_over(binding))
        .and_then(|o| o.error.as_deref())
        .expect("outcomes.json gives the default refusal")
}

/// Judges an Update answer for `thing` and moves the model on.
pub(super) fn judge(
    thing: &mut ThingModel,
    case: &mut Case,
    call: &Call<'_>,
    answer: &Answer,
    out: &mut Vec<Finding>,
) {
    let seq = call.seq;
    let facts = case.facts;
    let Subject::Seeded(job) = &call.job else {
        expect_error(
            out,
            answer,
            &["ResourceNotFoundException"],
            req::UP_NOT_FOUND,
            req::UP_NOT_FOUND,
            seq,
        );
        return;
    };
    let Some(i) = named_execution(thing, job, call, answer, req::UP_NOT_FOUND, out) else {
        return;
    };
    let requested: Option<Status> = call
        .input
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let Some(requested) = requested else { return };
    if !facts.is_device_settable(requested) {
        expect_error(
            out,
            answer,
            &[default_error(req::UP_DEVICE_STATUS, call.binding)],
            req::UP_DEVICE_STATUS,
            req::UP_DEVICE_STATUS_TYPE,
            seq,
        );
        return;
    }
    let Some(i) = reconcile_update(thing, i, case, call, answer, out) else {
        return;
    };
    let e = thing.executions[i].clone();
    if let (Some(expected), Some(stored)) = (
        expected_version(call.input.get("expectedVersion")),
        e.version.value(),
    ) && expected != *stored
    {
        // Over MQTT the code is documented (VersionMismatch); over HTTP it is open (§7.3).
        let type_requirement = match call.binding {
            Binding::Http => req::UP_EXPECTED_VERSION_TYPE,
            Binding::Mqtt => req::MQ_VERSION_MISMATCH,
        };
        expect_error(
            out,
            answer,
            &[default_error(req::UP_EXPECTED_VERSION, call.binding)],
            req::UP_EXPECTED_VERSION,
            type_requirement,
            seq,
        );
        return;
    }
    if call.binding == Binding::Mqtt
        && call
            .input
            .get("expectedVersion")
            .is_some_and(Value::is_string)
        && !matches!(answer, Answer::Unanswered)
    {
        out.push(Finding::check(
            answer.success().is_some(),
            req::MQ_VERSION_STRING,
            format!(
                "expectedVersion as a decimal string gave {}",
                answer.describe()
            ),
            Some(seq),
        ));
    }
    if facts.is_terminal(e.status) {
        expect_error(
            out,
            answer,
            &["InvalidStateTransitionException"],
            req::UP_TERMINAL,
            req::UP_TERMINAL,
            seq,
        );
        return;
    }
    let cancel = facts.timers.cancel_step_timeout;
    let step = call.input.get("stepTimeoutInMinutes").and_then(whole);
    if (e.uncertain || (step == Some(cancel) && e.step.is_none())) && answer.success().is_none() {
        // Either answer is right: the execution may have timed out, or there is no timer to cancel.
        if e.uncertain && answer.error_type() == Some("InvalidStateTransitionException") {
            thing.executions[i].time_out(facts);
        }
        return;
    }
    let requirement = if e.status == Status::Queued && facts.is_terminal(requested) {
        req::UP_QUEUED_FINISH
    } else {
        req::UP_TRANSITION
    };
    let Some(body) = expect_success(out, answer, requirement, seq) else {
        return;
    };
    out.push(Finding::pass(
        requirement,
        format!("{} → {} accepted", e.status.as_str(), requested.as_str()),
        Some(seq),
    ));
    check_response(case, job, call, body, out);
    // Move the model.
    let supplied = details_of(call.input.get("statusDetails"));
    let ip_minutes = case.jobs.get(job).and_then(|j| j.in_progress_minutes);
    let ex = &mut thing.executions[i];
    let previous_details = ex.details.value().cloned().unwrap_or_default();
    match (ex.status, requested) {
        (Status::Queued, Status::InProgress) => {
            ex.started = Some(call.window);
            ex.in_progress = ip_minutes.map(|m| call.window.shifted(minutes_ms(m)));
            ex.step = step
                .filter(|m| *m != cancel)
                .map(|m| call.window.shifted(minutes_ms(m)).min(ex.in_progress));
        }
        (_, Status::InProgress) => match step {
            Some(m) if m == cancel => {
                let cancelled = ex.step.take().map(|_| seq);
                ex.step_cancelled_by = cancelled.or(ex.step_cancelled_by);
            }
            Some(m) => {
                ex.step = Some(call.window.shifted(minutes_ms(m)).min(ex.in_progress));
                ex.step_cancelled_by = None;
            }
            None => {}
        },
        _ => {
            ex.step = None;
            ex.in_progress = None;
        }
    }
    ex.status = requested;
    ex.changed();
    if step.is_some() || (requested == Status::InProgress && e.status == Status::Queued) {
        ex.timers_set_by = Some(seq);
    }
    ex.details_merged = supplied.as_ref().map(|d| {
        let mut merged = previous_details.clone();
        merged.extend(d.clone());
        merged
    });
    ex.details = match supplied {
        Some(d) => Belief::Expected(d, req::UP_DETAILS_REPLACE),
        None => Belief::Known(previous_details),
    };
    if let Some(state) = body.get("executionState") {
        let got_status = state["status"].as_str().unwrap_or_default();
        out.push(Finding::check(
            got_status == requested.as_str(),
            req::UP_TRANSITION,
            format!(
                "executionState.status: expected {}, got {got_status}",
                requested.as_str()
            ),
            Some(seq),
        ));
        if let Some(got) = state["versionNumber"].as_i64() {
            ex.version.settle(
                got,
                req::UP_VERSION,
                "versionNumber after the update",
                Some(seq),
                out,
            );
        }
        let got = details_of(state.get("statusDetails")).unwrap_or_default();
        let requirement = if call.input.contains_key("statusDetails") {
            req::UP_DETAILS_REPLACE
        } else {
            req::UP_DETAILS_OMITTED
        };
        ex.settle_details(
            got,
            (requirement, "statusDetails after the update"),
            Some(seq),
            out,
        );
    }
    if facts.is_terminal(requested) {
        thing.queue_retry(i, case, call.window, Some(seq));
    }
}

/// Reconciles a predicted execution `i` with the target's answer to an update of it: accepted
/// while predicted terminal, or refused as terminal (with no expectedVersion to explain it)
/// while predicted running, contradicts the prediction; a refusal as terminal of a predicted
/// terminal one confirms it. Returns the execution the update is about.
fn reconcile_update(
    thing: &mut ThingModel,
    i: usize,
    case: &mut Case,
    call: &Call<'_>,
    answer: &Answer,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let e = &thing.executions[i];
    if e.predicted.is_none() {
        return Some(i);
    }
    let terminal = case.facts.is_terminal(e.status);
    let refused_as_terminal = answer.error_type() == Some("InvalidStateTransitionException")
        && !call.input.contains_key("expectedVersion");
    let shown = match (terminal, answer.success().is_some(), refused_as_terminal) {
        (true, true, _) => "the target accepted an update of it",
        (false, _, true) => "the target refused an update of it as of a terminal execution",
        (true, _, true) => {
            confirmed(thing, i, call.seq, out);
            return Some(i);
        }
        _ => return Some(i),
    };
    let shown = format!("{shown} ({})", answer.describe());
    contradicted(thing, i, case, &shown, call.seq, out)
}

/// executionState and jobDocument are answered exactly when asked for (UP-RESPONSE).
fn check_response(case: &Case, job: &str, call: &Call<'_>, body: &Value, out: &mut Vec<Finding>) {
    let seq = call.seq;
    let asked = |member: &str| {
        call.input
            .get(member)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let (include_state, include_doc) = (
        asked("includeJobExecutionState"),
        asked("includeJobDocument"),
    );
    out.push(Finding::check(
        body.get("executionState").is_some() == include_state
            && body.get("jobDocument").is_some() == include_doc,
        req::UP_RESPONSE,
        format!(
            "includeJobExecutionState={include_state}, includeJobDocument={include_doc}; got members {:?}",
            body.as_object()
                .map(|o| o.keys().collect::<Vec<_>>())
                .unwrap_or_default()
        ),
        Some(seq),
    ));
    if include_doc && let Some(job) = case.jobs.get(job) {
        out.push(Finding::check(
            document_matches(&body["jobDocument"], &job.document),
            req::UP_RESPONSE,
            "jobDocument is the job's document",
            Some(seq),
        ));
    }
}

/// expectedVersion as sent: a number, or over MQTT possibly a decimal string.
fn expected_version(value: Option<&Value>) -> Option<i64> {
    let v = value?;
    whole(v).or_else(|| v.as_str()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::super::super::answer::Answer;
    use super::super::Subject;
    use super::super::fixture::{Fixture, assert_findings, document, ok, refused, seeded};
    use jobcert_contract::{Binding, Operation, RequirementId, Status, req};

    fn state(status: &str, version: i64, details: Value) -> Value {
        json!({"executionState": {"status": status, "versionNumber": version, "statusDetails": details}})
    }

    #[rstest]
    #[case::start(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS"}), ok(json!({})), &[(req::UP_TRANSITION, true), (req::UP_RESPONSE, true)])]
    #[case::start_refused(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS"}), refused(409, "InvalidStateTransitionException"), &[(req::UP_TRANSITION, false)])]
    #[case::silence_is_no_finding(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS"}), Answer::Unanswered, &[])]
    #[case::queued_finish(Fixture::new().queued("a", 0.0), json!({"status": "SUCCEEDED"}), ok(json!({})), &[(req::UP_QUEUED_FINISH, true)])]
    #[case::queued_finish_refused(Fixture::new().queued("a", 0.0), json!({"status": "FAILED"}), refused(409, "InvalidStateTransitionException"), &[(req::UP_QUEUED_FINISH, false)])]
    #[case::finish(Fixture::new().queued("a", 0.0).started("a"), json!({"status": "SUCCEEDED"}), ok(json!({})), &[(req::UP_TRANSITION, true)])]
    #[case::device_status(Fixture::new().queued("a", 0.0), json!({"status": "CANCELED"}), refused(400, "InvalidRequestException"), &[(req::UP_DEVICE_STATUS, true), (req::UP_DEVICE_STATUS_TYPE, true)])]
    #[case::device_status_other_type(Fixture::new().queued("a", 0.0), json!({"status": "TIMED_OUT"}), refused(409, "InvalidStateTransitionException"), &[(req::UP_DEVICE_STATUS, true), (req::UP_DEVICE_STATUS_TYPE, false)])]
    #[case::device_status_accepted(Fixture::new().queued("a", 0.0), json!({"status": "QUEUED"}), ok(json!({})), &[(req::UP_DEVICE_STATUS, false)])]
    #[case::version_matches(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "expectedVersion": 1}), ok(json!({})), &[(req::UP_TRANSITION, true)])]
    #[case::version_mismatch(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "expectedVersion": 5}), refused(409, "InvalidStateTransitionException"), &[(req::UP_EXPECTED_VERSION, true), (req::UP_EXPECTED_VERSION_TYPE, true)])]
    #[case::version_mismatch_other_type(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "expectedVersion": 5}), refused(409, "VersionMismatch"), &[(req::UP_EXPECTED_VERSION, true), (req::UP_EXPECTED_VERSION_TYPE, false)])]
    #[case::version_mismatch_accepted(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "expectedVersion": 5}), ok(json!({})), &[(req::UP_EXPECTED_VERSION, false)])]
    #[case::terminal(Fixture::new().queued("a", 0.0).finished("a", Status::Succeeded), json!({"status": "FAILED"}), refused(409, "InvalidStateTransitionException"), &[(req::UP_TERMINAL, true)])]
    #[case::terminal_other_type(Fixture::new().queued("a", 0.0).finished("a", Status::Failed), json!({"status": "FAILED"}), refused(400, "InvalidRequestException"), &[(req::UP_TERMINAL, false)])]
    #[case::terminal_accepted(Fixture::new().queued("a", 0.0).finished("a", Status::Rejected), json!({"status": "IN_PROGRESS"}), ok(json!({})), &[(req::UP_TERMINAL, false)])]
    #[case::state_returned(
        Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "includeJobExecutionState": true}),
        ok(state("IN_PROGRESS", 2, json!({}))), &[(req::UP_RESPONSE, true), (req::UP_TRANSITION, true), (req::EX_INITIAL_VERSION, true), (req::UP_DETAILS_OMITTED, true)]
    )]
    #[case::state_not_returned(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "includeJobExecutionState": true}), ok(json!({})), &[(req::UP_RESPONSE, false)])]
    #[case::state_unasked(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS"}), ok(state("IN_PROGRESS", 2, json!({}))), &[(req::UP_RESPONSE, false)])]
    #[case::state_wrong_status(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "includeJobExecutionState": true}), ok(state("QUEUED", 2, json!({}))), &[(req::UP_TRANSITION, true), (req::UP_TRANSITION, false)])]
    #[case::state_wrong_version(Fixture::new().queued("a", 0.0).started("a"), json!({"status": "SUCCEEDED", "includeJobExecutionState": true}), ok(state("SUCCEEDED", 4, json!({}))), &[(req::UP_VERSION, false)])]
    #[case::document_returned(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "includeJobDocument": true}), ok(json!({"jobDocument": document("a")})), &[(req::UP_RESPONSE, true)])]
    #[case::document_wrong(Fixture::new().queued("a", 0.0), json!({"status": "IN_PROGRESS", "includeJobDocument": true}), ok(json!({"jobDocument": "{}"})), &[(req::UP_RESPONSE, true), (req::UP_RESPONSE, false)])]
    #[case::details_replaced(
        Fixture::new().queued("a", 0.0).started("a").details("a", &[("old", "x")]),
        json!({"status": "IN_PROGRESS", "includeJobExecutionState": true, "statusDetails": {"new": "y"}}),
        ok(state("IN_PROGRESS", 3, json!({"new": "y"}))), &[(req::UP_DETAILS_REPLACE, true), (req::UP_DETAILS_STORED, true)]
    )]
    #[case::details_merged(
        Fixture::new().queued("a", 0.0).started("a").details("a", &[("old", "x")]),
        json!({"status": "IN_PROGRESS", "includeJobExecutionState": true, "statusDetails": {"new": "y"}}),
        ok(state("IN_PROGRESS", 3, json!({"old": "x", "new": "y"}))), &[(req::UP_DETAILS_REPLACE, false), (req::UP_DETAILS_STORED, true)]
    )]
    #[case::details_dropped(
        Fixture::new().queued("a", 0.0).started("a").details("a", &[("old", "x")]),
        json!({"status": "IN_PROGRESS", "includeJobExecutionState": true, "statusDetails": {"new": "y"}}),
        ok(state("IN_PROGRESS", 3, json!({"old": "x"}))), &[(req::UP_DETAILS_STORED, false), (req::UP_DETAILS_REPLACE, false)]
    )]
    #[case::details_kept(
        Fixture::new().queued("a", 0.0).started("a").details("a", &[("old", "x")]),
        json!({"status": "IN_PROGRESS", "includeJobExecutionState": true}),
        ok(state("IN_PROGRESS", 3, json!({"old": "x"}))), &[(req::UP_DETAILS_OMITTED, true)]
    )]
    #[case::details_lost(
        Fixture::new().queued("a", 0.0).started("a").details("a", &[("old", "x")]),
        json!({"status": "IN_PROGRESS", "includeJobExecutionState": true}),
        ok(state("IN_PROGRESS", 3, json!({}))), &[(req::UP_DETAILS_OMITTED, false)]
    )]
    #[case::cancel_without_timer_either_answer(Fixture::new().queued("a", 0.0).started("a"), json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": -1}), refused(409, "InvalidStateTransitionException"), &[])]
    fn judges_update(
        #[case] mut fixture: Fixture,
        #[case] input: Value,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let found = fixture.call(Operation::UpdateJobExecution, seeded("a"), input, answer);
        assert_findings(&found, expected);
    }

    #[rstest]
    #[case::foreign_job(Subject::Foreign, refused(404, "ResourceNotFoundException"), &[(req::UP_NOT_FOUND, true)])]
    #[case::foreign_job_accepted(Subject::Foreign, ok(json!({})), &[(req::UP_NOT_FOUND, false)])]
    #[case::job_not_on_the_thing(seeded("b"), refused(404, "ResourceNotFoundException"), &[(req::UP_NOT_FOUND, true)])]
    #[case::job_not_on_the_thing_other_type(seeded("b"), refused(400, "InvalidRequestException"), &[(req::UP_NOT_FOUND, true), (req::UP_NOT_FOUND, false)])]
    fn judges_update_of_nothing(
        #[case] job: Subject,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let mut fixture = Fixture::new().queued("a", 0.0);
        let input = json!({"status": "IN_PROGRESS"});
        let found = fixture.call(Operation::UpdateJobExecution, job, input, answer);
        assert_findings(&found, expected);
    }

    #[rstest]
    #[case::mismatch_documented(json!(5), refused(400, "VersionMismatch"), &[(req::UP_EXPECTED_VERSION, true), (req::MQ_VERSION_MISMATCH, true)])]
    #[case::mismatch_other_code(json!(5), refused(409, "InvalidStateTransitionException"), &[(req::UP_EXPECTED_VERSION, true), (req::MQ_VERSION_MISMATCH, false)])]
    #[case::decimal_string(json!("1"), ok(json!({})), &[(req::MQ_VERSION_STRING, true), (req::UP_TRANSITION, true)])]
    #[case::decimal_string_refused(json!("1"), refused(400, "InvalidRequestException"), &[(req::MQ_VERSION_STRING, false), (req::UP_TRANSITION, false)])]
    #[case::decimal_string_mismatch(json!("4"), refused(400, "VersionMismatch"), &[(req::UP_EXPECTED_VERSION, true), (req::MQ_VERSION_MISMATCH, true)])]
    fn judges_update_over_mqtt(
        #[case] expected_version: Value,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let mut fixture = Fixture::new().queued("a", 0.0);
        let input = json!({"status": "IN_PROGRESS", "expectedVersion": expected_version});
        let found = fixture.call_over(
            Binding::Mqtt,
            Operation::UpdateJobExecution,
            seeded("a"),
            input,
            answer,
        );
        assert_findings(&found, expected);
    }

    #[test]
    fn an_accepted_update_moves_the_version_on() {
        let mut fixture = Fixture::new().queued("a", 0.0);
        let start = json!({"status": "IN_PROGRESS", "expectedVersion": 1});
        fixture.call(
            Operation::UpdateJobExecution,
            seeded("a"),
            start,
            ok(json!({})),
        );
        // Version 1 is now stale.
        let stale = json!({"status": "SUCCEEDED", "expectedVersion": 1});
        let found = fixture.call(
            Operation::UpdateJobExecution,
            seeded("a"),
            stale,
            ok(json!({})),
        );
        assert_findings(&found, &[(req::UP_EXPECTED_VERSION, false)]);
    }
}
