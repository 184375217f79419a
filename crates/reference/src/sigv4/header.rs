//! A SigV4 signature in the `Authorization` header, as AWS checks every request of the HTTP
//! planes: `AWS4-HMAC-SHA256 Credential=AKID/day/region/service/aws4_request,
//! SignedHeaders=host;x-amz-date, Signature=…`, the time in `x-amz-date`, and a canonical
//! request rebuilt from the request as sent (spec §2.1: the wire path encoded a second time;
//! the payload hash from `x-amz-content-sha256`, or computed from the body when it is absent).

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{Credentials, Refused, Scope, canonical, signature_matches, signing_key, time};

/// How far the signing time may be from the server's clock, either way: AWS's 5 minutes.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

/// A request to check, as sent.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The method.
    pub method: &'a str,
    /// The path of the request target, as sent (already encoded).
    pub path: &'a str,
    /// The query of the request target, as sent.
    pub query: &'a str,
    /// Every header.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// The members of an `Authorization` header.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Reads `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`, naming the first
/// member missing as AWS does.
fn authorization(value: &str) -> Result<Authorization<'_>, Refused> {
    let members = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        Refused::Incomplete("Authorization header requires 'AWS4-HMAC-SHA256' algorithm.".into())
    })?;
    let get = |name: &'static str| {
        members
            .split(',')
            .filter_map(|m| m.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                Refused::Incomplete(format!("Authorization header requires '{name}' parameter."))
            })
    };
    Ok(Authorization {
        credential: get("Credential")?,
        signed_headers: get("SignedHeaders")?,
        signature: get("Signature")?,
    })
}

