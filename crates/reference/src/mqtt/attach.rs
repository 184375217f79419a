//! Attach mode: the Jobs service as a client of an existing broker (mosquitto, EMQX), for
//! users who test behind their production broker. It subscribes to every thing's Jobs topics,
//! answers requests and publishes notifications; the broker moves the messages.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::service::JobsService;

/// Every thing's Jobs topics.
const FILTER: &str = "$aws/things/+/jobs/#";
/// Largest packet sent or accepted.
const MAX_PACKET: usize = 128 * 1024 + 2048;

/// Why attach mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The URL is not `mqtt://HOST:PORT`.
    #[error("--mqtt-broker takes mqtt://HOST:PORT, not {0}")]
    Url(String),
}

/// Host and port of an `mqtt://HOST:PORT` URL.
pub fn broker_address(url: &str) -> Result<(String, u16), AttachError> {
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(|| AttachError::Url(url.to_string()))?;
    let (host, port) = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .ok_or_else(|| AttachError::Url(url.to_string()))?;
    let port = port
        .parse()
        .map_err(|_| AttachError::Url(url.to_string()))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Runs the service against the broker at `url` until `stop` turns true; `ready` fires once
/// the subscription is in place. Connection losses are retried every second.
pub async fn attach(
    url: &str,
    service: JobsService,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), AttachError> {
    let (host, port) = broker_address(url)?;
    let mut options = MqttOptions::new(
        format!("jobcert-jobs-{}", uuid::Uuid::new_v4().simple()),
        host,
        port,
    );
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    // Replies wait in rumqttc's window of unacknowledged messages, not in a dropped queue.
    options.set_inflight(u16::MAX);
    let (client, mut events) = AsyncClient::new(options, 4096);
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
    let mut changes = service.engine().changes();
    let mut ready = Some(ready);
    loop {
        tokio::select! {
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Err(e) = client.try_subscribe(FILTER, QoS::AtLeastOnce) {
                        tracing::warn!("subscribing to {FILTER}: {e}");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some(reply) = service.handle(&p.topic, &p.payload) {
                        let message = (reply.message.topic, reply.message.payload);
                        if reply.after.is_zero() {
                            let _ = outgoing.send(message);
                        } else {
                            // A delayed reply must not hold the one client every device shares.
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
            change = changes.recv() => match change {
                Ok(change) => {
                    for m in service.notifications(&change, &|_| true) {
                        let _ = outgoing.send((m.topic, m.payload));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!("{n} pending-list changes were not notified"),
                Err(broadcast::error::RecvError::Closed) => {
                    publisher.abort();
                    return Ok(());
                }
            },
            () = super::stopped(&mut stop) => {
                publisher.abort();
                let _ = client.try_disconnect();
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::broker_address;

    #[test]
    fn urls() {
        assert_eq!(
            broker_address("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            broker_address("mqtt://[::1]:1883/").unwrap(),
            ("::1".into(), 1883)
        );
        assert!(broker_address("tcp://x:1").is_err() && broker_address("mqtt://x").is_err());
    }
}
