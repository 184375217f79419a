//! MQTT over WebSockets as AWS IoT serves it (`jobcert serve --mqtt-ws --verify-sigv4`): the MQTT
//! suite passes through `ws://…/mqtt` with the URL presigned from the environment's
//! credentials; an upgrade signed with another secret, or not signed, is refused with 403 and
//! the reason, and nothing of MQTT is spoken then; a run signed so stops on the control plane's
//! refusal, named as the cause.

use std::time::Duration;

use jobcert_harness::transport::Signer;
use jobcert_reference::ServeConfig;
use jobcert_reference::sigv4::Credentials;

use crate::common::process::{Process, args};
use crate::common::{control_url, root, scratch, server_with};

/// Longest one run may take.
const LIMIT: Duration = Duration::from_secs(300);

const KEY: &str = "AKIDWEBSOCKET";
const SECRET: &str = "websocket-secret-never-written";

/// `jobcert run` of `only` against `target` with `secret` (none: no credentials at all).
fn run(
    target: &str,
    control: &str,
    only: &str,
    secret: Option<&str>,
) -> crate::common::process::Ran {
    let dir = scratch("websocket");
    let (key, secret) = match secret {
        Some(s) => (Some(KEY), Some(s)),
        None => (None, None),
    };
    Process::spawn_env(
        &args([
            "run".as_ref(),
            "--target".as_ref(),
            target.as_ref(),
            "--control".as_ref(),
            control.as_ref(),
            "--target-time-scale".as_ref(),
            "600".as_ref(),
            "--only".as_ref(),
            only.as_ref(),
            "--deadline-ms".as_ref(),
            "3000".as_ref(),
            "--report-dir".as_ref(),
            dir.path().join("reports").as_os_str(),
        ]),
        &root(),
        &dir,
        &[
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_REGION", Some("us-east-1")),
        ],
    )
    .finish(LIMIT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mqtt_suite_passes_over_signed_websockets_and_a_bad_signature_is_refused() {
    let server = server_with(ServeConfig {
        mqtt_ws: Some("127.0.0.1:0".parse().unwrap()),
        sigv4: Some(Credentials::new(KEY, SECRET)),
        time_scale: 600.0,
        ..ServeConfig::default()
    })
    .await;
    let target = format!(
        "ws://{}/mqtt",
        server.mqtt_ws().expect("a WebSocket listener")
    );
    let control = control_url(&server);
    let (t, c) = (target.clone(), control.clone());
    let ran = tokio::task::spawn_blocking(move || run(&t, &c, "MQ-NOTIFY-NEXT", Some(SECRET)))
        .await
        .unwrap();
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");

    let refusals = [
        (
            Some("another-secret"),
            "the target refused the request signature (InvalidSignatureException)",
        ),
        (None, "the target wants a SigV4 signature"),
    ];
    for (secret, said) in refusals {
        let (t, c) = (target.clone(), control.clone());
        let ran =
            tokio::task::spawn_blocking(move || run(&t, &c, "start-next/nothing-pending", secret))
                .await
                .unwrap();
        assert_ne!(ran.code, Some(0), "{ran}");
        assert!(ran.stderr.contains(said), "{secret:?}: {ran}");
        assert!(
            !ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET),
            "{ran}"
        );
    }

    // The upgrade itself: presigned with the right secret it switches protocols; with another
    // secret, or unsigned, it is refused with 403 and the reason.
    let http = reqwest::Client::new();
    for (secret, status, reason) in [
        (Some(SECRET), 101, ""),
        (
            Some("another-secret"),
            403,
            "The request signature we calculated does not match",
        ),
        (None, 403, "Missing Authentication Token"),
    ] {
        let url = match secret {
            Some(secret) => Signer::new(KEY.into(), secret.into(), None, "us-east-1")
                .presign(&target, "iotdevicegateway")
                .unwrap(),
            None => target.clone(),
        };
        let answer = http
            .get(url.replacen("ws://", "http://", 1))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", "mqtt")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{secret:?}");
        if status != 101 {
            let body = answer.text().await.unwrap();
            assert!(body.contains(reason), "{secret:?}: {body}");
        }
    }
    server.shutdown().await;
}
