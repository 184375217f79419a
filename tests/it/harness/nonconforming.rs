//! The harness against deliberately non-conforming targets. A small proxy sits in front of a
//! real reference server and breaks exactly one rule per [`Fault`]; the real plan (scenarios plus
//! generated negative cases, filtered to the cases that matter) must then fail under the right
//! requirement ID. The same proxy without a fault must pass with zero failures, which also shows
//! that the proxy itself is transparent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jobcert_contract::Binding;
use jobcert_contract::schemas;
use jobcert_harness::drive::conformance;
use jobcert_harness::plan::Plan;
use jobcert_harness::record::RunRecord;
use jobcert_harness::transport::{DataPlane, Outcome};
use jobcert_harness::verdict::{Assessment, Verdict};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rstest::rstest;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::common::faults::{
    self, TIME_SCALE, assert_timeouts_cited, cited, doubled, failures, listing, timed_out,
};

/// Request deadline of an ordinary run.
const DEADLINE: Duration = Duration::from_secs(5);
/// Request deadline of the late-answers run, shorter than [`LATE`].
const SHORT_DEADLINE: Duration = Duration::from_millis(300);
/// How long the late-answers proxy holds back every GetPendingJobExecutions answer.
const LATE: Duration = Duration::from_millis(600);
const ERROR_TYPE: &str = "x-amzn-errortype";
const INVALID_REQUEST: &str = "InvalidRequestException";
const NOT_FOUND: &str = "ResourceNotFoundException";

/// The one rule a proxy breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// None: every exchange passes through unchanged.
    Faithful,
    /// InvalidRequestException is renamed ResourceNotFoundException (header and `__type`).
    WrongErrorType,
    /// InvalidRequestException comes with HTTP 500 instead of 400.
    WrongStatus,
    /// StartNext's stepTimeoutInMinutes above the maximum is clamped to it, not refused.
    LimitNotEnforced,
    /// stepTimeoutInMinutes never reaches the server (StartNext and Update), so no timer runs.
    TimerNeverFires,
    /// StartNext starts the newest QUEUED execution instead of the head.
    WrongNextJob,
    /// Every GetPendingJobExecutions answer arrives after the run's deadline.
    LateAnswers,
    /// Every [`THROTTLE_EVERY`]th data-plane request is answered 429 ThrottlingException (not a
    /// broken rule: a quota kept).
    Throttles,
}

