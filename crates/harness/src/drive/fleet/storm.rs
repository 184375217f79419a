//! Connections that drop and are made again: a device's connection attempts retried as the
//! fleet's retry policy says for `CONNECT`, and the reconnect storm — every connected device
//! loses its connection at one moment, and all reconnect at once, without pacing, as a fleet
//! does after a broker restart or a network outage.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Fleet;
use super::draws::{Draws, Part};
use crate::record::ConnectAttempt;
use crate::scenario::fleet::{CONNECT_OPERATION, RetryPolicy, StormSpec};
use crate::transport::line::Line;
use crate::transport::tls::THING_PLACEHOLDER;

/// The attempts of one connection: the backoff before each retry.
pub(super) struct ConnectTries {
    attempt: u32,
    draws: Draws,
}

impl ConnectTries {
    /// The first attempt, the backoffs drawn from `draws`.
    pub(super) fn new(draws: Draws) -> Self {
        Self { attempt: 1, draws }
    }

    /// The wait (real time) before the next attempt after a failed one; `None` when the
    /// policy does not retry connections or its attempts are spent.
    pub(super) fn backoff(&mut self, fleet: &Fleet) -> Option<Duration> {
        self.attempt += 1;
        connect_backoff_ms(fleet.retry.as_ref(), self.attempt, self.draws.unit())
            .map(|ms| fleet.virtual_to_real(ms / 1000.0))
    }
}

/// The backoff before connection attempt `attempt` under `policy`, in ms of device time.
fn connect_backoff_ms(policy: Option<&RetryPolicy>, attempt: u32, draw: f64) -> Option<f64> {
    policy
        .filter(|p| p.retries(CONNECT_OPERATION))?
        .backoff_ms(attempt, draw)
}

/// A failed attempt's words, with the device's own name put back as the template so that
/// devices refused alike are counted under one class.
pub(super) fn refusal(words: &str, thing: &str) -> String {
    words.replace(thing, THING_PLACEHOLDER)
}

/// One device's connection, as the storm knows it.
struct Member {
    index: u64,
    thing: String,
    line: Arc<Line>,
}

/// The devices a storm will hit, and when the first came online.
pub(super) struct Storm {
    spec: Option<StormSpec>,
    members: Mutex<Vec<Member>>,
    first_online: watch::Sender<Option<Instant>>,
}

impl Storm {
    /// A storm as `spec` says (`None`: the run has none, and nothing is kept).
    pub(super) fn new(spec: Option<StormSpec>) -> Self {
        Self {
            spec,
            members: Mutex::new(Vec::new()),
            first_online: watch::Sender::new(None),
        }
    }

    /// Notes that device `index` (`thing`) came online, over `line` when it has a broker
    /// connection of its own.
    pub(super) fn online(&self, index: u64, thing: &str, line: Option<Arc<Line>>) {
        if self.spec.is_none() {
            return;
        }
        self.first_online.send_if_modified(|first| {
            let unset = first.is_none();
            first.get_or_insert_with(Instant::now);
            unset
        });
        if let Some(line) = line {
            self.members
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Member {
                    index,
                    thing: thing.to_string(),
                    line,
                });
        }
    }
}

/// Waits for the storm's moment, drops every connected device's connection at once, then
/// reconnects them all at once; returns when every reconnection has ended.
pub(super) async fn run(fleet: Arc<Fleet>) {
    let Some(spec) = fleet.storm.spec else {
        return;
    };
    let mut first = fleet.storm.first_online.subscribe();
    let Ok(first) = first
        .wait_for(Option::is_some)
        .await
        .map(|f| f.unwrap_or_else(Instant::now))
    else {
        return;
    };
    let at = first + fleet.virtual_to_real(spec.at_s);
    tokio::select! {
        () = tokio::time::sleep_until(at.into()) => {}
        () = fleet.halt.cancelled() => return,
    }
    let members = std::mem::take(
        &mut *fleet
            .storm
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    // Every connection first, so that all are down at one moment.
    let dropped: Vec<Member> = members.into_iter().filter(|m| m.line.sever()).collect();
    tracing::info!("reconnect storm: {} connections dropped", dropped.len());
    let mut reconnecting = JoinSet::new();
    for member in dropped {
        reconnecting.spawn(reconnect(fleet.clone(), member));
    }
    while reconnecting.join_next().await.is_some() {}
}

/// Connects `member` again, retrying as the fleet's policy says; gives its line up when the
/// attempts run out.
async fn reconnect(fleet: Arc<Fleet>, member: Member) {
    let timeout = Duration::from_millis(fleet.spec.connect.timeout_ms);
    let mut tries = ConnectTries::new(Draws::device_part(
        fleet.spec.seed,
        member.index,
        Part::Reconnect,
    ));
    loop {
        if member.line.is_closed() || fleet.halted() {
            return;
        }
        let started = Instant::now();
        let result = member.line.open(&member.thing, timeout).await;
        let took = started.elapsed().as_micros() as u64;
        let words = match result {
            Ok(()) => {
                fleet.recorder.connect_attempt(took, ConnectAttempt::Remade);
                return;
            }
            Err(_) if member.line.is_closed() => return,
            Err(e) => refusal(&e, &member.thing),
        };
        match tries.backoff(&fleet) {
            Some(wait) => {
                fleet
                    .recorder
                    .connect_attempt(took, ConnectAttempt::Retried(words));
                if !fleet.pause(wait).await {
                    return;
                }
            }
            None => {
                fleet
                    .recorder
                    .connect_attempt(took, ConnectAttempt::Failed(words));
                member.line.lose();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::scenario::fleet::RetrySpec;

    fn preset(name: &str) -> Option<RetryPolicy> {
        RetrySpec::Named(name.into())
            .policy()
            .expect("a known policy")
    }

    /// The backoff before each connection attempt, in seconds of device time, with a draw of
    /// 0.5: the Device Client doubles from 10 s to 640 s without jitter for 8 attempts in all;
    /// the SDKs' standard mode makes 3, jittered; `none` never retries.
    #[rstest]
    #[case("device-client", &[Some(10.0), Some(20.0), Some(40.0), Some(80.0), Some(160.0), Some(320.0), Some(640.0), None])]
    #[case("sdk-standard", &[Some(0.5), Some(1.0), None, None, None, None, None, None])]
    #[case("none", &[None, None, None, None, None, None, None, None])]
    fn connection_attempts_back_off_as_the_policy_says(
        #[case] policy: &str,
        #[case] waits_s: &[Option<f64>],
    ) {
        let policy = preset(policy);
        let got: Vec<Option<f64>> = (2..=9)
            .map(|attempt| connect_backoff_ms(policy.as_ref(), attempt, 0.5).map(|ms| ms / 1000.0))
            .collect();
        assert_eq!(got, waits_s);
    }

    #[test]
    fn a_policy_that_does_not_name_connect_never_retries_a_connection() {
        let mut own = preset("sdk-standard").expect("a preset");
        own.operations.retain(|o| o != CONNECT_OPERATION);
        assert_eq!(connect_backoff_ms(Some(&own), 2, 0.5), None);
        assert!(own.retries("UpdateJobExecution"));
    }

    #[test]
    fn refusals_of_alike_devices_read_alike() {
        assert_eq!(
            refusal("certificate of dev-7 refused", "dev-7"),
            format!("certificate of {THING_PLACEHOLDER} refused")
        );
    }
}
