//! Notifications, namespace topics, and MQTT and HTTP sharing one engine.

use super::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_and_notify_next_follow_the_pending_list(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = mqtt_server().await;
    create_thing(&s, THING).await;
    let mut d = device(&s, proto.other(), THING).await;
    let mut w = Client::connect(broker(&s), proto, "watcher").await;
    let (notify, notify_next) = (jobs(THING, "notify"), jobs(THING, "notify-next"));
    assert_eq!(w.subscribe(&notify, 1).await, Some(1));
    assert_eq!(w.subscribe(&notify_next, 0).await, Some(0));
    let is_notification =
        |s: &Seen| s.on(&jobs(THING, "notify")) || s.on(&jobs(THING, "notify-next"));

    // A new head.
    create_job(&s, "j1", &[THING], json!({})).await;
    let m = w.recv(&notify_next).await;
    assert_eq!(m.qos, 0, "at the subscription's QoS");
    let n = json_of(&m.topic, &m.payload);
    assert_eq!(n["execution"]["jobId"], "j1");
    assert_eq!(n["execution"]["status"], "QUEUED");
    assert_eq!(n["execution"]["jobDocument"], json!({"job": "j1"}));
    let m = w.recv(&notify).await;
    assert_eq!(m.qos, 1, "at the subscription's QoS");
    let n = json_of(&m.topic, &m.payload);
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["j1"]);
    assert!(n["jobs"].get("IN_PROGRESS").is_none(), "{n}");

    // Another job behind the head: notify only.
    create_job(&s, "j2", &[THING], json!({})).await;
    let n = w.json(&notify).await;
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["j1", "j2"]);
    w.quiet("notify-next for an unchanged head", QUIET, |s| {
        s.on(&jobs(THING, "notify-next"))
    })
    .await;

    // Starting the head changes neither the set nor the head: nothing (spec §7.25).
    let v = d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    assert_eq!(v["execution"]["jobId"], "j1");
    w.quiet("notification for starting the head", QUIET, is_notification)
        .await;

    // notify lists IN_PROGRESS first.
    create_job(&s, "j3", &[THING], json!({})).await;
    let n = w.json(&notify).await;
    assert_eq!(ids(&n["jobs"]["IN_PROGRESS"]), ["j1"]);
    assert!(n["jobs"]["IN_PROGRESS"][0]["startedAt"].is_u64(), "{n}");
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["j2", "j3"]);

    // The head finishes: new head j2.
    d.accepted(&jobs(THING, "j1/update"), &json!({"status": "SUCCEEDED"}))
        .await;
    let n = w.json(&notify_next).await;
    assert_eq!(n["execution"]["jobId"], "j2");
    let n = w.json(&notify).await;
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["j2", "j3"]);
    assert!(n["jobs"].get("IN_PROGRESS").is_none(), "{n}");

    // Finish the rest (QUEUED → SUCCEEDED directly is allowed, spec §7.5).
    d.accepted(&jobs(THING, "j2/update"), &json!({"status": "SUCCEEDED"}))
        .await;
    let n = w.json(&notify_next).await;
    assert_eq!(n["execution"]["jobId"], "j3");
    let n = w.json(&notify).await;
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["j3"]);
    d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    d.accepted(&jobs(THING, "j3/update"), &json!({"status": "FAILED"}))
        .await;
    let n = w.json(&notify_next).await;
    assert!(
        n.get("execution").is_none(),
        "empty queue: only a timestamp: {n}"
    );
    assert_eq!(n.as_object().map(|o| o.len()), Some(1), "{n}");
    let n = w.json(&notify).await;
    assert_eq!(n["jobs"], json!({}), "{n}");

    // The watcher never saw the device's replies.
    w.quiet(
        "a reply",
        Duration::ZERO,
        |s| matches!(s, Seen::Message { topic, .. } if topic.ends_with("/accepted")),
    )
    .await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_subscribed_to_its_jobs_wildcard_receives_notifications(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = mqtt_server().await;
    create_thing(&s, THING).await;
    create_thing(&s, "dev-2").await;
    let mut d = device(&s, proto, THING).await;
    create_job(&s, "other", &["dev-2"], json!({})).await;
    create_job(&s, "mine", &[THING], json!({})).await;
    let n = d.json(&jobs(THING, "notify-next")).await;
    assert_eq!(n["execution"]["jobId"], "mine");
    assert_eq!(n["execution"]["thingName"], THING);
    d.quiet(
        "another thing's notification",
        QUIET,
        |s| matches!(s, Seen::Message { topic, .. } if topic.contains("dev-2")),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Namespace topics
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_topics_are_answered_on_their_own_reply_topics(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let mut d = device(&s, proto, THING).await;
    let get = jobs(THING, "a/namespace-ns1/get");
    d.publish(&get, 1, json!({"clientToken": "ns-1"}).to_string())
        .await;
    let v = d.json(&format!("{get}/accepted")).await;
    assert_eq!(v["clientToken"], "ns-1");
    assert_eq!(v["execution"]["jobId"], "a");
    assert_eq!(v["execution"]["jobDocument"], json!({"job": "a"}));

    let v = d
        .accepted(&jobs(THING, "$next/namespace-ns1/get"), &json!({}))
        .await;
    assert_eq!(v["execution"]["jobId"], "a");

    let update = jobs(THING, "a/namespace-ns1/update");
    let v = d
        .accepted(
            &update,
            &json!({"clientToken": "ns-2", "status": "IN_PROGRESS", "includeJobExecutionState": true}),
        )
        .await;
    assert_eq!(v["executionState"]["status"], "IN_PROGRESS");
    let r = d
        .rejected(
            &jobs(THING, "nope/namespace-ns1/update"),
            r#"{"status":"IN_PROGRESS"}"#,
        )
        .await;
    assert_eq!(r["code"], "ResourceNotFound");
    // No un-namespaced reply was sent for the namespaced requests.
    d.quiet("a reply on a plain topic", Duration::ZERO, |s| {
        s.on(&jobs(THING, "a/get/accepted")) || s.on(&jobs(THING, "a/update/accepted"))
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// MQTT and HTTP share one engine
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_and_http_see_the_same_executions(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let s = seeded(&["a"]).await;
    let mut d = device(&s, proto, THING).await;
    let v = d
        .accepted(
            &jobs(THING, "start-next"),
            &json!({"statusDetails": {"via": "mqtt"}}),
        )
        .await;
    assert_eq!(v["execution"]["jobId"], "a");

    let (status, error, body) = call(&s, "GET", "/things/dev-1/jobs/a", None).await;
    assert_eq!(status, 200, "{error:?} {body}");
    assert_eq!(body["execution"]["status"], "IN_PROGRESS");
    assert_eq!(body["execution"]["statusDetails"], json!({"via": "mqtt"}));
    assert_eq!(body["execution"]["versionNumber"], 2);
    assert!(
        body["execution"]["jobDocument"].is_string(),
        "HTTP carries the document as a string"
    );

    let (status, error, body) = call(
        &s,
        "POST",
        "/things/dev-1/jobs/a",
        Some(r#"{"status":"SUCCEEDED","statusDetails":{"via":"http"},"expectedVersion":2}"#),
    )
    .await;
    assert_eq!(status, 200, "{error:?} {body}");

    let v = d
        .accepted(&jobs(THING, "a/get"), &json!({"clientToken": "x-1"}))
        .await;
    assert_eq!(v["execution"]["status"], "SUCCEEDED");
    assert_eq!(v["execution"]["statusDetails"], json!({"via": "http"}));
    assert_eq!(v["execution"]["versionNumber"], 3);
    let v = d.accepted(&jobs(THING, "get"), &json!({})).await;
    assert_eq!(v["inProgressJobs"], json!([]));
    assert_eq!(v["queuedJobs"], json!([]));
}
