//! One connection's watchdog: which of the listener's timeouts applies to the connection now,
//! and what a stop does to it. hyper has one timer for both a request's headers and the
//! wait between requests (its `header_read_timeout`, hyperium/hyper#3828), so a short header
//! timeout would cut idle pooled connections; the watchdog keeps the two apart, as Envoy and
//! Go's `net/http` do, and also covers the wait before hyper has picked HTTP/1 or HTTP/2,
//! which hyper's timer does not. A connection is idle from its accept until its first byte, so
//! a client that opens its connections ahead of its first requests (a fleet's connect ramp) is
//! held to the idle timeout, not the header one.

use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::HttpLimits;

/// The start of the HTTP/2 connection preface (RFC 9113 §3.4); no HTTP/1 method begins so.
const H2_PREFACE: &[u8] = b"PRI ";

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a request since `since` (the accept, or the last answer).
    Idle,
    /// A request's line and headers arriving since `since` (their first byte).
    Head,
    /// Requests in the application's hands: the body timeout and the answer take over.
    Busy,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    since: Instant,
    /// Requests handed to the application and not yet answered in full.
    in_flight: u32,
    /// Of those, the ones whose body has not arrived in full.
    receiving: u32,
    /// Whether the connection speaks HTTP/2 (known from its first bytes): its frames between
    /// requests (pings, settings, window updates) are not the start of a request.
    h2: Option<bool>,
}

/// What a stop does to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnStop {
    /// Close it now: it is idle, or its requests are still arriving.
    Close,
    /// Let the requests being answered finish, within the drain window.
    Drain,
}

/// The shared state of one connection, told of its reads and requests.
#[derive(Debug)]
pub(crate) struct Watchdog {
    state: Mutex<State>,
    changed: Notify,
}

