//! Failed accepts of one listener, logged at most once per [`QUIET`]. Out of descriptors
//! (EMFILE), accept fails for every waiting connection until one closes: a line per failure
//! would flood the log, and retrying at once would spin.

use std::time::{Duration, Instant};

/// How long a listener waits after a failed accept before it tries again.
const BACKOFF: Duration = Duration::from_millis(50);

/// The shortest time between two lines about one listener's failed accepts.
const QUIET: Duration = Duration::from_secs(10);

/// The failed accepts of the listener `name`.
#[derive(Debug)]
pub struct AcceptFailures {
    name: &'static str,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptFailures {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            last_logged: None,
            unlogged: 0,
        }
    }

    /// Logs the failure unless one was logged within [`QUIET`], then waits [`BACKOFF`].
    pub async fn failed(&mut self, error: &std::io::Error) {
        if let Some(unlogged) = self.count_at(Instant::now()) {
            let repeats = match unlogged {
                0 => String::new(),
                n => format!(" ({n} more not logged)"),
            };
            tracing::warn!(
                "{}: accept failed: {error}{repeats}; if out of descriptors, raise the limit \
                 (ulimit -n); the next failures within {}s are not logged",
                self.name,
                QUIET.as_secs()
            );
        }
        tokio::time::sleep(BACKOFF).await;
    }

    /// Counts a failure at `now`; the failures not logged before it when it is to be logged.
    fn count_at(&mut self, now: Instant) -> Option<u64> {
        match self.last_logged {
            Some(last) if now.duration_since(last) < QUIET => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failures at these seconds, and what each logs (`None`: nothing).
    #[test]
    fn a_failure_is_logged_at_most_once_per_quiet_period_with_those_left_unlogged() {
        for (seconds, logged) in [
            (vec![0, 0, 0], vec![Some(0), None, None]),
            (
                vec![0, 1, 9, 10, 11],
                vec![Some(0), None, None, Some(2), None],
            ),
            (vec![0, 30, 31, 45], vec![Some(0), Some(0), None, Some(1)]),
        ] {
            let start = Instant::now();
            let mut failures = AcceptFailures::new("test");
            let seen: Vec<Option<u64>> = seconds
                .iter()
                .map(|&s| failures.count_at(start + Duration::from_secs(s)))
                .collect();
            assert_eq!(seen, logged, "{seconds:?}");
        }
    }
}
