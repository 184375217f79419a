//! Command lines a reader can paste: the one that re-runs a case, and the `curl` or
//! `mosquitto_pub` line that sends one exchange's request again. Credentials never appear: the
//! exchange has them redacted already, and redacted headers are left out altogether. A signed
//! request is signed again by curl from the reader's environment, so the line names the
//! credential variables, never their values.

use std::borrow::Cow;

use super::ReportInput;
use crate::transport::target::{CONTROL_SERVICE, DATA_SERVICE};
use crate::transport::{ACCESS_KEY_VAR, Exchange, SECRET_KEY_VAR, SESSION_TOKEN_VAR, redact};

/// Where a run sent its requests and how it signed them, as its curl lines repeat it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Signing<'a> {
    /// Region of the run's signatures.
    pub region: &'a str,
    /// Control-plane base URL: requests to it are signed for [`CONTROL_SERVICE`], all others
    /// for [`DATA_SERVICE`].
    pub control_plane: &'a str,
}

impl<'a> Signing<'a> {
    /// How the run of `input` signed.
    pub(super) fn of(input: &ReportInput<'a>) -> Self {
        Self {
            region: input.region,
            control_plane: &input.run.target.control_plane,
        }
    }
}

/// Bytes that need no quoting in a POSIX shell word.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c)
}

/// `s` as one POSIX shell word: as it is when that is safe, else in single quotes.
pub fn shell_word(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.chars().all(plain) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', r"'\''")))
    }
}

/// Whether `name` is a header the transport redacts: one whose value redaction replaces.
fn secret(name: &str) -> bool {
    redact([(name.to_string(), String::new())])
        .into_iter()
        .any(|(_, v)| !v.is_empty())
}

