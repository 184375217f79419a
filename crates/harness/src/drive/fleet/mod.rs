//! The fleet driver: seeds a fleet's things and jobs through the control plane, brings its
//! devices online at the connect rate, and drives their job-agent programs in a closed loop
//! (each device cycles with a think time) or an open loop (cycles start on a schedule, and
//! latency counts from when each should have started, so a slow target cannot hide behind a
//! slowed-down sender). Everything a device sees is judged and handed to the [`Recorder`].

mod agent;
mod draws;
mod load;
mod offline;
mod rest;
mod rollout;
mod schedule;
mod shaped;
mod storm;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::agent::Agent;
use self::draws::Draws;
use self::rollout::Rollout;
use self::shaped::Shaped;
use crate::finding::Profile;
use crate::record::{
    FleetRecord, Handshakes, Kept, Memory, Recorder, Shard, Snapshot, TargetInfo, epoch_ms,
};
use crate::scenario::fleet::{Connections, FleetSpec, LoadModel, RetryPolicy, RolloutStart};
use crate::transport::http::{Endpoint, HttpTransport};
use crate::transport::http_conn::DeviceConnection;
use crate::transport::mqtt::Dial;
use crate::transport::{ControlClient, DataClient, DataPlane, Heard, Target};
use jobcert_contract::{Binding, execution_model};

/// A cycle that starts later than this after its scheduled time is counted late.
pub const LATE_ALLOWANCE: Duration = Duration::from_millis(2);
/// Connection handshakes in progress at once.
const HANDSHAKES: usize = 256;

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
    /// Where to keep a copy of every exchange, for a capture.
    pub capture: Option<Kept>,
    /// Where MQTT devices keep the notifications they hear, for a capture.
    pub heard: Option<Heard>,
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
    target: Target,
    /// The HTTP pool: the control plane's, and the data plane's when devices share it.
    http: HttpTransport,
    control: ControlClient,
    run_id: String,
    deadline: Duration,
    recorder: Recorder,
    rollout: Rollout,
    profile: Profile,
    origin: Instant,
    seq: AtomicU64,
    in_flight: AtomicI64,
    drained: AtomicU64,
    /// Cancelled when the run is stopped: by the user, or by its time bound.
    halt: CancellationToken,
    /// Cancelled when the planned duration is over: no new work starts.
    ending: CancellationToken,
    devices: u64,
    live: Option<watch::Sender<LiveStatus>>,
    heard: Option<Heard>,
    /// Where devices send their requests.
    plane: Plane,
    /// How devices retry a throttled, faulted or unanswered request; `None`: they do not.
    retry: Option<RetryPolicy>,
    /// A rollout of `jobs`: its groups, jobs and watch.
    shaped: Shaped,
    /// The reconnect storm, and the connections it drops.
    storm: storm::Storm,
}

