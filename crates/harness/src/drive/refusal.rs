//! A target that refuses the run's credentials — its SigV4 signature, or the client
//! certificate it presents — refuses every request, so a run that met one such answer stops and
//! says why in one line, instead of failing every case on it. The answers are AWS's (spec
//! §2.1): 403 MissingAuthenticationTokenException, UnrecognizedClientException,
//! InvalidSignatureException (with "Signature expired" / "not yet current" when the clocks
//! differ by more than 5 minutes), 400 IncompleteSignatureException, and the S3-style names
//! some targets use; 400 CertificateValidationException for the certificate (§5.7), except in
//! SN-CERTIFICATE's case, which presents unusable certificates on purpose.

use serde_json::Value;

use jobcert_contract::req;

use crate::record::CaseRecord;
use crate::transport::{Outcome, WireResponse};

/// What about the signature the target refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request carried no signature.
    Missing,
    /// The access key id (or session token) is not one the target knows.
    UnknownKey,
    /// The signature does not match: the secret, or the signing.
    Mismatch,
    /// The signing time is too far from the target's clock.
    ClockSkew,
    /// The signature lacks a member.
    Incomplete,
    /// The client certificate the run presents is not one the target can use.
    Certificate,
}

/// A signature refusal as the target answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsRefused {
    /// What was refused.
    pub refusal: Refusal,
    /// The error type as answered.
    pub error_type: String,
    /// The target's message, if any (AWS's never holds a secret).
    pub message: Option<String>,
}

