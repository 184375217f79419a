//! The fleet driver: seeds a fleet's things and jobs through the control plane, brings its
//! devices online at the connect rate, and drives their job-agent programs in a closed loop
//! (each device cycles with a think time) or an open loop (cycles start on a schedule, and
//! latency counts from when each should have started, so a slow target cannot hide behind a
//! slowed-down sender). Everything a device sees is judged and handed to the [`Recorder`].

mod agent;
mod draws;
mod rollout;
mod schedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use self::agent::{Agent, CycleEnd, Link};
use self::draws::Draws;
use self::rollout::Rollout;
use self::schedule::Schedule;
use crate::finding::Profile;
use crate::record::{FleetRecord, Memory, Recorder, Shard, Snapshot, TargetInfo, epoch_ms};
use crate::scenario::fleet::{
    Connections, FleetSpec, FleetTransport, LoadModel, RolloutStart, Until,
};
use crate::transport::Signer;
use crate::transport::http::{Endpoint, HttpTransport};
use crate::transport::http_conn::DeviceConnection;
use jobcert_contract::{Binding, execution_model};

/// A cycle that starts later than this after its scheduled time is counted late.
pub const LATE_ALLOWANCE: Duration = Duration::from_millis(2);
/// Connection handshakes in progress at once.
const HANDSHAKES: usize = 256;

/// Where the fleet's data plane is.
#[derive(Debug, Clone)]
pub enum FleetData {
    /// An HTTP data plane.
    Http(Endpoint),
    /// An MQTT broker.
    Mqtt {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
}

/// What a fleet run talks to.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    /// The control plane and the HTTP pool; its origin is the run's clock.
    pub http: HttpTransport,
    /// Control-plane endpoint.
    pub control: Endpoint,
    /// Data plane.
    pub data: FleetData,
    /// Signer for per-device connections.
    pub signer: Option<Signer>,
    /// How fast the target's clock runs.
    pub time_scale: f64,
    /// `arn:aws:iot:{region}:{account}:thing/`.
    pub thing_arn_prefix: String,
    /// What the record says about the target.
    pub info: TargetInfo,
}

impl FleetTarget {
    fn data_endpoint(&self) -> &Endpoint {
        match &self.data {
            FleetData::Http(e) => e,
            FleetData::Mqtt { .. } => &self.control,
        }
    }

    fn mqtt_address(&self) -> (&str, u16) {
        match &self.data {
            FleetData::Mqtt { host, port } => (host, *port),
            FleetData::Http(_) => ("", 0),
        }
    }

    fn data_url(&self) -> String {
        match &self.data {
            FleetData::Http(e) => e.base.clone(),
            FleetData::Mqtt { host, port } => format!("mqtt://{host}:{port}"),
        }
    }
}

/// How a fleet run is carried out.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// Run id, shared by every shard of one run.
    pub run_id: String,
    /// Which shard this process runs.
    pub shard: Shard,
    /// How findings are weighed.
    pub profile: Profile,
    /// Where to publish a [`LiveStatus`] every second, for a progress display.
    pub live: Option<watch::Sender<LiveStatus>>,
}

/// What a running fleet publishes every second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveStatus {
    /// Requests, errors, failed checks and p99 so far.
    pub counts: Snapshot,
    /// Requests in flight now.
    pub in_flight: i64,
    /// Devices with nothing left to do.
    pub drained: u64,
    /// Devices this shard simulates.
    pub devices: u64,
}

/// Shared state of a running fleet.
pub struct Fleet {
    spec: FleetSpec,
    target: FleetTarget,
    run_id: String,
    deadline: Duration,
    recorder: Recorder,
    rollout: Rollout,
    profile: Profile,
    origin: Instant,
    seq: AtomicU64,
    in_flight: AtomicI64,
    drained: AtomicU64,
    halt: watch::Receiver<bool>,
    ending: watch::Sender<bool>,
    devices: u64,
    live: Option<watch::Sender<LiveStatus>>,
}

