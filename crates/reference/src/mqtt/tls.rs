//! MQTT over TLS with client certificates, as AWS IoT serves it on 8883 (and on 443 with ALPN
//! `x-amzn-mqtt-ca`, taken on the same listener). A certificate the listener cannot use fails
//! the handshake with the TLS alert that says why (expired, unknown CA, revoked); a usable one
//! names the thing the session speaks for.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::broker::session;
use super::hub::Hub;
use super::service::JobsService;
use crate::policy::{Policy, Principal};
use crate::tls::common_name;
use jobcert_guard::AcceptFailures;

/// How long a new connection may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener for MQTT over TLS.
pub struct MqttTlsListener {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    policy: Policy,
}

impl MqttTlsListener {
    /// Serves `config` (from [`crate::tls::mqtt_server_config`]) on `listener`, holding each
    /// device to `policy`.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>, policy: Policy) -> Self {
        Self {
            listener,
            config,
            policy,
        }
    }

    /// Accepts connections until `stop` turns true; each handshake runs in its own task, so a
    /// slow or silent client holds up nobody else.
    pub(super) async fn serve(
        self,
        hub: Arc<Hub>,
        service: JobsService,
        mut stop: watch::Receiver<bool>,
    ) {
        let acceptor = TlsAcceptor::from(self.config);
        let mut failures = AcceptFailures::new("MQTT over TLS listener");
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, addr)) => {
                        let _ = tcp.set_nodelay(true);
                        let (acceptor, hub, service) = (acceptor.clone(), hub.clone(), service.clone());
                        let policy = self.policy;
                        tokio::spawn(async move {
                            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => tls,
                                Ok(Err(e)) => {
                                    tracing::debug!("MQTT TLS handshake with {addr} failed: {e}");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("MQTT TLS handshake with {addr} timed out");
                                    return;
                                }
                            };
                            let thing = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(<[_]>::first)
                                .and_then(common_name);
                            session(tls, hub, service, Principal::new(policy, thing)).await;
                        });
                    }
                    Err(e) => failures.failed(&e).await,
                },
                () = super::stopped(&mut stop) => return,
            }
        }
    }
}
