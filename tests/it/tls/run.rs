//! `jobcert run` and `jobcert fleet` over TLS against `jobcert serve --tls-* --mtls`: the suite
//! passes over `https://` with SN-CERTIFICATE exercised, and fails it against an endpoint that
//! serves any certificate; a wrong CA is named as the cause; a fleet's devices each present
//! their own certificate; and no private key reaches any output of the run.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::pki::Pki;
use crate::common::process::{Process, Ran, args, jobcert};
use crate::common::report::{run_summary, summary};
use crate::common::{ScratchExt, root, scratch};

/// Longest one run may take here.
const LIMIT: Duration = Duration::from_secs(120);

/// `jobcert run` against `data`/`control` at time scale 600, reports under `reports`.
fn run_args(data: &str, control: &str, reports: &Path, extra: &[String]) -> Vec<String> {
    let mut line: Vec<String> = [
        "run",
        "--target",
        data,
        "--control",
        control,
        "--target-time-scale",
        "600",
        "--quiet",
        "--report-dir",
    ]
    .map(String::from)
    .to_vec();
    line.push(reports.display().to_string());
    line.extend(extra.iter().cloned());
    line
}

/// The coverage row of `id` in a run summary.
fn coverage<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["assessment"]["coverage"]
        .as_array()
        .or_else(|| summary["coverage"].as_array())
        .and_then(|rows| rows.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("no coverage row {id}"))
}

/// `--ca`, `--cert` and `--key` for device `thing` of `pki`.
fn presenting(pki: &Pki, thing: &str) -> Vec<String> {
    vec![
        "--ca".into(),
        pki.arg("ca.pem"),
        "--cert".into(),
        pki.arg(&format!("{thing}.pem")),
        "--key".into(),
        pki.arg(&format!("{thing}.key")),
    ]
}

#[test]
fn the_suite_passes_over_https_with_sn_certificate_exercised() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    let server = pki.serve(true, &["--time-scale", "600"]);
    let out = scratch("tls-run");
    let mut extra = presenting(&pki, "dev-1");
    extra.extend(["--mtls-target".into(), server.mtls.clone().unwrap()]);
    let line = run_args(&server.data, &server.control, &out.path().join("r"), &extra);
    let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let summary = run_summary(&out.path().join("r"));
    let row = coverage(&summary, "SN-CERTIFICATE");
    assert_eq!(row["verdict"], "pass", "{row}");
    assert_eq!(row["checks"], 2, "{row}");
    assert!(row.get("untestable").is_none(), "{row}");
}

#[test]
fn a_client_certificate_the_mtls_plane_refuses_stops_the_run_with_one_message() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    pki.issue("stranger", Some("--unknown-ca"));
    pki.issue("gone", Some("--revoked"));
    let server = pki.serve(true, &["--time-scale", "600"]);
    let mtls = server.mtls.clone().expect("an mtls-data-plane line");
    let out = scratch("tls-refused-cert");
    for (thing, refused) in [
        ("dev-1", None),
        ("stranger", Some("not issued by a trusted CA")),
        ("gone", Some("revoked")),
    ] {
        let mut extra = presenting(&pki, thing);
        extra.extend(["--only".into(), "SN-NEXT-ORDER".into()]);
        let line = run_args(&mtls, &server.control, &out.path().join(thing), &extra);
        let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
        match refused {
            None => assert_eq!(ran.code, Some(0), "{ran}"),
            Some(why) => {
                assert_eq!(ran.code, Some(2), "{ran}");
                assert!(
                    ran.stderr.contains(
                        "the target refused the client certificate the run presents \
                         (CertificateValidationException)"
                    ),
                    "{ran}"
                );
                assert!(ran.stderr.contains(why), "{ran}");
                assert!(!ran.stdout.contains("FAIL "), "no case fails for it: {ran}");
            }
        }
    }
}

#[test]
fn with_quotas_faults_and_mtls_on_the_reference_every_service_answer_is_exercised_and_passes() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    let probes = root().join("faults/probes.yaml").display().to_string();
    let server = pki.serve(
        true,
        &["--time-scale", "600", "--quotas", "--faults", &probes],
    );
    let out = scratch("tls-all-answers");
    let mut extra = presenting(&pki, "dev-1");
    extra.extend([
        "--mtls-target".into(),
        server.mtls.clone().unwrap(),
        "--target-faults".into(),
    ]);
    let line = run_args(&server.data, &server.control, &out.path().join("r"), &extra);
    let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let summary = run_summary(&out.path().join("r"));
    for id in ["SN-THROTTLING", "SN-UNAVAILABLE", "SN-CERTIFICATE"] {
        let row = coverage(&summary, id);
        assert_eq!(row["verdict"], "pass", "{row}");
        assert!(row["checks"].as_u64() > Some(0), "{row}");
        assert!(row.get("untestable").is_none(), "{row}");
    }
}

