//! The HTTP/1.1 wire of a device's own connection: a request written into one buffer, and an
//! answer read with `httparse` — status line, headers, then a body framed by `content-length`,
//! the chunked transfer coding or the end of the connection (RFC 9112 §6.3). It does only what
//! a device's client needs, which is what makes it cheap: no pool, no task, no body stream.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::http::Body;
use crate::transport::{FailureClass, Outcome};

/// Most bytes of an answer's status line and headers.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers in an answer.
const MAX_HEADERS: usize = 64;
/// How much room each read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// Writes `request` as HTTP/1.1 with `path` on the request line and `host` as its host header.
/// A request with a body (and every PUT, POST or PATCH) says its length.
pub(super) fn write_request(
    out: &mut Vec<u8>,
    request: &http::Request<Vec<u8>>,
    path: &str,
    host: &str,
) {
    let method = request.method();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in request.headers() {
        if name == http::header::HOST || name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = request.body();
    let says_length = !body.is_empty()
        || matches!(
            *method,
            http::Method::PUT | http::Method::POST | http::Method::PATCH
        );
    if says_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// There is none (a 204 or 304, or an answer to HEAD).
    Empty,
    /// After this many bytes.
    Length(usize),
    /// With the chunked transfer coding's last chunk.
    Chunked,
    /// When the target closes the connection.
    UntilClose,
}

/// An answer's status line and headers.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
    /// Whether the connection ends after this answer.
    close: bool,
    /// Bytes the head took.
    len: usize,
}

/// A broken answer: how it broke, in words.
#[derive(Debug, PartialEq)]
pub(super) struct Broken {
    pub(super) class: FailureClass,
    pub(super) message: String,
}

impl Broken {
    fn protocol(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Protocol,
            message: message.into(),
        }
    }

    fn reset(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Reset,
            message: message.into(),
        }
    }

    /// The outcome this makes.
    pub(super) fn outcome(self) -> Outcome {
        Outcome::Failed {
            class: self.class,
            message: self.message,
        }
    }
}

impl From<std::io::Error> for Broken {
    fn from(e: std::io::Error) -> Self {
        Self::reset(e.to_string())
    }
}

/// The head at the start of `buf`, once it is all there; an informational (1xx) answer is
/// returned like any other, for the caller to skip.
fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, Broken> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(Broken::protocol(format!(
                "answer head larger than {MAX_HEAD} bytes"
            )));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Broken::protocol(format!("invalid answer head: {e}"))),
    };
    let status = response.code.unwrap_or_default();
    let mut close = response.version == Some(0);
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut coded = false;
    let mut headers = Vec::with_capacity(response.headers.len());
    for h in response.headers.iter() {
        let value = match std::str::from_utf8(h.value) {
            Ok(text) => text.to_string(),
            Err(_) => String::from_utf8_lossy(h.value).into_owned(),
        };
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                let n = value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| Broken::protocol(format!("invalid content-length {value:?}")))?;
                if length.is_some_and(|l| l != n) {
                    return Err(Broken::protocol("conflicting content-length headers"));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                coded = true;
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            }
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        close = false;
                    }
                }
            }
            _ => {}
        }
        headers.push((name, value));
    }
    if status == 101 {
        return Err(Broken::protocol("unexpected 101 switching protocols"));
    }
    let framing = if head_request || status == 204 || status == 304 || (100..200).contains(&status)
    {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if coded {
        Framing::UntilClose
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        headers,
        close: close || framing == Framing::UntilClose,
        framing,
        len,
    }))
}

/// A stream and the bytes read from it but not used yet.
pub(super) struct Wire<'a, S> {
    pub(super) stream: &'a mut S,
    pub(super) buf: &'a mut Vec<u8>,
}

