//! Quotas and injected faults over real sockets: a budget lets through exactly its burst on a
//! virtual clock that barely moves, and refuses the rest with 429 ThrottlingException; a faults
//! file answers 503 ServiceUnavailableException on the operation it names and no other, drops a
//! connection without an answer, and picks a request on purpose by its thing's name.

use std::time::Duration;

use jobcert_contract::{Limits, Plane};
use jobcert_reference::admission::Faults;
use jobcert_reference::{RunningServer, ServeConfig};
use serde_json::json;

use crate::common::{call, create_job, create_thing, server_with};

/// A clock this slow keeps a budget from refilling while a test runs (a day takes 27 years).
const FROZEN: f64 = 1e-6;

/// Budgets of `write` and `read` requests, refilled at one a second, and an unenforced one.
fn limits(write: u32, read: u32) -> Limits {
    let source = json!({"url": "https://example.com/quotas", "read": "2026-12-03", "note": "test"});
    Limits::parse(
        &json!({
            "service": "test",
            "read": "2026-12-03",
            "buckets": [
                {"name": "write", "plane": "data", "perSecond": 1, "burst": write, "source": source,
                 "operations": ["StartNextPendingJobExecution", "UpdateJobExecution"]},
                {"name": "read", "plane": "data", "perSecond": 1, "burst": read, "source": source,
                 "operations": ["DescribeJobExecution", "GetPendingJobExecutions"]},
                {"name": "create-job", "plane": "control", "perSecond": null, "burst": null,
                 "source": source, "operations": ["CreateJob"]}
            ]
        })
        .to_string(),
    )
    .expect("a valid limits file")
}

async fn serving(quotas: Option<Limits>, faults: Option<&str>) -> RunningServer {
    let s = server_with(ServeConfig {
        time_scale: FROZEN,
        quotas,
        faults: faults.map(|f| Faults::parse(f).expect("a valid faults file")),
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        ..ServeConfig::default()
    })
    .await;
    create_thing(&s, "dev-1").await;
    create_thing(&s, "dev-1-outage").await;
    create_job(&s, "j1", &["dev-1", "dev-1-outage"], json!({})).await;
    s
}

/// Statuses and error types of `n` calls of `method path`.
async fn statuses(
    s: &RunningServer,
    n: usize,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Vec<(u16, Option<String>)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (status, error, _) = call(s, method, path, body).await;
        out.push((status, error));
    }
    out
}

fn ok(n: usize) -> Vec<(u16, Option<String>)> {
    vec![(200, None); n]
}

fn refused(n: usize, status: u16, error: &str) -> Vec<(u16, Option<String>)> {
    vec![(status, Some(error.to_string())); n]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_lets_exactly_its_burst_through_then_throttles() {
    let s = serving(Some(limits(5, 3)), None).await;
    // StartNext and Update share the write budget: 3 + 2 = 5 go through, the next are refused.
    let mut writes = statuses(&s, 3, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    writes.extend(
        statuses(
            &s,
            4,
            "POST",
            "/things/dev-1/jobs/j1",
            Some(r#"{"status":"IN_PROGRESS"}"#),
        )
        .await,
    );
    let mut expected = ok(5);
    expected.extend(refused(2, 429, "ThrottlingException"));
    assert_eq!(writes, expected);
    // The read budget is apart: Describe and GetPending share its 3.
    let mut reads = statuses(&s, 2, "GET", "/things/dev-1/jobs/j1", None).await;
    reads.extend(statuses(&s, 2, "GET", "/things/dev-1/jobs", None).await);
    let mut expected = ok(3);
    expected.extend(refused(1, 429, "ThrottlingException"));
    assert_eq!(reads, expected);
    // The answer is the modelled shape (spec §2.4), and an unenforced budget limits nothing.
    let (_, _, body) = call(&s, "GET", "/things/dev-1/jobs", None).await;
    assert_eq!(body["__type"], "ThrottlingException", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    for i in 0..10 {
        create_job(&s, &format!("more-{i}"), &["dev-1"], json!({})).await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quotas_nothing_is_throttled() {
    let s = serving(None, None).await;
    assert_eq!(
        statuses(&s, 20, "GET", "/things/dev-1/jobs", None).await,
        ok(20)
    );
    s.shutdown().await;
}

const UNAVAILABLE_START_NEXT: &str =
    "rules: [{operations: [StartNextPendingJobExecution], fault: unavailable}]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_share_of_503_hits_exactly_its_operation() {
    let s = serving(None, Some(UNAVAILABLE_START_NEXT)).await;
    assert_eq!(
        statuses(&s, 3, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await,
        refused(3, 503, "ServiceUnavailableException")
    );
    let (_, _, body) = call(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    assert_eq!(body["__type"], "ServiceUnavailableException", "{body}");
    assert_eq!(
        statuses(&s, 3, "GET", "/things/dev-1/jobs", None).await,
        ok(3)
    );
    assert_eq!(
        statuses(
            &s,
            1,
            "POST",
            "/things/dev-1/jobs/j1",
            Some(r#"{"status":"IN_PROGRESS"}"#)
        )
        .await,
        ok(1)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thing_pattern_faults_only_the_things_it_names() {
    let faults =
        "rules: [{operations: [GetPendingJobExecutions], fault: unavailable, things: '*-outage'}]";
    let s = serving(None, Some(faults)).await;
    assert_eq!(
        statuses(&s, 2, "GET", "/things/dev-1-outage/jobs", None).await,
        refused(2, 503, "ServiceUnavailableException")
    );
    assert_eq!(
        statuses(&s, 2, "GET", "/things/dev-1/jobs", None).await,
        ok(2)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_gets_no_answer_and_the_server_carries_on() {
    let faults = "rules: [{operations: [DescribeJobExecution], fault: drop}]";
    let s = serving(None, Some(faults)).await;
    let url = format!("{}/things/dev-1/jobs/j1", crate::common::data_url(&s));
    let client = reqwest::Client::new();
    let dropped = tokio::time::timeout(Duration::from_secs(5), client.get(&url).send())
        .await
        .expect("a drop ends the request at once, not at a timeout");
    let error = dropped.expect_err("no answer");
    assert!(!error.is_timeout(), "{error}");
    assert_eq!(
        statuses(&s, 2, "GET", "/things/dev-1/jobs", None).await,
        ok(2)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_holds_the_answer_for_its_virtual_time() {
    // 200 virtual ms at a time scale of 1 is 200 real ms.
    let faults = "rules: [{operations: [GetPendingJobExecutions], fault: delay, delayMs: 200}]";
    let s = server_with(ServeConfig {
        faults: Some(Faults::parse(faults).unwrap()),
        ..ServeConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    let (status, _, _) = call(&s, "GET", "/things/dev-1/jobs", None).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = std::time::Instant::now();
    let (status, _, _) = call(&s, "GET", "/things/dev-1/jobs/j1", None).await;
    assert_eq!(status, 404);
    assert!(started.elapsed() < Duration::from_millis(200));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_aws_figures_are_enforced_to_the_request() {
    let limits = Limits::aws().clone();
    let burst = limits
        .buckets
        .iter()
        .find(|b| b.covers(Plane::Data, "GetPendingJobExecutions"))
        .and_then(|b| b.burst)
        .expect("the AWS file has a read budget") as usize;
    let s = serving(Some(limits), None).await;
    let mut expected = ok(burst);
    expected.extend(refused(1, 429, "ThrottlingException"));
    assert_eq!(
        statuses(&s, burst + 1, "GET", "/things/dev-1/jobs", None).await,
        expected
    );
    s.shutdown().await;
}
