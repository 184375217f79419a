//! Wire compatibility over MQTT with the real AWS IoT Device SDK v2 for Python (`awsiotsdk`):
//! runs `tests/interop/device_sdk_interop.py` against the `jobcert serve` binary twice, once
//! through its embedded broker (`--mqtt`) and once attached to a mosquitto broker
//! (`--mqtt-broker`), then stops the server with SIGTERM.
//!
//! The Python interpreter is `$JOBCERT_PYTHON`, else `.venv/bin/python` in the crate root; the
//! broker is `$JOBCERT_MOSQUITTO`, else `mosquitto` on `PATH` or in `/usr/sbin`. Without either
//! the test that needs it is skipped, unless `JOBCERT_REQUIRE_INTEROP` is set (as in CI).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::broker::{Mosquitto, Reaped, interop_required};

/// How long the server may take to print its listener lines (attach mode included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole script may run (each of its waits is bounded by 10 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// A running `jobcert serve`; killed on drop.
struct Server {
    child: Reaped,
    /// The URL of each listener line, in the order `wanted` named them.
    urls: Vec<String>,
}

impl Server {
    /// Starts the binary with `args` and reads one line per prefix in `wanted`, in order.
    fn start(args: &[&str], wanted: &'static [&'static str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("jobcert serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // Owned before the lines are read, so the child is killed if reading them fails.
        let child = Reaped(child);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(read_urls(stdout, wanted));
        });
        let urls = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .unwrap_or_else(|_| {
                panic!("jobcert serve {args:?} prints {wanted:?} within {STARTUP_TIMEOUT:?}")
            })
            .unwrap_or_else(|e| panic!("jobcert serve {args:?}: {e}"));
        Self { child, urls }
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(&mut self) -> ExitStatus {
        let child = &mut self.child.0;
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(kill.success(), "kill -TERM failed: {kill}");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait on jobcert serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "jobcert serve still running {SHUTDOWN_TIMEOUT:?} after SIGTERM"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Reads one `PREFIX URL` line per prefix, in order, then keeps draining stdout so the server
/// never writes into a closed pipe.
fn read_urls(stdout: ChildStdout, wanted: &[&str]) -> Result<Vec<String>, String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = Vec::new();
    for prefix in wanted {
        let line = lines
            .next()
            .ok_or("stdout closed early")?
            .map_err(|e| e.to_string())?;
        let url = line
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("expected `{prefix} URL`, got {line:?}"))?;
        urls.push(url.to_string());
    }
    thread::spawn(move || lines.for_each(drop));
    Ok(urls)
}

/// Host and port of an `mqtt://HOST:PORT` URL.
fn mqtt_address(url: &str) -> (String, u16) {
    let rest = url
        .strip_prefix("mqtt://")
        .unwrap_or_else(|| panic!("{url:?} is not mqtt://HOST:PORT"));
    let (host, port) = rest
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url:?} has no port"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("{url:?} has no numeric port"));
    (host.to_string(), port)
}

/// The interpreter that runs the script: `$JOBCERT_PYTHON`, else the crate's `.venv`; `None`
/// (after saying why) when the test should be skipped.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("JOBCERT_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
        PathBuf::from,
    );
    if python.exists() {
        return Some(python);
    }
    assert!(
        !interop_required(),
        "JOBCERT_REQUIRE_INTEROP is set but there is no Python at {}",
        python.display()
    );
    eprintln!(
        "skipped: no venv at {} (or set JOBCERT_PYTHON), see README set-up: \
         python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt",
        python.display()
    );
    None
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs the SDK script against the broker at `mqtt_url` and the control plane at
/// `control_url`; fails with its output unless it exits 0 within [`SCRIPT_TIMEOUT`].
fn run_script(python: &Path, mqtt_url: &str, control_url: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/device_sdk_interop.py");
    let (host, port) = mqtt_address(mqtt_url);
    let mut child = Command::new(python)
        .arg(&script)
        .arg(&host)
        .arg(port.to_string())
        .arg(control_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the device SDK interop script runs");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let mut child = Reaped(child);
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait on the script") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.0.kill();
            let _ = child.0.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    println!("{stdout}");
    let Some(status) = status else {
        panic!(
            "{} still running after {SCRIPT_TIMEOUT:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            script.display()
        );
    };
    assert!(
        status.success(),
        "{} exited with {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        script.display()
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("device sdk interop: ") && l.ends_with(" checks passed")),
        "the script's last line is not its summary\n--- stdout ---\n{stdout}"
    );
}

/// The Device SDK (V2 over MQTT 5 and 3.1.1, legacy V1 over 3.1.1) against the server's own
/// broker; the server then stops cleanly on SIGTERM.
#[test]
fn device_sdk_interoperates_with_the_embedded_broker() {
    let Some(python) = python() else { return };
    let mut server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--mqtt",
            "127.0.0.1:0",
        ],
        &["data-plane", "control-plane", "mqtt"],
    );
    let (control_url, mqtt_url) = (server.urls[1].clone(), server.urls[2].clone());
    run_script(&python, &mqtt_url, &control_url);
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}

/// The same script through mosquitto, with the server attached to it as a client
/// (`--mqtt-broker`); the server then stops cleanly on SIGTERM.
#[test]
fn device_sdk_interoperates_through_mosquitto() {
    let Some(python) = python() else { return };
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let url = broker.url();
    let mut server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--mqtt-broker",
            &url,
        ],
        &["data-plane", "control-plane", "mqtt-attached"],
    );
    assert_eq!(server.urls[2], url, "mqtt-attached names another broker");
    let control_url = server.urls[1].clone();
    run_script(&python, &url, &control_url);
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}
