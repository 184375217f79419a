//! How the HTTP listeners serve their connections: hyper (HTTP/1.1, and HTTP/2 where TLS
//! negotiates it) under limits that guard the
//! machine against clients that hold connections open (slowloris, idle sockets, stalled
//! bodies). They run on real time, not the virtual clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// What one HTTP listener allows a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a request's line and headers may take to arrive. hyper starts the timer as
    /// soon as the connection waits for a request, so it also closes a keep-alive connection
    /// left idle between requests.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, from its headers.
    pub body_timeout: Duration,
    /// Open connections per listener; the next is answered 503 with `Retry-After: 1` and closed.
    pub max_connections: u32,
}

impl Default for HttpLimits {
    /// 60 s (nginx's `client_header_timeout`) covers a headers-only request over any link, and,
    /// since the same timer ends idle keep-alive connections, outlasts the 30 s clients such as
    /// the harness's pool keep an idle connection, so none races a close; 30 s a job document of the largest
    /// size the contract allows (32,768 characters) at about a kilobyte a second; 10,000
    /// connections is the largest HTTP fleet scenario (`rollout-http-10k`) even with one
    /// connection per device.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

/// What a connection over the cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// Serves `app` on `listener` under `limits` until `stop` resolves, then lets the open
/// connections finish their requests and returns once they have; each request carries its
/// connection's address as `ConnectInfo`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()>,
) where
    L: axum::serve::Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections as usize));
    let stopping = CancellationToken::new();
    tokio::pin!(stop);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tokio::spawn(refuse(io));
            continue;
        };
        let app = app.clone().layer(Extension(ConnectInfo(addr)));
        let stopping = stopping.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(BodyDeadline {
                app,
                limit: limits.body_timeout,
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    stopping.cancel();
    // Drained once every connection has handed its permit back.
    let _ = open.acquire_many(limits.max_connections).await;
}

/// Answers a connection over the cap and closes it.
async fn refuse(mut io: impl AsyncRead + AsyncWrite + Unpin) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        io.write_all(BUSY).await?;
        io.shutdown().await
    })
    .await;
}

/// `app` with every request's body cut off `limit` after its headers.
#[derive(Clone)]
struct BodyDeadline {
    app: Router,
    limit: Duration,
}

impl tower_service::Service<http::Request<Incoming>> for BodyDeadline {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower_service::Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let limit = self.limit;
        let req = req.map(|body| {
            Body::new(Deadline {
                body,
                expired: Box::pin(tokio::time::sleep(limit)),
            })
        });
        tower_service::Service::call(&mut self.app, req)
    }
}

/// A request body that fails once its deadline passes.
struct Deadline {
    body: Incoming,
    expired: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.expired.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err("request body timed out".into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
