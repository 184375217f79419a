//! The fleet scenario format (`fleet:` files, see `schemas/fleet.schema.json`): a simulated
//! fleet of job agents, the rollout they receive, the load model that drives them, and the
//! thresholds that set the verdict. Loading checks everything a run would trip over later and
//! names `file:line:column` for each problem.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod bounds;
mod jobs;
mod load;
mod thresholds;

pub use jobs::{GroupSpec, JobSpec, Joiners, Range};
pub use load::{
    MAX_RUN_ID, distribution_ok, is_fleet_file, load_fleet, load_fleet_with, load_thresholds,
};
pub use thresholds::{
    AbortThresholds, Bound, LatencyThreshold, RolloutThresholds, Thresholds, duration_s,
};

/// A fleet scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    fleet: FleetSpec,
}

/// One fleet scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FleetSpec {
    /// Name, used in reports.
    pub name: String,
    /// What the scenario measures.
    pub description: Option<String>,
    /// Seed of every random draw (ChaCha8, one stream per device and one per schedule).
    #[serde(default)]
    pub seed: u64,
    /// The simulated things.
    pub things: ThingsSpec,
    /// How devices talk to the data plane.
    pub transport: FleetTransport,
    /// HTTP connection handling.
    #[serde(default)]
    pub http: HttpSpec,
    /// How fast devices come online.
    #[serde(default)]
    pub connect: ConnectSpec,
    /// The jobs the control plane creates.
    pub rollout: RolloutSpec,
    /// What each device does.
    pub behaviour: BehaviourSpec,
    /// What drives the devices.
    pub load: LoadSpec,
    /// When the run ends.
    #[serde(default)]
    pub run: RunSpec,
    /// What the verdict requires.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Settings of the embedded reference server, when it is the target.
    #[serde(default)]
    pub reference: ReferenceSpec,
}

/// The simulated things.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ThingsSpec {
    /// How many.
    pub count: u64,
    /// Name template: `{run}` is the run id, `{index}` the thing's index (required).
    /// Default: `{run}-dev-{index}`.
    pub name: Option<String>,
    /// Things one job targets; the unit that shards are made of. Default: 1,000 or `count`.
    pub per_job: Option<u64>,
}

impl ThingsSpec {
    /// Things per job (block size).
    pub fn block(&self) -> u64 {
        self.per_job.unwrap_or(self.count.min(1000)).max(1)
    }

    /// The name of thing `index` in run `run`.
    pub fn name_of(&self, run: &str, index: u64) -> String {
        self.name
            .as_ref()
            .map_or("{run}-dev-{index}", String::as_str)
            .replace("{run}", run)
            .replace("{index}", &index.to_string())
    }
}

/// The data-plane transport of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FleetTransport {
    /// REST-JSON over HTTP/1.1.
    Http,
    /// MQTT 3.1.1, one connection per device.
    Mqtt,
}

/// How HTTP devices hold connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpSpec {
    /// `per-device` (each device keeps its own connection) or `pool` (shared connections).
    #[serde(default)]
    pub connections: Connections,
    /// Connections in the pool (`pool` mode).
    #[serde(default = "default_pool")]
    pub pool: usize,
}

impl Default for HttpSpec {
    fn default() -> Self {
        Self {
            connections: Connections::default(),
            pool: default_pool(),
        }
    }
}

fn default_pool() -> usize {
    64
}

/// How HTTP devices hold connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Connections {
    /// One kept-alive connection per device, opened at its connect time.
    #[default]
    PerDevice,
    /// A shared pool of `pool` connections; requests wait for a free one.
    Pool,
}

/// How fast devices come online.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConnectSpec {
    /// New devices per second.
    #[serde(default = "default_connect_rate")]
    pub rate: f64,
    /// Longest one connection attempt may take, in milliseconds.
    #[serde(default = "default_connect_timeout")]
    pub timeout_ms: u64,
}

impl Default for ConnectSpec {
    fn default() -> Self {
        Self {
            rate: default_connect_rate(),
            timeout_ms: default_connect_timeout(),
        }
    }
}