impl<S: AsyncRead + Unpin> Wire<'_, S> {
    /// Reads more; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Broken> {
        self.buf.reserve(READ_CHUNK);
        Ok(self.stream.read_buf(self.buf).await? > 0)
    }

    /// The line ending at the next CRLF, consumed; `what` names it in errors.
    async fn line(&mut self, what: &str) -> Result<Vec<u8>, Broken> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..end].to_vec();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Broken::protocol(format!(
                    "{what} longer than {MAX_HEAD} bytes"
                )));
            }
            if !self.fill().await? {
                return Err(Broken::reset(format!(
                    "connection closed within the {what}"
                )));
            }
        }
    }

    /// Passes the next `n` bytes to `body`; false when the body had enough (the rest unread).
    async fn take(&mut self, mut n: usize, body: &mut Body) -> Result<bool, Broken> {
        while n > 0 {
            if self.buf.is_empty() && !self.fill().await? {
                return Err(Broken::reset(
                    "connection closed before the whole body came",
                ));
            }
            let k = n.min(self.buf.len());
            let full = body.keep(&self.buf[..k]);
            self.buf.drain(..k);
            n -= k;
            if full {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads one answer; says with it whether the connection can carry another.
    pub(super) async fn answer(&mut self, head_request: bool) -> Result<(Outcome, bool), Broken> {
        let head = loop {
            match parse_head(self.buf, head_request)? {
                Some(h) if (100..200).contains(&h.status) => {
                    self.buf.drain(..h.len);
                }
                Some(h) => break h,
                None => {
                    if !self.fill().await? {
                        return Err(Broken::reset(if self.buf.is_empty() {
                            "connection closed before an answer"
                        } else {
                            "connection closed within the answer head"
                        }));
                    }
                }
            }
        };
        self.buf.drain(..head.len);
        let mut body = Body::default();
        let whole = match head.framing {
            Framing::Empty => true,
            Framing::Length(n) => self.take(n, &mut body).await?,
            Framing::Chunked => self.chunks(&mut body).await?,
            Framing::UntilClose => {
                loop {
                    if !self.buf.is_empty() {
                        let full = body.keep(self.buf);
                        self.buf.clear();
                        if full {
                            break;
                        }
                    }
                    if !self.fill().await? {
                        break;
                    }
                }
                false
            }
        };
        let reusable = whole && !head.close;
        Ok((body.answer(head.status, head.headers), reusable))
    }

    /// A chunked body, up to its trailers; false when the body had enough.
    async fn chunks(&mut self, body: &mut Body) -> Result<bool, Broken> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(self.buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.buf.drain(..used);
                        break usize::try_from(size)
                            .map_err(|_| Broken::protocol("chunk size too large"))?;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                        return Err(Broken::protocol("chunk size line too long"));
                    }
                    Ok(httparse::Status::Partial) => {
                        if !self.fill().await? {
                            return Err(Broken::reset("connection closed within a chunk size"));
                        }
                    }
                    Err(_) => return Err(Broken::protocol("invalid chunk size")),
                }
            };
            if size == 0 {
                while !self.line("trailer").await?.is_empty() {}
                return Ok(true);
            }
            if !self.take(size, body).await? {
                return Ok(false);
            }
            if !self.line("chunk end").await?.is_empty() {
                return Err(Broken::protocol("chunk longer than its size"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::WireResponse;

    /// Reads one answer from `bytes`, fed in pieces of `piece` bytes.
    async fn read(bytes: &[u8], piece: usize) -> Result<(Outcome, bool, Vec<u8>), Broken> {
        let (mut client, mut server) = tokio::io::duplex(64);
        let bytes = bytes.to_vec();
        let feeder = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for part in bytes.chunks(piece.max(1)) {
                if server.write_all(part).await.is_err() {
                    return;
                }
            }
        });
        let mut buf = Vec::new();
        let mut wire = Wire {
            stream: &mut client,
            buf: &mut buf,
        };
        let got = wire.answer(false).await;
        drop(client);
        let _ = feeder.await;
        got.map(|(o, reusable)| (o, reusable, buf))
    }

    fn answered(status: u16, body: &str) -> impl Fn(&Outcome) -> bool + '_ {
        move |o| matches!(o, Outcome::Answered(WireResponse { status: s, body: b, .. }) if *s == status && b == body)
    }

    #[rstest]
    #[case::length(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".as_slice(), 200, "{}", true)]
    #[case::chunked(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n1;x=y\r\n}\r\n0\r\nt: v\r\n\r\n".as_slice(),
        200, "{}", true
    )]
    #[case::close_delimited(b"HTTP/1.1 404 Not Found\r\n\r\n{\"a\":1}".as_slice(), 404, "{\"a\":1}", false)]
    #[case::told_to_close(b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n".as_slice(), 200, "", false)]
    #[case::http_1_0(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n".as_slice(), 200, "", false)]
    #[case::no_content(b"HTTP/1.1 204 No Content\r\n\r\n".as_slice(), 204, "", true)]
    #[case::informational_first(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx".as_slice(),
        200, "x", true
    )]
    #[tokio::test]
    async fn answers_are_framed_as_rfc_9112_says(
        #[case] bytes: &[u8],
        #[case] status: u16,
        #[case] body: &str,
        #[case] reusable: bool,
        #[values(1, 7, 4096)] piece: usize,
    ) {
        let (outcome, again, _) = read(bytes, piece).await.unwrap();
        assert!(answered(status, body)(&outcome), "{outcome:?}");
        assert_eq!(again, reusable);
    }

    #[rstest]
    #[case::garbage(b"hello\r\n\r\n".as_slice(), FailureClass::Protocol)]
    #[case::bad_length(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n".as_slice(), FailureClass::Protocol)]
    #[case::conflicting_lengths(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nxx".as_slice(),
        FailureClass::Protocol
    )]
    #[case::bad_chunk(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".as_slice(), FailureClass::Protocol)]
    #[case::chunk_overrun(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n".as_slice(),
        FailureClass::Protocol
    )]
    #[case::upgrade(b"HTTP/1.1 101 Switching Protocols\r\n\r\n".as_slice(), FailureClass::Protocol)]
    #[case::nothing(b"".as_slice(), FailureClass::Reset)]
    #[case::cut_head(b"HTTP/1.1 200 OK\r\ncontent-le".as_slice(), FailureClass::Reset)]
    #[case::cut_body(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab".as_slice(), FailureClass::Reset)]
    #[case::cut_chunks(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab".as_slice(), FailureClass::Reset)]
    #[tokio::test]
    async fn broken_answers_are_classified(#[case] bytes: &[u8], #[case] class: FailureClass) {
        let broken = read(bytes, 3).await.unwrap_err();
        assert_eq!(broken.class, class, "{}", broken.message);
    }

    #[tokio::test]
    async fn a_head_without_end_is_refused_once_too_long() {
        let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
        while bytes.len() <= MAX_HEAD {
            bytes.extend_from_slice(b"x-filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let broken = read(&bytes, 4096).await.unwrap_err();
        assert_eq!(broken.class, FailureClass::Protocol, "{}", broken.message);
    }

    #[tokio::test]
    async fn bytes_after_an_answer_stay_for_the_next() {
        let (_, again, rest) = read(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxHTTP/1.1 2",
            4096,
        )
        .await
        .unwrap();
        assert!(again);
        assert_eq!(rest, b"HTTP/1.1 2");
    }

    #[rstest]
    #[case::put_with_body(
        "PUT",
        Some("{}"),
        "PUT /p HTTP/1.1\r\nhost: h:1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    )]
    #[case::put_without_body(
        "PUT",
        None,
        "PUT /p HTTP/1.1\r\nhost: h:1\r\ncontent-length: 0\r\n\r\n"
    )]
    #[case::get("GET", None, "GET /p HTTP/1.1\r\nhost: h:1\r\n\r\n")]
    fn requests_say_their_length_when_they_have_a_body(
        #[case] method: &str,
        #[case] body: Option<&str>,
        #[case] wire: &str,
    ) {
        let mut builder = http::Request::builder().method(method).uri("http://h:1/p");
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(body.unwrap_or_default().as_bytes().to_vec())
            .unwrap();
        let mut out = Vec::new();
        write_request(&mut out, &request, "/p", "h:1");
        assert_eq!(String::from_utf8(out).unwrap(), wire);
    }
}
