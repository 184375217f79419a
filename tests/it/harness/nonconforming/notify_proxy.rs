//! A fault broker for `jobcert diff`: a relay in front of a reference server's MQTT listener
//! that passes every packet both ways unchanged, except the publishes its [`NotifyFault`]
//! breaks. Both streams are cut into MQTT 3.1.1 packets (the harness's devices speak 3.1.1);
//! a dropped publish is acknowledged to its sender in the receiver's stead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Packet, PubAck, Publish};
use rumqttc::mqttbytes::{QoS, check};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// Largest packet the relay reads.
const MAX_PACKET: usize = 1024 * 1024;
/// How long a connection to the broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The one rule the relay breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFault {
    /// None: every byte passes unchanged.
    Faithful,
    /// The first `notify-next` saying the queue is empty (no `execution`) is never delivered: a
    /// device's last notification, so no later one stands for it.
    DropsOneNext,
    /// Every `notify-next` naming an execution arrives without its `jobDocument`.
    NextWithoutDocument,
    /// The first update any device publishes never reaches the broker (the relay acknowledges
    /// it): that device departs and is quarantined, and its later state, notifications among
    /// it, departs with it.
    SwallowsOneUpdate,
}

/// A running relay; aborted on drop.
pub struct NotifyProxy {
    /// Its broker URL.
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for NotifyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NotifyProxy {
    /// A relay on a free loopback port in front of the broker at `upstream` (`host:port`).
    pub async fn start(upstream: String, fault: NotifyFault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("mqtt://{}", listener.local_addr().unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(async move {
            while let Ok((device, _)) = listener.accept().await {
                let (upstream, done) = (upstream.clone(), done.clone());
                tokio::spawn(relay(device, upstream, fault, done));
            }
        });
        Self { url, task }
    }
}

/// One direction's writer, shared with the other direction (which acknowledges through it).
type Writer = Arc<Mutex<OwnedWriteHalf>>;

/// One device connection, relayed to its own broker connection.
async fn relay(device: TcpStream, upstream: String, fault: NotifyFault, done: Arc<AtomicBool>) {
    let Ok(Ok(broker)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&upstream)).await
    else {
        return;
    };
    let _ = (device.set_nodelay(true), broker.set_nodelay(true));
    let (device_in, device_out) = device.into_split();
    let (broker_in, broker_out) = broker.into_split();
    let (device_out, broker_out) = (
        Arc::new(Mutex::new(device_out)),
        Arc::new(Mutex::new(broker_out)),
    );
    let from_device = |p| broken(fault, p, true, &done);
    let from_broker = |p| broken(fault, p, false, &done);
    tokio::select! {
        () = pump(device_in, broker_out.clone(), device_out.clone(), from_device) => {}
        () = pump(broker_in, device_out, broker_out, from_broker) => {}
    }
}

/// Copies `from` to `to` packet by packet, each publish as `rewrite` makes it; one it drops is
/// acknowledged to its sender through `back` instead.
async fn pump(
    mut from: OwnedReadHalf,
    to: Writer,
    back: Writer,
    rewrite: impl Fn(Publish) -> Option<Publish>,
) {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pending = BytesMut::new();
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        while let Ok(header) = check(pending.iter(), MAX_PACKET) {
            let frame = pending.split_to(header.frame_length());
            let (out, writer) = match Packet::read(&mut frame.clone(), MAX_PACKET) {
                Ok(Packet::Publish(p)) => {
                    let (qos, pkid) = (p.qos, p.pkid);
                    let mut bytes = BytesMut::new();
                    match rewrite(p) {
                        Some(p) => {
                            p.write(&mut bytes).unwrap();
                            (bytes, &to)
                        }
                        None if qos == QoS::AtMostOnce => continue,
                        None => {
                            PubAck::new(pkid).write(&mut bytes).unwrap();
                            (bytes, &back)
                        }
                    }
                }
                _ => (frame, &to),
            };
            if writer.lock().await.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

/// `publish` as `fault` delivers it (`from_device`: a request, else the broker's); `None` when
/// it is dropped. `done` says whether a fault that strikes once has struck.
fn broken(
    fault: NotifyFault,
    mut publish: Publish,
    from_device: bool,
    done: &AtomicBool,
) -> Option<Publish> {
    if from_device {
        let update = publish.topic.ends_with("/update");
        let swallowed =
            fault == NotifyFault::SwallowsOneUpdate && update && !done.swap(true, Ordering::SeqCst);
        return (!swallowed).then_some(publish);
    }
    let next = publish.topic.ends_with("/jobs/notify-next");
    let Ok(mut body) = serde_json::from_slice::<Value>(&publish.payload) else {
        return Some(publish);
    };
    match (
        fault,
        body.get_mut("execution").and_then(Value::as_object_mut),
    ) {
        (NotifyFault::DropsOneNext, None) if next && !done.swap(true, Ordering::SeqCst) => None,
        (NotifyFault::NextWithoutDocument, Some(execution)) if next => {
            execution.remove("jobDocument");
            publish.payload = body.to_string().into_bytes().into();
            Some(publish)
        }
        _ => Some(publish),
    }
}
