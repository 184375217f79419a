//! What a device does between cycles, by its agent profile: a poller waits its poll interval
//! (`idle`) after finding nothing pending and its think time after working; a listener, after
//! finding nothing pending, waits for a `notify-next` that names an execution, or for its
//! fallback. Either goes on at once when its connection was made again after a drop (it then
//! asks start-next, as a reconnected job agent does), and waits while it is down.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::Fleet;
use super::agent::{Agent, CycleEnd};
use crate::scenario::fleet::AgentProfile;
use crate::transport::line::LineState;

/// What a device waits for before its next cycle.
enum Wait {
    /// Nothing.
    Nothing,
    /// This long.
    Pause(Duration),
    /// A `notify-next` naming an execution, or the fallback.
    Notice,
}

/// Rests `agent` after a cycle that ended `end`; `paced` says whether the load model leaves
/// the pauses to the device (the closed loop) rather than to its schedule. Returns whether the
/// device goes on: not when the run is halted, or ending while it listens, or its connection
/// was given up (it then counts as drained: it has nothing left to do).
pub(super) async fn rest(agent: &mut Agent, fleet: &Fleet, end: CycleEnd, paced: bool) -> bool {
    let behaviour = &fleet.spec.behaviour;
    let listener = behaviour.agent == AgentProfile::Listener;
    let wait = match end {
        CycleEnd::Empty if listener => Wait::Notice,
        CycleEnd::Empty if paced => Wait::Pause(agent.draws.duration(&behaviour.idle)),
        CycleEnd::Worked if paced => Wait::Pause(agent.draws.duration(&fleet.spec.load.think)),
        _ => Wait::Nothing,
    };
    let Some(mut line) = agent.line.clone() else {
        return waiting(agent, fleet, &wait).await;
    };
    loop {
        let state = *line.borrow_and_update();
        match state {
            LineState::Lost => {
                fleet.drained.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            LineState::Closed => return false,
            LineState::Down => {
                tokio::select! {
                    changed = line.changed() => if changed.is_err() { return false },
                    () = fleet.halt.cancelled() => return false,
                }
                continue;
            }
            LineState::Up(made) if made > agent.up_seen => {
                agent.up_seen = made;
                return true;
            }
            LineState::Up(_) => {}
        }
        tokio::select! {
            goes_on = waiting(agent, fleet, &wait) => return goes_on,
            changed = line.changed() => if changed.is_err() { return false },
        }
    }
}

/// Waits as `wait` says; false when the run is halted first (or ending, for a listener).
async fn waiting(agent: &mut Agent, fleet: &Fleet, wait: &Wait) -> bool {
    match wait {
        Wait::Nothing => true,
        Wait::Pause(d) => d.is_zero() || fleet.pause(*d).await,
        Wait::Notice => {
            let fallback = fleet.virtual_to_real(fleet.spec.behaviour.listener_fallback_s);
            let topic = format!("$aws/things/{}/jobs/notify-next", agent.thing);
            let started = std::time::Instant::now();
            let heard = async {
                let notice = agent
                    .client
                    .next_message(
                        &agent.thing,
                        &topic,
                        agent.asked_us,
                        fallback,
                        names_execution,
                    )
                    .await;
                match notice {
                    Ok(message) => {
                        agent.heard_us = Some(message.at_us);
                        true
                    }
                    // No notice: the fallback ran out, or the connection is gone, in which
                    // case the rest of the fallback is waited out rather than asking in a loop.
                    Err(_) => {
                        fleet
                            .pause(fallback.saturating_sub(started.elapsed()))
                            .await
                    }
                }
            };
            tokio::select! {
                goes_on = heard => goes_on,
                // Once every job of a rollout of `jobs` is over, one more start-next drains it.
                () = fleet.shaped.over.cancelled() => true,
                () = fleet.halt.cancelled() => false,
                () = fleet.ending.cancelled() => false,
            }
        }
    }
}

/// Whether a `notify-next` payload names an execution (one without says nothing is pending).
fn names_execution(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.get("execution").map(|e| !e.is_null()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::names_execution;

    #[rstest]
    #[case(
        r#"{"timestamp":1,"execution":{"jobId":"j1","status":"QUEUED"}}"#,
        true
    )]
    #[case(r#"{"timestamp":1}"#, false)]
    #[case(r#"{"timestamp":1,"execution":null}"#, false)]
    #[case("not json", false)]
    fn a_notice_counts_when_it_names_an_execution(#[case] payload: &str, #[case] counts: bool) {
        assert_eq!(names_execution(payload), counts);
    }
}
