//! A target that is conformant but answers differently from the reference wherever the contract
//! leaves room must pass under the aws profile, and fail under strict naming exactly the §7
//! items it departs on. The target is `jobcert serve` behind a proxy that:
//! - refuses every DescribeJobExecution of a terminal execution (not `$next`) with 410
//!   TerminalStateException instead of describing it (§7.6);
//! - refuses an update with a stale expectedVersion with 400 InvalidRequestException instead of
//!   409 (§7.3), keeping 409 for every other refused transition;
//! - throttles one data-plane request in [`THROTTLE_EVERY`] with 429 ThrottlingException;
//! - delays every data-plane answer by [`DELAY`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use jobcert_contract::{NEXT_EXECUTION, Status, execution_model};
use serde_json::{Value, json};

use crate::common::process::{Ran, Serve, args, jobcert};
use crate::common::report::run_summary;
use crate::common::{root, scratch};

/// Clock speed of the reference: slow enough that [`DELAY`] (24 s of target time) stays well
/// inside the timer cases' margins.
const TIME_SCALE: f64 = 120.0;
/// How long every data-plane answer is held back.
const DELAY: Duration = Duration::from_millis(200);
/// One data-plane request in this many is throttled (2 %).
const THROTTLE_EVERY: u64 = 50;
/// Longest a whole run may take.
const RUN_LIMIT: Duration = Duration::from_secs(240);
const ERROR_TYPE: &str = "x-amzn-errortype";

struct Proxy {
    client: reqwest::Client,
    upstream: String,
    seen: AtomicU64,
}

/// An error as the reference formats one: status, `x-amzn-ErrorType` and `{__type, message}`.
fn error(status: StatusCode, type_name: &'static str, message: &str) -> Response {
    let body = json!({ "__type": type_name, "message": message });
    Response::builder()
        .status(status)
        .header(ERROR_TYPE, HeaderValue::from_static(type_name))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("an error response")
}

/// The job label of a describe (`GET /things/T/jobs/J`), unless it names `$next`.
fn described_job(method: &Method, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["things", _, "jobs", job])
            if *job != NEXT_EXECUTION && !job.eq_ignore_ascii_case("%24next") =>
        {
            Some((*job).to_string())
        }
        _ => None,
    }
}

/// Whether `body` describes an execution in a terminal status.
fn terminal(body: &Value) -> bool {
    serde_json::from_value::<Status>(body["execution"]["status"].clone())
        .is_ok_and(|s| execution_model().is_terminal(s))
}

/// Whether a 409 answer to an update that sent `request` refuses it for its expectedVersion:
/// the request named a version and the execution is at another one.
fn version_mismatch(request: &Bytes, answer: &Value) -> bool {
    let sent = serde_json::from_slice::<Value>(request)
        .ok()
        .and_then(|r| r.get("expectedVersion").cloned());
    let stored = &answer["executionState"]["versionNumber"];
    sent.is_some_and(|v| v.as_i64().is_none_or(|v| Some(v) != stored.as_i64()))
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = proxy.seen.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::time::sleep(DELAY).await;
    if n % THROTTLE_EVERY == 0 {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
        );
    }
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = proxy
        .client
        .request(method.clone(), format!("{}{target}", proxy.upstream));
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let answer = request
        .body(body.clone())
        .send()
        .await
        .expect("the reference answers");
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status == StatusCode::OK && described_job(&method, uri.path()).is_some() && terminal(&json) {
        return error(
            StatusCode::GONE,
            "TerminalStateException",
            "the job execution is in a terminal state",
        );
    }
    if method == Method::POST && status == StatusCode::CONFLICT && version_mismatch(&body, &json) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
            "expectedVersion does not match",
        );
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &answer_headers {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).expect("a response")
}

/// Serves the proxy in front of `upstream` on a free loopback port; returns its base URL, its
/// state (to count requests) and its task.
async fn different_target(upstream: String) -> (String, Arc<Proxy>, tokio::task::JoinHandle<()>) {
    let proxy = Arc::new(Proxy {
        client: reqwest::Client::new(),
        upstream,
        seen: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&proxy));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the proxy binds");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, proxy, task)
}

/// Runs every HTTP case of the main job against `target` under `profile`; the run's output and
/// its summary.
async fn run(target: &str, control: &str, profile: &str) -> (Ran, Value, Duration) {
    let dir = scratch(&format!("conformant-different-{profile}"));
    let words = [
        "run".to_string(),
        root().join("scenarios/conformance").display().to_string(),
        "--target".into(),
        target.into(),
        "--control".into(),
        control.into(),
        "--target-time-scale".into(),
        TIME_SCALE.to_string(),
        "--profile".into(),
        profile.into(),
        "--concurrency".into(),
        "16".into(),
    ];
    let cwd = dir.path().to_path_buf();
    let started = Instant::now();
    let ran = tokio::task::spawn_blocking(move || jobcert(&args(&words), cwd, RUN_LIMIT))
        .await
        .expect("the run's thread");
    let took = started.elapsed();
    let summary = run_summary(&dir.path().join("reports"));
    (ran, summary, took)
}

/// Every problem of `severity` in a summary, one a line, for a failed assertion.
fn problems(summary: &Value, severity: &str) -> String {
    summary["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .flat_map(|c| {
            c["problems"]
                .as_array()
                .expect("problems")
                .iter()
                .filter(|p| p["severity"] == severity)
                .map(move |p| format!("{}: {} {}", c["id"], p["requirement"], p["message"]))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The requirement IDs of every problem of `severity` in a summary.
fn cited(summary: &Value, severity: &str) -> BTreeSet<String> {
    summary["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .flat_map(|c| c["problems"].as_array().expect("problems"))
        .filter(|p| p["severity"] == severity)
        .map(|p| p["requirement"].as_str().expect("an ID").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conformant_but_different_target_passes_under_aws_and_fails_only_strict_items() {
    let mut serve = Serve::start(TIME_SCALE);
    let (target, proxy, task) = different_target(serve.data.clone()).await;

    let (ran, summary, took) = run(&target, &serve.control, "aws").await;
    eprintln!("aws run against the different target: {took:?}");
    assert_eq!(
        ran.code,
        Some(0),
        "exit 0 under aws: {ran}\n{}",
        problems(&summary, "failure")
    );
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
    let warned = cited(&summary, "warning");
    for item in ["DE-TERMINAL-DESCRIBED", "UP-EXPECTED-VERSION-TYPE"] {
        assert!(warned.contains(item), "{item} warns under aws: {warned:?}");
    }
    let warnings = problems(&summary, "warning");
    assert!(
        warnings.contains("410 TerminalStateException instead of the §7.6 default"),
        "a warning says what came back and which section allows it:\n{warnings}"
    );
    let throttled = proxy.seen.load(Ordering::Relaxed) / THROTTLE_EVERY;
    assert!(throttled > 0, "no request was throttled");
    eprintln!("{throttled} requests throttled");

    let (ran, summary, took) = run(&target, &serve.control, "strict").await;
    eprintln!("strict run against the different target: {took:?}");
    assert_eq!(
        ran.code,
        Some(1),
        "the same target fails under strict: {ran}"
    );
    let failed = cited(&summary, "failure");
    let items: BTreeSet<String> = ["DE-TERMINAL-DESCRIBED", "UP-EXPECTED-VERSION-TYPE"]
        .map(str::to_string)
        .into();
    assert_eq!(
        failed,
        items,
        "strict fails exactly the §7 items: {ran}\n{}",
        problems(&summary, "failure")
    );
    task.abort();
    serve.terminate();
}
