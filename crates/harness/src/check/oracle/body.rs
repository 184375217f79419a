//! The execution-body check: a JobExecution as answered against the model's entry for it.
//! Observations settle the model's open beliefs (and an observed expiry moves it on).

use serde_json::Value;

use super::cause::reconcile;
use super::model::{Belief, Case, Execution, ThingModel, Timer, details_of};
use super::stamps;
use super::{Call, Window};
use crate::finding::Finding;
use jobcert_contract::{Operation, Status, req};

/// The first timestamp read as milliseconds rather than epoch seconds.
const MILLISECOND_STAMPS: i64 = 100_000_000_000;

/// Checks `body`, the JobExecution answered for execution `i` of `thing`.
pub(super) fn check_execution(
    thing: &mut ThingModel,
    i: usize,
    case: &mut Case,
    body: &Value,
    call: &Call<'_>,
    with_document: bool,
    out: &mut Vec<Finding>,
) {
    let seq = Some(call.seq);
    let slack = case.slack_ms;
    let tol = case.tolerance_ms;
    let facts = case.facts;
    let observed = body["status"]
        .as_str()
        .and_then(|s| serde_json::from_value::<Status>(Value::String(s.into())).ok());
    let Some(i) = reconcile(thing, i, case, observed, call.seq, out) else {
        return;
    };
    let real_thing = thing.real.as_str();
    let e = &mut thing.executions[i];
    if let Some(job) = case.jobs.get(&e.job) {
        out.push(Finding::check(
            body["jobId"] == job.real_id.as_str(),
            req::EX_EXECUTION,
            format!("jobId: expected {}, got {}", job.real_id, body["jobId"]),
            seq,
        ));
        if with_document {
            let doc_req = match call.operation {
                Operation::StartNextPendingJobExecution => req::SN_DOCUMENT,
                _ => req::DE_DOCUMENT,
            };
            out.push(Finding::check(
                document_matches(&body["jobDocument"], &job.document),
                doc_req,
                format!(
                    "jobDocument: expected the job's document text, got {}",
                    body["jobDocument"]
                ),
                seq,
            ));
        } else if call.operation == Operation::DescribeJobExecution {
            out.push(Finding::check(
                body.get("jobDocument").is_none(),
                req::DE_DOCUMENT,
                "includeJobDocument=false omits jobDocument",
                seq,
            ));
        }
    }
    if body.get("thingName").is_some() {
        out.push(Finding::check(
            body["thingName"] == real_thing,
            req::EX_EXECUTION,
            format!(
                "thingName: expected {real_thing}, got {}",
                body["thingName"]
            ),
            seq,
        ));
    }
    if let Some(n) = body["executionNumber"].as_i64() {
        learn_number(e, n, seq, out);
    }
    // Status, with open expiry settled by what the target says.
    if let Some(observed) = observed {
        if e.status == Status::InProgress
            && observed == facts.timers.expired_status
            && let Some((deadline, timer)) = e.deadline()
        {
            let early = call.window.hi < deadline.lo;
            out.push(Finding::check(
                !early,
                req::TM_NOT_EARLY,
                format!("{} before its deadline", observed.as_str()),
                seq,
            ));
            out.push(Finding::pass(
                timer.expiry_requirement(),
                "timed out after its deadline",
                seq,
            ));
            e.service_moved(observed);
        }
        if e.status == Status::InProgress
            && observed == Status::InProgress
            && let Some((deadline, timer)) = e.deadline()
        {
            if call.window.hi < deadline.lo {
                out.push(Finding::pass(
                    req::TM_NOT_EARLY,
                    "still running before its deadline",
                    seq,
                ));
            }
            let late = call.window.lo > deadline.hi + slack;
            out.push(Finding::check(
                !late,
                timer.expiry_requirement(),
                "still IN_PROGRESS after its deadline and the slack",
                seq,
            ));
        }
        out.push(Finding::check(
            observed == e.status,
            req::EX_EXECUTION,
            format!(
                "status: expected {}, got {}",
                e.status.as_str(),
                observed.as_str()
            ),
            seq,
        ));
        e.status = observed;
    }
    if let Some(v) = body["versionNumber"].as_i64() {
        e.version
            .settle(v, req::EX_EXECUTION, "versionNumber", seq, out);
    }
    let details = details_of(body.get("statusDetails")).unwrap_or_default();
    e.settle_details(details, (req::EX_EXECUTION, "statusDetails"), seq, out);
    // startedAt exactly when started.
    out.push(Finding::check(
        body.get("startedAt").is_some() == e.started.is_some(),
        req::EX_EXECUTION,
        format!(
            "startedAt {} while {}",
            if body.get("startedAt").is_some() {
                "present"
            } else {
                "absent"
            },
            if e.started.is_some() {
                "started"
            } else {
                "never started"
            }
        ),
        seq,
    ));
    // Timestamps: whole seconds, consistent with one offset between the target's clock and
    // the harness's. Each stamp narrows the range of offsets its event window allows.
    let mut stamp = |name: &str, ts: Option<i64>, w: Window, epoch: &mut Option<(f64, f64)>| {
        let Some(ts) = ts else { return };
        // Epoch seconds stay below 10^11 until the year 5138; a larger stamp is in
        // milliseconds, which some documentation shows (§7.11): that item, not a wrong time.
        let seconds = ts < MILLISECOND_STAMPS;
        out.push(Finding::check(
            seconds,
            req::EX_TIMESTAMP_UNIT,
            format!("{name} {ts} is in milliseconds, not epoch seconds"),
            seq,
        ));
        if !seconds {
            return;
        }
        let ms = ts as f64 * 1000.0;
        let (lo, hi) = (ms - w.hi - tol, ms + 1000.0 - w.lo + tol);
        let (known_lo, known_hi) = epoch.unwrap_or((lo, hi));
        let (lo, hi) = (known_lo.max(lo), known_hi.min(hi));
        let consistent = lo <= hi;
        out.push(Finding::check(
            consistent,
            req::EX_TIMESTAMPS,
            format!("{name} {ts} does not fit the time of the event it records (by the target's other timestamps)"),
            seq,
        ));
        if consistent {
            *epoch = Some((lo, hi));
        }
    };
    let queued_at = body["queuedAt"].as_i64();
    stamp("queuedAt", queued_at, e.queued, &mut case.epoch_offset);
    if let Some(w) = e.started {
        stamp(
            "startedAt",
            body["startedAt"].as_i64(),
            w,
            &mut case.epoch_offset,
        );
    }
    stamps::check(e, body, seq, out);
    match (queued_at, body["lastUpdatedAt"].as_i64()) {
        // Stamps in another unit are that item's finding (above), not an order.
        (Some(q), Some(u)) if q.max(u) >= MILLISECOND_STAMPS => {}
        (Some(q), Some(u)) => out.push(Finding::check(
            u >= q,
            req::EX_TIMESTAMPS,
            format!("lastUpdatedAt {u} is before queuedAt {q}"),
            seq,
        )),
        // A stamp that is a number but not an integer breaks the response schema (WI-SCHEMA).
        _ if ["queuedAt", "lastUpdatedAt"]
            .iter()
            .all(|k| body[k].is_number()) => {}
        _ => out.push(Finding::fail(
            req::EX_TIMESTAMPS,
            "queuedAt or lastUpdatedAt is missing",
            seq,
        )),
    }
    // The countdown.
    let left = body["approximateSecondsBeforeTimedOut"].as_i64();
    match (e.deadline(), left) {
        (Some((d, timer)), Some(left)) if e.status == Status::InProgress => {
            let lo = (d.lo - call.window.hi - tol) / 1000.0 - 1.0;
            let hi = (d.hi - call.window.lo + tol) / 1000.0 + 1.0;
            let what = format!(
                "approximateSecondsBeforeTimedOut {left}, expected {:.0}..{:.0}",
                lo.max(0.0),
                hi
            );
            if (left as f64) >= lo.floor() && (left as f64) <= hi.ceil() {
                out.push(Finding::pass(req::TM_APPROXIMATE, what, seq));
            } else {
                let past_cap = timer == Timer::CappedStep && left as f64 > hi.ceil();
                countdown_departs(e, call, case, (left, past_cap), what, out);
            }
        }
        (None, Some(left)) => out.push(Finding::fail(
            if facts.is_terminal(e.status) {
                req::TM_TERMINAL_STOPS
            } else {
                req::TM_APPROXIMATE
            },
            format!("approximateSecondsBeforeTimedOut {left} while no timer runs"),
            seq,
        )),
        _ => {}
    }
}

