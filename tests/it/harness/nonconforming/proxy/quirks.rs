//! The rewrites of the faults a foreign implementation was seen to have and no case caught:
//! `$next` that prefers an older QUEUED execution, step timers an Update sets or leaves alone
//! the wrong way, an expectedVersion truncated to an integer, and `$next` described with its
//! document when asked to leave it out.
//!
//! A proxy cannot switch a timer of the reference off, so a timer a fault stops or stretches
//! is shown as the broken target shows it: the execution the reference timed out is answered
//! as still IN_PROGRESS, without a countdown, until the stretched deadline (or for ever).

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::Uri;
use jobcert_contract::{Status, execution_model};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{Answer, Op, Proxy, edit_step};
use crate::common::faults::TIME_SCALE;

const STEP: &str = "stepTimeoutInMinutes";

/// `(thing, job)` path labels of one execution.
pub(super) type Key = (String, String);

/// The job label of a `/things/{thing}/jobs/{job}` path.
pub(super) fn job_label(path: &str) -> Option<&str> {
    path.strip_prefix('/')?.split('/').nth(3)
}

/// How long `minutes` of target time last in real time.
fn target_minutes(minutes: f64) -> Duration {
    Duration::from_secs_f64(minutes * 60.0 / TIME_SCALE)
}

/// The whole target seconds from now until `t` (0 once past).
fn target_seconds_until(t: Instant) -> i64 {
    (t.saturating_duration_since(Instant::now()).as_secs_f64() * TIME_SCALE).round() as i64
}

/// Whether `status` (as answered) is terminal, as `schemas/execution-model.json` says.
fn terminal(status: Option<&Value>) -> bool {
    status
        .and_then(|s| serde_json::from_value::<Status>(s.clone()).ok())
        .is_some_and(|s| execution_model().is_terminal(s))
}

impl Proxy {
    /// Hides the expiry of the execution `key` until `until` (for ever when `None`).
    pub(super) fn mask(&self, key: Key, until: Option<Instant>) {
        self.masked.lock().expect("not poisoned").insert(key, until);
    }

