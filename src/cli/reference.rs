//! The reference server in a child `jobcert serve`, for the commands that drive load against
//! it (`fleet`, `replay`): the load's connections and the server's count against separate
//! descriptor limits, and the measurements do not share a runtime.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context;
use jobcert_reference::engine::StateBounds;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The reference server in a child process, and the addresses it printed.
pub struct Reference {
    _child: Child,
    /// HTTP data-plane URL.
    pub data: String,
    /// Control-plane URL.
    pub control: String,
    /// MQTT broker URL (`mqtts://` with a PKI), when asked for.
    pub mqtt: Option<String>,
    /// The mTLS data plane's URL, when a PKI is given for an HTTP fleet.
    pub mtls: Option<String>,
}

/// How the child server runs, beyond its clock, region and account.
#[derive(Debug, Default)]
pub struct Extras<'a> {
    /// `--quotas`: the embedded AWS figures (`Some(None)`) or a limits file.
    pub quotas: Option<Option<&'a Path>>,
    /// `--faults FILE`.
    pub faults: Option<&'a Path>,
    /// A PKI folder (`jobcert pki`'s files): the server then speaks TLS, requires client
    /// certificates from its CA on MQTT (`--mqtts`) and serves an mTLS data plane.
    pub pki: Option<&'a Path>,
    /// The jobs the load creates: when more than an account holds (the limits file's
    /// active-jobs bounds), the server is told to hold that many (`--max-active-jobs`).
    pub jobs: Option<u64>,
}

/// The active jobs of each kind one account holds: the smaller of the embedded limits file's
/// bounds (none: no bound).
fn account_jobs() -> u64 {
    let bounds = StateBounds::default();
    [bounds.active_snapshot_jobs, bounds.active_continuous_jobs]
        .into_iter()
        .flatten()
        .min()
        .map_or(u64::MAX, |n| n as u64)
}

/// Starts `jobcert serve` on free loopback ports, its clock `time_scale` times real time, with
/// an MQTT broker when `mqtt`, and `extras`.
pub async fn start_with(
    time_scale: f64,
    mqtt: bool,
    region: &str,
    account_id: &str,
    extras: &Extras<'_>,
) -> anyhow::Result<Reference> {
    let exe = std::env::current_exe().context("finding the jobcert binary")?;
    let mut command = Command::new(exe);
    command
        .args(["serve", "--http", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .args(["--time-scale", &time_scale.to_string()])
        .args(["--region", region, "--account-id", account_id])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(quotas) = extras.quotas {
        command.arg("--quotas").args(quotas);
    }
    if let Some(faults) = extras.faults {
        command.arg("--faults").arg(faults);
    }
    if let Some(jobs) = extras.jobs.filter(|&n| n > account_jobs()) {
        command.args(["--max-active-jobs", &jobs.to_string()]);
    }
    let (mqtt_line, mtls) = match (extras.pki, mqtt) {
        (Some(pki), _) => {
            command
                .arg("--tls-cert")
                .arg(pki.join("server.pem"))
                .arg("--tls-key")
                .arg(pki.join("server.key"))
                .arg("--client-ca")
                .arg(pki.join("ca.pem"));
            if mqtt {
                command.args(["--mqtts", "127.0.0.1:0"]);
            } else {
                command.args(["--mtls", "127.0.0.1:0"]);
            }
            ("mqtts ", !mqtt)
        }
        (None, true) => {
            command.args(["--mqtt", "127.0.0.1:0"]);
            ("mqtt ", false)
        }
        (None, false) => ("mqtt ", false),
    };
    let mut child = command.spawn().context("starting the reference server")?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next = async |prefix: &str| -> anyhow::Result<String> {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .context("the reference server did not start within 30 s")??
            .context("the reference server exited before it listened")?;
        line.strip_prefix(prefix)
            .map(str::to_string)
            .with_context(|| format!("unexpected line from the server: {line:?}"))
    };
    let data = next("data-plane ").await?;
    let control = next("control-plane ").await?;
    let mqtt = match mqtt {
        true => Some(next(mqtt_line).await?),
        false => None,
    };
    let mtls = match mtls {
        true => Some(next("mtls-data-plane ").await?),
        false => None,
    };
    Ok(Reference {
        _child: child,
        data,
        control,
        mqtt,
        mtls,
    })
}
