//! SigV4 on the HTTP planes: with credentials, every request must carry a signature that
//! checks (in the `Authorization` header, or a presigned query), or it is answered the way AWS
//! answers it, before any operation: 403 MissingAuthenticationTokenException,
//! UnrecognizedClientException or InvalidSignatureException (400 IncompleteSignatureException
//! for a header that lacks a member). Every answer carries a `Date` header (hyper writes one),
//! which the SDKs that correct clock skew read.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jobcert_contract::ErrorKind;

use super::wire::{ApiError, read_body, request_id};
use crate::sigv4::header::{self, Signed};
use crate::sigv4::presigned::{self, Presigned};
use crate::sigv4::{Credentials, Refused, Scope};

/// What one plane checks signatures against.
#[derive(Debug, Clone)]
pub struct Authenticator {
    credentials: Credentials,
    /// The plane's signing name: `iot-jobs-data` or `iot`.
    service: &'static str,
    region: String,
}

impl Authenticator {
    /// Checks signatures for `service` in `region` against `credentials`.
    pub fn new(credentials: Credentials, service: &'static str, region: &str) -> Self {
        Self {
            credentials,
            service,
            region: region.to_string(),
        }
    }
}

/// The error AWS answers a refusal with.
fn api_error(refused: &Refused) -> ApiError {
    let kind = match refused {
        Refused::Missing => ErrorKind::MissingAuthenticationToken,
        Refused::Incomplete(_) => ErrorKind::IncompleteSignature,
        Refused::UnknownKey => ErrorKind::UnrecognizedClient,
        Refused::Expired { .. }
        | Refused::NotYetCurrent { .. }
        | Refused::Scope(_)
        | Refused::Mismatch => ErrorKind::InvalidSignature,
    };
    ApiError::new(kind, refused.to_string())
}

/// Passes the request on when its signature checks; answers the refusal otherwise.
pub async fn require_signature(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // HTTP/2 carries the host as `:authority`, which clients sign as `host`.
    if !parts.headers.contains_key(HOST)
        && let Some(authority) = parts.uri.authority().map(|a| a.as_str().to_string())
        && let Ok(value) = HeaderValue::from_str(&authority)
    {
        parts.headers.insert(HOST, value);
    }
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(e) => return request_id(e.into_response()).await,
    };
    let scope = Scope {
        service: auth.service,
        region: Some(&auth.region),
    };
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or_default());
    let now = SystemTime::now();
    let checked = if !parts.headers.contains_key("authorization") && presigned::is_presigned(query)
    {
        let host = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let request = Presigned {
            method: parts.method.as_str(),
            host,
            path,
            query,
            body: &body,
        };
        presigned::verify(request, &auth.credentials, scope, now)
    } else {
        let request = Signed {
            method: parts.method.as_str(),
            path,
            query,
            headers: &parts.headers,
            body: &body,
        };
        header::verify(request, &auth.credentials, scope, now)
    };
    match checked {
        Ok(()) => next.run(Request::from_parts(parts, body.into())).await,
        Err(refused) => {
            let error = api_error(&refused);
            tracing::debug!(service = auth.service, "refused: {refused}");
            request_id(error.into_response()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcert_contract::error_status;

    #[test]
    fn each_refusal_is_answered_with_the_aws_type_and_status() {
        let cases = [
            (Refused::Missing, "MissingAuthenticationTokenException", 403),
            (
                Refused::Incomplete("x".into()),
                "IncompleteSignatureException",
                400,
            ),
            (Refused::UnknownKey, "UnrecognizedClientException", 403),
            (Refused::Mismatch, "InvalidSignatureException", 403),
            (Refused::Scope("x".into()), "InvalidSignatureException", 403),
            (
                Refused::Expired {
                    signed: String::new(),
                    earliest: String::new(),
                    now: String::new(),
                    window: 5,
                },
                "InvalidSignatureException",
                403,
            ),
        ];
        for (refused, type_name, status) in cases {
            let kind = api_error(&refused).kind();
            assert_eq!(
                (kind.type_name(), error_status(kind)),
                (type_name, status),
                "{refused:?}"
            );
        }
    }
}
