//! `jobcert serve --mqtts`: MQTT over TLS with client certificates, as AWS IoT's 8883 (and 443
//! with ALPN `x-amzn-mqtt-ca`). A device certificate from the CA is served, with and without
//! the ALPN; an expired, revoked or foreign one, or none, fails the handshake; and under
//! `--policy own-thing` or `own-thing-all` a device acts only on the thing its certificate
//! names, whatever its client id.

use std::sync::Arc;
use std::time::Duration;

use jobcert_reference::ServeConfig;
use jobcert_reference::sigv4::Credentials;
use jobcert_reference::tls::{TlsFiles, client_config};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
use rumqttc::{SubscribeReasonCode, TlsConfiguration, Transport};
use serde_json::json;

use crate::common::pki::Pki;
use crate::common::process::Ran;
use crate::common::{control_url, server_with};

/// Longest any one step may take.
const STEP: Duration = Duration::from_secs(10);

/// What a connection attempt came to.
#[derive(Debug, PartialEq)]
enum Connected {
    /// CONNACK with this code.
    Ack(ConnectReturnCode),
    /// The connection failed before any CONNACK; the error's text.
    Failed(String),
}

/// A device of the PKI: `thing`'s certificate (none when `None`), connecting as `client_id`.
struct Device {
    client: AsyncClient,
    events: rumqttc::EventLoop,
}

impl Device {
    fn new(pki: &Pki, url: &str, cert: Option<&str>, client_id: &str, alpn: bool) -> Self {
        let identity = cert.map(|thing| TlsFiles {
            cert: pki.file(&format!("{thing}.pem")),
            key: pki.file(&format!("{thing}.key")),
        });
        let mut tls = Arc::unwrap_or_clone(
            client_config(&pki.file("ca.pem"), identity.as_ref()).expect("a client config"),
        );
        if alpn {
            tls.alpn_protocols = vec![b"x-amzn-mqtt-ca".to_vec()];
        }
        let (host, port) = url
            .strip_prefix("mqtts://")
            .and_then(|a| a.rsplit_once(':'))
            .expect("mqtts://HOST:PORT");
        let mut options = MqttOptions::new(client_id, host, port.parse().unwrap());
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
        let (client, events) = AsyncClient::new(options, 16);
        Self { client, events }
    }

    /// Polls until the CONNACK or the first error.
    async fn connect(&mut self) -> Connected {
        loop {
            match tokio::time::timeout(STEP, self.events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => return Connected::Ack(ack.code),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Connected::Failed(format!("{e:?}")),
                Err(_) => panic!("no CONNACK and no error within {STEP:?}"),
            }
        }
    }

