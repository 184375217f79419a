//! HAR 1.2 (the HTTP Archive format browsers and recording proxies save): `log.entries[]`, each
//! with `startedDateTime` (ISO 8601), `time` (total milliseconds), `request` (method, url,
//! headers, `postData.text`) and `response` (status, headers, `content.text`, base64 when
//! `content.encoding` says so). Every problem is named by entry number (1-based) and member.

use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::{ImportError, Recorded};

#[derive(Deserialize)]
struct Har {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    entries: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    time: f64,
    request: Request,
    response: Response,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    headers: Vec<NameValue>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct PostData {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    status: u16,
    headers: Vec<NameValue>,
    content: Content,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

fn header<'a>(headers: &'a [NameValue], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn recorded(entry: Entry) -> Result<Recorded, String> {
    let started = chrono::DateTime::parse_from_rfc3339(&entry.started_date_time)
        .map_err(|e| format!("startedDateTime {:?}: {e}", entry.started_date_time))?;
    let url = url::Url::parse(&entry.request.url)
        .map_err(|e| format!("request.url {:?}: {e}", entry.request.url))?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let host = header(&entry.request.headers, "host")
        .map(str::to_string)
        .or_else(|| {
            url.host_str()
                .map(|h| url.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        });
    let content = entry.response.content;
    let body = match (content.text, content.encoding.as_deref()) {
        (Some(t), Some("base64")) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .map_err(|e| format!("response.content.text is not base64: {e}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        (text, _) => text.unwrap_or_default(),
    };
    Ok(Recorded {
        at_us: started.timestamp_micros(),
        took_us: (entry.time.max(0.0) * 1000.0) as u64,
        method: entry.request.method,
        target,
        host,
        authorization: header(&entry.request.headers, "authorization").map(str::to_string),
        body: entry.request.post_data.and_then(|p| p.text),
        answer: (
            entry.response.status,
            entry
                .response
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body,
        ),
    })
}

/// Every entry of the HAR text, and how many were left out (none here: each is an HTTP
/// exchange; the caller skips those of other APIs).
pub(super) fn read(file: &Path, text: &str) -> Result<(Vec<Recorded>, usize), ImportError> {
    let error = |place: String, message: String| ImportError {
        file: file.to_path_buf(),
        place,
        message,
    };
    let har: Har = serde_json::from_str(text).map_err(|e| {
        error(
            format!("line {} column {}", e.line(), e.column()),
            format!("not a HAR file: {e}"),
        )
    })?;
    har.log
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let place = || format!("entry {}", i + 1);
            let entry: Entry = serde_path_to_error::deserialize(value)
                .map_err(|e| error(place(), format!("{}: {}", e.path(), e.inner())))?;
            recorded(entry).map_err(|m| error(place(), m))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|r| (r, 0))
}
