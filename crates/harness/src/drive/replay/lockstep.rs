//! Differential runs (`jobcert diff`): one capture replayed against a primary, a candidate and
//! optionally a secondary target in lock-step per device — each target in its own namespace
//! (the run id and a letter of its own), each exchange sent to all before the device's next —
//! with every answer compared member by member. After its last exchange, each MQTT device's
//! notifications from every target are compared with the primary's within the notify window
//! (`check::differential::notifications`). A device whose candidate departs from the primary in
//! outcome or job is quarantined: its later exchanges are still sent (so the targets stay in
//! step) but not compared, and neither are the notifications after it, so one difference does
//! not cascade.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::device::{Playing, Step};
use super::{Prepared, Replay, ReplaySettings, Targets, events, seed};
use crate::check::differential::notifications::{self, Comparison, PUBLISHED};
use crate::check::differential::{
    Baseline, Normalised, OUTCOME, countdown_tolerance, differences, normalise, skew,
};
use crate::record::capture::{Capture, Line};
use crate::record::differential::{Compared, DiffRecord, Notified, Sample};
use crate::record::{TargetInfo, epoch_ms};
use jobcert_contract::{Binding, Operation};

/// The least real time two targets' notifications may arrive apart and still pair. At a high
/// time scale the notify window is a few real milliseconds, less than a busy machine's
/// scheduling delay between two processes; below this floor arrival times say nothing about
/// the targets.
const SCHEDULING_FLOOR: Duration = Duration::from_millis(250);

/// The targets of a differential run.
#[derive(Debug, Clone)]
pub struct DiffTargets {
    /// The reference for the comparison.
    pub primary: Targets,
    /// The implementation judged.
    pub candidate: Targets,
    /// A second instance of the primary, whose differences are noise.
    pub secondary: Option<Targets>,
}

/// How a differential run is carried out.
#[derive(Debug, Clone)]
pub struct DiffSettings {
    /// How each target is replayed (its run id gets a letter per target).
    pub replay: ReplaySettings,
    /// Diffy's relative threshold, in percent.
    pub relative: f64,
    /// Diffy's absolute threshold, in percent.
    pub absolute: f64,
    /// How far apart, in target time, two targets' notifications may arrive and still be the
    /// same notification.
    pub notify_window: Duration,
}

/// One target's replay: its letter and run id, and the replay.
struct Lane {
    run: String,
    replay: Arc<Replay>,
}

/// Plays `capture` against every target of `targets` in lock-step and compares the answers.
pub async fn run(
    capture: Arc<Capture>,
    targets: &DiffTargets,
    settings: &DiffSettings,
    stop: CancellationToken,
) -> DiffRecord {
    let started_at_ms = epoch_ms();
    let halt = CancellationToken::new();
    let watchdog = {
        let halt = halt.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            halt.cancel();
        })
    };
    let roles = [
        Some(('p', &targets.primary)),
        Some(('c', &targets.candidate)),
    ]
    .into_iter()
    .chain([targets.secondary.as_ref().map(|s| ('s', s))])
    .flatten();
    let mut lanes = Vec::new();
    let mut prepared = Vec::new();
    for (letter, t) in roles {
        let mut replay = settings.replay.clone();
        replay.run_id = format!("{}{letter}", settings.replay.run_id);
        let (r, p) = Replay::prepare(capture.clone(), t, &replay, halt.clone());
        lanes.push(Lane {
            run: replay.run_id,
            replay: r,
        });
        prepared.push(p);
    }
    let record = Arc::new(Mutex::new(DiffRecord {
        capture: settings.replay.capture_name.clone(),
        run_id: settings.replay.run_id.clone(),
        started_at_ms,
        duration_ms: 0,
        stopped_by: None,
        targets: Compared {
            primary: TargetInfo::from(&targets.primary.primary),
            candidate: TargetInfo::from(&targets.candidate.primary),
            secondary: targets
                .secondary
                .as_ref()
                .map(|s| TargetInfo::from(&s.primary)),
        },
        relative: settings.relative,
        absolute: settings.absolute,
        notify_window_ms: settings.notify_window.as_millis() as u64,
        operations: Default::default(),
        quarantined: 0,
        skipped: 0,
        unsent: 0,
    }));
    let mut stopped_by = None;
    for (lane, p) in lanes.iter().zip(&prepared) {
        if let Err(why) = seed(&lane.replay, p).await {
            stopped_by = Some(format!("{}: {why}", lane.run));
            break;
        }
    }
    if stopped_by.is_none() {
        play(&lanes, prepared, &record, settings.notify_window).await;
    }
    for lane in &lanes {
        let lane_record = lane.replay.finish(None).await;
        if stopped_by.is_none() {
            stopped_by = lane_record.stopped_by;
        }
    }
    watchdog.abort();
    let mut record = Arc::try_unwrap(record)
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_else(|shared| shared.lock().unwrap_or_else(|p| p.into_inner()).clone());
    record.duration_ms = epoch_ms().saturating_sub(started_at_ms);
    record.stopped_by = stopped_by;
    record
}

