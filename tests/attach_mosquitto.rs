//! The whole conformance suite over MQTT against the reference served through mosquitto
//! (`jobcert serve --mqtt-broker`), the way users test behind their production broker.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::broker::{Mosquitto, Reaped, Scratch};

#[test]
fn the_suite_passes_over_mqtt_through_mosquitto() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let dir = Scratch::new("attach");
    let url = broker.url();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--time-scale",
            "600",
            "--mqtt-broker",
            &url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let _serve = Reaped(serve);
    let mut control = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(c) = line.strip_prefix("control-plane ") {
            control = Some(c.to_string());
        }
        if line.starts_with("mqtt-attached ") {
            break;
        }
    }
    let control = control.expect("the control-plane line");

    let reports = dir.0.join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--target",
            &url,
            "--control",
            &control,
            "--target-time-scale",
            "600",
            "--report-dir",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    assert!(stdout.contains("0 failed"), "{stdout}");
}
