//! The options that set what an HTTP listener allows a client, shared by `jobcert serve` and
//! `jobcert capture proxy`; their defaults are `HttpLimits::default()`'s.

use std::time::Duration;

use clap::Args;
use jobcert_guard::HttpLimits;

/// Milliseconds of one of the default limits.
fn default_ms(limit: fn(&HttpLimits) -> Duration) -> u64 {
    u64::try_from(limit(&HttpLimits::default()).as_millis()).unwrap_or(u64::MAX)
}

/// What each HTTP listener allows a client (real time, not the virtual clock).
#[derive(Debug, Args)]
pub struct HttpLimitArgs {
    /// How long (ms) a request's line and headers may take to arrive, from their first byte.
    #[arg(long, value_name = "MS", default_value_t = default_ms(|l| l.header_timeout), value_parser = clap::value_parser!(u64).range(1..))]
    http_header_timeout_ms: u64,
    /// How long (ms) a request's body may take to arrive after its headers.
    #[arg(long, value_name = "MS", default_value_t = default_ms(|l| l.body_timeout), value_parser = clap::value_parser!(u64).range(1..))]
    http_body_timeout_ms: u64,
    /// How long (ms) a connection may wait for the first byte of a request, from its accept or
    /// its last answer; keep it above the idle time of the clients' pools (30 s is typical).
    #[arg(long, value_name = "MS", default_value_t = default_ms(|l| l.idle_timeout), value_parser = clap::value_parser!(u64).range(1..))]
    http_idle_timeout_ms: u64,
    /// Open connections per HTTP listener; the next is answered 503 with `Retry-After: 1`.
    #[arg(long, value_name = "N", default_value_t = HttpLimits::default().max_connections, value_parser = clap::value_parser!(u32).range(1..))]
    http_max_connections: u32,
    /// How long (ms), once stopping, requests being answered may take to finish; idle
    /// connections and requests still arriving are closed at once.
    #[arg(long, value_name = "MS", default_value_t = default_ms(|l| l.drain))]
    http_drain_ms: u64,
}

impl HttpLimitArgs {
    /// The limits these options give.
    pub fn limits(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_millis(self.http_header_timeout_ms),
            body_timeout: Duration::from_millis(self.http_body_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            max_connections: self.http_max_connections,
            drain: Duration::from_millis(self.http_drain_ms),
        }
    }
}
