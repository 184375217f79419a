//! The HTTP listeners against clients that hold connections open: slowloris headers, idle
//! keep-alive connections, stalled bodies and more connections than the cap. Each attack ends
//! within its limit (short ones here) while a normal client is served throughout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jobcert_reference::http::HttpLimits;
use jobcert_reference::{RunningServer, ServeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The short limit under test.
const LIMIT: Duration = Duration::from_millis(400);
/// An idle timeout well past [`LIMIT`], so a close at the header timeout shows.
const IDLE: Duration = Duration::from_millis(1500);
/// A limit no attack here reaches.
const LONG: Duration = Duration::from_secs(20);
/// How long past its limit an attack may last before the test gives up on it.
const GRACE: Duration = Duration::from_secs(2);

const REQUEST: &[u8] = b"GET /things/t/jobs HTTP/1.1\r\nHost: x\r\n\r\n";

async fn server(limits: HttpLimits) -> RunningServer {
    RunningServer::start(&ServeConfig {
        mqtt: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        http_limits: limits,
        ..ServeConfig::default()
    })
    .await
    .expect("server starts")
}

async fn tcp(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(GRACE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Everything the server sends until it closes, and when it closed; `None` if still open
/// after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<(String, Instant)> {
    let seen = crate::common::read_until_closed(stream, within).await?;
    Some((String::from_utf8_lossy(&seen).into_owned(), Instant::now()))
}

/// A complete request on a fresh connection is answered (not refused as busy).
async fn assert_served(addr: SocketAddr) {
    let mut s = tcp(addr).await;
    s.write_all(b"GET /things/t/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let (reply, _) = until_closed(&mut s, GRACE)
        .await
        .expect("answered and closed");
    assert!(
        reply.starts_with("HTTP/1.1 ") && !reply.starts_with("HTTP/1.1 503"),
        "a normal client is served: {reply:?}"
    );
}

/// Asserts `stream` is closed no sooner than `at_least` and no later than `limit + GRACE`
/// after `since`, while a normal client is served; returns what was sent before the close.
async fn closed_after(
    stream: &mut TcpStream,
    since: Instant,
    at_least: Duration,
    limit: Duration,
    addr: SocketAddr,
) -> String {
    assert_served(addr).await;
    let (sent, at) = until_closed(stream, limit + GRACE)
        .await
        .expect("the connection is closed within its limit");
    assert!(at - since >= at_least, "closed too soon: {:?}", at - since);
    assert_served(addr).await;
    sent
}

fn limits(header: Duration, body: Duration, idle: Duration, max: u32) -> HttpLimits {
    HttpLimits {
        header_timeout: header,
        body_timeout: body,
        idle_timeout: idle,
        max_connections: max,
        drain: LONG,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_request_is_closed_after_the_header_timeout() {
    let s = server(limits(LIMIT, LONG, LONG, 100)).await;
    let addr = s.data_plane();
    let mut slow = tcp(addr).await;
    let since = Instant::now();
    slow.write_all(b"GET /things/t/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("partial headers");
    closed_after(&mut slow, since, LIMIT / 2, LIMIT, addr).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_is_closed_after_the_idle_timeout_not_the_header_one() {
    let s = server(limits(LIMIT, LONG, IDLE, 100)).await;
    let addr = s.data_plane();
    let since = Instant::now();
    let mut silent = tcp(addr).await;
    closed_after(&mut silent, since, IDLE, IDLE, addr).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_one() {
    let s = server(limits(LIMIT, LONG, IDLE, 100)).await;
    let addr = s.data_plane();
    let mut idle = tcp(addr).await;
    // Before the request is sent, so no later than the server's idle timer starts.
    let since = Instant::now();
    idle.write_all(REQUEST).await.expect("request");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.expect("answered");
    assert_eq!(&first[..9], b"HTTP/1.1 ");
    closed_after(&mut idle, since, IDLE, IDLE, addr).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_request_on_a_kept_connection_has_the_header_timeout_from_its_first_byte() {
    let s = server(limits(LIMIT, LONG, LONG, 100)).await;
    let addr = s.data_plane();
    let mut kept = tcp(addr).await;
    for _ in 0..2 {
        kept.write_all(REQUEST).await.expect("request");
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.expect("answered");
        assert_eq!(&first[..9], b"HTTP/1.1 ");
        // Idle past the header timeout: the idle timeout applies, so the connection stays.
        tokio::time::sleep(LIMIT * 2).await;
        let mut rest = vec![0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(50), kept.read(&mut rest)).await;
    }
    let since = Instant::now();
    kept.write_all(b"GET /things/t/jobs HTTP/1.1\r\nHo")
        .await
        .expect("the next request, in part");
    closed_after(&mut kept, since, LIMIT, LIMIT, addr).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_body_is_cut_off_after_the_body_timeout() {
    let s = server(limits(LONG, LIMIT, LONG, 100)).await;
    let addr = s.control_plane();
    let mut half = tcp(addr).await;
    let since = Instant::now();
    half.write_all(
        b"PUT /things/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"attributePayload\":",
    )
    .await
    .expect("half a body");
    closed_after(&mut half, since, LIMIT / 2, LIMIT, addr).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_connection_is_told_to_retry() {
    const CAP: u32 = 3;
    let s = server(limits(LONG, LONG, LONG, CAP)).await;
    let addr = s.data_plane();
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(tcp(addr).await);
    }
    // The server counts a connection once it has accepted it: the last one shows it has.
    let mut last = held.pop().expect("CAP > 0");
    last.write_all(REQUEST).await.expect("request");
    let mut first = [0u8; 12];
    last.read_exact(&mut first).await.expect("answered");
    assert_eq!(&first[..9], b"HTTP/1.1 ");
    assert_ne!(&first[9..], b"503");
    held.push(last);

    let mut over = tcp(addr).await;
    let (reply, _) = until_closed(&mut over, GRACE)
        .await
        .expect("refused and closed");
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply:?}");
    assert!(
        reply.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{reply:?}"
    );

    // The other listeners are not starved: the control plane and MQTT still serve.
    assert_served(s.control_plane()).await;
    let mut mqtt = tcp(s.mqtt().expect("broker")).await;
    mqtt.write_all(b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x1e\x00\x01c")
        .await
        .expect("CONNECT");
    let mut connack = [0u8; 4];
    tokio::time::timeout(GRACE, mqtt.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);

    // A released connection makes room again.
    drop(held.pop());
    let deadline = Instant::now() + GRACE;
    loop {
        let mut s = tcp(addr).await;
        s.write_all(b"GET /things/t/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let (reply, _) = until_closed(&mut s, GRACE).await.expect("answered");
        if !reply.starts_with("HTTP/1.1 503") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "room again once a connection ends"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_closes_idle_and_half_sent_requests_at_once_within_a_long_drain() {
    let s = server(limits(LONG, LONG, LONG, 100)).await;
    let mut idle = tcp(s.data_plane()).await;
    idle.write_all(REQUEST).await.expect("request");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.expect("answered");
    let mut half_head = tcp(s.data_plane()).await;
    half_head
        .write_all(b"GET /things/t/jobs HTTP/1.1\r\nHo")
        .await
        .expect("half the headers");
    let mut half_body = tcp(s.control_plane()).await;
    half_body
        .write_all(
            b"PUT /things/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .expect("half a body");
    // The server has the body's first byte once the header timeout no longer applies;
    // there is none to see from here, so give the bytes a moment to arrive.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let since = Instant::now();
    s.shutdown().await;
    assert!(
        since.elapsed() < Duration::from_secs(1),
        "not held by idle or half-sent requests (drain window {LONG:?}): {:?}",
        since.elapsed()
    );
    for (name, stream) in [
        ("idle", &mut idle),
        ("half the headers", &mut half_head),
        ("half a body", &mut half_body),
    ] {
        until_closed(stream, GRACE)
            .await
            .unwrap_or_else(|| panic!("{name}: closed on shutdown"));
    }
}