/// Counts a request in flight while alive.
struct Active<'a>(&'a AtomicI64);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Fleet {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    fn active(&self) -> Active<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Active(&self.in_flight)
    }

    fn binding(&self) -> Binding {
        match self.target.data {
            FleetData::Http(_) => Binding::Http,
            FleetData::Mqtt { .. } => Binding::Mqtt,
        }
    }

    /// Real time for `seconds` of the target's clock.
    fn virtual_to_real(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds / self.target.time_scale)
    }

    /// The slack the contract gives timers, in seconds of the target's clock.
    fn timer_slack_s(&self) -> f64 {
        execution_model().timers.expiry_slack_seconds as f64
    }

    /// Waits `d` unless the run is halted first; says whether it waited the whole time.
    async fn pause(&self, d: Duration) -> bool {
        let mut halt = self.halt.clone();
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            _ = halt.wait_for(|h| *h) => false,
        }
    }

    fn halted(&self) -> bool {
        *self.halt.borrow()
    }

    fn ending(&self) -> bool {
        *self.ending.borrow()
    }
}

/// The indices of the things this shard simulates, by block.
fn owned(spec: &FleetSpec, shard: Shard) -> Vec<(u64, u64)> {
    let block = spec.things.block();
    (0..spec.things.count)
        .filter(|i| shard.owns(i / block))
        .map(|i| (i, i / block))
        .collect()
}

/// Resident memory of this process: (now, peak), in KiB; `None` off Linux.
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Runs `spec` against `target` as shard `settings.shard` until it drains, its duration ends,
/// its time bound runs out, or `stop` turns true (the last two make the record partial).
pub async fn run(
    spec: &FleetSpec,
    target: &FleetTarget,
    settings: &FleetSettings,
    stop: watch::Receiver<bool>,
) -> FleetRecord {
    let things = owned(spec, settings.shard);
    let baseline = memory();
    let record = FleetRecord {
        scenario: spec.name.clone(),
        run_id: settings.run_id.clone(),
        shards: vec![settings.shard],
        started_at_ms: epoch_ms(),
        duration_ms: 0,
        partial: false,
        stopped_by: None,
        target: target.info.clone(),
        devices: things.len() as u64,
        connected: 0,
        jobs: 0,
        requests: Default::default(),
        statuses: Default::default(),
        errors: Default::default(),
        findings: Default::default(),
        schedule: Default::default(),
        latency: Default::default(),
        intervals: Vec::new(),
        thresholds: spec.thresholds.clone(),
        profile: settings.profile,
        memory: None,
    };
    let (halt_tx, halt) = watch::channel(false);
    let (ending, _) = watch::channel(false);
    let fleet = Arc::new(Fleet {
        spec: spec.clone(),
        target: target.clone(),
        run_id: settings.run_id.clone(),
        deadline: Duration::from_millis(spec.run.deadline_ms),
        recorder: Recorder::new(record),
        rollout: Rollout::new(things.iter().map(|(_, b)| *b)),
        profile: settings.profile,
        // One clock for every transport: the pool's, the devices' own connections', MQTT's.
        origin: target.http.origin(),
        seq: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        drained: AtomicU64::new(0),
        halt,
        ending,
        devices: things.len() as u64,
        live: settings.live.clone(),
    });
    // The bound on the whole run, and the user's interrupt, both halt it.
    let bound = Duration::from_secs_f64(spec.run.max_duration_s);
    let stopped_by = Arc::new(std::sync::Mutex::new(None::<String>));
    let watchdog = {
        let (halt_tx, stopped_by, mut stop) = (halt_tx.clone(), stopped_by.clone(), stop.clone());
        tokio::spawn(async move {
            let why = tokio::select! {
                () = tokio::time::sleep(bound) => format!("run.max-duration-s ({} s) ran out", bound.as_secs_f64()),
                _ = stop.wait_for(|s| *s) => "interrupted".to_string(),
            };
            *stopped_by.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
            let _ = halt_tx.send(true);
        })
    };
    let ticker = tokio::spawn(tick(fleet.clone()));

    let setup = seed(&fleet, &things, &stop).await;
    if let Err(why) = setup {
        *stopped_by.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        let _ = halt_tx.send(true);
    } else {
        drive(&fleet, &things, settings).await;
    }
    watchdog.abort();
    ticker.abort();
    let mut record = fleet.recorder.finish();
    let why = stopped_by.lock().unwrap_or_else(|p| p.into_inner()).take();
    record.partial = why.is_some();
    record.stopped_by = why;
    record.memory = baseline.zip(memory()).map(|((base, _), (_, peak))| Memory {
        baseline_kib: base,
        peak_kib: peak,
    });
    record
}

