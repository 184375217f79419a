//! The whole conformance suite over MQTT against the reference served through mosquitto
//! (`jobcert serve --mqtt-broker`), the way users test behind their production broker.

use std::process::Command;

use crate::common::broker::Mosquitto;
use crate::common::process::Serve;
use crate::common::scratch;

#[test]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
fn the_suite_passes_over_mqtt_through_mosquitto() {
    let broker = Mosquitto::start();
    let dir = scratch("attach");
    let url = broker.url();
    let serve = Serve::with(&["--time-scale", "600", "--mqtt-broker", &url]);
    let control = serve.control.clone();

    let reports = dir.path().join("reports");
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
