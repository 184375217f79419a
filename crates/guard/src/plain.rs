//! A plain TCP listener for [`crate::serve`]. axum's own logs every failed accept at error
//! level and waits a second after each; out of descriptors, this one logs through
//! [`AcceptFailures`] (a line per listener per 10 s) and waits briefly, so it neither floods
//! the log nor spins, and takes the next connection as soon as a descriptor is free.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use crate::AcceptFailures;

/// A TCP listener whose failed accepts are logged rate-limited.
pub struct PlainListener {
    listener: TcpListener,
    failures: AcceptFailures,
}

impl PlainListener {
    /// `listener`, named `name` in the log.
    pub fn new(listener: TcpListener, name: &'static str) -> Self {
        Self {
            listener,
            failures: AcceptFailures::new(name),
        }
    }
}

/// A connection reset or aborted before it was accepted: the next one is not held up.
fn gone_before_accept(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

impl axum::serve::Listener for PlainListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, addr)) => {
                    let _ = tcp.set_nodelay(true);
                    return (tcp, addr);
                }
                Err(e) if gone_before_accept(&e) => {}
                Err(e) => self.failures.failed(&e).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
