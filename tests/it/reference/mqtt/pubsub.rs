//! Plain publish / subscribe.

use super::*;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_topics_route_by_filter_at_qos_0_and_1(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let s = mqtt_server().await;
    let addr = broker(&s);
    let mut telemetry = Client::connect(addr, proto, "sub-telemetry").await;
    assert_eq!(telemetry.subscribe("fleet/+/telemetry", 1).await, Some(1));
    let mut fleet = Client::connect(addr, proto, "sub-fleet").await;
    assert_eq!(fleet.subscribe("fleet/#", 0).await, Some(0));
    // The publisher speaks the other protocol version.
    let mut publisher = Client::connect(addr, proto.other(), "publisher").await;

    publisher.publish("fleet/d1/telemetry", 0, "t0").await;
    let m = telemetry.recv("fleet/d1/telemetry").await;
    assert_eq!((&m.payload[..], m.qos), (&b"t0"[..], 0));
    let m = fleet.recv("fleet/d1/telemetry").await;
    assert_eq!((&m.payload[..], m.qos), (&b"t0"[..], 0));

    publisher.publish("fleet/d1/telemetry", 1, "t1").await;
    publisher
        .next(
            "PUBACK for a QoS 1 publish",
            |s| matches!(s, Seen::PubAck(p) if *p != 0),
        )
        .await;
    let m = telemetry.recv("fleet/d1/telemetry").await;
    assert_eq!(&m.payload[..], b"t1");
    assert_eq!(m.qos, 1, "QoS 1 publish to a QoS 1 subscription");
    assert_ne!(m.pkid, 0, "QoS 1 delivery carries a packet id");
    let m = fleet.recv("fleet/d1/telemetry").await;
    assert_eq!(
        (&m.payload[..], m.qos),
        (&b"t1"[..], 0),
        "capped at the subscription's QoS"
    );

    // Only `fleet/#` matches these.
    publisher.publish("fleet/d1/status", 1, "s1").await;
    publisher.publish("fleet", 0, "root").await;
    assert_eq!(&fleet.recv("fleet/d1/status").await.payload[..], b"s1");
    assert_eq!(&fleet.recv("fleet").await.payload[..], b"root");
    // Sentinel: the next thing the telemetry subscriber sees is the next telemetry message.
    publisher.publish("fleet/d2/telemetry", 1, "t2").await;
    let m = telemetry.any_message().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("fleet/d2/telemetry", &b"t2"[..])
    );

    // Several QoS 1 publishes in a row: every one acknowledged, every one delivered in order.
    for i in 0..20 {
        publisher
            .publish("fleet/d3/telemetry", 1, format!("n{i}"))
            .await;
    }
    for _ in 0..20 {
        publisher
            .next("PUBACK", |s| matches!(s, Seen::PubAck(_)))
            .await;
    }
    for i in 0..20 {
        let m = telemetry.recv("fleet/d3/telemetry").await;
        assert_eq!(m.payload, format!("n{i}").into_bytes());
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_subscriber_does_not_receive_dollar_topics(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&[]).await;
    let addr = broker(&s);
    let mut everything = Client::connect(addr, proto, "sub-hash").await;
    assert_eq!(everything.subscribe("#", 1).await, Some(1));
    let mut plus = Client::connect(addr, proto, "sub-plus").await;
    assert_eq!(
        plus.subscribe("+/things/dev-1/shadow/update", 1).await,
        Some(1)
    );
    let mut shadow = Client::connect(addr, proto, "sub-shadow").await;
    assert_eq!(shadow.subscribe("$aws/things/+/shadow/#", 1).await, Some(1));
    assert_eq!(shadow.subscribe(&jobs(THING, "notify"), 1).await, Some(1));
    let mut d = device(&s, proto.other(), THING).await;

    // A non-Jobs `$aws` topic is routed to explicit `$aws/…` filters only.
    d.publish("$aws/things/dev-1/shadow/update", 1, "{}").await;
    assert_eq!(
        &shadow.recv("$aws/things/dev-1/shadow/update").await.payload[..],
        b"{}"
    );
    // A Jobs request and a notification.
    d.accepted(&jobs(THING, "get"), &json!({})).await;
    create_job(&s, "a", &[THING], json!({})).await;
    shadow.json(&jobs(THING, "notify")).await;

    // Sentinel: the first thing `#` sees is a plain message published after all of that.
    d.publish("plain/sentinel", 1, "s").await;
    let m = everything.any_message().await;
    assert_eq!(m.topic, "plain/sentinel", "`#` must not match `$` topics");
    plus.quiet("a `$` topic via a leading `+`", QUIET, |s| {
        matches!(s, Seen::Message { .. })
    })
    .await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_128_kib_payload_is_delivered(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut sub = Client::connect(addr, proto, "big-sub").await;
    assert_eq!(sub.subscribe("big/#", 1).await, Some(1));
    let publisher = Client::connect(addr, proto, "big-pub").await;
    let payload = vec![b'x'; 128 * 1024];
    publisher.publish("big/one", 1, payload.clone()).await;
    let m = sub.recv("big/one").await;
    assert_eq!(m.payload.len(), payload.len());
}
