//! Wire compatibility with real AWS clients. The AWS SDK for Rust runs in-process; boto3, the
//! AWS CLI and the AWS IoT Device SDK v2 for Python run from the Python venv (directly, over
//! TLS, and through the recording proxy), and the AWS IoT Device SDK v2 for JavaScript from
//! `tests/interop/node_modules`, so their tests are `#[ignore]`d and fail when run without them.

mod boto3;
mod boto3_sigv4;
mod device_sdk;
mod device_sdk_js;
mod proxied;
mod rust_sdk;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::common::process::Reaped;
use crate::common::root;

/// How long one interop script may run (each of its own waits is bounded by 10 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// The interpreter of the Python interop scripts: `$JOBCERT_PYTHON`, else the crate's `.venv`.
/// Fails the test when there is none.
fn python() -> PathBuf {
    let python = std::env::var_os("JOBCERT_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "no Python at {} (or set JOBCERT_PYTHON); create the venv as the README says: \
         python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt",
        python.display()
    );
    python
}

/// The Node.js of the JavaScript interop script: `$JOBCERT_NODE`, else `node` on the PATH.
/// Fails the test when there is none, or when `tests/interop/node_modules` lacks the SDK.
fn node() -> PathBuf {
    let node = std::env::var_os("JOBCERT_NODE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("node"))
                    .find(|candidate| candidate.is_file())
            })
        });
    let Some(node) = node.filter(|node| node.is_file()) else {
        panic!("no node on the PATH (or set JOBCERT_NODE); install Node.js as the README says");
    };
    let sdk = root().join("tests/interop/node_modules/aws-iot-device-sdk-v2");
    assert!(
        sdk.is_dir(),
        "no {}; install the pinned SDK as the README says: (cd tests/interop && npm ci)",
        sdk.display()
    );
    node
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs an interop script to its end within [`SCRIPT_TIMEOUT`] and returns its standard
/// output; fails the test with its output unless it exits 0 with the last line
/// `{summary}: N checks passed`.
fn run_checks(mut command: Command, summary: &str) -> String {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown} does not start: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let mut child = Reaped(child);
    let status = child.wait_or_kill(SCRIPT_TIMEOUT);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    println!("{stdout}");
    let Some(status) = status else {
        panic!(
            "{shown} still running after {SCRIPT_TIMEOUT:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        );
    };
    assert!(
        status.success(),
        "{shown} exited with {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let prefix = format!("{summary}: ");
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(&prefix) && l.ends_with(" checks passed")),
        "the last line of {shown} is not its summary\n--- stdout ---\n{stdout}"
    );
    stdout
}
