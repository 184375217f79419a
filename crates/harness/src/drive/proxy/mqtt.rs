//! The MQTT proxy: each device connection is met by one connection of our own to the real
//! broker, and the bytes go both ways unchanged (so any protocol version and every flag passes
//! as the device sent it). A copy of each direction is read as MQTT 3.1.1 packets: a device's
//! publish on a Jobs request topic waits for the broker's publish on its `/accepted` or
//! `/rejected` topic with the same `clientToken` (the oldest waiting on the topic when the reply
//! carries none), and the two become an exchange; a `notify` or `notify-next` the broker sends
//! becomes a notification. The device's CONNECT says which codec reads the copy: rumqttc's
//! MQTT 3.1.1 or MQTT 5 one. A stream the codec cannot read further is still forwarded,
//! unrecorded from there on.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use jobcert_guard::AcceptFailures;
use rumqttc::mqttbytes::Error as V4Error;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::Error as V5Error;
use rumqttc::v5::mqttbytes::v5;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::tape::Tape;
use crate::record::capture::Notification;
use crate::transport::route::mqtt_operation;
use crate::transport::{Outcome, WireRequest, WireResponse};

/// Largest packet read from the copy.
const MAX_PACKET: usize = 1024 * 1024;

/// How long a connection to the broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts devices until `stop`, each with its own upstream connection.
pub(super) async fn serve(
    listener: TcpListener,
    upstream: String,
    tape: Arc<Tape>,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    let mut failures = AcceptFailures::new("capture proxy's MQTT listener");
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((device, _)) => {
                    connections.spawn(connection(device, upstream.clone(), tape.clone(), stop.clone()));
                }
                Err(e) => failures.failed(&e).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
}

/// A device's request waiting for its reply.
struct Waiting {
    topic: String,
    token: Option<String>,
    operation: &'static str,
    body: String,
    sent_us: u64,
}

/// One device connection's requests in flight.
struct Session {
    endpoint: String,
    tape: Arc<Tape>,
    waiting: Mutex<Vec<Waiting>>,
    /// The protocol level the device's CONNECT asked for (4 until it is seen).
    level: AtomicU8,
}

/// A publish, whatever the protocol version.
struct Publish {
    topic: String,
    payload: Bytes,
}

fn client_token(payload: &str) -> Option<String> {
    serde_json::from_str::<Value>(payload)
        .ok()?
        .get("clientToken")?
        .as_str()
        .map(str::to_string)
}

impl Session {
    /// What the device sent.
    fn device_sent(&self, p: Publish) {
        match mqtt_operation(&p.topic) {
            Some(op) => {
                let body = String::from_utf8_lossy(&p.payload).into_owned();
                self.waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Waiting {
                        token: client_token(&body),
                        topic: p.topic,
                        operation: op.name(),
                        body,
                        sent_us: self.tape.now_us(),
                    });
            }
            None => self.tape.skip(),
        }
    }

    /// What the broker sent the device.
    fn broker_sent(&self, p: Publish) {
        let at_us = self.tape.now_us();
        let body = String::from_utf8_lossy(&p.payload).into_owned();
        let request = p
            .topic
            .strip_suffix("/accepted")
            .or_else(|| p.topic.strip_suffix("/rejected"));
        if let Some(request) = request {
            let token = client_token(&body);
            let found = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                let at = waiting
                    .iter()
                    .position(|w| w.topic == request && token.is_some() && w.token == token)
                    .or_else(|| waiting.iter().position(|w| w.topic == request));
                at.map(|i| waiting.remove(i))
            };
            if let Some(w) = found {
                let reply = Outcome::Answered(WireResponse {
                    status: 0,
                    headers: vec![("topic".into(), p.topic.clone())],
                    body,
                    truncated: false,
                });
                self.keep(w, reply, at_us);
            }
        } else if p.topic.starts_with("$aws/things/")
            && (p.topic.ends_with("/jobs/notify") || p.topic.ends_with("/jobs/notify-next"))
        {
            self.tape.notification(Notification {
                at_us,
                topic: p.topic,
                body,
            });
        }
    }

    fn keep(&self, w: Waiting, outcome: Outcome, done_us: u64) {
        let request = WireRequest::publish(self.endpoint.clone(), w.topic, Some(w.body));
        self.tape
            .exchange(w.operation, request, outcome, w.sent_us, done_us);
    }

    /// Requests never answered are kept as timeouts of the time they waited.
    fn close(&self) {
        let now = self.tape.now_us();
        let left = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for w in left {
            let waited = Duration::from_micros(now.saturating_sub(w.sent_us));
            self.keep(w, Outcome::timeout(waited), now);
        }
    }
}

