//! `--policy own-thing-all` (what `--aws-like` turns on): a connection without a certificate is
//! held to the thing its client id names. Its subscriptions that can reach another thing's
//! topics are refused in the SUBACK, its publishing about another thing closes the connection,
//! and only its own thing's notifications and replies reach it; with the policy off (the
//! default) the same wildcard subscription reads every thing's notifications.

use jobcert_reference::policy::Policy;

use super::*;

/// A second thing, whose client tries to read or act on [`THING`]'s topics.
const OTHER: &str = "dev-2";

/// A server held to `policy`, its clock at 600×, with [`THING`] and [`OTHER`] made.
async fn server(policy: Policy) -> RunningServer {
    let s = server_with(ServeConfig {
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        time_scale: 600.0,
        policy,
        ..Default::default()
    })
    .await;
    create_thing(&s, THING).await;
    create_thing(&s, OTHER).await;
    s
}

/// Filters that can reach [`THING`]'s topics from [`OTHER`]'s client.
const SPANNING: [&str; 7] = [
    "$aws/things/dev-1/jobs/#",
    "$aws/things/dev-1/jobs/notify",
    "$aws/things/+/jobs/#",
    "$aws/things/+/jobs/notify-next",
    "$aws/things/#",
    "$aws/#",
    "#",
];

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_client_subscribes_to_its_own_thing_s_topics_only(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
    #[values(Policy::Open, Policy::OwnThingAll)] policy: Policy,
) {
    let s = server(policy).await;
    let mut other = Client::connect(broker(&s), proto, OTHER).await;
    let limited = policy == Policy::OwnThingAll;
    for filter in SPANNING {
        let granted = other.subscribe(filter, 1).await;
        assert_eq!(
            granted.is_none(),
            limited,
            "{policy:?} {filter}: {granted:?}"
        );
    }
    // Its own thing's topics, and topics no thing owns, stay open to it.
    let own = jobs(OTHER, "#");
    for filter in [
        own.as_str(),
        "$aws/things/dev-2/jobs/+/get/accepted",
        "fleet/#",
    ] {
        assert_eq!(
            other.subscribe(filter, 1).await,
            Some(1),
            "{policy:?} {filter}"
        );
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_replies_reach_only_the_thing_s_own_client_under_the_policy(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
    #[values(Policy::Open, Policy::OwnThingAll)] policy: Policy,
) {
    let s = server(policy).await;
    let mut own = device(&s, proto, THING).await;
    let mut other = Client::connect(broker(&s), proto.other(), OTHER).await;
    for filter in SPANNING {
        other.subscribe(filter, 1).await;
    }
    assert_eq!(other.subscribe(&jobs(OTHER, "#"), 1).await, Some(1));
    let of_thing = |s: &Seen| s.on(&jobs(THING, "notify")) || s.on(&jobs(THING, "notify-next"));

    create_job(&s, "j1", &[THING], json!({})).await;
    let n = own.json(&jobs(THING, "notify-next")).await;
    assert_eq!(n["execution"]["jobId"], "j1");
    let n = own.json(&jobs(THING, "notify")).await;
    assert_eq!(ids(&n["jobs"]["QUEUED"]), ["j1"]);
    let v = own.accepted(&jobs(THING, "start-next"), &json!({})).await;
    assert_eq!(v["execution"]["jobId"], "j1");

    if policy == Policy::OwnThingAll {
        other
            .quiet("a message about another thing", QUIET, |s| {
                matches!(s, Seen::Message { topic, .. } if topic.starts_with("$aws/things/dev-1/"))
            })
            .await;
    } else {
        // Open: the wildcard subscriber reads the other thing's notifications too.
        let m = other
            .next("dev-1's notify-next", |s| s.on(&jobs(THING, "notify-next")))
            .await;
        assert!(of_thing(&m), "{m:?}");
    }
    // Its own thing's notifications still reach it.
    create_job(&s, "j2", &[OTHER], json!({})).await;
    let n = other.json(&jobs(OTHER, "notify-next")).await;
    assert_eq!(n["execution"]["jobId"], "j2");
    own.quiet(
        "a notification about dev-2",
        QUIET,
        |s| matches!(s, Seen::Message { topic, .. } if topic.starts_with("$aws/things/dev-2/")),
    )
    .await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_about_another_thing_closes_a_limited_connection(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = server(Policy::OwnThingAll).await;
    create_job(&s, "j1", &[THING], json!({})).await;
    let mut stream = raw_session(broker(&s), proto, OTHER).await;
    let _ = stream
        .write_all(&publish_packet(
            proto,
            &jobs(THING, "start-next"),
            1,
            7,
            b"{}",
        ))
        .await;
    assert!(closed_by_broker(&mut stream).await, "session not closed");
    // The refused start-next started nothing; the thing's own client still may.
    let mut own = device(&s, proto, THING).await;
    let v = own.accepted(&jobs(THING, "j1/get"), &json!({})).await;
    assert_eq!(v["execution"]["status"], "QUEUED", "{v}");
    let v = own.accepted(&jobs(THING, "start-next"), &json!({})).await;
    assert_eq!(v["execution"]["jobId"], "j1");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_policy_off_a_client_may_act_on_another_thing(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = server(Policy::default()).await;
    create_job(&s, "j1", &[THING], json!({})).await;
    let mut other = Client::connect(broker(&s), proto, OTHER).await;
    let v = other.accepted(&jobs(THING, "start-next"), &json!({})).await;
    assert_eq!(v["execution"]["jobId"], "j1");
}
