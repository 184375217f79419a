//! The harness over MQTT over TLS with client certificates (`mqtts://`), against mosquitto
//! with a TLS listener that requires a certificate of the test CA, the reference attached to
//! it over TLS with a certificate of its own (`jobcert serve --mqtt-broker mqtts://…`):
//!
//! * the MQTT suite passes; a fleet of a few hundred devices, each presenting its own
//!   certificate (`{thing}`), passes and reports its handshakes per second and CPU time per
//!   handshake;
//! * a wrong CA is named as the cause, and only `--insecure` skips the check; a device
//!   certificate of another CA is named as refused by the broker; a missing per-device file is
//!   named before anything is sent; and no private key reaches any output.
//!
//! * over secure WebSockets (`wss://`, mosquitto's WebSocket listener over TLS) the MQTT suite
//!   passes too, and a certificate of another CA, or none, is named as refused;
//! * a broker that closes the connection right after the handshake, without an alert, is named
//!   as refusing the certificate.
//!
//! The reference's own `wss://` listener, with signatures checked, is `serve_mqtts.rs`'s.

use std::path::Path;
use std::time::Duration;

use jobcert_reference::ServeConfig;
use tempfile::TempDir;

use crate::common::broker::Mosquitto;
use crate::common::pki::Pki;
use crate::common::process::{Ran, Serve, args, jobcert};
use crate::common::report::{run_summary, summary};
use crate::common::{ScratchExt, control_url, scratch, server_with};

/// Longest one run may take here.
const LIMIT: Duration = Duration::from_secs(300);

/// Devices of the fleet.
const DEVICES: usize = 300;

/// Mosquitto with TLS listeners for `pki`, and the reference attached to its MQTT-over-TLS
/// one, presenting a certificate of its own.
fn broker(pki: &Pki) -> (Mosquitto, Serve) {
    let broker = Mosquitto::start_with_tls(pki.dir());
    pki.issue("jobs-service", None);
    let serve = Serve::with(&[
        "--time-scale",
        "600",
        "--mqtt-broker",
        &broker.tls_url(),
        "--mqtt-broker-ca",
        &pki.arg("ca.pem"),
        "--mqtt-broker-cert",
        &pki.arg("jobs-service.pem"),
        "--mqtt-broker-key",
        &pki.arg("jobs-service.key"),
    ]);
    (broker, serve)
}

/// `jobcert run --target URL` of `only` (the whole MQTT suite when `None`) with `tls` options;
/// its reports are under `reports/` of the folder returned.
fn run(url: &str, control: &str, only: Option<&str>, tls: &[String]) -> (Ran, TempDir) {
    let mut extra = tls.to_vec();
    if let Some(only) = only {
        extra.extend(["--only".to_string(), only.to_string()]);
    }
    super::run_suite(url, control, &extra, &[])
}

/// `--ca CA --cert DIR/NAME.pem --key DIR/NAME.key`, NAME possibly `{thing}`.
fn presenting(ca: &Path, dir: &Path, name: &str) -> Vec<String> {
    vec![
        "--ca".into(),
        ca.display().to_string(),
        "--cert".into(),
        dir.join(format!("{name}.pem")).display().to_string(),
        "--key".into(),
        dir.join(format!("{name}.key")).display().to_string(),
    ]
}

/// No line of `pki`'s private keys in the output of `ran`, nor in any file under `reports`.
fn assert_no_key(ran: &Ran, pki: &Pki, reports: &Path) {
    let mut texts = vec![ran.stdout.clone(), ran.stderr.clone()];
    let mut todo = vec![reports.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                texts.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into());
            }
        }
    }
    for line in pki.key_material() {
        assert!(
            texts.iter().all(|t| !t.contains(&line)),
            "key material in the output or the reports: {ran}"
        );
    }
}