/// Where devices send their requests: a broker, through one dial for all (so that a shared TLS
/// configuration is built once), or an HTTP endpoint.
enum Plane {
    Broker(Box<Dial>),
    Http(Endpoint),
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
        self.target.binding()
    }

    /// Whether each device opens a TLS connection of its own (`mqtts://`, `wss://`, or
    /// `https://` with a connection per device), whose handshakes the ramp then pays for.
    fn tls_devices(&self) -> bool {
        match (&self.plane, self.spec.http.connections) {
            (Plane::Broker(dial), _) => dial.broker.tls,
            (Plane::Http(e), Connections::PerDevice) => e.base.starts_with("https://"),
            (Plane::Http(_), Connections::Pool) => false,
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
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.halt.cancelled() => false,
        }
    }

    fn halted(&self) -> bool {
        self.halt.is_cancelled()
    }

    fn ending(&self) -> bool {
        self.ending.is_cancelled()
    }

    /// Whether the rollout is made of `jobs` targeting groups.
    fn is_shaped(&self) -> bool {
        self.spec.rollout.shaped()
    }

    /// Whether every job of a rollout of `jobs` is over.
    fn rollout_over(&self) -> bool {
        self.shaped.over.is_cancelled()
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

/// Runs `spec` against `target` as shard `settings.shard` until it drains, its duration ends,
/// its time bound runs out, or `stop` is cancelled (the last two make the record partial).
pub async fn run(
    spec: &FleetSpec,
    target: &Target,
    settings: &FleetSettings,
    stop: CancellationToken,
) -> FleetRecord {
    let things = owned(spec, settings.shard);
    let baseline = super::resident_memory();
    let record = FleetRecord::starting(
        (&spec.name, &settings.run_id),
        settings.shard,
        TargetInfo::from(target),
        things.len() as u64,
        (spec.thresholds.clone(), settings.profile),
    );
    let halt = CancellationToken::new();
    // One clock for every transport: the pool's, the devices' own connections', MQTT's.
    let http = HttpTransport::with_pool(
        Instant::now(),
        target.signer.clone(),
        spec.http.pool,
        &target.tls,
    );
    let deadline = Duration::from_millis(spec.run.deadline_ms);
    let fleet = Arc::new(Fleet {
        spec: spec.clone(),
        target: target.clone(),
        control: ControlClient::new(http.clone(), target.control.clone(), deadline),
        origin: http.origin(),
        http,
        run_id: settings.run_id.clone(),
        deadline,
        recorder: Recorder::new(record).keeping(settings.capture.clone()),
        rollout: Rollout::new(things.iter().map(|(_, b)| *b)),
        profile: settings.profile,
        seq: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        drained: AtomicU64::new(0),
        halt: halt.clone(),
        ending: CancellationToken::new(),
        devices: things.len() as u64,
        live: settings.live.clone(),
        heard: settings.heard.clone(),
        plane: match &target.data {
            DataPlane::Mqtt(b) => Plane::Broker(Box::new(Dial::new(
                b.clone(),
                target.signer.clone(),
                target.tls.clone(),
            ))),
            DataPlane::Http(e) => Plane::Http(e.clone()),
        },
        // The loader refused an unknown policy before the run.
        retry: spec.behaviour.retry.policy().ok().flatten(),
        shaped: Shaped::new(spec),
        storm: storm::Storm::new(spec.behaviour.reconnect_storm),
    });
    // The bound on the whole run, and the user's interrupt, both halt it.
    let bound = Duration::from_secs_f64(spec.run.max_duration_s);
    let stopped_by = Arc::new(std::sync::Mutex::new(None::<String>));
    let watchdog = {
        let (halt, stopped_by, stop) = (halt.clone(), stopped_by.clone(), stop.clone());
        tokio::spawn(async move {
            let why = tokio::select! {
                () = tokio::time::sleep(bound) => format!("run.max-duration-s ({} s) ran out", bound.as_secs_f64()),
                () = stop.cancelled() => "interrupted".to_string(),
            };
            *stopped_by.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
            halt.cancel();
        })
    };
    let ticker = tokio::spawn(tick(fleet.clone()));

    let setup = if spec.rollout.shaped() && settings.shard.count > 1 {
        Err("a rollout of jobs runs in one process: give it no --shards".to_string())
    } else {
        seed(&fleet, &things, &stop).await
    };
    if let Err(why) = setup {
        *stopped_by.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        halt.cancel();
    } else {
        drive(&fleet, &things, settings).await;
    }
    watchdog.abort();
    ticker.abort();
    let mut record = fleet.recorder.finish();
    if spec.rollout.shaped() {
        record.rollout = Some(fleet.shaped.record(spec, &settings.run_id));
    }
    let why = stopped_by.lock().unwrap_or_else(|p| p.into_inner()).take();
    record.partial = why.is_some();
    record.stopped_by = why;
    record.memory = baseline
        .zip(super::resident_memory())
        .map(|((base, _), (_, peak))| Memory {
            baseline_kib: base,
            peak_kib: peak,
        });
    record
}

/// Creates the shard's things and, for a rollout `before`, its jobs.
async fn seed(
    fleet: &Arc<Fleet>,
    things: &[(u64, u64)],
    stop: &CancellationToken,
) -> Result<(), String> {
    let names: Vec<String> = things
        .iter()
        .map(|(i, _)| fleet.spec.things.name_of(&fleet.run_id, *i))
        .collect();
    rollout::create_things(fleet, &names, stop).await?;
    if fleet.is_shaped() {
        shaped::create_groups(fleet, stop).await?;
        shaped::create_first_jobs(fleet).await?;
    } else if fleet.spec.rollout.start == RolloutStart::Before {
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
    if fleet.is_shaped() {
        let f = fleet.clone();
        rollout_task = Some(tokio::spawn(async move {
            let carried = shaped::carry_on(&f);
            let watched = shaped::watch(&f);
            let (carried, ()) = tokio::join!(carried, watched);
            if let Err(e) = carried {
                tracing::warn!("rollout: {e}");
            }
        }));
    } else if fleet.spec.rollout.start == RolloutStart::During {
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
        Agent::new(
            fleet.spec.things.name_of(&fleet.run_id, index),
            block,
            index,
            Draws::device(fleet.spec.seed, index),
            device_client(
                fleet,
                &pool,
                &fleet.spec.things.name_of(&fleet.run_id, index),
            ),
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
    let storm = tokio::spawn(storm::run(fleet.clone()));
    let load_start = Instant::now();
    if let Some(d) = fleet.spec.planned_duration_s() {
        let (ending, halt) = (fleet.ending.clone(), fleet.halt.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs_f64(d)) => ending.cancel(),
                () = halt.cancelled() => {}
            }
        });
    }
    match fleet.spec.load.model {
        LoadModel::Closed => load::closed(fleet, ready_rx).await,
        LoadModel::Open => load::open(fleet, ready_rx, devices, settings.shard, load_start).await,
    }
    connector.abort();
    let _ = connector.await;
    storm.abort();
    let _ = storm.await;
    if let Some(t) = rollout_task {
        t.abort();
        let _ = t.await;
    }
}

/// A device's link to the data plane: its own broker connection, its own HTTP connection
/// (over TLS with its own client certificate for `https://`), or the shared pool, whose
/// `pool` permits bound the requests in flight.
fn device_client(fleet: &Fleet, pool: &Arc<Semaphore>, thing: &str) -> DataClient {
    let pooled =
        |e: &Endpoint| DataClient::pooled(fleet.http.clone(), e.clone(), Some(pool.clone()));
    match (&fleet.plane, fleet.spec.http.connections) {
        (Plane::Broker(dial), _) => {
            DataClient::device(Dial::clone(dial), fleet.origin).hearing(fleet.heard.clone())
        }
        (Plane::Http(e), Connections::Pool) => pooled(e),
        (Plane::Http(e), Connections::PerDevice) => {
            let signer = fleet.target.signer.clone();
            let own = if e.base.starts_with("https://") {
                let tls = &fleet.target.tls;
                let config = tls.device_identity(thing).and_then(|id| tls.rustls(id));
                DeviceConnection::over_tls(e, config, signer, fleet.origin)
            } else {
                DeviceConnection::new(e, signer, fleet.origin)
            };
            match own {
                Ok(own) => DataClient::own(own, e.clone()),
                Err(_) => pooled(e),
            }
        }
    }
}

/// Connects every device at the connect rate and hands each one over when it is online; over
/// TLS, records what the ramp's handshakes cost.
async fn connect_all(
    fleet: Arc<Fleet>,
    agents: Vec<Agent>,
    ready: mpsc::UnboundedSender<Agent>,
    share: f64,
) {
    let rate = fleet.spec.connect.rate * share;
    let start = Instant::now();
    let cpu_before = super::process_cpu_ms();
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
    let mut pending = JoinSet::new();
    // Devices offline at the start: not part of the ramp, nor of what its handshakes cost.
    let mut away_set = JoinSet::new();
    let offline = fleet.spec.behaviour.offline;
    let mut slot = 0;
    for agent in agents {
        // An offline device comes online at its own time, outside the ramp's pacing.
        if let Some(away) = offline::away_s(offline.as_ref(), fleet.spec.seed, agent.index) {
            let (fleet, ready, handshakes) = (fleet.clone(), ready.clone(), handshakes.clone());
            away_set.spawn(async move {
                let back = start + fleet.virtual_to_real(away);
                let waited = fleet
                    .pause(back.saturating_duration_since(Instant::now()))
                    .await;
                match handshakes.acquire_owned().await {
                    Ok(permit) if waited && !fleet.ending() => {
                        bring_online(fleet, agent, ready, permit).await
                    }
                    _ => false,
                }
            });
            continue;
        }
        let due = start + Duration::from_secs_f64(slot as f64 / rate.max(f64::MIN_POSITIVE));
        slot += 1;
        tokio::time::sleep_until(due.into()).await;
        if fleet.halted() || fleet.ending() {
            break;
        }
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            break;
        };
        pending.spawn(bring_online(fleet.clone(), agent, ready.clone(), permit));
    }
    let mut made = 0;
    while let Some(ok) = pending.join_next().await {
        made += u64::from(ok.unwrap_or(false));
    }
    if fleet.tls_devices() {
        let cost = Handshakes {
            count: made,
            ramp_ms: start.elapsed().as_millis() as u64,
            process_cpu_ms: super::process_cpu_ms()
                .zip(cpu_before)
                .map(|(after, before)| after.saturating_sub(before)),
        };
        fleet.recorder.update(|r| r.handshakes = Some(cost));
    }
    while away_set.join_next().await.is_some() {}
}

/// Connects `agent` (holding a handshake `permit` while it tries) and hands it over when it
/// is online; one that cannot connect takes no part. Says whether it connected.
async fn bring_online(
    fleet: Arc<Fleet>,
    mut agent: Agent,
    ready: mpsc::UnboundedSender<Agent>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> bool {
    let ok = agent.connect(&fleet, permit).await;
    if ok {
        let _ = ready.send(agent);
    } else {
        fleet.drained.fetch_add(1, Ordering::Relaxed);
    }
    ok
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
