//! The embedded broker: MQTT 3.1.1 and 5 over TCP, over TLS with client certificates
//! (`tls.rs`) and over WebSockets (`ws.rs`), QoS 0 and 1, `+`/`#` routing, and the Jobs service
//! answering on the reserved topics. Each session is held to what its principal may do
//! (`crate::policy`), and each CONNECT to the account's connect quotas (`crate::admission`). A
//! malformed or oversized packet, a protocol violation or a silent client
//! ends that one session, never the broker.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_util::codec::{Framed, FramedParts};

use super::dialect::{Dialect, Grant, Incoming, Reply, V4, V5};
use super::hub::{Hub, Outgoing, valid_filter};
use super::service::JobsService;
use super::tls::MqttTlsListener;
use super::topics;
use super::ws::WsListener;
use crate::policy::{Policy, Principal};
use jobcert_guard::AcceptFailures;

/// What a session can run over: a TCP stream, or a WebSocket's byte stream.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

/// Largest payload accepted (AWS IoT's message size limit); a larger one ends the session.
const MAX_PAYLOAD: usize = 128 * 1024;
/// Largest packet read: the payload limit plus room for the headers.
const MAX_PACKET: usize = MAX_PAYLOAD + 2048;
/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes read while looking for the protocol version.
const SNIFF_LIMIT: usize = 1024;

/// The listeners of the embedded broker, each when wanted; they share one set of
/// subscriptions.
#[derive(Default)]
pub struct Listeners {
    /// MQTT over TCP.
    pub tcp: Option<TcpListener>,
    /// MQTT over TLS with client certificates.
    pub tls: Option<MqttTlsListener>,
    /// MQTT over WebSockets.
    pub ws: Option<WsListener>,
    /// The policy connections without a certificate (TCP) are held to; the TLS and WebSocket
    /// listeners carry their own.
    pub policy: Policy,
}

/// Accepts connections on `listeners` until `stop` turns true.
pub async fn serve(listeners: Listeners, service: JobsService, mut stop: watch::Receiver<bool>) {
    let Listeners {
        tcp,
        tls,
        ws,
        policy,
    } = listeners;
    let hub = Arc::new(Hub::default());
    let notifier = tokio::spawn(notify(hub.clone(), service.clone()));
    let websockets =
        ws.map(|ws| tokio::spawn(ws.serve(hub.clone(), service.clone(), stop.clone())));
    let secure = tls.map(|tls| tokio::spawn(tls.serve(hub.clone(), service.clone(), stop.clone())));
    let mut failures = AcceptFailures::new("MQTT listener");
    loop {
        tokio::select! {
            accepted = accept(tcp.as_ref()) => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(session(stream, hub.clone(), service.clone(), Principal::new(policy, None)));
                }
                Err(e) => failures.failed(&e).await,
            },
            () = super::stopped(&mut stop) => break,
        }
    }
    notifier.abort();
    for listener in [websockets, secure].into_iter().flatten() {
        listener.abort();
    }
}

