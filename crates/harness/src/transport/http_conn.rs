//! One device's own HTTP/1.1 connection, kept alive between its requests the way a device's
//! client is, and opened again after the target drops it. Fleet devices use it when every
//! device is to hold a connection of its own; it records the same [`Exchange`] as
//! [`super::http::HttpTransport`]. The request is written and the answer read by the device's
//! task itself ([`super::http1`]): no connection task, no pool, one write and usually one read
//! a request, which is what lets one core keep up with a fast target. Over `https://` the
//! stream is wrapped with tokio-rustls, with the device's own client certificate if it has one.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::binding::HttpRequest;
use super::http::{Endpoint, prepare, recorded_headers, wire_request};
use super::http1::{Broken, Wire, write_request};
use super::sigv4::Signer;
use super::tls::{TlsError, server_name};
use crate::transport::{Exchange, FailureClass, Label, Outcome};

/// A device's stream: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// An open connection and the bytes read from it but not used yet.
struct Open {
    stream: Stream,
    buf: Vec<u8>,
}

impl Open {
    /// Whether the connection can carry a request: the target has not closed it, and sent
    /// nothing unasked while it was idle. One read that must not wait tells: over TLS it also
    /// takes in what the protocol sends of its own accord (session tickets), which is not
    /// data.
    fn idle(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut read = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        matches!(
            Pin::new(&mut self.stream).poll_read(&mut cx, &mut read),
            Poll::Pending
        )
    }
}

/// How a device's connection is secured.
enum Security {
    Plain,
    /// TLS with this configuration (or the reason there is none, reported on every connect)
    /// to a server that must be valid for `name`.
    Tls {
        config: Result<Arc<ClientConfig>, TlsError>,
        name: ServerName<'static>,
    },
}

/// A device's connection to one `http://` or `https://` endpoint.
pub struct DeviceConnection {
    address: String,
    security: Security,
    signer: Option<Signer>,
    origin: Instant,
    open: Option<Open>,
    /// The request being written, kept for its allocation.
    out: Vec<u8>,
}

impl std::fmt::Debug for DeviceConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConnection")
            .field("address", &self.address)
            .field("tls", &matches!(self.security, Security::Tls { .. }))
            .field("open", &self.open.is_some())
            .finish_non_exhaustive()
    }
}

impl DeviceConnection {
    /// A connection (not yet opened) to the host of `endpoint`, which must be `http://`.
    pub fn new(
        endpoint: &Endpoint,
        signer: Option<Signer>,
        origin: Instant,
    ) -> Result<Self, String> {
        let address = authority(endpoint, "http://")?;
        Ok(Self::with(address, Security::Plain, signer, origin))
    }

    /// A connection (not yet opened) to the host of `endpoint`, which must be `https://`,
    /// with the rustls configuration `config` (its trust and the device's client
    /// certificate); a configuration that could not be made fails each connect, saying why.
    pub fn over_tls(
        endpoint: &Endpoint,
        config: Result<Arc<ClientConfig>, TlsError>,
        signer: Option<Signer>,
        origin: Instant,
    ) -> Result<Self, String> {
        let address = authority(endpoint, "https://")?;
        let name = server_name(&address).map_err(|e| e.to_string())?;
        Ok(Self::with(
            address,
            Security::Tls { config, name },
            signer,
            origin,
        ))
    }

    fn with(address: String, security: Security, signer: Option<Signer>, origin: Instant) -> Self {
        Self {
            address,
            security,
            signer,
            origin,
            open: None,
            out: Vec::new(),
        }
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Opens the connection unless it is open and idle; fails after `deadline`.
    pub async fn open(&mut self, deadline: Duration) -> Result<(), String> {
        if self.open.as_mut().is_some_and(Open::idle) {
            return Ok(());
        }
        self.open = None;
        let connect = async {
            let tcp = TcpStream::connect(&self.address)
                .await
                .map_err(|e| format!("connect to {}: {e}", self.address))?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            match &self.security {
                Security::Plain => Ok::<_, String>(Stream::Plain(tcp)),
                Security::Tls { config, name } => {
                    let config = config.as_ref().map_err(|e| e.to_string())?;
                    let tls = TlsConnector::from(config.clone())
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS handshake with {}: {e}", self.address))?;
                    Ok(Stream::Tls(Box::new(tls)))
                }
            }
        };
        match tokio::time::timeout(deadline, connect).await {
            Ok(Ok(stream)) => {
                self.open = Some(Open {
                    stream,
                    buf: Vec::new(),
                });
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "no connection to {} within {deadline:?}",
                self.address
            )),
        }
    }