/// Checks `request`'s `Authorization` header against `credentials` at `now`, for `scope`.
pub fn verify(
    request: Signed<'_>,
    credentials: &Credentials,
    scope: Scope<'_>,
    now: SystemTime,
) -> Result<(), Refused> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let Some(value) = header("authorization") else {
        return Err(Refused::Missing);
    };
    let auth = authorization(value)?;
    let (key, credential_scope, [day, region, service]) = super::split_credential(auth.credential)
        .ok_or_else(|| {
            Refused::Incomplete(
                "Authorization header requires 'Credential' parameter of the form \
                 AKID/YYYYMMDD/region/service/aws4_request."
                    .into(),
            )
        })?;
    if key != credentials.access_key {
        return Err(Refused::UnknownKey);
    }
    if let Some(ours) = &credentials.session_token
        && header("x-amz-security-token") != Some(ours.as_str())
    {
        return Err(Refused::UnknownKey);
    }
    let stamp = header("x-amz-date").ok_or_else(|| {
        Refused::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header."
                .into(),
        )
    })?;
    let signed_at = time::parse_stamp(stamp).ok_or_else(|| {
        Refused::Incomplete("X-Amz-Date must be in ISO-8601 'basic format'.".into())
    })?;
    scope.check(day, region, service, stamp)?;
    time::current(stamp, signed_at, now, WINDOW, WINDOW)?;
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(Refused::Scope(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let values = request.headers.get_all(*name);
        if values.iter().next().is_none() {
            return Err(Refused::Mismatch);
        }
        let value = canonical::header_value(values.iter().filter_map(|v| v.to_str().ok()));
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let payload = match header("x-amz-content-sha256") {
        Some(hash) => hash.to_string(),
        None => hex::encode(Sha256::digest(request.body)),
    };
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{}\n{payload}",
        request.method,
        canonical::uri(request.path),
        canonical::query(request.query, |_| false),
        auth.signed_headers,
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{credential_scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&credentials.secret, day, region, service);
    if signature_matches(&key, &to_sign, auth.signature) {
        Ok(())
    } else {
        Err(Refused::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::super::hmac;
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const JOBS: Scope<'static> = Scope {
        service: "iot-jobs-data",
        region: Some("us-east-1"),
    };

    /// A request as botocore sends it, and the time it was signed.
    struct Wire {
        method: &'static str,
        path: &'static str,
        query: &'static str,
        body: &'static [u8],
        /// The canonical URI botocore signs for `path` (spec §2.1).
        canonical_path: &'static str,
        token: Option<&'static str>,
    }

    const STAMP: &str = "20261203T141745Z";

    /// Signs `wire` the way botocore does, independently of `verify`'s code path: the
    /// canonical request is written out with the canonical path given, not computed.
    fn sign(wire: &Wire, secret: &str, scope: &str) -> HeaderMap {
        let mut signed = vec![("host", "data.jobs.iot.us-east-1.amazonaws.com".to_string())];
        if !wire.body.is_empty() {
            signed.push(("content-type", "application/json".into()));
        }
        signed.push(("x-amz-date", STAMP.into()));
        if let Some(token) = wire.token {
            signed.push(("x-amz-security-token", token.into()));
        }
        signed.sort();
        let names: Vec<&str> = signed.iter().map(|(k, _)| *k).collect();
        let lines: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{}\n{}\n{}\n{lines}\n{}\n{}",
            wire.method,
            wire.canonical_path,
            wire.query,
            names.join(";"),
            hex::encode(Sha256::digest(wire.body))
        );
        let parts: Vec<&str> = scope.split('/').collect();
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{STAMP}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = signing_key(secret, parts[0], parts[1], parts[2]);
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        let mut headers = HeaderMap::new();
        for (k, v) in &signed {
            headers.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders={}, \
                 Signature={signature}",
                names.join(";")
            ))
            .unwrap(),
        );
        headers
    }

    fn check(
        wire: &Wire,
        headers: &HeaderMap,
        credentials: &Credentials,
        now: SystemTime,
    ) -> Result<(), Refused> {
        verify(
            Signed {
                method: wire.method,
                path: wire.path,
                query: wire.query,
                headers,
                body: wire.body,
            },
            credentials,
            JOBS,
            now,
        )
    }

    const SCOPE: &str = "20261203/us-east-1/iot-jobs-data/aws4_request";

    fn wires() -> [Wire; 3] {
        [
            Wire {
                method: "PUT",
                path: "/things/my%3Athing/jobs/$next",
                query: "",
                body: b"{}",
                canonical_path: "/things/my%253Athing/jobs/%24next",
                token: None,
            },
            Wire {
                method: "GET",
                path: "/things/t/jobs/%24next",
                query: "executionNumber=3&includeJobDocument=false",
                body: b"",
                canonical_path: "/things/t/jobs/%2524next",
                token: None,
            },
            Wire {
                method: "POST",
                path: "/things/t/jobs/j-1",
                query: "",
                body: br#"{"status":"SUCCEEDED"}"#,
                canonical_path: "/things/t/jobs/j-1",
                token: Some("FwoGZXIvYXdzEXAMPLETOKEN"),
            },
        ]
    }

    #[test]
    fn botocore_signatures_check_including_the_double_encoded_path() {
        let now = time::parse_stamp(STAMP).unwrap();
        let credentials = Credentials::new("AKIDEXAMPLE", SECRET);
        for wire in wires() {
            let headers = sign(&wire, SECRET, SCOPE);
            assert_eq!(
                check(&wire, &headers, &credentials, now),
                Ok(()),
                "{}",
                wire.path
            );
        }
        // Temporary credentials: the token must be the server's.
        let [_, _, temporary] = wires();
        let headers = sign(&temporary, SECRET, SCOPE);
        let ours = credentials
            .clone()
            .with_session_token("FwoGZXIvYXdzEXAMPLETOKEN");
        assert_eq!(check(&temporary, &headers, &ours, now), Ok(()));
        let other = credentials.with_session_token("another");
        assert_eq!(
            check(&temporary, &headers, &other, now),
            Err(Refused::UnknownKey)
        );
    }

    #[test]
    fn every_kind_of_bad_signature_is_refused_in_aws_words() {
        let now = time::parse_stamp(STAMP).unwrap();
        let credentials = Credentials::new("AKIDEXAMPLE", SECRET);
        let [put, get, _] = wires();
        let good = sign(&put, SECRET, SCOPE);
        let set = |headers: &mut HeaderMap, name: &'static str, value: &str| {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        };
        let edit_auth = |headers: &mut HeaderMap, from: &str, to: &str| {
            let auth = headers["authorization"].to_str().unwrap().replace(from, to);
            headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        };
        let cases: Vec<(&str, HeaderMap, Refused)> = vec![
            ("no authorization", { let mut h = good.clone(); h.remove("authorization"); h }, Refused::Missing),
            ("wrong secret", sign(&put, "another secret", SCOPE), Refused::Mismatch),
            ("unknown key", { let mut h = good.clone(); edit_auth(&mut h, "AKIDEXAMPLE", "AKIDOTHER"); h }, Refused::UnknownKey),
            ("path signed once-encoded", sign(&Wire { canonical_path: "/things/my%3Athing/jobs/$next", ..put }, SECRET, SCOPE), Refused::Mismatch),
            ("body changed", { let mut h = good.clone(); set(&mut h, "x-amz-content-sha256", &hex::encode(Sha256::digest(b"{ }"))); h }, Refused::Mismatch),
            ("signed header missing", { let mut h = good.clone(); h.remove("content-type"); h }, Refused::Mismatch),
            ("other region", sign(&put, SECRET, "20261203/eu-west-1/iot-jobs-data/aws4_request"),
                Refused::Scope("Credential should be scoped to a valid region, not 'eu-west-1'. ".into())),
            ("other service", sign(&put, SECRET, "20261203/us-east-1/iot/aws4_request"),
                Refused::Scope("Credential should be scoped to correct service: 'iot-jobs-data'. ".into())),
            ("other day", sign(&put, SECRET, "20261202/us-east-1/iot-jobs-data/aws4_request"),
                Refused::Scope("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261202' != '20261203', from '20261203T141745Z'.".into())),
            ("no date", { let mut h = good.clone(); h.remove("x-amz-date"); h },
                Refused::Incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into())),
            ("no signature member", { let mut h = good.clone(); let a = h["authorization"].to_str().unwrap().split(", Signature").next().unwrap().to_string(); set(&mut h, "authorization", &a); h },
                Refused::Incomplete("Authorization header requires 'Signature' parameter.".into())),
            ("other algorithm", { let mut h = good.clone(); edit_auth(&mut h, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"); h },
                Refused::Incomplete("Authorization header requires 'AWS4-HMAC-SHA256' algorithm.".into())),
        ];
        for (what, headers, refused) in cases {
            assert_eq!(
                check(&put, &headers, &credentials, now),
                Err(refused),
                "{what}"
            );
        }
        // A query changed after signing.
        let headers = sign(&get, SECRET, SCOPE);
        let changed = Wire {
            query: "executionNumber=4&includeJobDocument=false",
            ..get
        };
        assert_eq!(
            check(&changed, &headers, &credentials, now),
            Err(Refused::Mismatch)
        );
    }

    #[test]
    fn the_signing_time_may_be_five_minutes_off_either_way() {
        let signed = time::parse_stamp(STAMP).unwrap();
        let credentials = Credentials::new("AKIDEXAMPLE", SECRET);
        let [put, _, _] = wires();
        let headers = sign(&put, SECRET, SCOPE);
        let cases: [(SystemTime, Option<&str>); 4] = [
            (signed + WINDOW, None),
            (signed - WINDOW, None),
            (
                signed + WINDOW + Duration::from_secs(1),
                Some(
                    "Signature expired: 20261203T141745Z is now earlier than 20261203T141746Z (20261203T142246Z - 5 min.)",
                ),
            ),
            (
                signed - Duration::from_secs(600),
                Some(
                    "Signature not yet current: 20261203T141745Z is still later than 20261203T141245Z (20261203T140745Z + 5 min.)",
                ),
            ),
        ];
        for (now, refused) in cases {
            let got = check(&put, &headers, &credentials, now)
                .err()
                .map(|r| r.to_string());
            assert_eq!(got.as_deref(), refused);
        }
    }
}
