//! AWS Signature Version 4 for HTTP requests, with the credentials `credentials` finds.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// Environment variable of the access key id.
pub const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
/// Environment variable of the secret access key.
pub const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";
/// Environment variable of the session token of temporary credentials.
pub const SESSION_TOKEN_VAR: &str = "AWS_SESSION_TOKEN";

/// How to have requests signed, for messages about unsigned ones. Names the variables only:
/// their values never appear in any message.
pub const HOW_TO_SIGN: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
     AWS_SESSION_TOKEN for temporary credentials) in the environment, or a profile of the shared \
     credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, AWS_PROFILE or \
     default), any values for an emulator that checks no signature, with the region in \
     --region or AWS_REGION";

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("SigV4 signing failed: {0}")]
pub struct SigningError(String);

/// Signs requests with one set of credentials for one region.
#[derive(Clone)]
pub struct Signer {
    identity: Identity,
    region: String,
    /// Where the credentials were found, for messages.
    source: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.region)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from the first source of credentials the AWS SDKs would read: the
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then
    /// the shared credentials file; `None` when neither has a key pair.
    pub fn discover(region: &str) -> Option<Self> {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let found = super::credentials::discover(|name| std::env::var(name).ok(), home.as_deref())?;
        Some(Self::new(found.key, found.secret, found.token, region).sourced(found.source))
    }

    /// A signer from explicit credentials.
    pub fn new(key: String, secret: String, token: Option<String>, region: &str) -> Self {
        Self {
            identity: Credentials::new(key, secret, token, None, "jobcert").into(),
            region: region.to_string(),
            source: "the credentials given".to_string(),
        }
    }

    /// The same signer, its credentials said to come from `source`.
    #[must_use]
    fn sourced(mut self, source: String) -> Self {
        self.source = source;
        self
    }

    /// Where the credentials were found (`AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`, or a
    /// profile of a file), to name in messages; never a value.
    pub fn source(&self) -> &str {
        &self.source
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

impl Signer {
    /// `url` (`ws://host:port/path`) presigned for `service` the way AWS IoT's device SDKs
    /// presign MQTT over WebSockets: a `GET` with the signature in the query, valid for five
    /// minutes, the session token added after signing.
    pub fn presign(&self, url: &str, service: &str) -> Result<String, SigningError> {
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(std::time::Duration::from_secs(300));
        settings.session_token_mode = SessionTokenMode::Exclude;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| SigningError(e.to_string()))?
            .into();
        let host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let signable = SignableRequest::new(
            "GET",
            url,
            std::iter::once(("host", host)),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| SigningError(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SigningError(e.to_string()))?
            .into_parts();
        let mut request = http::Request::builder()
            .uri(url)
            .body(())
            .map_err(|e| SigningError(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_for_the_service_and_region_and_never_shows_the_secret() {
        let signer = Signer::new(
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/SECRET".into(),
            Some("TOKEN123".into()),
            "eu-west-1",
        );
        let mut request = http::Request::builder()
            .method("PUT")
            .uri("http://127.0.0.1:9080/things/my%3Athing/jobs/$next")
            .header("content-type", "application/json")
            .body(b"{}".to_vec())
            .unwrap();
        signer.sign(&mut request, "iot-jobs-data").unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(
            auth.contains("/eu-west-1/iot-jobs-data/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=") && auth.contains("Signature="),
            "{auth}"
        );
        assert!(request.headers().contains_key("x-amz-date"));
        assert_eq!(request.headers()["x-amz-security-token"], "TOKEN123");
        assert!(!auth.contains("SECRET"));
        assert!(
            !format!("{signer:?}").contains("SECRET") && !format!("{signer:?}").contains("AKID")
        );
    }
}
