//! The control plane's CancelJobExecution and DeleteThing, and the DescribeJob counts they move.

use crate::common::{call, control_url, create_job, create_thing, server};
use jobcert_reference::RunningServer;
use serde_json::{Value, json};

/// A control-plane call: status, error type and JSON body.
async fn control(
    s: &RunningServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", control_url(s)));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("control-plane request");
    let status = r.status().as_u16();
    let error = r
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, error, r.json().await.unwrap_or(Value::Null))
}

async fn counts(s: &RunningServer, job: &str) -> Value {
    let (status, _, body) = control(s, "GET", &format!("/jobs/{job}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["job"]["jobProcessDetails"].clone()
}

/// Each job's `numberOfQueuedThings` is as given.
async fn assert_queued<const N: usize>(s: &RunningServer, expected: [(&str, u64); N]) {
    for (job, queued) in expected {
        assert_eq!(
            counts(s, job).await["numberOfQueuedThings"],
            queued,
            "{job}"
        );
    }
}

#[tokio::test]
async fn cancel_job_execution_cancels_queued_and_forced_in_progress_executions() {
    let s = server(1.0).await;
    for t in ["q", "p"] {
        create_thing(&s, t).await;
    }
    create_job(&s, "j", &["q", "p"], json!({})).await;
    let (code, _, _) = call(&s, "PUT", "/things/p/jobs/$next", Some("{}")).await;
    assert_eq!(code, 200);

    // (path, body, status, error type)
    let table: [(&str, Option<Value>, u16, Option<&str>); 7] = [
        (
            "/things/q/jobs/j/cancel",
            Some(json!({"expectedVersion": 7})),
            409,
            Some("VersionConflictException"),
        ),
        (
            "/things/q/jobs/j/cancel",
            Some(json!({"expectedVersion": 1, "statusDetails": {"why": "operator"}})),
            200,
            None,
        ),
        (
            "/things/q/jobs/j/cancel",
            None,
            409,
            Some("InvalidStateTransitionException"),
        ),
        (
            "/things/p/jobs/j/cancel",
            None,
            409,
            Some("InvalidStateTransitionException"),
        ),
        ("/things/p/jobs/j/cancel?force=true", None, 200, None),
        (
            "/things/p/jobs/nope/cancel",
            None,
            404,
            Some("ResourceNotFoundException"),
        ),
        (
            "/things/q/jobs/j/cancel",
            Some(json!({"statusDetails": {"": "x"}})),
            400,
            Some("InvalidRequestException"),
        ),
    ];
    for (path, body, status, error) in table {
        let (got, got_error, answer) = control(&s, "PUT", path, body.clone()).await;
        assert_eq!(
            (got, got_error.as_deref()),
            (status, error),
            "{path} {body:?}: {answer}"
        );
    }
    let (_, _, q) = control(&s, "GET", "/things/q/jobs/j", None).await;
    assert_eq!(q["execution"]["status"], "CANCELED");
    assert_eq!(q["execution"]["versionNumber"], 2);
    assert_eq!(
        q["execution"]["statusDetails"]["detailsMap"],
        json!({"why": "operator"})
    );
    let c = counts(&s, "j").await;
    assert_eq!(c["numberOfCanceledThings"], 2, "{c}");
    assert_eq!(c["numberOfInProgressThings"], 0, "{c}");
    // A canceled execution refuses the device's updates.
    let (code, error, _) = call(
        &s,
        "POST",
        "/things/p/jobs/j",
        Some(r#"{"status":"SUCCEEDED"}"#),
    )
    .await;
    assert_eq!(
        (code, error.as_deref()),
        (409, Some("InvalidStateTransitionException"))
    );
}

#[tokio::test]
async fn delete_thing_removes_the_thing_and_counts_its_unfinished_execution_as_removed() {
    let s = server(1.0).await;
    for t in ["gone", "done", "kept"] {
        create_thing(&s, t).await;
    }
    create_job(&s, "j", &["gone", "done", "kept"], json!({})).await;
    let (code, _, _) = call(
        &s,
        "POST",
        "/things/done/jobs/j",
        Some(r#"{"status":"SUCCEEDED"}"#),
    )
    .await;
    assert_eq!(code, 200);

    // (thing, query, status, error type)
    let table = [
        (
            "gone",
            "?expectedVersion=2",
            409,
            Some("VersionConflictException"),
        ),
        ("gone", "?expectedVersion=1", 200, None),
        ("gone", "", 200, None),
        ("never-was", "", 200, None),
        ("done", "", 200, None),
        ("bad name!", "", 400, Some("InvalidRequestException")),
    ];
    for (thing, query, status, error) in table {
        let path = format!("/things/{}{query}", crate::common::encode(thing));
        let (got, got_error, answer) = control(&s, "DELETE", &path, None).await;
        assert_eq!(
            (got, got_error.as_deref()),
            (status, error),
            "{path}: {answer}"
        );
    }
    let (code, error, _) = control(&s, "GET", "/things/gone/jobs/j", None).await;
    assert_eq!(
        (code, error.as_deref()),
        (404, Some("ResourceNotFoundException"))
    );
    let c = counts(&s, "j").await;
    assert_eq!(
        (
            c["numberOfRemovedThings"].clone(),
            c["numberOfSucceededThings"].clone(),
            c["numberOfQueuedThings"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{c}"
    );
}

fn group_arn(group: &str) -> String {
    format!("arn:aws:iot:us-east-1:123456789012:thinggroup/{group}")
}

async fn group_call(s: &RunningServer, verb: &str, body: Value) {
    let (code, _, answer) = control(s, "PUT", &format!("/thing-groups/{verb}"), Some(body)).await;
    assert_eq!(code, 200, "{verb}: {answer}");
}

#[tokio::test]
async fn group_targets_are_members_at_creation_or_continuously() {
    let s = server(1.0).await;
    for t in ["a", "b", "c"] {
        create_thing(&s, t).await;
    }
    let (code, _, g) = control(&s, "POST", "/thing-groups/fleet", Some(json!({}))).await;
    assert_eq!(
        (code, g["thingGroupArn"].clone()),
        (200, json!(group_arn("fleet"))),
        "{g}"
    );
    let (code, _, _) = control(
        &s,
        "POST",
        "/thing-groups/fleet-eu",
        Some(json!({"parentGroupName": "fleet"})),
    )
    .await;
    assert_eq!(code, 200);
    group_call(
        &s,
        "addThingToThingGroup",
        json!({"thingGroupName": "fleet", "thingName": "a"}),
    )
    .await;
    group_call(
        &s,
        "addThingToThingGroup",
        json!({"thingGroupArn": group_arn("fleet-eu"), "thingArn": crate::common::thing_arn("b")}),
    )
    .await;
    for (id, selection, extra) in [
        ("snap", "SNAPSHOT", json!({})),
        ("cont", "CONTINUOUS", json!({})),
        (
            "paced",
            "CONTINUOUS",
            json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 1}}),
        ),
    ] {
        let mut body = json!({
            "targets": [group_arn("fleet")],
            "document": "{}",
            "targetSelection": selection,
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (code, _, answer) = control(&s, "PUT", &format!("/jobs/{id}"), Some(body)).await;
        assert_eq!(code, 200, "{id}: {answer}");
    }
    // Members of the group and of its child at creation; the paced job has rolled out one.
    assert_queued(&s, [("snap", 2), ("cont", 2), ("paced", 1)]).await;
    // A thing joining later gets an execution of each CONTINUOUS job at once, rate or not.
    group_call(
        &s,
        "addThingToThingGroup",
        json!({"thingGroupName": "fleet-eu", "thingName": "c"}),
    )
    .await;
    for (job, has) in [("snap", false), ("cont", true), ("paced", true)] {
        let (code, _, _) = control(&s, "GET", &format!("/things/c/jobs/{job}"), None).await;
        assert_eq!(code == 200, has, "{job}: c's execution answered {code}");
    }
    assert_queued(&s, [("snap", 2), ("cont", 3), ("paced", 2)]).await;
    // A thing leaving: a CONTINUOUS job's execution is REMOVED, a SNAPSHOT job's stays.
    group_call(
        &s,
        "removeThingFromThingGroup",
        json!({"thingGroupName": "fleet", "thingName": "a"}),
    )
    .await;
    let cont = counts(&s, "cont").await;
    assert_eq!(
        (
            cont["numberOfRemovedThings"].clone(),
            cont["numberOfQueuedThings"].clone()
        ),
        (json!(1), json!(2)),
        "{cont}"
    );
    assert_eq!(counts(&s, "snap").await["numberOfQueuedThings"], 2);

    // (method, path, body, status, error type)
    let refusals = [
        (
            "PUT",
            "/jobs/nogroup",
            json!({"targets": [group_arn("nope")], "document": "{}"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "PUT",
            "/thing-groups/addThingToThingGroup",
            json!({"thingGroupName": "nope", "thingName": "a"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "PUT",
            "/thing-groups/addThingToThingGroup",
            json!({"thingGroupName": "fleet", "thingName": "nope"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "PUT",
            "/thing-groups/addThingToThingGroup",
            json!({"thingName": "a"}),
            400,
            "InvalidRequestException",
        ),
        (
            "POST",
            "/thing-groups/orphan",
            json!({"parentGroupName": "nope"}),
            404,
            "ResourceNotFoundException",
        ),
    ];
    for (method, path, body, status, error) in refusals {
        let (got, got_error, answer) = control(&s, method, path, Some(body)).await;
        assert_eq!(
            (got, got_error.as_deref()),
            (status, Some(error)),
            "{path}: {answer}"
        );
    }
}
