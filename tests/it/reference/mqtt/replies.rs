//! Request / reply on the reserved topics, the rejected codes, and who receives replies.

use super::*;
use crate::reference::state_bounds::{details, details_bounds};

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_lists_in_progress_and_queued_and_echoes_the_token(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a", "b"]).await;
    create_thing(&s, "idle").await;
    let mut d = device(&s, proto, THING).await;

    let v = d
        .accepted(&jobs(THING, "get"), &json!({"clientToken": "tok-get-1"}))
        .await;
    assert_eq!(v["clientToken"], "tok-get-1");
    assert_eq!(v["inProgressJobs"], json!([]), "present even when empty");
    assert_eq!(ids(&v["queuedJobs"]), ["a", "b"]);
    assert!(v["queuedJobs"][0].get("startedAt").is_none());
    assert!(
        v["queuedJobs"][0].get("status").is_none(),
        "summaries carry no status"
    );

    d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    let v = d
        .accepted(&jobs(THING, "get"), &json!({"clientToken": "tok-get-2"}))
        .await;
    assert_eq!(v["clientToken"], "tok-get-2");
    assert_eq!(ids(&v["inProgressJobs"]), ["a"]);
    assert!(v["inProgressJobs"][0]["startedAt"].is_u64());
    assert_eq!(ids(&v["queuedJobs"]), ["b"]);

    // An empty payload is read as `{}` (spec §7.16): no token to echo.
    let (kind, v, _) = d.request(&jobs(THING, "get"), Vec::new()).await;
    assert_eq!(kind, "accepted", "{v}");
    assert!(v.get("clientToken").is_none(), "{v}");

    // A thing with nothing pending: both arrays still present.
    let mut idle = device(&s, proto, "idle").await;
    let v = idle
        .accepted(&jobs("idle", "get"), &json!({"clientToken": "tok-idle"}))
        .await;
    assert_eq!(v["inProgressJobs"], json!([]));
    assert_eq!(v["queuedJobs"], json!([]));
    assert_eq!(v["clientToken"], "tok-idle");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_next_returns_the_execution_with_its_document_as_an_object(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let mut d = device(&s, proto, THING).await;
    let v = d
        .accepted(
            &jobs(THING, "start-next"),
            &json!({"clientToken": "sn-1", "statusDetails": {"step": "download"}}),
        )
        .await;
    assert_eq!(v["clientToken"], "sn-1");
    let e = &v["execution"];
    assert_eq!(e["jobId"], "a");
    assert_eq!(e["thingName"], THING);
    assert_eq!(e["status"], "IN_PROGRESS");
    assert_eq!(e["statusDetails"], json!({"step": "download"}));
    assert_eq!(e["versionNumber"], 2);
    assert!(e["startedAt"].is_u64());
    assert!(
        e["jobDocument"].is_object(),
        "jobDocument must be an object: {e}"
    );
    assert_eq!(e["jobDocument"], json!({"job": "a"}));

    // An IN_PROGRESS head is returned unchanged.
    let again = d
        .accepted(
            &jobs(THING, "start-next"),
            &json!({"clientToken": "sn-2", "statusDetails": {"step": "other"}}),
        )
        .await;
    assert_eq!(again["execution"]["jobId"], "a");
    assert_eq!(again["execution"]["versionNumber"], 2);
    assert_eq!(
        again["execution"]["statusDetails"],
        json!({"step": "download"})
    );

    d.accepted(&jobs(THING, "a/update"), &json!({"status": "SUCCEEDED"}))
        .await;
    let empty = d
        .accepted(&jobs(THING, "start-next"), &json!({"clientToken": "sn-3"}))
        .await;
    assert!(empty.get("execution").is_none(), "nothing pending: {empty}");
    assert_eq!(empty["clientToken"], "sn-3");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_next_and_by_job_id(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let s = seeded(&["a", "b"]).await;
    create_thing(&s, "idle").await;
    let mut d = device(&s, proto, THING).await;

    let v = d
        .accepted(&jobs(THING, "$next/get"), &json!({"clientToken": "d-1"}))
        .await;
    assert_eq!(v["clientToken"], "d-1");
    assert_eq!(v["execution"]["jobId"], "a");
    assert_eq!(v["execution"]["status"], "QUEUED");
    assert_eq!(v["execution"]["versionNumber"], 1);
    assert!(v["execution"].get("startedAt").is_none());
    assert_eq!(v["execution"]["jobDocument"], json!({"job": "a"}));

    let v = d
        .accepted(
            &jobs(THING, "b/get"),
            &json!({"clientToken": "d-2", "includeJobDocument": false}),
        )
        .await;
    assert_eq!(v["execution"]["jobId"], "b");
    assert!(v["execution"].get("jobDocument").is_none(), "{v}");

    let v = d
        .accepted(
            &jobs(THING, "b/get"),
            &json!({"clientToken": "d-3", "executionNumber": 1}),
        )
        .await;
    assert_eq!(
        v["execution"]["jobDocument"],
        json!({"job": "b"}),
        "default true"
    );
    assert_eq!(v["execution"]["executionNumber"], 1);

    let r = d
        .rejected(
            &jobs(THING, "nope/get"),
            json!({"clientToken": "d-4"}).to_string(),
        )
        .await;
    assert_eq!(r["code"], "ResourceNotFound");
    assert_eq!(r["clientToken"], "d-4");

    // `$next` with nothing pending: accepted without `execution` (spec §7.7).
    let mut idle = device(&s, proto, "idle").await;
    let v = idle
        .accepted(&jobs("idle", "$next/get"), &json!({"clientToken": "d-5"}))
        .await;
    assert!(v.get("execution").is_none(), "{v}");
    assert_eq!(v["clientToken"], "d-5");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_returns_state_and_document_only_when_asked(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let mut d = device(&s, proto, THING).await;
    d.accepted(&jobs(THING, "start-next"), &json!({})).await;

    let v = d
        .accepted(
            &jobs(THING, "a/update"),
            &json!({"clientToken": "u-1", "status": "IN_PROGRESS", "statusDetails": {"pct": "50"}}),
        )
        .await;
    assert_eq!(v["clientToken"], "u-1");
    assert!(v.get("executionState").is_none(), "{v}");
    assert!(v.get("jobDocument").is_none(), "{v}");

    let v = d
        .accepted(
            &jobs(THING, "a/update"),
            &json!({
                "clientToken": "u-2",
                "status": "SUCCEEDED",
                "expectedVersion": 3,
                "includeJobExecutionState": true,
                "includeJobDocument": true,
            }),
        )
        .await;
    assert_eq!(v["clientToken"], "u-2");
    assert_eq!(v["executionState"]["status"], "SUCCEEDED");
    assert_eq!(v["executionState"]["versionNumber"], 4);
    assert_eq!(v["executionState"]["statusDetails"], json!({"pct": "50"}));
    assert!(v["jobDocument"].is_object(), "{v}");
    assert_eq!(v["jobDocument"], json!({"job": "a"}));
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_version_as_the_right_decimal_string_is_accepted(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let mut d = device(&s, proto, THING).await;
    d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    let v = d
        .accepted(
            &jobs(THING, "a/update"),
            &json!({"status": "IN_PROGRESS", "expectedVersion": "2", "includeJobExecutionState": true}),
        )
        .await;
    assert_eq!(v["executionState"]["versionNumber"], 3);
    let v = d
        .accepted(
            &jobs(THING, "a/update"),
            &json!({"status": "IN_PROGRESS", "expectedVersion": 3, "includeJobExecutionState": true}),
        )
        .await;
    assert_eq!(v["executionState"]["versionNumber"], 4);
}

// ---------------------------------------------------------------------------------------------
// Rejected codes
// ---------------------------------------------------------------------------------------------

/// [`THING`] with `done` SUCCEEDED (version 3) and `a` IN_PROGRESS (version 2).
async fn rejection_fixture(proto: Proto) -> (RunningServer, Client) {
    let s = seeded(&["done", "a"]).await;
    let mut d = device(&s, proto, THING).await;
    let v = d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    assert_eq!(v["execution"]["jobId"], "done");
    d.accepted(&jobs(THING, "done/update"), &json!({"status": "SUCCEEDED"}))
        .await;
    let v = d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    assert_eq!(v["execution"]["jobId"], "a");
    assert_eq!(v["execution"]["versionNumber"], 2);
    (s, d)
}

#[rstest]
#[case::invalid_topic("a/frobnicate", b"", "InvalidTopic", None, None)]
#[case::not_json("start-next", b"this is not json", "InvalidJson", None, None)]
#[case::not_utf8("get", &[0xff, 0xfe, b'{', 0x80, b'}'], "InvalidJson", None, None)]
#[case::json_array("get", br#"[{"clientToken":"arr"}]"#, "InvalidJson", None, None)]
#[case::step_timeout_zero(
    "start-next",
    br#"{"clientToken":"r-step","stepTimeoutInMinutes":0}"#,
    "InvalidRequest",
    Some("r-step"),
    None
)]
#[case::control_char_in_details(
    "a/update",
    br#"{"clientToken":"r-ctl","status":"IN_PROGRESS","statusDetails":{"k":"a\u0007b"}}"#,
    "InvalidRequest",
    Some("r-ctl"),
    None
)]
#[case::terminal_to_in_progress(
    "done/update",
    br#"{"clientToken":"r-term","status":"IN_PROGRESS"}"#,
    "InvalidStateTransition",
    Some("r-term"),
    Some(("SUCCEEDED", 3))
)]
#[case::unknown_job(
    "nope/update",
    br#"{"clientToken":"r-404","status":"IN_PROGRESS"}"#,
    "ResourceNotFound",
    Some("r-404"),
    None
)]
#[case::version_mismatch_number(
    "a/update",
    br#"{"clientToken":"r-v7","status":"IN_PROGRESS","expectedVersion":7}"#,
    "VersionMismatch",
    Some("r-v7"),
    Some(("IN_PROGRESS", 2))
)]
#[case::version_mismatch_string(
    "a/update",
    br#"{"clientToken":"r-v7s","status":"IN_PROGRESS","expectedVersion":"7"}"#,
    "VersionMismatch",
    Some("r-v7s"),
    Some(("IN_PROGRESS", 2))
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_carry_code_message_timestamp_and_token(
    #[case] rest: &str,
    #[case] payload: &[u8],
    #[case] code: &str,
    #[case] token: Option<&str>,
    #[case] state: Option<(&str, i64)>,
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let (_s, mut d) = rejection_fixture(proto).await;
    let topic = jobs(THING, rest);
    let r = d.rejected(&topic, payload).await;
    assert_eq!(r["code"], code, "{topic}: {r}");
    match token {
        Some(t) => assert_eq!(r["clientToken"], t, "{r}"),
        None => assert!(r.get("clientToken").is_none(), "{r}"),
    }
    match state {
        Some((status, version)) => {
            assert_eq!(r["executionState"]["status"], status, "{r}");
            assert_eq!(r["executionState"]["versionNumber"], version, "{r}");
        }
        None => assert!(r.get("executionState").is_none(), "{r}"),
    }
    // A refusal changes nothing.
    let v = d
        .accepted(&jobs(THING, "a/get"), &json!({"includeJobDocument": false}))
        .await;
    assert_eq!(v["execution"]["status"], "IN_PROGRESS");
    assert_eq!(v["execution"]["versionNumber"], 2);
}

