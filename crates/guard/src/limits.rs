//! What one HTTP listener allows a client, with the defaults `jobcert serve` and `jobcert
//! capture proxy` start with.

use std::time::Duration;

/// What one HTTP listener allows a client. All on real time, not a virtual clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a request's line and headers may take to arrive, from their first byte.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, from its headers.
    pub body_timeout: Duration,
    /// How long a connection may wait for the first byte of a request, from its last answer (or
    /// its accept).
    pub idle_timeout: Duration,
    /// Open connections per listener; the next is answered 503 with `Retry-After: 1` and closed.
    pub max_connections: u32,
    /// How long, once told to stop, the listener lets requests already being answered finish.
    /// Idle connections and requests still arriving (headers or body incomplete) are closed at
    /// once.
    pub drain: Duration,
}

impl Default for HttpLimits {
    /// 10 s brings a request's line and headers (a few hundred bytes) over any link a device
    /// uses; 30 s a job document of the largest size the contract allows (32,768 characters)
    /// at about a kilobyte a second; 60 s of idleness outlasts the 30 s for which client pools
    /// typically keep an idle connection (the harness's own among them), so a pool does not
    /// race the server's close; 10,000 connections is the largest HTTP fleet scenario
    /// (`rollout-http-10k`) even with one connection per device; 5 s lets the answers under
    /// way reach their clients.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            drain: Duration::from_secs(5),
        }
    }
}
