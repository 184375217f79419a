//! The fault proxy: a reverse proxy in front of the reference's data plane that breaks the
//! one rule its [`Fault`] names.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jobcert_contract::schemas;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{
    ERROR_TYPE, Fault, INTERNAL_ERROR, INVALID_REQUEST, LATE, NOT_FOUND, PAST_THE_STEP, RENUMBER,
    TERMINAL_STATE, THROTTLE_EVERY,
};

mod quirks;

use quirks::Key;

/// The data-plane operation a request addresses, read from its method and raw path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StartNext,
    Update,
    Describe,
    GetPending,
}

/// `(operation, raw thing label)` of a data-plane request, if it is one.
fn classify<'a>(method: &Method, path: &'a str) -> Option<(Op, &'a str)> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let op = match (method, segments.as_slice()) {
        (&Method::GET, ["things", _, "jobs"]) => Op::GetPending,
        (&Method::PUT, ["things", _, "jobs", job])
            if *job == "$next" || job.eq_ignore_ascii_case("%24next") =>
        {
            Op::StartNext
        }
        (&Method::POST, ["things", _, "jobs", _]) => Op::Update,
        (&Method::GET, ["things", _, "jobs", _]) => Op::Describe,
        _ => return None,
    };
    Some((op, segments[1]))
}

/// An answer on its way back to the harness.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    /// A 200 with a JSON body.
    fn json(body: &Value) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Self {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    /// A 429 ThrottlingException, as AWS answers above its quotas.
    fn throttled() -> Self {
        let mut answer = Self::json(&json!({
            "__type": "ThrottlingException",
            "message": "Rate exceeded",
        }));
        answer.status = StatusCode::TOO_MANY_REQUESTS;
        answer
            .headers
            .insert(ERROR_TYPE, HeaderValue::from_static("ThrottlingException"));
        answer
    }

    /// A 502 saying the proxy could not reach the reference server.
    fn bad_gateway(e: &reqwest::Error) -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY,
            headers: HeaderMap::new(),
            body: Bytes::from(format!("proxy: {e}")),
        }
    }

    /// A 410 TerminalStateException, the refusal to describe a terminal execution (§7.6).
    fn terminal() -> Self {
        let mut answer = Self::json(&json!({
            "__type": TERMINAL_STATE,
            "message": "the job execution is terminal",
        }));
        answer.status = StatusCode::GONE;
        answer
            .headers
            .insert(ERROR_TYPE, HeaderValue::from_static(TERMINAL_STATE));
        answer
    }

    /// A 500 InternalError, the answer of a corrupted thing.
    fn internal_error() -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(ERROR_TYPE, HeaderValue::from_static(INTERNAL_ERROR));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let body = json!({ "message": "internal error", "__type": INTERNAL_ERROR });
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    /// The error type the reference named in its header.
    fn error_type(&self) -> Option<&str> {
        self.headers.get(ERROR_TYPE)?.to_str().ok()
    }

    /// Renames InvalidRequestException to ResourceNotFoundException in the header and `__type`.
    fn retype(&mut self) {
        if self.error_type() != Some(INVALID_REQUEST) {
            return;
        }
        self.headers
            .insert(ERROR_TYPE, HeaderValue::from_static(NOT_FOUND));
        if let Ok(mut body) = serde_json::from_slice::<Value>(&self.body) {
            body["__type"] = json!(NOT_FOUND);
            self.body = Bytes::from(body.to_string());
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                response.headers_mut().append(name, value.clone());
            }
        }
        response
    }
}

