//! The MQTT side of the reference server: the Jobs service on the reserved topics, served by
//! an embedded broker or attached to an existing one.

pub mod attach;
pub mod broker;
mod dialect;
pub mod hub;
pub mod service;
pub mod tls;
pub mod topics;
pub mod ws;

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