#[test]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
fn the_mqtt_suite_passes_over_mqtts_and_refusals_say_why() {
    let pki = Pki::init();
    pki.issue("dev", None);
    pki.issue("rogue", Some("--unknown-ca"));
    let other = Pki::init();
    let (broker, serve) = broker(&pki);
    let url = broker.tls_url();
    let ca = pki.file("ca.pem");

    let (ran, dir) = run(
        &url,
        &serve.control,
        None,
        &presenting(&ca, pki.dir(), "dev"),
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
    let reports = dir.path().join("reports");
    let summary = run_summary(&reports);
    assert_eq!(
        summary["target"]["data_plane"],
        url.as_str(),
        "keeps its scheme"
    );
    assert_no_key(&ran, &pki, &reports);

    let only = Some("start-next/nothing-pending");
    let wrong_ca = presenting(&other.file("ca.pem"), pki.dir(), "dev");
    let (ran, _) = run(&url, &serve.control, only, &wrong_ca);
    assert_ne!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout.contains(
            "the server certificate is not trusted (not issued by a trusted CA): give the CA \
             that issued it with --ca"
        ),
        "{ran}"
    );

    let mut insecure = presenting(&ca, pki.dir(), "dev");
    insecure.splice(0..2, ["--insecure".to_string()]);
    let (ran, _) = run(&url, &serve.control, only, &insecure);
    assert_eq!(ran.code, Some(0), "--insecure skips the check: {ran}");

    let (ran, _) = run(
        &url,
        &serve.control,
        only,
        &presenting(&ca, pki.dir(), "rogue"),
    );
    assert_ne!(ran.code, Some(0), "{ran}");
    let refused = format!(
        "the broker refused the client certificate {}",
        pki.file("rogue.pem").display()
    );
    assert!(ran.stdout.contains(&refused), "{ran}");

    let plain = broker.url().replace("mqtt://", "mqtts://");
    let (ran, _) = run(
        &plain,
        &serve.control,
        only,
        &presenting(&ca, pki.dir(), "dev"),
    );
    assert_ne!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout.contains("or does not speak TLS on this port"),
        "a plain listener: {ran}"
    );

    let missing = scratch("mqtts-missing");
    let (ran, _) = run(
        &url,
        &serve.control,
        only,
        &presenting(&ca, missing.path(), "{thing}"),
    );
    assert_ne!(ran.code, Some(0), "{ran}");
    let file = format!("{}/", missing.path().display());
    assert!(
        ran.stdout.contains("the client certificate of ") && ran.stdout.contains(&file),
        "the missing file is named: {ran}"
    );
    drop(serve);
}

#[test]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
fn the_mqtt_suite_passes_over_wss_and_a_refused_certificate_is_named() {
    let pki = Pki::init();
    pki.issue("dev", None);
    pki.issue("rogue", Some("--unknown-ca"));
    let (broker, serve) = broker(&pki);
    let url = broker.wss_url();
    let ca = pki.file("ca.pem");

    let (ran, dir) = run(
        &url,
        &serve.control,
        None,
        &presenting(&ca, pki.dir(), "dev"),
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
    let summary = run_summary(&dir.path().join("reports"));
    assert_eq!(
        summary["target"]["data_plane"],
        url.as_str(),
        "keeps its scheme"
    );

    let only = Some("start-next/nothing-pending");
    let rogue = presenting(&ca, pki.dir(), "rogue");
    let (ran, _) = run(&url, &serve.control, only, &rogue);
    assert_ne!(ran.code, Some(0), "{ran}");
    let refused = format!(
        "the broker refused the client certificate {}",
        pki.file("rogue.pem").display()
    );
    assert!(ran.stdout.contains(&refused), "{ran}");

    let (ran, _) = run(&url, &serve.control, only, &rogue[..2]);
    assert_ne!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout
            .contains("no client certificate was presented: give one with --cert and --key"),
        "{ran}"
    );
    drop(serve);
}

fn fleet_scenario(devices: usize) -> String {
    format!(
        "\
fleet:
  name: mqtts-fleet
  seed: 47
  things: {{ count: {devices}, per-job: 50, name: 'mdev-{{index}}' }}
  transport: mqtt
  connect: {{ rate: 400, timeout-ms: 15000 }}
  rollout: {{ jobs-per-thing: 1, rate: 200, start: before }}
  behaviour:
    work: {{ uniform: {{ min: 1, max: 5 }} }}
    outcomes: {{ SUCCEEDED: 1.0 }}
    step-timeout-minutes: 600
  load: {{ model: closed }}
  run: {{ until: drained, max-duration-s: 60, deadline-ms: 15000 }}
  thresholds:
    error-rate: {{ max: 0 }}
"
    )
}

