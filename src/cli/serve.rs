//! `jobcert serve`: run the reference implementation until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use jobcert_contract::Limits;
use jobcert_reference::admission::Faults;
use jobcert_reference::engine::{AbortDenominator, EngineSettings, StateBounds, Unreleased};
use jobcert_reference::mqtt::attach::BrokerTls;
use jobcert_reference::policy::Policy;
use jobcert_reference::sigv4::Credentials;
use jobcert_reference::tls::{ClientAuth, TlsFiles};
use jobcert_reference::{MtlsListener, RunningServer, ServeConfig};

use super::http_limits::HttpLimitArgs;

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
    /// Check SigV4 signatures as AWS does: every request of the HTTP data plane (signing name
    /// iot-jobs-data) and control plane (iot) must carry an Authorization header (or a
    /// presigned query) that checks, within 5 minutes of this machine's clock, else 403
    /// MissingAuthenticationTokenException, UnrecognizedClientException or
    /// InvalidSignatureException; MQTT over WebSockets checks the presigned URL. The credentials
    /// are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) from the
    /// environment, or --sigv4-credentials.
    #[arg(long)]
    verify_sigv4: bool,
    /// With --verify-sigv4: read the credentials from FILE instead, in the shared-credentials
    /// format of ~/.aws/credentials (aws_access_key_id, aws_secret_access_key, optionally
    /// aws_session_token), profile --sigv4-profile.
    #[arg(long, value_name = "FILE", requires = "verify_sigv4")]
    sigv4_credentials: Option<PathBuf>,
    /// The profile of --sigv4-credentials to read.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        requires = "sigv4_credentials"
    )]
    sigv4_profile: String,
    /// MQTT over TLS listen address of the embedded broker, as AWS IoT's 8883 (and 443 with
    /// ALPN `x-amzn-mqtt-ca`): a client certificate from `--client-ca` is required, and one
    /// that is expired, revoked or from another CA fails the handshake.
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "client_ca"])]
    mqtts: Option<SocketAddr>,
    /// What a device may act on: `open` (anything); `own-thing` (a device with a client
    /// certificate only on the thing its certificate's common name names, its MQTT client id
    /// that name); `own-thing-all` (as `own-thing`, and an MQTT connection without a
    /// certificate, over TCP or WebSockets, only on the thing its client id names). A limited
    /// MQTT client's subscriptions that can reach another thing's topics (`+`, `#`, another
    /// thing's name) are refused in the SUBACK, and its publishing about another thing closes
    /// the connection.
    #[arg(long, value_name = "POLICY", default_value = "open")]
    policy: Policy,
    /// Behave as an AWS IoT account set up as AWS's samples set one up, where that needs no
    /// files or credentials: `--policy own-thing-all`. (Quotas, SigV4 and TLS stay their own
    /// flags.)
    #[arg(long, conflicts_with = "policy")]
    aws_like: bool,
    /// Serve the Jobs topics through this existing broker instead (`mqtt://HOST:PORT`, or
    /// `mqtts://HOST:PORT` with `--mqtt-broker-ca`).
    #[arg(long, value_name = "URL")]
    mqtt_broker: Option<String>,
    /// The CA certificates (PEM) an `mqtts://` broker's certificate chains to.
    #[arg(long, value_name = "FILE", requires = "mqtt_broker")]
    mqtt_broker_ca: Option<PathBuf>,
    /// The client certificate (PEM) to present to an `mqtts://` broker that asks for one.
    #[arg(long, value_name = "FILE", requires_all = ["mqtt_broker_ca", "mqtt_broker_key"])]
    mqtt_broker_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "mqtt_broker_cert")]
    mqtt_broker_key: Option<PathBuf>,
    /// Virtual clock speed: 600 makes one minute pass in 0.1 s.
    #[arg(long, default_value_t = 1.0, value_parser = positive_scale)]
    time_scale: f64,
    /// Region named in ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id named in ARNs.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// Enforce request-rate quotas on the virtual clock: 429 ThrottlingException, MQTT
    /// `RequestThrottled`. Without FILE, the newest embedded `schemas/limits/aws-<date>.json`.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    quotas: Option<Option<PathBuf>>,
    /// Hold state to the `state` bounds of this limits file rather than those of the newest
    /// embedded `schemas/limits/aws-<date>.json` (active jobs, executions a thing retains,
    /// statusDetails size): state is always bounded, and a bound the file leaves out or enforces
    /// by no figure is not held. To raise a bound, copy the embedded file and change its
    /// `enforced.figure`.
    #[arg(long, value_name = "FILE")]
    state_limits: Option<PathBuf>,
    /// Hold the account to N active jobs of each kind (SNAPSHOT, CONTINUOUS) rather than the
    /// limits file's bound: a replay that plays a capture in many copies creates each copy's
    /// jobs afresh, more than one account holds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_active_jobs: Option<u64>,
    /// Inject the faults FILE describes (YAML or JSON, `schemas/faults.schema.json`).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Server certificate chain (PEM): the data and control planes then speak `https://`, and
    /// MQTT over WebSockets `wss://`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The server certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also serve the data plane over mTLS here: a client certificate is asked for, and one
    /// that is missing, expired, revoked or not from `--client-ca` is answered
    /// CertificateValidationException.
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "client_ca"])]
    mtls: Option<SocketAddr>,
    /// The CA certificates (PEM) the mTLS and MQTT-over-TLS listeners accept client
    /// certificates from.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// Revoked client certificates: one hex serial a line (`jobcert pki`'s `revoked.txt`).
    #[arg(long, value_name = "FILE", requires = "client_ca")]
    revoked: Option<PathBuf>,
    /// A paced rollout's targets not rolled out yet: `absent` (an execution comes into being
    /// when rolled out) or `queued` (it exists, QUEUED, from CreateJob; rolling out announces it).
    #[arg(long, value_name = "MODE", default_value = "absent")]
    unreleased_executions: Unreleased,
    /// What an abort criterion's percentage and minNumberOfExecutedThings count: `finished`
    /// executions (succeeded, failed, rejected, timed out) or `notified` (rolled out) ones.
    #[arg(long, value_name = "COUNT", default_value = "finished")]
    abort_denominator: AbortDenominator,
    #[command(flatten)]
    http_limits: HttpLimitArgs,
}

