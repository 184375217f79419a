//! TLS as a client: which server certificates a run trusts (the system roots, only `--ca`,
//! or none under `--insecure`) and which client certificate it presents (`--cert/--key`, with
//! `{thing}` in the paths for one certificate per device). The pooled client and each device's
//! own connection are configured from the same [`ClientTls`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The placeholder a certificate path template replaces with the device's thing name.
pub const THING_PLACEHOLDER: &str = "{thing}";

/// A TLS file or setting that cannot be used; names the file and why.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// rustls refused the combination (a key that does not match the certificate, say).
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Which server certificates are trusted.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The operating system's roots.
    #[default]
    SystemRoots,
    /// Only these CA certificates (`--ca`).
    Only(Arc<Vec<CertificateDer<'static>>>),
    /// Any certificate at all (`--insecure`): the connection is encrypted, not authenticated.
    Insecure,
}

/// A client certificate and its key, as PEM paths; `{thing}` in either names a device's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    /// The certificate chain (leaf first).
    pub cert: String,
    /// Its private key.
    pub key: String,
}

impl IdentityFiles {
    /// Whether the paths name one certificate per device.
    pub fn per_device(&self) -> bool {
        self.cert.contains(THING_PLACEHOLDER) || self.key.contains(THING_PLACEHOLDER)
    }

    /// The paths for `thing`.
    fn resolve(&self, thing: &str) -> (PathBuf, PathBuf) {
        let at = |p: &str| PathBuf::from(p.replace(THING_PLACEHOLDER, thing));
        (at(&self.cert), at(&self.key))
    }
}

/// A certificate chain and its key, read and parsed.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The PEM of both, as reqwest takes an identity.
    pem: Vec<u8>,
}

impl Identity {
    /// Reads `cert` and `key` (PEM).
    pub fn read(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = certificates(cert)?;
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
        let mut pem = std::fs::read(cert).map_err(|e| file_error(cert, e))?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).map_err(|e| file_error(key, e))?);
        Ok(Self {
            chain,
            key: key_der,
            pem,
        })
    }

    /// An identity from PEM text already in memory (certificates made for one check).
    pub fn from_pem(cert: &str, key: &str) -> Result<Self, TlsError> {
        let parse =
            |what: &str, e: &dyn std::fmt::Display| TlsError::Config(format!("{what}: {e}"));
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| parse("certificate", &e))?;
        let key_der =
            PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| parse("key", &e))?;
        Ok(Self {
            chain,
            key: key_der,
            pem: format!("{cert}\n{key}").into_bytes(),
        })
    }
}

/// How a run speaks TLS to its target.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// Which server certificates are trusted.
    pub trust: Trust,
    /// The client certificate presented, if any.
    pub identity: Option<IdentityFiles>,
}

impl ClientTls {
    /// Trusts `ca` (PEM) only, or any certificate when `insecure`, or the system roots;
    /// presents `identity`. Reads every file now, so that a bad one stops the run before it
    /// starts; a per-device template is checked when each device connects.
    pub fn new(
        ca: Option<&Path>,
        insecure: bool,
        identity: Option<IdentityFiles>,
    ) -> Result<Self, TlsError> {
        let trust = match (ca, insecure) {
            (_, true) => Trust::Insecure,
            (Some(ca), false) => Trust::Only(Arc::new(certificates(ca)?)),
            (None, false) => Trust::SystemRoots,
        };
        let tls = Self { trust, identity };
        tls.reqwest(reqwest::Client::builder(), None)?
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(tls)
    }

