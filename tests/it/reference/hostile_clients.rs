//! `jobcert serve` in its own process against hostile clients, with short limits set by its
//! flags: 2,000 idle connections (half after a request, half silent from the start) and 500
//! slowloris connections, each closed within its own timeout while a normal client is served
//! throughout; the connection cap answering 503 with `Retry-After` while the broker still
//! serves; a stop that half-sent requests do not hold while a request being answered gets its
//! drain window; a plain listener out of descriptors, which logs its failed accepts
//! rate-limited and does not spin; and the recording proxy's HTTP listener under the same
//! limits. Loopback only; every wait is bounded.
//!
//! A close is asserted no earlier than its timeout, measured from a moment no later than the
//! server's timer starts, and no later than the timeout plus [`BOUND`], which is generous so
//! that a slow machine does not fail it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::common::descriptors;
use crate::common::process::{Process, Serve, args, free_port};
use crate::common::proxy::Proxy;
use crate::common::{read_until_closed, scratch};

/// The header timeout under test (`--http-header-timeout-ms`).
const HEADER: Duration = Duration::from_secs(1);
/// The idle timeout under test (`--http-idle-timeout-ms`), well past [`HEADER`] so a close at
/// the header timeout shows.
const IDLE: Duration = Duration::from_secs(3);
/// How long past its timeout a close may come.
const BOUND: Duration = Duration::from_secs(10);
/// Idle keep-alive connections.
const IDLE_CONNECTIONS: usize = 2_000;
/// Slowloris connections.
const SLOWLORIS: usize = 500;
/// A slowloris connection's pace: one byte of its headers each time.
const DRIP: Duration = Duration::from_millis(100);
/// Connections opened at once while the idle ones are set up.
const OPENING: usize = 200;
/// Descriptors this process holds beyond the connections under test.
const MARGIN: u64 = 256;

/// A request the server answers at once, keeping the connection.
const REQUEST: &[u8] = b"GET /things/t/jobs HTTP/1.1\r\nHost: x\r\n\r\n";

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

fn addr(url: &str) -> SocketAddr {
    url.strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("an http://ADDR URL: {url}"))
}

/// Reads one answer whose body is framed by `content-length`; its status line.
async fn read_answer(stream: &mut TcpStream) -> Result<String, String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no content-length: {head:?}"))?;
            if seen.len() >= end + 4 + length {
                return Ok(head.lines().next().unwrap_or_default().to_string());
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) => return Err("closed before the answer was complete".into()),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// How long after `since` the server closed `stream`, waiting until `since + within`.
async fn closed_since(
    stream: &mut TcpStream,
    since: Instant,
    within: Duration,
) -> Result<Duration, String> {
    let left = (since + within).saturating_duration_since(Instant::now());
    match read_until_closed(stream, left).await {
        Some(sent) if sent.is_empty() => Ok(since.elapsed()),
        Some(sent) => Err(format!(
            "sent {:?} before closing",
            String::from_utf8_lossy(&sent)
        )),
        None => Err(format!("still open after {within:?}")),
    }
}

/// One idle connection, left until the server closes it: with `ask`, after a request answered
/// (a pooled connection); without, silent from the start (one opened ahead of its use).
async fn idle(addr: SocketAddr, opening: Arc<Semaphore>, ask: bool) -> Result<Duration, String> {
    let permit = opening.acquire_owned().await.map_err(|e| e.to_string())?;
    // Before the connection, or the request: no later than the server's idle timer starts, at
    // the accept or the answer.
    let mut since = Instant::now();
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    if ask {
        since = Instant::now();
        stream.write_all(REQUEST).await.map_err(|e| e.to_string())?;
        let status = read_answer(&mut stream).await?;
        if !status.starts_with("http/1.1 200") {
            return Err(format!("answered {status:?}"));
        }
    }
    drop(permit);
    closed_since(&mut stream, since, IDLE + BOUND).await
}