/// The next connection on `listener`; never when there is none.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Publishes `notify` and `notify-next` as the engine's pending lists change.
async fn notify(hub: Arc<Hub>, service: JobsService) {
    let mut changes = service.engine().changes();
    loop {
        match changes.recv().await {
            Ok(change) => {
                for m in service.notifications(&change, &|topic| hub.has_subscribers(topic)) {
                    hub.publish(&m.topic, m.payload.into(), 1);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("{n} pending-list changes were not notified")
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Reads until the CONNECT packet's protocol level is known; returns it and the bytes read.
async fn sniff<S: Stream>(stream: &mut S) -> std::io::Result<Option<(u8, BytesMut)>> {
    let mut buf = BytesMut::with_capacity(64);
    loop {
        if let Some(level) = protocol_level(&buf) {
            return Ok(level.map(|l| (l, buf)));
        }
        if buf.len() >= SNIFF_LIMIT || stream.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// `Some(Some(level))` once known, `Some(None)` when the bytes are no CONNECT, `None` when
/// more bytes are needed.
fn protocol_level(buf: &[u8]) -> Option<Option<u8>> {
    let mut b = buf;
    if b.is_empty() {
        return None;
    }
    if b.get_u8() != 0x10 {
        return Some(None);
    }
    for i in 0..4 {
        if b.is_empty() {
            return None;
        }
        if b.get_u8() & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return Some(None);
        }
    }
    if b.len() < 2 {
        return None;
    }
    let name = usize::from(b.get_u16());
    if b.len() < name + 1 {
        return None;
    }
    Some(Some(b[name]))
}

/// One client's session over `stream`, in the MQTT version its CONNECT names, held to what
/// `principal` may do.
pub(super) async fn session<S: Stream>(
    mut stream: S,
    hub: Arc<Hub>,
    service: JobsService,
    principal: Principal,
) {
    let sniffed = tokio::time::timeout(CONNECT_TIMEOUT, sniff(&mut stream)).await;
    let Ok(Ok(Some((level, buf)))) = sniffed else {
        return;
    };
    match level {
        4 => run::<V4, S>(stream, buf, hub, service, principal).await,
        5 => run::<V5, S>(stream, buf, hub, service, principal).await,
        _ => {}
    }
}

async fn run<D: Dialect, S: Stream>(
    stream: S,
    buf: BytesMut,
    hub: Arc<Hub>,
    service: JobsService,
    principal: Principal,
) {
    let mut parts = FramedParts::new::<D::Packet>(stream, D::codec(MAX_PACKET));
    parts.read_buf = buf;
    let mut framed = Framed::from_parts(parts);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, framed.next()).await;
    let Ok(Some(Ok(packet))) = first else { return };
    let Incoming::Connect {
        client_id,
        keep_alive,
    } = D::incoming(packet)
    else {
        return;
    };
    if !principal.may_connect_as(&client_id) {
        tracing::debug!(
            "client id {client_id:?} refused: the certificate names {:?}",
            principal.thing()
        );
        let _ = framed.send(D::reply(Reply::NotAuthorized)).await;
        return;
    }
    let client_id = if client_id.is_empty() {
        format!("jobcert-{}", uuid::Uuid::new_v4().simple())
    } else {
        client_id
    };
    let principal = principal.connected_as(&client_id);
    if let Some(refusal) = service.gate().admit_connect(&client_id) {
        tracing::debug!("CONNECT by {client_id:?} refused: {refusal:?}");
        if let Some(connack) = D::throttled() {
            let _ = framed.send(connack).await;
        }
        return;
    }
    let (id, mut queue) = hub.connect(&client_id);
    if framed.send(D::reply(Reply::ConnAck)).await.is_err() {
        hub.disconnect(id, &client_id);
        return;
    }
    // MQTT: a server may close a connection silent for one and a half keep-alive periods.
    let idle = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
    let mut next_pkid: u16 = 0;
    let mut pkid = move || {
        next_pkid = next_pkid.checked_add(1).unwrap_or(1);
        next_pkid
    };
    loop {
        let received = async {
            match idle {
                Some(limit) => tokio::time::timeout(limit, framed.next())
                    .await
                    .ok()
                    .flatten(),
                None => framed.next().await,
            }
        };
        let reply = tokio::select! {
            packet = received => match packet {
                Some(Ok(p)) => match handle(D::incoming(p), id, &hub, &service, &principal) {
                    Step::Send(replies) => replies,
                    Step::Later(replies, after) => {
                        tokio::time::sleep(after).await;
                        replies
                    }
                    Step::Close => break,
                },
                _ => break,
            },
            out = queue.recv() => match out {
                Some(Outgoing::Publish { topic, payload, qos }) => {
                    vec![Reply::Publish { topic: topic.to_string(), payload, qos, pkid: if qos > 0 { pkid() } else { 0 } }]
                }
                None => break,
            },
        };
        let mut failed = false;
        for mut r in reply {
            if let Reply::Publish { qos, pkid: p, .. } = &mut r
                && *qos > 0
                && *p == 0
            {
                *p = pkid();
            }
            if framed.feed(D::reply(r)).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed || framed.flush().await.is_err() {
            break;
        }
    }
    hub.disconnect(id, &client_id);
}

/// What a session does after a packet.
enum Step {
    /// Send these and carry on.
    Send(Vec<Reply>),
    /// Send these after an injected delay, which holds the session as a slow service would.
    Later(Vec<Reply>, std::time::Duration),
    /// End the session.
    Close,
}

/// A topic name or filter holding U+0000 is a protocol error the server answers by closing the
/// network connection (MQTT 3.1.1 §1.5.3, MQTT-1.5.3-2; MQTT 5 §1.5.4).
fn holds_null(topic: &str) -> bool {
    topic.contains('\0')
}

/// The thing a `$aws/things/{thing}/…` topic is about.
fn topic_thing(topic: &str) -> Option<&str> {
    topic.strip_prefix("$aws/things/")?.split('/').next()
}

fn handle(
    incoming: Incoming,
    id: u64,
    hub: &Hub,
    service: &JobsService,
    principal: &Principal,
) -> Step {
    match incoming {
        Incoming::Publish {
            topic,
            payload,
            qos,
            pkid,
        } => {
            // AWS IoT has no QoS 2 and a 128 KiB limit; a topic name may hold no wildcard.
            // Publishing about another thing is not authorised: AWS IoT closes the connection.
            if qos > 1
                || payload.len() > MAX_PAYLOAD
                || topic.is_empty()
                || holds_null(&topic)
                || topic.contains(['+', '#'])
                || topic_thing(&topic).is_some_and(|thing| !principal.may_act_on(thing))
            {
                return Step::Close;
            }
            let mut out = Vec::new();
            let mut delay = std::time::Duration::ZERO;
            if topics::parse(&topic).is_some() {
                // Replies go to the publisher only, at the QoS it subscribed with (capped at 1).
                if let Some(reply) = service.handle(&topic, &payload) {
                    delay = reply.after;
                    let qos = hub.granted(id, &reply.message.topic).unwrap_or(0).min(1);
                    out.push(Reply::Publish {
                        topic: reply.message.topic,
                        payload: reply.message.payload.into(),
                        qos,
                        pkid: 0,
                    });
                }
            } else {
                hub.publish(&topic, payload, qos);
            }
            if qos == 1 {
                out.insert(0, Reply::PubAck(pkid));
            }
            if delay.is_zero() {
                Step::Send(out)
            } else {
                Step::Later(out, delay)
            }
        }
        Incoming::Subscribe(_, filters) if filters.iter().any(|(f, _)| holds_null(f)) => {
            Step::Close
        }
        Incoming::Unsubscribe(_, filters) if filters.iter().any(|f| holds_null(f)) => Step::Close,
        Incoming::Subscribe(pkid, filters) => {
            let granted = filters
                .into_iter()
                .map(|(filter, qos)| {
                    if !valid_filter(&filter) {
                        Grant::InvalidFilter
                    } else if !principal.may_subscribe(&filter) {
                        Grant::NotAuthorized
                    } else {
                        let q = qos.min(1);
                        hub.subscribe(id, &filter, q);
                        Grant::QoS(q)
                    }
                })
                .collect();
            Step::Send(vec![Reply::SubAck(pkid, granted)])
        }
        Incoming::Unsubscribe(pkid, filters) => {
            for f in &filters {
                hub.unsubscribe(id, f);
            }
            Step::Send(vec![Reply::UnsubAck(pkid, filters.len())])
        }
        Incoming::Ping => Step::Send(vec![Reply::Pong]),
        Incoming::Other => Step::Send(Vec::new()),
        Incoming::Connect { .. } | Incoming::Disconnect => Step::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::protocol_level;

    #[test]
    fn the_thing_of_a_topic_is_its_third_level_under_aws_things() {
        for (topic, thing) in [
            ("$aws/things/t1/jobs/get", Some("t1")),
            ("$aws/things/t1", Some("t1")),
            ("$aws/things/", Some("")),
            ("$aws/rules/r", None),
            ("things/t1/jobs", None),
        ] {
            assert_eq!(super::topic_thing(topic), thing, "{topic}");
        }
    }

    #[test]
    fn the_protocol_level_is_read_from_the_connect_packet() {
        let v4 = [0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02];
        let v5 = [0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02];
        assert_eq!(protocol_level(&v4), Some(Some(4)));
        assert_eq!(protocol_level(&v5), Some(Some(5)));
        assert_eq!(protocol_level(&v4[..5]), None);
        assert_eq!(protocol_level(&[0x30, 0x00]), Some(None));
        assert_eq!(
            protocol_level(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x00]),
            Some(None)
        );
    }
}
