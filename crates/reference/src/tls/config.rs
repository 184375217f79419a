//! rustls server configurations from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::client_cert::{AskForCertificate, CertificateJudge};

/// The server's certificate chain and private key, as PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// Its private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// What the mTLS listener trusts: the CAs that issue device certificates, and the serials it
/// no longer accepts.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    /// The CA certificates (PEM) device certificates must chain to.
    pub ca: PathBuf,
    /// A revocation list: one serial a line, hex (as `jobcert pki` writes `revoked.txt`).
    pub revoked: Option<PathBuf>,
}

/// A TLS file that cannot be used; names the file and why.
#[derive(Debug, thiserror::Error)]
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
    Config(#[from] rustls::Error),
}

impl TlsError {
    pub(super) fn file(path: &Path, reason: impl ToString) -> Self {
        Self::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// The provider every configuration uses, named rather than taken from the process default
/// (more than one provider is compiled into the tree).
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Every certificate of a PEM file, in order.
pub(super) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::file(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::file(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// ALPN of MQTT over TLS on port 443 at AWS IoT; `mqtt` is what other clients may offer.
const MQTT_ALPN: [&[u8]; 2] = [b"x-amzn-mqtt-ca", b"mqtt"];

/// The HTTP server configuration for `files`; with `client_auth`, the handshake asks for a
/// client certificate and the returned judge says what it is worth, request by request.
pub fn server_config(
    files: &TlsFiles,
    client_auth: Option<&ClientAuth>,
) -> Result<(Arc<ServerConfig>, Option<Arc<CertificateJudge>>), TlsError> {
    let judge = client_auth
        .map(CertificateJudge::load)
        .transpose()?
        .map(Arc::new);
    let verifier = judge
        .as_ref()
        .map(|_| Arc::new(AskForCertificate::any()) as Arc<dyn ClientCertVerifier>);
    let config = build(files, verifier, &[b"h2", b"http/1.1"])?;
    Ok((config, judge))
}

/// The configuration of MQTT over WebSockets: HTTP/1.1 only, since the upgrade needs it.
pub fn websocket_server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    build(files, None, &[b"http/1.1"])
}

/// The configuration of MQTT over TLS: a client certificate is required and one
/// `client_auth` finds unusable fails the handshake; ALPN `x-amzn-mqtt-ca` is taken, as on
/// AWS IoT's port 443, and so is a client that offers none, as on 8883.
pub fn mqtt_server_config(
    files: &TlsFiles,
    client_auth: &ClientAuth,
) -> Result<Arc<ServerConfig>, TlsError> {
    let judge = Arc::new(CertificateJudge::load(client_auth)?);
    build(
        files,
        Some(Arc::new(AskForCertificate::usable(judge))),
        &MQTT_ALPN,
    )
}

/// A client configuration trusting the CAs in `ca`, presenting `identity` when asked.
pub fn client_config(
    ca: &Path,
    identity: Option<&TlsFiles>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::file(ca, format!("not a CA certificate: {e}")))?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some(files) => {
            let key = PrivateKeyDer::from_pem_file(&files.key)
                .map_err(|e| TlsError::file(&files.key, e))?;
            builder.with_client_auth_cert(certificates(&files.cert)?, key)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn build(
    files: &TlsFiles,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(&files.cert)?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::file(&files.key, e))?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
