//! A run folder as evidence: `jobcert report verify` accepts a real conformance or fleet run
//! folder as written and names any file changed, removed or added since; `jobcert report diff`
//! names the requirements a run against a broken target newly fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jobcert_contract::Binding;
use jobcert_harness::drive::conformance;
use jobcert_harness::record::LatencyBook;
use jobcert_harness::report::{self, ReportInput};
use jobcert_harness::transport::DataPlane;
use jobcert_harness::verdict::Verdict;
use tokio_util::sync::CancellationToken;

use crate::common::faults::{self, TIME_SCALE};
use crate::common::process::{Process, args, jobcert};
use crate::common::{ScratchExt, root, scratch, server};

/// Longest one `jobcert` command of these tests may take.
const LIMIT: Duration = Duration::from_secs(120);

/// The one run folder under `reports`.
fn run_folder(reports: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(reports)
        .expect("the report folder")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    let [run] = runs.as_slice() else {
        panic!("one run folder expected: {runs:?}");
    };
    run.clone()
}

#[test]
fn verify_accepts_a_run_folder_and_names_each_file_changed_since() {
    let dir = scratch("verify");
    let reports = dir.path().join("reports");
    let ran = Process::spawn_in(
        &args([
            "run".as_ref(),
            "--only".as_ref(),
            "SN-EMPTY".as_ref(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
        ]),
        &root(),
        &dir,
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let run = run_folder(&reports);
    let verify = || {
        jobcert(
            &args(["report", "verify"])
                .into_iter()
                .chain([run.as_os_str().to_owned()])
                .collect::<Vec<_>>(),
            &dir,
            LIMIT,
        )
    };
    let ran = verify();
    assert_eq!(ran.code, Some(0), "{ran}");

    let mut files: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "manifest.json")
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for name in &files {
        let path = run.join(name);
        let original = std::fs::read(&path).unwrap();
        let mut edited = original.clone();
        edited[original.len() / 2] ^= 1;
        std::fs::write(&path, &edited).unwrap();
        let ran = verify();
        assert_eq!(ran.code, Some(1), "{ran}");
        assert!(ran.stdout.contains(&format!("changed: {name}\n")), "{ran}");
        std::fs::write(&path, &original).unwrap();
    }

    std::fs::rename(run.join("junit.xml"), run.join("junit-renamed.xml")).unwrap();
    let ran = verify();
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stdout.contains("missing: junit.xml\n"), "{ran}");
    assert!(ran.stdout.contains("extra: junit-renamed.xml\n"), "{ran}");
}

/// A fleet small enough to finish in a second or two.
const SMALL_FLEET: &str = "\
fleet:
  name: bundle-fleet
  seed: 7
  things: { count: 10, per-job: 10 }
  transport: http
  connect: { rate: 1000 }
  rollout: { jobs-per-thing: 1, rate: 200, start: before }
  behaviour:
    work: { uniform: { min: 1, max: 2 } }
    outcomes: { SUCCEEDED: 1 }
    step-timeout-minutes: 600
  load: { model: closed }
  run: { until: drained, max-duration-s: 20, deadline-ms: 15000 }
  reference: { time-scale: 600 }
";

#[test]
fn a_fleet_run_folder_has_a_manifest_that_verify_checks() {
    let dir = scratch("verify-fleet");
    let scenario = dir.write("fleet.yaml", SMALL_FLEET);
    let reports = dir.path().join("reports");
    let ran = jobcert(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--quiet".as_ref(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    let run = run_folder(&reports);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["kind"], "fleet");
    assert_eq!(manifest["inputs"][0]["role"], "scenario");
    let verify = || {
        jobcert(
            &args(["report", "verify"])
                .into_iter()
                .chain([run.as_os_str().to_owned()])
                .collect::<Vec<_>>(),
            &dir,
            LIMIT,
        )
    };
    assert_eq!(verify().code, Some(0));
    std::fs::write(run.join("latency.hlog"), "edited").unwrap();
    let ran = verify();
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stdout.contains("changed: latency.hlog\n"), "{ran}");
}

