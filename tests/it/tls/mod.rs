//! TLS on both sides, with a PKI from `jobcert pki`: the reference over `https://` and its
//! mTLS data plane (`serve.rs`), its MQTT over TLS, `wss://` and `--policy own-thing`
//! (`serve_mqtts.rs`), the PKI files themselves (`pki.rs`), and the harness over TLS: runs,
//! SN-CERTIFICATE, a fleet with per-device certificates, no key in any output (`run.rs`); and
//! over MQTT over TLS through mosquitto (`mqtts.rs`).

mod mqtts;
mod pki;
mod run;
mod serve;
mod serve_mqtts;

use std::time::Duration;

use tempfile::TempDir;

use crate::common::process::{Process, Ran, args};
use crate::common::{root, scratch};

/// Longest one suite run over TLS may take.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

/// `jobcert run --target TARGET --control CONTROL` at time scale 600 with `extra` options and
/// `env` set; its reports are under `reports/` of the folder returned.
fn run_suite(
    target: &str,
    control: &str,
    extra: &[String],
    env: &[(&str, Option<&str>)],
) -> (Ran, TempDir) {
    let dir = scratch("tls-suite");
    let mut line: Vec<String> = [
        "run",
        "--target",
        target,
        "--control",
        control,
        "--target-time-scale",
        "600",
        "--deadline-ms",
        "5000",
        "--report-dir",
    ]
    .map(String::from)
    .to_vec();
    line.push(dir.path().join("reports").display().to_string());
    line.extend(extra.iter().cloned());
    let ran = Process::spawn_env(&args(&line), &root(), &dir, env).finish(SUITE_LIMIT);
    (ran, dir)
}
