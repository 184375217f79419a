//! One device's own HTTP/1.1 connection (hyper), kept alive between its requests the way a
//! device's client is, and opened again after the target drops it. Fleet devices use it when
//! every device is to hold a connection of its own; it records the same [`Exchange`] as
//! [`super::http::HttpTransport`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::binding::HttpRequest;
use super::http::{
    Endpoint, error_chain, keep, prepare, recorded_headers, response_headers, wire_request,
};
use super::sigv4::Signer;
use crate::record::{Exchange, FailureClass, Outcome, Timing, WireResponse};

/// A device's connection to one `http://` endpoint.
pub struct DeviceConnection {
    address: String,
    signer: Option<Signer>,
    origin: Instant,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for DeviceConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConnection")
            .field("address", &self.address)
            .field("open", &self.sender.is_some())
            .finish_non_exhaustive()
    }
}

impl DeviceConnection {
    /// A connection (not yet opened) to the host of `endpoint`, which must be `http://`.
    pub fn new(
        endpoint: &Endpoint,
        signer: Option<Signer>,
        origin: Instant,
    ) -> Result<Self, String> {
        let address = endpoint
            .base
            .strip_prefix("http://")
            .ok_or_else(|| {
                format!(
                    "a device connection needs an http:// URL, not {}",
                    endpoint.base
                )
            })?
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            address,
            signer,
            origin,
            sender: None,
        })
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Opens the connection unless it is open; fails after `deadline`.
    pub async fn open(&mut self, deadline: Duration) -> Result<(), String> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        self.sender = None;
        let connect = async {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|e| format!("connect to {}: {e}", self.address))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake with {}: {e}", self.address))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("device connection ended: {e}");
                }
            });
            Ok::<_, String>(sender)
        };
        match tokio::time::timeout(deadline, connect).await {
            Ok(Ok(sender)) => {
                self.sender = Some(sender);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "no connection to {} within {deadline:?}",
                self.address
            )),
        }
    }

    /// Sends `request` on this connection (opening it when needed) and waits at most
    /// `deadline` for the whole answer; a broken connection is dropped for the next request.
    pub async fn send(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
        deadline: Duration,
        seq: u64,
        context: &str,
        operation: &str,
    ) -> Exchange {
        let mut wire = wire_request(endpoint, request);
        let sent_us = self.now_us();
        let started = Instant::now();
        let outcome = match prepare(endpoint, request, self.signer.as_ref()) {
            Ok(prepared) => {
                wire.headers = recorded_headers(&prepared);
                let outcome = tokio::time::timeout(deadline, async {
                    if let Err(message) = self.open(deadline).await {
                        return Outcome::Failed {
                            class: FailureClass::Connect,
                            message,
                        };
                    }
                    self.exchange(prepared).await
                })
                .await;
                match outcome {
                    Ok(o) => o,
                    Err(_) => Outcome::Timeout {
                        deadline_ms: deadline.as_millis() as u64,
                    },
                }
            }
            Err(message) => Outcome::Failed {
                class: FailureClass::Protocol,
                message,
            },
        };
        if !matches!(outcome, Outcome::Answered(_)) || started.elapsed() > deadline {
            // A connection that timed out or broke may still carry the old answer.
            self.sender = None;
        }
        Exchange {
            seq,
            context: context.to_string(),
            operation: operation.to_string(),
            request: wire,
            outcome,
            timing: Timing {
                intended_us: sent_us,
                sent_us,
                done_us: self.now_us(),
            },
        }
    }

    async fn exchange(&mut self, prepared: http::Request<Vec<u8>>) -> Outcome {
        let Some(sender) = self.sender.as_mut() else {
            return Outcome::Failed {
                class: FailureClass::Connect,
                message: "no connection".into(),
            };
        };
        let (mut parts, body) = prepared.into_parts();
        // On a connection of its own the request line carries the path only.
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        if let Ok(host) = self.address.parse() {
            parts.headers.insert(http::header::HOST, host);
        }
        parts.uri = match path.parse() {
            Ok(u) => u,
            Err(e) => {
                return Outcome::Failed {
                    class: FailureClass::Protocol,
                    message: format!("invalid path: {e}"),
                };
            }
        };
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        if let Err(e) = sender.ready().await {
            return reset(&e);
        }
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => return reset(&e),
        };
        let status = response.status().as_u16();
        let headers = response_headers(response.headers());
        let mut body = response.into_body();
        let mut kept = Vec::new();
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(chunk) = frame.data_ref()
                        && keep(&mut kept, &mut read, chunk)
                    {
                        self.sender = None;
                        break;
                    }
                }
                Err(e) => return reset(&e),
            }
        }
        Outcome::Answered(WireResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&kept).into_owned(),
            truncated: read > kept.len(),
        })
    }
}

fn reset(e: &hyper::Error) -> Outcome {
    let class = if e.is_parse() {
        FailureClass::Protocol
    } else {
        FailureClass::Reset
    };
    Outcome::Failed {
        class,
        message: error_chain(e),
    }
}