/// Plays every device on every lane in lock-step, each lane's world changes beside it.
async fn play(
    lanes: &[Lane],
    prepared: Vec<Prepared>,
    record: &Arc<Mutex<DiffRecord>>,
    window: Duration,
) {
    let mut tasks = JoinSet::new();
    let starts: Vec<u64> = lanes.iter().map(|l| l.replay.now_us()).collect();
    let mut devices: Vec<Vec<Playing>> = Vec::new();
    for (k, (lane, p)) in lanes.iter().zip(prepared).enumerate() {
        events(&lane.replay, &p.units, &p.orders, starts[k], &mut tasks);
        for (d, timeline) in p.timelines.into_iter().enumerate() {
            if devices.len() <= d {
                devices.push(Vec::new());
            }
            devices[d].push(Playing::new(
                timeline,
                lane.replay.targets.primary.time_scale,
            ));
        }
    }
    let shared: Arc<Vec<(String, Arc<Replay>, u64)>> = Arc::new(
        lanes
            .iter()
            .zip(&starts)
            .map(|(l, s)| (l.run.clone(), l.replay.clone(), *s))
            .collect(),
    );
    for playing in devices {
        let (shared, record) = (shared.clone(), record.clone());
        tasks.spawn(async move { device(&shared, playing, &record, window).await });
    }
    while tasks.join_next().await.is_some() {}
}

