//! Root causes: when the target's state departs from a state the model predicted but never saw
//! (a timer that fired, a retry queued, a cancel), the prediction is blamed once, under the
//! requirement that demands it, and the model returns to the state the target shows, so that
//! later checks judge what the target actually holds. Any other failure of the same answer is
//! a follow-on of that cause (see `Oracle::judge`).

use serde_json::Value;

use super::model::{Belief, Case, ThingModel};
use super::{Call, Subject};
use crate::finding::Finding;
use jobcert_contract::{Status, req};

/// The target shows that execution `i`'s predicted state did not come true (`shown` says
/// how). Names the cause, then re-synchronises: the state before the prediction comes back
/// (its timers no longer trusted), or a predicted execution goes, with the retries predicted
/// from it. Returns the execution the answer is about now: `i` restored, or for a removed
/// execution the latest remaining one of its job.
pub(super) fn contradicted(
    thing: &mut ThingModel,
    i: usize,
    case: &mut Case,
    shown: &str,
    seq: u64,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let e = &mut thing.executions[i];
    let prediction = e.predicted.take()?;
    case.cause_at.get_or_insert(out.len());
    let named = Finding::fail(
        prediction.requirement,
        format!("{}; but {shown}", prediction.what),
        Some(seq),
    );
    out.push(match prediction.caused_by {
        Some(earlier) => named.following(earlier),
        None => named,
    });
    let job = e.job.clone();
    let order = e.order;
    match prediction.before {
        Some(before) => {
            *e = *before;
            e.step = None;
            e.in_progress = None;
            e.uncertain = false;
            e.stamps.changed = true;
            thing.executions.retain(|r| {
                r.predicted
                    .as_ref()
                    .is_none_or(|p| p.retry_of != Some(order))
            });
            Some(i)
        }
        None => {
            thing.executions.remove(i);
            thing.executions.iter().rposition(|e| e.job == job)
        }
    }
}

/// The target refuses to describe execution `i` as terminal while the model holds it
/// IN_PROGRESS with no deadline reached: it ended before its time. The early end is named once,
/// under what last touched its timers — an accepted invalid stepTimeoutInMinutes that had to
/// leave them (UP-STEP-INVALID-TIMERS), a -1 that had to cancel only the step timer
/// (UP-STEP-CANCEL), else TM-NOT-EARLY — and the model holds it timed out, so that the refusal
/// (allowed for a terminal execution, spec §7.6) and what follows judge the target's state.
pub(super) fn ended_early(
    thing: &mut ThingModel,
    i: usize,
    case: &mut Case,
    call: &Call<'_>,
    shown: &str,
    out: &mut Vec<Finding>,
) {
    let e = &mut thing.executions[i];
    let (requirement, why) = match (e.timers_kept_after, e.step_cancelled_by) {
        (Some(n), _) => (
            req::UP_STEP_INVALID_TIMERS,
            format!("exchange #{n}'s invalid stepTimeoutInMinutes had to leave its timers"),
        ),
        (None, Some(n)) => (
            req::UP_STEP_CANCEL,
            format!("exchange #{n}'s stepTimeoutInMinutes -1 had to cancel only its step timer"),
        ),
        (None, None) => (
            req::TM_NOT_EARLY,
            "no deadline of its timers has passed".to_string(),
        ),
    };
    case.cause_at.get_or_insert(out.len());
    out.push(Finding::fail(
        requirement,
        format!(
            "{} is IN_PROGRESS ({why}); but the target refuses it as terminal ({shown})",
            case.real_id(&e.job)
        ),
        Some(call.seq),
    ));
    e.time_out(case.facts);
    thing.queue_retry(i, case, call.window, Some(call.seq));
}

/// The target shows execution `i` as the model predicted it: the prediction is now an
/// observation, and its requirement is met.
pub(super) fn confirmed(thing: &mut ThingModel, i: usize, seq: u64, out: &mut Vec<Finding>) {
    if let Some(p) = thing.executions[i].predicted.take() {
        out.push(Finding::pass(
            p.requirement,
            format!("{}, as the target shows", p.what),
            Some(seq),
        ));
    }
}

/// Reconciles a predicted execution `i` with the status the target reports for it: a match
/// confirms the prediction, a difference names it as the cause. Returns the execution the
/// answer is about.
pub(super) fn reconcile(
    thing: &mut ThingModel,
    i: usize,
    case: &mut Case,
    observed: Option<Status>,
    seq: u64,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let e = &thing.executions[i];
    let Some(observed) = observed.filter(|_| e.predicted.is_some()) else {
        return Some(i);
    };
    if observed == e.status {
        confirmed(thing, i, seq, out);
        return Some(i);
    }
    let shown = format!(
        "the target shows {} {}",
        case.real_id(&e.job),
        observed.as_str()
    );
    contradicted(thing, i, case, &shown, seq, out)
}

