//! Robustness: a misbehaving client ends its own session, never the broker.

use super::*;

#[rstest]
#[case::garbage_before_connect(None, vec![0x00, 0xde, 0xad, 0xbe, 0xef, 0xff, 0x13, 0x37])]
#[case::http_request(None, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())]
#[case::garbage_after_connect(Some(Proto::V4), vec![0xf0, 0x03, 0xde, 0xad, 0x00])]
#[case::garbage_after_connect_v5(Some(Proto::V5), vec![0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_closes_the_session(#[case] session: Option<Proto>, #[case] bytes: Vec<u8>) {
    let s = seeded(&["a"]).await;
    let mut stream = match session {
        Some(p) => raw_session(broker(&s), p, "garbage").await,
        None => tcp(broker(&s)).await,
    };
    let _ = stream.write_all(&bytes).await;
    assert!(closed_by_broker(&mut stream).await, "session not closed");
    assert_alive(&s).await;

    // And the same bytes followed by the client closing first.
    let mut stream = tcp(broker(&s)).await;
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
    drop(stream);
    assert_alive(&s).await;
}

#[rstest]
// Five continuation bytes: no valid variable-length integer.
#[case::overlong_varint(vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04], true)]
// 2 bytes of CONNECT claimed, a whole CONNECT sent.
#[case::too_short(vec![0x10, 0x02, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x1e, 0x00, 0x01, b'x'], true)]
// ~256 MiB claimed, far above the packet limit.
#[case::too_long(vec![0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02], true)]
// Claims more than is sent: the broker waits for the rest, and the client goes away.
#[case::truncated(vec![0x10, 0x20, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02], false)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_with_an_invalid_remaining_length_is_refused(
    #[case] bytes: Vec<u8>,
    #[case] refused_at_once: bool,
) {
    let s = seeded(&["a"]).await;
    let mut stream = tcp(broker(&s)).await;
    let _ = stream.write_all(&bytes).await;
    if refused_at_once {
        let sent = drained_until_closed(&mut stream)
            .await
            .expect("the broker closes the session");
        assert!(
            sent.is_empty(),
            "no CONNACK for a malformed CONNECT: {sent:02x?}"
        );
    } else {
        let mut buf = [0u8; 1];
        assert!(
            tokio::time::timeout(QUIET, stream.read(&mut buf))
                .await
                .is_err(),
            "the broker waits for the rest of the packet"
        );
        drop(stream);
    }
    assert_alive(&s).await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_publish_ends_the_session_not_the_broker(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut sub = Client::connect(addr, Proto::V4, "big-watch").await;
    assert_eq!(sub.subscribe("big/#", 0).await, Some(0));
    let mut stream = raw_session(addr, proto, "too-big").await;
    let packet = publish_packet(proto, "big/oversized", 1, 7, &vec![b'x'; 256 * 1024]);
    // The broker may close before the whole packet is written.
    let _ = stream.write_all(&packet).await;
    assert!(closed_by_broker(&mut stream).await, "session not closed");
    assert_alive(&s).await;
    sub.quiet("the oversized message", QUIET, |s| s.on("big/oversized"))
        .await;
}

/// AWS IoT refuses payloads over 128 KiB; the broker's limit is on the whole packet
/// (128 KiB + 2 KiB), so a payload just over 128 KiB is still accepted.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_one_byte_over_128_kib_ends_the_session(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let mut sub = Client::connect(broker(&s), Proto::V4, "big-watch").await;
    assert_eq!(sub.subscribe("big/#", 0).await, Some(0));
    let mut stream = raw_session(broker(&s), proto, "just-over").await;
    let packet = publish_packet(proto, "big/just-over", 0, 0, &vec![b'x'; 128 * 1024 + 1]);
    let _ = stream.write_all(&packet).await;
    sub.quiet("a payload over 128 KiB", QUIET, |s| s.on("big/just-over"))
        .await;
    assert!(closed_by_broker(&mut stream).await, "session not closed");
    assert_alive(&s).await;
}

