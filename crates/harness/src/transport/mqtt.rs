//! MQTT transport (rumqttc, MQTT 3.1.1): one connection per simulated device, client id = thing
//! name, subscribed to its thing's Jobs topics. Requests are correlated with replies by
//! `clientToken` (by reply topic when the payload carries none); messages nobody waits for
//! (notifications) are kept for the steps that look for them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode, TlsConfiguration, Transport,
};
use rustls::ClientConfig;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use super::binding::MqttRequest;
use super::broker_refusal::{Attempt, explain};
use super::http::error_chain;
use super::sigv4::Signer;
use super::target::Broker;
use super::tls::ClientTls;
use crate::transport::{Exchange, FailureClass, Label, Outcome, WireRequest, WireResponse};

/// Largest packet sent or accepted.
const MAX_PACKET: usize = 256 * 1024;

/// A message a device received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Payload (lossy UTF-8).
    pub payload: String,
    /// When it arrived, in microseconds since the run started.
    pub at_us: u64,
}

/// Where devices also keep every notification (`notify`, `notify-next`) they hear, for a
/// capture of the run.
pub type Heard = Arc<Mutex<Vec<Received>>>;

/// Whether `topic` is one the service publishes unasked.
fn is_notification(topic: &str) -> bool {
    topic.ends_with("/jobs/notify") || topic.ends_with("/jobs/notify-next")
}

struct Waiter {
    token: Option<String>,
    /// The request topic: a plain broker echoes the request back to a `#` subscriber.
    request: String,
    topics: [String; 2],
    reply: oneshot::Sender<Received>,
}

#[derive(Default)]
struct Mailbox {
    waiters: Mutex<Vec<Waiter>>,
    inbox: Mutex<VecDeque<Received>>,
    arrived: Notify,
    heard: Option<Heard>,
}

