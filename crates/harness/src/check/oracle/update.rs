//! The judge of UpdateJobExecution: device statuses, the expected version (spec §7.3),
//! terminal executions, step timers and statusDetails replacement (spec §7.8).

use serde_json::Value;

use super::super::answer::Answer;
use super::super::finding::Finding;
use super::body::document_matches;
use super::model::{Belief, Case, ThingModel, details_of, minutes_ms};
use super::refusal::{expect_error, expect_success, named_execution};
use super::{Call, Subject};
use jobcert_contract::{Binding, Status};

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
            "UP-NOT-FOUND",
            "UP-NOT-FOUND",
            seq,
        );
        return;
    };
    let Some(i) = named_execution(thing, job, call, answer, "UP-NOT-FOUND", out) else {
        return;
    };
    let requested: Option<Status> = call
        .input
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let Some(requested) = requested else { return };
    let e = thing.executions[i].clone();
    if !facts.is_device_settable(requested) {
        expect_error(
            out,
            answer,
            &["InvalidRequestException"],
            "UP-DEVICE-STATUS",
            "UP-DEVICE-STATUS-TYPE",
            seq,
        );
        return;
    }
    if let (Some(expected), Some(stored)) = (
        expected_version(call.input.get("expectedVersion")),
        e.version.value(),
    ) && expected != *stored
    {
        // Over MQTT the code is documented (VersionMismatch); over HTTP it is open (§7.3).
        let (wanted, type_requirement) = match call.binding {
            Binding::Http => (
                "InvalidStateTransitionException",
                "UP-EXPECTED-VERSION-TYPE",
            ),
            Binding::Mqtt => ("VersionMismatch", "MQ-VERSION-MISMATCH"),
        };
        expect_error(
            out,
            answer,
            &[wanted],
            "UP-EXPECTED-VERSION",
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
            "MQ-VERSION-STRING",
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
            "UP-TERMINAL",
            "UP-TERMINAL",
            seq,
        );
        return;
    }
    let cancel = facts.timers.cancel_step_timeout;
    let step = call
        .input
        .get("stepTimeoutInMinutes")
        .and_then(Value::as_i64);
    if (e.uncertain || (step == Some(cancel) && e.step.is_none())) && answer.success().is_none() {
        // Either answer is right: the execution may have timed out, or there is no timer to cancel.
        if e.uncertain && answer.error_type() == Some("InvalidStateTransitionException") {
            thing.executions[i].time_out(facts);
        }
        return;
    }
    let requirement = if e.status == Status::Queued && facts.is_terminal(requested) {
        "UP-QUEUED-FINISH"
    } else {
        "UP-TRANSITION"
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
            Some(m) if m == cancel => ex.step = None,
            Some(m) => ex.step = Some(call.window.shifted(minutes_ms(m)).min(ex.in_progress)),
            None => {}
        },
        _ => {
            ex.step = None;
            ex.in_progress = None;
        }
    }
    ex.status = requested;
    let v = ex.version.value().copied();
    ex.version = v.map_or(Belief::Unknown, |v| Belief::Known(v + 1));
    ex.details = match supplied {
        Some(d) => Belief::Expected(d, "UP-DETAILS-REPLACE"),
        None => Belief::Known(previous_details),
    };
    if let Some(state) = body.get("executionState") {
        let got_status = state["status"].as_str().unwrap_or_default();
        out.push(Finding::check(
            got_status == requested.as_str(),
            "UP-TRANSITION",
            format!(
                "executionState.status: expected {}, got {got_status}",
                requested.as_str()
            ),
            Some(seq),
        ));
        if let Some(got) = state["versionNumber"].as_i64() {
            ex.version.settle(
                got,
                "UP-VERSION",
                "versionNumber after the update",
                Some(seq),
                out,
            );
        }
        let got = details_of(state.get("statusDetails")).unwrap_or_default();
        let requirement = if call.input.contains_key("statusDetails") {
            "UP-DETAILS-REPLACE"
        } else {
            "UP-DETAILS-OMITTED"
        };
        ex.details.settle(
            got,
            requirement,
            "statusDetails after the update",
            Some(seq),
            out,
        );
    }
    if facts.is_terminal(requested) {
        thing.queue_retry(i, case, call.window);
    }
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
    let (include_state, include_doc) = (asked("includeJobExecutionState"), asked("includeJobDocument"));
    out.push(Finding::check(
        body.get("executionState").is_some() == include_state
            && body.get("jobDocument").is_some() == include_doc,
        "UP-RESPONSE",
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
            "UP-RESPONSE",
            "jobDocument is the job's document",
            Some(seq),
        ));
    }
}

/// expectedVersion as sent: a number, or over MQTT possibly a decimal string.
fn expected_version(value: Option<&Value>) -> Option<i64> {
    let v = value?;
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}
