//! The whole conformance suite over MQTT against the reference served through mosquitto
//! (`jobcert serve --mqtt-broker`), the way users test behind their production broker.

use std::time::Duration;

use crate::common::broker::Mosquitto;
use crate::common::process::{Process, Serve, args};
use crate::common::{root, scratch};

/// Longest the whole suite may take through the broker.
const SUITE_LIMIT: Duration = Duration::from_secs(600);

#[test]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
fn the_suite_passes_over_mqtt_through_mosquitto() {
    let broker = Mosquitto::start();
    let dir = scratch("attach");
    let url = broker.url();
    let serve = Serve::with(&["--time-scale", "600", "--mqtt-broker", &url]);
    let reports = dir.path().join("reports");
    let ran = Process::spawn_in(
        &args([
            "run".as_ref(),
            "--target".as_ref(),
            url.as_ref(),
            "--control".as_ref(),
            serve.control.as_ref(),
            "--target-time-scale".as_ref(),
            "600".as_ref(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
        ]),
        &root(),
        &dir,
    )
    .finish(SUITE_LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
    assert!(ran.stdout.contains("0 failed"), "{ran}");
}