impl Mailbox {
    fn deliver(&self, message: Received) {
        let token = serde_json::from_str::<Value>(&message.payload)
            .ok()
            .and_then(|v| {
                v.get("clientToken")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // By clientToken first; a reply without the token (or with another one) still belongs
        // to the oldest request waiting on its topic, so that a missing echo is a finding, not
        // a timeout. A plain broker echoes the request itself back: never a reply.
        let by_token = token.as_ref().and_then(|t| {
            waiters
                .iter()
                .position(|w| w.request != message.topic && w.token.as_ref() == Some(t))
        });
        let found = by_token.or_else(|| {
            waiters
                .iter()
                .position(|w| w.topics.contains(&message.topic))
        });
        match found {
            Some(i) => {
                let _ = waiters.swap_remove(i).reply.send(message);
            }
            None => {
                drop(waiters);
                if let Some(heard) = &self.heard
                    && is_notification(&message.topic)
                {
                    heard
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(message.clone());
                }
                let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
                if inbox.len() == INBOX_LIMIT {
                    inbox.pop_front();
                }
                inbox.push_back(message);
                drop(inbox);
                self.arrived.notify_waiters();
            }
        }
    }
}

/// Messages nobody waits for that a device keeps; older ones are dropped first.
const INBOX_LIMIT: usize = 256;

/// One device's MQTT connection: client id = thing name, subscribed to its thing's Jobs topics.
pub struct MqttDevice {
    client: AsyncClient,
    mailbox: Arc<Mailbox>,
    task: tokio::task::JoinHandle<()>,
    endpoint: String,
    origin: Instant,
}

impl std::fmt::Debug for MqttDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttDevice")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// How devices reach a broker: over TCP or TLS (`mqtts://`, each device presenting its own
/// client certificate or the shared one), or over WebSockets, plain or TLS, with the URL
/// presigned (SigV4, `iotdevicegateway`) when there are credentials.
#[derive(Debug, Clone)]
pub struct Dial {
    /// The broker.
    pub broker: Broker,
    /// Signs the WebSocket URL; unused over TCP.
    pub signer: Option<Signer>,
    /// Trust and client certificates, for a TLS broker.
    tls: ClientTls,
    /// The configuration every device shares when none has a certificate of its own: built
    /// once, by the first device to connect.
    shared: Arc<OnceLock<Result<Arc<ClientConfig>, String>>>,
}

/// The SigV4 service name of AWS IoT's device gateway (MQTT over WebSockets).
const GATEWAY_SERVICE: &str = "iotdevicegateway";

impl Dial {
    /// A dial to `broker`, signing with `signer` where the broker needs it, speaking TLS as
    /// `tls` says when the broker's URL is `mqtts://` or `wss://`.
    pub fn new(broker: Broker, signer: Option<Signer>, tls: ClientTls) -> Self {
        Self {
            broker,
            signer,
            tls,
            shared: Arc::default(),
        }
    }

    /// The TLS configuration of `thing`'s connection. A certificate file of its own that
    /// cannot be read is named here, before anything is sent.
    fn tls_config(&self, thing: &str) -> Result<Arc<ClientConfig>, String> {
        let alpn = self.broker.alpn();
        let per_device = self.tls.identity.as_ref().is_some_and(|f| f.per_device());
        if per_device {
            return self
                .tls
                .device_identity(thing)
                .and_then(|id| self.tls.rustls_offering(id, alpn))
                .map_err(|e| format!("the client certificate of {thing}: {e}"));
        }
        self.shared
            .get_or_init(|| {
                self.tls
                    .shared_identity()
                    .and_then(|id| self.tls.rustls_offering(id, alpn))
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// The connection options of client `id`: a fresh signature for each connection.
    fn options(&self, id: &str) -> Result<MqttOptions, String> {
        let b = &self.broker;
        let tls = match b.tls {
            true => Some(TlsConfiguration::Rustls(self.tls_config(id)?)),
            false => None,
        };
        if b.websocket.is_none() {
            let mut options = MqttOptions::new(id, b.host.clone(), b.port);
            if let Some(tls) = tls {
                options.set_transport(Transport::Tls(tls));
            }
            return Ok(options);
        }
        let url = match &self.signer {
            Some(s) => s
                .presign(&b.url(), GATEWAY_SERVICE)
                .map_err(|e| e.to_string())?,
            None => b.url(),
        };
        let mut options = MqttOptions::new(id, url, b.port);
        options.set_transport(match tls {
            Some(tls) => Transport::Wss(tls),
            None => Transport::Ws,
        });
        Ok(options)
    }

    /// What connecting as `thing` attempts, for the words of a refusal.
    fn attempt(&self, thing: &str) -> Attempt {
        let b = &self.broker;
        Attempt {
            host: b.host.clone(),
            tls: b.tls,
            signed: b.websocket.is_some() && self.signer.is_some(),
            certificate: b.tls.then(|| self.tls.certificate_path(thing)).flatten(),
        }
    }
}

/// Whether the SUBACK's `codes` granted the device's one subscription, `(filter, thing)`; a
/// refusal is named, so that a policy keeping the device from its own thing's topics is not
/// mistaken for a silent target (it would hear no reply, no notification).
fn granted(
    codes: &[SubscribeReasonCode],
    (filter, thing): &(String, String),
) -> Result<(), String> {
    match codes {
        [SubscribeReasonCode::Success(_)] => Ok(()),
        _ => Err(format!(
            "the broker refused the subscription to {filter} (SUBACK {codes:?}): its policy does \
             not let client id {thing:?} read its own thing's Jobs topics"
        )),
    }
}

impl MqttDevice {
    /// Connects as `thing` through `dial` and subscribes to `$aws/things/{thing}/jobs/#`,
    /// within `deadline`; timings count from `origin`. Notifications it hears are also kept in
    /// `heard` when given.
    pub async fn connect(
        dial: &Dial,
        thing: &str,
        origin: Instant,
        deadline: Duration,
        heard: Option<Heard>,
    ) -> Result<Self, String> {
        let endpoint = dial.broker.url();
        let mut options = dial
            .options(thing)
            .map_err(|e| format!("no connection to {endpoint}: {e}"))?;
        let attempt = dial.attempt(thing);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        options.set_inflight(10);
        let (client, mut events) = AsyncClient::new(options, 64);
        // Requests are small and latency is measured: no Nagle delay.
        let mut network = events.network_options();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let mailbox = Arc::new(Mailbox {
            heard,
            ..Mailbox::default()
        });
        let (subscribed_tx, subscribed) = oneshot::channel();
        let inbox = mailbox.clone();
        let filter = format!("$aws/things/{thing}/jobs/#");
        let filter_words = (filter.clone(), thing.to_string());
        let task = tokio::spawn(async move {
            let mut subscribed_tx = Some(subscribed_tx);
            let mut acknowledged = false;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => acknowledged = true,
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(granted(&ack.return_codes, &filter_words));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => inbox.deliver(Received {
                        topic: p.topic,
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        at_us: origin.elapsed().as_micros() as u64,
                    }),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!("device connection ended: {e}");
                        // A connection refused before it was up says why (a certificate
                        // refused either way, a WebSocket upgrade refused for its signature).
                        if let Some(tx) = subscribed_tx.take() {
                            let words = match acknowledged {
                                false => explain(&e, &attempt),
                                true => error_chain(&e),
                            };
                            let _ = tx.send(Err(words));
                        }
                        // Waiters see their reply channel close: a transport failure.
                        inbox
                            .waiters
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clear();
                        return;
                    }
                }
            }
        });
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(deadline, subscribed).await {
            Ok(Ok(Ok(()))) => Ok(Self {
                client,
                mailbox,
                task,
                endpoint,
                origin,
            }),
            Ok(Ok(Err(refused))) => {
                task.abort();
                Err(format!("no connection to {endpoint}: {refused}"))
            }
            _ => {
                task.abort();
                Err(format!(
                    "no connection and subscription to {endpoint} within {deadline:?}"
                ))
            }
        }
    }

    /// Whether the connection is still up.
    pub fn is_connected(&self) -> bool {
        !self.task.is_finished()
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Publishes `request` and waits at most `deadline` for its reply. A payload without a
    /// `clientToken` gets one, so the reply can be told apart.
    pub async fn send(
        &self,
        request: &MqttRequest,
        deadline: Duration,
        label: Label<'_>,
    ) -> Exchange {
        let sent_us = self.now_us();
        let mut payload = request.payload.clone();
        let mut token = None;
        if let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(&payload) {
            match body.get("clientToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => {
                    let t = format!("jc-{}", label.seq);
                    body.insert("clientToken".into(), Value::String(t.clone()));
                    payload = Value::Object(body).to_string();
                    token = Some(t);
                }
            }
        }
        let wire = WireRequest::publish(
            self.endpoint.clone(),
            request.topic.clone(),
            Some(payload.clone()),
        );
        let outcome = self
            .exchange(&request.topic, payload, token, deadline)
            .await;
        Exchange::new(label, wire, outcome, sent_us, self.now_us())
    }

    async fn exchange(
        &self,
        topic: &str,
        payload: String,
        token: Option<String>,
        deadline: Duration,
    ) -> Outcome {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.mailbox
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Waiter {
                token,
                request: topic.to_string(),
                topics: [format!("{topic}/accepted"), format!("{topic}/rejected")],
                reply,
            });
        let published = tokio::time::timeout(
            deadline,
            self.client.publish(topic, QoS::AtLeastOnce, false, payload),
        )
        .await;
        match published {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Outcome::Failed {
                    class: FailureClass::Reset,
                    message: e.to_string(),
                };
            }
            Err(_) => {
                return Outcome::timeout(deadline);
            }
        }
        let left = deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, answer).await {
            Ok(Ok(m)) => Outcome::Answered(WireResponse {
                status: 0,
                headers: vec![("topic".into(), m.topic)],
                body: m.payload,
                truncated: false,
            }),
            Ok(Err(_)) => Outcome::Failed {
                class: FailureClass::Reset,
                message: "the connection closed before a reply arrived".into(),
            },
            Err(_) => Outcome::timeout(deadline),
        }
    }

    /// The first message on `topic` received at or after `since_us` whose payload `wanted`
    /// accepts, waiting at most `deadline` for it. Only that message is taken out of the inbox:
    /// the others (a notification of an earlier state arriving late, say) stay for later
    /// steps. `Err` holds the messages on `topic` since `since_us` when none was accepted.
    pub async fn next_message(
        &self,
        topic: &str,
        since_us: u64,
        deadline: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Received, Vec<Received>> {
        let until = Instant::now() + deadline;
        loop {
            let arrived = self.mailbox.arrived.notified();
            {
                let mut inbox = self.mailbox.inbox.lock().unwrap_or_else(|p| p.into_inner());
                let on_topic = |m: &Received| m.topic == topic && m.at_us >= since_us;
                let found = inbox.iter().position(|m| on_topic(m) && wanted(&m.payload));
                if let Some(message) = found.and_then(|i| inbox.remove(i)) {
                    return Ok(message);
                }
                if Instant::now() >= until {
                    return Err(inbox.iter().filter(|m| on_topic(m)).cloned().collect());
                }
            }
            // Woken by an arrival or by the deadline; either way the inbox is read once more.
            let _ = tokio::time::timeout_at(until.into(), arrived).await;
        }
    }

    /// Takes every kept message on a topic `wanted` accepts, oldest first; the rest stay.
    pub fn take(&self, wanted: impl Fn(&str) -> bool) -> Vec<Received> {
        let mut inbox = self.mailbox.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let (taken, kept): (Vec<Received>, Vec<Received>) =
            inbox.drain(..).partition(|m| wanted(&m.topic));
        inbox.extend(kept);
        taken
    }

    /// Disconnects.
    pub fn close(&self) {
        let _ = self.client.try_disconnect();
        self.task.abort();
    }

    /// Drops the connection as a network failure does: no DISCONNECT, and every request
    /// waiting for its reply fails at once (its reply channel closes).
    pub fn sever(&self) {
        self.task.abort();
        self.mailbox
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Connections to one broker, one per thing, made when a thing first sends or listens.
pub struct MqttTransport {
    dial: Dial,
    origin: Instant,
    devices: tokio::sync::Mutex<HashMap<String, Arc<MqttDevice>>>,
    heard: Option<Heard>,
}

impl std::fmt::Debug for MqttTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttTransport")
            .field("broker", &self.dial.broker.url())
            .finish_non_exhaustive()
    }
}

