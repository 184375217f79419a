//! Client certificates on the mTLS listener: the handshake accepts any certificate whose key
//! the client proves it holds, and the judge decides afterwards whether the certificate is
//! usable, so that each request can be answered CertificateValidationException the way AWS
//! IoT answers it, instead of a failed handshake the client cannot read.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

use super::config::{ClientAuth, TlsError, certificates, provider};

/// What the judge found of a connection's client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateVerdict {
    /// It chains to a trusted CA, is within its validity and not revoked.
    Usable,
    /// The client presented none.
    Missing,
    /// Outside its validity period.
    Expired,
    /// Not issued by a CA the listener trusts.
    UnknownIssuer,
    /// Its serial is on the revocation list.
    Revoked,
    /// Anything else the path check refused (wrong key usage, malformed, …).
    Unusable(String),
}

impl fmt::Display for CertificateVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usable => f.write_str("the client certificate is usable"),
            Self::Missing => f.write_str("no client certificate was presented"),
            Self::Expired => f.write_str("the client certificate is expired or not yet valid"),
            Self::UnknownIssuer => {
                f.write_str("the client certificate is not issued by a trusted CA")
            }
            Self::Revoked => f.write_str("the client certificate is revoked"),
            Self::Unusable(why) => write!(f, "the client certificate is not usable: {why}"),
        }
    }
}

/// Judges client certificates against the trusted CAs and the revocation list.
#[derive(Debug)]
pub struct CertificateJudge {
    anchors: Vec<TrustAnchor<'static>>,
    revoked: HashSet<String>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl CertificateJudge {
    /// Reads the CA file and the revocation list of `auth`.
    pub fn load(auth: &ClientAuth) -> Result<Self, TlsError> {
        let anchors = certificates(&auth.ca)?
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .map(|a| a.to_owned())
                    .map_err(|e| TlsError::file(&auth.ca, format!("not a CA certificate: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let revoked = match &auth.revoked {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| TlsError::file(path, e))?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| {
                    normalise_serial(l)
                        .ok_or_else(|| TlsError::file(path, format!("{l:?} is not a hex serial")))
                })
                .collect::<Result<_, _>>()?,
            None => HashSet::new(),
        };
        Ok(Self {
            anchors,
            revoked,
            algorithms: provider().signature_verification_algorithms,
        })
    }

    /// The verdict on a presented chain (leaf first) at `now`.
    pub fn judge(&self, chain: Option<&[CertificateDer<'_>]>, now: UnixTime) -> CertificateVerdict {
        let Some((leaf, intermediates)) = chain.and_then(<[_]>::split_first) else {
            return CertificateVerdict::Missing;
        };
        let cert = match webpki::EndEntityCert::try_from(leaf) {
            Ok(cert) => cert,
            Err(e) => return CertificateVerdict::Unusable(e.to_string()),
        };
        let checked = cert.verify_for_usage(
            self.algorithms.all,
            &self.anchors,
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        );
        match checked {
            Ok(_) if self.revoked.contains(&serial_hex(cert.serial())) => {
                CertificateVerdict::Revoked
            }
            Ok(_) => CertificateVerdict::Usable,
            Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => {
                CertificateVerdict::Expired
            }
            Err(webpki::Error::UnknownIssuer) => CertificateVerdict::UnknownIssuer,
            Err(e) => CertificateVerdict::Unusable(e.to_string()),
        }
    }
}

/// A serial as the revocation list writes it: lower-case hex without leading zero bytes (DER
/// may add one to keep an INTEGER positive).
pub fn serial_hex(serial: &[u8]) -> String {
    let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
    serial[start..].iter().map(|b| format!("{b:02x}")).collect()
}

/// A hex serial from the list in the form of [`serial_hex`]; `None` for anything not hex.
fn normalise_serial(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes = (0..padded.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(serial_hex(&bytes))
}

/// Asks for a client certificate. On the HTTP mTLS listener it accepts any, once the client
/// has proved it holds the key, and [`CertificateJudge`] decides per request what it is worth;
/// on the MQTT listener the judge refuses an unusable one in the handshake, since MQTT has no
/// answer to carry the reason (spec §5.7: MQTT authentication fails at connect).
#[derive(Debug)]
pub(super) struct AskForCertificate {
    algorithms: WebPkiSupportedAlgorithms,
    refuse_unusable: Option<Arc<CertificateJudge>>,
}

impl AskForCertificate {
    /// Accepts any certificate whose key the client holds.
    pub(super) fn any() -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
            refuse_unusable: None,
        }
    }

    /// Requires a certificate `judge` finds usable.
    pub(super) fn usable(judge: Arc<CertificateJudge>) -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
            refuse_unusable: Some(judge),
        }
    }
}

