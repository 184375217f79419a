//! The load models: a closed loop, where every device cycles with its think time, and an open
//! loop, where cycles start on a schedule whatever the target's pace.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::agent::{Agent, CycleEnd};
use super::draws::Draws;
use super::rest::rest;
use super::schedule::Schedule;
use super::{Fleet, LATE_ALLOWANCE, share};
use crate::record::Shard;
use crate::scenario::fleet::Until;

/// Closed loop: every device cycles, with its think time, until it drains or the run ends.
pub(super) async fn closed(fleet: &Arc<Fleet>, mut ready: mpsc::UnboundedReceiver<Agent>) {
    let mut devices = JoinSet::new();
    loop {
        tokio::select! {
            agent = ready.recv() => match agent {
                Some(mut agent) => {
                    let fleet = fleet.clone();
                    devices.spawn(async move {
                        loop {
                            if fleet.halted() || fleet.ending() {
                                break;
                            }
                            let end = agent.cycle(&fleet, fleet.now_us()).await;
                            match end {
                                CycleEnd::Drained => {
                                    fleet.drained.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                                CycleEnd::Halted => break,
                                CycleEnd::Empty | CycleEnd::Worked => {}
                            }
                            if !rest(&mut agent, &fleet, end, true).await {
                                break;
                            }
                        }
                        agent.close().await;
                    });
                }
                None => break,
            },
            Some(_) = devices.join_next(), if !devices.is_empty() => {}
        }
    }
    while devices.join_next().await.is_some() {}
}

/// Open loop: cycles start on the schedule, each taken by the next idle device; when none is
/// idle the cycle waits (and counts late), but its latency still runs from its scheduled time.
pub(super) async fn open(
    fleet: &Arc<Fleet>,
    mut ready: mpsc::UnboundedReceiver<Agent>,
    devices: usize,
    shard: Shard,
    start: Instant,
) {
    let load = &fleet.spec.load;
    let schedule = Schedule::new(
        &load.ramps(),
        share(fleet, devices),
        load.arrivals,
        Draws::schedule(fleet.spec.seed, shard.index),
    );
    // The same ramps, kept to report the rate they asked for once the pacer has the schedule.
    let asked = schedule.clone();
    let (idle_tx, mut idle) = mpsc::unbounded_channel::<Agent>();
    let mut running = JoinSet::new();
    let (mut intended, mut started, mut late, mut max_late) = (0u64, 0u64, 0u64, 0u64);
    let until_drained = fleet.spec.run.until == Until::Drained;
    let (due_tx, mut due_rx) = mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || pace(schedule, start, &due_tx));
    'arrivals: loop {
        let due = tokio::select! {
            due = due_rx.recv() => match due {
                Some(due) => due,
                None => break,
            },
            () = fleet.halt.cancelled() => break,
            () = fleet.ending.cancelled() => break,
        };
        intended += 1;
        let agent = loop {
            if until_drained && fleet.drained.load(Ordering::Relaxed) as usize >= devices {
                intended -= 1;
                break 'arrivals;
            }
            tokio::select! {
                Some(a) = ready.recv() => break a,
                Some(a) = idle.recv() => break a,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = fleet.halt.cancelled() => break 'arrivals,
                () = fleet.ending.cancelled() => break 'arrivals,
            }
        };
        let lateness = Instant::now().saturating_duration_since(due);
        started += 1;
        if lateness > LATE_ALLOWANCE {
            late += 1;
        }
        max_late = max_late.max(lateness.as_micros() as u64);
        let intended_us = due.saturating_duration_since(fleet.origin).as_micros() as u64;
        let (fleet, idle_tx) = (fleet.clone(), idle_tx.clone());
        running.spawn(async move {
            let mut agent = agent;
            match agent.cycle(&fleet, intended_us).await {
                CycleEnd::Drained => {
                    fleet.drained.fetch_add(1, Ordering::Relaxed);
                    agent.close().await;
                }
                CycleEnd::Halted => {
                    agent.close().await;
                }
                end @ (CycleEnd::Worked | CycleEnd::Empty) => {
                    if rest(&mut agent, &fleet, end, false).await {
                        let _ = idle_tx.send(agent);
                    } else {
                        agent.close().await;
                    }
                }
            }
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(due_rx);
    let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
    while running.join_next().await.is_some() {}
    fleet.recorder.update(|r| {
        r.schedule.target_rate = Some(asked.mean_rate(seconds));
        r.schedule.intended = intended;
        r.schedule.started = started;
        r.schedule.late = late;
        r.schedule.max_lateness_us = max_late;
        r.schedule.seconds = seconds;
    });
    while let Ok(mut a) = idle.try_recv() {
        a.close().await;
    }
}

/// Hands over each arrival of `schedule` when it is due. It sleeps on a thread of its own:
/// the runtime's timer rounds up to whole milliseconds, which would add up to a millisecond to
/// every open-loop latency. Ends when the schedule does or the receiver is gone.
fn pace(schedule: Schedule, start: Instant, due_tx: &mpsc::UnboundedSender<Instant>) {
    /// Longest single sleep, so a dropped receiver is noticed soon.
    const NAP: Duration = Duration::from_millis(50);
    for at in schedule {
        let due = start + Duration::from_secs_f64(at);
        loop {
            if due_tx.is_closed() {
                return;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(NAP));
        }
        if due_tx.send(due).is_err() {
            return;
        }
    }
}