#[test]
fn without_an_mtls_endpoint_sn_certificate_stays_untestable_with_why() {
    let pki = Pki::init();
    let server = pki.serve(false, &["--time-scale", "600"]);
    let out = scratch("tls-untestable");
    let extra = vec![
        "--ca".into(),
        pki.arg("ca.pem"),
        "--only".into(),
        "SN-NEXT-ORDER".into(),
    ];
    let line = run_args(&server.data, &server.control, &out.path().join("r"), &extra);
    let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let row = coverage(&run_summary(&out.path().join("r")), "SN-CERTIFICATE").clone();
    assert_eq!(row["verdict"], "untested", "{row}");
    let why = row["untestable"].as_str().unwrap_or_default();
    assert!(why.contains("--mtls-target"), "{row}");
}

#[test]
fn sn_certificate_fails_against_an_endpoint_that_serves_any_certificate() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    // The plain https data plane asks for no certificate and serves every request.
    let server = pki.serve(false, &["--time-scale", "600"]);
    let out = scratch("tls-lax");
    let mut extra = presenting(&pki, "dev-1");
    extra.extend(["--mtls-target".into(), server.data.clone()]);
    extra.extend(["--only".into(), "SN-CERTIFICATE".into()]);
    let line = run_args(&server.data, &server.control, &out.path().join("r"), &extra);
    let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
    assert_eq!(ran.code, Some(1), "{ran}");
    for presented in ["a certificate from an unknown CA", "an expired certificate"] {
        assert!(
            ran.stdout.contains(&format!("SN-CERTIFICATE: {presented}"))
                && ran.stdout.contains("answered 200"),
            "{presented}: {ran}"
        );
    }
}

#[test]
fn a_wrong_ca_is_named_as_the_cause_and_only_insecure_skips_it() {
    let pki = Pki::init();
    let other = Pki::init();
    let server = pki.serve(false, &["--time-scale", "600"]);
    let out = scratch("tls-wrong-ca");
    let extra = vec![
        "--ca".into(),
        other.arg("ca.pem"),
        "--only".into(),
        "SN-NEXT-ORDER".into(),
    ];
    let line = run_args(&server.data, &server.control, &out.path().join("r"), &extra);
    let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout
            .contains("invalid peer certificate: UnknownIssuer"),
        "{ran}"
    );
    assert!(ran.stdout.contains("give its CA with --ca"), "{ran}");

    let insecure = vec!["--insecure".into(), "--only".into(), "SN-NEXT-ORDER".into()];
    let line = run_args(
        &server.data,
        &server.control,
        &out.path().join("i"),
        &insecure,
    );
    let ran = Process::spawn_in(&args(&line), &root(), out.path()).finish(LIMIT);
    assert_eq!(ran.code, Some(0), "--insecure skips verification: {ran}");
}

const FLEET: &str = "\
fleet:
  name: tls-per-device
  seed: 41
  things: { count: 4, per-job: 4, name: 'tdev-{index}' }
  transport: http
  http: { connections: per-device }
  connect: { rate: 1000 }
  rollout: { jobs-per-thing: 2, rate: 200, start: before }
  behaviour:
    program: agent
    work: { uniform: { min: 1, max: 10 } }
    outcomes: { SUCCEEDED: 1.0 }
    step-timeout-minutes: 600
  load: { model: closed, think: { exponential: { mean: 5 } } }
  run: { until: drained, max-duration-s: 20, deadline-ms: 15000 }
  thresholds:
    error-rate: { max: 0 }
";

/// A fleet of four devices `tdev-0..3` on the mTLS data plane, each presenting
/// `{thing}.pem`; `revoked` gets a revoked certificate instead.
fn fleet(revoked: Option<&str>) -> (Ran, Value) {
    let pki = Pki::init();
    for i in 0..4 {
        let thing = format!("tdev-{i}");
        let flag = (revoked == Some(thing.as_str())).then_some("--revoked");
        pki.issue(&thing, flag);
    }
    let server = pki.serve(true, &["--time-scale", "600"]);
    let out = scratch("tls-fleet");
    let scenario = out.write("fleet.yaml", FLEET);
    let line = vec![
        "fleet".to_string(),
        scenario.display().to_string(),
        "--target".into(),
        server.mtls.clone().unwrap(),
        "--control".into(),
        server.control.clone(),
        "--target-time-scale".into(),
        "600".into(),
        "--ca".into(),
        pki.arg("ca.pem"),
        "--cert".into(),
        format!("{}/{{thing}}.pem", pki.dir().display()),
        "--key".into(),
        format!("{}/{{thing}}.key", pki.dir().display()),
        "--run-id".into(),
        "tls".into(),
        "--quiet".into(),
        "--report-dir".into(),
        out.path().join("r").display().to_string(),
    ];
    let ran = jobcert(&args(&line), out.path(), LIMIT);
    let summary = summary(&out.path().join("r").join("tls"));
    (ran, summary)
}

