//! A fault broker for `jobcert diff`: a relay in front of a reference server's MQTT listener
//! that copies every byte both ways unchanged, except the `notify-next` publishes its
//! [`NotifyFault`] breaks. The broker-to-device stream is cut into MQTT 3.1.1 packets (the
//! harness's devices speak 3.1.1); a dropped publish is acknowledged to the broker in the
//! device's stead.

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
        let dropped = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(async move {
            while let Ok((device, _)) = listener.accept().await {
                let (upstream, dropped) = (upstream.clone(), dropped.clone());
                tokio::spawn(relay(device, upstream, fault, dropped));
            }
        });
        Self { url, task }
    }
}

/// One device connection, relayed to its own broker connection.
async fn relay(device: TcpStream, upstream: String, fault: NotifyFault, dropped: Arc<AtomicBool>) {
    let Ok(Ok(broker)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&upstream)).await
    else {
        return;
    };
    let _ = (device.set_nodelay(true), broker.set_nodelay(true));
    let (device_in, device_out) = device.into_split();
    let (broker_in, broker_out) = broker.into_split();
    let broker_out = Arc::new(Mutex::new(broker_out));
    tokio::select! {
        () = copy(device_in, broker_out.clone()) => {}
        () = deliver(broker_in, device_out, broker_out, fault, &dropped) => {}
    }
}

/// Copies the device's bytes to the broker unchanged.
async fn copy(mut from: OwnedReadHalf, to: Arc<Mutex<OwnedWriteHalf>>) {
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut chunk).await {
        if n == 0 || to.lock().await.write_all(&chunk[..n]).await.is_err() {
            return;
        }
    }
}

/// Delivers the broker's packets to the device, each whole, the faulty ones changed or
/// dropped (and then acknowledged to the broker here).
async fn deliver(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    broker: Arc<Mutex<OwnedWriteHalf>>,
    fault: NotifyFault,
    dropped: &AtomicBool,
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
            let out = match Packet::read(&mut frame.clone(), MAX_PACKET) {
                Ok(Packet::Publish(p)) if p.topic.ends_with("/jobs/notify-next") => {
                    let (qos, pkid) = (p.qos, p.pkid);
                    match broken(fault, p, dropped) {
                        Some(p) => {
                            let mut bytes = BytesMut::new();
                            p.write(&mut bytes).unwrap();
                            bytes
                        }
                        None if qos == QoS::AtMostOnce => continue,
                        None => {
                            let mut ack = BytesMut::new();
                            PubAck::new(pkid).write(&mut ack).unwrap();
                            if broker.lock().await.write_all(&ack).await.is_err() {
                                return;
                            }
                            continue;
                        }
                    }
                }
                _ => frame,
            };
            if to.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

/// `publish` as `fault` delivers it; `None` when it is dropped.
fn broken(fault: NotifyFault, mut publish: Publish, dropped: &AtomicBool) -> Option<Publish> {
    match fault {
        NotifyFault::Faithful => Some(publish),
        NotifyFault::DropsOneNext => {
            let empty = serde_json::from_slice::<Value>(&publish.payload)
                .is_ok_and(|body| body.get("execution").is_none());
            (!empty || dropped.swap(true, Ordering::SeqCst)).then_some(publish)
        }
        NotifyFault::NextWithoutDocument => {
            if let Ok(mut body) = serde_json::from_slice::<Value>(&publish.payload)
                && let Some(execution) = body.get_mut("execution").and_then(Value::as_object_mut)
            {
                execution.remove("jobDocument");
                publish.payload = body.to_string().into_bytes().into();
            }
            Some(publish)
        }
    }
}