/// `words` as one shell command line.
fn line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_word(w.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command that re-runs exactly the case `case_id` (as the run reports it, transport
/// prefix included) with this run's options.
pub(super) fn rerun(input: &ReportInput<'_>, case_id: &str) -> String {
    format!("{} --only {}", input.rerun_prefix, shell_word(case_id))
}

/// Whether the recorded headers carry header `name` (case-insensitive).
fn has(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// curl's own SigV4 options for a request the run signed (it recorded an `authorization`
/// header): the scope, and the credentials as variable references in double quotes, which the
/// shell expands when the line runs. Empty for an unsigned request.
fn sigv4_words(e: &Exchange, signing: Signing<'_>) -> Vec<String> {
    let r = &e.request;
    if !has(&r.headers, "authorization") {
        return Vec::new();
    }
    // By the operation, not the URL: one target may serve both planes on one port.
    let data = jobcert_contract::Operation::ALL
        .iter()
        .any(|o| o.name() == e.operation);
    let service = if data || r.endpoint != signing.control_plane {
        DATA_SERVICE
    } else {
        CONTROL_SERVICE
    };
    let mut words = vec![
        "--aws-sigv4".to_string(),
        shell_word(&format!("aws:amz:{}:{service}", signing.region)).into_owned(),
        "--user".into(),
        format!("\"${ACCESS_KEY_VAR}:${SECRET_KEY_VAR}\""),
    ];
    if has(&r.headers, "x-amz-security-token") {
        words.extend([
            "-H".to_string(),
            format!("\"x-amz-security-token: ${SESSION_TOKEN_VAR}\""),
        ]);
    }
    words
}

/// Shell lines that send the request of `e` again: `curl` for HTTP, signed as the run signed
/// it; for MQTT, `mosquitto_sub` on the reply topics, then `mosquitto_pub`. `None` for a
/// request that cannot be written so (an endpoint that does not parse).
pub(super) fn resend(e: &Exchange, signing: Signing<'_>) -> Option<String> {
    let r = &e.request;
    match r.transport.as_str() {
        "http" => {
            let head = [
                "curl",
                "-sS",
                "-i",
                "-g",
                "--path-as-is",
                "-X",
                &r.method,
                &format!("{}{}", r.endpoint, r.target),
            ];
            let sigv4 = sigv4_words(e, signing);
            // curl signs afresh, with its own date; a recorded x-amz-* header would go stale.
            let dropped = |k: &str| {
                let k = k.to_ascii_lowercase();
                secret(&k)
                    || ["host", "content-length"].contains(&k.as_str())
                    || (!sigv4.is_empty() && k.starts_with("x-amz-"))
            };
            let mut rest = Vec::new();
            for (k, v) in r.headers.iter().filter(|(k, _)| !dropped(k)) {
                rest.extend(["-H".to_string(), format!("{k}: {v}")]);
            }
            if let Some(body) = &r.body {
                if !has(&r.headers, "content-type") {
                    rest.extend(["-H".into(), "content-type: application/json".into()]);
                }
                rest.extend(["--data-binary".to_string(), body.clone()]);
            }
            let parts = [line(&head), sigv4.join(" "), line(&rest)];
            Some(
                parts
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        "mqtt" => {
            let url = url::Url::parse(&r.endpoint).ok()?;
            let host = url.host_str()?.to_string();
            let port = url.port().unwrap_or(1883).to_string();
            let at = ["-h".to_string(), host, "-p".into(), port];
            let mut sub = vec!["mosquitto_sub".to_string()];
            sub.extend(at.iter().cloned());
            sub.extend([
                "-t".into(),
                format!("{}/+", r.target),
                "-C".into(),
                "1".into(),
                "-v".into(),
            ]);
            let mut publish = vec!["mosquitto_pub".to_string()];
            publish.extend(at);
            publish.extend(["-t".into(), r.target.clone()]);
            match &r.body {
                Some(payload) => publish.extend(["-m".into(), payload.clone()]),
                None => publish.push("-n".into()),
            }
            Some(format!("{}\n{}", line(&sub), line(&publish)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::{Outcome, Timing, WireRequest};

    #[rstest]
    #[case::plain("http:start-next/order", "http:start-next/order")]
    #[case::space("a b", "'a b'")]
    #[case::quote("a/it's", r"'a/it'\''s'")]
    #[case::dollar("/things/t/jobs/$next", "'/things/t/jobs/$next'")]
    #[case::empty("", "''")]
    fn quotes_only_what_needs_it(#[case] word: &str, #[case] quoted: &str) {
        assert_eq!(shell_word(word), quoted);
    }

    fn exchange(request: WireRequest) -> Exchange {
        let operation = if request.endpoint == CONTROL {
            "DescribeJob"
        } else {
            "StartNextPendingJobExecution"
        };
        Exchange {
            seq: 1,
            context: "case".into(),
            operation: operation.into(),
            request,
            outcome: Outcome::Timeout { deadline_ms: 1 },
            timing: Timing {
                intended_us: 0,
                sent_us: 0,
                done_us: 1,
            },
        }
    }

    fn http(method: &str, endpoint: &str, target: &str, headers: &[(&str, &str)]) -> WireRequest {
        WireRequest {
            transport: "http".into(),
            method: method.into(),
            endpoint: endpoint.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: None,
        }
    }

    const DATA: &str = "http://127.0.0.1:9080";
    const CONTROL: &str = "http://127.0.0.1:9081";
    const SIGNED: [(&str, &str); 2] =
        [("authorization", "***"), ("x-amz-date", "20260101T000000Z")];

    #[rstest]
    #[case::unsigned_body_with_quotes(
        WireRequest {
            body: Some(r#"{"statusDetails":{"a":"it's \"q\""}}"#.into()),
            ..http("PUT", DATA, "/things/t-1/jobs/$next", &[("x-trace", "1")])
        },
        "curl -sS -i -g --path-as-is -X PUT 'http://127.0.0.1:9080/things/t-1/jobs/$next' \
         -H 'x-trace: 1' -H 'content-type: application/json' \
         --data-binary '{\"statusDetails\":{\"a\":\"it'\\''s \\\"q\\\"\"}}'"
    )]
    #[case::signed(
        http("GET", DATA, "/things/t-1/jobs", &SIGNED),
        "curl -sS -i -g --path-as-is -X GET http://127.0.0.1:9080/things/t-1/jobs \
         --aws-sigv4 aws:amz:eu-west-1:iot-jobs-data \
         --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\""
    )]
    #[case::signed_with_a_session_token_and_a_body(
        WireRequest {
            body: Some(r#"{"status":"it's"}"#.into()),
            ..http(
                "POST",
                DATA,
                "/things/t-1/jobs/j",
                &[
                    ("authorization", "***"),
                    ("x-amz-security-token", "***"),
                    ("X-Amz-Date", "20260101T000000Z"),
                    ("content-type", "application/json"),
                ],
            )
        },
        "curl -sS -i -g --path-as-is -X POST http://127.0.0.1:9080/things/t-1/jobs/j \
         --aws-sigv4 aws:amz:eu-west-1:iot-jobs-data \
         --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" \
         -H \"x-amz-security-token: $AWS_SESSION_TOKEN\" \
         -H 'content-type: application/json' --data-binary '{\"status\":\"it'\\''s\"}'"
    )]
    #[case::signed_for_the_control_plane(
        http("GET", CONTROL, "/jobs/j", &SIGNED),
        "curl -sS -i -g --path-as-is -X GET http://127.0.0.1:9081/jobs/j \
         --aws-sigv4 aws:amz:eu-west-1:iot \
         --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\""
    )]
    #[case::unredacted_secret_left_out(
        http("GET", DATA, "/things/t-1/jobs", &[("Authorization", "AWS4 AKIDSECRET")]),
        "curl -sS -i -g --path-as-is -X GET http://127.0.0.1:9080/things/t-1/jobs \
         --aws-sigv4 aws:amz:eu-west-1:iot-jobs-data \
         --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\""
    )]
    #[case::mqtt(
        WireRequest::publish(
            "mqtt://127.0.0.1:1884".into(),
            "$aws/things/t-1/jobs/get".into(),
            Some(r#"{"clientToken":"c"}"#.into()),
        ),
        "mosquitto_sub -h 127.0.0.1 -p 1884 -t '$aws/things/t-1/jobs/get/+' -C 1 -v\n\
         mosquitto_pub -h 127.0.0.1 -p 1884 -t '$aws/things/t-1/jobs/get' -m '{\"clientToken\":\"c\"}'"
    )]
    fn resends_the_request_without_credentials(
        #[case] request: WireRequest,
        #[case] expected: &str,
    ) {
        let signing = Signing {
            region: "eu-west-1",
            control_plane: CONTROL,
        };
        assert_eq!(
            resend(&exchange(request), signing).as_deref(),
            Some(expected)
        );
    }

    /// A target serving both planes on one port: the data-plane call is still signed for
    /// iot-jobs-data, as the run signed it.
    #[test]
    fn one_port_for_both_planes_signs_by_the_operation() {
        let signing = Signing {
            region: "eu-west-1",
            control_plane: CONTROL,
        };
        let mut e = exchange(http("GET", CONTROL, "/things/t-1/jobs", &SIGNED));
        e.operation = "GetPendingJobExecutions".into();
        let line = resend(&e, signing).unwrap_or_default();
        assert!(line.contains("aws:amz:eu-west-1:iot-jobs-data "), "{line}");
    }
}