fn default_connect_rate() -> f64 {
    2000.0
}

fn default_connect_timeout() -> u64 {
    10_000
}

/// The jobs the control plane creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RolloutSpec {
    /// Jobs each thing receives.
    #[serde(default = "one")]
    pub jobs_per_thing: u32,
    /// CreateJob calls per second.
    #[serde(default = "default_create_rate")]
    pub rate: f64,
    /// `before` the devices start (counts are then repeatable), or `during` the run.
    #[serde(default)]
    pub start: RolloutStart,
    /// The job document (an object).
    pub document: Option<Value>,
    /// The job's in-progress timeout, in minutes.
    pub in_progress_timeout_minutes: Option<u32>,
    /// Thing groups the fleet creates, for `jobs` to target.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Jobs shaped as AWS shapes them (CreateJob's own members); when given, they are the
    /// rollout, in place of `jobs-per-thing` jobs per block at `rate`.
    #[serde(default)]
    pub jobs: Vec<JobSpec>,
}

impl RolloutSpec {
    /// Whether the rollout is made of `jobs` targeting groups.
    pub fn shaped(&self) -> bool {
        !self.jobs.is_empty()
    }
}

fn one() -> u32 {
    1
}

fn default_create_rate() -> f64 {
    50.0
}

/// When the rollout runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStart {
    /// Every job exists before the first device starts.
    #[default]
    Before,
    /// Jobs are created while the devices run.
    During,
}

/// What each device does: the job-agent program.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BehaviourSpec {
    /// `agent` (start-next, work, update, until drained) or `poll` (start-next only, checked
    /// for shape; for raw request-rate measurements against any target).
    #[serde(default)]
    pub program: Program,
    /// How long the work on one job takes.
    #[serde(default)]
    pub work: Distribution,
    /// How a job ends, by probability.
    #[serde(default)]
    pub outcomes: Outcomes,
    /// `stepTimeoutInMinutes` sent with start-next.
    pub step_timeout_minutes: Option<i64>,
    /// Share of jobs during which the device goes silent: it never reports, its step timer
    /// fires, and it then checks that the execution is TIMED_OUT. Needs `step-timeout-minutes`.
    #[serde(default)]
    pub silent: f64,
    /// How the device learns of new jobs: it polls, or it listens for `notify-next`.
    #[serde(default)]
    pub agent: AgentProfile,
    /// A poller's poll interval: the wait before asking again when nothing is pending yet
    /// (rollout `during`).
    #[serde(default = "default_idle")]
    pub idle: Distribution,
    /// A listener's safety re-check: seconds of device time after which it asks again though
    /// no `notify-next` came (a lost notification then delays it, never hangs it).
    #[serde(default = "default_listener_fallback")]
    pub listener_fallback_s: f64,
    /// Devices offline when the run starts, and for how long.
    pub offline: Option<OfflineSpec>,
    /// Every connected device drops its connection at once, then all reconnect at once.
    pub reconnect_storm: Option<StormSpec>,
    /// What the device does when a request is throttled, faulted or unanswered, or a
    /// connection attempt fails.
    #[serde(default)]
    pub retry: RetrySpec,
}

/// How a device learns of new jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentProfile {
    /// After finding nothing pending, it waits its `idle` time and asks again.
    #[default]
    Poller,
    /// It subscribes to `notify-next`: after finding nothing pending, it asks again only when
    /// a `notify-next` names an execution (or its fallback runs out). MQTT only.
    Listener,
}

/// Devices offline when the run starts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OfflineSpec {
    /// The share of devices offline at the start, each drawn from its own seeded stream.
    pub share: f64,
    /// How long an offline device stays away from the run's start, in milliseconds of device
    /// time (scaled by the time scale like step timers).
    pub for_ms: Distribution,
}

/// A reconnect storm.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StormSpec {
    /// When, in seconds of device time after the first device came online.
    pub at_s: f64,
}

