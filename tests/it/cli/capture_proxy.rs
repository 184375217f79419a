//! `jobcert capture proxy` as users run it: a fleet run (HTTP, then MQTT) through the
//! recording proxy in front of `jobcert serve`, its requests signed, becomes a capture with every
//! exchange (and over MQTT the notifications as events) and no credential, which replays
//! against a fresh reference with no divergence.

use std::time::Duration;

use rstest::rstest;

use crate::common::process::{Process, Serve, args};
use crate::common::proxy::{Proxy, capture_text, count, replays_exactly};
use crate::common::{ScratchExt, root, scratch};

/// Longest the fleet run may take.
const LIMIT: Duration = Duration::from_secs(120);

/// The clock speed of the proxied server.
const TIME_SCALE: f64 = 600.0;

/// Credentials the fleet signs with; none may reach the capture.
const ACCESS_KEY: &str = "AKIDPROXYTEST";
const SECRET_KEY: &str = "proxy-secret-never-written";

fn fleet(transport: &str) -> String {
    format!(
        "\
fleet:
  name: proxied-{transport}
  seed: 5
  things: {{ count: 20, per-job: 10 }}
  transport: {transport}
  connect: {{ rate: 2000 }}
  rollout: {{ jobs-per-thing: 2, rate: 200, start: before }}
  behaviour:
    work: {{ uniform: {{ min: 1, max: 3 }} }}
    outcomes: {{ SUCCEEDED: 0.7, FAILED: 0.2, REJECTED: 0.1 }}
    step-timeout-minutes: 600
  load: {{ model: closed }}
  run: {{ until: drained, max-duration-s: 30, deadline-ms: 15000 }}
  reference: {{ time-scale: {TIME_SCALE} }}
"
    )
}

#[rstest]
#[case::http("http")]
#[case::mqtt("mqtt")]
fn a_fleet_through_the_proxy_is_captured_and_replays_exactly(#[case] transport: &str) {
    let dir = scratch("capture-proxy");
    let serve = if transport == "mqtt" {
        Serve::with(&[
            "--time-scale",
            &TIME_SCALE.to_string(),
            "--mqtt",
            "127.0.0.1:0",
        ])
    } else {
        Serve::start(TIME_SCALE)
    };
    let capture = dir.path().join("proxied.jsonl.gz");
    let proxy = Proxy::start(&serve, TIME_SCALE, &capture, dir.path());
    let scenario = dir.write("fleet.yaml", fleet(transport));
    let direct = dir.path().join("direct.jsonl");
    let target = match transport {
        "mqtt" => proxy.mqtt.clone().expect("an MQTT listener"),
        _ => proxy.data.clone(),
    };
    let ran = Process::spawn_env(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--quiet".as_ref(),
            "--target".as_ref(),
            target.as_ref(),
            "--control".as_ref(),
            proxy.control.as_ref(),
            "--target-time-scale".as_ref(),
            TIME_SCALE.to_string().as_ref(),
            "--capture".as_ref(),
            direct.as_os_str(),
            "--report-dir".as_ref(),
            dir.path().join("fleet").as_os_str(),
        ]),
        &root(),
        &dir,
        &[
            ("AWS_ACCESS_KEY_ID", Some(ACCESS_KEY)),
            ("AWS_SECRET_ACCESS_KEY", Some(SECRET_KEY)),
        ],
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let stopped = proxy.stop();

    let text = capture_text(&capture);
    let fleet_saw = capture_text(&direct);
    let exchanges = count(&text, "exchange");
    assert_eq!(exchanges, count(&fleet_saw, "exchange"), "{stopped}");
    assert!(exchanges >= 60, "{stopped}");
    assert!(
        stopped
            .stdout
            .contains(&format!("recorded {exchanges} exchanges")),
        "{stopped}"
    );
    assert!(text.contains(r#""source":{"kind":"proxy""#), "{text}");
    if transport == "mqtt" {
        assert!(count(&text, "event") > 0, "no notification recorded");
        assert!(text.contains("/jobs/notify-next\""), "no notify-next event");
        assert!(text.contains(r#""answer":{"topic":"$aws/things/{thing:"#));
    }
    for secret in [ACCESS_KEY, SECRET_KEY, "AWS4-HMAC-SHA256", "Signature="] {
        assert!(!text.contains(secret), "{secret} in the capture");
    }
    replays_exactly(&capture, exchanges, dir.path());
}
