//! The case that exercises SN-CERTIFICATE, planned only when the run is given the target's
//! mTLS endpoint: the scenario format has no way to say which certificate a request presents.

use jobcert_contract::{Binding, req};

use super::{Action, PlannedCase, Step};

/// The case presenting unusable client certificates to the mTLS data plane at `endpoint`.
pub fn unusable_certificates(endpoint: &str) -> PlannedCase {
    PlannedCase {
        id: "certificate/unusable-client-certificates".into(),
        suite: "certificate".into(),
        name: "unusable-client-certificates".into(),
        description: Some(
            "StartNext over mTLS with the run's certificate is served; with a certificate from \
             an unknown CA, and with an expired one, it is 400 CertificateValidationException"
                .into(),
        ),
        source: None,
        requirements: vec![req::SN_CERTIFICATE],
        tags: vec!["certificate".into(), "tls".into()],
        bindings: vec![Binding::Http],
        things: vec!["device".into()],
        absent_things: Vec::new(),
        jobs: Vec::new(),
        steps: vec![Step::of(Action::UnusableCertificates {
            thing: "device".into(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
        })],
    }
}
