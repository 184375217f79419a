//! Captures from traffic recorded by other tools: HAR 1.2 files (`har.rs`, what browsers and
//! recording proxies save) and GoReplay `.gor` files (`gor.rs`). Each HTTP request of the Jobs
//! API becomes an [`Exchange`] named by the schemas' bindings, and the exchanges a capture as
//! the recorders' own are; every other request is skipped and counted. Request headers are not
//! kept (they are needed only to tell the two APIs apart), so no credential or cookie is.

mod gor;
mod har;
mod message;

use std::path::{Path, PathBuf};

use super::build::{Origin, from_exchanges};
use super::format::{Capture, Source, SourceKind};
use crate::transport::route::{Plane, http_operation};
use crate::transport::{
    Exchange, FailureClass, Label, Outcome, WireRequest, WireResponse, redact_target,
};

/// A problem in an imported file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {place}: {message}", file.display())]
pub struct ImportError {
    /// The file.
    pub file: PathBuf,
    /// Where in it: `line 12`, `entry 3`.
    pub place: String,
    /// What is wrong.
    pub message: String,
}

/// A capture made from an imported file.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The capture.
    pub capture: Capture,
    /// Exchanges it holds.
    pub kept: usize,
    /// Requests left out: not a Jobs operation, or never answered.
    pub skipped: usize,
}

/// One HTTP request and its answer as a recorder saw them.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    /// When it was sent, microseconds since the Unix epoch.
    at_us: i64,
    /// How long until its answer, microseconds.
    took_us: u64,
    method: String,
    /// Path and query.
    target: String,
    /// The Host header or the URL's host.
    host: Option<String>,
    /// The Authorization header (read for its credential scope, never kept).
    authorization: Option<String>,
    body: Option<String>,
    /// Status (0: no answer), headers, body.
    answer: (u16, Vec<(String, String)>, String),
}

/// The API a request went to, by its signature's credential scope (`…/iot-jobs-data/…` or
/// `…/iot/…`) or else by its host (`data.jobs.iot.…` or `iot.…`).
fn plane(r: &Recorded) -> Option<Plane> {
    let scope = r.authorization.as_deref().and_then(|a| {
        let credential = a.split("Credential=").nth(1)?;
        let credential = credential.split([',', ' ']).next()?;
        credential.split('/').nth(3)
    });
    match scope {
        Some("iot-jobs-data") => return Some(Plane::Data),
        Some("iot") => return Some(Plane::Control),
        _ => {}
    }
    let host = r.host.as_deref()?.to_ascii_lowercase();
    if host.starts_with("data.jobs.iot.") || host.contains(".jobs.iot.") {
        Some(Plane::Data)
    } else if host.starts_with("iot.") {
        Some(Plane::Control)
    } else {
        None
    }
}

/// The operation of `r`: on its plane when that is known, else the data plane's first (the
/// two share only a read, which the control plane's side of a capture leaves out).
fn operation(r: &Recorded) -> Option<&'static str> {
    match plane(r) {
        Some(p) => http_operation(p, &r.method, &r.target),
        None => http_operation(Plane::Data, &r.method, &r.target)
            .or_else(|| http_operation(Plane::Control, &r.method, &r.target)),
    }
}

/// The capture of `recorded` (in any order), `skipped` requests already left out.
fn capture(recorded: Vec<Recorded>, mut skipped: usize, kind: SourceKind, file: &Path) -> Imported {
    let origin_us = recorded.iter().map(|r| r.at_us).min().unwrap_or(0);
    let mut exchanges = Vec::new();
    for r in recorded {
        let Some(operation) = operation(&r) else {
            skipped += 1;
            continue;
        };
        let (status, headers, body) = r.answer;
        let outcome = if status == 0 {
            Outcome::Failed {
                class: FailureClass::Reset,
                message: "no answer recorded".into(),
            }
        } else {
            Outcome::Answered(WireResponse {
                status,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
                body,
                truncated: false,
            })
        };
        let request = WireRequest {
            transport: "http".into(),
            method: r.method.to_ascii_uppercase(),
            endpoint: r.host.map(|h| format!("http://{h}")).unwrap_or_default(),
            target: redact_target(&r.target),
            headers: Vec::new(),
            body: r.body,
        };
        let sent_us = u64::try_from(r.at_us - origin_us).unwrap_or(0);
        let label = Label {
            seq: exchanges.len() as u64,
            context: "import",
            operation,
        };
        exchanges.push(Exchange::new(
            label,
            request,
            outcome,
            sent_us,
            sent_us + r.took_us,
        ));
    }
    let origin = Origin {
        source: Source {
            kind,
            detail: Some(file.display().to_string()),
        },
        origin_ms: u64::try_from(origin_us / 1000).unwrap_or(0),
        target_time_scale: 1.0,
        run_id: None,
    };
    Imported {
        kept: exchanges.len(),
        skipped,
        capture: from_exchanges(&exchanges, origin),
    }
}

/// Imports `path`: a HAR file (`.har`, or JSON) or a GoReplay file (anything else).
pub fn import(path: &Path) -> Result<Imported, ImportError> {
    let whole = |message: String| ImportError {
        file: path.to_path_buf(),
        place: "file".into(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| whole(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| whole(format!("not UTF-8: {e}")))?;
    let har = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("har"))
        || text.trim_start().starts_with('{');
    if har {
        let (recorded, skipped) = har::read(path, &text)?;
        Ok(capture(recorded, skipped, SourceKind::Har, path))
    } else {
        let (recorded, skipped) = gor::read(path, &text)?;
        Ok(capture(recorded, skipped, SourceKind::Gor, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(method: &str, target: &str, host: &str, authorization: Option<&str>) -> Recorded {
        Recorded {
            at_us: 0,
            took_us: 0,
            method: method.into(),
            target: target.into(),
            host: Some(host.into()),
            authorization: authorization.map(str::to_string),
            body: None,
            answer: (200, Vec::new(), String::new()),
        }
    }

    #[test]
    fn the_plane_comes_from_the_signature_then_the_host_then_the_path() {
        let data = "AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/iot-jobs-data/aws4_request, SignedHeaders=host, Signature=00";
        let control = "AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=00";
        let cases = [
            (
                recorded("GET", "/things/t/jobs/j", "127.0.0.1:1", Some(data)),
                Some("DescribeJobExecution"),
            ),
            (
                recorded("GET", "/things/t/jobs/j", "127.0.0.1:1", Some(control)),
                Some("DescribeJobExecution"),
            ),
            (
                recorded("PUT", "/things/t/jobs/$next", "127.0.0.1:1", Some(control)),
                None,
            ),
            (
                recorded(
                    "PUT",
                    "/jobs/j",
                    "data.jobs.iot.us-east-1.amazonaws.com",
                    None,
                ),
                None,
            ),
            (
                recorded("PUT", "/jobs/j", "iot.us-east-1.amazonaws.com", None),
                Some("CreateJob"),
            ),
            (
                recorded("PUT", "/jobs/j", "127.0.0.1:1", None),
                Some("CreateJob"),
            ),
            (
                recorded("GET", "/things/t/jobs", "127.0.0.1:1", None),
                Some("GetPendingJobExecutions"),
            ),
            (recorded("GET", "/index.html", "127.0.0.1:1", None), None),
        ];
        for (r, want) in cases {
            assert_eq!(operation(&r), want, "{r:?}");
        }
        assert_eq!(
            plane(&recorded("GET", "/", "h", Some(control))),
            Some(Plane::Control)
        );
        assert_eq!(
            plane(&recorded("GET", "/", "h", Some(data))),
            Some(Plane::Data)
        );
    }
}