async fn connection(device: TcpStream, upstream: String, tape: Arc<Tape>, stop: CancellationToken) {
    let broker = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&upstream)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return tracing::warn!("capture proxy: connecting to {upstream}: {e}"),
        Err(_) => return tracing::warn!("capture proxy: connecting to {upstream}: timed out"),
    };
    let _ = (device.set_nodelay(true), broker.set_nodelay(true));
    let session = Session {
        endpoint: format!("mqtt://{upstream}"),
        tape,
        waiting: Mutex::new(Vec::new()),
        level: AtomicU8::new(4),
    };
    let (device_in, device_out) = device.into_split();
    let (broker_in, broker_out) = broker.into_split();
    tokio::select! {
        () = pump(device_in, broker_out, &session.level, true, |p| session.device_sent(p)) => {}
        () = pump(broker_in, device_out, &session.level, false, |p| session.broker_sent(p)) => {}
        () = stop.cancelled() => {}
    }
    session.close();
}

/// Copies `from` to `to` until either closes, handing each publish of the copy to `seen`;
/// the device's side (`connects`) sets `level` from its CONNECT.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    level: &AtomicU8,
    connects: bool,
    seen: impl Fn(Publish),
) {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut copy = BytesMut::new();
    let mut readable = true;
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        if readable {
            copy.extend_from_slice(&chunk[..n]);
            if connects && let Some(l) = connect_level(&copy) {
                level.store(l, Ordering::Relaxed);
            }
            readable = read_packets(&mut copy, level.load(Ordering::Relaxed), &seen);
        }
    }
    let _ = to.shutdown().await;
}

/// The protocol level of the CONNECT `copy` begins with, once its bytes are in: after the
/// fixed header, the protocol name (`MQTT`, length-prefixed), then the level.
fn connect_level(copy: &[u8]) -> Option<u8> {
    if copy.first()? >> 4 != 1 {
        return None;
    }
    let length_bytes = copy[1..].iter().take(4).position(|b| b & 0x80 == 0)? + 1;
    let name = 1 + length_bytes;
    let name_len = usize::from(u16::from_be_bytes([*copy.get(name)?, *copy.get(name + 1)?]));
    copy.get(name + 2 + name_len).copied()
}