/// A statusDetails map past the bounds on its pairs or its size (`state` of the limits file) is
/// `InvalidRequest`, as it is InvalidRequestException over HTTP (`reference::state_bounds`), and
/// one at the bounds is accepted.
#[rstest]
#[case::at_the_entry_bound(|entries, _| details(entries, 6 * entries), true)]
#[case::one_entry_past_it(|entries, _| details(entries + 1, 6 * (entries + 1)), false)]
#[case::at_the_size_bound(|_, bytes| details(64, bytes), true)]
#[case::one_byte_past_it(|_, bytes| details(64, bytes + 1), false)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_details_past_their_bounds_are_invalid_request(
    #[case] map: fn(usize, usize) -> Value,
    #[case] accepted: bool,
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let (entries, bytes) = details_bounds();
    let (_s, mut d) = rejection_fixture(proto).await;
    let topic = jobs(THING, "a/update");
    let payload = json!({"clientToken": "r-big", "status": "IN_PROGRESS", "statusDetails": map(entries, bytes)});
    if accepted {
        let v = d.accepted(&topic, &payload).await;
        assert_eq!(v["clientToken"], "r-big");
    } else {
        let r = d.rejected(&topic, payload.to_string()).await;
        assert_eq!(r["code"], "InvalidRequest", "{r}");
        assert_eq!(r["clientToken"], "r-big", "{r}");
        let v = d
            .accepted(&jobs(THING, "a/get"), &json!({"includeJobDocument": false}))
            .await;
        assert_eq!(
            v["execution"]["versionNumber"], 2,
            "a refusal changes nothing"
        );
    }
}