    /// A Describe answer for the execution `key` as a target whose timer did not fire shows it:
    /// while its expiry is hidden it is the execution last seen running (the reference's
    /// time-out moved nothing), with the countdown of the stretched deadline, or none when its
    /// timers stopped.
    pub(super) fn unmask(&self, key: &Key, answer: &mut Answer) {
        let Some(until) = self.masked.lock().expect("not poisoned").get(key).copied() else {
            return;
        };
        if until.is_some_and(|t| Instant::now() >= t) {
            return;
        }
        let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
            return;
        };
        let Some(execution) = body.get_mut("execution").and_then(Value::as_object_mut) else {
            return;
        };
        let mut running = self.running.lock().expect("not poisoned");
        match execution.get("status").and_then(Value::as_str) {
            Some("IN_PROGRESS") => {
                running.insert(key.clone(), execution.clone());
            }
            Some("TIMED_OUT") => {
                if let Some(seen) = running.get(key) {
                    *execution = seen.clone();
                }
                execution.insert("status".into(), json!("IN_PROGRESS"));
            }
            _ => return,
        }
        match until {
            Some(t) => execution.insert(
                "approximateSecondsBeforeTimedOut".into(),
                json!(target_seconds_until(t)),
            ),
            None => execution.remove("approximateSecondsBeforeTimedOut"),
        };
        answer.body = Bytes::from(body.to_string());
    }

    /// An Update whose stepTimeoutInMinutes is `value` (as JSON text) goes on without it, and
    /// its execution ends `seconds` of target time later (at once for 0) whatever its timers say.
    pub(super) fn end_after(&self, (value, seconds): (&str, u32), key: Key, body: &mut Bytes) {
        let wanted: Value = serde_json::from_str(value).expect("the fault names a JSON value");
        let mut hit = false;
        *body = edit_step(std::mem::take(body), |input| {
            if input.get(STEP) == Some(&wanted) {
                input.remove(STEP);
                hit = true;
            }
        });
        if hit {
            let end = Instant::now() + target_minutes(f64::from(seconds) / 60.0);
            self.ends.lock().expect("not poisoned").insert(key, end);
        }
    }

    /// Whether the execution `key` has ended early by an [`Proxy::end_after`] Update.
    pub(super) fn ended(&self, key: &Key) -> bool {
        self.ends
            .lock()
            .expect("not poisoned")
            .get(key)
            .is_some_and(|end| Instant::now() >= *end)
    }

    /// A Describe answer as a target that ends executions early and refuses to describe a
    /// terminal one (410, spec §7.6) gives it: an execution ending early counts down to its
    /// end; a terminal one is refused.
    pub(super) fn early_end_shown(&self, key: &Key, answer: &mut Answer) {
        let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
            return;
        };
        let Some(execution) = body.get_mut("execution").and_then(Value::as_object_mut) else {
            return;
        };
        if terminal(execution.get("status")) {
            *answer = Answer::terminal();
            return;
        }
        if let Some(end) = self.ends.lock().expect("not poisoned").get(key) {
            execution.insert(
                "approximateSecondsBeforeTimedOut".into(),
                json!(target_seconds_until(*end)),
            );
            answer.body = Bytes::from(body.to_string());
        }
    }

    /// A GetPendingJobExecutions answer without the executions of `thing` that ended early.
    pub(super) fn without_ended(&self, thing: &str, answer: &mut Answer) {
        let ended: Vec<String> = self
            .ends
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|((t, _), end)| t == thing && Instant::now() >= **end)
            .map(|((_, job), _)| percent_decode_str(job).decode_utf8_lossy().into_owned())
            .collect();
        let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
            return;
        };
        for list in ["inProgressJobs", "queuedJobs"] {
            if let Some(items) = body.get_mut(list).and_then(Value::as_array_mut) {
                items.retain(|x| !ended.iter().any(|j| x["jobId"] == j.as_str()));
            }
        }
        answer.body = Bytes::from(body.to_string());
    }

    /// Retries never queued: after an accepted FAILED, the job's execution on the thing stays
    /// the failed one. A describe of the job describes it (410, as terminal); a StartNext that
    /// started its retry answers that nothing is pending; the pending list leaves it out.
    pub(super) fn note_failed(&self, key: Key, sent: &Bytes, answer: &Answer) {
        let failed = serde_json::from_slice::<Value>(sent).is_ok_and(|b| b["status"] == "FAILED");
        if failed && answer.status.is_success() {
            let job = percent_decode_str(&key.1).decode_utf8_lossy().into_owned();
            self.failed
                .lock()
                .expect("not poisoned")
                .insert((key.0, job));
        }
    }

    /// Whether `thing`'s execution of `job` (a decoded id) failed before the proxy's eyes.
    pub(super) fn has_failed(&self, thing: &str, job: &str) -> bool {
        let key = (thing.to_string(), job.to_string());
        self.failed.lock().expect("not poisoned").contains(&key)
    }

    /// An answer about `thing` with the retries of failed executions hidden (see
    /// [`Proxy::note_failed`]).
    pub(super) fn hide_retries(&self, op: Op, thing: &str, job: Option<&str>, answer: &mut Answer) {
        let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
            return;
        };
        match op {
            Op::Describe => {
                let job = job.map(|j| percent_decode_str(j).decode_utf8_lossy().into_owned());
                if job.is_some_and(|j| self.has_failed(thing, &j)) {
                    *answer = Answer::terminal();
                }
            }
            Op::StartNext => {
                let started = body["execution"]["jobId"].as_str().unwrap_or_default();
                if self.has_failed(thing, started) {
                    *answer = Answer::json(&json!({}));
                }
            }
            Op::GetPending => {
                for list in ["inProgressJobs", "queuedJobs"] {
                    if let Some(items) = body.get_mut(list).and_then(Value::as_array_mut) {
                        items.retain(|x| {
                            !self.has_failed(thing, x["jobId"].as_str().unwrap_or_default())
                        });
                    }
                }
                answer.body = Bytes::from(body.to_string());
            }
            Op::Update => {}
        }
    }

    /// An Update whose stepTimeoutInMinutes is `value` (as JSON text) goes on without it and
    /// every timer of the execution stops; `true` when the body was rewritten.
    pub(super) fn stop_timers_on(&self, value: &str, key: Key, body: &mut Bytes) -> bool {
        let wanted: Value = serde_json::from_str(value).expect("the fault names a JSON value");
        let mut hit = false;
        *body = edit_step(std::mem::take(body), |input| {
            if input.get(STEP) == Some(&wanted) {
                input.remove(STEP);
                hit = true;
            }
        });
        if hit {
            self.mask(key, None);
        }
        hit
    }

    /// After an accepted Update that set a step timer of `minutes`, its execution runs until
    /// that timer's own deadline, past the job's in-progress deadline.
    pub(super) fn uncap(&self, key: Key, sent: &Bytes) {
        if let Some(minutes) = step_of(sent).filter(|m| *m > 0) {
            self.mask(key, Some(Instant::now() + target_minutes(minutes as f64)));
        }
    }

    /// Keeps track of which executions have a step timer, from accepted requests: StartNext
    /// names its execution in the answer, Update in the path.
    pub(super) fn track_step(&self, thing: &str, job: Option<&str>, sent: &Bytes, answer: &Answer) {
        if !answer.status.is_success() {
            return;
        }
        let job = match job {
            Some(j) => j.to_string(),
            None => match serde_json::from_slice::<Value>(&answer.body) {
                Ok(b) => match b["execution"]["jobId"].as_str() {
                    Some(j) => utf8_percent_encode(j, NON_ALPHANUMERIC).to_string(),
                    None => return,
                },
                Err(_) => return,
            },
        };
        let key = (thing.to_string(), job);
        let mut running = self.step_timers.lock().expect("not poisoned");
        match step_of(sent) {
            Some(m) if m > 0 => {
                running.insert(key);
            }
            Some(_) => {
                running.remove(&key);
            }
            None => {}
        }
    }

    /// `-1` on an Update of an execution with no step timer starts the shortest one (1 minute)
    /// instead of being refused or changing nothing.
    pub(super) fn cancel_starts_a_timer(&self, key: &Key, body: &mut Bytes) {
        let running = self.step_timers.lock().expect("not poisoned").contains(key);
        if running {
            return;
        }
        *body = edit_step(std::mem::take(body), |input| {
            if input.get(STEP).and_then(Value::as_i64) == Some(-1) {
                input.insert(STEP.into(), json!(1));
            }
        });
    }

    /// Describe `$next` done wrong: the oldest QUEUED execution is described ahead of an
    /// IN_PROGRESS one queued no earlier. `None` lets the request through.
    pub(super) async fn next_prefers_queued(
        &self,
        thing: &str,
        query: Option<&str>,
    ) -> Option<Answer> {
        let pending = self.get_json(&format!("/things/{thing}/jobs")).await.ok()?;
        let queued = pending["queuedJobs"].as_array()?.first()?;
        let in_progress = pending["inProgressJobs"].as_array()?.first();
        if in_progress.is_some_and(|ip| ip["queuedAt"].as_i64() < queued["queuedAt"].as_i64()) {
            return None;
        }
        let job = utf8_percent_encode(queued["jobId"].as_str()?, NON_ALPHANUMERIC);
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        Some(
            match self
                .get_json(&format!("/things/{thing}/jobs/{job}{query}"))
                .await
            {
                Ok(described) => Answer::json(&described),
                Err(e) => Answer::bad_gateway(&e),
            },
        )
    }
}

