//! The guarded accept loop: hyper (HTTP/1.1, and HTTP/2 where the client speaks it) with a
//! [`Watchdog`] per connection, the body timeout, a cap on open connections, and a stop that
//! drains only what is being answered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::HttpLimits;
use crate::exchange::{Guarded, Watched};
use crate::watchdog::{OnStop, Watchdog};

/// What a connection over the cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// Connections over the cap being answered at once; past that a connection over the cap is
/// closed unanswered, so a flood cannot hold more descriptors than the cap and these.
const REFUSING: usize = 256;

/// How long answering a connection over the cap may take, reading what it sent until it
/// closes included (closing with unread input would reset the connection, and the client
/// could lose the 503).
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` under `limits` until `stop` resolves; then closes idle
/// connections and those whose requests are still arriving, lets the requests being answered
/// finish within `limits.drain`, and returns. Each request carries its connection's address
/// as `ConnectInfo`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()>,
) where
    L: axum::serve::Listener,
    L::Io: Unpin,
    L::Addr: Clone + Send + Sync + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections as usize));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let stopping = CancellationToken::new();
    tokio::pin!(stop);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(io).await;
                    drop(permit);
                });
            }
            continue;
        };
        let app = app.clone().layer(Extension(ConnectInfo(addr)));
        let stopping = stopping.clone();
        tokio::spawn(async move {
            connection(io, app, limits, stopping).await;
            drop(permit);
        });
    }
    stopping.cancel();
    // Done once every connection has handed its permit back, each within the drain window.
    let _ = open.acquire_many(limits.max_connections).await;
}

/// One connection, served until it ends, its watchdog expires or the stop closes it.
async fn connection<IO>(io: IO, app: Router, limits: HttpLimits, stopping: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let watchdog = Arc::new(Watchdog::new(Instant::now()));
    let service = TowerToHyperService::new(Guarded {
        app,
        body_timeout: limits.body_timeout,
        watchdog: watchdog.clone(),
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // hyper's own header timer would also end idle connections; the watchdog keeps the two.
    builder.http1().header_read_timeout(None);
    let io = TokioIo::new(Watched::new(io, watchdog.clone()));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = watchdog.expired(limits) => {}
        () = stopping.cancelled() => {
            if watchdog.on_stop() == OnStop::Drain {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(limits.drain, connection).await;
            }
        }
    }
}

/// Answers a connection over the cap and closes it.
async fn refuse(mut io: impl AsyncRead + AsyncWrite + Unpin) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        io.write_all(BUSY).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 1024];
        while io.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}
