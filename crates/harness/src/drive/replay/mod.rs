//! The replay driver: recreates a capture's world through the control plane, then plays every
//! device's exchanges in order against the target. Sends are anchored to the start — line `i`
//! is due at `start + (t_i − t_0) / speed`, never after a chain of sleeps, so error does not
//! accumulate — and a device's next exchange waits for its previous answer. Latency counts from
//! the intended time (the later of the schedule and the previous answer), so a slow target
//! cannot hide behind a slowed-down sender; a send that finds every slot taken is counted.

mod correlate;
mod device;
mod lockstep;
mod vantage;
mod world;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::device::{GroupPlan, LineIndex, Order, Timeline};
use self::world::{Names, Unit};
use crate::finding::Profile;
use crate::record::capture::{Capture, Line};
use crate::record::{
    FleetRecord, Memory, Recorder, ReplayTally, SETUP_ERROR, Shard, TargetInfo, epoch_ms,
};
use crate::scenario::fleet::Thresholds;
use crate::transport::http::HttpTransport;
use crate::transport::http_conn::DeviceConnection;
use crate::transport::mqtt::{Dial, MqttTransport};
use crate::transport::{ControlClient, DataClient, DataPlane, Label, Target};
use jobcert_contract::Binding;

pub use self::lockstep::{DiffSettings, DiffTargets, run as diff};
pub use self::world::{devices, groups, jobs};

/// A send later than this after its intended time is counted late.
pub const LATE_ALLOWANCE: Duration = Duration::from_millis(2);
/// CreateThing calls in flight while seeding.
const SEED_CONCURRENCY: usize = 64;

/// How fast a capture is played.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// `speed` times as fast as recorded.
    Speed(f64),
    /// Each device's next exchange as soon as its previous answer is in.
    AsFastAsPossible,
}

/// How a replay is carried out.
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    /// Run id, in every name the replay creates.
    pub run_id: String,
    /// Which shard this process plays.
    pub shard: Shard,
    /// How findings are weighed.
    pub profile: Profile,
    /// How fast.
    pub pace: Pace,
    /// Copies of each recorded device (at least 1).
    pub clones: u32,
    /// Whether a divergence fails the run.
    pub strict: bool,
    /// Deadline of one request.
    pub deadline: Duration,
    /// Requests in flight at once; a send that finds none free waits and is counted.
    pub slots: usize,
    /// The capture's name, for the record.
    pub capture_name: String,
    /// The thresholds the run is judged by.
    pub thresholds: Thresholds,
}

/// The data planes a replay sends to (one per transport the capture uses) and the control plane.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The HTTP data plane and the control plane (and the clock) everything else shares.
    pub primary: Target,
    /// An MQTT broker, for MQTT exchanges, when the primary is HTTP (or the reverse).
    pub secondary: Option<Target>,
}

impl Targets {
    fn for_binding(&self, binding: Binding) -> Option<&Target> {
        std::iter::once(&self.primary)
            .chain(&self.secondary)
            .find(|t| t.binding() == binding)
    }
}

/// Shared state of a running replay.
pub(crate) struct Replay {
    capture: Arc<Capture>,
    settings: ReplaySettings,
    targets: Targets,
    control: ControlClient,
    http: HttpTransport,
    mqtt: Option<Arc<MqttTransport>>,
    recorder: Recorder,
    origin: Instant,
    seq: AtomicU64,
    slots: Arc<Semaphore>,
    halt: CancellationToken,
    /// Thing name → the ARN CreateThing returned.
    arns: std::sync::Mutex<HashMap<String, String>>,
    /// The capture's first exchange, in its own microseconds.
    t0_us: u64,
}

impl Replay {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// When a line recorded at `at_us` is due, in µs since the origin, for a replay that
    /// started at `start_us`; `None` when there is no schedule (as fast as possible).
    fn due_us(&self, start_us: u64, at_us: u64) -> Option<u64> {
        match self.settings.pace {
            Pace::Speed(s) => {
                Some(start_us + (at_us.saturating_sub(self.t0_us) as f64 / s).round() as u64)
            }
            Pace::AsFastAsPossible => None,
        }
    }

    /// Waits until `due_us` (µs since the origin) unless halted first; false when halted.
    async fn until(&self, due_us: u64) -> bool {
        let due = self.origin + Duration::from_micros(due_us);
        tokio::select! {
            () = crate::drive::due::until(due) => true,
            () = self.halt.cancelled() => false,
        }
    }

    fn client(&self, binding: Binding) -> Option<DataClient> {
        let target = self.targets.for_binding(binding)?;
        match &target.data {
            // Each device holds a connection of its own, as devices do and as a fleet's
            // devices do (one sender for both); https:// goes through the pool.
            DataPlane::Http(e) => Some(
                match DeviceConnection::new(e, target.signer.clone(), self.origin) {
                    Ok(own) => DataClient::own(own, e.clone()),
                    Err(_) => DataClient::pooled(self.http.clone(), e.clone(), None),
                },
            ),
            DataPlane::Mqtt(_) => self.mqtt.clone().map(DataClient::per_thing),
        }
    }

