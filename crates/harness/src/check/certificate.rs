//! SN-CERTIFICATE: what an mTLS endpoint answers a request made with a client certificate it
//! cannot use. AWS IoT completes the handshake and answers 400 CertificateValidationException
//! (spec §2.1, §5.7); the status and the type name come from `errors.json`.

use serde_json::Value;

use super::answer::sdk_error_type;
use crate::finding::Finding;
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{ErrorKind, error_status, req};

/// Judges the answer to a request made with an unusable certificate; `presented` says which
/// (e.g. "a certificate from an unknown CA").
pub fn unusable(exchange: &Exchange, presented: &str) -> Finding {
    let kind = ErrorKind::CertificateValidation;
    let (status, type_name) = (error_status(kind), kind.type_name());
    let seq = Some(exchange.seq);
    let expected = format!("{status} {type_name}");
    match &exchange.outcome {
        Outcome::Answered(response) => {
            let body = serde_json::from_str::<Value>(&response.body).ok();
            let got = sdk_error_type(response, body.as_ref());
            if response.status == status && got.as_deref() == Some(type_name) {
                Finding::pass(
                    req::SN_CERTIFICATE,
                    format!("{presented} is answered {expected}"),
                    seq,
                )
            } else {
                Finding::fail(
                    req::SN_CERTIFICATE,
                    format!(
                        "{presented} is answered {} {}, not {expected}",
                        response.status,
                        got.as_deref().unwrap_or("(no error type)")
                    ),
                    seq,
                )
            }
        }
        Outcome::Timeout { deadline_ms } => Finding::fail(
            req::SN_CERTIFICATE,
            format!("{presented}: no answer within {deadline_ms} ms, not {expected}"),
            seq,
        ),
        Outcome::Failed { message, .. } => Finding::fail(
            req::SN_CERTIFICATE,
            format!(
                "{presented}: no HTTP answer ({message}); the endpoint is to complete the \
                 handshake and answer {expected}"
            ),
            seq,
        ),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::{FailureClass, Timing, WireRequest, WireResponse};

    fn exchange(outcome: Outcome) -> Exchange {
        Exchange {
            seq: 3,
            context: "case".into(),
            operation: "StartNextPendingJobExecution".into(),
            request: WireRequest {
                transport: "http".into(),
                method: "PUT".into(),
                endpoint: "https://127.0.0.1:8443".into(),
                target: "/things/t/jobs/$next".into(),
                headers: vec![],
                body: Some("{}".into()),
            },
            outcome,
            timing: Timing {
                intended_us: 0,
                sent_us: 0,
                done_us: 1,
            },
        }
    }

    fn answered(status: u16, header: Option<&str>, body: &str) -> Outcome {
        Outcome::Answered(WireResponse {
            status,
            headers: header
                .map(|h| vec![("x-amzn-errortype".to_string(), h.to_string())])
                .unwrap_or_default(),
            body: body.into(),
            truncated: false,
        })
    }

    #[rstest]
    #[case::by_header(
        answered(400, Some("CertificateValidationException"), "{}"),
        true,
        "is answered 400 CertificateValidationException"
    )]
    #[case::by_body(
        answered(
            400,
            None,
            r#"{"__type":"CertificateValidationException","message":"x"}"#
        ),
        true,
        "is answered 400"
    )]
    #[case::served(
        answered(200, None, "{}"),
        false,
        "is answered 200 (no error type), not 400"
    )]
    #[case::other_type(
        answered(400, Some("InvalidRequestException"), "{}"),
        false,
        "400 InvalidRequestException, not 400 CertificateValidationException"
    )]
    #[case::forbidden(
        answered(403, Some("CertificateValidationException"), "{}"),
        false,
        "403 CertificateValidationException, not 400"
    )]
    #[case::handshake_refused(Outcome::Failed { class: FailureClass::Connect, message: "TLS handshake: alert".into() }, false, "no HTTP answer (TLS handshake: alert)")]
    #[case::silent(Outcome::Timeout { deadline_ms: 50 }, false, "no answer within 50 ms")]
    fn only_400_certificate_validation_passes(
        #[case] outcome: Outcome,
        #[case] passed: bool,
        #[case] says: &str,
    ) {
        let f = unusable(&exchange(outcome), "a certificate from an unknown CA");
        assert_eq!(f.requirement, req::SN_CERTIFICATE);
        assert_eq!(f.passed, passed, "{}", f.message);
        assert!(f.message.contains(says), "{}", f.message);
        assert_eq!(f.exchange, Some(3));
    }
}
