//! The reference server's state machine over HTTP: "next" ordering, versions, statusDetails,
//! errors with the state they leave, the §7 defaults, and the control-plane seeding operations.

use crate::common;
use crate::common::{call, control_url, create_job, create_thing, server, thing_arn};
use jobcert_reference::RunningServer;
use rstest::rstest;
use serde_json::{Value, json};

async fn thing_with_jobs(jobs: &[&str]) -> RunningServer {
    let s = server(1.0).await;
    create_thing(&s, "dev-1").await;
    for id in jobs {
        create_job(&s, id, &["dev-1"], json!({})).await;
    }
    s
}

async fn ok(s: &RunningServer, method: &str, path: &str, body: Option<&str>) -> Value {
    let (status, error, body) = call(s, method, path, body).await;
    assert_eq!(status, 200, "{method} {path}: {error:?} {body}");
    body
}

async fn update(s: &RunningServer, job: &str, body: Value) -> (u16, Option<String>, Value) {
    call(
        s,
        "POST",
        &format!("/things/dev-1/jobs/{job}"),
        Some(&body.to_string()),
    )
    .await
}

async fn pending(s: &RunningServer) -> Value {
    ok(s, "GET", "/things/dev-1/jobs", None).await
}

#[tokio::test]
async fn next_is_in_progress_first_then_oldest_queued() {
    let s = thing_with_jobs(&["a", "b", "c"]).await;
    let e = ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    assert_eq!(e["execution"]["jobId"], "a");
    // Start c directly: a and c are IN_PROGRESS, b QUEUED; a stays the head (oldest IN_PROGRESS).
    assert_eq!(
        update(&s, "c", json!({"status": "IN_PROGRESS"})).await.0,
        200
    );
    assert_eq!(update(&s, "a", json!({"status": "SUCCEEDED"})).await.0, 200);
    let next = ok(&s, "GET", "/things/dev-1/jobs/%24next", None).await;
    assert_eq!(
        next["execution"]["jobId"], "c",
        "IN_PROGRESS c before QUEUED b"
    );
    let listed = pending(&s).await;
    assert_eq!(listed["inProgressJobs"][0]["jobId"], "c");
    assert_eq!(listed["queuedJobs"][0]["jobId"], "b");
    assert!(listed["queuedJobs"][0].get("startedAt").is_none());
}

#[tokio::test]
async fn start_next_on_an_in_progress_head_changes_nothing() {
    let s = thing_with_jobs(&["a"]).await;
    let first = ok(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"statusDetails":{"k":"1"}}"#),
    )
    .await;
    let again = ok(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"statusDetails":{"k":"2"},"stepTimeoutInMinutes":5}"#),
    )
    .await;
    assert_eq!(first["execution"]["versionNumber"], 2);
    assert_eq!(again["execution"]["versionNumber"], 2, "no version bump");
    assert_eq!(
        again["execution"]["statusDetails"],
        json!({"k": "1"}),
        "details unchanged"
    );
    assert!(
        again["execution"]
            .get("approximateSecondsBeforeTimedOut")
            .is_none(),
        "no step timer started"
    );
}

