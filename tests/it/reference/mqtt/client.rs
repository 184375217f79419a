//! An MQTT client (rumqttc, v4 or v5) whose events come back through a channel.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Proto {
    V4,
    V5,
}

impl Proto {
    pub(super) fn other(self) -> Self {
        match self {
            Proto::V4 => Proto::V5,
            Proto::V5 => Proto::V4,
        }
    }
}

/// What a client's event loop saw.
pub(super) enum Seen {
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
    pub(super) fn on(&self, wanted: &str) -> bool {
        matches!(self, Seen::Message { topic, .. } if topic == wanted)
    }
}

/// A received message.
#[derive(Debug)]
pub(super) struct Msg {
    pub(super) topic: String,
    pub(super) payload: Bytes,
    pub(super) qos: u8,
    pub(super) pkid: u16,
}

pub(super) enum Handle {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

pub(super) struct Client {
    pub(super) id: String,
    pub(super) handle: Handle,
    pub(super) events: mpsc::UnboundedReceiver<Seen>,
    /// Events received while waiting for something else.
    pub(super) backlog: VecDeque<Seen>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn qos4(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

pub(super) fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    use rumqttc::v5::mqttbytes::QoS;
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

pub(super) fn spawn_v4(
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

pub(super) fn spawn_v5(
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
    pub(super) async fn connect(addr: SocketAddr, proto: Proto, id: &str) -> Client {
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

    /// Connects with client id `id`: the client once the CONNACK accepts it, or why the
    /// connection ended first (a refusing CONNACK, or a close without one).
    pub(super) async fn attempt(
        addr: SocketAddr,
        proto: Proto,
        id: &str,
    ) -> Result<Client, String> {
        let (tx, mut events) = mpsc::unbounded_channel();
        let (handle, task) = match proto {
            Proto::V4 => spawn_v4(addr, id, tx),
            Proto::V5 => spawn_v5(addr, id, tx),
        };
        let first = tokio::time::timeout(WAIT, events.recv()).await;
        let client = Client {
            id: format!("{id} ({proto:?})"),
            handle,
            events,
            backlog: VecDeque::new(),
            task,
        };
        match first {
            Ok(Some(Seen::ConnAck)) => Ok(client),
            Ok(Some(Seen::Closed(e))) => Err(e),
            other => panic!(
                "{}: neither CONNACK nor a close within {WAIT:?}: {other:?}",
                client.id
            ),
        }
    }

    /// The first event matching `wanted` (earlier unmatched events stay queued).
    pub(super) async fn next(&mut self, what: &str, wanted: impl Fn(&Seen) -> bool) -> Seen {
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
    pub(super) async fn quiet(
        &mut self,
        what: &str,
        window: Duration,
        unwanted: impl Fn(&Seen) -> bool,
    ) {
        if let Some(s) = self.backlog.iter().find(|s| unwanted(s)) {
            panic!("{}: unexpected {what}: {s:?}", self.id);
        }
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(s)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert!(!unwanted(&s), "{}: unexpected {what}: {s:?}", self.id);
            self.backlog.push_back(s);
        }
    }

    pub(super) async fn subscribe(&mut self, filter: &str, qos: u8) -> Option<u8> {
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

    pub(super) async fn publish(&self, topic: &str, qos: u8, payload: impl Into<Vec<u8>>) {
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
    pub(super) async fn recv(&mut self, topic: &str) -> Msg {
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
    pub(super) async fn json(&mut self, topic: &str) -> Value {
        let m = self.recv(topic).await;
        json_of(&m.topic, &m.payload)
    }

    /// The next message on any topic.
    pub(super) async fn any_message(&mut self) -> Msg {
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
    pub(super) async fn request(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> (String, Value, u8) {
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

    pub(super) async fn accepted(&mut self, topic: &str, payload: &Value) -> Value {
        let (kind, body, _) = self.request(topic, payload.to_string()).await;
        assert_eq!(kind, "accepted", "{topic} {payload}: {body}");
        body
    }

    pub(super) async fn rejected(&mut self, topic: &str, payload: impl Into<Vec<u8>>) -> Value {
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
pub(super) async fn device(s: &RunningServer, proto: Proto, thing: &str) -> Client {
    let mut c = Client::connect(broker(s), proto, thing).await;
    assert_eq!(c.subscribe(&jobs(thing, "#"), 1).await, Some(1));
    c
}

/// The broker still serves: fresh v4 and v5 devices each complete a start-next round trip
/// (on a server seeded with at least one job for [`THING`]).
pub(super) async fn assert_alive(s: &RunningServer) {
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