/// Creates the shard's things and, for a rollout `before`, its jobs.
async fn seed(
    fleet: &Arc<Fleet>,
    things: &[(u64, u64)],
    stop: &watch::Receiver<bool>,
) -> Result<(), String> {
    let names: Vec<String> = things
        .iter()
        .map(|(i, _)| fleet.spec.things.name_of(&fleet.run_id, *i))
        .collect();
    rollout::create_things(fleet, &names, stop).await?;
    if fleet.spec.rollout.start == RolloutStart::Before {
        let rate = rollout_rate(fleet);
        rollout::create_jobs(fleet, &things_by_block(fleet, things), rate, stop).await?;
    }
    Ok(())
}

fn things_by_block(fleet: &Fleet, things: &[(u64, u64)]) -> HashMap<u64, Vec<String>> {
    let mut by: HashMap<u64, Vec<String>> = HashMap::new();
    for (i, b) in things {
        by.entry(*b)
            .or_default()
            .push(fleet.spec.things.name_of(&fleet.run_id, *i));
    }
    by
}

/// This shard's part of a fleet-wide rate.
fn share(fleet: &Fleet, devices: usize) -> f64 {
    devices as f64 / fleet.spec.things.count as f64
}

fn rollout_rate(fleet: &Fleet) -> f64 {
    let blocks = fleet.spec.things.count.div_ceil(fleet.spec.things.block()) as f64;
    let mine = fleet.rollout.len() as f64;
    fleet.spec.rollout.rate * (mine / blocks)
}

/// Brings devices online and runs the load model until the run ends.
async fn drive(fleet: &Arc<Fleet>, things: &[(u64, u64)], settings: &FleetSettings) {
    let mut rollout_task = None;
    if fleet.spec.rollout.start == RolloutStart::During {
        let (f, by) = (fleet.clone(), things_by_block(fleet, things));
        let rate = rollout_rate(fleet);
        let halt = fleet.halt.clone();
        rollout_task = Some(tokio::spawn(async move {
            if let Err(e) = rollout::create_jobs(&f, &by, rate, &halt).await {
                tracing::warn!("rollout: {e}");
            }
        }));
    }
    let pool = Arc::new(Semaphore::new(fleet.spec.http.pool));
    let agents = things.iter().map(|&(index, block)| {
        let link = match (
            fleet.spec.transport,
            fleet.spec.http.connections,
            &fleet.target.data,
        ) {
            (FleetTransport::Mqtt, _, _) => Link::Mqtt(None),
            (FleetTransport::Http, Connections::Pool, _) => Link::Pool(pool.clone()),
            (FleetTransport::Http, Connections::PerDevice, data) => {
                // The command line only lets plain http:// targets have device connections.
                let own = match data {
                    FleetData::Http(e) => {
                        DeviceConnection::new(e, fleet.target.signer.clone(), fleet.origin).ok()
                    }
                    FleetData::Mqtt { .. } => None,
                };
                own.map_or_else(|| Link::Pool(pool.clone()), Link::Own)
            }
        };
        Agent::new(
            fleet.spec.things.name_of(&fleet.run_id, index),
            block,
            Draws::device(fleet.spec.seed, index),
            link,
        )
    });
    let agents: Vec<Agent> = agents.collect();
    let devices = agents.len();
    let (ready_tx, ready_rx) = mpsc::unbounded_channel();
    let connector = tokio::spawn(connect_all(
        fleet.clone(),
        agents,
        ready_tx,
        share(fleet, devices),
    ));
    let load_start = Instant::now();
    if let Some(d) = fleet.spec.planned_duration_s() {
        let ending = fleet.ending.clone();
        let halt = fleet.halt.clone();
        tokio::spawn(async move {
            let mut halt = halt;
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs_f64(d)) => { ending.send_replace(true); }
                _ = halt.wait_for(|h| *h) => {}
            }
        });
    }
    match fleet.spec.load.model {
        LoadModel::Closed => closed(fleet, ready_rx).await,
        LoadModel::Open => open(fleet, ready_rx, devices, settings.shard, load_start).await,
    }
    connector.abort();
    let _ = connector.await;
    if let Some(t) = rollout_task {
        t.abort();
        let _ = t.await;
    }
}

