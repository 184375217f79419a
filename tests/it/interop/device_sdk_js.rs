//! Wire compatibility over MQTT with TLS with the real AWS IoT Device SDK v2 for JavaScript
//! (`aws-iot-device-sdk-v2`, pinned in `tests/interop/package.json`): runs
//! `tests/interop/device_sdk_js_interop.js` with its mTLS builders against `jobcert serve
//! --mqtts --policy own-thing`, then stops the server with SIGTERM.

use std::process::Command;

use super::{node, run_checks};
use crate::common::pki::Pki;
use crate::common::root;

/// The things of the script's parts (a) (MQTT 3.1.1) and (b) (MQTT 5): each connects with the
/// certificate naming it.
const THINGS: [&str; 2] = ["js-thing-1", "js-thing-2"];

/// The V1 client over MQTT 3.1.1 (`new_mtls_builder_from_path`) and the V2 client over MQTT 5
/// (`newDirectMqttBuilderWithMtlsFromPath`), each with the PKI's CA by path, start and finish
/// a job and see notify-next; the control plane is `https://`.
#[test]
#[ignore = "needs Node.js and the pinned SDK in tests/interop/node_modules (see README); \
            run with --include-ignored"]
fn device_sdk_for_javascript_interoperates_over_mtls() {
    let node = node();
    let pki = Pki::init();
    for thing in THINGS {
        pki.issue(thing, None);
    }
    let mut server = pki.serve_mqtts(&["--policy", "own-thing"]);
    let mqtts = server.mqtts.clone().expect("an mqtts line");
    let (host, port) = mqtts
        .strip_prefix("mqtts://")
        .and_then(|a| a.rsplit_once(':'))
        .unwrap_or_else(|| panic!("{mqtts:?} is not mqtts://HOST:PORT"));
    let mut command = Command::new(node);
    command
        .current_dir(root().join("tests/interop"))
        .arg("device_sdk_js_interop.js")
        .args([host, port, &server.control])
        .arg(pki.dir());
    let stdout = run_checks(command, "device sdk js interop");
    for part in [
        "new_mtls_builder_from_path",
        "newDirectMqttBuilderWithMtlsFromPath",
    ] {
        assert!(stdout.contains(part), "no {part:?} check ran:\n{stdout}");
    }
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}
