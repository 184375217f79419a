//! HTTP transport (reqwest): sends one request with a deadline and records the exchange.

use std::time::{Duration, Instant};

use crate::transport::{Exchange, FailureClass, Label, Outcome, WireRequest, WireResponse, redact};

use super::binding::HttpRequest;
use super::sigv4::Signer;
use super::tls::{ClientTls, Identity, TlsError};

/// Most bytes of an answer kept in the record; the rest is read and dropped.
const MAX_KEPT_BODY: usize = 256 * 1024;
/// Most bytes read from an answer before the connection is given up.
const MAX_READ_BODY: usize = 8 * 1024 * 1024;

/// One HTTP endpoint and the SigV4 service name it signs for.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A transport whose timings count from `origin`; it signs when given a signer, and
    /// speaks TLS as `tls` says.
    pub fn new(origin: Instant, signer: Option<Signer>, tls: &ClientTls) -> Self {
        let builder = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(30));
        let client = build(builder, tls);
        Self {
            client,
            signer,
            origin,
        }
    }

    /// A transport like [`Self::new`] that presents `identity` instead of the run's client
    /// certificate.
    pub fn presenting(
        origin: Instant,
        signer: Option<Signer>,
        tls: &ClientTls,
        identity: &Identity,
    ) -> Result<Self, TlsError> {
        let builder = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(30));
        let client = tls
            .reqwest(builder, Some(identity))?
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Self {
            client,
            signer,
            origin,
        })
    }

    /// A transport that keeps up to `pool` idle connections to each host.
    pub fn with_pool(
        origin: Instant,
        signer: Option<Signer>,
        pool: usize,
        tls: &ClientTls,
    ) -> Self {
        let builder = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true);
        let client = build(builder, tls);
        Self {
            client,
            signer,
            origin,
        }
    }

    /// The instant timings count from.
    pub fn origin(&self) -> Instant {
        self.origin
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
        label: Label<'_>,
    ) -> Exchange {
        let mut wire = wire_request(endpoint, request);
        let sent_us = self.now_us();
        let outcome = match prepare(endpoint, request, self.signer.as_ref()).and_then(|r| {
            wire.headers = recorded_headers(&r);
            reqwest::Request::try_from(r).map_err(|e| format!("invalid request: {e}"))
        }) {
            Ok(built) => match tokio::time::timeout(deadline, self.exchange(built)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::timeout(deadline),
            },
            Err(message) => Outcome::Failed {
                class: FailureClass::Protocol,
                message,
            },
        };
        Exchange::new(label, wire, outcome, sent_us, self.now_us())
    }

    async fn exchange(&self, request: reqwest::Request) -> Outcome {
        let mut response = match self.client.execute(request).await {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let status = response.status().as_u16();
        let headers = response_headers(response.headers());
        let mut body = Body::default();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.keep(&chunk) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return failure(&e),
            }
        }
        body.answer(status, headers)
    }
}

/// The client `builder` makes with `tls` applied.
///
/// # Panics
/// If `tls` cannot be applied, which [`ClientTls::new`] rules out by building one client when
/// it reads the settings.
fn build(builder: reqwest::ClientBuilder, tls: &ClientTls) -> reqwest::Client {
    tls.reqwest(builder, None)
        .and_then(|b| b.build().map_err(|e| TlsError::Config(e.to_string())))
        .expect("TLS settings checked when they were read")
}

/// The record of `request` as it will go out (headers are filled in once signed).
pub(super) fn wire_request(endpoint: &Endpoint, request: &HttpRequest) -> WireRequest {
    WireRequest {
        transport: "http".into(),
        method: request.method.clone(),
        endpoint: endpoint.base.clone(),
        target: request.target.clone(),
        headers: Vec::new(),
        body: request.body.clone(),
    }
}

/// The request to send: URL, JSON content type when there is a body, and the signature.
pub(super) fn prepare(
    endpoint: &Endpoint,
    request: &HttpRequest,
    signer: Option<&Signer>,
) -> Result<http::Request<Vec<u8>>, String> {
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(format!("{}{}", endpoint.base, request.target));
    if request.body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let mut prepared = builder
        .body(request.body.clone().unwrap_or_default().into_bytes())
        .map_err(|e| format!("invalid request: {e}"))?;
    if let Some(signer) = signer {
        signer
            .sign(&mut prepared, endpoint.service)
            .map_err(|e| e.to_string())?;
    }
    Ok(prepared)
}

/// A prepared request's headers as recorded: secrets redacted.
pub(super) fn recorded_headers<B>(request: &http::Request<B>) -> Vec<(String, String)> {
    redact(
        request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), header_text(v))),
    )
}

/// Response headers as recorded, lowercase names.
pub(super) fn response_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), header_text(v)))
        .collect()
}

/// A header value as text: as it is when it is UTF-8 (checked much faster than a lossy
/// conversion goes), lossy otherwise.
fn header_text(value: &http::HeaderValue) -> String {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => text.to_string(),
        Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

/// An answer's body as read: at most [`MAX_KEPT_BODY`] bytes kept, every byte counted.
#[derive(Default)]
pub(super) struct Body {
    kept: Vec<u8>,
    read: usize,
}

impl Body {
    /// Keeps what fits of `chunk`; says whether to stop reading (past [`MAX_READ_BODY`]).
    pub(super) fn keep(&mut self, chunk: &[u8]) -> bool {
        self.read += chunk.len();
        let room = MAX_KEPT_BODY.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        self.read > MAX_READ_BODY
    }

    /// The answer with this body.
    pub(super) fn answer(self, status: u16, headers: Vec<(String, String)>) -> Outcome {
        Outcome::Answered(WireResponse {
            status,
            headers,
            truncated: self.read > self.kept.len(),
            // Valid UTF-8 (every JSON answer) becomes the String as it is, without a copy.
            body: String::from_utf8(self.kept)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
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
    Outcome::Failed {
        class,
        message: error_chain(e),
    }
}

/// An error and every error under it, `: `-separated.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
