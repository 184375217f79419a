//! The bounds on state (`state` in `schemas/limits/aws-<date>.json`): CreateJob past the
//! active-jobs limit is LimitExceededException and costs the server no memory, a job that
//! completes or is canceled frees its place, a thing forgets its oldest terminal execution past
//! its bound, and a statusDetails map past its bounds is InvalidRequestException (over MQTT,
//! `InvalidRequest`: `mqtt::replies`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use jobcert_contract::{ErrorKind, Limits, StateLimit, error_status};
use jobcert_reference::engine::{EngineSettings, StateBounds};
use jobcert_reference::{RunningServer, ServeConfig};
use rstest::rstest;
use serde_json::{Value, json};

use crate::common::process::Serve;
use crate::common::{call, control_url, create_job, create_thing, server_with, thing_arn};

/// CreateJob calls the memory test sends.
const CALLS: usize = 20_000;
/// The call after which the server's resident memory is first read.
const WARM: usize = 2_000;
/// Requests in flight at once.
const IN_FLIGHT: usize = 16;
/// Growth of resident memory allowed between the two readings: allocator noise, well below
/// what the refused jobs would hold if they were kept (about 1 KiB each).
const SLACK_KIB: u64 = 2 * 1024;

/// The enforced figure of the embedded AWS file's bound `name`.
fn aws_bound(name: &str) -> usize {
    let bound = Limits::aws()
        .state_limit(name)
        .and_then(StateLimit::bound)
        .unwrap_or_else(|| panic!("the AWS limits file enforces {name}"));
    usize::try_from(bound).unwrap()
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// Status and error type of a CreateJob of `job_id` for `thing`.
async fn create(
    client: &reqwest::Client,
    control: &str,
    job_id: &str,
    thing: &str,
    selection: &str,
) -> (u16, Option<String>) {
    let body = json!({
        "targets": [thing_arn(thing)],
        "document": "{\"op\":\"reboot\"}",
        "targetSelection": selection,
    });
    let r = client
        .put(format!("{control}/jobs/{job_id}"))
        .json(&body)
        .send()
        .await
        .expect("CreateJob answered");
    let kind = r
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_string());
    (r.status().as_u16(), kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_create_jobs_for_one_thing_stop_at_the_active_jobs_limit_in_flat_memory() {
    let limit = aws_bound("active-snapshot-jobs");
    let server = Serve::with(&[]);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/things/dev-1", server.control))
        .json(&json!({}))
        .send()
        .await
        .expect("CreateThing");
    assert_eq!(r.status(), 200);
    let accepted = Arc::new(AtomicUsize::new(0));
    let limit_status = error_status(ErrorKind::LimitExceeded);
    let answers = |range: std::ops::Range<usize>| {
        let (client, control, accepted) = (&client, &server.control, accepted.clone());
        futures_util::stream::iter(range)
            .map(move |i| {
                let accepted = accepted.clone();
                async move {
                    match create(client, control, &format!("j-{i}"), "dev-1", "SNAPSHOT").await {
                        (200, _) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        (status, kind) => {
                            assert_eq!(
                                (status, kind.as_deref()),
                                (limit_status, Some("LimitExceededException")),
                                "CreateJob {i}"
                            );
                        }
                    }
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<()>>()
    };
    answers(0..WARM).await;
    let warm = rss_kib(server.id());
    answers(WARM..CALLS).await;
    let done = rss_kib(server.id());
    assert_eq!(accepted.load(Ordering::Relaxed), limit);
    assert!(
        done <= warm + SLACK_KIB,
        "resident memory grew from {warm} KiB at call {WARM} to {done} KiB at call {CALLS}"
    );
}

/// A server holding its accounts to `bounds`.
async fn bounded(bounds: StateBounds) -> RunningServer {
    server_with(ServeConfig {
        engine: EngineSettings {
            bounds,
            ..EngineSettings::default()
        },
        ..ServeConfig::default()
    })
    .await
}

/// Status and error type of a CreateJob on `server`.
async fn create_on(server: &RunningServer, job_id: &str, selection: &str) -> (u16, Option<String>) {
    create(
        &reqwest::Client::new(),
        &control_url(server),
        job_id,
        "dev-1",
        selection,
    )
    .await
}

/// A data-plane POST of `body` to `path`; status and error type.
async fn post(server: &RunningServer, path: &str, body: Value) -> (u16, Option<String>) {
    let (status, kind, _) = call(server, "POST", path, Some(&body.to_string())).await;
    (status, kind)
}

fn limited() -> (u16, Option<String>) {
    (
        error_status(ErrorKind::LimitExceeded),
        Some("LimitExceededException".into()),
    )
}

#[tokio::test]
async fn a_job_that_completes_or_is_canceled_frees_its_place_and_each_kind_has_its_own() {
    let s = bounded(StateBounds {
        active_snapshot_jobs: Some(2),
        active_continuous_jobs: Some(1),
        ..StateBounds::none()
    })
    .await;
    create_thing(&s, "dev-1").await;
    let ok = (200, None);
    assert_eq!(create_on(&s, "a", "SNAPSHOT").await, ok);
    assert_eq!(create_on(&s, "b", "SNAPSHOT").await, ok);
    assert_eq!(create_on(&s, "c", "SNAPSHOT").await, limited());
    assert_eq!(create_on(&s, "k", "CONTINUOUS").await, ok);
    assert_eq!(create_on(&s, "k2", "CONTINUOUS").await, limited());
    // `a` completes once its only execution succeeds, though nobody described it.
    assert_eq!(
        post(&s, "/things/dev-1/jobs/a", json!({"status": "SUCCEEDED"})).await,
        ok
    );
    assert_eq!(create_on(&s, "c", "SNAPSHOT").await, ok);
    assert_eq!(create_on(&s, "d", "SNAPSHOT").await, limited());
    let r = reqwest::Client::new()
        .put(format!("{}/jobs/b/cancel", control_url(&s)))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(create_on(&s, "d", "SNAPSHOT").await, ok);
}

#[tokio::test]
async fn a_thing_past_its_bound_forgets_its_oldest_terminal_execution_and_its_job_still_counts_it()
{
    let s = bounded(StateBounds {
        executions_per_thing: Some(3),
        ..StateBounds::none()
    })
    .await;
    create_thing(&s, "dev-1").await;
    for id in ["a", "b", "c"] {
        create_job(&s, id, &["dev-1"], json!({})).await;
    }
    for id in ["a", "b"] {
        let path = format!("/things/dev-1/jobs/{id}");
        assert_eq!(post(&s, &path, json!({"status": "SUCCEEDED"})).await.0, 200);
    }
    create_job(&s, "d", &["dev-1"], json!({})).await;
    let describe = |id: &str| format!("/things/dev-1/jobs/{id}");
    let (status, kind, _) = call(&s, "GET", &describe("a"), None).await;
    assert_eq!(
        (status, kind.as_deref()),
        (404, Some("ResourceNotFoundException")),
        "the oldest terminal execution is forgotten"
    );
    for kept in ["b", "c", "d"] {
        assert_eq!(
            call(&s, "GET", &describe(kept), None).await.0,
            200,
            "{kept}"
        );
    }
    let (status, _, job) = {
        let r = reqwest::Client::new()
            .get(format!("{}/jobs/a", control_url(&s)))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, (), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(job["job"]["status"], "COMPLETED", "{job}");
    assert_eq!(
        job["job"]["jobProcessDetails"]["numberOfSucceededThings"], 1,
        "{job}"
    );
    // Non-terminal executions are never forgotten.
    create_job(&s, "e", &["dev-1"], json!({})).await;
    for pending in ["c", "d", "e"] {
        assert_eq!(
            call(&s, "GET", &describe(pending), None).await.0,
            200,
            "{pending}"
        );
    }
}

/// A statusDetails map of `entries` pairs, whose keys and values hold `bytes` in all
/// (`bytes` ≥ 6 × `entries`; the values take up what the four-character keys leave).
pub(crate) fn details(entries: usize, bytes: usize) -> Value {
    let keys = 4 * entries;
    let values = bytes - keys;
    let (each, extra) = (values / entries, values % entries);
    let map: serde_json::Map<String, Value> = (0..entries)
        .map(|i| {
            let len = each + usize::from(i < extra);
            (format!("k{i:03x}"), Value::String("v".repeat(len)))
        })
        .collect();
    Value::Object(map)
}

/// The bounds of the AWS file on statusDetails: pairs, and bytes of keys and values.
pub(crate) fn details_bounds() -> (usize, usize) {
    (
        aws_bound("status-details-entries"),
        aws_bound("status-details-size"),
    )
}

#[rstest]
#[case::at_the_entry_bound(|entries, _| details(entries, 6 * entries), true)]
#[case::one_entry_past_it(|entries, _| details(entries + 1, 6 * (entries + 1)), false)]
#[case::at_the_size_bound(|_, bytes| details(64, bytes), true)]
#[case::one_byte_past_it(|_, bytes| details(64, bytes + 1), false)]
#[tokio::test]
async fn status_details_past_their_bounds_are_an_invalid_request_over_http(
    #[case] map: fn(usize, usize) -> Value,
    #[case] accepted: bool,
) {
    let (entries, bytes) = details_bounds();
    let s = bounded(StateBounds::default()).await;
    create_thing(&s, "dev-1").await;
    create_job(&s, "a", &["dev-1"], json!({})).await;
    let body = json!({"status": "IN_PROGRESS", "statusDetails": map(entries, bytes)});
    let (status, kind) = post(&s, "/things/dev-1/jobs/a", body).await;
    if accepted {
        assert_eq!(status, 200, "{kind:?}");
    } else {
        assert_eq!(
            (status, kind.as_deref()),
            (
                error_status(ErrorKind::InvalidRequest),
                Some("InvalidRequestException")
            )
        );
        // A refusal changes nothing.
        let (_, _, v) = call(&s, "GET", "/things/dev-1/jobs/a", None).await;
        assert_eq!(v["execution"]["status"], "QUEUED", "{v}");
    }
}