    /// The identity the pooled client presents: the one certificate, when it is not a
    /// per-device template (devices of a pool share their connections).
    pub fn shared_identity(&self) -> Result<Option<Identity>, TlsError> {
        match &self.identity {
            Some(files) if !files.per_device() => {
                Identity::read(Path::new(&files.cert), Path::new(&files.key)).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The identity device `thing` presents on a connection of its own.
    pub fn device_identity(&self, thing: &str) -> Result<Option<Identity>, TlsError> {
        match &self.identity {
            Some(files) => {
                let (cert, key) = files.resolve(thing);
                Identity::read(&cert, &key).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The client certificate file device `thing` presents, if any: a path, for messages.
    pub fn certificate_path(&self, thing: &str) -> Option<PathBuf> {
        self.identity.as_ref().map(|files| files.resolve(thing).0)
    }

    /// `builder` trusting and presenting what this says, with `identity` in place of
    /// [`Self::shared_identity`] when given.
    pub fn reqwest(
        &self,
        mut builder: reqwest::ClientBuilder,
        identity: Option<&Identity>,
    ) -> Result<reqwest::ClientBuilder, TlsError> {
        builder = match &self.trust {
            Trust::SystemRoots => builder,
            Trust::Only(cas) => builder.tls_certs_only(
                cas.iter()
                    .map(|der| reqwest::Certificate::from_der(der))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TlsError::Config(e.to_string()))?,
            ),
            Trust::Insecure => builder.tls_danger_accept_invalid_certs(true),
        };
        let shared = match identity {
            Some(_) => None,
            None => self.shared_identity()?,
        };
        if let Some(identity) = identity.or(shared.as_ref()) {
            builder = builder.identity(
                reqwest::Identity::from_pem(&identity.pem)
                    .map_err(|e| TlsError::Config(format!("client certificate: {e}")))?,
            );
        }
        Ok(builder)
    }

    /// A rustls client configuration for one connection presenting `identity`.
    pub fn rustls(&self, identity: Option<Identity>) -> Result<Arc<ClientConfig>, TlsError> {
        self.rustls_offering(identity, None)
    }

    /// [`Self::rustls`], offering the ALPN protocol `alpn` in the handshake when given.
    pub fn rustls_offering(
        &self,
        identity: Option<Identity>,
        alpn: Option<&[u8]>,
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &self.trust {
            Trust::SystemRoots => builder.with_root_certificates(system_roots()),
            Trust::Only(cas) => {
                let mut roots = RootCertStore::empty();
                for ca in cas.iter() {
                    roots
                        .add(ca.clone())
                        .map_err(|e| TlsError::Config(format!("--ca: {e}")))?;
                }
                builder.with_root_certificates(roots)
            }
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate::new())),
        };
        let mut config = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain, id.key)
                .map_err(|e| TlsError::Config(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.into_iter().map(<[u8]>::to_vec).collect();
        Ok(Arc::new(config))
    }
}

/// The name a certificate must be valid for: the host of `address` (`host:port`).
pub fn server_name(address: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match address.rsplit_once(':') {
        Some((host, _)) => host,
        None => address,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError::Config(format!("{host} cannot name a TLS server: {e}")))
}

/// Every certificate of a PEM file, in order.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The provider every configuration uses, named rather than taken from the process default
/// (more than one provider is compiled into the tree).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The operating system's roots, read once per process; unreadable ones are skipped.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Arc::new(roots)
        })
        .clone()
}

/// `--insecure`: accepts any server certificate, still checking the handshake's signatures.
#[derive(Debug)]
struct AnyServerCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyServerCertificate {
    fn new() -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case(
        "pki/{thing}.pem",
        "pki/{thing}.key",
        true,
        "pki/dev-1.pem",
        "pki/dev-1.key"
    )]
    #[case("pki/a.pem", "pki/{thing}.key", true, "pki/a.pem", "pki/dev-1.key")]
    #[case("pki/a.pem", "pki/a.key", false, "pki/a.pem", "pki/a.key")]
    fn templates_name_each_device_s_files(
        #[case] cert: &str,
        #[case] key: &str,
        #[case] per_device: bool,
        #[case] cert_at: &str,
        #[case] key_at: &str,
    ) {
        let files = IdentityFiles {
            cert: cert.into(),
            key: key.into(),
        };
        assert_eq!(files.per_device(), per_device);
        assert_eq!(
            files.resolve("dev-1"),
            (PathBuf::from(cert_at), PathBuf::from(key_at))
        );
    }

    #[test]
    fn unreadable_files_are_named_and_insecure_trusts_anything() {
        let missing = Path::new("/nonexistent/ca.pem");
        let e = ClientTls::new(Some(missing), false, None).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/ca.pem:"), "{e}");
        let identity = IdentityFiles {
            cert: "/nonexistent/dev.pem".into(),
            key: "/nonexistent/dev.key".into(),
        };
        let e = ClientTls::new(None, false, Some(identity)).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/dev.pem:"), "{e}");
        let template = IdentityFiles {
            cert: "/nonexistent/{thing}.pem".into(),
            key: "/nonexistent/{thing}.key".into(),
        };
        let tls = ClientTls::new(None, true, Some(template)).expect("checked per device");
        assert!(matches!(tls.trust, Trust::Insecure));
        let e = tls.device_identity("dev-1").unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/dev-1.pem:"), "{e}");
    }

    #[rstest]
    #[case("127.0.0.1:8443", true)]
    #[case("localhost:443", true)]
    #[case("[::1]:8443", true)]
    #[case("jobs.example.com", true)]
    #[case("bad host:1", false)]
    fn server_names_come_from_the_host(#[case] address: &str, #[case] ok: bool) {
        assert_eq!(server_name(address).is_ok(), ok, "{address}");
    }
}