/// The data plane at `upstream`, except that every 400 answer arrives as a 500.
struct WrongStatus {
    upstream: String,
    client: reqwest::Client,
}

async fn forward(
    State(proxy): State<Arc<WrongStatus>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = proxy
        .client
        .request(method, format!("{}{path}", proxy.upstream))
        .body(body);
    for (name, value) in headers.iter().filter(|(n, _)| *n != header::HOST) {
        request = request.header(name, value);
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = match answer.status() {
        StatusCode::BAD_REQUEST => StatusCode::INTERNAL_SERVER_ERROR,
        other => other,
    };
    let mut kept = answer.headers().clone();
    kept.remove(header::CONTENT_LENGTH);
    kept.remove(header::TRANSFER_ENCODING);
    let body = answer.bytes().await.unwrap_or_default();
    (status, kept, body).into_response()
}

/// Runs the cases of `SN-STEP-RANGE` against `data` (a reference's data plane or a proxy in
/// front of it) and writes the reports into `dir`, whose name is the run id (names on the target
/// are run-unique); returns the requirements that failed.
async fn run_into(dir: &Path, data: &str, control: &str) -> Vec<String> {
    let run_id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let plan = faults::plan(Binding::Http, &["SN-STEP-RANGE"]);
    let origin = Instant::now();
    let target = faults::target(DataPlane::parse(data).unwrap(), control);
    let settings = faults::settings(run_id, Duration::from_secs(5), origin);
    let cases = conformance::run(&plan, &target, &settings, CancellationToken::new())
        .await
        .cases;
    let (mut record, _) = faults::weigh(
        settings.run_id,
        origin,
        (data.into(), control.into(), "http"),
        cases,
    );
    let mut latency = LatencyBook::default();
    for exchange in record.cases.iter().flat_map(|c| &c.exchanges) {
        latency.record(exchange);
    }
    record.latency = latency;
    let assessment =
        jobcert_harness::verdict::assess(&record, jobcert_harness::finding::Profile::Aws, &[]);
    report::write_all(
        dir,
        &ReportInput {
            run: &record,
            assessment: &assessment,
            rerun_prefix: "jobcert run",
            region: "us-east-1",
        },
    )
    .unwrap();
    assessment
        .coverage
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_names_the_requirements_a_broken_target_newly_fails() {
    let dir = scratch("diff");
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    let reference = server(TIME_SCALE).await;
    let data = format!("http://{}", reference.data_plane());
    let control = format!("http://{}", reference.control_plane());
    assert_eq!(run_into(&old, &data, &control).await, Vec::<String>::new());

    let proxy = Arc::new(WrongStatus {
        upstream: data,
        client: reqwest::Client::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let failing = run_into(&new, &proxy_url, &control).await;
    serving.abort();
    reference.shutdown().await;
    assert!(
        failing.contains(&"WI-ERROR-STATUS".to_string()),
        "{failing:?}"
    );

    let diff = |a: &Path, b: &Path| {
        let argv = args(["report", "diff"])
            .into_iter()
            .chain([a.as_os_str().to_owned(), b.as_os_str().to_owned()])
            .collect::<Vec<_>>();
        jobcert(&argv, dir.path(), LIMIT)
    };
    let ran = tokio::task::block_in_place(|| diff(&old, &new));
    assert_eq!(ran.code, Some(1), "{ran}");
    let newly_failing = ran.stdout.split("newly passing").next().unwrap_or_default();
    for requirement in &failing {
        assert!(
            newly_failing.contains(&format!("  {requirement} (")),
            "{requirement} is not named: {ran}"
        );
    }
    assert!(
        ran.stdout
            .contains("StartNextPendingJobExecution answered: p50"),
        "{ran}"
    );

    let ran = tokio::task::block_in_place(|| diff(&new, &old));
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("newly failing: 0\n"), "{ran}");
    assert!(
        ran.stdout.contains("  WI-ERROR-STATUS (fail → pass)"),
        "{ran}"
    );
}
