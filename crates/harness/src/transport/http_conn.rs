//! One device's own HTTP/1.1 connection (hyper), kept alive between its requests the way a
//! device's client is, and opened again after the target drops it. Fleet devices use it when
//! every device is to hold a connection of its own; it records the same [`Exchange`] as
//! [`super::http::HttpTransport`]. The device's task drives the connection itself while a
//! request is out (no task of its own per connection), which saves two task switches a request.

use std::time::{Duration, Instant};

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::binding::HttpRequest;
use super::http::{
    Body, Endpoint, error_chain, prepare, recorded_headers, response_headers, wire_request,
};
use super::sigv4::Signer;
use crate::transport::{Exchange, FailureClass, Label, Outcome};

/// An open connection: the handle requests go through, and the connection's own state
/// machine, which must be polled for anything to move.
struct Open {
    sender: SendRequest<Full<Bytes>>,
    connection: Option<Driven>,
}

type Driven = Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// Runs `work` while driving `connection`. A connection that ends (the target closed it, or
/// it broke) is dropped, and `work` finishes from what was already read: an answer sent with
/// `connection: close` is whole, a cut one ends in an error.
async fn drive<F: Future>(connection: &mut Option<Driven>, work: F) -> F::Output {
    tokio::pin!(work);
    if let Some(c) = connection.as_mut() {
        tokio::select! {
            biased;
            out = &mut work => return out,
            _ = c => *connection = None,
        }
    }
    work.await
}

/// A device's connection to one `http://` endpoint.
pub struct DeviceConnection {
    address: String,
    /// The `host` header of every request, made once.
    host: Option<http::HeaderValue>,
    signer: Option<Signer>,
    origin: Instant,
    open: Option<Open>,
}

impl std::fmt::Debug for DeviceConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConnection")
            .field("address", &self.address)
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
        let address = endpoint
            .base
            .strip_prefix("http://")
            .ok_or_else(|| {
                format!(
                    "a device connection needs an http:// URL, not {}",
                    endpoint.base
                )
            })?
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            host: address.parse().ok(),
            address,
            signer,
            origin,
            open: None,
        })
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Opens the connection unless it is open; fails after `deadline`.
    pub async fn open(&mut self, deadline: Duration) -> Result<(), String> {
        if let Some(open) = &mut self.open {
            // A connection the target closed while the device was idle ends at once.
            let ended = open
                .connection
                .as_mut()
                .is_none_or(|c| c.as_mut().now_or_never().is_some());
            if !ended && !open.sender.is_closed() {
                return Ok(());
            }
        }
        self.open = None;
        let connect = async {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|e| format!("connect to {}: {e}", self.address))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake with {}: {e}", self.address))?;
            Ok::<_, String>(Open {
                sender,
                connection: Some(Box::pin(connection)),
            })
        };
        match tokio::time::timeout(deadline, connect).await {
            Ok(Ok(open)) => {
                self.open = Some(open);
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
        let started = Instant::now();
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
                    self.exchange(prepared).await
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
        if !matches!(outcome, Outcome::Answered(_)) || started.elapsed() > deadline {
            // A connection that timed out or broke may still carry the old answer.
            self.open = None;
        }
        Exchange::new(label, wire, outcome, sent_us, self.now_us())
    }

    async fn exchange(&mut self, prepared: http::Request<Vec<u8>>) -> Outcome {
        let Some(open) = self.open.as_mut() else {
            return Outcome::Failed {
                class: FailureClass::Connect,
                message: "no connection".into(),
            };
        };
        let (mut parts, body) = prepared.into_parts();
        // On a connection of its own the request line carries the path only.
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.scheme = None;
        uri.authority = None;
        parts.uri = match http::Uri::from_parts(uri) {
            Ok(u) => u,
            Err(e) => {
                return Outcome::Failed {
                    class: FailureClass::Protocol,
                    message: format!("invalid path: {e}"),
                };
            }
        };
        if let Some(host) = &self.host {
            parts.headers.insert(http::header::HOST, host.clone());
        }
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let sender = &mut open.sender;
        let response = match drive(&mut open.connection, async {
            sender.ready().await?;
            sender.send_request(request).await
        })
        .await
        {
            Ok(r) => r,
            Err(e) => return reset(&e),
        };
        let status = response.status().as_u16();
        let headers = response_headers(response.headers());
        let mut incoming = response.into_body();
        let mut body = Body::default();
        while let Some(frame) = drive(&mut open.connection, incoming.frame()).await {
            match frame {
                Ok(frame) => {
                    if let Some(chunk) = frame.data_ref()
                        && body.keep(chunk)
                    {
                        self.open = None;
                        break;
                    }
                }
                Err(e) => return reset(&e),
            }
        }
        body.answer(status, headers)
    }
}

fn reset(e: &hyper::Error) -> Outcome {
    let class = if e.is_parse() {
        FailureClass::Protocol
    } else {
        FailureClass::Reset
    };
    Outcome::Failed {
        class,
        message: error_chain(e),
    }
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