/// Spec §3.3 / §3.1: every reply echoes `clientToken` when one was supplied; an InvalidTopic
/// request whose payload is a JSON object carrying one is no exception.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_topic_echoes_the_client_token(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let (_s, mut d) = rejection_fixture(proto).await;
    let r = d
        .rejected(
            &jobs(THING, "a/frobnicate"),
            json!({"clientToken": "r-topic"}).to_string(),
        )
        .await;
    assert_eq!(r["code"], "InvalidTopic");
    assert_eq!(r["clientToken"], "r-topic", "{r}");
}

// ---------------------------------------------------------------------------------------------
// Who receives replies
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reach_only_the_publisher(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let s = seeded(&["a"]).await;
    let mut d = device(&s, proto, THING).await;
    let mut observer = Client::connect(broker(&s), proto.other(), "dev-1-observer").await;
    assert_eq!(observer.subscribe(&jobs(THING, "#"), 1).await, Some(1));

    let (_, _, qos) = d.request(&jobs(THING, "get"), "{}").await;
    assert_eq!(
        qos, 1,
        "replies come at the QoS the publisher subscribed with"
    );
    d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    d.accepted(&jobs(THING, "a/update"), &json!({"status": "IN_PROGRESS"}))
        .await;
    d.rejected(&jobs(THING, "a/update"), "not json").await;

    // Sentinel: a notification queued for the observer after all of the above.
    create_job(&s, "z", &[THING], json!({})).await;
    let n = observer.json(&jobs(THING, "notify")).await;
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["z"]);
    observer
        .quiet("reply to another client", QUIET, |s| {
            matches!(s, Seen::Message { topic, .. }
                if topic.ends_with("/accepted") || topic.ends_with("/rejected") || topic.ends_with("/get") || topic.ends_with("/update") || topic.ends_with("/start-next"))
        })
        .await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_gets_its_reply_without_subscribing(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let mut c = Client::connect(broker(&s), proto, THING).await;
    let (kind, v, qos) = c
        .request(
            &jobs(THING, "$next/get"),
            json!({"clientToken": "bare"}).to_string(),
        )
        .await;
    assert_eq!(kind, "accepted");
    assert_eq!(v["clientToken"], "bare");
    assert_eq!(qos, 0, "no subscription: QoS 0");
}
