//! Seeding a target that files its things under another account than the run's
//! `--account-id`. The conformance seeder and the fleet rollout target jobs at the thing ARNs
//! CreateThing returned, so such a target is seeded without any flag; when CreateThing returns
//! no `thingArn`, they fall back to the run's own ARNs, and a refusal says so and names the
//! flags to check. A target that answers unsigned requests as another service would (405 with
//! an XML body) is named as one that needs them signed, unless they were.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use jobcert_contract::Binding;
use jobcert_harness::drive::conformance;
use jobcert_harness::plan::Plan;
use jobcert_harness::record::CaseRecord;
use jobcert_harness::transport::{DataPlane, Signer};
use jobcert_reference::engine::{EngineSettings, StateBounds};
use jobcert_reference::{RunningServer, ServeConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::faults::{self, TIME_SCALE, failures, listing};
use crate::common::process::{Serve, args, jobcert};
use crate::common::report::summary;
use crate::common::{ScratchExt, scratch, server_with, thing_arn};

/// An account other than the run's default (`123456789012`).
const OTHER_ACCOUNT: &str = "000000000000";
/// The cases run: enough to create things and jobs, few enough to be quick.
const ONLY: &[&str] = &["SN-NEXT-ORDER"];

/// What a control-plane proxy changes.
#[derive(Clone, Copy)]
enum Change {
    /// Drops `thingArn` from every answer, as a target whose CreateThing names no ARN would.
    Arnless,
    /// Answers a request not signed for the control plane (`iot`) 405 with an XML body, as a
    /// target that picks the service by the signature's scope does when S3 gets it.
    SignedOnly,
    /// Answers every request's first attempt 429 ThrottlingException, as AWS does above its
    /// control-plane quotas.
    ThrottlesFirstAttempts,
}

/// A control-plane proxy that makes one [`Change`].
struct ControlProxy {
    upstream: String,
    client: reqwest::Client,
    change: Change,
    /// The requests throttled once already (method, URI and body).
    throttled: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The scope of a request signed for the control plane.
const CONTROL_SCOPE: &str = "/iot/aws4_request";

async fn forward(
    State(proxy): State<Arc<ControlProxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scoped = headers
        .get(header::AUTHORIZATION)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains(CONTROL_SCOPE));
    if matches!(proxy.change, Change::SignedOnly) && !scoped {
        let mut response = Response::new(Body::from(
            "<?xml version=\"1.0\"?><Error><Code>MethodNotAllowed</Code></Error>",
        ));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    let key = format!("{method} {uri} {}", String::from_utf8_lossy(&body));
    let first = matches!(proxy.change, Change::ThrottlesFirstAttempts)
        && proxy.throttled.lock().expect("throttled set").insert(key);
    if first {
        let mut response = Response::new(Body::from(r#"{"message":"Rate exceeded"}"#));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response.headers_mut().insert(
            "x-amzn-ErrorType",
            header::HeaderValue::from_static("ThrottlingException"),
        );
        return response;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = proxy
        .client
        .request(method, format!("{}{path}", proxy.upstream));
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let (status, answer) = match request.body(body).send().await {
        Ok(r) => (r.status(), r.bytes().await.unwrap_or_default()),
        Err(e) => (StatusCode::BAD_GATEWAY, Bytes::from(e.to_string())),
    };
    let answer = match serde_json::from_slice::<Value>(&answer) {
        Ok(Value::Object(mut body)) if matches!(proxy.change, Change::Arnless) => {
            body.remove("thingArn");
            Bytes::from(Value::Object(body).to_string())
        }
        _ => answer,
    };
    let mut response = Response::new(Body::from(answer));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Starts a proxy dropping `thingArn` from the control plane at `upstream`; its URL and task.
async fn arnless(upstream: String) -> (String, tokio::task::JoinHandle<()>) {
    control_proxy(upstream, Change::Arnless).await
}

/// Starts a proxy making `change` to the control plane at `upstream`; its URL and its task.
async fn control_proxy(upstream: String, change: Change) -> (String, tokio::task::JoinHandle<()>) {
    let proxy = Arc::new(ControlProxy {
        upstream,
        client: reqwest::Client::new(),
        change,
        throttled: std::sync::Mutex::default(),
    });
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy binds");
    let url = format!("http://{}", listener.local_addr().expect("proxy address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// A reference server in this process under `account`.
async fn reference(account: &str) -> RunningServer {
    server_with(ServeConfig {
        time_scale: TIME_SCALE,
        account_id: account.into(),
        ..ServeConfig::default()
    })
    .await
}

/// Runs the [`ONLY`] cases over HTTP against `server`, seeding through the control plane at
/// `control`, with the run's default account, signed by `signer` if given; the case records.
async fn run_against(
    server: &RunningServer,
    control: &str,
    run_id: &str,
    signer: Option<Signer>,
) -> Vec<CaseRecord> {
    run_plan(
        faults::plan(Binding::Http, ONLY),
        server,
        control,
        run_id,
        signer,
    )
    .await
}

/// Runs `plan` as [`run_against`] runs the [`ONLY`] cases.
async fn run_plan(
    plan: Plan,
    server: &RunningServer,
    control: &str,
    run_id: &str,
    signer: Option<Signer>,
) -> Vec<CaseRecord> {
    assert!(
        plan.cases.iter().any(|c| !c.jobs.is_empty()),
        "the plan creates no job"
    );
    let data = DataPlane::parse(&format!("http://{}", server.data_plane())).expect("data URL");
    let target = jobcert_harness::transport::Target {
        signer,
        ..faults::target(data, control)
    };
    assert_eq!(target.account_id, "123456789012");
    let settings = faults::settings(run_id.into(), Duration::from_secs(5), Instant::now());
    conformance::run(&plan, &target, &settings, CancellationToken::new())
        .await
        .cases
}

/// Every case ran to its end, and none failed.
fn assert_clean(cases: Vec<CaseRecord>, run_id: &str) {
    let aborted: Vec<String> = cases
        .iter()
        .filter_map(|c| Some(format!("{}: {}", c.id, c.aborted.as_ref()?)))
        .collect();
    assert!(aborted.is_empty(), "aborted:\n{}", aborted.join("\n"));
    let (_, assessment) = faults::weigh(
        run_id.into(),
        Instant::now(),
        (String::new(), String::new(), "http"),
        cases,
    );
    let failed = failures(&assessment);
    assert!(failed.is_empty(), "failures:\n{}", listing(&failed));
    assert!(assessment.totals.checks > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_under_another_account_needs_no_account_id() {
    let server = reference(OTHER_ACCOUNT).await;
    // The ARN the run's --account-id would make names no thing of this target.
    let control = format!("http://{}", server.control_plane());
    let http = reqwest::Client::new();
    http.post(format!("{control}/things/t-guess"))
        .json(&json!({}))
        .send()
        .await
        .expect("CreateThing");
    let guessed = http
        .put(format!("{control}/jobs/j-guess"))
        .json(&json!({ "targets": [thing_arn("t-guess")], "document": "{}" }))
        .send()
        .await
        .expect("CreateJob");
    assert_eq!(guessed.status(), StatusCode::NOT_FOUND);

    let cases = run_against(&server, &control, "other-account", None).await;
    server.shutdown().await;
    assert_clean(cases, "other-account");
}

/// A throttled control-plane call is retried, as the SDKs' standard mode does, so a target
/// keeping its quota seeds every case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_seeding_call_is_retried() {
    let server = reference(OTHER_ACCOUNT).await;
    let upstream = format!("http://{}", server.control_plane());
    let (control, proxy) = control_proxy(upstream, Change::ThrottlesFirstAttempts).await;
    let cases = run_against(&server, &control, "throttled-control", None).await;
    proxy.abort();
    server.shutdown().await;
    assert_clean(cases, "throttled-control");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_returned_arn_jobs_target_the_runs_own() {
    let server = reference("123456789012").await;
    let (control, proxy) = arnless(format!("http://{}", server.control_plane())).await;
    let cases = run_against(&server, &control, "arnless", None).await;
    proxy.abort();
    server.shutdown().await;
    assert_clean(cases, "arnless");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_returned_arn_a_wrong_account_is_named_as_the_cause() {
    let server = reference(OTHER_ACCOUNT).await;
    let (control, proxy) = arnless(format!("http://{}", server.control_plane())).await;
    let cases = run_against(&server, &control, "arnless-other", None).await;
    proxy.abort();
    server.shutdown().await;
    let reasons: Vec<&str> = cases.iter().filter_map(|c| c.aborted.as_deref()).collect();
    assert!(!reasons.is_empty(), "no case aborted");
    for reason in reasons {
        for part in [
            "CreateJob of job ",
            "arn:aws:iot:us-east-1:123456789012:thing/",
            "CreateThing returned no thingArn",
            "answered 404 ResourceNotFoundException",
            "check --account-id/--region",
        ] {
            assert!(reason.contains(part), "{part:?} missing from: {reason}");
        }
    }
}

/// A reference holding the account to `active` SNAPSHOT jobs in progress at once.
async fn bounded_reference(active: usize) -> RunningServer {
    server_with(ServeConfig {
        time_scale: TIME_SCALE,
        engine: EngineSettings {
            bounds: StateBounds {
                active_snapshot_jobs: Some(active),
                ..StateBounds::default()
            },
            ..EngineSettings::default()
        },
        ..ServeConfig::default()
    })
    .await
}

/// A target whose account holds as many jobs in progress as it may: every case that creates a
/// job stops as a setup error naming the limit, and none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_at_its_active_jobs_limit_is_named_as_the_setup_error() {
    let server = bounded_reference(1).await;
    let control = format!("http://{}", server.control_plane());
    let http = reqwest::Client::new();
    http.post(format!("{control}/things/t-earlier"))
        .json(&json!({}))
        .send()
        .await
        .expect("CreateThing");
    let earlier = http
        .put(format!("{control}/jobs/j-earlier"))
        .json(&json!({ "targets": [thing_arn("t-earlier")], "document": "{}" }))
        .send()
        .await
        .expect("CreateJob");
    assert_eq!(
        earlier.status(),
        StatusCode::OK,
        "a job an earlier run left"
    );
    let cases = run_against(&server, &control, "at-limit", None).await;
    server.shutdown().await;
    let reasons: Vec<&str> = cases.iter().filter_map(|c| c.aborted.as_deref()).collect();
    assert_eq!(reasons.len(), cases.len(), "every case creates a job");
    for reason in reasons {
        for part in [
            "CreateJob of job ",
            "answered 410 LimitExceededException",
            "Likely cause: the target holds as many jobs in progress as the account may",
        ] {
            assert!(reason.contains(part), "{part:?} missing from: {reason}");
        }
    }
    let (_, assessment) = faults::weigh(
        "at-limit".into(),
        Instant::now(),
        (String::new(), String::new(), "http"),
        cases,
    );
    assert!(
        failures(&assessment).is_empty(),
        "a setup error is no failure"
    );
}

/// Each case's jobs are canceled once it is judged, so the whole suite, whose cases create far
/// more jobs in all than the account may hold in progress, seeds every case as long as the
/// cases run at once can hold theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancels_each_cases_jobs_and_so_fits_the_active_jobs_limit() {
    let plan = faults::plan(Binding::Http, &[]);
    let total: usize = plan.cases.iter().map(|c| c.jobs.len()).sum();
    let settings = faults::settings("fits".into(), Duration::from_secs(5), Instant::now());
    let most = plan.cases.iter().map(|c| c.jobs.len()).max().unwrap_or(0);
    let bound = most * settings.concurrency;
    assert!(
        total > bound,
        "{total} jobs in all fit {bound}: the bound proves nothing"
    );
    let server = bounded_reference(bound).await;
    let control = format!("http://{}", server.control_plane());
    let cases = run_plan(plan, &server, &control, "fits", None).await;
    server.shutdown().await;
    assert_clean(cases, "fits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_to_an_unsigned_request_names_signing_and_signed_requests_pass() {
    let server = reference("123456789012").await;
    let (control, proxy) = control_proxy(
        format!("http://{}", server.control_plane()),
        Change::SignedOnly,
    )
    .await;
    let unsigned = run_against(&server, &control, "unsigned", None).await;
    let reasons: Vec<&str> = unsigned
        .iter()
        .filter_map(|c| c.aborted.as_deref())
        .collect();
    assert_eq!(reasons.len(), unsigned.len(), "every case aborts unsigned");
    for reason in reasons {
        for part in [
            "answered 405 (no error type), body <?xml",
            "Likely cause: the requests went out unsigned",
            "405 with an XML body",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(reason.contains(part), "{part:?} missing from: {reason}");
        }
    }
    let signer = Signer::new(
        "AKIDEXAMPLE".into(),
        "SIGNINGSECRET".into(),
        None,
        "us-east-1",
    );
    let signed = run_against(&server, &control, "signed", Some(signer)).await;
    proxy.abort();
    server.shutdown().await;
    assert_clean(signed, "signed");
}

/// A fleet small enough to seed and drain in a few seconds.
const FLEET: &str = "\
fleet:
  name: seeding-other-account
  seed: 7
  things: { count: 20, per-job: 10 }
  transport: http
  connect: { rate: 1000 }
  rollout: { jobs-per-thing: 1, rate: 100, start: before }
  behaviour:
    program: agent
    work: { uniform: { min: 1, max: 2 } }
    outcomes: { SUCCEEDED: 1.0 }
    step-timeout-minutes: 600
  load: { model: closed, think: { exponential: { mean: 1 } } }
  run: { until: drained, max-duration-s: 20, deadline-ms: 5000 }
";

/// `jobcert fleet` of [`FLEET`] against `data` and `control` with the default account; the
/// record of its summary.
fn fleet(data: &str, control: &str, run_id: &str) -> Value {
    let scratch = scratch(run_id);
    let path = scratch.write("fleet.yaml", FLEET);
    let reports = scratch.path().join("reports");
    let ran = jobcert(
        &args([
            OsString::from("fleet"),
            path.into_os_string(),
            "--target".into(),
            data.into(),
            "--control".into(),
            control.into(),
            "--target-time-scale".into(),
            TIME_SCALE.to_string().into(),
            "--run-id".into(),
            run_id.into(),
            "--report-dir".into(),
            reports.clone().into_os_string(),
            "--quiet".into(),
        ]),
        &scratch,
        Duration::from_secs(60),
    );
    let summary = summary(&reports.join(run_id));
    assert!(ran.code.is_some(), "{ran}");
    summary["record"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_rolled_out_at_the_returned_arns_and_else_names_the_cause() {
    let serve = Serve::with(&[
        "--time-scale",
        &TIME_SCALE.to_string(),
        "--account-id",
        OTHER_ACCOUNT,
    ]);
    let (data, control) = (serve.data.clone(), serve.control.clone());
    let (d, c) = (data.clone(), control.clone());
    let record = tokio::task::spawn_blocking(move || fleet(&d, &c, "fleet-other"))
        .await
        .expect("fleet run");
    assert_eq!(record["partial"], false, "{:#}", record["stopped_by"]);
    assert_eq!(record["jobs"], 2, "{record:#}");

    let (arnless_control, proxy) = arnless(control).await;
    let record = tokio::task::spawn_blocking(move || fleet(&data, &arnless_control, "fleet-guess"))
        .await
        .expect("fleet run");
    proxy.abort();
    let stopped_by = record["stopped_by"].as_str().unwrap_or_default();
    for part in [
        "CreateJob of job ",
        "arn:aws:iot:us-east-1:123456789012:thing/",
        "CreateThing returned no thingArn",
        "check --account-id/--region",
    ] {
        assert!(
            stopped_by.contains(part),
            "{part:?} missing from: {stopped_by}"
        );
    }
}