/// The proxy's state: where the reference's data plane is, and which rule to break.
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    fault: Fault,
    /// StartNext's largest stepTimeoutInMinutes, from `schemas/common.json`.
    step_max: i64,
    /// The things (raw path labels) a [`Fault::CorruptedByStringStep`] request has corrupted.
    corrupted: Mutex<BTreeSet<String>>,
    /// Data-plane requests seen so far.
    seen: AtomicU64,
    /// Executions whose expiry is hidden, until when (for ever when `None`).
    masked: Mutex<BTreeMap<Key, Option<Instant>>>,
    /// The last answer showing a masked execution running, by execution.
    running: Mutex<BTreeMap<Key, Map<String, Value>>>,
    /// Executions an Update ends early, and when.
    ends: Mutex<BTreeMap<Key, Instant>>,
    /// Executions (thing label, decoded job id) an accepted FAILED ended, whose retries are hidden.
    failed: Mutex<BTreeSet<(String, String)>>,
    /// The last job (raw path label) an accepted SUCCEEDED ended, by thing (raw path label).
    succeeded: Mutex<BTreeMap<String, String>>,
    /// Executions with a step timer running, as far as the requests through the proxy tell.
    step_timers: Mutex<BTreeSet<Key>>,
    /// The request last throttled (method, URI and body; names are run-unique, so only its
    /// retry repeats it): [`Fault::Throttles`] lets its retry through, [`Fault::ThrottlesOne`]
    /// throttles it at every attempt.
    throttled: Mutex<Option<String>>,
    /// StartNext answers that set a step timer and were held back so far.
    slowed: AtomicU64,
}

impl Proxy {
    /// Sends the (possibly rewritten) request on to the reference and reads the whole answer.
    async fn forward(&self, method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Answer {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .client
            .request(method, format!("{}{target}", self.upstream));
        for (name, value) in headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        match request.body(body).send().await {
            Ok(r) => Answer {
                status: r.status(),
                headers: r.headers().clone(),
                body: r.bytes().await.unwrap_or_default(),
            },
            Err(e) => Answer::bad_gateway(&e),
        }
    }

    /// Whether the answer to the StartNext `sent` is held back [`PAST_THE_STEP`]: one that
    /// sets a step timer, the first only for [`Fault::SlowOnce`].
    fn slows(&self, sent: &Bytes) -> bool {
        let sets_a_timer = serde_json::from_slice::<Value>(sent)
            .is_ok_and(|input| input.get("stepTimeoutInMinutes").is_some());
        if !sets_a_timer {
            return false;
        }
        let before = self.slowed.fetch_add(1, Ordering::Relaxed);
        self.fault == Fault::SlowEveryTime || before == 0
    }

    /// GETs `path` from the reference and parses the JSON body.
    async fn get_json(&self, path: &str) -> Result<Value, reqwest::Error> {
        let r = self
            .client
            .get(format!("{}{path}", self.upstream))
            .send()
            .await?;
        r.json().await
    }

    /// Notes the job an accepted Update of `thing` (raw path labels) set SUCCEEDED.
    fn note_succeeded(&self, thing: &str, job: Option<String>, sent: &Bytes) {
        let succeeded =
            serde_json::from_slice::<Value>(sent).is_ok_and(|input| input["status"] == "SUCCEEDED");
        if let Some(job) = job.filter(|_| succeeded) {
            let mut last = self.succeeded.lock().expect("not poisoned");
            last.insert(thing.to_string(), job);
        }
    }

    /// An empty StartNext answer for `thing` replaced by the description of its last
    /// SUCCEEDED execution, if it has one.
    async fn bring_back(&self, thing: &str, answer: &mut Answer) {
        let empty = serde_json::from_slice::<Value>(&answer.body)
            .is_ok_and(|body| body.get("execution").is_none());
        let last = self
            .succeeded
            .lock()
            .expect("not poisoned")
            .get(thing)
            .cloned();
        let (true, Some(job)) = (empty, last) else {
            return;
        };
        if let Ok(described) = self.get_json(&format!("/things/{thing}/jobs/{job}")).await {
            *answer = Answer::json(&json!({ "execution": described["execution"] }));
        }
    }

    /// StartNext done wrong: starts the newest QUEUED execution of `thing` (a raw path label)
    /// and answers with its description. `None` when nothing is queued or the body is not an
    /// object, so the request passes through.
    async fn start_newest(&self, thing: &str, body: &Bytes) -> Option<Answer> {
        let input: Map<String, Value> = serde_json::from_slice(body).ok()?;
        let pending = self.get_json(&format!("/things/{thing}/jobs")).await.ok()?;
        let newest = pending["queuedJobs"].as_array()?.last()?["jobId"].as_str()?;
        let job = format!(
            "/things/{thing}/jobs/{}",
            utf8_percent_encode(newest, NON_ALPHANUMERIC)
        );
        let mut update = json!({ "status": "IN_PROGRESS" });
        for member in ["statusDetails", "stepTimeoutInMinutes"] {
            if let Some(v) = input.get(member) {
                update[member] = v.clone();
            }
        }
        let started = self
            .client
            .post(format!("{}{job}", self.upstream))
            .json(&update)
            .send()
            .await;
        match started {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                return Some(Answer {
                    status: r.status(),
                    headers: r.headers().clone(),
                    body: r.bytes().await.unwrap_or_default(),
                });
            }
            Err(e) => return Some(Answer::bad_gateway(&e)),
        }
        Some(match self.get_json(&job).await {
            Ok(described) => Answer::json(&json!({ "execution": described["execution"] })),
            Err(e) => Answer::bad_gateway(&e),
        })
    }
}

