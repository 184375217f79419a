//! Step and in-progress timers of the reference server on a fast virtual clock
//! (`--time-scale 600`: one minute passes in 0.1 s of real time).

use std::time::{Duration, Instant};

use crate::common::{call, create_job, create_thing, server};
use jobcert_contract::execution_model;
use jobcert_reference::RunningServer;
use serde_json::{Value, json};

const SCALE: f64 = 600.0;

/// Real time for `minutes` virtual minutes.
fn real(minutes: f64) -> Duration {
    Duration::from_secs_f64(minutes * 60.0 / SCALE)
}

async fn seeded(jobs: &[(&str, Value)]) -> RunningServer {
    let s = server(SCALE).await;
    create_thing(&s, "dev-1").await;
    for (id, extra) in jobs {
        create_job(&s, id, &["dev-1"], extra.clone()).await;
    }
    s
}

async fn describe(s: &RunningServer, job: &str) -> Value {
    let (status, _, body) = call(s, "GET", &format!("/things/dev-1/jobs/{job}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["execution"].clone()
}

/// Polls Describe until the execution leaves IN_PROGRESS, for at most `limit` of real time.
async fn wait_until_finished(s: &RunningServer, job: &str, limit: Duration) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let e = describe(s, job).await;
        if e["status"] != "IN_PROGRESS" || start.elapsed() > limit {
            return (e, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn slack_seconds() -> i64 {
    execution_model().timers.expiry_slack_seconds
}

#[tokio::test]
async fn step_timeout_times_out_within_the_documented_slack() {
    let s = seeded(&[("j1", json!({}))]).await;
    let (_, _, started) = call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":1}"#),
    )
    .await;
    let started = &started["execution"];
    let left = started["approximateSecondsBeforeTimedOut"]
        .as_i64()
        .expect("timer running");
    assert!(
        (59..=60).contains(&left),
        "approximateSecondsBeforeTimedOut {left}"
    );

    let (e, waited) = wait_until_finished(&s, "j1", real(10.0)).await;
    assert_eq!(e["status"], "TIMED_OUT", "after {waited:?}: {e}");
    assert!(
        waited + Duration::from_millis(20) >= real(1.0),
        "timed out early, after {waited:?}"
    );
    let lateness =
        e["lastUpdatedAt"].as_i64().unwrap() - started["startedAt"].as_i64().unwrap() - 60;
    assert!(
        (0..=slack_seconds()).contains(&lateness),
        "TIMED_OUT {lateness} s after the deadline"
    );
    assert!(
        e.get("approximateSecondsBeforeTimedOut").is_none(),
        "no timer runs once terminal"
    );
    assert_eq!(
        e["versionNumber"],
        started["versionNumber"].as_i64().unwrap() + 1
    );

    let (_, _, pending) = call(&s, "GET", "/things/dev-1/jobs", None).await;
    assert_eq!(pending, json!({"inProgressJobs": [], "queuedJobs": []}));
    let (status, error, _) = call(
        &s,
        "POST",
        "/things/dev-1/jobs/j1",
        Some(r#"{"status":"SUCCEEDED"}"#),
    )
    .await;
    assert_eq!(
        (status, error.as_deref()),
        (409, Some("InvalidStateTransitionException"))
    );
}

#[tokio::test]
async fn timers_fire_without_any_read() {
    let s = seeded(&[("j1", json!({}))]).await;
    call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":1}"#),
    )
    .await;
    assert_eq!(s.engine().timers().len(), 1);
    let start = Instant::now();
    while !s.engine().timers().is_empty() && start.elapsed() < real(20.0) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        s.engine().timers().is_empty(),
        "the timer task consumed the deadline"
    );
    assert_eq!(describe(&s, "j1").await["status"], "TIMED_OUT");
}

#[tokio::test]
async fn a_new_step_timeout_replaces_the_old_one() {
    // The first timer is long (3 s of real time), so the update always lands before it; the
    // verdict is read from the target's own timestamps, not from how fast this machine is.
    let s = seeded(&[("j1", json!({}))]).await;
    call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":30}"#),
    )
    .await;
    let (status, _, body) = call(
        &s,
        "POST",
        "/things/dev-1/jobs/j1",
        Some(
            r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":3,"includeJobExecutionState":true}"#,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let e = describe(&s, "j1").await;
    let updated_at = e["lastUpdatedAt"].as_i64().unwrap();
    if e["status"] == "IN_PROGRESS" {
        let left = e["approximateSecondsBeforeTimedOut"].as_i64().unwrap();
        assert!(
            left <= 3 * 60 && left > 0,
            "the 30-minute timer was replaced by the 3-minute one, got {left} s left"
        );
    }
    let (e, _) = wait_until_finished(&s, "j1", real(20.0)).await;
    assert_eq!(e["status"], "TIMED_OUT");
    let lateness = e["lastUpdatedAt"].as_i64().unwrap() - updated_at - 3 * 60;
    assert!(
        (0..=slack_seconds()).contains(&lateness),
        "fired {lateness} s after the new deadline"
    );
}

#[tokio::test]
async fn minus_one_cancels_the_step_timer() {
    // A long first timer (3 s of real time) so the update always lands before it; the wait
    // afterwards passes its deadline and slack in the target's time whatever the load.
    let s = seeded(&[("j1", json!({}))]).await;
    call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":30}"#),
    )
    .await;
    let (status, _, body) = call(
        &s,
        "POST",
        "/things/dev-1/jobs/j1",
        Some(r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":-1}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        describe(&s, "j1")
            .await
            .get("approximateSecondsBeforeTimedOut")
            .is_none()
    );
    tokio::time::sleep(real(31.0 + slack_seconds() as f64 / 60.0)).await;
    assert_eq!(describe(&s, "j1").await["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn the_in_progress_timeout_caps_the_step_timer() {
    let s = seeded(&[(
        "j1",
        json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 2}}),
    )])
    .await;
    let (_, _, started) = call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":10}"#),
    )
    .await;
    let started = &started["execution"];
    let left = started["approximateSecondsBeforeTimedOut"]
        .as_i64()
        .unwrap();
    assert!(
        (119..=120).contains(&left),
        "capped at the 2-minute in-progress timer, got {left}"
    );
    let (e, _) = wait_until_finished(&s, "j1", real(30.0)).await;
    assert_eq!(e["status"], "TIMED_OUT");
    let lateness =
        e["lastUpdatedAt"].as_i64().unwrap() - started["startedAt"].as_i64().unwrap() - 120;
    assert!(
        (0..=slack_seconds()).contains(&lateness),
        "fired {lateness} s after the in-progress deadline"
    );
}

#[tokio::test]
async fn the_in_progress_timeout_alone_times_out() {
    let s = seeded(&[(
        "j1",
        json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 1}}),
    )])
    .await;
    let (status, _, _) = call(
        &s,
        "POST",
        "/things/dev-1/jobs/j1",
        Some(r#"{"status":"IN_PROGRESS"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (e, _) = wait_until_finished(&s, "j1", real(20.0)).await;
    assert_eq!(e["status"], "TIMED_OUT");
}

#[tokio::test]
async fn a_timed_out_execution_is_retried_when_the_job_says_so() {
    let retry = json!({"jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1}]}});
    let s = seeded(&[("j1", retry)]).await;
    call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":1}"#),
    )
    .await;
    let (e, _) = wait_until_finished(&s, "j1", real(20.0)).await;
    assert_eq!(
        e["status"], "QUEUED",
        "the latest execution is the retry: {e}"
    );
    assert_eq!(e["executionNumber"], 2);
    let (_, _, first) = call(&s, "GET", "/things/dev-1/jobs/j1?executionNumber=1", None).await;
    assert_eq!(first["execution"]["status"], "TIMED_OUT");

    // The retry times out too, and no second retry follows.
    call(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"stepTimeoutInMinutes":1}"#),
    )
    .await;
    let (e, _) = wait_until_finished(&s, "j1", real(20.0)).await;
    assert_eq!(
        (e["status"].as_str(), e["executionNumber"].as_i64()),
        (Some("TIMED_OUT"), Some(2))
    );
}
