//! What ties hyper's connection to its [`Watchdog`]: the socket as read ([`Watched`]), the
//! requests handed to the application and their answers ([`Guarded`]), and the body timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as _, Frame};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::watchdog::Watchdog;

/// A connection's socket that tells its watchdog what arrives.
pub(crate) struct Watched<IO> {
    io: IO,
    watchdog: Arc<Watchdog>,
}

impl<IO> Watched<IO> {
    pub(crate) fn new(io: IO, watchdog: Arc<Watchdog>) -> Self {
        Self { io, watchdog }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.watchdog.read(&buf.filled()[before..], Instant::now());
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// `app` as one connection's service: each request is counted in flight until its answer has
/// been written or dropped, and its body is cut off `body_timeout` after its headers.
#[derive(Clone)]
pub(crate) struct Guarded {
    pub(crate) app: Router,
    pub(crate) body_timeout: Duration,
    pub(crate) watchdog: Arc<Watchdog>,
}

impl tower_service::Service<http::Request<Incoming>> for Guarded {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let body_follows = !req.body().is_end_stream();
        self.watchdog.request(body_follows);
        let in_flight = InFlight(self.watchdog.clone());
        let receiving = body_follows.then(|| Receiving(self.watchdog.clone()));
        let limit = self.body_timeout;
        let req = req.map(|body| {
            Body::new(Deadline {
                body,
                expired: Box::pin(tokio::time::sleep(limit)),
                receiving,
            })
        });
        let answer = tower_service::Service::call(&mut self.app, req);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                Body::new(Answer {
                    body,
                    in_flight: Some(in_flight),
                })
            }))
        })
    }
}

/// A request in flight; dropped once answered in full, or abandoned.
struct InFlight(Arc<Watchdog>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered(Instant::now());
    }
}

/// A request body still arriving; dropped once in full, or no longer read.
struct Receiving(Arc<Watchdog>);

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.body_done();
    }
}

/// A request body that fails once its deadline passes.
struct Deadline {
    body: Incoming,
    expired: Pin<Box<tokio::time::Sleep>>,
    receiving: Option<Receiving>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            if frame.is_none() || self.body.is_end_stream() {
                self.receiving = None;
            }
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

/// An answer's body; its request stops being in flight once the body has been sent in full.
struct Answer {
    body: Body,
    in_flight: Option<InFlight>,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            self.in_flight = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