/// One data-plane request in this many is throttled by [`Fault::Throttles`] (2 %).
const THROTTLE_EVERY: u64 = 50;

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
    /// Data-plane requests seen so far.
    seen: AtomicU64,
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

    /// GETs `path` from the reference and parses the JSON body.
    async fn get_json(&self, path: &str) -> Result<Value, reqwest::Error> {
        let r = self
            .client
            .get(format!("{}{path}", self.upstream))
            .send()
            .await?;
        r.json().await
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

/// The proxy's one handler: applies the fault on the way in and on the way out.
async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    mut body: Bytes,
) -> Answer {
    let op = classify(&method, uri.path());
    match (proxy.fault, op) {
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
        (Fault::Throttles, Some(_))
            if (proxy.seen.fetch_add(1, Ordering::Relaxed) + 1) % THROTTLE_EVERY == 0 =>
        {
            return Answer::throttled();
        }
        _ => {}
    }
    let mut answer = proxy.forward(method, &uri, &headers, body).await;
    match proxy.fault {
        Fault::WrongErrorType => answer.retype(),
        Fault::WrongStatus if answer.error_type() == Some(INVALID_REQUEST) => {
            answer.status = StatusCode::INTERNAL_SERVER_ERROR;
        }
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
struct RunningProxy {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl RunningProxy {
    /// Starts a proxy to the data plane at `upstream` that breaks the rule `fault`.
    async fn start(upstream: String, fault: Fault) -> Self {
        let proxy = Arc::new(Proxy {
            upstream,
            client: reqwest::Client::new(),
            fault,
            step_max: step_max(),
            seen: AtomicU64::new(0),
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

/// The real plan over HTTP, keeping only the cases that carry one of `only`.
fn plan(only: &[&str]) -> Plan {
    faults::plan(Binding::Http, only)
}

/// Runs `plan` through a proxy with `fault` in front of a fresh reference server, with request
/// deadline `deadline`, and weighs the findings under the AWS profile.
async fn run_through(fault: Fault, plan: &Plan, deadline: Duration) -> (RunRecord, Assessment) {
    let server = common::server(TIME_SCALE).await;
    let proxy = RunningProxy::start(format!("http://{}", server.data_plane()), fault).await;
    let control = format!("http://{}", server.control_plane());
    let origin = Instant::now();
    let data = DataPlane::parse(&proxy.base).expect("the proxy's URL");
    let target = faults::target(data, &control);
    let settings = faults::settings(format!("{fault:?}").to_lowercase(), deadline, origin);
    let cases = conformance::run(plan, &target, &settings, CancellationToken::new()).await;
    let proxy_base = proxy.base.clone();
    drop(proxy);
    server.shutdown().await;
    faults::weigh(
        settings.run_id,
        origin,
        (proxy_base, control, "http"),
        cases,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_behind_a_faithful_proxy_has_no_failure() {
    let (_, assessment) = run_through(Fault::Faithful, &plan(&[]), DEADLINE).await;
    let failed = failures(&assessment);
    assert!(failed.is_empty(), "failures:\n{}", listing(&failed));
    assert_eq!(assessment.totals.aborted, 0);
    assert!(assessment.totals.checks > 0);
    assert!(assessment.passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_checked_never_failed() {
    let (record, assessment) = run_through(Fault::Throttles, &plan(&[]), DEADLINE).await;
    faults::assert_clean(&assessment, "a target throttling 2 % of requests");
    let throttled = record
        .cases
        .iter()
        .flat_map(|c| &c.exchanges)
        .filter(|e| matches!(&e.outcome, Outcome::Answered(r) if r.status == 429))
        .count();
    assert!(throttled > 0, "no request was throttled");
    let row = assessment
        .coverage
        .iter()
        .find(|c| c.id == "SN-THROTTLING")
        .expect("SN-THROTTLING is in the coverage matrix");
    assert_eq!(row.verdict, Verdict::Pass, "{row:?}");
    assert_eq!(row.checks, throttled);
}

#[rstest]
#[case::wrong_error_type(Fault::WrongErrorType, &["SN-STEP-RANGE", "SN-THING-NAME"], &["SN-STEP-RANGE", "SN-THING-NAME"])]
#[case::wrong_status(Fault::WrongStatus, &["SN-STEP-RANGE"], &["WI-ERROR-STATUS"])]
#[case::limit_not_enforced(Fault::LimitNotEnforced, &["SN-STEP-RANGE"], &["SN-STEP-RANGE"])]
#[case::timer_never_fires(Fault::TimerNeverFires, &["timers"], &["TM-STEP-EXPIRY"])]
#[case::wrong_next_job(Fault::WrongNextJob, &["SN-NEXT-ORDER"], &["SN-NEXT-ORDER"])]
#[case::late_answers(Fault::LateAnswers, &["GP-LISTS"], &["WI-ANSWER"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_fails_under_its_requirement(
    #[case] fault: Fault,
    #[case] only: &[&str],
    #[case] expected: &[&str],
) {
    let deadline = if fault == Fault::LateAnswers {
        SHORT_DEADLINE
    } else {
        DEADLINE
    };
    let plan = plan(only);
    let (_, control) = run_through(Fault::Faithful, &plan, deadline).await;
    let control = failures(&control);
    assert!(
        control.is_empty(),
        "the same cases fail without the fault:\n{}",
        listing(&control)
    );
    let (_, assessment) = run_through(fault, &plan, deadline).await;
    let failed = failures(&assessment);
    let cited = cited(&failed);
    for id in expected {
        assert!(
            cited.contains(id),
            "{fault:?} should fail {id}; failures:\n{}",
            listing(&failed)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_is_a_timeout_not_a_wrong_answer() {
    let (record, assessment) =
        run_through(Fault::LateAnswers, &plan(&["GP-LISTS"]), SHORT_DEADLINE).await;
    assert_timeouts_cited(
        &record,
        &assessment,
        "GetPendingJobExecutions",
        SHORT_DEADLINE,
    );
}

/// A timeout is reported as a timeout (WI-ANSWER) only, not also as a wrong answer under the
/// step's explicit expectations (here GP-LISTS: "inProgressJobs: expected []").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_reported_only_as_a_timeout() {
    let (record, assessment) =
        run_through(Fault::LateAnswers, &plan(&["GP-LISTS"]), SHORT_DEADLINE).await;
    assert!(!timed_out(&record).is_empty(), "nothing timed out");
    let doubled = doubled(&record, &assessment);
    assert!(
        doubled.is_empty(),
        "timeouts also failed as wrong answers:\n{}",
        listing(&doubled)
    );
}