    fn arn(&self, thing: &str) -> String {
        self.arns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(thing)
            .cloned()
            .unwrap_or_else(|| self.targets.primary.thing_arn(thing))
    }
}

/// Plays `capture` against `targets` as shard `settings.shard` until every device's timeline
/// is done, or `stop` is cancelled (which makes the record partial).
pub async fn run(
    capture: Arc<Capture>,
    targets: &Targets,
    settings: &ReplaySettings,
    stop: CancellationToken,
) -> FleetRecord {
    let baseline = super::resident_memory();
    let halt = CancellationToken::new();
    let (replay, prepared) = Replay::prepare(capture, targets, settings, halt.clone());
    let watchdog = tokio::spawn(async move {
        stop.cancelled().await;
        halt.cancel();
    });
    let ticker = tokio::spawn(tick(replay.clone()));
    let stopped_by = match seed(&replay, &prepared).await {
        Err(why) => Some(why),
        Ok(()) => {
            play(&replay, prepared).await;
            None
        }
    };
    watchdog.abort();
    ticker.abort();
    let mut record = replay.finish(stopped_by).await;
    record.memory = baseline
        .zip(super::resident_memory())
        .map(|((base, _), (_, peak))| Memory {
            baseline_kib: base,
            peak_kib: peak,
        });
    record
}

/// What a replay plays: its units, each unit's recorded order, and its devices' timelines.
pub(crate) struct Prepared {
    units: Vec<Unit>,
    orders: Vec<Arc<Order>>,
    timelines: Vec<Timeline>,
}

impl Replay {
    /// A replay of `capture` against `targets`, stopped by `halt`, and what it will play.
    fn prepare(
        capture: Arc<Capture>,
        targets: &Targets,
        settings: &ReplaySettings,
        halt: CancellationToken,
    ) -> (Arc<Self>, Prepared) {
        let units = world::units(&capture, settings.clones.max(1), settings.shard);
        // Every copy of a group plays the same plan, worked out once.
        let index = LineIndex::of(&capture);
        let mut plans: HashMap<usize, Arc<GroupPlan>> = HashMap::new();
        let orders: Vec<Arc<Order>> = units
            .iter()
            .map(|u| {
                let plan = plans
                    .entry(u.group)
                    .or_insert_with(|| Arc::new(GroupPlan::of(&capture, &index, u)));
                Arc::new(Order::of(plan.clone()))
            })
            .collect();
        let timelines: Vec<Timeline> = units
            .iter()
            .zip(&orders)
            .flat_map(|(u, order)| Timeline::of(&capture, u, &settings.run_id, order))
            .collect();
        let planned = timelines.iter().map(|t| t.exchanges(&capture) as u64).sum();
        let mut record = FleetRecord::starting(
            (&settings.capture_name, &settings.run_id),
            settings.shard,
            TargetInfo::from(&targets.primary),
            timelines.len() as u64,
            (settings.thresholds.clone(), settings.profile),
        );
        record.replay = Some(ReplayTally {
            capture: settings.capture_name.clone(),
            speed: match settings.pace {
                Pace::Speed(s) => Some(s),
                Pace::AsFastAsPossible => None,
            },
            clones: settings.clones.max(1),
            strict: settings.strict,
            planned,
            ..ReplayTally::default()
        });
        let http = HttpTransport::with_pool(
            Instant::now(),
            targets.primary.signer.clone(),
            settings.slots,
            &targets.primary.tls,
        );
        let origin = http.origin();
        let mqtt = std::iter::once(&targets.primary)
            .chain(&targets.secondary)
            .find_map(|t| match &t.data {
                DataPlane::Mqtt(b) => Some(Arc::new(MqttTransport::new(
                    Dial::new(b.clone(), t.signer.clone(), t.tls.clone()),
                    origin,
                ))),
                DataPlane::Http(_) => None,
            });
        let t0_us = capture
            .lines
            .iter()
            .filter(|n| matches!(n.value, Line::Exchange(_)))
            .map(|n| n.value.at_us())
            .min()
            .unwrap_or(0);
        let replay = Arc::new(Replay {
            control: ControlClient::new(
                http.clone(),
                targets.primary.control.clone(),
                settings.deadline,
            ),
            capture,
            settings: settings.clone(),
            targets: targets.clone(),
            http,
            mqtt,
            recorder: Recorder::new(record),
            origin,
            seq: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(settings.slots.max(1))),
            halt,
            arns: Default::default(),
            t0_us,
        });
        let prepared = Prepared {
            units,
            orders,
            timelines,
        };
        (replay, prepared)
    }

    /// Closes the replay's connections and returns its record, partial when `stopped_by` (or
    /// an interruption) says why.
    async fn finish(&self, stopped_by: Option<String>) -> FleetRecord {
        if let Some(m) = &self.mqtt {
            m.close().await;
        }
        let stopped_by =
            stopped_by.or_else(|| self.halt.is_cancelled().then(|| "interrupted".to_string()));
        let mut record = self.recorder.finish();
        record.partial = stopped_by.is_some();
        record.stopped_by = stopped_by;
        record
    }
}