#[tokio::test]
async fn versions_and_status_details_follow_the_defaults() {
    let s = thing_with_jobs(&["a"]).await;
    let queued = ok(&s, "GET", "/things/dev-1/jobs/a", None).await;
    assert_eq!(queued["execution"]["versionNumber"], 1);
    assert_eq!(queued["execution"]["jobDocument"], "{\"job\":\"a\"}");
    assert!(queued["execution"].get("startedAt").is_none());
    ok(
        &s,
        "PUT",
        "/things/dev-1/jobs/$next",
        Some(r#"{"statusDetails":{"x":"1","y":"2"}}"#),
    )
    .await;
    let (_, _, r) = update(&s, "a", json!({"status": "IN_PROGRESS", "statusDetails": {"z": "3"}, "includeJobExecutionState": true})).await;
    assert_eq!(
        r["executionState"],
        json!({"status": "IN_PROGRESS", "statusDetails": {"z": "3"}, "versionNumber": 3}),
        "replace, not merge"
    );
    let (_, _, r) = update(&s, "a", json!({"status": "IN_PROGRESS", "includeJobExecutionState": true, "includeJobDocument": true})).await;
    assert_eq!(
        r["executionState"]["statusDetails"],
        json!({"z": "3"}),
        "omitted means unchanged"
    );
    assert_eq!(r["jobDocument"], "{\"job\":\"a\"}");
    let (_, _, r) = update(&s, "a", json!({"status": "SUCCEEDED"})).await;
    assert_eq!(r, json!({}), "no state, no document unless asked for");
    let done = ok(
        &s,
        "GET",
        "/things/dev-1/jobs/a?includeJobDocument=false",
        None,
    )
    .await;
    assert_eq!(done["execution"]["status"], "SUCCEEDED");
    assert_eq!(done["execution"]["versionNumber"], 5);
    assert!(done["execution"].get("jobDocument").is_none());
}

#[tokio::test]
async fn refused_updates_report_the_state_and_change_nothing() {
    let s = thing_with_jobs(&["a"]).await;
    ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    let before = ok(&s, "GET", "/things/dev-1/jobs/a", None).await;

    let (status, error, body) = update(
        &s,
        "a",
        json!({"status": "SUCCEEDED", "expectedVersion": 7}),
    )
    .await;
    assert_eq!(
        (status, error.as_deref()),
        (409, Some("InvalidStateTransitionException"))
    );
    assert_eq!(
        body["executionState"],
        json!({"status": "IN_PROGRESS", "versionNumber": 2})
    );
    assert_eq!(ok(&s, "GET", "/things/dev-1/jobs/a", None).await, before);

    let (status, error, _) = update(&s, "a", json!({"status": "QUEUED"})).await;
    assert_eq!(
        (status, error.as_deref()),
        (400, Some("InvalidRequestException")),
        "not device-settable"
    );
    assert_eq!(ok(&s, "GET", "/things/dev-1/jobs/a", None).await, before);

    assert_eq!(
        update(
            &s,
            "a",
            json!({"status": "SUCCEEDED", "expectedVersion": 2})
        )
        .await
        .0,
        200
    );
    let (status, error, body) = update(&s, "a", json!({"status": "IN_PROGRESS"})).await;
    assert_eq!(
        (status, error.as_deref()),
        (409, Some("InvalidStateTransitionException"))
    );
    assert_eq!(body["executionState"]["status"], "SUCCEEDED");
}

#[rstest]
#[case("SUCCEEDED")]
#[case("FAILED")]
#[case("REJECTED")]
#[tokio::test]
async fn a_queued_execution_may_finish_directly(#[case] status: &str) {
    let s = thing_with_jobs(&["a"]).await;
    let (code, _, _) = update(&s, "a", json!({"status": status})).await;
    assert_eq!(code, 200);
    assert_eq!(
        ok(&s, "GET", "/things/dev-1/jobs/a", None).await["execution"]["status"],
        status
    );
}

#[tokio::test]
async fn unknown_things_and_jobs() {
    let s = server(1.0).await;
    assert_eq!(
        ok(&s, "GET", "/things/ghost/jobs", None).await,
        json!({"inProgressJobs": [], "queuedJobs": []})
    );
    assert_eq!(
        ok(&s, "PUT", "/things/ghost/jobs/$next", Some("{}")).await,
        json!({})
    );
    assert_eq!(
        ok(&s, "GET", "/things/ghost/jobs/$next", None).await,
        json!({})
    );
    for (method, body) in [("GET", None), ("POST", Some(r#"{"status":"SUCCEEDED"}"#))] {
        let (status, error, body) = call(&s, method, "/things/ghost/jobs/nojob", body).await;
        assert_eq!(
            (status, error.as_deref()),
            (404, Some("ResourceNotFoundException")),
            "{method}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn nothing_pending_gives_empty_answers() {
    let s = thing_with_jobs(&["a"]).await;
    assert_eq!(update(&s, "a", json!({"status": "REJECTED"})).await.0, 200);
    assert_eq!(
        ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await,
        json!({})
    );
    assert_eq!(
        ok(&s, "GET", "/things/dev-1/jobs/$next", None).await,
        json!({})
    );
    assert_eq!(
        pending(&s).await,
        json!({"inProgressJobs": [], "queuedJobs": []})
    );
}

#[tokio::test]
async fn a_failed_execution_is_retried_when_the_job_says_so() {
    let s = server(1.0).await;
    create_thing(&s, "dev-1").await;
    let retry = json!({"jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 1}]}});
    create_job(&s, "a", &["dev-1"], retry).await;
    assert_eq!(update(&s, "a", json!({"status": "FAILED"})).await.0, 200);
    let retried = ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    assert_eq!(retried["execution"]["executionNumber"], 2);
    assert_eq!(retried["execution"]["versionNumber"], 2);
    assert_eq!(
        update(&s, "a", json!({"status": "FAILED", "executionNumber": 2}))
            .await
            .0,
        200
    );
    assert_eq!(
        ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await,
        json!({}),
        "one retry only"
    );
    let first = ok(&s, "GET", "/things/dev-1/jobs/a?executionNumber=1", None).await;
    assert_eq!(first["execution"]["status"], "FAILED");
}

#[tokio::test]
async fn a_canceled_job_retries_nothing() {
    let s = server(1.0).await;
    create_thing(&s, "dev-1").await;
    let retry = json!({"jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 1}]}});
    create_job(&s, "a", &["dev-1"], retry).await;
    ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    let canceled = reqwest::Client::new()
        .put(format!("{}/jobs/a/cancel", control_url(&s)))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), 200);
    // The execution in progress goes on; its failure queues no retry of a canceled job.
    assert_eq!(update(&s, "a", json!({"status": "FAILED"})).await.0, 200);
    assert_eq!(
        ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await,
        json!({})
    );
}

#[tokio::test]
async fn the_pending_list_is_capped() {
    let s = server(1.0).await;
    create_thing(&s, "dev-1").await;
    let limit = jobcert_contract::execution_model().pending_list_limit;
    for i in 0..limit + 2 {
        create_job(&s, &format!("j{i:02}"), &["dev-1"], json!({})).await;
    }
    ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    let listed = pending(&s).await;
    let total = listed["inProgressJobs"].as_array().unwrap().len()
        + listed["queuedJobs"].as_array().unwrap().len();
    assert_eq!(total, limit);
    assert_eq!(listed["inProgressJobs"][0]["jobId"], "j00");
    assert_eq!(listed["queuedJobs"][0]["jobId"], "j01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_start_next_starts_once() {
    let s = thing_with_jobs(&["a"]).await;
    let url = format!("{}/things/dev-1/jobs/$next", common::data_url(&s));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let url = url.clone();
        calls.spawn(async move {
            let r = reqwest::Client::new()
                .put(url)
                .body("{}")
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        });
    }
    while let Some(answer) = calls.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer["execution"]["jobId"], "a");
        assert_eq!(
            answer["execution"]["versionNumber"], 2,
            "started exactly once"
        );
    }
}

#[tokio::test]
async fn cancel_job_cancels_queued_and_with_force_in_progress() {
    let s = server(1.0).await;
    for t in ["dev-1", "dev-2"] {
        create_thing(&s, t).await;
    }
    create_job(&s, "a", &["dev-1", "dev-2"], json!({})).await;
    ok(&s, "PUT", "/things/dev-1/jobs/$next", Some("{}")).await;
    let client = reqwest::Client::new();
    let cancel = |force: bool| {
        client
            .put(format!("{}/jobs/a/cancel?force={force}", control_url(&s)))
            .json(&json!({"comment": "rollback"}))
            .send()
    };
    assert_eq!(cancel(false).await.unwrap().status(), 200);
    let dev2 = call(&s, "GET", "/things/dev-2/jobs/a", None).await.2;
    assert_eq!(dev2["execution"]["status"], "CANCELED");
    assert_eq!(
        ok(&s, "GET", "/things/dev-1/jobs/a", None).await["execution"]["status"],
        "IN_PROGRESS"
    );
    assert_eq!(cancel(true).await.unwrap().status(), 200);
    assert_eq!(
        ok(&s, "GET", "/things/dev-1/jobs/a", None).await["execution"]["status"],
        "CANCELED"
    );
    let job: Value = client
        .get(format!("{}/jobs/a", control_url(&s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["job"]["status"], "CANCELED");
    assert_eq!(job["job"]["forceCanceled"], true);
    assert_eq!(job["job"]["jobProcessDetails"]["numberOfCanceledThings"], 2);
    assert_eq!(
        job["job"]["targets"],
        json!([thing_arn("dev-1"), thing_arn("dev-2")])
    );
}

#[tokio::test]
async fn create_job_refuses_duplicates_and_unknown_things() {
    let s = thing_with_jobs(&["a"]).await;
    let client = reqwest::Client::new();
    let put = |id: &str, thing: &str| {
        client
            .put(format!("{}/jobs/{id}", control_url(&s)))
            .json(&json!({"targets": [thing_arn(thing)], "document": "{}"}))
            .send()
    };
    let r = put("a", "dev-1").await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-amzn-errortype"].to_str().unwrap()
        ),
        (409, "ResourceAlreadyExistsException")
    );
    let r = put("b", "nobody").await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-amzn-errortype"].to_str().unwrap()
        ),
        (404, "ResourceNotFoundException")
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_errors_their_type_twice() {
    let s = server(1.0).await;
    let r = reqwest::get(format!("{}/things/bad%20name/jobs", common::data_url(&s)))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-amzn-requestid"));
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidRequestException");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "InvalidRequestException");
    assert!(body["message"].as_str().unwrap().contains("thingName"));
}
