//! Checking a SigV4 query-string signature (a presigned URL), as AWS IoT does for MQTT over
//! WebSockets: the client signs `GET /mqtt` with its credentials for the service
//! `iotdevicegateway` and puts the signature in the query. AWS IoT's clients add a session
//! token after signing (`X-Amz-Security-Token` is then not part of what was signed), others sign
//! it too; both are accepted. The payload hash is that of an empty body (`UNSIGNED-PAYLOAD`
//! also accepted, as some signers use it for presigned URLs).

use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How far a signature's time may be from the server's, either way, when the URL names no
/// expiry: SigV4's 15 minutes.
const SKEW: Duration = Duration::from_secs(15 * 60);
/// The hash of an empty payload.
const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The credentials the server accepts signatures of.
#[derive(Clone)]
pub struct Credentials {
    access_key: String,
    secret: String,
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
        }
    }

    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, when both are set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self::new(
            var("AWS_ACCESS_KEY_ID")?,
            var("AWS_SECRET_ACCESS_KEY")?,
        ))
    }
}

/// Why a signature was refused; the words are what the server answers (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A member of the signature is missing or malformed.
    #[error("the request is not signed with SigV4 query parameters: {0}")]
    Unsigned(&'static str),
    /// Signed with another access key.
    #[error("the security token included in the request is invalid")]
    UnknownKey,
    /// Signed too long ago, or too far ahead.
    #[error("signature expired or not yet current: {0}")]
    Expired(String),
    /// The signature does not match the request.
    #[error("the request signature we calculated does not match the signature you provided")]
    Mismatch,
}

/// A request to check: its method, host header, path and raw query string.
#[derive(Debug, Clone, Copy)]
pub struct Presigned<'a> {
    /// `GET` for a WebSocket upgrade.
    pub method: &'a str,
    /// The `host` header as sent.
    pub host: &'a str,
    /// The path, as sent (already encoded).
    pub path: &'a str,
    /// The query string, as sent.
    pub query: &'a str,
}

/// Checks `request`'s query signature against `credentials` at `now`, for `service`.
pub fn verify(
    request: Presigned<'_>,
    credentials: &Credentials,
    service: &str,
    now: SystemTime,
) -> Result<(), Refused> {
    let params: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(Refused::Unsigned("X-Amz-Algorithm"));
    }
    let credential = get("X-Amz-Credential").ok_or(Refused::Unsigned("X-Amz-Credential"))?;
    let stamp = get("X-Amz-Date").ok_or(Refused::Unsigned("X-Amz-Date"))?;
    let signed_headers =
        get("X-Amz-SignedHeaders").ok_or(Refused::Unsigned("X-Amz-SignedHeaders"))?;
    let signature = get("X-Amz-Signature").ok_or(Refused::Unsigned("X-Amz-Signature"))?;
    let (key, scope) = credential
        .split_once('/')
        .ok_or(Refused::Unsigned("X-Amz-Credential"))?;
    let parts: Vec<&str> = scope.split('/').collect();
    let [day, region, signed_service, "aws4_request"] = parts[..] else {
        return Err(Refused::Unsigned("X-Amz-Credential"));
    };
    if key != credentials.access_key {
        return Err(Refused::UnknownKey);
    }
    if signed_service != service || !stamp.starts_with(day) {
        return Err(Refused::Mismatch);
    }
    let signed_at = parse_stamp(stamp).ok_or(Refused::Unsigned("X-Amz-Date"))?;
    let expires = get("X-Amz-Expires")
        .map(|e| {
            e.parse::<u64>()
                .map_err(|_| Refused::Unsigned("X-Amz-Expires"))
        })
        .transpose()?;
    current(signed_at, expires, now)?;
    if signed_headers != "host" {
        return Err(Refused::Unsigned("X-Amz-SignedHeaders (host only)"));
    }
    let key = signing_key(&credentials.secret, day, region, service);
    for with_token in [false, true] {
        let query = canonical_query(&params, with_token);
        for payload in [EMPTY_HASH, "UNSIGNED-PAYLOAD"] {
            let canonical = format!(
                "{}\n{}\n{query}\nhost:{}\n\nhost\n{payload}",
                request.method,
                request.path,
                request.host.trim()
            );
            let to_sign = format!(
                "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            if hex::encode(hmac(&key, to_sign.as_bytes())) == signature {
                return Ok(());
            }
        }
    }
    Err(Refused::Mismatch)
}

