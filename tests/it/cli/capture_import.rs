//! `jobcert capture import` as users run it: a session against `jobcert serve` (signed, with a
//! session token and a cookie, and one request that is not the Jobs API) saved as a HAR 1.2
//! file and as a GoReplay `.gor` file — both written here from the exact bytes exchanged —
//! becomes a capture without any credential that replays against a fresh reference with no
//! divergence; a broken file is refused with its entry or line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{Value, json};

use crate::common::process::{Serve, args, jobcert};
use crate::common::proxy::{capture_text, count, replays_exactly};
use crate::common::{ScratchExt, scratch};

/// Longest one `jobcert` command of these tests may take.
const LIMIT: Duration = Duration::from_secs(120);

/// What a recording tool would have kept of the session's credentials; none may reach a
/// capture.
const SECRETS: [&str; 4] = [
    "AKIDIMPORTTEST",
    "import-session-token-never-written",
    "import-cookie-never-written",
    "AWS4-HMAC-SHA256",
];

/// The thing ARN the session's jobs target.
const ARN: &str = "arn:aws:iot:us-east-1:123456789012:thing/dev-a";

/// One request of the session and its answer, as exchanged on the wire.
struct Raw {
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    request: Vec<u8>,
    response: Vec<u8>,
    took: Duration,
}

/// Sends one request over its own connection, signed (in form) for `service`.
fn send(base: &str, service: &str, method: &'static str, path: &str, body: Option<&str>) -> Raw {
    let host = base.trim_start_matches("http://");
    let mut headers = vec![
        ("Host".to_string(), host.to_string()),
        ("X-Amz-Date".into(), "20261203T080000Z".into()),
        ("X-Amz-Security-Token".into(), SECRETS[1].into()),
        (
            "Authorization".into(),
            format!(
                "{} Credential={}/20261203/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0f1e2d",
                SECRETS[3], SECRETS[0]
            ),
        ),
        ("Cookie".into(), format!("session={}", SECRETS[2])),
        ("Connection".into(), "close".into()),
    ];
    if let Some(b) = body {
        headers.push(("Content-Type".into(), "application/json".into()));
        headers.push(("Content-Length".into(), b.len().to_string()));
    }
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    let started = Instant::now();
    let mut stream = TcpStream::connect(host).expect("the server accepts");
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a whole answer");
    Raw {
        method,
        url: format!("{base}{path}"),
        headers,
        body: body.map(str::to_string),
        request: request.into_bytes(),
        response,
        took: started.elapsed(),
    }
}