/// The latest execution of the job whose real id is `real` that the model predicted out of
/// the pending list (timed out or canceled unseen) while the target still shows it pending.
/// A retry predicted from it does not hide it: the target shows the job it knows.
pub(super) fn predicted_gone(thing: &ThingModel, case: &Case, real: &str) -> Option<usize> {
    let predicted_new =
        |e: &super::model::Execution| e.predicted.as_ref().is_some_and(|p| p.before.is_none());
    let i = thing
        .executions
        .iter()
        .rposition(|e| case.is_job(e, real) && !predicted_new(e))?;
    let e = &thing.executions[i];
    let was_pending = e
        .predicted
        .as_ref()
        .and_then(|p| p.before.as_ref())
        .is_some_and(|b| case.facts.pending_rank(b.status).is_some());
    (was_pending && case.facts.pending_rank(e.status).is_none()).then_some(i)
}

/// Reconciles the head the target returned (`returned`, the execution body, or none) with the
/// model's, naming a contradicted prediction as the cause: an execution predicted gone that
/// the target still returns (by job, or by its known executionNumber while a retry predicted
/// from it is pending), or a predicted head (a retry) the target does not have. Returns the
/// head candidates and the predicted head of the re-synchronised model.
pub(super) fn resync_head(
    thing: &mut ThingModel,
    case: &mut Case,
    returned: Option<&Value>,
    seq: u64,
    out: &mut Vec<Finding>,
) -> (Vec<usize>, Option<usize>) {
    let job = returned.map(|x| x["jobId"].as_str().unwrap_or_default());
    let number = returned.and_then(|x| x["executionNumber"].as_i64());
    // Each round removes one prediction: bounded by the executions.
    for _ in 0..=thing.executions.len() {
        let shown = job.map_or("nothing pending".to_string(), |j| format!("{j} pending"));
        let shown = format!("the target shows {shown}");
        let gone = job.and_then(|j| predicted_gone(thing, case, j));
        let same =
            |g: usize| number.is_some() && thing.executions[g].number.value() == number.as_ref();
        if let Some(g) = gone.filter(|&g| same(g)) {
            contradicted(thing, g, case, &shown, seq, out);
            continue;
        }
        let (candidates, head) = thing.head_candidates(case.facts);
        let hit = job.is_some_and(|j| {
            candidates
                .iter()
                .any(|&i| case.is_job(&thing.executions[i], j))
        });
        if hit {
            return (candidates, head);
        }
        if let Some(i) = gone {
            contradicted(thing, i, case, &shown, seq, out);
            continue;
        }
        match head.filter(|&h| thing.executions[h].predicted.is_some()) {
            Some(h) => {
                contradicted(thing, h, case, &shown, seq, out);
            }
            None => return (candidates, head),
        }
    }
    thing.head_candidates(case.facts)
}

/// An invalid request the target accepted (its input check has failed already) moved the
/// execution it names in ways the contract does not say: the version, statusDetails and
/// lastUpdatedAt are learned afresh from the next answer, a status the answer shows is taken,
/// and a stepTimeoutInMinutes it carried must have left every timer as it was, so a timer that
/// then does not fire is blamed on that request (see `ThingModel::expire`). Nothing that
/// follows is a second fault.
pub(super) fn accepted_invalid(thing: &mut ThingModel, case: &Case, call: &Call<'_>, body: &Value) {
    let shown = body.get("execution");
    let i = match (
        &call.job,
        shown.and_then(|e| e.get("jobId")).and_then(Value::as_str),
    ) {
        (Subject::Seeded(job), _) => thing.executions.iter().rposition(|e| &e.job == job),
        (_, Some(real)) => thing.executions.iter().rposition(|e| case.is_job(e, real)),
        _ => None,
    };
    let Some(e) = i.map(|i| &mut thing.executions[i]) else {
        return;
    };
    e.version = Belief::Unknown;
    e.details = Belief::Unknown;
    e.details_merged = None;
    e.stamps.changed = true;
    let status = shown
        .and_then(|x| x.get("status"))
        .and_then(|s| serde_json::from_value::<Status>(s.clone()).ok());
    if let Some(status) = status.filter(|s| *s != e.status) {
        if status == Status::InProgress && e.started.is_none() {
            e.started = Some(call.window);
        }
        e.status = status;
    }
    if call.input.contains_key("stepTimeoutInMinutes") {
        e.timers_kept_after = Some(call.seq);
    }
}
