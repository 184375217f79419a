//! The embedded reference implementation of the AWS IoT Jobs device API (`jobcert serve`).
//!
//! It shares only [`jobcert_contract`] with the harness. Layout: `engine` holds the state and the
//! rules; `http` binds the engine to the REST-JSON wire; `tls` serves it over TLS.

pub mod admission;
pub mod calendar;
pub mod engine;
pub mod http;
pub mod mqtt;
pub mod policy;
pub mod sigv4;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use engine::{Engine, VirtualClock};

/// The data plane's SigV4 signing name (the model's `signingName`, spec §2.1).
pub const DATA_SIGNING_NAME: &str = "iot-jobs-data";
/// The control plane's SigV4 signing name (botocore's `iot` model).
pub const CONTROL_SIGNING_NAME: &str = "iot";

/// How long attach mode may take to subscribe on the broker.
const ATTACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Where and how the reference server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data-plane listen address (port 0 picks a free port).
    pub http: SocketAddr,
    /// Control-plane listen address (port 0 picks a free port).
    pub control: SocketAddr,
    /// MQTT listen address of the embedded broker, if one is wanted.
    pub mqtt: Option<SocketAddr>,
    /// Listen address of MQTT over WebSockets (`/mqtt`) on the embedded broker, if wanted.
    pub mqtt_ws: Option<SocketAddr>,
    /// Credentials SigV4 signatures are checked against (the HTTP data and control planes,
    /// MQTT over WebSockets; not the mTLS data plane, which authenticates by certificate);
    /// none lets every request in.
    pub sigv4: Option<sigv4::Credentials>,
    /// An existing broker (`mqtt://HOST:PORT`) to serve the Jobs topics through, if any.
    pub mqtt_broker: Option<String>,
    /// Virtual clock speed: 600 makes a minute pass in 0.1 s.
    pub time_scale: f64,
    /// Region named in ARNs.
    pub region: String,
    /// Account id named in ARNs.
    pub account_id: String,
    /// Request-rate budgets to enforce (`--quotas`); none when absent.
    pub quotas: Option<jobcert_contract::Limits>,
    /// Faults to inject (`--faults`); none when absent.
    pub faults: Option<admission::Faults>,
    /// The server certificate and key: the data and control planes then speak `https://`.
    pub tls: Option<tls::TlsFiles>,
    /// An mTLS data-plane listener (needs `tls`), if one is wanted.
    pub mtls: Option<MtlsListener>,
    /// MQTT over TLS with client certificates on the embedded broker (needs `tls`), if wanted.
    pub mqtts: Option<MtlsListener>,
    /// What a device may act on: one with a client certificate, and under `OwnThingAll` an
    /// MQTT connection without one.
    pub policy: policy::Policy,
    /// How attach mode reaches an `mqtts://` broker: the CA to trust and the certificate to
    /// present, when the broker asks for one.
    pub broker_tls: Option<mqtt::attach::BrokerTls>,
    /// The engine's choices where the documentation leaves room.
    pub engine: engine::EngineSettings,
    /// What each HTTP listener allows a client (timeouts, open connections).
    pub http_limits: http::HttpLimits,
}

/// A listener that asks for client certificates: where it listens and which it accepts.
#[derive(Debug, Clone)]
pub struct MtlsListener {
    /// Listen address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// The CAs and the revocation list client certificates are judged against.
    pub client_auth: tls::ClientAuth,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
            mqtt: None,
            mqtt_ws: None,
            sigv4: None,
            mqtt_broker: None,
            time_scale: 1.0,
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            quotas: None,
            faults: None,
            tls: None,
            mtls: None,
            mqtts: None,
            policy: policy::Policy::Open,
            broker_tls: None,
            engine: engine::EngineSettings::default(),
            http_limits: http::HttpLimits::default(),
        }
    }
}

