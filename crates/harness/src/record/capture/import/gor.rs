//! GoReplay files (`.gor`): payloads separated by the line `🐵🙈🙉`, each a header line
//! `TYPE ID TIMESTAMP-NS [LATENCY-NS]` (type 1 a request, 2 its response, 3 a response to a
//! replay, which is not what the recorded server said and is ignored) and then the raw HTTP/1.1
//! message. Requests and responses are paired by ID; a request without a response is left out
//! and counted. Every problem is named by the line its payload starts on.

use std::collections::HashMap;
use std::path::Path;

use super::message::{self, Message};
use super::{ImportError, Recorded};

/// The line between payloads.
const SEPARATOR: &str = "\n🐵🙈🙉\n";

/// One payload's header.
struct Meta<'a> {
    kind: &'a str,
    id: &'a str,
    timestamp_ns: i64,
    latency_ns: Option<i64>,
}

fn meta(line: &str) -> Result<Meta<'_>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [kind, id, timestamp, rest @ ..] = fields.as_slice() else {
        return Err(format!(
            "payload header {line:?} is not `TYPE ID TIMESTAMP [LATENCY]`"
        ));
    };
    let timestamp_ns = timestamp
        .parse()
        .map_err(|_| format!("timestamp {timestamp:?} is not a number of nanoseconds"))?;
    let latency_ns = rest
        .first()
        .and_then(|l| l.parse().ok())
        .filter(|l| *l >= 0);
    Ok(Meta {
        kind,
        id,
        timestamp_ns,
        latency_ns,
    })
}

/// Every request of the GoReplay text answered in it, and how many were not.
pub(super) fn read(file: &Path, text: &str) -> Result<(Vec<Recorded>, usize), ImportError> {
    let error = |line: usize, message: String| ImportError {
        file: file.to_path_buf(),
        place: format!("line {line}"),
        message,
    };
    let mut requests: Vec<(Meta<'_>, Message, usize)> = Vec::new();
    let mut responses: HashMap<&str, (Meta<'_>, Message)> = HashMap::new();
    let mut line = 1;
    // A file ends with a separator or without one; a separator's trailing newline may be its
    // last byte.
    let body = text
        .strip_suffix(SEPARATOR.trim_end_matches('\n'))
        .unwrap_or(text);
    for payload in body.split(SEPARATOR) {
        let at = line;
        line += payload.matches('\n').count() + 2;
        if payload.trim().is_empty() {
            continue;
        }
        let (head, raw) = payload.split_once('\n').unwrap_or((payload, ""));
        let m = meta(head).map_err(|e| error(at, e))?;
        match m.kind {
            "1" => {
                let r = message::request(raw.as_bytes()).map_err(|e| error(at + 1, e))?;
                requests.push((m, r, at));
            }
            "2" => {
                let r = message::response(raw.as_bytes()).map_err(|e| error(at + 1, e))?;
                responses.insert(m.id, (m, r));
            }
            "3" => {}
            other => {
                return Err(error(
                    at,
                    format!("payload type {other:?} is not 1, 2 or 3"),
                ));
            }
        }
    }
    let mut skipped = 0;
    let mut recorded = Vec::new();
    for (m, request, _) in requests {
        let Some((answer_meta, response)) = responses.remove(m.id) else {
            skipped += 1;
            continue;
        };
        let took_ns = answer_meta
            .latency_ns
            .unwrap_or(answer_meta.timestamp_ns - m.timestamp_ns)
            .max(0);
        recorded.push(Recorded {
            at_us: m.timestamp_ns / 1000,
            took_us: (took_ns / 1000) as u64,
            host: request.header("host").map(str::to_string),
            authorization: request.header("authorization").map(str::to_string),
            body: (!request.body.is_empty() || request.method != "GET").then_some(request.body),
            method: request.method,
            target: request.target,
            answer: (response.status, response.headers, response.body),
        });
    }
    Ok((recorded, skipped))
}