#[rstest]
#[case::half_a_publish_then_reset(true, true)]
#[case::half_a_publish_then_close(true, false)]
#[case::half_a_connect_then_reset(false, true)]
#[case::half_a_connect_then_close(false, false)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_vanishing_mid_packet_harms_no_one(
    #[case] after_connect: bool,
    #[case] reset: bool,
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut bystander = device(&s, proto.other(), THING).await;
    for _ in 0..5 {
        let (mut stream, packet) = if after_connect {
            let packet = publish_packet(
                proto,
                &jobs(THING, "start-next"),
                1,
                1,
                br#"{"clientToken":"cut"}"#,
            );
            (raw_session(addr, proto, "vanishing").await, packet)
        } else {
            (tcp(addr).await, connect_packet(proto, "vanishing"))
        };
        stream
            .write_all(&packet[..packet.len() / 2])
            .await
            .expect("half a packet");
        stream.flush().await.expect("flush");
        if reset {
            stream.set_zero_linger().expect("SO_LINGER 0");
        }
        drop(stream);
    }
    // The connected bystander is unaffected, and fresh clients are served.
    let v = bystander
        .accepted(&jobs(THING, "get"), &json!({"clientToken": "still-here"}))
        .await;
    assert_eq!(v["clientToken"], "still-here");
    assert_alive(&s).await;
}

#[rstest]
#[case::qos_2("fleet/x", 2)]
#[case::plus_in_topic("fleet/+/telemetry", 0)]
#[case::hash_in_topic("fleet/#", 1)]
#[case::plus_in_a_jobs_topic("$aws/things/+/jobs/get", 0)]
#[case::qos_2_on_a_jobs_topic("$aws/things/dev-1/jobs/start-next", 2)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_publish_ends_the_session(
    #[case] topic: &str,
    #[case] qos: u8,
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut watcher = Client::connect(addr, Proto::V4, "fleet-watch").await;
    assert_eq!(watcher.subscribe("fleet/#", 1).await, Some(1));
    let mut stream = raw_session(addr, proto, "forbidden").await;
    let _ = stream
        .write_all(&publish_packet(proto, topic, qos, 9, b"{}"))
        .await;
    assert!(closed_by_broker(&mut stream).await, "session not closed");
    watcher
        .quiet("a forbidden publish", QUIET, |s| {
            matches!(s, Seen::Message { .. })
        })
        .await;
    assert_alive(&s).await;
    // The execution was not started by the refused QoS 2 start-next: assert_alive started it,
    // at version 2 (one start only).
    let mut d = device(&s, proto, THING).await;
    let v = d.accepted(&jobs(THING, "a/get"), &json!({})).await;
    assert_eq!(v["execution"]["versionNumber"], 2);
}

