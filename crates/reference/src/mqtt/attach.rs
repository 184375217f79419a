//! Attach mode: the Jobs service as a client of an existing broker (mosquitto, EMQX), for
//! users who test behind their production broker. It subscribes to every thing's Jobs topics,
//! answers requests and publishes notifications; the broker moves the messages. One client
//! connection tops out near 1,850 requests a second through mosquitto (one event loop reads
//! every request and the echo of every reply), so the service splits the Jobs topics by depth
//! over three connections whose filters never overlap: start-next and the pending list (and the
//! notifications' echoes), requests about one job, and the echoes of replies to those. Shared
//! subscriptions (`$share/…`) would be the general way, but mosquitto 2.0 (Debian's) delivers
//! none for topics that begin with `$`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter, TlsConfiguration,
    Transport,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::service::JobsService;
use crate::engine::Change;
use crate::tls::{TlsError, TlsFiles, client_config};

/// The Jobs topics split by depth, one set of filters per connection. Together they match
/// exactly what `$aws/things/+/jobs/#` matches, and no topic matches two of them.
const FILTERS: [&[&str]; 3] = [
    // `jobs`, `jobs/start-next`, `jobs/get`, `jobs/notify`, `jobs/notify-next`, …
    &["$aws/things/+/jobs", "$aws/things/+/jobs/+"],
    // `jobs/{jobId}/update`, `jobs/{jobId}/get`, and the echoes of `start-next/accepted`, …
    &["$aws/things/+/jobs/+/+"],
    // The echoes of `{jobId}/update/accepted`, `{jobId}/get/rejected`, … (a final `#` also
    // matches the level above it, so this one starts a level deeper).
    &["$aws/things/+/jobs/+/+/+/#"],
];
/// Largest packet sent or accepted.
const MAX_PACKET: usize = 128 * 1024 + 2048;

/// Why attach mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The URL is not `mqtt://HOST:PORT` or `mqtts://HOST:PORT`.
    #[error("--mqtt-broker takes mqtt://HOST:PORT or mqtts://HOST:PORT, not {0}")]
    Url(String),
    /// An `mqtts://` broker without the CA to trust it by.
    #[error("{0} is MQTT over TLS: name the CA its certificate chains to (--mqtt-broker-ca)")]
    NoCa(String),
    /// TLS options for a broker that does not speak TLS.
    #[error("{0} is MQTT over TCP: the broker TLS options need mqtts://")]
    NotTls(String),
    /// The CA or client certificate files cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// How to reach a broker over TLS: the CA its certificate chains to, and the certificate to
/// present when it asks for one.
#[derive(Debug, Clone)]
pub struct BrokerTls {
    /// The CA certificates (PEM).
    pub ca: PathBuf,
    /// The client certificate and key.
    pub identity: Option<TlsFiles>,
}