/// The limits `--quotas` names: a file, or the embedded AWS figures.
pub fn quotas(arg: Option<&Path>) -> anyhow::Result<Limits> {
    match arg {
        None => Ok(Limits::aws().clone()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Limits::parse(&text).with_context(|| format!("{}", path.display()))
        }
    }
}

/// The state bounds of `--state-limits` (or the embedded file's), the active-jobs ones
/// replaced by `--max-active-jobs`.
fn bounds(file: Option<&Path>, max_active_jobs: Option<u64>) -> anyhow::Result<StateBounds> {
    let mut bounds = match file {
        Some(path) => StateBounds::of(&quotas(Some(path))?),
        None => StateBounds::default(),
    };
    if let Some(n) = max_active_jobs {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        bounds.active_snapshot_jobs = Some(n);
        bounds.active_continuous_jobs = Some(n);
    }
    Ok(bounds)
}

/// The faults `--faults` names.
pub fn faults(path: &Path) -> anyhow::Result<Faults> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Faults::parse(&text).with_context(|| format!("{}", path.display()))
}

fn positive_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// Runs the server; prints one line per listener, then serves until a signal arrives.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let sigv4 = match (args.verify_sigv4, &args.sigv4_credentials) {
        (false, _) => None,
        (true, Some(file)) => Some(Credentials::from_file(file, &args.sigv4_profile)?),
        (true, None) => Some(Credentials::from_env().context(
            "--verify-sigv4 checks signatures against AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; \
             set both, or name a credentials file with --sigv4-credentials",
        )?),
    };
    let client_auth = args.client_ca.map(|ca| ClientAuth {
        ca,
        revoked: args.revoked,
    });
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
        quotas: args
            .quotas
            .as_ref()
            .map(|q| quotas(q.as_deref()))
            .transpose()?,
        faults: args.faults.as_deref().map(faults).transpose()?,
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| TlsFiles { cert, key }),
        mtls: args
            .mtls
            .zip(client_auth.clone())
            .map(|(addr, client_auth)| MtlsListener { addr, client_auth }),
        mqtts: args
            .mqtts
            .zip(client_auth)
            .map(|(addr, client_auth)| MtlsListener { addr, client_auth }),
        policy: if args.aws_like {
            Policy::OwnThingAll
        } else {
            args.policy
        },
        broker_tls: args.mqtt_broker_ca.map(|ca| BrokerTls {
            ca,
            identity: args
                .mqtt_broker_cert
                .zip(args.mqtt_broker_key)
                .map(|(cert, key)| TlsFiles { cert, key }),
        }),
        engine: EngineSettings {
            unreleased: args.unreleased_executions,
            abort_denominator: args.abort_denominator,
            bounds: bounds(args.state_limits.as_deref(), args.max_active_jobs)?,
        },
        http_limits: args.http_limits.limits(),
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let server = RunningServer::start(&config)
        .await
        .context("starting the reference server")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "data-plane {scheme}://{}", server.data_plane())?;
        writeln!(out, "control-plane {scheme}://{}", server.control_plane())?;
        if let Some(addr) = server.mqtt() {
            writeln!(out, "mqtt mqtt://{addr}")?;
        }
        if let Some(addr) = server.mqtts() {
            writeln!(out, "mqtts mqtts://{addr}")?;
        }
        if let Some(addr) = server.mqtt_ws() {
            let ws = if config.tls.is_some() { "wss" } else { "ws" };
            writeln!(out, "mqtt-ws {ws}://{addr}/mqtt")?;
        }
        if let Some(url) = &args.mqtt_broker {
            writeln!(out, "mqtt-attached {url}")?;
        }
        if let Some(addr) = server.mtls() {
            writeln!(out, "mtls-data-plane https://{addr}")?;
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
