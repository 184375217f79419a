//! Checking SigV4 signatures against the server's credentials, as AWS does before any
//! operation: in the `Authorization` header on the HTTP planes (`header`), in the query of a
//! presigned URL on MQTT over WebSockets (`presigned`). HMAC-SHA256 by hand over `hmac` and
//! `sha2`: signing is what aws-sigv4 does, and no crate checks. A refusal's words are AWS's, and
//! never hold a secret or a signature.

mod canonical;
mod credentials_file;
pub mod header;
pub mod presigned;
mod time;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use credentials_file::CredentialsFileError;
pub use time::{parse_stamp, stamp};

/// The credentials the server accepts signatures of.
#[derive(Clone)]
pub struct Credentials {
    access_key: String,
    secret: String,
    /// When set, a request must carry this `x-amz-security-token`; when not, any token passes.
    session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from an access key id and its secret.
    pub fn new(access_key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            access_key: access_key.into(),
            secret: secret.into(),
            session_token: None,
        }
    }

    /// The same credentials, temporary: requests must carry `token`.
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), when the
    /// pair is set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let credentials = Self::new(var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
        Some(match var("AWS_SESSION_TOKEN") {
            Some(token) => credentials.with_session_token(token),
            None => credentials,
        })
    }

    /// The profile `profile` of a shared credentials file (`~/.aws/credentials` format).
    pub fn from_file(path: &std::path::Path, profile: &str) -> Result<Self, CredentialsFileError> {
        credentials_file::read(path, profile)
    }
}

/// Why a signature was refused. `Display` is the message AWS answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The request carries no signature at all.
    #[error("Missing Authentication Token")]
    Missing,
    /// The `Authorization` header lacks a member (the named one).
    #[error("{0}")]
    Incomplete(String),
    /// Signed with another access key, or another session token.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// Signed too long ago: the signing time, the earliest accepted, and the server's time.
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - {window} min.)")]
    Expired {
        /// The signing time (`x-amz-date`).
        signed: String,
        /// The earliest time accepted.
        earliest: String,
        /// The server's time.
        now: String,
        /// The window, in minutes.
        window: u64,
    },
    /// Signed too far ahead: the signing time, the latest accepted, and the server's time.
    #[error(
        "Signature not yet current: {signed} is still later than {latest} ({now} + {window} min.)"
    )]
    NotYetCurrent {
        /// The signing time (`x-amz-date`).
        signed: String,
        /// The latest time accepted.
        latest: String,
        /// The server's time.
        now: String,
        /// The window, in minutes.
        window: u64,
    },
    /// The credential scope names another region, service or day (AWS's words).
    #[error("{0}")]
    Scope(String),
    /// The signature does not match the request.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    Mismatch,
}

/// Whom a signature must be scoped to: this server's service and region (any region when
/// `None`).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The signing name (`iot-jobs-data`, `iot`, `iotdevicegateway`).
    pub service: &'a str,
    /// The server's region.
    pub region: Option<&'a str>,
}

impl Scope<'_> {
    /// Checks a credential scope's `day/region/service/aws4_request` against this one and
    /// against the signing time `stamp`, in AWS's words.
    fn check(&self, day: &str, region: &str, service: &str, stamp: &str) -> Result<(), Refused> {
        if self.region.is_some_and(|ours| ours != region) {
            return Err(Refused::Scope(format!(
                "Credential should be scoped to a valid region, not '{region}'. "
            )));
        }
        if service != self.service {
            return Err(Refused::Scope(format!(
                "Credential should be scoped to correct service: '{}'. ",
                self.service
            )));
        }
        if stamp.get(..8) != Some(day) {
            return Err(Refused::Scope(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{day}' != '{}', from '{stamp}'.",
                stamp.get(..8).unwrap_or_default()
            )));
        }
        Ok(())
    }
}

/// A credential (`AKID/day/region/service/aws4_request`) taken apart: the key, the scope
/// (`day/region/service/aws4_request`) and its day, region and service.
fn split_credential(credential: &str) -> Option<(&str, &str, [&str; 3])> {
    let (key, scope) = credential.split_once('/')?;
    let parts: Vec<&str> = scope.split('/').collect();
    let [day, region, service, "aws4_request"] = parts[..] else {
        return None;
    };
    Some((key, scope, [day, region, service]))
}

/// `HMAC-SHA256(key, data)`.
fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `signature` (hex, as sent) is the HMAC of `to_sign` under `key`, compared in
/// constant time.
fn signature_matches(key: &[u8], to_sign: &str, signature: &str) -> bool {
    let Ok(sent) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    mac.verify_slice(&sent).is_ok()
}

/// The key SigV4 derives from the secret for one day, region and service.
fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_signing_key_is_derived() {
        // AWS's documented derived key for this secret, day, region and service.
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn credentials_never_show_their_members() {
        let shown = format!(
            "{:?}",
            Credentials::new("AKIDEXAMPLE", "SECRET").with_session_token("TOKEN")
        );
        assert!(!shown.contains("AKID") && !shown.contains("SECRET") && !shown.contains("TOKEN"));
    }
}
