//! A SigV4 query-string signature (a presigned URL), as AWS IoT checks MQTT over WebSockets: the
//! client signs `GET /mqtt` for the service `iotdevicegateway` and puts the signature in the
//! query. AWS IoT's clients add a session token after signing (`X-Amz-Security-Token` is then
//! not part of what was signed), others sign it too; both are accepted, and when the server's
//! credentials are temporary the token must be theirs. The payload hash is that of the body
//! (`UNSIGNED-PAYLOAD` also accepted, as some signers use it for presigned URLs).

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{Credentials, Refused, Scope, canonical, signature_matches, signing_key, time};

/// How far a signature's time may be from the server's, either way, when the URL names no
/// expiry: SigV4's 15 minutes.
const SKEW: Duration = Duration::from_secs(15 * 60);

/// A request to check: its method, host header, path and query as sent, and its body.
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
    /// The body (empty for an upgrade).
    pub body: &'a [u8],
}

/// Whether `query` carries a query-string signature at all.
pub fn is_presigned(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "X-Amz-Signature")
}

/// Checks `request`'s query signature against `credentials` at `now`, for `scope`.
pub fn verify(
    request: Presigned<'_>,
    credentials: &Credentials,
    scope: Scope<'_>,
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
    let required = |name: &'static str| {
        get(name).ok_or_else(|| {
            Refused::Incomplete(format!(
                "AWS query-string parameters must include '{name}'."
            ))
        })
    };
    let Some(signature) = get("X-Amz-Signature") else {
        return Err(Refused::Missing);
    };
    if required("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(Refused::Incomplete(
            "X-Amz-Algorithm only accepts: AWS4-HMAC-SHA256".into(),
        ));
    }
    let credential = required("X-Amz-Credential")?;
    let stamp = required("X-Amz-Date")?;
    let signed_headers = required("X-Amz-SignedHeaders")?;
    let (key, credential_scope, [day, region, service]) = super::split_credential(credential)
        .ok_or_else(|| Refused::Incomplete("X-Amz-Credential is malformed.".into()))?;
    if key != credentials.access_key {
        return Err(Refused::UnknownKey);
    }
    if let Some(ours) = &credentials.session_token
        && get("X-Amz-Security-Token") != Some(ours.as_str())
    {
        return Err(Refused::UnknownKey);
    }
    scope.check(day, region, service, stamp)?;
    let signed_at = time::parse_stamp(stamp)
        .ok_or_else(|| Refused::Incomplete("X-Amz-Date must be in ISO-8601 format.".into()))?;
    let expires = get("X-Amz-Expires")
        .map(|e| {
            e.parse::<u64>()
                .map_err(|_| Refused::Incomplete("X-Amz-Expires must be a number.".into()))
        })
        .transpose()?;
    time::current(
        stamp,
        signed_at,
        now,
        expires.map_or(SKEW, Duration::from_secs),
        SKEW,
    )?;
    if signed_headers != "host" {
        return Err(Refused::Mismatch);
    }
    let key = signing_key(&credentials.secret, day, region, service);
    let path = canonical::uri(request.path);
    let body_hash = hex::encode(Sha256::digest(request.body));
    for with_token in [false, true] {
        let query = canonical::query(request.query, |k| {
            k == "X-Amz-Signature" || (!with_token && k == "X-Amz-Security-Token")
        });
        for payload in [body_hash.as_str(), "UNSIGNED-PAYLOAD"] {
            let canonical = format!(
                "{}\n{path}\n{query}\nhost:{}\n\nhost\n{payload}",
                request.method,
                request.host.trim()
            );
            let to_sign = format!(
                "AWS4-HMAC-SHA256\n{stamp}\n{credential_scope}\n{}",
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            if signature_matches(&key, &to_sign, signature) {
                return Ok(());
            }
        }
    }
    Err(Refused::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::super::hmac;
    use super::*;

    const IAM: Scope<'static> = Scope {
        service: "iam",
        region: Some("us-east-1"),
    };

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
            body: b"",
        };
        let credentials =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        (
            request,
            credentials,
            time::parse_stamp("20150830T123600Z").unwrap(),
        )
    }

    /// The documented example with the signature this check computes put in.
    fn signed(query: &str, credentials: &Credentials) -> String {
        let canonical = format!(
            "GET\n/\n{}\nhost:iam.amazonaws.com\n\nhost\n{}",
            canonical::query(query, |k| k == "X-Amz-Signature"),
            hex::encode(Sha256::digest(b""))
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = signing_key(&credentials.secret, "20150830", "us-east-1", "iam");
        query.replace("SIGNATURE", &hex::encode(hmac(&key, to_sign.as_bytes())))
    }

    #[test]
    fn a_signature_is_accepted_only_as_signed() {
        let (request, credentials, now) = documented();
        let query = signed(request.query, &credentials);
        let ok = Presigned {
            query: &query,
            ..request
        };
        assert_eq!(verify(ok, &credentials, IAM, now), Ok(()));
        // A session token added after signing is not part of what was signed.
        let with_token = format!("{query}&X-Amz-Security-Token=abc");
        let token = Presigned {
            query: &with_token,
            ..request
        };
        assert_eq!(verify(token, &credentials, IAM, now), Ok(()));
        // Temporary credentials: the token must be the server's.
        let temporary = credentials.clone().with_session_token("abc");
        assert_eq!(verify(token, &temporary, IAM, now), Ok(()));
        assert_eq!(verify(ok, &temporary, IAM, now), Err(Refused::UnknownKey));
        let other = credentials.clone().with_session_token("other");
        assert_eq!(verify(token, &other, IAM, now), Err(Refused::UnknownKey));

        let expired = Refused::Expired {
            signed: "20150830T123600Z".into(),
            earliest: "20150830T123601Z".into(),
            now: "20150830T123701Z".into(),
            window: 1,
        };
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
            (query.clone(), None, 61, expired),
            (
                query.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
                None,
                0,
                Refused::Incomplete(
                    "AWS query-string parameters must include 'X-Amz-Algorithm'.".into(),
                ),
            ),
            (
                query.replace("us-east-1", "eu-west-1"),
                None,
                0,
                Refused::Scope(
                    "Credential should be scoped to a valid region, not 'eu-west-1'. ".into(),
                ),
            ),
            (
                query.split("&X-Amz-Signature").next().unwrap().to_string(),
                None,
                0,
                Refused::Missing,
            ),
        ];
        for (q, other, later, refused) in cases {
            let request = Presigned {
                query: &q,
                ..request
            };
            let credentials = other.unwrap_or_else(|| credentials.clone());
            let at = now + Duration::from_secs(later);
            assert_eq!(verify(request, &credentials, IAM, at), Err(refused), "{q}");
        }
        let host = Presigned {
            host: "other.example",
            query: &query,
            ..request
        };
        assert_eq!(verify(host, &credentials, IAM, now), Err(Refused::Mismatch));
    }
}