impl MqttTransport {
    /// A transport through `dial`; timings count from `origin`.
    pub fn new(dial: Dial, origin: Instant) -> Self {
        Self {
            dial,
            origin,
            devices: tokio::sync::Mutex::new(HashMap::new()),
            heard: None,
        }
    }

    /// The same transport, its devices keeping every notification they hear in `heard`.
    pub fn hearing(self, heard: Option<Heard>) -> Self {
        Self { heard, ..self }
    }

    /// The broker's URL, its scheme as given (`mqtt://`, `mqtts://`, `ws://`, `wss://`).
    pub fn endpoint(&self) -> String {
        self.dial.broker.url()
    }

    /// The device of `thing`, connected and subscribed to its Jobs topics.
    async fn device(&self, thing: &str, deadline: Duration) -> Result<Arc<MqttDevice>, String> {
        let mut devices = self.devices.lock().await;
        if let Some(d) = devices.get(thing).filter(|d| d.is_connected()) {
            return Ok(d.clone());
        }
        let device = Arc::new(
            MqttDevice::connect(&self.dial, thing, self.origin, deadline, self.heard.clone())
                .await?,
        );
        devices.insert(thing.to_string(), device.clone());
        Ok(device)
    }

    /// Publishes `request` as `thing`'s device and waits at most `deadline` for its reply.
    pub async fn send(
        &self,
        thing: &str,
        request: &MqttRequest,
        deadline: Duration,
        label: Label<'_>,
    ) -> Exchange {
        match self.device(thing, deadline).await {
            Ok(device) => device.send(request, deadline, label).await,
            Err(message) => {
                let wire = WireRequest::publish(
                    self.endpoint(),
                    request.topic.clone(),
                    Some(request.payload.clone()),
                );
                let now = self.origin.elapsed().as_micros() as u64;
                Exchange::unsent(label, wire, message, now)
            }
        }
    }