    /// The next packet in, or the error that ended the connection.
    async fn next(&mut self) -> Result<Packet, String> {
        loop {
            match tokio::time::timeout(STEP, self.events.poll()).await {
                Ok(Ok(Event::Incoming(packet))) => return Ok(packet),
                Ok(Ok(Event::Outgoing(_))) => {}
                Ok(Err(e)) => return Err(format!("{e:?}")),
                Err(_) => panic!("nothing in or out within {STEP:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usable_certificate_is_served_with_or_without_the_alpn_and_others_fail_the_handshake() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    pki.issue("old", Some("--expired"));
    pki.issue("stranger", Some("--unknown-ca"));
    pki.issue("gone", Some("--revoked"));
    let server = pki.serve_mqtts(&[]);
    let url = server.mqtts.clone().expect("an mqtts line");
    assert!(url.starts_with("mqtts://"), "{url}");

    for alpn in [false, true] {
        let mut device = Device::new(&pki, &url, Some("dev-1"), "dev-1", alpn);
        assert_eq!(
            device.connect().await,
            Connected::Ack(ConnectReturnCode::Success),
            "alpn {alpn}"
        );
        device
            .client
            .subscribe("$aws/things/dev-1/jobs/get/+", QoS::AtLeastOnce)
            .await
            .unwrap();
        device
            .client
            .publish(
                "$aws/things/dev-1/jobs/get",
                QoS::AtLeastOnce,
                false,
                json!({"clientToken": "t"}).to_string(),
            )
            .await
            .unwrap();
        let reply = loop {
            match device.next().await.expect("the connection stays up") {
                Packet::Publish(p) => break p,
                _ => continue,
            }
        };
        // No thing was created: the reference answers the request all the same, over TLS.
        assert!(
            reply.topic.starts_with("$aws/things/dev-1/jobs/get/"),
            "{}",
            reply.topic
        );
    }

    for (cert, alert) in [
        (Some("old"), "Expired"),
        (Some("stranger"), "UnknownCA"),
        (Some("gone"), "Revoked"),
        (None, "CertificateRequired"),
    ] {
        let mut device = Device::new(&pki, &url, cert, cert.unwrap_or("anonymous"), false);
        match device.connect().await {
            Connected::Failed(why) => assert!(why.contains(alert), "{cert:?}: {why}"),
            other => panic!("{cert:?} must fail the handshake, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_either_thing_policy_a_device_acts_only_on_the_thing_its_certificate_names() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    for (policy, others_allowed) in [
        ("open", true),
        ("own-thing", false),
        ("own-thing-all", false),
    ] {
        let server = pki.serve_mqtts(&["--policy", policy]);
        let url = server.mqtts.clone().expect("an mqtts line");

        let mut impostor = Device::new(&pki, &url, Some("dev-1"), "dev-2", false);
        // rumqttc reports a refused CONNACK as an error naming its code.
        let expected = if others_allowed {
            Connected::Ack(ConnectReturnCode::Success)
        } else {
            Connected::Failed("ConnectionRefused(NotAuthorized)".into())
        };
        assert_eq!(impostor.connect().await, expected, "{policy}");

        let mut device = Device::new(&pki, &url, Some("dev-1"), "dev-1", false);
        assert_eq!(
            device.connect().await,
            Connected::Ack(ConnectReturnCode::Success)
        );
        for filter in [
            "$aws/things/dev-1/jobs/#",
            "$aws/things/dev-2/jobs/#",
            "$aws/things/+/jobs/#",
        ] {
            device
                .client
                .subscribe(filter, QoS::AtLeastOnce)
                .await
                .unwrap();
            let granted = loop {
                match device.next().await.expect("the connection stays up") {
                    Packet::SubAck(ack) => break ack.return_codes,
                    _ => continue,
                }
            };
            let own = filter.contains("dev-1");
            let allowed = matches!(granted[..], [SubscribeReasonCode::Success(_)]);
            assert_eq!(allowed, own || others_allowed, "{policy} {filter}");
        }

        device
            .client
            .publish(
                "$aws/things/dev-2/jobs/get",
                QoS::AtLeastOnce,
                false,
                json!({}).to_string(),
            )
            .await
            .unwrap();
        let mut ended = false;
        for _ in 0..4 {
            match device.next().await {
                Ok(Packet::Publish(p)) if p.topic.starts_with("$aws/things/dev-2/") => break,
                Ok(_) => continue,
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        assert_eq!(ended, !others_allowed, "{policy}: publishing about dev-2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_server_certificate_mqtt_over_websockets_is_wss() {
    let pki = Pki::init();
    let server = pki.serve(false, &["--mqtt-ws", "127.0.0.1:0"]);
    let url = server.mqtt_ws.clone().expect("an mqtt-ws line");
    assert!(url.starts_with("wss://") && url.ends_with("/mqtt"), "{url}");
    let port = url
        .trim_end_matches("/mqtt")
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("a port");
    let tls = client_config(&pki.file("ca.pem"), None).expect("a client config");
    let mut options = MqttOptions::new("dev-ws", url, port);
    options.set_transport(Transport::wss_with_config(TlsConfiguration::Rustls(tls)));
    let (client, events) = AsyncClient::new(options, 16);
    let mut device = Device { client, events };
    assert_eq!(
        device.connect().await,
        Connected::Ack(ConnectReturnCode::Success)
    );
    device
        .client
        .subscribe("$aws/things/dev-ws/jobs/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Packet::SubAck(ack) = device.next().await.expect("the connection stays up") {
            assert!(matches!(
                ack.return_codes[..],
                [SubscribeReasonCode::Success(_)]
            ));
            break;
        }
    }
}

/// `jobcert run` of the whole MQTT suite against `target`, with `extra` options and `env`.
fn suite(target: &str, control: &str, extra: &[String], env: &[(&str, Option<&str>)]) -> Ran {
    super::run_suite(target, control, extra, env).0
}

#[test]
fn the_mqtt_suite_passes_over_the_reference_s_mqtts_listener() {
    let pki = Pki::init();
    pki.issue("suite", None);
    let server = pki.serve_mqtts(&["--time-scale", "600"]);
    let url = server.mqtts.clone().expect("an mqtts line");
    let presenting = |ca: &str| {
        vec![
            "--ca".to_string(),
            pki.arg(ca),
            "--cert".to_string(),
            pki.arg("suite.pem"),
            "--key".to_string(),
            pki.arg("suite.key"),
        ]
    };
    let ran = suite(&url, &server.control, &presenting("ca.pem"), &[]);
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");

    // Trusting another CA, the run stops at its first TLS connection (the control plane's,
    // whose certificate is the same) and names the cause.
    let other = Pki::init();
    let mut wrong = presenting("ca.pem");
    wrong[1] = other.arg("ca.pem");
    let mut only = wrong.clone();
    only.extend([
        "--only".to_string(),
        "start-next/nothing-pending".to_string(),
    ]);
    let ran = suite(&url, &server.control, &only, &[]);
    assert_ne!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("UnknownIssuer"), "{ran}");
    assert!(ran.stdout.contains("give its CA with --ca"), "{ran}");
}

const KEY: &str = "AKIDWSSEXAMPLE";
const SECRET: &str = "wss-secret-never-written";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mqtt_suite_passes_over_signed_secure_websockets_and_a_bad_signature_is_refused() {
    let pki = Pki::init();
    let server = server_with(ServeConfig {
        mqtt_ws: Some("127.0.0.1:0".parse().unwrap()),
        sigv4: Some(Credentials::new(KEY, SECRET)),
        tls: Some(TlsFiles {
            cert: pki.file("server.pem"),
            key: pki.file("server.key"),
        }),
        time_scale: 600.0,
        ..ServeConfig::default()
    })
    .await;
    let target = format!(
        "wss://{}/mqtt",
        server.mqtt_ws().expect("a WebSocket listener")
    );
    let control = control_url(&server).replace("http://", "https://");
    let ca = vec!["--ca".to_string(), pki.arg("ca.pem")];
    for (secret, only) in [
        (SECRET, None),
        ("another-secret", Some("start-next/nothing-pending")),
    ] {
        let (t, c, mut extra) = (target.clone(), control.clone(), ca.clone());
        extra.extend(
            only.map(|o| ["--only".to_string(), o.to_string()])
                .into_iter()
                .flatten(),
        );
        let ran = tokio::task::spawn_blocking(move || {
            suite(
                &t,
                &c,
                &extra,
                &[
                    ("AWS_ACCESS_KEY_ID", Some(KEY)),
                    ("AWS_SECRET_ACCESS_KEY", Some(secret)),
                    ("AWS_REGION", Some("us-east-1")),
                ],
            )
        })
        .await
        .unwrap();
        if secret == SECRET {
            assert_eq!(ran.code, Some(0), "{ran}");
            assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
        } else {
            // The control plane, which checks signatures too, refuses it first.
            assert_ne!(ran.code, Some(0), "{ran}");
            assert!(
                ran.stderr.contains(
                    "the target refused the request signature (InvalidSignatureException)"
                ),
                "{ran}"
            );
        }
        assert!(
            !ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET),
            "{ran}"
        );
    }
    server.shutdown().await;
}