/// One packet off `copy`: `Ok(None)` when it needs more bytes, `Ok(Some(None))` for a
/// packet other than PUBLISH.
fn read_one(copy: &mut BytesMut, level: u8) -> Result<Option<Option<Publish>>, String> {
    if level == 5 {
        match v5::Packet::read(copy, Some(MAX_PACKET as u32)) {
            Ok(v5::Packet::Publish(p)) => Ok(Some(Some(Publish {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload,
            }))),
            Ok(_) => Ok(Some(None)),
            Err(V5Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    } else {
        match v4::Packet::read(copy, MAX_PACKET) {
            Ok(v4::Packet::Publish(p)) => Ok(Some(Some(Publish {
                topic: p.topic,
                payload: p.payload,
            }))),
            Ok(_) => Ok(Some(None)),
            Err(V4Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Hands every whole publish in `copy` to `seen`; false once the stream cannot be read.
fn read_packets(copy: &mut BytesMut, level: u8, seen: &impl Fn(Publish)) -> bool {
    loop {
        match read_one(copy, level) {
            Ok(Some(Some(p))) => seen(p),
            Ok(Some(None)) => {}
            Ok(None) => return true,
            Err(e) => {
                tracing::debug!("capture proxy: MQTT stream not recorded further: {e}");
                copy.clear();
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str, payload: &str) -> Publish {
        Publish {
            topic: topic.into(),
            payload: Bytes::from(payload.to_string()),
        }
    }

    #[test]
    fn replies_pair_by_client_token_then_by_topic_and_notifications_are_kept() {
        let session = Session {
            endpoint: "mqtt://b:1".into(),
            tape: Arc::new(Tape::new()),
            waiting: Mutex::new(Vec::new()),
            level: AtomicU8::new(4),
        };
        let start = "$aws/things/t/jobs/start-next";
        let get = "$aws/things/t/jobs/get";
        session.device_sent(publish(start, r#"{"clientToken":"a"}"#));
        session.device_sent(publish(start, r#"{"clientToken":"b"}"#));
        session.device_sent(publish(get, "{}"));
        session.device_sent(publish(get, "{}"));
        session.device_sent(publish("sensors/t", "{}"));
        session.broker_sent(publish(
            &format!("{start}/accepted"),
            r#"{"clientToken":"b"}"#,
        ));
        session.broker_sent(publish(
            &format!("{start}/rejected"),
            r#"{"clientToken":"a"}"#,
        ));
        session.broker_sent(publish(&format!("{get}/accepted"), r#"{"n":1}"#));
        session.broker_sent(publish("$aws/things/t/jobs/notify-next", "{}"));
        session.broker_sent(publish("$aws/things/t/jobs/unrelated/accepted", "{}"));
        session.close();

        let (exchanges, notifications, skipped) = session.tape.take();
        let seen: Vec<(&str, &str, &str)> = exchanges
            .iter()
            .map(|e| {
                let Outcome::Answered(r) = &e.outcome else {
                    return (
                        e.operation.as_str(),
                        e.request.body.as_deref().unwrap_or(""),
                        "no answer",
                    );
                };
                (
                    e.operation.as_str(),
                    e.request.body.as_deref().unwrap_or(""),
                    r.header("topic").unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "StartNextPendingJobExecution",
                    r#"{"clientToken":"b"}"#,
                    "$aws/things/t/jobs/start-next/accepted"
                ),
                (
                    "StartNextPendingJobExecution",
                    r#"{"clientToken":"a"}"#,
                    "$aws/things/t/jobs/start-next/rejected"
                ),
                (
                    "GetPendingJobExecutions",
                    "{}",
                    "$aws/things/t/jobs/get/accepted"
                ),
                ("GetPendingJobExecutions", "{}", "no answer"),
            ]
        );
        assert!(matches!(exchanges[3].outcome, Outcome::Timeout { .. }));
        assert_eq!(notifications.len(), 1);
        assert_eq!(notifications[0].topic, "$aws/things/t/jobs/notify-next");
        assert_eq!(skipped, 1, "the sensors publish");
    }

    #[test]
    fn the_connect_says_the_protocol_level() {
        let v4 = v4::Packet::Connect(v4::Connect::new("dev"));
        let mut bytes = BytesMut::new();
        v4.write(&mut bytes, MAX_PACKET).unwrap();
        assert_eq!(connect_level(&bytes), Some(4));
        let v5 = v5::Packet::Connect(
            v5::Connect {
                keep_alive: 30,
                client_id: "dev".into(),
                clean_start: true,
                properties: None,
            },
            None,
            None,
        );
        let mut bytes5 = BytesMut::new();
        v5.write(&mut bytes5, None).unwrap();
        assert_eq!(connect_level(&bytes5), Some(5));
        assert_eq!(connect_level(&bytes5[..3]), None);
        assert_eq!(connect_level(&[0x30, 0]), None);
    }

    #[test]
    fn publishes_are_read_in_either_version_and_a_partial_one_waits() {
        let mut bytes = BytesMut::new();
        let mut publish = v4::Publish::new(
            "$aws/things/t/jobs/get",
            rumqttc::mqttbytes::QoS::AtLeastOnce,
            "{}",
        );
        publish.pkid = 1;
        v4::Packet::Publish(publish)
            .write(&mut bytes, MAX_PACKET)
            .unwrap();
        let whole = bytes.clone();
        let mut cut = BytesMut::from(&whole[..whole.len() - 1]);
        assert!(matches!(read_one(&mut cut, 4), Ok(None)));
        let mut copy = whole.clone();
        let Ok(Some(Some(p))) = read_one(&mut copy, 4) else {
            panic!("a publish")
        };
        assert_eq!(
            (p.topic.as_str(), &p.payload[..]),
            ("$aws/things/t/jobs/get", &b"{}"[..])
        );

        let mut bytes5 = BytesMut::new();
        v5::Packet::Publish(v5::Publish::new(
            "$aws/things/t/jobs/notify",
            rumqttc::v5::mqttbytes::QoS::AtMostOnce,
            "{}",
            None,
        ))
        .write(&mut bytes5, None)
        .unwrap();
        let Ok(Some(Some(p))) = read_one(&mut bytes5, 5) else {
            panic!("a publish")
        };
        assert_eq!(p.topic, "$aws/things/t/jobs/notify");
    }
}