/// One device's exchanges on every lane, compared after each step, then its notifications.
async fn device(
    lanes: &[(String, Arc<Replay>, u64)],
    mut playing: Vec<Playing>,
    record: &Mutex<DiffRecord>,
    window: Duration,
) {
    let Some(first) = playing.first() else {
        return;
    };
    let capture = lanes[0].1.capture.clone();
    let lines = first.timeline().len();
    let mut baselines = vec![Baseline::default(); playing.len()];
    // The largest real-time skew so far between the primary's requests and each other's.
    let mut skews = [std::time::Duration::ZERO; 2];
    let mqtt = first.timeline().mqtt;
    let mut quarantined = false;
    // Where each lane was (µs since its start) when the device was quarantined.
    let mut cutoffs: Option<Vec<u64>> = None;
    // The primary's sends (µs since its start) and their capture lines, to place notifications.
    let mut marks: Vec<(u64, u64)> = Vec::new();
    for k in 0..lines {
        let steps = join_all(
            playing
                .iter_mut()
                .zip(lanes)
                .map(|(p, (_, replay, start))| p.step(replay, *start, k)),
        )
        .await;
        if steps.iter().any(|s| matches!(s, Step::Halted)) {
            return;
        }
        if mqtt {
            for (p, (_, replay, _)) in playing.iter_mut().zip(lanes) {
                p.keep_notifies(replay).await;
            }
        }
        if steps.iter().all(|s| matches!(s, Step::Noticed)) {
            continue;
        }
        let i = playing[0].timeline().line_index(k);
        let (line, Line::Exchange(recorded)) = (capture.lines[i].line, &capture.lines[i].value)
        else {
            continue;
        };
        let mut sent = Vec::new();
        for step in steps {
            if let Step::Sent { exchange, job } = step {
                sent.push((*exchange, job));
            }
        }
        if sent.len() < lanes.len() {
            record.lock().unwrap_or_else(|p| p.into_inner()).unsent += 1;
            continue;
        }
        let since_start = |lane: usize| sent[lane].0.timing.sent_us.saturating_sub(lanes[lane].2);
        marks.push((since_start(0), line));
        if quarantined {
            record.lock().unwrap_or_else(|p| p.into_inner()).skipped += 1;
            continue;
        }
        let Some(operation) = Operation::from_name(&recorded.operation) else {
            continue;
        };
        let binding = if recorded.transport == "mqtt" {
            Binding::Mqtt
        } else {
            Binding::Http
        };
        let normal: Vec<Normalised> = sent
            .iter()
            .zip(lanes)
            .zip(baselines.iter_mut())
            .map(|(((exchange, job), (run, _, _)), base)| {
                normalise(exchange, operation, binding, (run, job.as_deref()), base)
            })
            .collect();
        let scale = lanes[0].1.targets.primary.time_scale;
        let at = |k: usize| {
            let (t, start) = (&sent[k].0.timing, lanes[k].2);
            (
                t.sent_us.saturating_sub(start),
                t.done_us.saturating_sub(start),
            )
        };
        for k in 1..sent.len() {
            skews[k - 1] = skews[k - 1].max(skew(at(0), at(k)));
        }
        let raw = differences(&normal[0], &normal[1], countdown_tolerance(scale, skews[0]));
        let noise = normal
            .get(2)
            .map(|s| differences(&normal[0], s, countdown_tolerance(scale, skews[1])))
            .unwrap_or_default();
        let value =
            |n: &Normalised, path: &str| n.members.get(path).cloned().unwrap_or(Value::Null);
        let device = recorded.device.clone();
        record.lock().unwrap_or_else(|p| p.into_inner()).count(
            operation.name(),
            &raw,
            &noise,
            |path| Sample {
                line,
                device: device.clone(),
                primary: value(&normal[0], path),
                candidate: value(&normal[1], path),
                secondary: normal.get(2).map(|s| value(s, path)),
                exchanges: sent.iter().map(|(e, _)| e.clone()).collect(),
                notifications: Vec::new(),
            },
        );
        let departs = raw
            .iter()
            .any(|p| (p == OUTCOME || p.ends_with("jobId")) && !noise.contains(p));
        if departs {
            quarantined = true;
            cutoffs = Some((0..sent.len()).map(since_start).collect());
            record.lock().unwrap_or_else(|p| p.into_inner()).quarantined += 1;
        }
    }
    if mqtt {
        let terms = NotifyTerms {
            window,
            skews: &skews,
            cutoffs: cutoffs.as_deref(),
            marks: &marks,
        };
        terms.compare(lanes, &mut playing, record).await;
    }
    for (p, (_, replay, _)) in playing.into_iter().zip(lanes) {
        p.finish(replay);
    }
}

/// What a device's notifications are compared with: the window (target time), the largest
/// skew so far between the primary's requests and each other lane's, where each lane was when
/// the device was quarantined, and the primary's sends with their capture lines.
struct NotifyTerms<'a> {
    window: Duration,
    skews: &'a [Duration; 2],
    cutoffs: Option<&'a [u64]>,
    marks: &'a [(u64, u64)],
}

