//! `jobcert capture`: work with captures (`jobcert-capture/1`). `lint` reads one whole — any
//! problem is named by `file:line` — and says what it holds and how long a replay takes;
//! `proxy` records one from the traffic of real devices and programs; `import` makes one from
//! a HAR or GoReplay file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use jobcert_harness::drive::proxy::{Forward, ProxySettings, RunningProxy};
use jobcert_harness::record::capture::{Capture, Line, import, lint, read, write};
use url::Url;

use super::http_limits::HttpLimitArgs;

/// Options of `jobcert capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[command(subcommand)]
    command: CaptureCommand,
}

#[derive(Debug, Subcommand)]
enum CaptureCommand {
    /// Check a capture and say what it holds: counts, the operation mix per device, lines out of
    /// send order, the largest gaps, and how long a replay takes at --speed.
    Lint {
        /// The capture (`.jsonl`, or gzip-compressed `.jsonl.gz`).
        file: PathBuf,
        /// Replay speed to predict the duration for.
        #[arg(long, default_value_t = 1.0, value_parser = speed)]
        speed: f64,
    },
    /// Stand in front of a target as a recording proxy until Ctrl-C (or --duration-s), then
    /// write what passed through as a capture.
    Proxy(Box<ProxyArgs>),
    /// Make a capture of a HAR 1.2 file (`.har`) or a GoReplay file (`.gor`): its requests of the
    /// Jobs API, each with its answer.
    Import {
        /// The HAR or GoReplay file.
        file: PathBuf,
        /// Where to write the capture (gzip-compressed when it ends in `.gz`).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Options of `jobcert capture proxy`.
#[derive(Debug, Args)]
struct ProxyArgs {
    /// Where devices send data-plane HTTP requests.
    #[arg(long, requires = "http_upstream")]
    http_listen: Option<SocketAddr>,
    /// The target's data-plane URL (`http://host:port`).
    #[arg(long, requires = "http_listen")]
    http_upstream: Option<Url>,
    /// Where the control plane is called (its CreateThing and CreateJob become the seed).
    #[arg(long, requires = "control_upstream")]
    control_listen: Option<SocketAddr>,
    /// The target's control-plane URL.
    #[arg(long, requires = "control_listen")]
    control_upstream: Option<Url>,
    /// Where devices connect over MQTT.
    #[arg(long, requires = "mqtt_upstream")]
    mqtt_listen: Option<SocketAddr>,
    /// The target's broker (`mqtt://host:port`).
    #[arg(long, requires = "mqtt_listen")]
    mqtt_upstream: Option<Url>,
    /// Where to write the capture (gzip-compressed when it ends in `.gz`).
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many seconds (without it, on Ctrl-C).
    #[arg(long)]
    duration_s: Option<f64>,
    /// How fast the target's clock runs (1 for real targets), written to the capture.
    #[arg(long, default_value_t = 1.0)]
    target_time_scale: f64,
    #[command(flatten)]
    http_limits: HttpLimitArgs,
    /// Client connections expected at once (devices and programs together): each costs the
    /// proxy two open descriptors, and a number the descriptor limit cannot hold is refused
    /// before listening.
    #[arg(long, default_value_t = 256)]
    connections: u64,
}

/// A replay speed: 0.1 to 1000.
fn speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=1000.0).contains(&s) => Ok(s),
        _ => Err(format!("{text} is not a speed from 0.1 to 1000")),
    }
}

/// Runs the command; exit 0 = done, 2 = bad input (named by file and line or entry) or a
/// proxy that could not start.
pub async fn run(args: CaptureArgs) -> ExitCode {
    let (name, done) = match args.command {
        CaptureCommand::Lint { file, speed } => ("lint", lint_file(&file, speed)),
        CaptureCommand::Proxy(args) => ("proxy", proxy(*args).await),
        CaptureCommand::Import { file, out } => ("import", import_file(&file, &out)),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobcert capture {name}: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn lint_file(file: &std::path::Path, speed: f64) -> anyhow::Result<()> {
    let capture = read(file)?;
    let report = lint(&capture);
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{report}");
    let _ = writeln!(
        out,
        "a replay at {speed}x takes at least {:.3} s",
        report.duration_at(speed).as_secs_f64()
    );
    Ok(())
}

/// Exchanges and events a capture holds.
fn counts(capture: &Capture) -> (usize, usize) {
    let events = capture
        .lines
        .iter()
        .filter(|n| matches!(n.value, Line::Event(_)))
        .count();
    (capture.exchanges().count(), events)
}

fn import_file(file: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    let imported = import(file)?;
    write(&imported.capture, out).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} exchanges kept, {} requests skipped (not the Jobs API, or never answered); wrote {}",
        file.display(),
        imported.kept,
        imported.skipped,
        out.display()
    );
    Ok(())
}

async fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    if !(args.target_time_scale.is_finite() && args.target_time_scale > 0.0) {
        bail!("--target-time-scale must be a positive number");
    }
    let forward = |listen: Option<SocketAddr>, upstream: Option<Url>| {
        listen
            .zip(upstream)
            .map(|(listen, upstream)| Forward { listen, upstream })
    };
    let settings = ProxySettings {
        data: forward(args.http_listen, args.http_upstream),
        control: forward(args.control_listen, args.control_upstream),
        mqtt: forward(args.mqtt_listen, args.mqtt_upstream),
        http_limits: args.http_limits.limits(),
    };
    let mut detail = Vec::new();
    for (name, f) in [
        ("data-plane", &settings.data),
        ("control-plane", &settings.control),
        ("mqtt", &settings.mqtt),
    ] {
        if let Some(f) = f {
            detail.push(format!("{name} {}", f.upstream));
        }
    }
    if detail.is_empty() {
        bail!(
            "nothing to proxy: give --http-listen/--http-upstream, --control-listen/--control-upstream or --mqtt-listen/--mqtt-upstream"
        );
    }
    super::descriptors::ensure(&super::descriptors::proxy_needs(
        detail.len() as u64,
        args.connections,
    ))?;
    let proxy = RunningProxy::start(&settings).await?;
    let l = proxy.listening;
    for (name, scheme, addr) in [
        ("data-plane", "http", l.data),
        ("control-plane", "http", l.control),
        ("mqtt", "mqtt", l.mqtt),
    ] {
        if let Some(addr) = addr {
            println!("{name} {scheme}://{addr}");
        }
    }
    let _ = std::io::stdout().flush();
    match args.duration_s {
        Some(s) => {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?,
    }
    let recorded = proxy.stop(detail.join(", "), args.target_time_scale).await;
    write(&recorded.capture, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let (exchanges, events) = counts(&recorded.capture);
    println!(
        "recorded {exchanges} exchanges, {events} notifications and {} things and {} jobs to seed; {} requests were not the Jobs API; wrote {}",
        recorded.capture.header.seed.things.len(),
        recorded.capture.header.seed.jobs.len(),
        recorded.skipped,
        args.out.display()
    );
    Ok(())
}