/// One slowloris connection: headers a byte at a time, never finished, until the server closes.
async fn slowloris(addr: SocketAddr) -> Result<Duration, String> {
    // Before the connection: no later than the server's header timer starts, at its first byte.
    let since = Instant::now();
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let head = format!(
        "GET /things/t/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
        "s".repeat(200)
    );
    let (mut reader, mut writer) = stream.split();
    let mut drip = tokio::time::interval(DRIP);
    let mut buf = [0u8; 1024];
    let deadline = since + HEADER + BOUND;
    for byte in head.as_bytes().chunks(1) {
        tokio::select! {
            read = reader.read(&mut buf) => return match read {
                Ok(0) | Err(_) => Ok(since.elapsed()),
                Ok(n) => Err(format!("answered {:?}", String::from_utf8_lossy(&buf[..n]))),
            },
            _ = drip.tick() => {
                // A write after the close may fail; the read sees the close.
                let _ = writer.write_all(byte).await;
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    Err(format!("still open after {:?}", since.elapsed()))
}

/// A normal client's request on a fresh connection: answered in full, not refused.
async fn normal_request(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /things/t/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let status = tokio::time::timeout(BOUND, read_answer(&mut stream))
        .await
        .map_err(|_| "no answer in time".to_string())??;
    match status.starts_with("http/1.1 200") {
        true => Ok(()),
        false => Err(format!("answered {status:?}")),
    }
}

/// Closes of a kind, checked against their timeout: each no earlier than `timeout`, no later
/// than `timeout + BOUND`; returns the earliest and the latest.
fn judge(kind: &str, closes: Vec<Result<Duration, String>>, timeout: Duration) -> String {
    let count = closes.len();
    let mut failed: Vec<String> = Vec::new();
    let mut times = Vec::new();
    for close in closes {
        match close {
            Ok(t) if t < timeout => failed.push(format!("closed after {t:?}, before {timeout:?}")),
            Ok(t) => times.push(t),
            Err(e) => failed.push(e),
        }
    }
    assert!(
        failed.is_empty(),
        "{kind}: {} of {count} wrong, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let (min, max) = (times.iter().min(), times.iter().max());
    format!("{kind}: {count} closed within {min:?}..{max:?} (timeout {timeout:?})")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_connections_are_closed_within_their_timeouts_while_a_client_is_served()
{
    let connections = (IDLE_CONNECTIONS + SLOWLORIS) as u64;
    let _descriptors = descriptors::reserve(connections + MARGIN).await;
    let started = Instant::now();
    let server = Serve::with(&[
        "--http-header-timeout-ms",
        &ms(HEADER),
        "--http-idle-timeout-ms",
        &ms(IDLE),
        "--http-max-connections",
        &(connections + MARGIN).to_string(),
    ]);
    let addr = addr(&server.data);

    let attacking = Arc::new(AtomicBool::new(true));
    let normal = tokio::spawn({
        let attacking = attacking.clone();
        async move {
            let mut served = 0usize;
            let mut failed = Vec::new();
            while attacking.load(Ordering::Relaxed) {
                match normal_request(addr).await {
                    Ok(()) => served += 1,
                    Err(e) => failed.push(e),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (served, failed)
        }
    });

    let mut slow = JoinSet::new();
    for _ in 0..SLOWLORIS {
        slow.spawn(slowloris(addr));
    }
    let opening = Arc::new(Semaphore::new(OPENING));
    let mut idles = JoinSet::new();
    for i in 0..IDLE_CONNECTIONS {
        idles.spawn(idle(addr, opening.clone(), i % 2 == 0));
    }
    let slow = slow.join_all().await;
    let idles = idles.join_all().await;
    attacking.store(false, Ordering::Relaxed);
    let (served, failed) = normal.await.expect("the normal client ends");

    eprintln!("{}", judge("slowloris", slow, HEADER));
    eprintln!("{}", judge("idle", idles, IDLE));
    assert!(
        failed.is_empty(),
        "a normal client is served throughout: {} of {} failed, e.g. {:?}",
        failed.len(),
        served + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(served > 0, "the normal client made requests");
    eprintln!(
        "normal client: {served} requests served; whole test {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_connection_is_told_to_retry_and_the_broker_still_serves() {
    const CAP: usize = 100;
    let _descriptors = descriptors::reserve(CAP as u64 + MARGIN).await;
    let server = Serve::with(&[
        "--mqtt",
        "127.0.0.1:0",
        "--http-max-connections",
        &CAP.to_string(),
        "--http-header-timeout-ms",
        "60000",
    ]);
    let data = addr(&server.data);
    let held = fill_to_the_cap(data, CAP).await;

    // The other listeners are not starved: the control plane answers and the broker serves.
    normal_request_on(addr(&server.control), "GET /jobs/none HTTP/1.1").await;
    let broker = server.mqtt.as_deref().expect("an mqtt:// line");
    let broker: SocketAddr = broker
        .strip_prefix("mqtt://")
        .and_then(|a| a.parse().ok())
        .expect("mqtt://ADDR");
    let mut options = MqttOptions::new("capped", broker.ip().to_string(), broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 10);
    let answered = tokio::time::timeout(BOUND, async {
        loop {
            match events.poll().await.expect("the broker serves") {
                Event::Incoming(Packet::ConnAck(_)) => {
                    client
                        .subscribe("$aws/things/capped/jobs/get/+", QoS::AtLeastOnce)
                        .await
                        .expect("subscribe");
                }
                Event::Incoming(Packet::SubAck(_)) => {
                    client
                        .publish("$aws/things/capped/jobs/get", QoS::AtLeastOnce, false, "{}")
                        .await
                        .expect("publish");
                }
                Event::Incoming(Packet::Publish(p)) => return p.topic,
                _ => {}
            }
        }
    })
    .await
    .expect("the broker answers a Jobs request in time");
    assert!(
        answered.starts_with("$aws/things/capped/jobs/get/"),
        "{answered}"
    );
    drop(held);
}

/// Holds `cap` connections to `addr`, each answered (so the server holds it), and shows that
/// the next is told to retry: 503 with `Retry-After: 1`, then closed. Returns those held.
async fn fill_to_the_cap(addr: SocketAddr, cap: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..cap {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(REQUEST).await.expect("request");
        let status = tokio::time::timeout(BOUND, read_answer(&mut stream))
            .await
            .expect("answered in time")
            .expect("answered");
        assert!(status.starts_with("http/1.1 200"), "{status}");
        held.push(stream);
    }
    let mut over = TcpStream::connect(addr).await.expect("connect");
    let reply = read_until_closed(&mut over, BOUND)
        .await
        .expect("refused and closed");
    let reply = String::from_utf8_lossy(&reply).to_ascii_lowercase();
    assert!(reply.starts_with("http/1.1 503 "), "{reply:?}");
    assert!(reply.contains("\r\nretry-after: 1\r\n"), "{reply:?}");
    held
}

/// `request_line` on a fresh connection to `addr` is answered, not refused as busy.
async fn normal_request_on(addr: SocketAddr, request_line: &str) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("{request_line}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let status = tokio::time::timeout(BOUND, read_answer(&mut stream))
        .await
        .expect("answered in time")
        .expect("answered");
    assert!(!status.starts_with("http/1.1 503"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_do_not_hold_a_stop_and_a_request_being_answered_is_drained() {
    /// How long the slow request takes to answer (a `delay` fault).
    const ANSWER: Duration = Duration::from_millis(2500);
    /// The drain window, far longer than anything here should take.
    const DRAIN: Duration = Duration::from_secs(30);
    /// Connections of each kind.
    const EACH: usize = 50;
    let _descriptors = descriptors::reserve(3 * EACH as u64 + MARGIN).await;
    let scratch = scratch("hostile-drain");
    let faults = scratch.path().join("faults.yaml");
    std::fs::write(
        &faults,
        format!(
            "rules:\n  - operations: [GetPendingJobExecutions]\n    fault: delay\n    \
             delayMs: {}\n    things: 'slow-*'\n",
            ANSWER.as_millis()
        ),
    )
    .expect("faults file");
    let long = ms(DRAIN);
    let mut server = Serve::with(&[
        "--faults",
        faults.to_str().expect("a UTF-8 path"),
        "--http-drain-ms",
        &long,
        "--http-header-timeout-ms",
        &long,
        "--http-body-timeout-ms",
        &long,
        "--http-idle-timeout-ms",
        &long,
    ]);
    let (data, control) = (addr(&server.data), addr(&server.control));
    let mut waiting = Vec::new();
    for _ in 0..EACH {
        let mut head = TcpStream::connect(data).await.expect("connect");
        head.write_all(b"GET /things/t/jobs HTTP/1.1\r\nHo")
            .await
            .expect("half the headers");
        let mut body = TcpStream::connect(control).await.expect("connect");
        body.write_all(
            b"PUT /things/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .expect("half a body");
        let mut idle = TcpStream::connect(data).await.expect("connect");
        idle.write_all(REQUEST).await.expect("request");
        read_answer(&mut idle).await.expect("answered");
        waiting.extend([
            ("half the headers", head),
            ("half a body", body),
            ("idle", idle),
        ]);
    }
    let mut slow = TcpStream::connect(data).await.expect("connect");
    let asked = Instant::now();
    slow.write_all(b"GET /things/slow-1/jobs HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("the slow request");
    let slow_answer = tokio::spawn(async move {
        let status = read_answer(&mut slow).await;
        (status, asked.elapsed())
    });
    // Into the handler, and the half-sent bytes with the server, before the stop.
    tokio::time::sleep(ANSWER / 4).await;

    let stopped = Instant::now();
    let stopping = tokio::task::spawn_blocking(move || {
        server.terminate_within(DRAIN);
        stopped.elapsed()
    });
    let mut closes = JoinSet::new();
    for (kind, mut stream) in waiting {
        closes.spawn(async move {
            let close = closed_since(&mut stream, stopped, DRAIN).await;
            (kind, close)
        });
    }
    let (status, answered_after) = slow_answer.await.expect("the slow request ends");
    let exited_after = stopping.await.expect("the server exits");
    let answered_at = asked + answered_after;
    let mut latest = Duration::ZERO;
    for (kind, close) in closes.join_all().await {
        let close = close.unwrap_or_else(|e| panic!("{kind}: {e}"));
        // Closed at the stop, not held until the answer being drained was sent.
        assert!(
            stopped + close < answered_at,
            "{kind}: closed {close:?} after the stop, after the slow answer ({:?} after the stop)",
            answered_at - stopped
        );
        latest = latest.max(close);
    }
    assert_eq!(
        status.expect("the request being answered gets its answer"),
        "http/1.1 200 ok"
    );
    assert!(
        answered_after >= ANSWER,
        "answered after its delay: {answered_after:?}"
    );
    assert!(
        exited_after < DRAIN / 2,
        "the stop took {exited_after:?}, drain window {DRAIN:?}"
    );
    eprintln!(
        "half-sent and idle closed within {latest:?} of the stop; the slow answer came \
         {answered_after:?} after its request; the server exited {exited_after:?} after the stop"
    );
}

/// CPU time process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // After the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a (comm) field")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_a_plain_listener_logs_rate_limited_and_does_not_spin() {
    /// The server's descriptors.
    const LIMIT: usize = 64;
    /// Connections opened: more than the server can accept.
    const OPENED: usize = 2 * LIMIT;
    /// How long the server is left out of descriptors.
    const STARVED: Duration = Duration::from_secs(3);
    let scratch = scratch("hostile-emfile");
    let (http, control) = (free_port(), free_port());
    let data: SocketAddr = format!("127.0.0.1:{http}").parse().expect("an address");
    let mut server = Process::spawn_in_shell(
        &format!("ulimit -n {LIMIT}"),
        &args([
            "serve".to_string(),
            "--http".to_string(),
            data.to_string(),
            "--control".to_string(),
            format!("127.0.0.1:{control}"),
            "--http-header-timeout-ms".to_string(),
            "60000".to_string(),
        ]),
        scratch.path(),
    );
    let served = |within: Duration| async move {
        let deadline = Instant::now() + within;
        loop {
            match normal_request(data).await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("not served within {within:?}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    };
    served(BOUND).await;

    // The kernel completes every connection; the server accepts until it runs out.
    let mut opened = Vec::new();
    for _ in 0..OPENED {
        opened.push(TcpStream::connect(data).await.expect("connect"));
    }
    let before = cpu_time(server.id());
    tokio::time::sleep(STARVED).await;
    let spent = cpu_time(server.id()) - before;
    assert!(
        spent < STARVED / 4,
        "out of descriptors, the server used {spent:?} of CPU in {STARVED:?}"
    );
    drop(opened);
    served(BOUND).await;

    server.interrupt();
    let ran = server.finish(BOUND);
    let logged = ran
        .stderr
        .lines()
        .filter(|l| l.contains("HTTP data-plane listener: accept failed"))
        .count();
    // One line per 10 s; the test stays within two such periods.
    assert!(
        (1..=2).contains(&logged),
        "failed accepts logged {logged} times: {ran}"
    );
    eprintln!("out of descriptors for {STARVED:?}: {spent:?} of CPU, {logged} line(s) logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_proxy_holds_its_http_listener_to_the_same_limits() {
    /// Connections of each attack, and the cap once they are gone.
    const EACH: usize = 10;
    const CAP: usize = 3 * EACH;
    let _descriptors = descriptors::reserve(2 * CAP as u64 + MARGIN).await;
    let dir = scratch("hostile-proxy");
    let serve = Serve::start(1.0);
    let proxy = Proxy::start_with(
        &serve,
        1.0,
        &dir.path().join("capture.jsonl"),
        dir.path(),
        &[
            "--http-header-timeout-ms",
            &ms(HEADER),
            "--http-idle-timeout-ms",
            &ms(IDLE),
            "--http-max-connections",
            &CAP.to_string(),
        ],
    );
    let data = addr(&proxy.data);
    let mut slow = JoinSet::new();
    let opening = Arc::new(Semaphore::new(EACH));
    let mut idles = JoinSet::new();
    for _ in 0..EACH {
        slow.spawn(slowloris(data));
        idles.spawn(idle(data, opening.clone(), true));
    }
    normal_request(data)
        .await
        .expect("served through the proxy");
    eprintln!(
        "{}",
        judge("proxy, slowloris", slow.join_all().await, HEADER)
    );
    eprintln!(
        "{}",
        judge("proxy, idle keep-alive", idles.join_all().await, IDLE)
    );
    normal_request(data)
        .await
        .expect("served through the proxy");

    let held = fill_to_the_cap(data, CAP).await;
    drop(held);
    proxy.stop();
}
