//! The embedded reference implementation of the AWS IoT Jobs device API (`jobcert serve`).
//!
//! It shares only [`crate::contract`] with the harness. Layout: `engine` holds the state and the
//! rules; `http` binds the engine to the REST-JSON wire.

pub mod engine;
pub mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use engine::{Engine, VirtualClock};

/// Where and how the reference server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data-plane listen address (port 0 picks a free port).
    pub http: SocketAddr,
    /// Control-plane listen address (port 0 picks a free port).
    pub control: SocketAddr,
    /// Virtual clock speed: 600 makes a minute pass in 0.1 s.
    pub time_scale: f64,
    /// Region named in ARNs.
    pub region: String,
    /// Account id named in ARNs.
    pub account_id: String,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
            time_scale: 1.0,
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
        }
    }
}

/// A running reference server; dropping it without [`RunningServer::shutdown`] aborts its tasks.
pub struct RunningServer {
    data_plane: SocketAddr,
    control_plane: SocketAddr,
    engine: Arc<Engine>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// Binds the listeners and starts serving.
    pub async fn start(config: &ServeConfig) -> std::io::Result<Self> {
        let engine = Arc::new(Engine::new(
            VirtualClock::new(config.time_scale),
            &config.region,
            &config.account_id,
        ));
        let data = TcpListener::bind(config.http).await?;
        let control = TcpListener::bind(config.control).await?;
        let (data_plane, control_plane) = (data.local_addr()?, control.local_addr()?);
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(engine.clone().run_timers());
        for (listener, app) in [
            (data, http::data_plane(engine.clone())),
            (control, http::control_plane(engine.clone())),
        ] {
            let mut stopped = stopped.clone();
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!("listener failed: {e}");
                }
            });
        }
        Ok(Self {
            data_plane,
            control_plane,
            engine,
            stop,
            tasks,
        })
    }

    /// The data-plane address.
    pub fn data_plane(&self) -> SocketAddr {
        self.data_plane
    }

    /// The control-plane address.
    pub fn control_plane(&self) -> SocketAddr {
        self.control_plane
    }

    /// The engine behind the listeners.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Stops accepting, lets in-flight requests finish, and stops the timer task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // The timer task never ends by itself; the listeners end once drained.
        let mut listeners_left = 2;
        while listeners_left > 0 {
            match self.tasks.join_next().await {
                Some(_) => listeners_left -= 1,
                None => break,
            }
            if self.tasks.len() == 1 {
                break;
            }
        }
        self.tasks.abort_all();
    }
}
