//! MQTT over WebSockets, as AWS IoT serves it: `GET /mqtt` upgraded with the `mqtt`
//! subprotocol, the URL presigned with SigV4 for the service `iotdevicegateway`. When the
//! listener holds credentials, an upgrade whose signature does not check is refused with
//! `403 Forbidden` and the reason (AWS answers 403 too), and nothing of MQTT is spoken. With a
//! TLS configuration the listener speaks `wss://`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use ws_stream_tungstenite::WsStream;

use super::broker::session;
use super::hub::Hub;
use super::service::JobsService;
use crate::policy::{Policy, Principal};
use crate::sigv4::presigned::{self, Presigned};
use crate::sigv4::{Credentials, Scope};
use jobcert_guard::AcceptFailures;

/// The SigV4 service name of AWS IoT's device gateway.
pub const SERVICE: &str = "iotdevicegateway";
/// The path AWS IoT serves MQTT over WebSockets on.
const PATH: &str = "/mqtt";
/// How long a new connection may take to finish its upgrade.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener for MQTT over WebSockets.
pub struct WsListener {
    listener: TcpListener,
    /// Signatures are checked against these when given; any request is let in otherwise.
    credentials: Option<Credentials>,
    /// Served over TLS (`wss://`) when given.
    tls: Option<TlsAcceptor>,
    /// What each session may do (no certificate: the client id names its thing, if anything).
    policy: Policy,
}

impl WsListener {
    /// A listener on `listener`, checking signatures against `credentials` when given, over
    /// TLS with `tls` (from [`crate::tls::websocket_server_config`]) when given, holding each
    /// session to `policy`.
    pub fn new(
        listener: TcpListener,
        credentials: Option<Credentials>,
        tls: Option<Arc<ServerConfig>>,
        policy: Policy,
    ) -> Self {
        Self {
            listener,
            credentials,
            tls: tls.map(TlsAcceptor::from),
            policy,
        }
    }

    /// Accepts upgrades until `stop` turns true; each becomes a broker session on `hub`.
    // The handshake callback's error type is tungstenite's, large as it is.
    #[allow(clippy::result_large_err)]
    pub(super) async fn serve(
        self,
        hub: Arc<Hub>,
        service: JobsService,
        mut stop: watch::Receiver<bool>,
    ) {
        let credentials = Arc::new(self.credentials);
        let mut failures = AcceptFailures::new("MQTT over WebSockets listener");
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let (hub, service, credentials) = (hub.clone(), service.clone(), credentials.clone());
                        let tls = self.tls.clone();
                        let principal = Principal::new(self.policy, None);
                        tokio::spawn(async move {
                            let check = |request: &Request, response: Response| {
                                admit(request, response, credentials.as_ref().as_ref(), SystemTime::now())
                            };
                            let _ = tokio::time::timeout(UPGRADE_TIMEOUT, async move {
                                match tls {
                                    Some(tls) => {
                                        let Ok(stream) = tls.accept(stream).await else { return };
                                        upgrade(stream, check, hub, service, principal).await;
                                    }
                                    None => upgrade(stream, check, hub, service, principal).await,
                                }
                            })
                            .await;
                        });
                    }
                    Err(e) => failures.failed(&e).await,
                },
                () = super::stopped(&mut stop) => return,
            }
        }
    }
}

/// Upgrades `stream` once `check` admits the request, then hands it to a broker session held
/// to `principal` (which the upgrade's deadline no longer bounds).
// The handshake callback's error type is tungstenite's, large as it is.
#[allow(clippy::result_large_err)]
async fn upgrade<S>(
    stream: S,
    check: impl FnOnce(&Request, Response) -> Result<Response, ErrorResponse> + Unpin,
    hub: Arc<Hub>,
    service: JobsService,
    principal: Principal,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if let Ok(ws) = async_tungstenite::tokio::accept_hdr_async(stream, check).await {
        tokio::spawn(session(WsStream::new(ws), hub, service, principal));
    }
}

/// The answer to an upgrade `request`: the `mqtt` subprotocol when the path is AWS IoT's and
/// the signature checks (or nothing is checked); `403` or `404` with the reason otherwise.
// The handshake callback's error type is tungstenite's, large as it is.
#[allow(clippy::result_large_err)]
fn admit(
    request: &Request,
    mut response: Response,
    credentials: Option<&Credentials>,
    now: SystemTime,
) -> Result<Response, ErrorResponse> {
    let uri = request.uri();
    if uri.path() != PATH {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("MQTT over WebSockets is served on {PATH}"),
        ));
    }
    if let Some(credentials) = credentials {
        let host = request
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let presigned = Presigned {
            method: request.method().as_str(),
            host,
            path: uri.path(),
            query: uri.query().unwrap_or_default(),
            body: b"",
        };
        let scope = Scope {
            service: SERVICE,
            region: None,
        };
        if let Err(refused) = presigned::verify(presigned, credentials, scope, now) {
            return Err(refuse(StatusCode::FORBIDDEN, refused.to_string()));
        }
    }
    let offered = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "mqtt");
    if offered {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    }
    Ok(response)
}

fn refuse(status: StatusCode, reason: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason));
    *response.status_mut() = status;
    response
}