/// A TLS listener on a free loopback port that asks for a client certificate and closes every
/// connection as soon as its handshake is done, as a broker refusing the certificate without an
/// alert does.
async fn closing_after_the_handshake(pki: &Pki) -> (u16, tokio::task::JoinHandle<()>) {
    use axum::serve::Listener;
    use jobcert_reference::tls::{ClientAuth, TlsFiles, TlsListener, server_config};

    let files = TlsFiles {
        cert: pki.file("server.pem"),
        key: pki.file("server.key"),
    };
    let auth = ClientAuth {
        ca: pki.file("ca.pem"),
        revoked: None,
    };
    let (config, judge) = server_config(&files, Some(&auth)).expect("a server configuration");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let mut listener = TlsListener::new(tcp, config, judge).unwrap();
    let task = tokio::spawn(async move {
        loop {
            let (connection, _) = listener.accept().await;
            drop(connection);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_closing_the_connection_after_the_handshake_refused_the_certificate() {
    let pki = Pki::init();
    pki.issue("dev", None);
    let (port, task) = closing_after_the_handshake(&pki).await;
    let server = server_with(ServeConfig::default()).await;
    let (url, control) = (format!("mqtts://127.0.0.1:{port}"), control_url(&server));
    let tls = presenting(&pki.file("ca.pem"), pki.dir(), "dev");
    let only = Some("start-next/nothing-pending");
    let (ran, _) = tokio::task::spawn_blocking(move || run(&url, &control, only, &tls))
        .await
        .unwrap();
    assert_ne!(ran.code, Some(0), "{ran}");
    let refused = format!(
        "the broker refused the client certificate {} (it closed the connection right after \
         the TLS handshake, before answering CONNECT)",
        pki.file("dev.pem").display()
    );
    assert!(ran.stdout.contains(&refused), "{ran}");
    task.abort();
    server.shutdown().await;
}

/// `jobcert fleet` of `devices` devices `mdev-N` over `mqtts://` to `broker`, each presenting
/// `mdev-N.pem` of `pki`; reports under `reports/RUN` of the folder returned.
fn fleet(pki: &Pki, devices: usize, run: &str) -> (Ran, TempDir) {
    let (broker, serve) = broker(pki);
    let out = scratch("mqtts-fleet");
    let scenario = out.write("fleet.yaml", fleet_scenario(devices));
    let mut line = vec![
        "fleet".to_string(),
        scenario.display().to_string(),
        "--target".into(),
        broker.tls_url(),
        "--control".into(),
        serve.control.clone(),
        "--target-time-scale".into(),
        "600".into(),
        "--run-id".into(),
        run.into(),
        "--report-dir".into(),
        out.path().join("reports").display().to_string(),
    ];
    line.extend(presenting(&pki.file("ca.pem"), pki.dir(), "{thing}"));
    let ran = jobcert(&args(&line), out.path(), LIMIT);
    (ran, out)
}

#[test]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
fn a_fleet_over_mqtts_passes_and_reports_what_its_handshakes_cost() {
    let pki = Pki::init();
    for i in 0..DEVICES {
        pki.issue(&format!("mdev-{i}"), None);
    }
    let (ran, out) = fleet(&pki, DEVICES, "mqtts");
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("TLS connect ramp: "), "{ran}");
    assert!(ran.stdout.contains("ms of CPU per handshake"), "{ran}");
    let reports = out.path().join("reports");
    assert_no_key(&ran, &pki, &reports);
    let summary = summary(&reports.join("mqtts"));
    let record = &summary["record"];
    assert_eq!(record["connected"], DEVICES as u64, "{record}");
    assert!(
        record["target"]["data_plane"]
            .as_str()
            .is_some_and(|u| u.starts_with("mqtts://")),
        "{}",
        record["target"]
    );
    let h = &record["handshakes"];
    assert_eq!(h["count"], DEVICES as u64, "{h}");
    assert!(h["ramp_ms"].as_u64().is_some_and(|ms| ms > 0), "{h}");
    assert!(h["process_cpu_ms"].as_u64().is_some(), "{h}");
}

#[test]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
fn a_fleet_whose_certificates_the_broker_refuses_fails_with_one_class_of_error() {
    const REFUSED: usize = 5;
    let pki = Pki::init();
    for i in 0..REFUSED {
        pki.issue(&format!("mdev-{i}"), Some("--unknown-ca"));
    }
    let (ran, out) = fleet(&pki, REFUSED, "refused");
    assert_ne!(ran.code, Some(0), "{ran}");
    let summary = summary(&out.path().join("reports").join("refused"));
    let errors = summary["record"]["errors"].as_object().unwrap();
    let template = format!("{}/{{thing}}.pem", pki.dir().display());
    let [(class, count)] = errors.iter().collect::<Vec<_>>()[..] else {
        panic!("one class of error: {errors:?}");
    };
    assert!(
        class.contains(&format!(
            "the broker refused the client certificate {template}"
        )),
        "{class}"
    );
    assert_eq!(count, REFUSED as u64);
    assert_eq!(summary["record"]["handshakes"]["count"], 0);
}