/// A countdown that departs from the model's deadline shows the target's own timers: the
/// departure is a root cause, named under what explains it — an accepted invalid
/// stepTimeoutInMinutes that changed the timers (UP-STEP-INVALID-TIMERS), a step timer running
/// past the in-progress deadline (UP-STEP-CAP), else the countdown itself (TM-APPROXIMATE) —
/// and the model takes the target's deadline, so the same fault is not named again when that
/// deadline comes.
fn countdown_departs(
    e: &mut Execution,
    call: &Call<'_>,
    case: &mut Case,
    (left, past_cap): (i64, bool),
    what: String,
    out: &mut Vec<Finding>,
) {
    let by = e
        .timers_set_by
        .map_or(String::new(), |n| format!(" set by exchange #{n}"));
    let (requirement, why) = match e.timers_kept_after {
        Some(n) => (
            req::UP_STEP_INVALID_TIMERS,
            format!("exchange #{n}'s invalid stepTimeoutInMinutes changed the timers"),
        ),
        None if past_cap => (
            req::UP_STEP_CAP,
            format!("the step timer{by} runs past the in-progress deadline"),
        ),
        None => (req::TM_APPROXIMATE, String::new()),
    };
    let message = if why.is_empty() {
        what
    } else {
        format!("{what}: {why}")
    };
    case.cause_at.get_or_insert(out.len());
    out.push(Finding::fail(requirement, message, Some(call.seq)));
    e.step = Some(call.window.shifted(left as f64 * 1000.0));
    e.in_progress = None;
    e.timers_kept_after = None;
}

/// Settles execution `e`'s number with `n`, the first the target shows of it: opaque, but a
/// retry's is greater than its predecessor's (spec §1.1, §5.3).
pub(super) fn learn_number(e: &mut Execution, n: i64, seq: Option<u64>, out: &mut Vec<Finding>) {
    if let (Belief::Unknown, Some(previous)) = (&e.number, e.number_above) {
        out.push(Finding::check(
            n > previous,
            req::EX_RETRY,
            format!(
                "a retry's executionNumber {n} must be greater than its predecessor's {previous}"
            ),
            seq,
        ));
    }
    e.number
        .settle(n, req::EX_EXECUTION, "executionNumber", seq, out);
}

/// Whether a jobDocument as answered is the job's document: its text over HTTP, the object
/// that text parses to over MQTT.
pub(super) fn document_matches(answered: &Value, text: &str) -> bool {
    match answered {
        Value::String(s) => s == text,
        other => serde_json::from_str::<Value>(text).is_ok_and(|parsed| parsed == *other),
    }
}
