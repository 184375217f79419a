//! The recording proxy (`jobcert capture proxy`): stands in front of any target, forwards every
//! request and answer unchanged, and keeps what it saw as exchanges — an HTTP reverse proxy for
//! the data plane and one for the control plane (`http.rs`), and an MQTT proxy that terminates
//! each device connection and opens its own to the real broker (`mqtt.rs`), because a recorder
//! subscribed on the broker never sees the Jobs replies sent to one client. When it stops, the
//! tape becomes a capture (`record::capture::from_traffic`).

mod http;
mod mqtt;
mod tape;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::record::capture::{Capture, Origin, Source, SourceKind, from_traffic};
use crate::transport::route::Plane;
use tape::Tape;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// An upstream URL is not one the proxy can forward to.
    #[error("upstream {url}: {reason}")]
    Upstream {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// One listener and where it forwards to.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Where devices or clients connect.
    pub listen: SocketAddr,
    /// The real target: an `http://` base URL, or `mqtt://host:port`.
    pub upstream: Url,
}

/// What to stand in front of; at least one should be given.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    /// The data plane over HTTP.
    pub data: Option<Forward>,
    /// The control plane (its creations become the capture's seed).
    pub control: Option<Forward>,
    /// The MQTT broker.
    pub mqtt: Option<Forward>,
}

/// The addresses a running proxy listens on (port 0 resolved).
#[derive(Debug, Clone, Copy, Default)]
pub struct Listening {
    /// Data plane.
    pub data: Option<SocketAddr>,
    /// Control plane.
    pub control: Option<SocketAddr>,
    /// MQTT.
    pub mqtt: Option<SocketAddr>,
}

/// What a stopped proxy recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The capture.
    pub capture: Capture,
    /// Requests forwarded that are no Jobs operation (not in the capture).
    pub skipped: u64,
}

/// A proxy listening and forwarding until [`RunningProxy::stop`].
pub struct RunningProxy {
    /// Where it listens.
    pub listening: Listening,
    tape: Arc<Tape>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Bind { addr, source })
}

fn http_upstream(url: &Url) -> Result<Url, ProxyError> {
    if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() {
        Ok(url.clone())
    } else {
        Err(ProxyError::Upstream {
            url: url.to_string(),
            reason: "not an http:// or https:// URL with a host",
        })
    }
}

fn mqtt_upstream(url: &Url) -> Result<String, ProxyError> {
    match (url.scheme(), url.host_str()) {
        ("mqtt" | "tcp", Some(host)) => Ok(format!("{host}:{}", url.port().unwrap_or(1883))),
        _ => Err(ProxyError::Upstream {
            url: url.to_string(),
            reason: "not an mqtt://host:port URL",
        }),
    }
}

impl RunningProxy {
    /// Binds every listener of `settings` and starts forwarding.
    pub async fn start(settings: &ProxySettings) -> Result<Self, ProxyError> {
        let tape = Arc::new(Tape::new());
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut listening = Listening::default();
        let planes = [
            (&settings.data, Plane::Data, &mut listening.data),
            (&settings.control, Plane::Control, &mut listening.control),
        ];
        for (forward, plane, addr) in planes {
            if let Some(f) = forward {
                let upstream = http_upstream(&f.upstream)?;
                let listener = bind(f.listen).await?;
                *addr = listener.local_addr().ok();
                let proxy = http::HttpProxy::new(plane, upstream, tape.clone());
                tasks.spawn(proxy.serve(listener, stop.clone()));
            }
        }
        if let Some(f) = &settings.mqtt {
            let upstream = mqtt_upstream(&f.upstream)?;
            let listener = bind(f.listen).await?;
            listening.mqtt = listener.local_addr().ok();
            tasks.spawn(mqtt::serve(listener, upstream, tape.clone(), stop.clone()));
        }
        Ok(Self {
            listening,
            tape,
            stop,
            tasks,
        })
    }

    /// Stops listening, closes every forwarded connection and makes the capture of what was
    /// recorded; `detail` says what was proxied, `target_time_scale` how fast its clock ran.
    pub async fn stop(mut self, detail: String, target_time_scale: f64) -> Recorded {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        let (exchanges, notifications, skipped) = self.tape.take();
        let origin = Origin {
            source: Source {
                kind: SourceKind::Proxy,
                detail: Some(detail),
            },
            origin_ms: self.tape.origin_ms(),
            target_time_scale,
            run_id: None,
        };
        Recorded {
            capture: from_traffic(&exchanges, &notifications, origin),
            skipped,
        }
    }
}
