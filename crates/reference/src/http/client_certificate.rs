//! The mTLS data plane's answer to an unusable client certificate: the connection was
//! accepted, and each request on it is refused with CertificateValidationException, as AWS
//! IoT's port 8443 does (spec §2.1, §5.7). Under the `own-thing` policy a request about
//! another thing than the certificate's is refused 403 ForbiddenException, the AWS IoT data
//! planes' answer to a request its policy does not allow (not in the Jobs model).

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jobcert_contract::ErrorKind;

use super::wire::{ApiError, path_segments, request_id};
use crate::policy::{Policy, Principal};
use crate::tls::{CertificateVerdict, Peer};

/// Passes the request on when its connection's certificate is usable and `policy` lets it act
/// on the thing in the path; refuses it otherwise.
pub async fn require_usable(
    State(policy): State<Policy>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|info| info.0.clone());
    let refused = match peer.as_ref().and_then(|p| p.certificate.as_deref()) {
        Some(CertificateVerdict::Usable) => None,
        Some(refused) => Some(refused.to_string()),
        None => Some(CertificateVerdict::Missing.to_string()),
    };
    if let Some(refused) = refused {
        return request_id(
            ApiError::new(ErrorKind::CertificateValidation, refused).into_response(),
        )
        .await;
    }
    let principal = Principal::new(policy, peer.and_then(|p| p.thing).map(|t| t.to_string()));
    let thing = match path_segments(request.uri().path()) {
        Ok(segments) if segments.first().is_some_and(|s| s == "things") => segments.get(1).cloned(),
        _ => None,
    };
    if thing.is_some_and(|thing| !principal.may_act_on(&thing)) {
        return request_id(forbidden()).await;
    }
    next.run(request).await
}

/// 403 ForbiddenException, as AWS IoT's data planes answer a request the policy refuses.
fn forbidden() -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        [("content-type", "application/json")],
        r#"{"message":"Forbidden"}"#,
    )
        .into_response();
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("ForbiddenException"),
    );
    response
}
