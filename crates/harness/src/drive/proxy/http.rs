//! The HTTP reverse proxy: every request goes upstream as it came — method, path and query,
//! headers (the `Host` among them, which a SigV4 signature covers), body — and the answer comes
//! back unchanged. A request the schemas' bindings name is kept as an exchange, its secret
//! headers redacted; anything else is forwarded and counted.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, HeaderName, StatusCode};
use jobcert_guard::{HttpLimits, PlainListener};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::tape::Tape;
use crate::transport::route::{Plane, http_operation};
use crate::transport::{FailureClass, Outcome, WireRequest, WireResponse, redact, redact_target};

/// Largest body forwarded either way.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Headers about one hop, never forwarded (RFC 9110 §7.6.1); the length is set again by
/// whoever writes the body.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn end_to_end(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str()) && name != http::header::CONTENT_LENGTH
}

fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// One plane's proxy.
pub(super) struct HttpProxy {
    plane: Plane,
    upstream: Url,
    client: reqwest::Client,
    tape: Arc<Tape>,
}

impl HttpProxy {
    pub(super) fn new(plane: Plane, upstream: Url, tape: Arc<Tape>) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            plane,
            upstream,
            client,
            tape,
        }
    }

    /// Serves `listener` under `limits` until `stop`, then lets the requests being answered
    /// finish within the drain window.
    pub(super) async fn serve(
        self,
        listener: TcpListener,
        limits: HttpLimits,
        stop: CancellationToken,
    ) {
        let name = match self.plane {
            Plane::Data => "capture proxy's data-plane listener",
            Plane::Control => "capture proxy's control-plane listener",
        };
        let app = Router::new().fallback(forward).with_state(Arc::new(self));
        let listener = PlainListener::new(listener, name);
        jobcert_guard::serve(listener, app, limits, stop.cancelled_owned()).await;
    }

    fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{path_and_query}",
            self.upstream.as_str().trim_end_matches('/')
        )
    }
}

/// What the upstream answered, or why it did not.
type Answer = Result<(StatusCode, HeaderMap, bytes::Bytes), (FailureClass, String)>;

async fn send(
    proxy: &HttpProxy,
    method: &http::Method,
    target: &str,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Answer {
    let mut outgoing = HeaderMap::new();
    for (k, v) in headers.iter().filter(|(k, _)| end_to_end(k)) {
        outgoing.append(k.clone(), v.clone());
    }
    let sent = proxy
        .client
        .request(method.clone(), proxy.url(target))
        .headers(outgoing)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            (
                if e.is_connect() {
                    FailureClass::Connect
                } else {
                    FailureClass::Reset
                },
                e.to_string(),
            )
        })?;
    let status = sent.status();
    let headers = sent.headers().clone();
    let body = sent
        .bytes()
        .await
        .map_err(|e| (FailureClass::Reset, e.to_string()))?;
    Ok((status, headers, body))
}

async fn forward(State(proxy): State<Arc<HttpProxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large to proxy",
        );
    };
    let sent_us = proxy.tape.now_us();
    let answer = send(&proxy, &parts.method, &target, &parts.headers, body.clone()).await;
    let done_us = proxy.tape.now_us();

    match http_operation(proxy.plane, parts.method.as_str(), &target) {
        Some(operation) => {
            let request = WireRequest {
                transport: "http".into(),
                method: parts.method.to_string(),
                endpoint: proxy.upstream.as_str().trim_end_matches('/').to_string(),
                target: redact_target(&target),
                headers: redact(pairs(&parts.headers)),
                body: (!body.is_empty() || parts.method != http::Method::GET)
                    .then(|| String::from_utf8_lossy(&body).into_owned()),
            };
            let outcome = match &answer {
                Ok((status, headers, body)) => Outcome::Answered(WireResponse {
                    status: status.as_u16(),
                    headers: pairs(headers),
                    body: String::from_utf8_lossy(body).into_owned(),
                    truncated: false,
                }),
                Err((class, message)) => Outcome::Failed {
                    class: *class,
                    message: message.clone(),
                },
            };
            proxy
                .tape
                .exchange(operation, request, outcome, sent_us, done_us);
        }
        None => proxy.tape.skip(),
    }

    match answer {
        Ok((status, headers, body)) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (k, v) in headers.iter().filter(|(k, _)| end_to_end(k)) {
                response.headers_mut().append(k.clone(), v.clone());
            }
            response
        }
        Err((_, message)) => plain(StatusCode::BAD_GATEWAY, &format!("upstream: {message}")),
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = status;
    response
}