/// Rewrites `stepTimeoutInMinutes` of a JSON object body; other bodies are left as they are.
fn edit_step(body: Bytes, edit: impl FnOnce(&mut Map<String, Value>)) -> Bytes {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut input)) => {
            edit(&mut input);
            Bytes::from(Value::Object(input).to_string())
        }
        _ => body,
    }
}

/// Adds `by` to every integer executionNumber member in `value`.
fn renumber(value: &mut Value, by: i64) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v.as_i64() {
                    Some(n) if key == "executionNumber" => *v = json!(n + by),
                    _ => renumber(v, by),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| renumber(v, by)),
        _ => {}
    }
}

/// A JSON body with every executionNumber moved by `by`; other bodies are left as they are.
fn renumber_body(body: Bytes, by: i64) -> Bytes {
    match serde_json::from_slice::<Value>(&body) {
        Ok(mut value) => {
            renumber(&mut value, by);
            Bytes::from(value.to_string())
        }
        Err(_) => body,
    }
}

/// `uri` with an integer `executionNumber` query parameter moved by `by`.
fn renumber_query(uri: &Uri, by: i64) -> Uri {
    let Some(query) = uri.query() else {
        return uri.clone();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("executionNumber", n)) => n
                .parse::<i64>()
                .map_or(pair.to_string(), |n| format!("executionNumber={}", n + by)),
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
        .parse()
        .unwrap_or_else(|_| uri.clone())
}