/// The session: the control plane creates a thing and two jobs, a device takes both.
fn session(serve: &Serve) -> Vec<Raw> {
    let (data, control) = (serve.data.as_str(), serve.control.as_str());
    let job = format!(r#"{{"targets":["{ARN}"],"document":"{{\"v\":1}}"}}"#);
    vec![
        send(control, "iot", "POST", "/things/dev-a", Some("{}")),
        send(control, "iot", "PUT", "/jobs/fw-1", Some(&job)),
        send(control, "iot", "PUT", "/jobs/fw-2", Some(&job)),
        send(data, "iot-jobs-data", "GET", "/things/dev-a/jobs", None),
        send(
            data,
            "iot-jobs-data",
            "PUT",
            "/things/dev-a/jobs/$next",
            Some(r#"{"statusDetails":{"step":"download"}}"#),
        ),
        send(
            data,
            "iot-jobs-data",
            "POST",
            "/things/dev-a/jobs/fw-1",
            Some(r#"{"status":"SUCCEEDED","expectedVersion":2}"#),
        ),
        send(
            data,
            "iot-jobs-data",
            "GET",
            "/things/dev-a/jobs/fw-1?includeJobDocument=false",
            None,
        ),
        send(data, "iot-jobs-data", "GET", "/favicon.ico", None),
        send(
            data,
            "iot-jobs-data",
            "PUT",
            "/things/dev-a/jobs/%24next",
            Some("{}"),
        ),
        send(
            data,
            "iot-jobs-data",
            "POST",
            "/things/dev-a/jobs/fw-2",
            Some(r#"{"status":"FAILED"}"#),
        ),
    ]
}

/// Data-plane exchanges of [`session`] (the favicon is not one).
const DATA_EXCHANGES: usize = 6;

/// Status, headers and body of a raw answer.
fn answer(raw: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The session as a browser or recording proxy saves it (HAR 1.2), 20 ms apart.
fn har(session: &[Raw]) -> Value {
    let pairs = |h: &[(String, String)]| -> Vec<Value> {
        h.iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect()
    };
    let entries: Vec<Value> = session
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (status, headers, body) = answer(&r.response);
            let ms = i * 20;
            let mut request = json!({
                "method": r.method, "url": r.url, "httpVersion": "HTTP/1.1",
                "headers": pairs(&r.headers), "queryString": [],
                "cookies": [{"name": "session", "value": SECRETS[2]}],
                "headersSize": -1, "bodySize": r.body.as_ref().map_or(0, String::len),
            });
            if let Some(b) = &r.body {
                request["postData"] = json!({"mimeType": "application/json", "text": b});
            }
            json!({
                "startedDateTime": format!("2026-12-03T08:00:{:02}.{:03}Z", ms / 1000, ms % 1000),
                "time": r.took.as_secs_f64() * 1000.0,
                "request": request,
                "response": {
                    "status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                    "headers": pairs(&headers), "cookies": [],
                    "content": {"size": body.len(), "mimeType": "application/json", "text": body},
                    "redirectURL": "", "headersSize": -1, "bodySize": body.len(),
                },
                "cache": {},
                "timings": {"send": 0, "wait": r.took.as_secs_f64() * 1000.0, "receive": 0},
            })
        })
        .collect();
    json!({"log": {"version": "1.2", "creator": {"name": "recorder", "version": "1"}, "entries": entries}})
}

/// The session as GoReplay's file output writes it, with a replayed response (ignored) and a
/// request whose response was never captured (skipped).
fn gor(session: &[Raw]) -> Vec<u8> {
    let origin_ns: u128 = 1_796_284_800_000_000_000;
    let mut out = Vec::new();
    let mut payload = |header: String, raw: &[u8]| {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(raw);
        out.extend_from_slice("\n🐵🙈🙉\n".as_bytes());
    };
    for (i, r) in session.iter().enumerate() {
        let id = format!("{:024x}", i + 1);
        let at = origin_ns + i as u128 * 20_000_000;
        payload(format!("1 {id} {at} -1\n"), &r.request);
        payload(
            format!("2 {id} {} {}\n", at + r.took.as_nanos(), r.took.as_nanos()),
            &r.response,
        );
        if i == 3 {
            payload(
                format!("3 {id} {} 1000\n", at + 1),
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
            );
        }
    }
    payload(
        format!("1 {:024x} {} -1\n", 99, origin_ns + 1_000_000_000),
        b"GET /things/dev-a/jobs HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    out
}

#[rstest]
#[case::har("session.har")]
#[case::gor("session.gor")]
fn a_recorded_session_imports_and_replays_exactly(#[case] name: &str) {
    let dir = scratch("capture-import");
    let serve = Serve::start(1.0);
    let session = session(&serve);
    drop(serve);
    let file = match name {
        "session.har" => dir.write(name, serde_json::to_vec_pretty(&har(&session)).unwrap()),
        _ => dir.write(name, gor(&session)),
    };
    let capture = dir.path().join("imported.jsonl");
    let ran = jobcert(
        &args([
            "capture".as_ref(),
            "import".as_ref(),
            file.as_os_str(),
            "--out".as_ref(),
            capture.as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    let skipped = if name.ends_with(".gor") { 2 } else { 1 };
    assert!(
        ran.stdout
            .contains(&format!("9 exchanges kept, {skipped} requests skipped")),
        "{ran}"
    );
    let text = capture_text(&capture);
    assert_eq!(count(&text, "exchange"), DATA_EXCHANGES, "{text}");
    assert!(
        text.contains(r#""seed":{"things":[{"name":"{thing:dev-a}"}]"#),
        "{text}"
    );
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in the capture");
    }
    replays_exactly(&capture, DATA_EXCHANGES, dir.path());
}

const GOOD_ENTRY: &str = r#"{"startedDateTime":"2026-12-03T08:00:00.000Z","time":1,"request":{"method":"GET","url":"http://h/things/t/jobs","headers":[]},"response":{"status":200,"headers":[],"content":{"text":"{}"}}}"#;

#[rstest]
#[case::har_member_missing("bad.har", format!(r#"{{"log":{{"entries":[{GOOD_ENTRY},{}]}}}}"#, GOOD_ENTRY.replace(r#""method":"GET","#, "")), "entry 2: request: missing field `method`")]
#[case::har_bad_time("bad.har", format!(r#"{{"log":{{"entries":[{}]}}}}"#, GOOD_ENTRY.replace("08:00:00.000Z", "8 o'clock")), "entry 1: startedDateTime")]
#[case::har_cut("bad.har", format!(r#"{{"log":{{"entries":[{GOOD_ENTRY}"#), "line 1 column")]
#[case::gor_header("bad.gor", "1 a 100 -1\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\n🐵🙈🙉\n2 a\nHTTP/1.1 200 OK\r\n\r\n".to_string(), "line 7: payload header")]
#[case::gor_http("bad.gor", "1 a 100 -1\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\n🐵🙈🙉\n1 b 200 -1\nnot http at all\r\n\r\n".to_string(), "line 8: not an HTTP request")]
fn a_broken_file_is_refused_with_its_entry_or_line(
    #[case] name: &str,
    #[case] text: String,
    #[case] says: &str,
) {
    let dir = scratch("capture-import-bad");
    let file = dir.write(name, text);
    let out = dir.path().join("never.jsonl");
    let ran = jobcert(
        &args([
            "capture".as_ref(),
            "import".as_ref(),
            file.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(
        ran.stderr.contains(&format!("{}: {says}", file.display())),
        "{ran}"
    );
    assert!(!out.exists(), "a capture was written");
}