/// A running reference server; dropping it without [`RunningServer::shutdown`] aborts its tasks.
pub struct RunningServer {
    data_plane: SocketAddr,
    control_plane: SocketAddr,
    mqtt: Option<SocketAddr>,
    mqtt_ws: Option<SocketAddr>,
    mqtts: Option<SocketAddr>,
    mtls: Option<SocketAddr>,
    engine: Arc<Engine>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    drain: std::time::Duration,
}

/// How long a shutdown waits beyond the drain window for the listeners to end, closing
/// included, before it aborts them.
const SHUTDOWN_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Connections waiting to be accepted (the kernel caps it at `net.core.somaxconn`): a fleet
/// coming online in a burst must not overflow the queue, which costs each dropped connection
/// a one-second SYN retry.
const BACKLOG: u32 = 4096;

/// A listener on `addr` with a deep accept queue.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Resolves once the server is told to stop.
async fn stopping(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// A configuration the server cannot start with.
fn invalid_input(e: impl ToString) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
}

impl RunningServer {
    /// Binds the listeners and starts serving; with `mqtt_broker`, waits until the Jobs topics
    /// are subscribed on that broker.
    pub async fn start(config: &ServeConfig) -> std::io::Result<Self> {
        let engine = Arc::new(
            Engine::new(
                VirtualClock::new(config.time_scale),
                &config.region,
                &config.account_id,
            )
            .with_settings(config.engine),
        );
        let gate = Arc::new(admission::Gate::new(
            engine.clock().clone(),
            config.faults.clone(),
            config.quotas.as_ref(),
        ));
        let data = listen(config.http)?;
        let control = listen(config.control)?;
        let (data_plane, control_plane) = (data.local_addr()?, control.local_addr()?);
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(engine.clone().run_timers());
        let tls = match &config.tls {
            Some(files) => Some(tls::server_config(files, None).map_err(invalid_input)?.0),
            None => None,
        };
        for (listener, app, service, name) in [
            (
                data,
                http::data_plane(engine.clone(), gate.clone()),
                DATA_SIGNING_NAME,
                "HTTP data-plane listener",
            ),
            (
                control,
                http::control_plane(engine.clone(), gate.clone()),
                CONTROL_SIGNING_NAME,
                "HTTP control-plane listener",
            ),
        ] {
            let app = match &config.sigv4 {
                Some(credentials) => http::signed(
                    app,
                    http::Authenticator::new(credentials.clone(), service, &config.region),
                ),
                None => app,
            };
            let shutdown = stopping(stopped.clone());
            let limits = config.http_limits;
            match &tls {
                Some(tls) => {
                    let listener = tls::TlsListener::new(listener, tls.clone(), None)?;
                    tasks.spawn(http::serve(listener, app, limits, shutdown));
                }
                None => {
                    let listener = jobcert_guard::PlainListener::new(listener, name);
                    tasks.spawn(http::serve(listener, app, limits, shutdown));
                }
            }
        }
        let mtls = match &config.mtls {
            Some(mtls) => {
                let files = config.tls.as_ref().ok_or_else(|| {
                    invalid_input("an mTLS listener needs the server certificate and key")
                })?;
                let (tls, judge) =
                    tls::server_config(files, Some(&mtls.client_auth)).map_err(invalid_input)?;
                let listener = listen(mtls.addr)?;
                let local = listener.local_addr()?;
                let listener = tls::TlsListener::new(listener, tls, judge)?;
                let app = http::mtls_data_plane(engine.clone(), gate.clone(), config.policy);
                tasks.spawn(http::serve(
                    listener,
                    app,
                    config.http_limits,
                    stopping(stopped.clone()),
                ));
                Some(local)
            }
            None => None,
        };
        let service = mqtt::service::JobsService::with_gate(engine.clone(), gate);
        let (listeners, addresses) = Self::mqtt_listeners(config)?;
        let [mqtt, mqtts, mqtt_ws] = addresses;
        if listeners.tcp.is_some() || listeners.tls.is_some() || listeners.ws.is_some() {
            tasks.spawn(mqtt::broker::serve(
                listeners,
                service.clone(),
                stopped.clone(),
            ));
        }
        if let Some(url) = &config.mqtt_broker {
            let broker = mqtt::attach::Broker::new(url, config.broker_tls.as_ref())
                .map_err(invalid_input)?;
            let (ready, subscribed) = tokio::sync::oneshot::channel();
            let (service, stopped) = (service.clone(), stopped.clone());
            tasks.spawn(async move {
                if let Err(e) = mqtt::attach::attach(broker, service, ready, stopped).await {
                    tracing::error!("attach mode: {e}");
                }
            });
            tokio::time::timeout(ATTACH_TIMEOUT, subscribed)
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the broker did not acknowledge the Jobs subscription",
                    )
                })?
                .map_err(|_| std::io::Error::other("attach mode stopped"))?;
        }
        Ok(Self {
            data_plane,
            control_plane,
            mqtt,
            mqtt_ws,
            mqtts,
            mtls,
            engine,
            stop,
            tasks,
            drain: config.http_limits.drain,
        })
    }

    /// The embedded broker's listeners, and their addresses: TCP, TLS, WebSockets.
    fn mqtt_listeners(
        config: &ServeConfig,
    ) -> std::io::Result<(mqtt::broker::Listeners, [Option<SocketAddr>; 3])> {
        let server_files = || {
            config
                .tls
                .as_ref()
                .ok_or_else(|| invalid_input("MQTT over TLS needs the server certificate and key"))
        };
        let tcp = config.mqtt.map(listen).transpose()?;
        let tls = match &config.mqtts {
            Some(mqtts) => {
                let tls = tls::mqtt_server_config(server_files()?, &mqtts.client_auth)
                    .map_err(invalid_input)?;
                Some((listen(mqtts.addr)?, tls))
            }
            None => None,
        };
        let ws = match config.mqtt_ws {
            Some(addr) => {
                let tls = match &config.tls {
                    Some(files) => {
                        Some(tls::websocket_server_config(files).map_err(invalid_input)?)
                    }
                    None => None,
                };
                Some((listen(addr)?, tls))
            }
            None => None,
        };
        let addresses = [
            tcp.as_ref().map(TcpListener::local_addr).transpose()?,
            tls.as_ref().map(|(l, _)| l.local_addr()).transpose()?,
            ws.as_ref().map(|(l, _)| l.local_addr()).transpose()?,
        ];
        let listeners = mqtt::broker::Listeners {
            tcp,
            tls: tls.map(|(l, tls)| mqtt::tls::MqttTlsListener::new(l, tls, config.policy)),
            ws: ws.map(|(l, tls)| {
                mqtt::ws::WsListener::new(l, config.sigv4.clone(), tls, config.policy)
            }),
            policy: config.policy,
        };
        Ok((listeners, addresses))
    }

    /// The data-plane address.
    pub fn data_plane(&self) -> SocketAddr {
        self.data_plane
    }

    /// The control-plane address.
    pub fn control_plane(&self) -> SocketAddr {
        self.control_plane
    }

    /// The embedded broker's MQTT-over-WebSockets address, if it has one.
    pub fn mqtt_ws(&self) -> Option<SocketAddr> {
        self.mqtt_ws
    }

    /// The embedded broker's address, when it runs.
    pub fn mqtt(&self) -> Option<SocketAddr> {
        self.mqtt
    }

    /// The embedded broker's MQTT-over-TLS address, if it has one.
    pub fn mqtts(&self) -> Option<SocketAddr> {
        self.mqtts
    }

    /// The mTLS data plane's address, when it runs.
    pub fn mtls(&self) -> Option<SocketAddr> {
        self.mtls
    }

    /// The engine behind the listeners.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Stops accepting, lets the requests being answered finish within the drain window
    /// (`HttpLimits::drain`), and stops the timer task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // The timer task never ends by itself; the listeners end once drained.
        let _ = tokio::time::timeout(self.drain + SHUTDOWN_MARGIN, async {
            while self.tasks.len() > 1 {
                if self.tasks.join_next().await.is_none() {
                    break;
                }
            }
        })
        .await;
        self.tasks.abort_all();
    }
}