/// The proxy's one handler: applies the fault on the way in and on the way out.
async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    mut body: Bytes,
) -> Answer {
    let uri = match proxy.fault {
        Fault::Renumbered => {
            body = renumber_body(body, -RENUMBER);
            renumber_query(&uri, -RENUMBER)
        }
        Fault::NextKeepsTheDocument if method == Method::GET => quirks::keep_next_document(uri),
        Fault::WholeQueryRead => quirks::whole_query_as_integers(uri),
        Fault::WholeQueryBreaks if quirks::whole_query_as_integers(uri.clone()) != uri => {
            return Answer::internal_error();
        }
        _ => uri,
    };
    let op = classify(&method, uri.path());
    let job = quirks::job_label(uri.path()).map(str::to_string);
    let key = |thing: &str| (thing.to_string(), job.clone().unwrap_or_default());
    let mut corrupts = None;
    match (proxy.fault, op) {
        (Fault::NextPrefersQueued, Some((Op::Describe, thing)))
            if job
                .as_deref()
                .is_some_and(|j| j == "$next" || j.eq_ignore_ascii_case("%24next")) =>
        {
            if let Some(answer) = proxy.next_prefers_queued(thing, uri.query()).await {
                return answer;
            }
        }
        (Fault::StopsTimersOn(value), Some((Op::Update, thing))) => {
            proxy.stop_timers_on(value, key(thing), &mut body);
        }
        (Fault::MinusOneStartsATimer, Some((Op::Update, thing))) => {
            proxy.cancel_starts_a_timer(&key(thing), &mut body);
        }
        (Fault::EndsAfter(value, minutes), Some((Op::Update, thing))) => {
            proxy.end_after((value, minutes), key(thing), &mut body);
        }
        (Fault::EndsAfter(..), Some((Op::Describe, thing))) if proxy.ended(&key(thing)) => {
            return Answer::terminal();
        }
        (Fault::StartNextStepIgnored, Some((Op::StartNext, _))) => {
            body = edit_step(body, |input| {
                input.remove("stepTimeoutInMinutes");
            });
        }
        (Fault::TruncatesVersion, Some((Op::Update, _))) => body = quirks::truncate_version(body),
        (Fault::CorruptedByStringStep, Some((op, thing))) => {
            if proxy
                .corrupted
                .lock()
                .expect("not poisoned")
                .contains(thing)
            {
                return Answer::internal_error();
            }
            if op == Op::Update {
                body = edit_step(body, |input| {
                    let step = input.get("stepTimeoutInMinutes").and_then(Value::as_str);
                    if let Some(n) = step.and_then(|s| s.parse::<i64>().ok()) {
                        input.insert("stepTimeoutInMinutes".into(), json!(n));
                        corrupts = Some(thing.to_string());
                    }
                });
            }
        }
        (Fault::LimitNotEnforced, Some((Op::StartNext, _))) => {
            body = edit_step(body, |input| {
                let step = input.get("stepTimeoutInMinutes").and_then(Value::as_i64);
                if step.is_some_and(|s| s > proxy.step_max) {
                    input.insert("stepTimeoutInMinutes".into(), json!(proxy.step_max));
                }
            });
        }
        (Fault::TimerNeverFires, Some((Op::StartNext | Op::Update, _))) => {
            body = edit_step(body, |input| {
                input.remove("stepTimeoutInMinutes");
            });
        }
        (Fault::WrongNextJob, Some((Op::StartNext, thing))) => {
            if let Some(answer) = proxy.start_newest(thing, &body).await {
                return answer;
            }
        }
        (Fault::LateAnswers, Some((Op::GetPending, _))) => tokio::time::sleep(LATE).await,
        (Fault::Throttles | Fault::ThrottlesOne, Some(_)) => {
            let request = format!("{method} {uri} {}", String::from_utf8_lossy(&body));
            let mut throttled = proxy.throttled.lock().expect("not poisoned");
            let again = throttled.as_deref() == Some(request.as_str());
            let throttle = match proxy.fault {
                Fault::ThrottlesOne => again || throttled.is_none(),
                _ => {
                    !again && (proxy.seen.fetch_add(1, Ordering::Relaxed) + 1) % THROTTLE_EVERY == 0
                }
            };
            if throttle {
                *throttled = Some(request);
                return Answer::throttled();
            }
        }
        _ => {}
    }
    let sent = body.clone();
    let mut answer = proxy.forward(method, &uri, &headers, body).await;
    if let Some(thing) = corrupts.filter(|_| answer.status.is_success()) {
        proxy.corrupted.lock().expect("not poisoned").insert(thing);
    }
    match (proxy.fault, op) {
        (Fault::StopsTimersOn(_) | Fault::UpdateStepUncapped, Some((Op::Describe, thing))) => {
            proxy.unmask(&key(thing), &mut answer);
        }
        (Fault::UpdateStepUncapped, Some((Op::Update, thing))) if answer.status.is_success() => {
            proxy.uncap(key(thing), &sent);
        }
        (Fault::MinusOneStartsATimer, Some((Op::StartNext, thing))) => {
            proxy.track_step(thing, None, &sent, &answer);
        }
        (Fault::EndsAfter(..), Some((Op::Describe, thing))) if answer.status.is_success() => {
            proxy.early_end_shown(&key(thing), &mut answer);
        }
        (Fault::EndsAfter(..), Some((Op::GetPending, thing))) if answer.status.is_success() => {
            proxy.without_ended(thing, &mut answer);
        }
        (Fault::NoRetries, Some((Op::Update, thing))) => {
            proxy.note_failed(key(thing), &sent, &answer);
        }
        (Fault::NoRetries, Some((op, thing))) if answer.status.is_success() => {
            proxy.hide_retries(op, thing, job.as_deref(), &mut answer);
        }
        (Fault::MinusOneStartsATimer, Some((Op::Update, thing))) => {
            proxy.track_step(thing, job.as_deref(), &sent, &answer);
        }
        (Fault::FinishedComesBack, Some((Op::Update, thing))) if answer.status.is_success() => {
            proxy.note_succeeded(thing, job, &sent);
        }
        (Fault::FinishedComesBack, Some((Op::StartNext, thing))) if answer.status.is_success() => {
            proxy.bring_back(thing, &mut answer).await;
        }
        (Fault::SlowOnce | Fault::SlowEveryTime, Some((Op::StartNext, _)))
            if proxy.slows(&sent) =>
        {
            tokio::time::sleep(PAST_THE_STEP).await;
        }
        _ => {}
    }
    match proxy.fault {
        Fault::WrongErrorType => answer.retype(),
        Fault::WrongStatus if answer.error_type() == Some(INVALID_REQUEST) => {
            answer.status = StatusCode::INTERNAL_SERVER_ERROR;
        }
        Fault::Renumbered => answer.body = renumber_body(answer.body, RENUMBER),
        _ => {}
    }
    answer
}

