//! Wire compatibility over MQTT with the real AWS IoT Device SDK v2 for Python (`awsiotsdk`):
//! runs `tests/interop/device_sdk_interop.py` against the `jobcert serve` binary through its
//! embedded broker (`--mqtt`), attached to a mosquitto broker (`--mqtt-broker`), and over mTLS
//! (`--mqtts`) with the SDK's own builders; then stops the server with SIGTERM.

use std::path::Path;
use std::process::Command;

use super::{python, run_checks};
use crate::common::broker::Mosquitto;
use crate::common::pki::Pki;
use crate::common::process::Serve;
use crate::common::root;

/// The things of the script's parts (a) to (d) over mTLS: each connects with the certificate
/// naming it.
const TLS_THINGS: [&str; 4] = ["sdk-thing-1", "sdk-thing-2", "sdk-thing-3", "sdk-thing-4"];

/// Host and port of an `mqtt://HOST:PORT` or `mqtts://HOST:PORT` URL.
fn mqtt_address(url: &str) -> (String, u16) {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("mqtts://"))
        .unwrap_or_else(|| panic!("{url:?} is not mqtt://HOST:PORT or mqtts://HOST:PORT"));
    let (host, port) = rest
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url:?} has no port"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("{url:?} has no numeric port"));
    (host.to_string(), port)
}

/// Runs the SDK script against the broker at `mqtt_url` and the control plane at
/// `control_url`, over mTLS with the PKI folder `tls` when given; fails with its output unless
/// it passes. Returns its standard output.
pub(super) fn run_script(
    python: &Path,
    mqtt_url: &str,
    control_url: &str,
    tls: Option<&Path>,
) -> String {
    let (host, port) = mqtt_address(mqtt_url);
    let mut command = Command::new(python);
    command
        .arg(root().join("tests/interop/device_sdk_interop.py"))
        .arg(&host)
        .arg(port.to_string())
        .arg(control_url);
    if let Some(dir) = tls {
        command.arg("--tls").arg(dir);
    }
    run_checks(command, "device sdk interop")
}

/// The Device SDK (V2 over MQTT 5 and 3.1.1, legacy V1 over 3.1.1) against the server's own
/// broker; the server then stops cleanly on SIGTERM.
#[test]
#[ignore = "needs .venv with the AWS IoT Device SDK v2 (see README); run with --include-ignored"]
fn device_sdk_interoperates_with_the_embedded_broker() {
    let python = python();
    let mut server = Serve::with(&["--mqtt", "127.0.0.1:0"]);
    let mqtt_url = server.mqtt.clone().expect("an mqtt line");
    run_script(&python, &mqtt_url, &server.control, None);
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
    run_script(&python, &url, &server.control, None);
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}

/// The same script over mTLS: the SDK's `mtls_from_path` builders (MQTT 5 and 3.1.1) with
/// `ca_filepath` = the PKI's CA against `--mqtts` under `--policy own-thing`, one more
/// connection offering ALPN `x-amzn-mqtt-ca`, and boto3 on the `https://` control plane.
#[test]
#[ignore = "needs .venv with the AWS IoT Device SDK v2 (see README); run with --include-ignored"]
fn device_sdk_interoperates_over_mtls_with_its_own_builders() {
    let python = python();
    let pki = Pki::init();
    for thing in TLS_THINGS {
        pki.issue(thing, None);
    }
    let mut server = pki.serve_mqtts(&["--policy", "own-thing"]);
    assert!(server.control.starts_with("https://"), "{}", server.control);
    let mqtts = server.mqtts.clone().expect("an mqtts line");
    let stdout = run_script(&python, &mqtts, &server.control, Some(pki.dir()));
    for part in ["(a) MQTT 5 connect (mTLS)", "ALPN x-amzn-mqtt-ca"] {
        assert!(stdout.contains(part), "no {part:?} check ran:\n{stdout}");
    }
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}