#[test]
fn a_fleet_s_devices_each_present_their_own_certificate() {
    let (ran, summary) = fleet(None);
    assert_eq!(ran.code, Some(0), "{ran}");
    let connects = crate::common::report::count(&summary, "Connect", "answered");
    assert_eq!(
        connects, 4,
        "each device opens its own TLS connection: {ran}"
    );

    let (ran, _) = fleet(Some("tdev-2"));
    assert_eq!(
        ran.code,
        Some(1),
        "one device's certificate is revoked: {ran}"
    );
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The credentials of the TLS + SigV4 run: what no output may hold (the key id is not secret).
const SIGNING: [(&str, Option<&str>); 4] = [
    ("AWS_ACCESS_KEY_ID", Some("AKIDTLSRUN")),
    (
        "AWS_SECRET_ACCESS_KEY",
        Some("tls-run-secret-never-written"),
    ),
    (
        "AWS_SESSION_TOKEN",
        Some("tls-run-session-token-never-written"),
    ),
    ("AWS_REGION", Some("us-east-1")),
];

/// `jobcert serve` as a [`Process`] with debug logging, checking SigV4 signatures against
/// [`SIGNING`], its output in files under `logs`; its three listener URLs once printed.
fn logged_serve(pki: &Pki, logs: &Path) -> (Process, Vec<String>) {
    let line = vec![
        "serve".to_string(),
        "--http".into(),
        "127.0.0.1:0".into(),
        "--control".into(),
        "127.0.0.1:0".into(),
        "--time-scale".into(),
        "600".into(),
        "--tls-cert".into(),
        pki.arg("server.pem"),
        "--tls-key".into(),
        pki.arg("server.key"),
        "--mtls".into(),
        "127.0.0.1:0".into(),
        "--client-ca".into(),
        pki.arg("ca.pem"),
        "--verify-sigv4".into(),
    ];
    let mut env = SIGNING.to_vec();
    env.push(("JOBCERT_LOG", Some("debug")));
    let server = Process::spawn_env(&args(&line), logs, logs, &env);
    let started = Instant::now();
    loop {
        let urls: Vec<String> = files(logs)
            .iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("stdout"))
            })
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| l.split_once(' ').map(|(_, url)| url.to_string()))
            .collect();
        if urls.len() == 3 {
            return (server, urls);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "jobcert serve printed {urls:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `text` holds a SigV4 signature: 64 hex digits after `Signature=`.
fn holds_a_signature(text: &str) -> bool {
    text.match_indices("Signature=").any(|(at, name)| {
        let value = &text[at + name.len()..];
        value.len() >= 64 && value[..64].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[test]
fn no_private_key_credential_or_signature_reaches_any_output_of_a_tls_and_sigv4_run() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    let out = scratch("tls-secrets");
    let logs = out.path().join("serve");
    std::fs::create_dir_all(&logs).unwrap();
    let (mut server, urls) = logged_serve(&pki, &logs);
    let mut extra = presenting(&pki, "dev-1");
    extra.extend(["--mtls-target".into(), urls[2].clone()]);
    extra.extend([
        "--capture".into(),
        out.path().join("capture.jsonl").display().to_string(),
    ]);
    let line = run_args(&urls[0], &urls[1], &out.path().join("r"), &extra);
    let mut env = SIGNING.to_vec();
    env.push(("JOBCERT_LOG", Some("debug")));
    let ran = Process::spawn_env(&args(&line), &root(), out.path(), &env).finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    server.interrupt();
    server.finish(Duration::from_secs(10));

    let mut secrets = pki.key_material();
    secrets.extend(
        SIGNING[1..3]
            .iter()
            .filter_map(|(_, v)| v.map(String::from)),
    );
    let leaks = |path: &Path| {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        text.contains("PRIVATE KEY")
            || secrets.iter().any(|line| text.contains(line.as_str()))
            || holds_a_signature(&text)
    };
    assert!(
        leaks(&pki.file("dev-1.key")),
        "the search finds a key where there is one"
    );
    assert!(holds_a_signature(
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/iot/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
    ));
    let outputs = files(out.path());
    assert!(outputs.len() > 6, "reports, capture and logs: {outputs:?}");
    for path in outputs {
        assert!(
            !leaks(&path),
            "{} holds a private key, a secret or a signature",
            path.display()
        );
    }
}
