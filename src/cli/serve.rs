//! `jobcert serve`: run the reference implementation until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use jobcert_reference::sigv4::Credentials;
use jobcert_reference::{RunningServer, ServeConfig};

/// Options of `jobcert serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data-plane listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9080")]
    http: SocketAddr,
    /// Control-plane listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9081")]
    control: SocketAddr,
    /// MQTT listen address of the embedded broker (port 0 picks a free port).
    #[arg(long)]
    mqtt: Option<SocketAddr>,
    /// MQTT over WebSockets listen address of the embedded broker, served on `/mqtt` as AWS IoT
    /// does (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    mqtt_ws: Option<SocketAddr>,
    /// Check SigV4 signatures (MQTT over WebSockets: the presigned URL) against
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment; a request that does not
    /// check is refused with 403 and the reason.
    #[arg(long)]
    verify_sigv4: bool,
    /// Serve the Jobs topics through this existing broker instead (`mqtt://HOST:PORT`).
    #[arg(long, value_name = "URL")]
    mqtt_broker: Option<String>,
    /// Virtual clock speed: 600 makes one minute pass in 0.1 s.
    #[arg(long, default_value_t = 1.0, value_parser = positive_scale)]
    time_scale: f64,
    /// Region named in ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id named in ARNs.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
}

fn positive_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// Runs the server; prints one line per listener, then serves until a signal arrives.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let sigv4 = if args.verify_sigv4 {
        Some(Credentials::from_env().context(
            "--verify-sigv4 checks signatures against AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; set both",
        )?)
    } else {
        None
    };
    let config = ServeConfig {
        http: args.http,
        control: args.control,
        mqtt: args.mqtt,
        mqtt_ws: args.mqtt_ws,
        sigv4,
        mqtt_broker: args.mqtt_broker.clone(),
        time_scale: args.time_scale,
        region: args.region,
        account_id: args.account_id,
    };
    let server = RunningServer::start(&config)
        .await
        .context("starting the reference server")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "data-plane http://{}", server.data_plane())?;
        writeln!(out, "control-plane http://{}", server.control_plane())?;
        if let Some(addr) = server.mqtt() {
            writeln!(out, "mqtt mqtt://{addr}")?;
        }
        if let Some(addr) = server.mqtt_ws() {
            writeln!(out, "mqtt-ws ws://{addr}/mqtt")?;
        }
        if let Some(url) = &args.mqtt_broker {
            writeln!(out, "mqtt-attached {url}")?;
        }
        out.flush()?;
    }
    stop_signal().await?;
    tracing::info!("stopping");
    server.shutdown().await;
    Ok(())
}

async fn stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