/// The broker attach mode connects to.
#[derive(Debug, Clone)]
pub struct Broker {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Broker {
    /// The broker at `url` (`mqtt://HOST:PORT`, or `mqtts://HOST:PORT` reached with `tls`).
    pub fn new(url: &str, tls: Option<&BrokerTls>) -> Result<Self, AttachError> {
        let bad = || AttachError::Url(url.to_string());
        let (secure, rest) = match (url.strip_prefix("mqtt://"), url.strip_prefix("mqtts://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Err(bad()),
        };
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        let tls = match (secure, tls) {
            (true, Some(tls)) => Some(client_config(&tls.ca, tls.identity.as_ref())?),
            (true, None) => return Err(AttachError::NoCa(url.to_string())),
            (false, Some(_)) => return Err(AttachError::NotTls(url.to_string())),
            (false, None) => None,
        };
        Ok(Self {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            tls,
        })
    }

    /// The options of connection `id`.
    fn options(&self, id: String) -> MqttOptions {
        let mut options = MqttOptions::new(id, self.host.clone(), self.port);
        if let Some(tls) = &self.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        options
    }
}

/// Runs the service against `broker` until `stop` turns true; `ready` fires once every
/// subscription is in place. Connection losses are retried every second.
pub async fn attach(
    broker: Broker,
    service: JobsService,
    ready: oneshot::Sender<()>,
    stop: watch::Receiver<bool>,
) -> Result<(), AttachError> {
    let name = format!("jobcert-jobs-{}", uuid::Uuid::new_v4().simple());
    let (subscribed, mut acks) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for (k, filters) in FILTERS.iter().enumerate() {
        let mut options = broker.options(format!("{name}-{k}"));
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        // Replies wait in rumqttc's window of unacknowledged messages, not in a dropped queue.
        options.set_inflight(u16::MAX);
        let (client, events) = AsyncClient::new(options, 4096);
        let link = Link {
            client,
            filters,
            subscribed: subscribed.clone(),
        };
        // The first connection also publishes what the engine's changes notify.
        let changes = (k == 0).then(|| service.engine().changes());
        tasks.spawn(link.serve(events, service.clone(), changes, stop.clone()));
    }
    drop(subscribed);
    tasks.spawn(async move {
        for _ in 0..FILTERS.len() {
            if acks.recv().await.is_none() {
                return;
            }
        }
        let _ = ready.send(());
    });
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// One client connection of the service.
struct Link {
    client: AsyncClient,
    filters: &'static [&'static str],
    /// Told once, at the first acknowledged subscription.
    subscribed: mpsc::UnboundedSender<()>,
}

impl Link {
    /// Answers the requests the broker hands this connection (and publishes the
    /// notifications of `changes`, when given) until `stop` turns true.
    async fn serve(
        self,
        mut events: EventLoop,
        service: JobsService,
        mut changes: Option<broadcast::Receiver<Change>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let Self {
            client,
            filters,
            subscribed,
        } = self;
        // Outgoing messages go through their own task: a publish that waits for room must not
        // stop this task from polling the connection, which is what makes room.
        let (outgoing, mut queue) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        let publisher = {
            let client = client.clone();
            tokio::spawn(async move {
                while let Some((topic, payload)) = queue.recv().await {
                    if let Err(e) = client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                    {
                        tracing::warn!("publishing stopped: {e}");
                        return;
                    }
                }
            })
        };
        let mut told = false;
        loop {
            tokio::select! {
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let many = filters.iter().map(|f| SubscribeFilter::new(f.to_string(), QoS::AtLeastOnce));
                        if let Err(e) = client.try_subscribe_many(many) {
                            tracing::warn!("subscribing to {filters:?}: {e}");
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if !told {
                            told = true;
                            let _ = subscribed.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Some(reply) = service.handle(&p.topic, &p.payload) {
                            let message = (reply.message.topic, reply.message.payload);
                            if reply.after.is_zero() {
                                let _ = outgoing.send(message);
                            } else {
                                // A delayed reply must not hold the connection other devices share.
                                let outgoing = outgoing.clone();
                                tokio::spawn(async move {
                                    tokio::time::sleep(reply.after).await;
                                    let _ = outgoing.send(message);
                                });
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("broker connection: {e}; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                change = next_change(&mut changes) => match change {
                    Ok(change) => {
                        for m in service.notifications(&change, &|_| true) {
                            let _ = outgoing.send((m.topic, m.payload));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!("{n} pending-list changes were not notified"),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = super::stopped(&mut stop) => {
                    let _ = client.try_disconnect();
                    break;
                }
            }
        }
        publisher.abort();
    }
}

/// The next change, or never when this connection publishes none.
async fn next_change(
    changes: &mut Option<broadcast::Receiver<Change>>,
) -> Result<Change, broadcast::error::RecvError> {
    match changes {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::{AttachError, Broker, BrokerTls, FILTERS};

    /// What one connection used to subscribe to: every thing's Jobs topics.
    const FILTER_ALL: &str = "$aws/things/+/jobs/#";

    #[test]
    fn broker_urls_and_their_tls_options_must_agree() {
        let address = |url: &str| Broker::new(url, None).map(|b| (b.host, b.port));
        assert_eq!(
            address("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(address("mqtt://[::1]:1883/").unwrap(), ("::1".into(), 1883));
        assert!(address("tcp://x:1").is_err() && address("mqtt://x").is_err());
        assert!(matches!(
            Broker::new("mqtts://x:8883", None),
            Err(AttachError::NoCa(_))
        ));
        let tls = BrokerTls {
            ca: "ca.pem".into(),
            identity: None,
        };
        assert!(matches!(
            Broker::new("mqtt://x:1883", Some(&tls)),
            Err(AttachError::NotTls(_))
        ));
        assert!(matches!(
            Broker::new("mqtts://x:8883", Some(&tls)),
            Err(AttachError::Tls(_))
        ));
    }

    /// Whether MQTT filter `filter` matches `topic` (`+` one level, a final `#` any rest,
    /// itself included).
    fn matches(filter: &str, topic: &str) -> bool {
        let (f, t): (Vec<&str>, Vec<&str>) =
            (filter.split('/').collect(), topic.split('/').collect());
        for (i, level) in f.iter().enumerate() {
            match *level {
                "#" => return true,
                "+" if i < t.len() => {}
                l if t.get(i) == Some(&l) => {}
                _ => return false,
            }
        }
        f.len() == t.len()
    }

    #[test]
    fn every_jobs_topic_reaches_exactly_one_connection_and_nothing_else_any() {
        let jobs = [
            "$aws/things/t/jobs",
            "$aws/things/t/jobs/start-next",
            "$aws/things/t/jobs/get",
            "$aws/things/t/jobs/notify-next",
            "$aws/things/t/jobs/j/update",
            "$aws/things/t/jobs/j/get",
            "$aws/things/t/jobs/j/frobnicate",
            "$aws/things/t/jobs/start-next/accepted",
            "$aws/things/t/jobs/j/update/accepted",
            "$aws/things/t/jobs/j/get/rejected/x",
        ];
        let reached = |topic: &str| {
            FILTERS
                .iter()
                .filter(|fs| fs.iter().any(|f| matches(f, topic)))
                .count()
        };
        for topic in jobs {
            assert!(matches(FILTER_ALL, topic), "{topic}");
            assert_eq!(reached(topic), 1, "{topic}");
        }
        for topic in ["$aws/things/t/shadow/get", "$aws/things/t"] {
            assert!(!matches(FILTER_ALL, topic), "{topic}");
            assert_eq!(reached(topic), 0, "{topic}");
        }
    }
}
