//! An axum listener over TLS. Handshakes run in tasks of their own, so a slow or silent client
//! holds up nobody else's connection; finished ones are handed to axum with the peer's address
//! and, on the mTLS listener, the verdict on its certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::ServerConfig;
use rustls_pki_types::UnixTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use jobcert_guard::AcceptFailures;

use super::client_cert::{CertificateJudge, CertificateVerdict};
use super::subject::common_name;

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finished handshakes waiting for axum to take them.
const READY_QUEUE: usize = 1024;

/// Who is at the other end of a TLS connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The verdict on its client certificate; `None` where none is asked for.
    pub certificate: Option<Arc<CertificateVerdict>>,
    /// The thing its client certificate names, if it presented one that names one.
    pub thing: Option<Arc<str>>,
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections arrive with their TLS handshake done.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS on `listener` with `config`; with `judge`, each connection's client
    /// certificate is judged once, after its handshake.
    pub fn new(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        judge: Option<Arc<CertificateJudge>>,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), judge, tx));
        Ok(Self {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop ended (it never does while the listener lives): nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.local,
            certificate: None,
            thing: None,
        })
    }
}

/// Accepts TCP connections and runs each handshake in its own task.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    judge: Option<Arc<CertificateJudge>>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, Peer)>,
) {
    let mut failures = AcceptFailures::new("TLS listener");
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                failures.failed(&e).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, judge, ready) = (acceptor.clone(), judge.clone(), ready.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake with {addr} failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake with {addr} timed out");
                    return;
                }
            };
            let certificate = judge.map(|judge| {
                Arc::new(judge.judge(tls.get_ref().1.peer_certificates(), UnixTime::now()))
            });
            let thing = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(<[_]>::first)
                .and_then(common_name)
                .map(Arc::from);
            let peer = Peer {
                addr,
                certificate,
                thing,
            };
            let _ = ready.send((tls, peer)).await;
        });
    }
}
