//! TLS for the HTTP listeners: `https://` data and control planes, and the mTLS data plane
//! that asks for a client certificate and judges it per request, as AWS IoT does on port 8443
//! (the handshake completes; an unusable certificate is answered with
//! CertificateValidationException at the HTTP layer, spec §2.1, §5.7).
//!
//! `config.rs` reads the PEM files into a rustls configuration, `client_cert.rs` accepts any
//! client certificate during the handshake and judges it afterwards, `listener.rs` is the
//! axum listener that performs handshakes off the accept loop and hands each connection over
//! with what was judged of its certificate.

mod client_cert;
mod config;
mod listener;
mod subject;

pub use client_cert::{CertificateJudge, CertificateVerdict, serial_hex};
pub use config::{
    ClientAuth, TlsError, TlsFiles, client_config, mqtt_server_config, server_config,
    websocket_server_config,
};
pub use listener::{Peer, TlsListener};
pub use subject::common_name;
