//! The embedded MQTT broker and the Jobs service behind it, over real TCP on 127.0.0.1
//! (spec §3, §7): request/reply on the reserved topics for MQTT 3.1.1 and 5, the rejected
//! codes, notifications, namespace topics, consistency with the HTTP data plane, plain
//! publish/subscribe, and the broker surviving abuse.
//!
//! Every payload received on a `$aws/things/{thing}/jobs/…` topic is checked against the
//! matching `schemas/mqtt/*.json` schema, and every wait is bounded by [`WAIT`].

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{call, create_job, create_thing};
use jobcert_contract::schemas;
use jobcert_reference::{RunningServer, ServeConfig};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Longest wait for anything expected to happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);
/// The thing most tests use.
const THING: &str = "dev-1";
/// Payloads accepted by the test clients (the broker allows 128 KiB plus headers).
const CLIENT_MAX_PACKET: usize = 512 * 1024;

// ---------------------------------------------------------------------------------------------
// Server set-up
// ---------------------------------------------------------------------------------------------

async fn mqtt_server() -> RunningServer {
    RunningServer::start(&ServeConfig {
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        time_scale: 600.0,
        ..Default::default()
    })
    .await
    .expect("reference server with the embedded broker starts")
}

/// A server whose [`THING`] has `jobs` queued, oldest first.
async fn seeded(jobs: &[&str]) -> RunningServer {
    let s = mqtt_server().await;
    create_thing(&s, THING).await;
    for id in jobs {
        create_job(&s, id, &[THING], json!({})).await;
    }
    s
}

fn broker(s: &RunningServer) -> SocketAddr {
    let addr = s.mqtt().expect("the embedded broker runs");
    assert!(addr.ip().is_loopback());
    addr
}

/// `$aws/things/{thing}/jobs/{rest}`.
fn jobs(thing: &str, rest: &str) -> String {
    format!("$aws/things/{thing}/jobs/{rest}")
}

// ---------------------------------------------------------------------------------------------
// Payload checks
// ---------------------------------------------------------------------------------------------

/// The schema a Jobs topic's payload must satisfy.
fn schema_for(topic: &str) -> Option<&'static str> {
    let rest = topic.strip_prefix("$aws/things/")?.split_once("/jobs/")?.1;
    let levels: Vec<&str> = rest.split('/').collect();
    Some(match levels.as_slice() {
        ["notify"] => "mqtt/notify.json",
        ["notify-next"] => "mqtt/notify-next.json",
        [.., "rejected"] => "mqtt/rejected.json",
        ["get", "accepted"] => "mqtt/get-pending-job-executions.accepted.json",
        ["start-next", "accepted"] => "mqtt/start-next-pending-job-execution.accepted.json",
        [_, "get", "accepted"] | [_, _, "get", "accepted"] => {
            "mqtt/describe-job-execution.accepted.json"
        }
        [_, "update", "accepted"] | [_, _, "update", "accepted"] => {
            "mqtt/update-job-execution.accepted.json"
        }
        _ => return None,
    })
}

/// The payload as JSON; on a Jobs topic it must satisfy its schema and carry an integer
/// epoch-seconds `timestamp`.
fn json_of(topic: &str, payload: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(payload).unwrap_or_else(|e| {
        panic!(
            "{topic}: payload is not JSON ({e}): {}",
            String::from_utf8_lossy(payload)
        )
    });
    if let Some(path) = schema_for(topic) {
        let violations = schemas()
            .get(path)
            .expect("schema exists")
            .violations(&value);
        assert!(
            violations.is_empty(),
            "{topic}: {value} breaks {path}: {violations:?}"
        );
        let ts = value["timestamp"].as_u64();
        assert!(
            ts.is_some_and(|t| t > 1_000_000_000 && t < 100_000_000_000),
            "{topic}: timestamp must be integer epoch seconds: {value}"
        );
    }
    value
}

/// The job ids of a list of summaries.
fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e["jobId"].as_str().expect("jobId"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// An MQTT client (rumqttc, v4 or v5) whose events come back through a channel
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    V4,
    V5,
}

impl Proto {
    fn other(self) -> Self {
        match self {
            Proto::V4 => Proto::V5,
            Proto::V5 => Proto::V4,
        }
    }
}