/// Connects every device at the connect rate and hands each one over when it is online.
async fn connect_all(
    fleet: Arc<Fleet>,
    agents: Vec<Agent>,
    ready: mpsc::UnboundedSender<Agent>,
    share: f64,
) {
    let rate = fleet.spec.connect.rate * share;
    let start = Instant::now();
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
    let mut pending = JoinSet::new();
    for (k, mut agent) in agents.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(k as f64 / rate.max(f64::MIN_POSITIVE));
        tokio::time::sleep_until(due.into()).await;
        if fleet.halted() || fleet.ending() {
            break;
        }
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            break;
        };
        let (fleet, ready) = (fleet.clone(), ready.clone());
        pending.spawn(async move {
            let ok = agent.connect(&fleet).await;
            drop(permit);
            if ok {
                let _ = ready.send(agent);
            } else {
                fleet.drained.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while pending.join_next().await.is_some() {}
}

/// Closed loop: every device cycles, with its think time, until it drains or the run ends.
async fn closed(fleet: &Arc<Fleet>, mut ready: mpsc::UnboundedReceiver<Agent>) {
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
                            let pause = match agent.cycle(&fleet, fleet.now_us()).await {
                                CycleEnd::Drained => {
                                    fleet.drained.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                                CycleEnd::Halted => break,
                                CycleEnd::Empty => agent.draws.duration(&fleet.spec.behaviour.idle),
                                CycleEnd::Worked => agent.draws.duration(&fleet.spec.load.think),
                            };
                            if !pause.is_zero() && !fleet.pause(pause).await {
                                break;
                            }
                        }
                        agent.close();
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
async fn open(
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
    let mut halt = fleet.halt.clone();
    let mut ending = fleet.ending.subscribe();
    let until_drained = fleet.spec.run.until == Until::Drained;
    let (due_tx, mut due_rx) = mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || pace(schedule, start, &due_tx));
    'arrivals: loop {
        let due = tokio::select! {
            due = due_rx.recv() => match due {
                Some(due) => due,
                None => break,
            },
            _ = halt.wait_for(|h| *h) => break,
            _ = ending.wait_for(|e| *e) => break,
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
                _ = halt.wait_for(|h| *h) => break 'arrivals,
                _ = ending.wait_for(|e| *e) => break 'arrivals,
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
                    agent.close();
                }
                CycleEnd::Halted => {
                    agent.close();
                }
                CycleEnd::Worked | CycleEnd::Empty => {
                    let _ = idle_tx.send(agent);
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
        a.close();
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

/// Cuts the recorder's intervals at every whole wall-clock second.
async fn tick(fleet: Arc<Fleet>) {
    loop {
        let now = epoch_ms();
        let next = (now / 1000 + 1) * 1000;
        tokio::time::sleep(Duration::from_millis(next - now)).await;
        fleet.recorder.rotate(next);
        if let Some(live) = &fleet.live {
            live.send_replace(LiveStatus {
                counts: fleet.recorder.snapshot(),
                in_flight: fleet.in_flight.load(Ordering::Relaxed),
                drained: fleet.drained.load(Ordering::Relaxed),
                devices: fleet.devices,
            });
        }
    }
}