/// A retry policy as the file gives it: a name, or a policy of its own.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RetrySpec {
    /// `none`, or a preset of `schemas/fleet.schema.json` (`$defs.Retry.x-presets`).
    Named(String),
    /// A policy of its own.
    Own(RetryPolicy),
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self::Named(NO_RETRY.to_string())
    }
}

/// The name of the policy that retries nothing.
pub const NO_RETRY: &str = "none";

impl RetrySpec {
    /// The policy meant, `None` for `none`; an unknown name is an error naming the known ones.
    pub fn policy(&self) -> Result<Option<RetryPolicy>, String> {
        match self {
            Self::Own(policy) => Ok(Some(policy.clone())),
            Self::Named(name) if name == NO_RETRY => Ok(None),
            Self::Named(name) => {
                let presets = retry_presets();
                match presets.get(name) {
                    Some(preset) => serde_json::from_value(preset.clone())
                        .map(Some)
                        .map_err(|e| format!("the preset {name:?} of fleet.schema.json: {e}")),
                    None => Err(format!(
                        "{name:?} is not a retry policy: {NO_RETRY}, {}, or a policy of its own",
                        presets.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }
    }
}

/// The named retry policies of `schemas/fleet.schema.json`.
fn retry_presets() -> serde_json::Map<String, serde_json::Value> {
    let schema: serde_json::Value =
        serde_json::from_str(jobcert_contract::file("fleet.schema.json").unwrap_or("{}"))
            .unwrap_or_default();
    schema["$defs"]["Retry"]["x-presets"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// How a device retries: attempt n (from 2) waits min(`max_ms`, `base_ms` × 2^(n−2)) of device
/// time, times a uniform draw in [0, 1) with full jitter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff, ms.
    pub base_ms: u64,
    /// The longest backoff, ms.
    pub max_ms: u64,
    /// Whether the backoff is drawn.
    pub jitter: Jitter,
    /// The operations retried, by model name.
    pub operations: Vec<String>,
    /// What the policy models, for people reading it.
    #[serde(rename = "$comment", default, skip_serializing)]
    pub comment: Option<String>,
}

/// Whether a backoff is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jitter {
    /// The backoff as computed: every device waits alike.
    None,
    /// The backoff times a uniform draw in [0, 1).
    Full,
}

impl RetryPolicy {
    /// The backoff before attempt `attempt` (2 for the first retry) with `draw` in [0, 1),
    /// in ms of device time; `None` once the attempts are spent.
    pub fn backoff_ms(&self, attempt: u32, draw: f64) -> Option<f64> {
        if attempt < 2 || attempt > self.max_attempts {
            return None;
        }
        let doubled = self
            .base_ms
            .saturating_mul(1u64.checked_shl(attempt - 2).unwrap_or(u64::MAX));
        let backoff = doubled.min(self.max_ms) as f64;
        Some(match self.jitter {
            Jitter::None => backoff,
            Jitter::Full => backoff * draw,
        })
    }

    /// Whether `operation` (a model name) is retried.
    pub fn retries(&self, operation: &str) -> bool {
        self.operations.iter().any(|o| o == operation)
    }
}

fn default_idle() -> Distribution {
    Distribution::Constant(500.0)
}

fn default_listener_fallback() -> f64 {
    3600.0
}

/// The name a retry policy gives connection attempts (the MQTT packet's name).
pub const CONNECT_OPERATION: &str = "CONNECT";

/// The device program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Program {
    /// A job agent: start-next → work → update, until nothing is pending.
    #[default]
    Agent,
    /// Start-next only, one request per cycle.
    Poll,
}

/// The probabilities of the statuses a job ends with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    /// SUCCEEDED.
    #[serde(rename = "SUCCEEDED", default)]
    pub succeeded: f64,
    /// FAILED.
    #[serde(rename = "FAILED", default)]
    pub failed: f64,
    /// REJECTED.
    #[serde(rename = "REJECTED", default)]
    pub rejected: f64,
}

impl Default for Outcomes {
    fn default() -> Self {
        Self {
            succeeded: 1.0,
            failed: 0.0,
            rejected: 0.0,
        }
    }
}

/// A distribution of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Distribution {
    /// Always this long.
    Constant(f64),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Shortest.
        min: f64,
        /// Longest.
        max: f64,
    },
    /// Exponential with this mean.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Log-normal with this median and shape (`sigma` of the underlying normal).
    Lognormal {
        /// Median.
        median: f64,
        /// Shape.
        sigma: f64,
    },
}