/// Whether a signature made at `signed_at`, valid `expires` seconds when given, is current.
fn current(signed_at: SystemTime, expires: Option<u64>, now: SystemTime) -> Result<(), Refused> {
    let ahead = signed_at.duration_since(now).unwrap_or_default();
    let behind = now.duration_since(signed_at).unwrap_or_default();
    let limit = expires.map_or(SKEW, Duration::from_secs);
    if ahead > SKEW {
        return Err(Refused::Expired(format!(
            "signed {} s ahead of the server's clock",
            ahead.as_secs()
        )));
    }
    if behind > limit {
        return Err(Refused::Expired(format!(
            "signed {} s ago, valid for {} s",
            behind.as_secs(),
            limit.as_secs()
        )));
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<u64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(9..11)?, n(11..13)?, n(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for years from 1970.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + s))
}

/// The query, sorted and encoded as SigV4 wants, without the signature (and without the
/// session token unless `with_token`).
fn canonical_query(params: &[(String, String)], with_token: bool) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature" && (with_token || k != "X-Amz-Security-Token"))
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// SigV4's URI encoding: every byte but the unreserved ones as `%XX`.
fn encode(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL signed by the signer the harness uses (aws-sigv4) would do as well; this one is
    /// AWS's own documented example of a presigned request (IAM `ListUsers`, GET, no body),
    /// taken apart into the members this check reads.
    fn documented() -> (Presigned<'static>, Credentials, SystemTime) {
        let request = Presigned {
            method: "GET",
            host: "iam.amazonaws.com",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                    &X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fiam%2Faws4_request\
                    &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                    &X-Amz-Signature=SIGNATURE",
        };
        let credentials =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        (
            request,
            credentials,
            parse_stamp("20150830T123600Z").unwrap(),
        )
    }

    /// The documented example with the signature this check computes put in.
    fn signed(query: &str, credentials: &Credentials) -> String {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let canonical = format!(
            "GET\n/\n{}\nhost:iam.amazonaws.com\n\nhost\n{EMPTY_HASH}",
            canonical_query(&params, false)
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = signing_key(&credentials.secret, "20150830", "us-east-1", "iam");
        query.replace("SIGNATURE", &hex::encode(hmac(&key, to_sign.as_bytes())))
    }

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
    fn a_signature_is_accepted_only_as_signed() {
        let (request, credentials, now) = documented();
        let query = signed(request.query, &credentials);
        let ok = Presigned {
            query: &query,
            ..request
        };
        assert_eq!(verify(ok, &credentials, "iam", now), Ok(()));
        // A session token added after signing is not part of what was signed.
        let with_token = format!("{query}&X-Amz-Security-Token=abc");
        let token = Presigned {
            query: &with_token,
            ..request
        };
        assert_eq!(verify(token, &credentials, "iam", now), Ok(()));

        let cases: Vec<(String, Option<Credentials>, u64, Refused)> = vec![
            (
                query.replace("ListUsers", "ListRoles"),
                None,
                0,
                Refused::Mismatch,
            ),
            (
                query.clone(),
                Some(Credentials::new("AKIDEXAMPLE", "other")),
                0,
                Refused::Mismatch,
            ),
            (
                query.clone(),
                Some(Credentials::new("AKIDOTHER", "x")),
                0,
                Refused::UnknownKey,
            ),
            (
                query.clone(),
                None,
                61,
                Refused::Expired("signed 61 s ago, valid for 60 s".into()),
            ),
            (
                query.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
                None,
                0,
                Refused::Unsigned("X-Amz-Algorithm"),
            ),
        ];
        for (q, other, later, refused) in cases {
            let request = Presigned {
                query: &q,
                ..request
            };
            let credentials = other.unwrap_or_else(|| credentials.clone());
            let at = now + Duration::from_secs(later);
            assert_eq!(
                verify(request, &credentials, "iam", at),
                Err(refused),
                "{q}"
            );
        }
        let host = Presigned {
            host: "other.example",
            query: &query,
            ..request
        };
        assert_eq!(
            verify(host, &credentials, "iam", now),
            Err(Refused::Mismatch)
        );
    }

    #[test]
    fn a_signature_from_the_future_is_refused_past_the_skew() {
        let (_, _, now) = documented();
        assert!(current(now + Duration::from_secs(14 * 60), None, now).is_ok());
        assert!(current(now + Duration::from_secs(16 * 60), None, now).is_err());
        assert!(current(now - Duration::from_secs(16 * 60), None, now).is_err());
    }

    #[test]
    fn stamps_read_as_utc() {
        assert_eq!(
            parse_stamp("19700101T000001Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
        );
        assert_eq!(
            parse_stamp("20150830T123600Z")
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_440_938_160
        );
        assert_eq!(parse_stamp("20151330T123600Z"), None);
        assert_eq!(parse_stamp("2015-08-30"), None);
    }
}
