//! AWS Signature Version 4 for HTTP requests, from the standard environment variables.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("SigV4 signing failed: {0}")]
pub struct SigningError(String);

/// Signs requests with one set of credentials for one region.
#[derive(Clone)]
pub struct Signer {
    identity: Identity,
    region: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally
    /// `AWS_SESSION_TOKEN`; `None` when the key pair is not set.
    pub fn from_env(region: &str) -> Option<Self> {
        let key = std::env::var("AWS_ACCESS_KEY_ID")
            .ok()
            .filter(|v| !v.is_empty())?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
            .ok()
            .filter(|v| !v.is_empty())?;
        let token = std::env::var("AWS_SESSION_TOKEN")
            .ok()
            .filter(|v| !v.is_empty());
        Some(Self {
            identity: Credentials::new(key, secret, token, None, "environment").into(),
            region: region.to_string(),
        })
    }

    /// Adds `authorization`, `x-amz-date` (and the session token) to `request`, signing for
    /// `service` (`iot-jobs-data` or `iot`). The canonical URI is the wire path encoded once
    /// more, as botocore does for every service but S3.
    pub fn sign(
        &self,
        request: &mut http::Request<Vec<u8>>,
        service: &str,
    ) -> Result<(), SigningError> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SigningError(e.to_string()))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| SigningError(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SigningError(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