/// A GET of `$next` (literal or percent-encoded) whose `includeJobDocument=false` is dropped,
/// so the document is included; any other URI as it is.
pub(super) fn keep_next_document(uri: Uri) -> Uri {
    let next =
        job_label(uri.path()).is_some_and(|j| j == "$next" || j.eq_ignore_ascii_case("%24next"));
    let Some(query) = uri.query().filter(|_| next) else {
        return uri;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.eq_ignore_ascii_case("includeJobDocument=false"))
        .collect();
    let rewritten = match kept.as_slice() {
        [] => uri.path().to_string(),
        _ => format!("{}?{}", uri.path(), kept.join("&")),
    };
    rewritten.parse().unwrap_or(uri)
}

/// A query whose values written as whole decimals (`executionNumber=1.0`) are rewritten as
/// their integers (`executionNumber=1`); any other query is left as it is.
pub(super) fn whole_query_as_integers(uri: Uri) -> Uri {
    let Some(query) = uri.query() else {
        return uri;
    };
    let rewritten: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => match value.split_once('.') {
                Some((whole, zeros))
                    if !whole.is_empty()
                        && whole.bytes().all(|b| b.is_ascii_digit())
                        && !zeros.is_empty()
                        && zeros.bytes().all(|b| b == b'0') =>
                {
                    format!("{name}={whole}")
                }
                _ => pair.to_string(),
            },
            None => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), rewritten.join("&"))
        .parse()
        .unwrap_or(uri)
}

/// An Update whose fractional expectedVersion is truncated to an integer.
pub(super) fn truncate_version(body: Bytes) -> Bytes {
    let Ok(mut input) = serde_json::from_slice::<Map<String, Value>>(&body) else {
        return body;
    };
    let fraction = input
        .get("expectedVersion")
        .and_then(Value::as_f64)
        .filter(|v| v.fract() != 0.0);
    match fraction {
        Some(v) => {
            input.insert("expectedVersion".into(), json!(v.trunc() as i64));
            Bytes::from(Value::Object(input).to_string())
        }
        None => body,
    }
}

/// The integer stepTimeoutInMinutes of a request body, if it has one.
fn step_of(body: &Bytes) -> Option<i64> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get(STEP)?
        .as_i64()
}
