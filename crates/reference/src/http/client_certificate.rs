//! The mTLS data plane's answer to an unusable client certificate: the connection was
//! accepted, and each request on it is refused with CertificateValidationException, as AWS
//! IoT's port 8443 does (spec §2.1, §5.7).

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jobcert_contract::ErrorKind;

use super::wire::{ApiError, request_id};
use crate::tls::{CertificateVerdict, Peer};

/// Passes the request on when its connection's certificate is usable; refuses it otherwise.
pub async fn require_usable(request: Request, next: Next) -> Response {
    let verdict = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .and_then(|info| info.0.certificate.clone());
    let refused = match verdict.as_deref() {
        Some(CertificateVerdict::Usable) => return next.run(request).await,
        Some(refused) => refused.to_string(),
        None => CertificateVerdict::Missing.to_string(),
    };
    request_id(ApiError::new(ErrorKind::CertificateValidation, refused).into_response()).await
}
