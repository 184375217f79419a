//! `jobcert serve --tls-cert/--tls-key` over `https://`, and its `--mtls` data plane judging
//! each client certificate: a usable one is served, and an expired one, one from another CA, a
//! revoked one and none at all are answered CertificateValidationException with the status
//! `errors.json` gives it.

use jobcert_contract::{ErrorKind, error_status};
use serde_json::{Value, json};

use crate::common::pki::Pki;

#[tokio::test]
async fn both_planes_speak_https_with_the_pki_s_server_certificate() {
    let pki = Pki::init();
    let server = pki.serve(false, &[]);
    assert!(server.data.starts_with("https://"), "{}", server.data);
    assert!(server.control.starts_with("https://"), "{}", server.control);
    let client = pki.client(None);
    let created = client
        .post(format!("{}/things/dev-1", server.control))
        .json(&json!({}))
        .send()
        .await
        .expect("the control plane over https");
    assert_eq!(created.status(), 200);
    let pending = client
        .get(format!("{}/things/dev-1/jobs", server.data))
        .send()
        .await
        .expect("the data plane over https");
    assert_eq!(pending.status(), 200);

    let stranger = reqwest::Client::new()
        .get(format!("{}/things/dev-1/jobs", server.data))
        .send()
        .await;
    assert!(
        stranger.is_err(),
        "a client without the CA must not trust the server"
    );
}

#[tokio::test]
async fn the_mtls_plane_refuses_every_unusable_certificate_per_request() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    pki.issue("old", Some("--expired"));
    pki.issue("stranger", Some("--unknown-ca"));
    pki.issue("gone", Some("--revoked"));
    let server = pki.serve(true, &[]);
    let mtls = server.mtls.clone().expect("an mtls-data-plane line");
    let created = pki
        .client(None)
        .post(format!("{}/things/dev-1", server.control))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);

    let refused = error_status(ErrorKind::CertificateValidation);
    let type_name = ErrorKind::CertificateValidation.type_name();
    for (presented, expected_status, why) in [
        (Some("dev-1"), 200, None),
        (Some("old"), refused, Some("expired")),
        (Some("stranger"), refused, Some("trusted CA")),
        (Some("gone"), refused, Some("revoked")),
        (None, refused, Some("no client certificate")),
    ] {
        let answer = pki
            .client(presented)
            .get(format!("{mtls}/things/dev-1/jobs"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{presented:?}: the handshake completes: {e}"));
        assert_eq!(answer.status().as_u16(), expected_status, "{presented:?}");
        let header = answer
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = answer.json().await.unwrap();
        match why {
            None => {
                assert_eq!(header, None, "{presented:?}");
                assert!(body.get("queuedJobs").is_some(), "{presented:?}: {body}");
            }
            Some(why) => {
                assert_eq!(header.as_deref(), Some(type_name), "{presented:?}");
                assert_eq!(body["__type"], type_name, "{presented:?}: {body}");
                let message = body["message"].as_str().unwrap_or_default();
                assert!(message.contains(why), "{presented:?}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn under_own_thing_the_mtls_plane_serves_only_the_certificate_s_thing() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    for (policy, other_status) in [("open", 200), ("own-thing", 403)] {
        let server = pki.serve(true, &["--policy", policy]);
        let mtls = server.mtls.clone().expect("an mtls-data-plane line");
        let client = pki.client(Some("dev-1"));
        for (thing, expected) in [("dev-1", 200), ("dev-2", other_status)] {
            let answer = client
                .get(format!("{mtls}/things/{thing}/jobs"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), expected, "{policy} {thing}");
            if expected == 403 {
                let header = answer.headers().get("x-amzn-errortype").cloned();
                assert_eq!(header.unwrap(), "ForbiddenException", "{policy} {thing}");
            }
        }
    }
}