    /// The first message on `topic` that `thing`'s device received at or after `since_us` and
    /// `wanted` accepts, as [`MqttDevice::next_message`]; `Err` with nothing when the device
    /// cannot connect.
    pub async fn next_message(
        &self,
        thing: &str,
        topic: &str,
        since_us: u64,
        deadline: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Received, Vec<Received>> {
        match self.device(thing, deadline).await {
            Ok(device) => device.next_message(topic, since_us, deadline, wanted).await,
            Err(_) => Err(Vec::new()),
        }
    }

    /// Takes every message `thing`'s device kept on a topic `wanted` accepts, oldest first
    /// (none when it never connected).
    pub async fn take(&self, thing: &str, wanted: impl Fn(&str) -> bool) -> Vec<Received> {
        let devices = self.devices.lock().await;
        devices
            .get(thing)
            .map(|d| d.take(wanted))
            .unwrap_or_default()
    }

    /// Connects `thing`'s device ahead of time (so it hears notifications from now on).
    pub async fn connect(&self, thing: &str, deadline: Duration) -> Result<(), String> {
        self.device(thing, deadline).await.map(|_| ())
    }

    /// Disconnects every device.
    pub async fn close(&self) {
        let mut devices = self.devices.lock().await;
        for (_, d) in devices.drain() {
            d.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::DataPlane;
    use crate::transport::tls::{IdentityFiles, Trust};

    fn dial(url: &str, identity: Option<IdentityFiles>) -> Dial {
        let Ok(DataPlane::Mqtt(broker)) = DataPlane::parse(url) else {
            panic!("{url} is a broker")
        };
        let tls = ClientTls {
            trust: Trust::Insecure,
            identity,
        };
        Dial::new(broker, None, tls)
    }

    #[rstest]
    #[case("mqtts://iot.example.com:443", &[b"x-amzn-mqtt-ca".as_slice()])]
    #[case("mqtts://iot.example.com:8883", &[])]
    #[case("mqtts://127.0.0.1:8443", &[])]
    #[case("wss://iot.example.com/mqtt", &[])]
    fn devices_offer_aws_iot_s_alpn_on_port_443_only(#[case] url: &str, #[case] alpn: &[&[u8]]) {
        let config = dial(url, None).tls_config("dev-1").unwrap();
        assert_eq!(config.alpn_protocols, alpn, "{url}");
    }

    #[test]
    fn only_a_granted_subscription_lets_a_device_connect() {
        let words = ("$aws/things/t1/jobs/#".to_string(), "t1".to_string());
        for (codes, granted) in [
            (vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)], true),
            (vec![SubscribeReasonCode::Success(QoS::AtMostOnce)], true),
            (vec![SubscribeReasonCode::Failure], false),
            (vec![], false),
        ] {
            let answer = super::granted(&codes, &words);
            assert_eq!(answer.is_ok(), granted, "{codes:?}");
            if let Err(e) = answer {
                assert!(e.contains("$aws/things/t1/jobs/#"), "{e}");
                assert!(e.contains("client id \"t1\""), "{e}");
            }
        }
    }

    #[test]
    fn a_device_s_missing_certificate_is_named_before_anything_is_sent() {
        let template = IdentityFiles {
            cert: "/nonexistent/{thing}.pem".into(),
            key: "/nonexistent/{thing}.key".into(),
        };
        let e = dial("mqtts://127.0.0.1:8883", Some(template))
            .options("dev-1")
            .unwrap_err();
        assert!(
            e.starts_with("the client certificate of dev-1: /nonexistent/dev-1.pem:"),
            "{e}"
        );
        assert!(dial("mqtt://127.0.0.1:1883", None).options("dev-1").is_ok());
    }
}