/// The TLS alert for an unusable certificate, so the client's TLS stack can say what was wrong.
fn refusal(verdict: CertificateVerdict) -> Result<ClientCertVerified, rustls::Error> {
    let error = match verdict {
        CertificateVerdict::Usable => return Ok(ClientCertVerified::assertion()),
        CertificateVerdict::Missing => return Err(rustls::Error::NoCertificatesPresented),
        CertificateVerdict::Expired => CertificateError::Expired,
        CertificateVerdict::UnknownIssuer => CertificateError::UnknownIssuer,
        CertificateVerdict::Revoked => CertificateError::Revoked,
        CertificateVerdict::Unusable(_) => CertificateError::ApplicationVerificationFailure,
    };
    Err(rustls::Error::InvalidCertificate(error))
}

impl ClientCertVerifier for AskForCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.refuse_unusable.is_some()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match &self.refuse_unusable {
            Some(judge) => {
                let chain = [std::slice::from_ref(end_entity), intermediates].concat();
                refusal(judge.judge(Some(&chain), now))
            }
            None => Ok(ClientCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, SerialNumber,
    };

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    /// A CA: its certificate and the issuer that signs with it.
    fn ca(name: &str) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.der().clone(), Issuer::new(params, key))
    }

    /// A leaf with serial 0x0a0b, valid from `from` to `to` days from now, for `usage`.
    fn leaf(
        issuer: &Issuer<'_, KeyPair>,
        (from, to): (i64, i64),
        usage: ExtendedKeyUsagePurpose,
    ) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "dev-1");
        params.extended_key_usages = vec![usage];
        params.serial_number = Some(SerialNumber::from_slice(&[0x0a, 0x0b]));
        let at = |days: i64| {
            let now = SystemTime::now();
            let shift = DAY * days.unsigned_abs() as u32;
            if days < 0 { now - shift } else { now + shift }
        };
        params.not_before = at(from).into();
        params.not_after = at(to).into();
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, issuer).unwrap().der().clone()
    }

    #[test]
    fn each_unusable_certificate_gets_its_own_verdict() {
        let (ca_der, issuer) = ca("trusted");
        let (_, stranger) = ca("stranger");
        let judge = |revoked: &[&str]| CertificateJudge {
            anchors: vec![
                webpki::anchor_from_trusted_cert(&ca_der)
                    .unwrap()
                    .to_owned(),
            ],
            revoked: revoked.iter().filter_map(|s| normalise_serial(s)).collect(),
            algorithms: provider().signature_verification_algorithms,
        };
        let client = ExtendedKeyUsagePurpose::ClientAuth;
        let cases: Vec<(
            &str,
            Option<CertificateDer<'static>>,
            &[&str],
            CertificateVerdict,
        )> = vec![
            (
                "usable",
                Some(leaf(&issuer, (-1, 30), client.clone())),
                &[],
                CertificateVerdict::Usable,
            ),
            ("none", None, &[], CertificateVerdict::Missing),
            (
                "expired",
                Some(leaf(&issuer, (-30, -1), client.clone())),
                &[],
                CertificateVerdict::Expired,
            ),
            (
                "not yet valid",
                Some(leaf(&issuer, (1, 30), client.clone())),
                &[],
                CertificateVerdict::Expired,
            ),
            (
                "unknown issuer",
                Some(leaf(&stranger, (-1, 30), client.clone())),
                &[],
                CertificateVerdict::UnknownIssuer,
            ),
            (
                "revoked",
                Some(leaf(&issuer, (-1, 30), client.clone())),
                &["a0b"],
                CertificateVerdict::Revoked,
            ),
            (
                "other serial revoked",
                Some(leaf(&issuer, (-1, 30), client)),
                &["a0c"],
                CertificateVerdict::Usable,
            ),
        ];
        for (what, cert, revoked, expected) in cases {
            let chain = cert.map(|c| vec![c]);
            let verdict = judge(revoked).judge(chain.as_deref(), UnixTime::now());
            assert_eq!(verdict, expected, "{what}");
        }
        let server_only = leaf(&issuer, (-1, 30), ExtendedKeyUsagePurpose::ServerAuth);
        let verdict = judge(&[]).judge(Some(&[server_only]), UnixTime::now());
        assert!(
            matches!(verdict, CertificateVerdict::Unusable(_)),
            "{verdict:?}"
        );
    }

    #[test]
    fn serials_compare_without_leading_zeros_case_or_colons() {
        for (listed, presented) in [
            ("0a1b", &[0x0a, 0x1b][..]),
            ("A1:B2", &[0x00, 0xa1, 0xb2][..]),
            ("00ff", &[0xff][..]),
            ("abc", &[0x0a, 0xbc][..]),
        ] {
            assert_eq!(
                normalise_serial(listed).as_deref(),
                Some(serial_hex(presented).as_str()),
                "{listed}"
            );
        }
        for bad in ["", "xyz", "12 34"] {
            assert_eq!(normalise_serial(bad), None, "{bad:?}");
        }
    }
}
