//! `jobcert serve --aws-like` (`--policy own-thing-all`): the harness's own MQTT clients, whose
//! client id is their thing's name, still pass — the MQTT suite over TCP and WebSockets, and
//! a fleet of listeners acting on `notify-next` — and a device the policy keeps from its own
//! thing's topics says so instead of waiting for replies that never come. Over WebSockets, as
//! over TCP, a client's subscription to every thing's topics is refused. `--aws-like` and
//! `--policy` are not given together.

use std::time::{Duration, Instant};

use jobcert_harness::transport::Broker;
use jobcert_harness::transport::mqtt::{Dial, MqttDevice};
use jobcert_reference::ServeConfig;
use jobcert_reference::policy::Policy;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode, Transport};

use crate::common::process::{Process, Serve, args, jobcert};
use crate::common::report::summary;
use crate::common::{ScratchExt, root, scratch, server_with};

/// Longest one run may take; each is a few seconds.
const LIMIT: Duration = Duration::from_secs(120);

/// A small fleet of listeners: 20 devices, 2 jobs each, created while they wait.
const LISTENERS: &str = "\
fleet:
  name: aws-like-fleet
  seed: 11
  things: { count: 20, per-job: 20 }
  transport: mqtt
  connect: { rate: 2000 }
  rollout: { jobs-per-thing: 2, rate: 5, start: during }
  behaviour:
    agent: listener
    work: { constant: 5 }
    idle: { constant: 20 }
    step-timeout-minutes: 600
  load: { model: closed }
  run: { until: drained, max-duration-s: 30, deadline-ms: 10000 }
  thresholds:
    error-rate: { max: 0 }
";

#[test]
fn the_mqtt_suite_passes_under_aws_like_over_tcp_and_websockets() {
    let serve = Serve::with(&[
        "--aws-like",
        "--mqtt",
        "127.0.0.1:0",
        "--mqtt-ws",
        "127.0.0.1:0",
        "--time-scale",
        "600",
    ]);
    let tcp = serve.mqtt.clone().expect("an mqtt line");
    let ws = serve.mqtt_ws.clone().expect("an mqtt-ws line");
    // The whole MQTT suite over TCP; the MQTT-only cases over WebSockets.
    for (target, only) in [(&tcp, None), (&ws, Some("mqtt-only"))] {
        let dir = scratch("aws-like-suite");
        let reports = dir.path().join("reports").display().to_string();
        let mut line = vec![
            "run",
            "--target",
            target,
            "--control",
            &serve.control,
            "--target-time-scale",
            "600",
            "--deadline-ms",
            "5000",
            "--quiet",
            "--report-dir",
            &reports,
        ];
        if let Some(only) = only {
            line.extend(["--only", only]);
        }
        let ran = Process::spawn_in(&args(line), &root(), &dir).finish(LIMIT);
        assert_eq!(ran.code, Some(0), "{ran}");
        assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
        assert!(ran.stdout.contains(" 0 failed"), "{ran}");
    }
}

#[test]
fn a_fleet_of_listeners_passes_under_aws_like() {
    let serve = Serve::with(&["--aws-like", "--mqtt", "127.0.0.1:0", "--time-scale", "600"]);
    let dir = scratch("aws-like-fleet");
    let scenario = dir.write("fleet.yaml", LISTENERS);
    let reports = dir.path().join("reports");
    let ran = jobcert(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--target".as_ref(),
            serve.mqtt.as_deref().expect("an mqtt line").as_ref(),
            "--control".as_ref(),
            serve.control.as_ref(),
            "--target-time-scale".as_ref(),
            "600".as_ref(),
            "--run-id".as_ref(),
            "listeners".as_ref(),
            "--quiet".as_ref(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    let summary = summary(&reports.join("listeners"));
    assert_eq!(summary["passed"], true, "{:#}", summary["verdict"]);
    let record = &summary["record"];
    assert_eq!(record["connected"], 20, "{record}");
    assert_eq!(
        record["requests"]["UpdateJobExecution"]["answered"],
        20 * 2,
        "{record}"
    );
}

#[tokio::test]
async fn a_device_kept_from_its_own_thing_s_topics_says_so() {
    // A thing named `+` subscribes to `$aws/things/+/jobs/#`: every thing's topics, which only
    // the open policy grants.
    for (policy, granted) in [(Policy::Open, true), (Policy::OwnThingAll, false)] {
        let server = server_with(ServeConfig {
            mqtt: Some("127.0.0.1:0".parse().unwrap()),
            policy,
            ..ServeConfig::default()
        })
        .await;
        let port = server.mqtt().expect("an embedded broker").port();
        let dial = Dial::new(Broker::tcp("127.0.0.1", port), None, Default::default());
        let connected =
            MqttDevice::connect(&dial, "+", Instant::now(), Duration::from_secs(10), None).await;
        match connected {
            Ok(device) => {
                assert!(granted, "{policy:?}: connected");
                device.close();
            }
            Err(e) => {
                assert!(!granted, "{policy:?}: {e}");
                assert!(
                    e.contains("refused the subscription to $aws/things/+/jobs/#"),
                    "{e}"
                );
            }
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn over_websockets_a_client_is_held_to_its_client_id_s_thing() {
    for (policy, granted) in [(Policy::Open, true), (Policy::OwnThingAll, false)] {
        let server = server_with(ServeConfig {
            mqtt_ws: Some("127.0.0.1:0".parse().unwrap()),
            policy,
            ..ServeConfig::default()
        })
        .await;
        let port = server.mqtt_ws().expect("a WebSocket listener").port();
        let mut options = MqttOptions::new("dev-2", format!("ws://127.0.0.1:{port}/mqtt"), port);
        options.set_transport(Transport::Ws);
        let (client, mut events) = AsyncClient::new(options, 16);
        for filter in ["$aws/things/dev-2/jobs/#", "$aws/things/+/jobs/#"] {
            client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        }
        let mut acks = Vec::new();
        while acks.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(10), events.poll())
                .await
                .expect("a SUBACK in time")
                .expect("the connection stays up");
            if let Event::Incoming(Packet::SubAck(ack)) = event {
                acks.push(ack.return_codes);
            }
        }
        assert!(
            matches!(acks[0][..], [SubscribeReasonCode::Success(_)]),
            "{policy:?}: {acks:?}"
        );
        assert_eq!(
            matches!(acks[1][..], [SubscribeReasonCode::Success(_)]),
            granted,
            "{policy:?}: {acks:?}"
        );
        server.shutdown().await;
    }
}

#[test]
fn aws_like_and_policy_are_not_given_together() {
    let dir = scratch("aws-like-conflict");
    let ran = jobcert(
        &args(["serve", "--aws-like", "--policy", "open"]),
        &dir,
        Duration::from_secs(10),
    );
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("cannot be used with"), "{ran}");
}
