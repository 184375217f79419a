//! Command lines a reader can paste: the one that re-runs a case, and the `curl` or
//! `mosquitto_pub` line that sends one exchange's request again. Credentials never appear: the
//! exchange has them redacted already, and redacted headers are left out altogether.

use std::borrow::Cow;

use super::ReportInput;
use crate::transport::{Exchange, redact};

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

/// Shell lines that send the request of `e` again: `curl` for HTTP; for MQTT, `mosquitto_sub`
/// on the reply topics, then `mosquitto_pub`. `None` for a request that cannot be written so
/// (an endpoint that does not parse).
pub(super) fn resend(e: &Exchange) -> Option<String> {
    let r = &e.request;
    match r.transport.as_str() {
        "http" => {
            let mut words = vec![
                "curl".to_string(),
                "-sS".into(),
                "-i".into(),
                "-g".into(),
                "--path-as-is".into(),
                "-X".into(),
                r.method.clone(),
                format!("{}{}", r.endpoint, r.target),
            ];
            for (k, v) in r.headers.iter().filter(|(k, _)| !secret(k)) {
                if !["host", "content-length"].contains(&k.to_ascii_lowercase().as_str()) {
                    words.extend(["-H".to_string(), format!("{k}: {v}")]);
                }
            }
            if let Some(body) = &r.body {
                let typed = r
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
                if !typed {
                    words.extend(["-H".into(), "content-type: application/json".into()]);
                }
                words.extend(["--data-binary".to_string(), body.clone()]);
            }
            Some(line(&words))
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
        Exchange {
            seq: 1,
            context: "case".into(),
            operation: "StartNextPendingJobExecution".into(),
            request,
            outcome: Outcome::Timeout { deadline_ms: 1 },
            timing: Timing {
                intended_us: 0,
                sent_us: 0,
                done_us: 1,
            },
        }
    }

    #[rstest]
    #[case::http_without_credentials(
        WireRequest {
            transport: "http".into(),
            method: "PUT".into(),
            endpoint: "http://127.0.0.1:9080".into(),
            target: "/things/t-1/jobs/$next".into(),
            headers: vec![
                ("authorization".into(), "***".into()),
                ("x-amz-security-token".into(), "***".into()),
                ("x-amz-date".into(), "20260101T000000Z".into()),
            ],
            body: Some(r#"{"statusDetails":{"a":"it's"}}"#.into()),
        },
        "curl -sS -i -g --path-as-is -X PUT 'http://127.0.0.1:9080/things/t-1/jobs/$next' \
         -H 'x-amz-date: 20260101T000000Z' -H 'content-type: application/json' \
         --data-binary '{\"statusDetails\":{\"a\":\"it'\\''s\"}}'"
    )]
    #[case::http_unredacted_secret_left_out(
        WireRequest {
            transport: "http".into(),
            method: "GET".into(),
            endpoint: "http://127.0.0.1:9080".into(),
            target: "/things/t-1/jobs".into(),
            headers: vec![("Authorization".into(), "AWS4 AKIDSECRET".into())],
            body: None,
        },
        "curl -sS -i -g --path-as-is -X GET http://127.0.0.1:9080/things/t-1/jobs"
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
        assert_eq!(resend(&exchange(request)).as_deref(), Some(expected));
    }
}