/// MQTT 3.1.1 §1.5.3 (MQTT-1.5.3-2), MQTT 5 §1.5.4: a topic holding U+0000 closes the
/// network connection; a client on another connection sees nothing of it.
#[rstest]
#[case::publish(|p| publish_packet(p, "fleet/a\0b", 0, 0, b"{}"))]
#[case::publish_on_a_jobs_topic(|p| publish_packet(p, "$aws/things/dev-1/jobs/get\0", 1, 3, b"{}"))]
#[case::subscribe(|p| subscribe_packet(p, "fleet/\0/#", 4))]
#[case::unsubscribe(|p| unsubscribe_packet(p, "fleet/\0", 5))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_holding_u0000_closes_the_connection(
    #[case] packet: fn(Proto) -> Vec<u8>,
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut watcher = Client::connect(addr, Proto::V4, "null-watch").await;
    assert_eq!(watcher.subscribe("fleet/#", 1).await, Some(1));
    let mut stream = raw_session(addr, proto, "null-topic").await;
    let _ = stream.write_all(&packet(proto)).await;
    let sent = drained_until_closed(&mut stream)
        .await
        .expect("connection not closed");
    assert!(
        sent.is_empty(),
        "no SUBACK, UNSUBACK or PUBACK before the close: {sent:?}"
    );
    watcher
        .quiet("a topic holding U+0000", QUIET, |s| {
            matches!(s, Seen::Message { .. })
        })
        .await;
    let publisher = Client::connect(addr, proto, "null-after").await;
    publisher.publish("fleet/ok", 1, b"{}".to_vec()).await;
    assert_eq!(watcher.recv("fleet/ok").await.payload, &b"{}"[..]);
    assert_alive(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_rapid_connect_disconnect_cycles() {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4u32 {
        workers.spawn(async move {
            for i in 0..50u32 {
                let proto = if (w + i) % 2 == 0 {
                    Proto::V4
                } else {
                    Proto::V5
                };
                // Some ids repeat, so sessions also take over from each other.
                let id = format!("cycle-{}", (w * 50 + i) % 37);
                let mut stream = raw_session(addr, proto, &id).await;
                match i % 3 {
                    0 => {
                        stream
                            .write_all(&disconnect_packet(proto))
                            .await
                            .expect("DISCONNECT");
                        assert!(
                            closed_by_broker(&mut stream).await,
                            "closed after DISCONNECT"
                        );
                    }
                    1 => drop(stream),
                    _ => {
                        stream.set_zero_linger().expect("SO_LINGER 0");
                        drop(stream);
                    }
                }
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(r) = workers.join_next().await {
            r.expect("cycle worker");
        }
    })
    .await
    .expect("200 cycles in time");
    assert_alive(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_does_not_block_others() {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    // One says nothing at all; another sends a CONNECT and then nothing.
    let mut mute = tcp(addr).await;
    let connected_then_mute = raw_session(addr, Proto::V4, "mute").await;
    assert_alive(&s).await;
    // Still served while they stay silent.
    let mut buf = [0u8; 1];
    assert!(
        tokio::time::timeout(QUIET, mute.read(&mut buf))
            .await
            .is_err(),
        "the broker sends nothing unprompted (and may close only after its CONNECT timeout)"
    );
    assert_alive(&s).await;
    drop((mute, connected_then_mute));
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_with_the_same_client_id_takes_over(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = seeded(&["a"]).await;
    let addr = broker(&s);
    let mut first = raw_session(addr, proto, THING).await;
    let mut second = device(&s, proto.other(), THING).await;
    assert!(
        closed_by_broker(&mut first).await,
        "the older session is dropped"
    );
    let v = second
        .accepted(&jobs(THING, "start-next"), &json!({}))
        .await;
    assert_eq!(v["execution"]["jobId"], "a");
}

#[rstest]
#[case::v4(Proto::V4, vec![0xE0, 0x00])]
#[case::v5_bare(Proto::V5, vec![0xE0, 0x00])]
#[case::v5_reason_and_empty_properties(Proto::V5, vec![0xE0, 0x02, 0x00, 0x00])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_ends_the_session(#[case] proto: Proto, #[case] disconnect: Vec<u8>) {
    disconnect_closes(proto, &disconnect).await;
}

/// MQTT 5 §3.14.2.2.1: with a Remaining Length of 1 the Property Length is omitted and 0 is
/// used; `E0 01 00` is a well-formed DISCONNECT (reason 0x00, normal disconnection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt5_disconnect_with_only_a_reason_code_ends_the_session() {
    disconnect_closes(Proto::V5, &[0xE0, 0x01, 0x00]).await;
}

/// After `disconnect`, the broker closes the session without answering a request sent behind
/// it.
async fn disconnect_closes(proto: Proto, disconnect: &[u8]) {
    let s = seeded(&["a"]).await;
    let mut stream = raw_session(broker(&s), proto, THING).await;
    let mut bytes = disconnect.to_vec();
    bytes.extend(publish_packet(
        proto,
        &jobs(THING, "get"),
        0,
        0,
        br#"{"clientToken":"after-disconnect"}"#,
    ));
    stream.write_all(&bytes).await.expect("DISCONNECT");
    let sent = drained_until_closed(&mut stream)
        .await
        .expect("the broker closes the session after DISCONNECT");
    assert!(
        sent.is_empty(),
        "nothing is answered after DISCONNECT: {}",
        String::from_utf8_lossy(&sent)
    );
    assert_alive(&s).await;
}