impl NotifyTerms<'_> {
    /// Waits out the window (for notifications of the last exchanges), then compares what each
    /// lane published to the device before its quarantine with the primary's.
    async fn compare(
        &self,
        lanes: &[(String, Arc<Replay>, u64)],
        playing: &mut [Playing],
        record: &Mutex<DiffRecord>,
    ) {
        let replay = &lanes[0].1;
        let scale = replay.targets.primary.time_scale;
        // The window in real time, no shorter than the scheduling floor, grown by the measured
        // skew as the countdown's tolerance is.
        let real = Duration::from_secs_f64(self.window.as_secs_f64() / scale.max(f64::EPSILON));
        let windows: Vec<Duration> = self
            .skews
            .iter()
            .map(|s| real.max(SCHEDULING_FLOOR) + *s)
            .collect();
        let longest = windows.iter().max().copied().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(longest) => {}
            () = replay.halt.cancelled() => return,
        }
        let mut published: Vec<Vec<Notified>> = Vec::new();
        for (k, (p, (_, lane, start))) in playing.iter_mut().zip(lanes).enumerate() {
            let cutoff = self.cutoffs.map_or(u64::MAX, |c| c[k]);
            published.push(
                p.notifications(lane)
                    .await
                    .into_iter()
                    .map(|m| Notified {
                        topic: m.topic,
                        payload: m.payload,
                        at_us: m.at_us.saturating_sub(*start),
                    })
                    .filter(|n| n.at_us < cutoff)
                    .collect(),
            );
        }
        let reduced: Vec<_> = published
            .iter()
            .zip(lanes)
            .map(|(list, (run, _, _))| {
                let messages: Vec<(u64, &str, &str)> = list
                    .iter()
                    .map(|n| (n.at_us, n.topic.as_str(), n.payload.as_str()))
                    .collect();
                notifications::reduce(&messages, run)
            })
            .collect();
        let others = lanes.len() - 1;
        let windows_us: Vec<u64> = windows[..others]
            .iter()
            .map(|w| w.as_micros() as u64)
            .collect();
        let tolerances: Vec<f64> = self.skews[..others]
            .iter()
            .map(|s| countdown_tolerance(scale, *s))
            .collect();
        let device = device_of(&playing[0], replay);
        let mut record = record.lock().unwrap_or_else(|p| p.into_inner());
        for c in notifications::compare(&reduced, &windows_us, &tolerances) {
            let noise = c.differ.get(1).cloned().unwrap_or_default();
            record.count(c.kind.name(), &c.differ[0], &noise, |path| {
                self.sample(&c, path, &published, &device)
            });
        }
    }

    /// The sample of comparison `c` at `path`: each lane's member (every member, reduced, for
    /// [`PUBLISHED`]) and message.
    fn sample(
        &self,
        c: &Comparison,
        path: &str,
        published: &[Vec<Notified>],
        device: &str,
    ) -> Sample {
        let message = |k: usize| c.heard[k].as_ref().map(|h| published[k][h.index].clone());
        let value = |k: usize| match &c.heard[k] {
            Some(h) if path == PUBLISHED => Value::Object(
                h.said
                    .members
                    .iter()
                    .map(|(p, v)| (p.clone(), v.clone()))
                    .collect(),
            ),
            Some(h) => h.said.members.get(path).cloned().unwrap_or(Value::Null),
            None => Value::Null,
        };
        let at = c.heard.iter().flatten().map(|h| h.at_us).min().unwrap_or(0);
        let line = self
            .marks
            .iter()
            .take_while(|(sent, _)| *sent <= at)
            .last()
            .or(self.marks.first())
            .map_or(0, |(_, line)| *line);
        Sample {
            line,
            device: device.to_string(),
            primary: value(0),
            candidate: value(1),
            secondary: (c.heard.len() > 2).then(|| value(2)),
            exchanges: Vec::new(),
            notifications: (0..c.heard.len()).map(message).collect(),
        }
    }
}

/// The recorded name of the device `playing` plays.
fn device_of(playing: &Playing, replay: &Replay) -> String {
    let i = playing.timeline().line_index(0);
    match &replay.capture.lines[i].value {
        Line::Exchange(e) => e.device.clone(),
        Line::Event(e) => e.device.clone(),
        _ => String::new(),
    }
}
