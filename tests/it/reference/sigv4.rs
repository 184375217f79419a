//! SigV4 on the reference's HTTP planes, signed by another implementation than the one that
//! checks (aws-sigv4, through the harness's signer): signed requests, temporary credentials and
//! presigned URLs pass on both planes, each under its own signing name; the same requests
//! unsigned, signed with another secret, for the other plane's signing name or without the
//! server's session token get the error AWS answers, with a `Date` header.

use jobcert_harness::transport::Signer;
use jobcert_reference::sigv4::Credentials;
use jobcert_reference::{RunningServer, ServeConfig};
use serde_json::Value;

use crate::common::{control_url, data_url, server_with};

const KEY: &str = "AKIDREFERENCE";
const SECRET: &str = "reference-secret";
const TOKEN: &str = "reference-session-token";

async fn verifying(credentials: Credentials) -> RunningServer {
    server_with(ServeConfig {
        sigv4: Some(credentials),
        ..ServeConfig::default()
    })
    .await
}

/// How a request is signed.
#[derive(Debug, Clone, Copy)]
enum Signing<'a> {
    Unsigned,
    /// In the Authorization header, with this secret and token, for this signing name.
    Header(&'a str, Option<&'a str>, &'a str),
    /// A presigned URL, for this signing name.
    Query(&'a str),
}

/// Sends `method url` with `body`, signed so; the status, error type and message.
async fn send(
    method: &str,
    url: &str,
    body: &[u8],
    signing: Signing<'_>,
) -> (u16, Option<String>, Option<String>) {
    let mut request = http::Request::builder().method(method).uri(url);
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let mut request = request.body(body.to_vec()).unwrap();
    let url = match signing {
        Signing::Unsigned => url.to_string(),
        Signing::Header(secret, token, service) => {
            Signer::new(
                KEY.into(),
                secret.into(),
                token.map(str::to_string),
                "us-east-1",
            )
            .sign(&mut request, service)
            .unwrap();
            url.to_string()
        }
        Signing::Query(service) => Signer::new(KEY.into(), SECRET.into(), None, "us-east-1")
            .presign(&url.replacen("http://", "ws://", 1), service)
            .unwrap()
            .replacen("ws://", "http://", 1),
    };
    let mut sent = reqwest::Client::new().request(method.parse().unwrap(), url);
    for (name, value) in request.headers() {
        sent = sent.header(name.as_str(), value.as_bytes());
    }
    let answer = sent.body(body.to_vec()).send().await.unwrap();
    let status = answer.status().as_u16();
    assert!(answer.headers().contains_key("date"), "no Date header");
    let error_type = answer
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let message = body["message"].as_str().map(str::to_string);
    (status, error_type, message)
}

/// Method, URL, body, signing; then the status, error type and start of the message answered.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a [u8],
    Signing<'a>,
    u16,
    Option<&'a str>,
    &'a str,
);

#[tokio::test]
async fn each_plane_takes_only_requests_signed_for_it() {
    let server = verifying(Credentials::new(KEY, SECRET)).await;
    let control = format!("{}/things/sig%3Athing", control_url(&server));
    let pending = format!("{}/things/sig%3Athing/jobs", data_url(&server));
    let next = format!("{}/things/sig%3Athing/jobs/$next", data_url(&server));
    let (iot, jobs) = ("iot", "iot-jobs-data");
    let header = |service| Signing::Header(SECRET, None, service);
    let cases: Vec<Case> = vec![
        ("POST", &control, b"{}", header(iot), 200, None, ""),
        ("GET", &pending, b"", header(jobs), 200, None, ""),
        ("PUT", &next, b"{}", header(jobs), 200, None, ""),
        ("GET", &pending, b"", Signing::Query(jobs), 200, None, ""),
        (
            "GET",
            &pending,
            b"",
            Signing::Unsigned,
            403,
            Some("MissingAuthenticationTokenException"),
            "Missing Authentication Token",
        ),
        (
            "PUT",
            &next,
            b"{}",
            Signing::Header("another", None, jobs),
            403,
            Some("InvalidSignatureException"),
            "The request signature we calculated does not match",
        ),
        (
            "GET",
            &pending,
            b"",
            header(iot),
            403,
            Some("InvalidSignatureException"),
            "Credential should be scoped to correct service: 'iot-jobs-data'.",
        ),
        (
            "POST",
            &control,
            b"{}",
            header(jobs),
            403,
            Some("InvalidSignatureException"),
            "Credential should be scoped to correct service: 'iot'.",
        ),
        (
            "GET",
            &pending,
            b"",
            Signing::Query(iot),
            403,
            Some("InvalidSignatureException"),
            "Credential should be scoped to correct service: 'iot-jobs-data'.",
        ),
    ];
    for (method, url, body, signing, status, error_type, message) in cases {
        let (s, t, m) = send(method, url, body, signing).await;
        let what = format!("{method} {url} {signing:?}");
        assert_eq!((s, t.as_deref()), (status, error_type), "{what}: {m:?}");
        assert!(m.unwrap_or_default().starts_with(message), "{what}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn temporary_credentials_need_the_servers_session_token() {
    let server = verifying(Credentials::new(KEY, SECRET).with_session_token(TOKEN)).await;
    let pending = format!("{}/things/t/jobs", data_url(&server));
    let jobs = "iot-jobs-data";
    let refused = Some("UnrecognizedClientException");
    for (token, want) in [
        (Some(TOKEN), (200, None)),
        (Some("another"), (403, refused)),
        (None, (403, refused)),
    ] {
        let (s, t, _) = send("GET", &pending, b"", Signing::Header(SECRET, token, jobs)).await;
        assert_eq!((s, t.as_deref()), want, "{token:?}");
    }
    server.shutdown().await;
}
