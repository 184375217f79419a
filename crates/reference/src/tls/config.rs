//! rustls server configurations from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::client_cert::{AskForAnyCertificate, CertificateJudge};

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

/// The server configuration for `files`; with `client_auth`, the handshake asks for a client
/// certificate and the returned judge says what it is worth.
pub fn server_config(
    files: &TlsFiles,
    client_auth: Option<&ClientAuth>,
) -> Result<(Arc<ServerConfig>, Option<Arc<CertificateJudge>>), TlsError> {
    let chain = certificates(&files.cert)?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::file(&files.key, e))?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let (builder, judge) = match client_auth {
        Some(auth) => {
            let judge = Arc::new(CertificateJudge::load(auth)?);
            let verifier: Arc<dyn ClientCertVerifier> = Arc::new(AskForAnyCertificate::new());
            (builder.with_client_cert_verifier(verifier), Some(judge))
        }
        None => (builder.with_no_client_auth(), None),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), judge))
}