    /// Sends `request` on this connection (opening it when needed) and waits at most
    /// `deadline` for the whole answer; a broken connection is dropped for the next request.
    pub async fn send(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
        deadline: Duration,
        label: Label<'_>,
    ) -> Exchange {
        let mut wire = wire_request(endpoint, request);
        let sent_us = self.now_us();
        let outcome = match prepare(endpoint, request, self.signer.as_ref()) {
            Ok(prepared) => {
                wire.headers = recorded_headers(&prepared);
                let outcome = tokio::time::timeout(deadline, async {
                    if let Err(message) = self.open(deadline).await {
                        return Outcome::Failed {
                            class: FailureClass::Connect,
                            message,
                        };
                    }
                    self.exchange(&prepared).await
                })
                .await;
                match outcome {
                    Ok(o) => o,
                    Err(_) => Outcome::timeout(deadline),
                }
            }
            Err(message) => Outcome::Failed {
                class: FailureClass::Protocol,
                message,
            },
        };
        if !matches!(outcome, Outcome::Answered(_)) {
            // A connection that timed out or broke may still carry the old answer.
            self.open = None;
        }
        Exchange::new(label, wire, outcome, sent_us, self.now_us())
    }

    /// Writes `prepared` and reads its answer; the connection is closed unless it can carry
    /// the next request.
    async fn exchange(&mut self, prepared: &http::Request<Vec<u8>>) -> Outcome {
        let Some(open) = self.open.as_mut() else {
            return Outcome::Failed {
                class: FailureClass::Connect,
                message: "no connection".into(),
            };
        };
        self.out.clear();
        // On a connection of its own the request line carries the path only.
        let path = prepared.uri().path_and_query().map_or("/", |p| p.as_str());
        write_request(&mut self.out, prepared, path, &self.address);
        if let Err(e) = open.stream.write_all(&self.out).await {
            return Broken::from(e).outcome();
        }
        let head_request = prepared.method() == http::Method::HEAD;
        let mut wire = Wire {
            stream: &mut open.stream,
            buf: &mut open.buf,
        };
        match wire.answer(head_request).await {
            Ok((outcome, reusable)) => {
                if !reusable {
                    self.open = None;
                }
                outcome
            }
            Err(broken) => broken.outcome(),
        }
    }
}

/// `host:port` of `endpoint`, whose URL must begin with `scheme` (the scheme's port when
/// the URL names none: a parsed URL drops the default one).
fn authority(endpoint: &Endpoint, scheme: &str) -> Result<String, String> {
    let host = endpoint
        .base
        .strip_prefix(scheme)
        .ok_or_else(|| {
            format!(
                "a device connection needs an {scheme} URL, not {}",
                endpoint.base
            )
        })?
        .split('/')
        .next()
        .unwrap_or_default();
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok() && !host.ends_with(']'));
    let default = if scheme == "https://" { 443 } else { 80 };
    Ok(if has_port {
        host.to_string()
    } else {
        format!("{host}:{default}")
    })
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers each request on a connection and then closes it.
    async fn one_answer_per_connection() -> (String, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut served = 0;
            while served < 3 {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 4096];
                let _ = socket.read(&mut buf).await.unwrap();
                socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await
                    .unwrap();
                served += 1;
            }
            served
        });
        (base, server)
    }

    #[tokio::test]
    async fn a_connection_the_target_closes_is_opened_again() {
        let (base, server) = one_answer_per_connection().await;
        let endpoint = Endpoint {
            base,
            service: "iot-jobs-data",
        };
        let mut conn = DeviceConnection::new(&endpoint, None, Instant::now()).unwrap();
        let request = HttpRequest {
            method: "PUT".into(),
            target: "/things/t/jobs/$next".into(),
            body: Some("{}".into()),
        };
        for seq in 0..3 {
            let label = Label {
                seq,
                context: "t",
                operation: "op",
            };
            let e = conn
                .send(&endpoint, &request, Duration::from_secs(5), label)
                .await;
            // Give the close time to arrive before the next request.
            tokio::time::sleep(Duration::from_millis(20)).await;
            match e.outcome {
                Outcome::Answered(r) => assert_eq!((r.status, r.body.as_str()), (200, "{}")),
                other => panic!("request {seq}: {other:?}"),
            }
        }
        assert_eq!(server.await.unwrap(), 3);
    }
}