/// StartNext's largest stepTimeoutInMinutes, as `schemas/common.json` states it.
fn step_max() -> i64 {
    let common = schemas()
        .get("common.json")
        .expect("common.json is embedded");
    common
        .document()
        .pointer("/$defs/StepTimeoutInMinutes/maximum")
        .and_then(Value::as_i64)
        .expect("StepTimeoutInMinutes has a maximum")
}

/// A running proxy on a free loopback port; dropping it stops it.
pub(super) struct RunningProxy {
    pub(super) base: String,
    task: tokio::task::JoinHandle<()>,
}

impl RunningProxy {
    /// A reference server at `time_scale` with this proxy breaking `fault` in front of its
    /// data plane, on a runtime of their own (kept by the caller while they serve).
    pub(super) fn before_reference(
        time_scale: f64,
        fault: Fault,
    ) -> (
        tokio::runtime::Runtime,
        jobcert_reference::RunningServer,
        Self,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (server, proxy) = runtime.block_on(async {
            let server = crate::common::server(time_scale).await;
            let proxy = Self::start(format!("http://{}", server.data_plane()), fault).await;
            (server, proxy)
        });
        (runtime, server, proxy)
    }

    /// Starts a proxy to the data plane at `upstream` that breaks the rule `fault`.
    pub(super) async fn start(upstream: String, fault: Fault) -> Self {
        let proxy = Arc::new(Proxy {
            upstream,
            client: reqwest::Client::new(),
            fault,
            step_max: step_max(),
            corrupted: Mutex::default(),
            seen: AtomicU64::new(0),
            masked: Mutex::default(),
            running: Mutex::default(),
            ends: Mutex::default(),
            failed: Mutex::default(),
            succeeded: Mutex::default(),
            step_timers: Mutex::default(),
            throttled: Mutex::default(),
            slowed: AtomicU64::new(0),
        });
        let app = axum::Router::new().fallback(handle).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let base = format!("http://{}", listener.local_addr().expect("proxy address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, task }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
