//! Raw HTTP/1.1 messages as GoReplay stores them: head parsed by httparse, then the body by
//! `Content-Length`, chunked encoding, or to the end.

/// A parsed message: the start line's parts, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Message {
    /// Request method (empty for a response).
    pub method: String,
    /// Request target (empty for a response).
    pub target: String,
    /// Response status (0 for a request).
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8).
    pub body: String,
}

impl Message {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

const MAX_HEADERS: usize = 128;

fn pairs(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// The body after a head of `headers`.
fn body(headers: &[(String, String)], rest: &[u8]) -> Result<String, String> {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return dechunk(rest);
    }
    let bytes = match find("content-length") {
        Some(n) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("Content-Length {n} is not a number"))?;
            rest.get(..n)
                .ok_or_else(|| format!("body shorter than its Content-Length {n}"))?
        }
        None => rest,
    };
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn dechunk(mut rest: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line without CRLF")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size {size_text:?} is not hexadecimal"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        let chunk = rest.get(..size).ok_or("a chunk cut short")?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// Parses a request.
pub(super) fn request(raw: &[u8]) -> Result<Message, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head = match parsed
        .parse(raw)
        .map_err(|e| format!("not an HTTP request: {e}"))?
    {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err("HTTP request head cut short".into()),
    };
    let headers = pairs(parsed.headers);
    Ok(Message {
        method: parsed.method.unwrap_or_default().to_string(),
        target: parsed.path.unwrap_or_default().to_string(),
        status: 0,
        body: body(&headers, &raw[head..])?,
        headers,
    })
}

/// Parses a response.
pub(super) fn response(raw: &[u8]) -> Result<Message, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head = match parsed
        .parse(raw)
        .map_err(|e| format!("not an HTTP response: {e}"))?
    {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err("HTTP response head cut short".into()),
    };
    let headers = pairs(parsed.headers);
    Ok(Message {
        method: String::new(),
        target: String::new(),
        status: parsed.code.unwrap_or_default(),
        body: body(&headers, &raw[head..])?,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_by_length_by_chunks_or_to_the_end() {
        let cases: [(&[u8], Result<&str, &str>); 5] = [
            (b"PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", Ok("{}")),
            (b"PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}trailing", Ok("{}")),
            (b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n0\r\n\r\n", Ok("{\"a\":")),
            (b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", Ok("")),
            (b"PUT /a HTTP/1.1\r\nContent-Length: 9\r\n\r\n{}", Err("body shorter than its Content-Length 9")),
        ];
        for (raw, want) in cases {
            assert_eq!(
                request(raw)
                    .map(|m| m.body)
                    .as_deref()
                    .map_err(String::as_str),
                want
            );
        }
    }

    #[test]
    fn a_response_has_its_status_and_headers() {
        let m = response(b"HTTP/1.1 409 Conflict\r\nx-amzn-ErrorType: VersionConflictException\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(
            (m.status, m.header("X-Amzn-ErrorType")),
            (409, Some("VersionConflictException"))
        );
        assert!(request(b"garbage\r\n\r\n").is_err());
    }
}
