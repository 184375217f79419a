//! Wire compatibility over MQTT with the real AWS IoT Device SDK v2 for Python (`awsiotsdk`):
//! runs `tests/interop/device_sdk_interop.py` against the `jobcert serve` binary twice, once
//! through its embedded broker (`--mqtt`) and once attached to a mosquitto broker
//! (`--mqtt-broker`), then stops the server with SIGTERM.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use super::python;
use crate::common::broker::Mosquitto;
use crate::common::process::{Reaped, Serve};
use crate::common::root;

/// How long the whole script may run (each of its waits is bounded by 10 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

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
pub(super) fn run_script(python: &Path, mqtt_url: &str, control_url: &str) {
    let script = root().join("tests/interop/device_sdk_interop.py");
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
    let status = child.wait_or_kill(SCRIPT_TIMEOUT);
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
#[ignore = "needs .venv with the AWS IoT Device SDK v2 (see README); run with --include-ignored"]
fn device_sdk_interoperates_with_the_embedded_broker() {
    let python = python();
    let mut server = Serve::with(&["--mqtt", "127.0.0.1:0"]);
    let mqtt_url = server.mqtt.clone().expect("an mqtt line");
    run_script(&python, &mqtt_url, &server.control);
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}

/// The same script through mosquitto, with the server attached to it as a client
/// (`--mqtt-broker`); the server then stops cleanly on SIGTERM.
#[test]
#[ignore = "needs .venv (see README) and mosquitto; run with --include-ignored"]
fn device_sdk_interoperates_through_mosquitto() {
    let python = python();
    let broker = Mosquitto::start();
    let url = broker.url();
    let mut server = Serve::with(&["--mqtt-broker", &url]);
    assert_eq!(
        server.mqtt.as_deref(),
        Some(url.as_str()),
        "mqtt-attached names another broker"
    );
    run_script(&python, &url, &server.control);
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}
