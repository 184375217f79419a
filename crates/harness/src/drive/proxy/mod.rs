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

use jobcert_guard::HttpLimits;
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
    /// What each HTTP listener allows a client (timeouts, open connections, drain window).
    pub http_limits: HttpLimits,
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
                tasks.spawn(proxy.serve(listener, settings.http_limits, stop.clone()));
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::record::capture::{Answer, Line};

    /// An upstream that answers one request with a fixed body and hands back the request's
    /// head as it arrived.
    async fn upstream_once(listener: TcpListener) -> String {
        let (mut socket, _) = listener.accept().await.expect("the proxy connects");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            socket.read_exact(&mut byte).await.expect("a request head");
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let length: usize = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|n| n.parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        socket.read_exact(&mut body).await.expect("the body");
        let answer = r#"{"execution":{"jobId":"j","thingName":"t"}}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-amzn-requestid: r1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        socket
            .write_all(response.as_bytes())
            .await
            .expect("the answer");
        text
    }

    #[tokio::test]
    async fn a_request_goes_upstream_as_it_came_and_its_answer_comes_back() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", upstream.local_addr().unwrap())).unwrap();
        let seen = tokio::spawn(upstream_once(upstream));
        let settings = ProxySettings {
            data: Some(Forward {
                listen: "127.0.0.1:0".parse().unwrap(),
                upstream: url,
            }),
            ..ProxySettings::default()
        };
        let proxy = RunningProxy::start(&settings).await.unwrap();
        let at = proxy.listening.data.unwrap();
        let signature = "AWS4-HMAC-SHA256 Credential=AKIDPROXY/20261203/us-east-1/iot-jobs-data/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        let answer = reqwest::Client::new()
            .put(format!("http://{at}/things/t/jobs/$next"))
            .header("host", "data.jobs.iot.us-east-1.amazonaws.com")
            .header("authorization", signature)
            .header("x-amz-date", "20261203T080000Z")
            .body(r#"{"stepTimeoutInMinutes":5}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-amzn-requestid"], "r1");
        assert_eq!(
            answer.text().await.unwrap(),
            r#"{"execution":{"jobId":"j","thingName":"t"}}"#
        );

        let head = tokio::time::timeout(Duration::from_secs(10), seen)
            .await
            .unwrap()
            .unwrap();
        assert!(
            head.starts_with("PUT /things/t/jobs/$next HTTP/1.1\r\n"),
            "{head}"
        );
        for line in [
            "host: data.jobs.iot.us-east-1.amazonaws.com",
            &format!("authorization: {signature}"),
            "x-amz-date: 20261203T080000Z",
        ] {
            assert!(
                head.to_ascii_lowercase()
                    .contains(&line.to_ascii_lowercase()),
                "{line} not in {head}"
            );
        }

        let recorded = proxy.stop("test".into(), 1.0).await;
        let exchanges: Vec<_> = recorded
            .capture
            .exchanges()
            .map(|(_, e)| e.clone())
            .collect();
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].operation, "StartNextPendingJobExecution");
        assert_eq!(
            exchanges[0].body.as_deref(),
            Some(r#"{"stepTimeoutInMinutes":5}"#)
        );
        assert!(matches!(
            &exchanges[0].answer,
            Answer::Http { status: 200, .. }
        ));
        assert!(
            recorded
                .capture
                .lines
                .iter()
                .all(|n| matches!(n.value, Line::Exchange(_)))
        );
    }
}