impl Watchdog {
    /// A connection accepted at `now`, idle until its first byte.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                phase: Phase::Idle,
                since: now,
                in_flight: 0,
                receiving: 0,
                h2: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `bytes` arrived at `now`.
    pub(crate) fn read(&self, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        let mut s = self.state();
        if s.h2.is_none() {
            s.h2 = Some(bytes.starts_with(H2_PREFACE));
        }
        if s.phase == Phase::Idle && s.h2 == Some(false) {
            s.phase = Phase::Head;
            s.since = now;
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A request's headers arrived in full and it goes to the application; `body_follows`
    /// when its body has yet to arrive.
    pub(crate) fn request(&self, body_follows: bool) {
        let mut s = self.state();
        s.in_flight += 1;
        s.receiving += u32::from(body_follows);
        s.phase = Phase::Busy;
        drop(s);
        self.changed.notify_one();
    }

    /// A request's body arrived in full (or the application stopped reading it).
    pub(crate) fn body_done(&self) {
        let mut s = self.state();
        s.receiving = s.receiving.saturating_sub(1);
    }

    /// A request was answered in full (or abandoned) at `now`.
    pub(crate) fn answered(&self, now: Instant) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.phase = Phase::Idle;
            s.since = now;
            drop(s);
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed as things stand; `None` while requests are being
    /// handled.
    fn deadline(&self, limits: &HttpLimits) -> Option<Instant> {
        let s = self.state();
        match s.phase {
            Phase::Idle => Some(s.since + limits.idle_timeout),
            Phase::Head => Some(s.since + limits.header_timeout),
            Phase::Busy => None,
        }
    }

    /// What a stop does to the connection now.
    pub(crate) fn on_stop(&self) -> OnStop {
        let s = self.state();
        if s.phase == Phase::Busy && s.in_flight > s.receiving {
            OnStop::Drain
        } else {
            OnStop::Close
        }
    }

    /// Resolves once the connection has overstayed the timeout that applies to it.
    pub(crate) async fn expired(&self, limits: HttpLimits) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(&limits) {
                Some(at) if at <= Instant::now() => return,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// What happens to a connection, at a second after its accept.
    #[derive(Debug, Clone, Copy)]
    enum Event {
        Read(&'static [u8]),
        Request { body_follows: bool },
        BodyDone,
        Answered,
    }
    use Event::*;

    const LIMITS: HttpLimits = HttpLimits {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(30),
        max_connections: 1,
        drain: Duration::from_secs(5),
    };

    /// Events at seconds → the deadline (seconds after the accept) and what a stop does.
    #[test]
    fn each_phase_of_a_connection_has_its_own_timeout_and_its_own_fate_at_a_stop() {
        let get = b"GET / HTTP/1.1\r\n" as &[u8];
        for (name, events, deadline, on_stop) in [
            (
                "silent since the accept: idle",
                vec![],
                Some(30),
                OnStop::Close,
            ),
            (
                "a slow first head: from its first byte",
                vec![(1, Read(b"G")), (2, Read(b"E"))],
                Some(3),
                OnStop::Close,
            ),
            (
                "headers in, body arriving",
                vec![(0, Read(get)), (1, Request { body_follows: true })],
                None,
                OnStop::Close,
            ),
            (
                "body in, being answered",
                vec![
                    (0, Read(get)),
                    (1, Request { body_follows: true }),
                    (1, BodyDone),
                ],
                None,
                OnStop::Drain,
            ),
            (
                "answered: idle from the answer",
                vec![
                    (0, Read(get)),
                    (
                        0,
                        Request {
                            body_follows: false,
                        },
                    ),
                    (4, Answered),
                ],
                Some(34),
                OnStop::Close,
            ),
            (
                "the next head: from its first byte",
                vec![
                    (0, Read(get)),
                    (
                        0,
                        Request {
                            body_follows: false,
                        },
                    ),
                    (4, Answered),
                    (20, Read(b"GE")),
                    (21, Read(b"T")),
                ],
                Some(22),
                OnStop::Close,
            ),
            (
                "HTTP/2: idle after the preface and between requests",
                vec![
                    (0, Read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
                    (
                        1,
                        Request {
                            body_follows: false,
                        },
                    ),
                    (1, Answered),
                    (5, Read(b"\x00\x00\x08\x06")),
                ],
                Some(31),
                OnStop::Close,
            ),
            (
                "two in flight, one still receiving",
                vec![
                    (0, Read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
                    (0, Request { body_follows: true }),
                    (
                        0,
                        Request {
                            body_follows: false,
                        },
                    ),
                ],
                None,
                OnStop::Drain,
            ),
        ] {
            let accept = Instant::now();
            let watchdog = Watchdog::new(accept);
            for (second, event) in events {
                let at = accept + Duration::from_secs(second);
                match event {
                    Read(bytes) => watchdog.read(bytes, at),
                    Request { body_follows } => watchdog.request(body_follows),
                    BodyDone => watchdog.body_done(),
                    Answered => watchdog.answered(at),
                }
            }
            let want = deadline.map(|s| accept + Duration::from_secs(s));
            assert_eq!(watchdog.deadline(&LIMITS), want, "{name}");
            assert_eq!(watchdog.on_stop(), on_stop, "{name}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_fires_at_the_deadline_of_the_phase_it_is_in() {
        let accept = Instant::now();
        let watchdog = std::sync::Arc::new(Watchdog::new(accept));
        watchdog.read(b"GET / HTTP/1.1\r\n\r\n", accept);
        watchdog.request(false);
        let expired = tokio::spawn({
            let watchdog = watchdog.clone();
            async move {
                watchdog.expired(LIMITS).await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(
            !expired.is_finished(),
            "no timeout while a request is handled"
        );
        watchdog.answered(Instant::now());
        let answered = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        watchdog.read(b"G", Instant::now());
        let head = Instant::now();
        let fired = expired.await.expect("the watchdog ends");
        assert_eq!(fired - head, LIMITS.header_timeout);
        assert!(fired - answered < LIMITS.idle_timeout);
    }
}
