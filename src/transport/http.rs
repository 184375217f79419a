//! HTTP transport (reqwest): sends one request with a deadline and records the exchange.

use std::time::{Duration, Instant};

use crate::record::{Exchange, FailureClass, Outcome, Timing, WireRequest, WireResponse, redact};

use super::binding::HttpRequest;
use super::sigv4::Signer;

/// Most bytes of an answer kept in the record; the rest is read and dropped.
const MAX_KEPT_BODY: usize = 256 * 1024;
/// Most bytes read from an answer before the connection is given up.
const MAX_READ_BODY: usize = 8 * 1024 * 1024;

/// One HTTP endpoint and the SigV4 service name it signs for.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, without a trailing slash.
    pub base: String,
    /// Signing name: `iot-jobs-data` for the data plane, `iot` for the control plane.
    pub service: &'static str,
}

/// Sends requests over HTTP/1.1 and records what happens.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    signer: Option<Signer>,
    origin: Instant,
}

impl HttpTransport {
    /// A transport whose timings count from `origin`; it signs when given a signer.
    pub fn new(origin: Instant, signer: Option<Signer>) -> Self {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with default TLS");
        Self {
            client,
            signer,
            origin,
        }
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Sends `request` to `endpoint` and waits at most `deadline` for the whole answer.
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        request: &HttpRequest,
        deadline: Duration,
        seq: u64,
        context: &str,
        operation: &str,
    ) -> Exchange {
        let url = format!("{}{}", endpoint.base, request.target);
        let body = request.body.clone().unwrap_or_default();
        let mut wire = WireRequest {
            transport: "http".into(),
            method: request.method.clone(),
            endpoint: endpoint.base.clone(),
            target: request.target.clone(),
            headers: Vec::new(),
            body: request.body.clone(),
        };
        let sent_us = self.now_us();
        let outcome = match self.build(endpoint, request, &url, body) {
            Ok(built) => {
                wire.headers = redact(built.headers().iter().map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                }));
                match tokio::time::timeout(deadline, self.exchange(built)).await {
                    Ok(outcome) => outcome,
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
        let done_us = self.now_us();
        Exchange {
            seq,
            context: context.to_string(),
            operation: operation.to_string(),
            request: wire,
            outcome,
            timing: Timing {
                intended_us: sent_us,
                sent_us,
                done_us,
            },
        }
    }

    fn build(
        &self,
        endpoint: &Endpoint,
        request: &HttpRequest,
        url: &str,
        body: String,
    ) -> Result<reqwest::Request, String> {
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(url);
        if request.body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let mut http_request = builder
            .body(body.into_bytes())
            .map_err(|e| format!("invalid request: {e}"))?;
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut http_request, endpoint.service)
                .map_err(|e| e.to_string())?;
        }
        reqwest::Request::try_from(http_request).map_err(|e| format!("invalid request: {e}"))
    }

    async fn exchange(&self, request: reqwest::Request) -> Outcome {
        let mut response = match self.client.execute(request).await {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut kept = Vec::new();
        let mut read = 0usize;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = MAX_KEPT_BODY.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if read > MAX_READ_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return failure(&e),
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

fn failure(e: &reqwest::Error) -> Outcome {
    let class = if e.is_connect() {
        FailureClass::Connect
    } else if e.is_body() || e.is_request() {
        FailureClass::Reset
    } else {
        FailureClass::Protocol
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Outcome::Failed { class, message }
}