/// What a client's event loop saw.
enum Seen {
    ConnAck,
    Message {
        topic: String,
        payload: Bytes,
        qos: u8,
        pkid: u16,
    },
    PubAck(u16),
    SubAck(Vec<Option<u8>>),
    Closed(String),
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::ConnAck => write!(f, "CONNACK"),
            Seen::Message {
                topic,
                payload,
                qos,
                pkid,
            } => {
                let text = String::from_utf8_lossy(&payload[..payload.len().min(200)]);
                let more = if payload.len() > 200 { "…" } else { "" };
                write!(
                    f,
                    "PUBLISH {topic} qos {qos} pkid {pkid} ({} bytes) {text}{more}",
                    payload.len()
                )
            }
            Seen::PubAck(p) => write!(f, "PUBACK {p}"),
            Seen::SubAck(g) => write!(f, "SUBACK {g:?}"),
            Seen::Closed(e) => write!(f, "closed: {e}"),
        }
    }
}

impl Seen {
    fn on(&self, wanted: &str) -> bool {
        matches!(self, Seen::Message { topic, .. } if topic == wanted)
    }
}

/// A received message.
#[derive(Debug)]
struct Msg {
    topic: String,
    payload: Bytes,
    qos: u8,
    pkid: u16,
}

enum Handle {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

struct Client {
    id: String,
    handle: Handle,
    events: mpsc::UnboundedReceiver<Seen>,
    /// Events received while waiting for something else.
    backlog: VecDeque<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn qos4(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    use rumqttc::v5::mqttbytes::QoS;
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn spawn_v4(
    addr: SocketAddr,
    id: &str,
    tx: mpsc::UnboundedSender<Seen>,
) -> (Handle, tokio::task::JoinHandle<()>) {
    use rumqttc::{Event, Packet, SubscribeReasonCode};
    let mut options = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(CLIENT_MAX_PACKET, CLIENT_MAX_PACKET);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 64);
    let task = tokio::spawn(async move {
        loop {
            let seen = match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::ConnAck,
                Ok(Event::Incoming(Packet::Publish(p))) => Seen::Message {
                    topic: p.topic,
                    payload: p.payload,
                    qos: p.qos as u8,
                    pkid: p.pkid,
                },
                Ok(Event::Incoming(Packet::PubAck(a))) => Seen::PubAck(a.pkid),
                Ok(Event::Incoming(Packet::SubAck(s))) => Seen::SubAck(
                    s.return_codes
                        .iter()
                        .map(|c| match c {
                            SubscribeReasonCode::Success(q) => Some(*q as u8),
                            SubscribeReasonCode::Failure => None,
                        })
                        .collect(),
                ),
                Ok(_) => continue,
                Err(e) => {
                    let _ = tx.send(Seen::Closed(e.to_string()));
                    return;
                }
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (Handle::V4(client), task)
}

fn spawn_v5(
    addr: SocketAddr,
    id: &str,
    tx: mpsc::UnboundedSender<Seen>,
) -> (Handle, tokio::task::JoinHandle<()>) {
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
    use rumqttc::v5::{Event, MqttOptions};
    let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(Some(CLIENT_MAX_PACKET as u32));
    let (client, mut events) = rumqttc::v5::AsyncClient::new(options, 64);
    let task = tokio::spawn(async move {
        loop {
            let seen = match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::ConnAck,
                Ok(Event::Incoming(Packet::Publish(p))) => Seen::Message {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    payload: p.payload,
                    qos: p.qos as u8,
                    pkid: p.pkid,
                },
                Ok(Event::Incoming(Packet::PubAck(a))) => Seen::PubAck(a.pkid),
                Ok(Event::Incoming(Packet::SubAck(s))) => Seen::SubAck(
                    s.return_codes
                        .iter()
                        .map(|c| match c {
                            SubscribeReasonCode::Success(q) => Some(*q as u8),
                            _ => None,
                        })
                        .collect(),
                ),
                Ok(_) => continue,
                Err(e) => {
                    let _ = tx.send(Seen::Closed(e.to_string()));
                    return;
                }
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (Handle::V5(client), task)
}

impl Client {
    /// Connects with client id `id` and waits for the CONNACK.
    async fn connect(addr: SocketAddr, proto: Proto, id: &str) -> Client {
        let (tx, events) = mpsc::unbounded_channel();
        let (handle, task) = match proto {
            Proto::V4 => spawn_v4(addr, id, tx),
            Proto::V5 => spawn_v5(addr, id, tx),
        };
        let mut client = Client {
            id: format!("{id} ({proto:?})"),
            handle,
            events,
            backlog: VecDeque::new(),
            task,
        };
        client.next("CONNACK", |s| matches!(s, Seen::ConnAck)).await;
        client
    }

    /// The first event matching `wanted` (earlier unmatched events stay queued).
    async fn next(&mut self, what: &str, wanted: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(i) = self.backlog.iter().position(&wanted) {
            return self.backlog.remove(i).expect("position is in range");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(s)) if wanted(&s) => return s,
                Ok(Some(Seen::Closed(e))) => {
                    panic!("{}: connection lost while waiting for {what}: {e}", self.id)
                }
                Ok(Some(s)) => self.backlog.push_back(s),
                Ok(None) => panic!("{}: event loop ended", self.id),
                Err(_) => panic!(
                    "{}: no {what} within {WAIT:?}; received meanwhile: {:?}",
                    self.id, self.backlog
                ),
            }
        }
    }

    /// Fails if an event matching `unwanted` is queued or arrives within `window`.
    async fn quiet(&mut self, what: &str, window: Duration, unwanted: impl Fn(&Seen) -> bool) {
        if let Some(s) = self.backlog.iter().find(|s| unwanted(s)) {
            panic!("{}: unexpected {what}: {s:?}", self.id);
        }
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(s)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert!(!unwanted(&s), "{}: unexpected {what}: {s:?}", self.id);
            self.backlog.push_back(s);
        }
    }

    async fn subscribe(&mut self, filter: &str, qos: u8) -> Option<u8> {
        match &self.handle {
            Handle::V4(c) => c
                .subscribe(filter, qos4(qos))
                .await
                .expect("SUBSCRIBE queued"),
            Handle::V5(c) => c
                .subscribe(filter, qos5(qos))
                .await
                .expect("SUBSCRIBE queued"),
        }
        let Seen::SubAck(granted) = self.next("SUBACK", |s| matches!(s, Seen::SubAck(_))).await
        else {
            unreachable!()
        };
        assert_eq!(granted.len(), 1, "{}: SUBACK for {filter}", self.id);
        granted[0]
    }

    async fn publish(&self, topic: &str, qos: u8, payload: impl Into<Vec<u8>>) {
        let payload: Vec<u8> = payload.into();
        match &self.handle {
            Handle::V4(c) => c
                .publish(topic, qos4(qos), false, payload)
                .await
                .expect("PUBLISH queued"),
            Handle::V5(c) => c
                .publish(topic, qos5(qos), false, payload)
                .await
                .expect("PUBLISH queued"),
        }
    }

    /// The next message on `topic`.
    async fn recv(&mut self, topic: &str) -> Msg {
        let seen = self
            .next(&format!("a message on {topic}"), |s| s.on(topic))
            .await;
        let Seen::Message {
            topic,
            payload,
            qos,
            pkid,
        } = seen
        else {
            unreachable!()
        };
        Msg {
            topic,
            payload,
            qos,
            pkid,
        }
    }

    /// The next message on `topic`, as checked JSON.
    async fn json(&mut self, topic: &str) -> Value {
        let m = self.recv(topic).await;
        json_of(&m.topic, &m.payload)
    }

    /// The next message on any topic.
    async fn any_message(&mut self) -> Msg {
        let seen = self
            .next("any message", |s| matches!(s, Seen::Message { .. }))
            .await;
        let Seen::Message {
            topic,
            payload,
            qos,
            pkid,
        } = seen
        else {
            unreachable!()
        };
        Msg {
            topic,
            payload,
            qos,
            pkid,
        }
    }

    /// Publishes a request at QoS 1 and returns the reply: `accepted` or `rejected`, the
    /// checked payload, and the QoS it came at.
    async fn request(&mut self, topic: &str, payload: impl Into<Vec<u8>>) -> (String, Value, u8) {
        self.publish(topic, 1, payload).await;
        let (accepted, rejected) = (format!("{topic}/accepted"), format!("{topic}/rejected"));
        let seen = self
            .next(&format!("a reply to {topic}"), |s| {
                s.on(&accepted) || s.on(&rejected)
            })
            .await;
        let Seen::Message {
            topic: t,
            payload,
            qos,
            ..
        } = seen
        else {
            unreachable!()
        };
        let body = json_of(&t, &payload);
        let kind = t.rsplit('/').next().unwrap_or_default().to_string();
        (kind, body, qos)
    }

    async fn accepted(&mut self, topic: &str, payload: &Value) -> Value {
        let (kind, body, _) = self.request(topic, payload.to_string()).await;
        assert_eq!(kind, "accepted", "{topic} {payload}: {body}");
        body
    }

    async fn rejected(&mut self, topic: &str, payload: impl Into<Vec<u8>>) -> Value {
        let payload: Vec<u8> = payload.into();
        let shown = String::from_utf8_lossy(&payload).into_owned();
        let (kind, body, _) = self.request(topic, payload).await;
        assert_eq!(kind, "rejected", "{topic} {shown}: {body}");
        assert!(body["code"].is_string(), "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "rejected needs a message: {body}"
        );
        assert!(body["timestamp"].is_u64(), "{body}");
        body
    }
}

/// A device: client id = thing name, subscribed at QoS 1 to `$aws/things/{thing}/jobs/#`.
async fn device(s: &RunningServer, proto: Proto, thing: &str) -> Client {
    let mut c = Client::connect(broker(s), proto, thing).await;
    assert_eq!(c.subscribe(&jobs(thing, "#"), 1).await, Some(1));
    c
}

/// The broker still serves: fresh v4 and v5 devices each complete a start-next round trip
/// (on a server seeded with at least one job for [`THING`]).
async fn assert_alive(s: &RunningServer) {
    for proto in [Proto::V4, Proto::V5] {
        let mut d = device(s, proto, THING).await;
        let token = format!("alive-{proto:?}");
        let v = d
            .accepted(&jobs(THING, "start-next"), &json!({ "clientToken": token }))
            .await;
        assert_eq!(v["clientToken"], token);
        assert_eq!(v["execution"]["status"], "IN_PROGRESS", "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// Raw MQTT bytes, for what a well-behaved client library will not send
// ---------------------------------------------------------------------------------------------

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    p.extend(varint(body.len()));
    p.extend_from_slice(body);
    p
}

fn mqtt_string(s: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(s.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(s);
    out
}

fn connect_packet(proto: Proto, id: &str) -> Vec<u8> {
    let mut b = mqtt_string(b"MQTT");
    b.push(if proto == Proto::V4 { 4 } else { 5 });
    b.push(0x02); // clean session
    b.extend(30u16.to_be_bytes());
    if proto == Proto::V5 {
        b.push(0); // no properties
    }
    b.extend(mqtt_string(id.as_bytes()));
    frame(0x10, &b)
}

fn publish_packet(proto: Proto, topic: &str, qos: u8, pkid: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = mqtt_string(topic.as_bytes());
    if qos > 0 {
        b.extend(pkid.to_be_bytes());
    }
    if proto == Proto::V5 {
        b.push(0); // no properties
    }
    b.extend_from_slice(payload);
    frame(0x30 | (qos << 1), &b)
}

fn disconnect_packet(proto: Proto) -> Vec<u8> {
    match proto {
        Proto::V4 => vec![0xE0, 0x00],
        Proto::V5 => vec![0xE0, 0x00],
    }
}

async fn tcp(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("TCP connect in time")
        .expect("TCP connect")
}

/// Reads one packet: its first byte and body; `None` at end of stream or on a reset.
async fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let first = stream.read_u8().await.ok()?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let b = stream.read_u8().await.ok()?;
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.ok()?;
    Some((first, body))
}

/// A raw session: CONNECT written and CONNACK (success) read.
async fn raw_session(addr: SocketAddr, proto: Proto, id: &str) -> TcpStream {
    let mut s = tcp(addr).await;
    s.write_all(&connect_packet(proto, id))
        .await
        .expect("CONNECT");
    let (first, body) = tokio::time::timeout(WAIT, read_packet(&mut s))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(first, 0x20, "CONNACK expected");
    assert_eq!(body.get(1), Some(&0), "CONNACK reason must be success");
    s
}

/// What the broker sent before closing the stream, or `None` if it is still open after
/// [`WAIT`].
async fn drained_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(seen)
}

/// Whether the broker closes the stream within [`WAIT`].
async fn closed_by_broker(stream: &mut TcpStream) -> bool {
    drained_until_closed(stream).await.is_some()
}

// ---------------------------------------------------------------------------------------------
// Request / reply on the reserved topics
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Plain publish / subscribe
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Robustness: a misbehaving client ends its own session, never the broker
// ---------------------------------------------------------------------------------------------

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
