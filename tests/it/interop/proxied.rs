//! Captures of real AWS clients through `jobcert capture proxy`: boto3 and the AWS CLI (HTTP,
//! signed with dummy credentials) and the AWS IoT Device SDK v2 (MQTT 3.1.1 and 5) run their
//! interop scripts through the proxy in front of `jobcert serve`; each capture replays against
//! a fresh reference with no divergence.

use std::process::Command;

use super::device_sdk::run_script;
use super::python;
use crate::common::process::Serve;
use crate::common::proxy::{Proxy, capture_text, count, replays_exactly};
use crate::common::{root, scratch};

#[test]
#[ignore = "needs the interop venv (boto3 and the AWS CLI, see README); run with --include-ignored"]
fn a_boto3_session_through_the_proxy_replays_exactly() {
    let python = python();
    let dir = scratch("proxied-boto3");
    let serve = Serve::with(&[]);
    let capture = dir.path().join("boto3.jsonl");
    let proxy = Proxy::start(&serve, 1.0, &capture, dir.path());
    let script = root().join("tests/interop/boto3_interop.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&proxy.data)
        .arg(&proxy.control)
        .output()
        .expect("the interop script runs");
    assert!(
        run.status.success(),
        "{} through the proxy exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        script.display(),
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let stopped = proxy.stop();
    let text = capture_text(&capture);
    let exchanges = count(&text, "exchange");
    assert!(exchanges >= 20, "{stopped}\n{text}");
    assert!(
        text.contains(r#""type":"control","#),
        "the CancelJob is a control line"
    );
    for secret in ["AKIDEXAMPLE", "AWS4-HMAC-SHA256", "Signature="] {
        assert!(!text.contains(secret), "{secret} in the capture");
    }
    replays_exactly(&capture, exchanges, dir.path());
}

#[test]
#[ignore = "needs the interop venv (awsiotsdk, see README); run with --include-ignored"]
fn a_device_sdk_session_through_the_mqtt_proxy_replays_exactly() {
    let python = python();
    let dir = scratch("proxied-device-sdk");
    let serve = Serve::with(&["--mqtt", "127.0.0.1:0"]);
    let capture = dir.path().join("device-sdk.jsonl.gz");
    let proxy = Proxy::start(&serve, 1.0, &capture, dir.path());
    run_script(
        &python,
        proxy.mqtt.as_deref().expect("an MQTT listener"),
        &proxy.control,
        None,
    );
    let stopped = proxy.stop();
    let text = capture_text(&capture);
    let exchanges = count(&text, "exchange");
    // The script's three sessions: SDK V2 over MQTT 5 and 3.1.1, and V1 over 3.1.1.
    assert!(exchanges >= 15, "{stopped}\n{text}");
    assert!(
        count(&text, "event") > 0,
        "no notification recorded: {text}"
    );
    replays_exactly(&capture, exchanges, dir.path());
}