/// Creates every unit's things, connects its MQTT devices (so that they hear what the jobs'
/// creation tells them, as the recorded devices did), then creates the jobs created before
/// the unit's first exchange, in the order they were recorded; later jobs are created on the
/// timeline.
async fn seed(replay: &Arc<Replay>, prepared: &Prepared) -> Result<(), String> {
    let units = &prepared.units;
    let things: Vec<(String, String)> = units
        .iter()
        .flat_map(|u| {
            let names = Names::new(&replay.settings.run_id, u.clone);
            let seeded: std::collections::HashSet<&str> = replay
                .capture
                .header
                .seed
                .things
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            u.things
                .iter()
                .filter(|t| seeded.contains(t.as_str()))
                .map(move |t| (t.clone(), names.device(t)))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut calls = futures_util::stream::iter(things.into_iter().map(|(_, real)| {
        let replay = replay.clone();
        async move {
            let seq = replay.next_seq();
            let call = replay.control.create_thing(seq, &real, &real).await;
            (real, call)
        }
    }))
    .buffer_unordered(SEED_CONCURRENCY);
    while let Some((real, call)) = calls.next().await {
        if replay.halt.is_cancelled() {
            return Err("interrupted while creating things".into());
        }
        let called = call.map_err(|e| format!("CreateThing {real}: {e}"))?;
        replay.recorder.exchange(
            &called.exchange,
            Vec::new(),
            called
                .result
                .as_ref()
                .err()
                .map(|_| format!("{SETUP_ERROR}CreateThing")),
        );
        match called.result {
            Ok(arn) => {
                if let Some(arn) = arn {
                    replay
                        .arns
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(real, arn);
                }
            }
            Err(e) => return Err(format!("CreateThing {real}: {e}")),
        }
    }
    connect(replay, &prepared.timelines).await;
    for (unit, order) in units.iter().zip(&prepared.orders) {
        let first = order.plan.first_us;
        for &j in &unit.jobs {
            let job = &replay.capture.header.seed.jobs[j];
            if job.at_us.is_none_or(|at| first.is_none_or(|f| at <= f)) {
                device::create_job(replay, unit, &order.created, j).await?;
            }
        }
    }
    Ok(())
}

/// Connects every MQTT device before the replay starts, so that no connection handshake
/// delays a scheduled send and every device hears its notifications from the start.
async fn connect(replay: &Arc<Replay>, timelines: &[Timeline]) {
    let Some(mqtt) = &replay.mqtt else {
        return;
    };
    let mut connects = futures_util::stream::iter(timelines.iter().filter(|t| t.mqtt).map(|t| {
        let (mqtt, device) = (mqtt.clone(), t.device().to_string());
        let deadline = replay.settings.deadline;
        async move {
            let started = Instant::now();
            let result = mqtt.connect(&device, deadline).await;
            (started.elapsed(), result)
        }
    }))
    .buffer_unordered(SEED_CONCURRENCY);
    while let Some((took, result)) = connects.next().await {
        replay
            .recorder
            .connect(took.as_micros() as u64, result.err());
    }
}

/// Plays every timeline; each unit's later jobs and control-plane calls in their recorded
/// order with its exchanges.
async fn play(replay: &Arc<Replay>, prepared: Prepared) {
    let start_us = replay.now_us();
    let mut tasks = JoinSet::new();
    events(
        replay,
        &prepared.units,
        &prepared.orders,
        start_us,
        &mut tasks,
    );
    for timeline in prepared.timelines {
        let replay = replay.clone();
        tasks.spawn(async move { timeline.play(&replay, start_us).await });
    }
    while tasks.join_next().await.is_some() {}
    replay.played_since(start_us);
}

/// Starts every unit's world changes.
fn events(
    replay: &Arc<Replay>,
    units: &[Unit],
    orders: &[Arc<Order>],
    start_us: u64,
    tasks: &mut JoinSet<()>,
) {
    for (unit, order) in units.iter().zip(orders) {
        let (replay, unit, order) = (replay.clone(), unit.clone(), order.clone());
        tasks.spawn(async move { device::run_events(&replay, &unit, &order, start_us).await });
    }
}

impl Replay {
    /// Records how long the schedule ran, from `start_us`.
    fn played_since(&self, start_us: u64) {
        let seconds = Duration::from_micros(self.now_us().saturating_sub(start_us)).as_secs_f64();
        self.recorder.update(|r| r.schedule.seconds = seconds);
    }
}

/// Cuts the recorder's intervals at every whole wall-clock second.
async fn tick(replay: Arc<Replay>) {
    loop {
        let now = epoch_ms();
        let next = (now / 1000 + 1) * 1000;
        tokio::time::sleep(Duration::from_millis(next - now)).await;
        replay.recorder.rotate(next);
    }
}

/// The label of a request a replay makes.
fn label<'a>(seq: u64, context: &'a str, operation: &'a str) -> Label<'a> {
    Label {
        seq,
        context,
        operation,
    }
}