impl CredentialsRefused {
    /// The refusal in `response`, if it is one.
    pub fn of(response: &WireResponse) -> Option<Self> {
        if !matches!(response.status, 400 | 401 | 403) {
            return None;
        }
        let body = serde_json::from_str::<Value>(&response.body).ok();
        let member = |names: &[&str]| {
            names.iter().find_map(|k| {
                body.as_ref()?
                    .get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        };
        let raw = response
            .header("x-amzn-errortype")
            .map(str::to_string)
            .or_else(|| member(&["__type", "code", "Code"]))?;
        let error_type = raw.split(':').next()?.rsplit('#').next()?.to_string();
        let message = member(&["message", "Message"]);
        let skewed = message.as_deref().is_some_and(|m| {
            m.starts_with("Signature expired") || m.starts_with("Signature not yet current")
        });
        let refusal = match error_type.as_str() {
            "MissingAuthenticationToken" | "MissingAuthenticationTokenException" => {
                Refusal::Missing
            }
            "UnrecognizedClientException" | "InvalidAccessKeyId" | "InvalidClientTokenId" => {
                Refusal::UnknownKey
            }
            "RequestTimeTooSkewed" | "RequestExpired" => Refusal::ClockSkew,
            "InvalidSignatureException" | "SignatureDoesNotMatch" if skewed => Refusal::ClockSkew,
            "InvalidSignatureException" | "SignatureDoesNotMatch" => Refusal::Mismatch,
            "IncompleteSignature" | "IncompleteSignatureException" => Refusal::Incomplete,
            "CertificateValidationException" => Refusal::Certificate,
            _ => return None,
        };
        Some(Self {
            refusal,
            error_type,
            message,
        })
    }

    /// The first refusal among the exchanges of `case`; the certificates SN-CERTIFICATE's case
    /// presents on purpose are refused by design.
    pub fn first_in(case: &CaseRecord) -> Option<Self> {
        let probing_certificates = case.requirements.contains(&req::SN_CERTIFICATE);
        case.exchanges.iter().find_map(|e| match &e.outcome {
            Outcome::Answered(r) => {
                Self::of(r).filter(|r| !(probing_certificates && r.refusal == Refusal::Certificate))
            }
            _ => None,
        })
    }

    /// The one message a run stops with: the cause, what to check (`credentials`: where the
    /// run's credentials came from, or `None` when it had none), then the target's words.
    pub fn explain(&self, credentials: Option<&str>) -> String {
        let check = credentials.unwrap_or("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
        let cause = match self.refusal {
            Refusal::Mismatch => format!(
                "the target refused the request signature ({}): check {check}",
                self.error_type
            ),
            Refusal::ClockSkew => "the target says the request time is off by more than 5 \
                                   minutes: check this machine's clock"
                .to_string(),
            Refusal::UnknownKey => format!(
                "the target does not recognise the access key id ({}): check {check} (and \
                 AWS_SESSION_TOKEN for temporary credentials)",
                self.error_type
            ),
            Refusal::Missing if credentials.is_none() => format!(
                "the target wants a SigV4 signature ({}) and the requests went out unsigned: \
                 to sign, {}",
                self.error_type,
                crate::transport::HOW_TO_SIGN
            ),
            Refusal::Missing => format!(
                "the target found no signature on the request ({}), though the run signs with \
                 {check}: is something between the run and the target dropping the \
                 Authorization header?",
                self.error_type
            ),
            Refusal::Incomplete => format!(
                "the target found the request signature incomplete ({}): the target expects \
                 another form of SigV4",
                self.error_type
            ),
            Refusal::Certificate => format!(
                "the target refused the client certificate the run presents ({}): check \
                 --cert/--key, and that the target trusts the CA that issued it and has not \
                 revoked it",
                self.error_type
            ),
        };
        match &self.message {
            Some(m) => format!("{cause} (the target said: {m})"),
            None => cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Exchange, Label, WireRequest};

    fn answer(status: u16, error_type: Option<&str>, body: &str) -> WireResponse {
        WireResponse {
            status,
            headers: error_type
                .map(|t| vec![("x-amzn-errortype".to_string(), t.to_string())])
                .unwrap_or_default(),
            body: body.to_string(),
            truncated: false,
        }
    }

    #[test]
    fn each_signature_refusal_is_told_apart_and_nothing_else_is_one() {
        let mismatch = r#"{"message":"The request signature we calculated does not match the signature you provided."}"#;
        let expired = r#"{"message":"Signature expired: 20261203T140000Z is now earlier than 20261203T141000Z (20261203T141500Z - 5 min.)"}"#;
        let ahead = r#"{"message":"Signature not yet current: 20261203T143000Z is still later than 20261203T142000Z (20261203T141500Z + 5 min.)"}"#;
        let cases: [(WireResponse, Option<Refusal>); 12] = [
            (
                answer(403, Some("InvalidSignatureException"), mismatch),
                Some(Refusal::Mismatch),
            ),
            (
                answer(403, Some("InvalidSignatureException"), expired),
                Some(Refusal::ClockSkew),
            ),
            (
                answer(403, Some("InvalidSignatureException"), ahead),
                Some(Refusal::ClockSkew),
            ),
            (
                answer(
                    403,
                    Some("UnrecognizedClientException:http://internal/"),
                    "{}",
                ),
                Some(Refusal::UnknownKey),
            ),
            (
                answer(
                    403,
                    None,
                    r#"{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}"#,
                ),
                Some(Refusal::Missing),
            ),
            (
                answer(400, Some("IncompleteSignatureException"), "{}"),
                Some(Refusal::Incomplete),
            ),
            (
                answer(403, Some("RequestTimeTooSkewed"), "{}"),
                Some(Refusal::ClockSkew),
            ),
            (
                answer(403, Some("SignatureDoesNotMatch"), "{}"),
                Some(Refusal::Mismatch),
            ),
            (
                answer(400, Some("CertificateValidationException"), "{}"),
                Some(Refusal::Certificate),
            ),
            // Not a refusal of the run's credentials: another 403, a conformance answer, a
            // success.
            (answer(403, Some("ForbiddenException"), "{}"), None),
            (answer(400, Some("InvalidRequestException"), "{}"), None),
            (answer(200, Some("InvalidSignatureException"), "{}"), None),
        ];
        for (response, want) in cases {
            assert_eq!(
                CredentialsRefused::of(&response).map(|r| r.refusal),
                want,
                "{response:?}"
            );
        }
    }

    #[test]
    fn sn_certificate_s_own_case_refuses_certificates_by_design() {
        let refused = answer(400, Some("CertificateValidationException"), "{}");
        let exchange = |response: &WireResponse| {
            let label = Label {
                seq: 1,
                context: "c",
                operation: "StartNextPendingJobExecution",
            };
            let request = WireRequest::publish("h".into(), "t".into(), None);
            Exchange::new(label, request, Outcome::Answered(response.clone()), 0, 0)
        };
        let case = |requirements, exchanges| CaseRecord {
            id: "s/c".into(),
            suite: "s".into(),
            name: "c".into(),
            description: None,
            source: None,
            requirements,
            tags: Vec::new(),
            findings: Vec::new(),
            exchanges,
            aborted: None,
            duration_ms: 0,
            discarded: Vec::new(),
        };
        for (requirements, want) in [
            (vec![req::SN_START], Some(Refusal::Certificate)),
            (vec![req::SN_CERTIFICATE], None),
        ] {
            let case = case(requirements, vec![exchange(&refused)]);
            assert_eq!(CredentialsRefused::first_in(&case).map(|r| r.refusal), want);
        }
        let signature = answer(403, Some("InvalidSignatureException"), "{}");
        let probe = case(
            vec![req::SN_CERTIFICATE],
            vec![exchange(&refused), exchange(&signature)],
        );
        assert_eq!(
            CredentialsRefused::first_in(&probe).map(|r| r.refusal),
            Some(Refusal::Mismatch),
            "a refused signature stops the run in any case"
        );
    }

    #[test]
    fn the_message_names_the_cause_and_what_to_check() {
        let refused = |refusal, error_type: &str| CredentialsRefused {
            refusal,
            error_type: error_type.to_string(),
            message: None,
        };
        let cases = [
            (
                refused(Refusal::Mismatch, "InvalidSignatureException"),
                None,
                "the target refused the request signature (InvalidSignatureException): check \
                 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            ),
            (
                refused(Refusal::Mismatch, "InvalidSignatureException"),
                Some("profile [ci] of /home/ci/.aws/credentials"),
                "the target refused the request signature (InvalidSignatureException): check \
                 profile [ci] of /home/ci/.aws/credentials",
            ),
            (
                refused(Refusal::ClockSkew, "InvalidSignatureException"),
                None,
                "the target says the request time is off by more than 5 minutes: check this \
                 machine's clock",
            ),
            (
                refused(Refusal::UnknownKey, "UnrecognizedClientException"),
                None,
                "the target does not recognise the access key id (UnrecognizedClientException)",
            ),
            (
                refused(Refusal::Missing, "MissingAuthenticationTokenException"),
                None,
                "the target wants a SigV4 signature (MissingAuthenticationTokenException) and \
                 the requests went out unsigned",
            ),
        ];
        for (refusal, credentials, starts) in cases {
            let said = refusal.explain(credentials);
            assert!(said.starts_with(starts), "{said}");
        }
    }
}