impl Default for Distribution {
    fn default() -> Self {
        Self::Constant(0.0)
    }
}

/// What drives the devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LoadSpec {
    /// `closed` (each device loops, with a think time) or `open` (cycles start on a schedule).
    pub model: LoadModel,
    /// Closed loop: the pause between one cycle and the next.
    #[serde(default)]
    pub think: Distribution,
    /// Open loop: `constant` spacing or `poisson` arrivals.
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Open loop: cycles per second (a constant rate; or use `stages`).
    pub rate: Option<f64>,
    /// Open loop: rate at time zero, from which the first stage ramps.
    #[serde(default)]
    pub start_rate: f64,
    /// Open loop: linear ramps, each to `rate` over `duration-s`.
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// The load model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadModel {
    /// Each device starts its next cycle when the last one (and its think time) ends.
    Closed,
    /// Cycles start at scheduled times, whether or not earlier ones have finished.
    Open,
}

/// How open-loop arrivals are spaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrivals {
    /// Evenly.
    #[default]
    Constant,
    /// As a Poisson process.
    Poisson,
}

/// One open-loop ramp.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Stage {
    /// Rate reached at the end of the stage, per second.
    pub rate: f64,
    /// Length, in seconds.
    pub duration_s: f64,
}

/// When the run ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RunSpec {
    /// `drained` (every device found nothing pending) or `duration`.
    #[serde(default)]
    pub until: Until,
    /// Length of a `duration` run, in seconds (default: the open-loop stages' length).
    pub duration_s: Option<f64>,
    /// Hard bound on the whole run, in seconds; a run stopped by it is partial.
    #[serde(default = "default_max_duration")]
    pub max_duration_s: f64,
    /// Deadline of one request, in milliseconds.
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            until: Until::default(),
            duration_s: None,
            max_duration_s: default_max_duration(),
            deadline_ms: default_deadline(),
        }
    }
}

fn default_max_duration() -> f64 {
    600.0
}

fn default_deadline() -> u64 {
    5000
}

/// When the run ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Until {
    /// When every device has found nothing pending after the rollout.
    #[default]
    Drained,
    /// After `duration-s`.
    Duration,
}

/// Settings of the embedded reference server.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReferenceSpec {
    /// Virtual clock speed.
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// Whether it enforces AWS's account quotas (its limits file), as `--quotas` does.
    #[serde(default)]
    pub quotas: bool,
}

impl Default for ReferenceSpec {
    fn default() -> Self {
        Self {
            time_scale: default_time_scale(),
            quotas: false,
        }
    }
}

fn default_time_scale() -> f64 {
    600.0
}

impl LoadSpec {
    /// The open-loop ramps, `(from, to, seconds)`; a constant `rate` is one endless stage.
    pub fn ramps(&self) -> Vec<(f64, f64, f64)> {
        if let Some(rate) = self.rate {
            return vec![(rate, rate, f64::INFINITY)];
        }
        let mut from = self.start_rate;
        self.stages
            .iter()
            .map(|s| {
                let ramp = (from, s.rate, s.duration_s);
                from = s.rate;
                ramp
            })
            .collect()
    }
}

impl FleetSpec {
    /// The run's length when it is bounded by time rather than by draining.
    pub fn planned_duration_s(&self) -> Option<f64> {
        match self.run.until {
            Until::Drained => None,
            Until::Duration => self.run.duration_s.or_else(|| {
                let total: f64 = self.load.stages.iter().map(|s| s.duration_s).sum();
                (total > 0.0).then_some(total)
            }),
        }
    }
}

#[cfg(test)]
mod defaults_test;
#[cfg(test)]
mod numbers_test;
#[cfg(test)]
mod retry_test;
