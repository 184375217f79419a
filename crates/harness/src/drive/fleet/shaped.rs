//! A rollout shaped as AWS shapes one (`rollout.jobs`): the fleet creates its thing groups
//! and fills them, creates each job (targeting groups, with CreateJob's own configuration
//! members) at its time, adds the joiners while the run goes on, and watches every job with
//! DescribeJob, at least twice a minute of target time. The target paces, schedules, aborts
//! and retries the executions; the watch tells when every job is over (the run then drains)
//! and keeps each job's counts by minute. Devices tell it which executions they started, with
//! the target's own `queuedAt` and `startedAt`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Fleet;
use super::rollout::{recorded, seeding};
use crate::record::{
    AbortFigures, JobRollout, JoinerFigures, RolloutRecord, StatusSample, per_minute,
};
use crate::scenario::fleet::{FleetSpec, JobSpec};
use crate::transport::control::Seeding;
use crate::transport::{Called, Exchange, Outcome};
use jobcert_contract::ControlOperation;

/// Longest real time between two descriptions of a job.
const LONGEST_WATCH: Duration = Duration::from_secs(5);
/// Shortest real time between two descriptions of a job.
const SHORTEST_WATCH: Duration = Duration::from_millis(20);
/// Job statuses after which nothing more happens to a job.
const OVER: [&str; 3] = ["COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"];
/// `jobProcessDetails` members, and the execution status each counts.
const COUNTS: [(&str, &str); 8] = [
    ("numberOfQueuedThings", "QUEUED"),
    ("numberOfInProgressThings", "IN_PROGRESS"),
    ("numberOfSucceededThings", "SUCCEEDED"),
    ("numberOfFailedThings", "FAILED"),
    ("numberOfRejectedThings", "REJECTED"),
    ("numberOfTimedOutThings", "TIMED_OUT"),
    ("numberOfCanceledThings", "CANCELED"),
    ("numberOfRemovedThings", "REMOVED"),
];

/// What the fleet knows of its shaped rollout.
#[derive(Debug, Default)]
pub struct Shaped {
    /// Group name in the file → its ARN at the target.
    groups: Mutex<HashMap<String, String>>,
    /// Per job of the file, in its order.
    jobs: Mutex<Vec<Watched>>,
    /// Indices of the joiners that joined, by group name in the file.
    joined: Mutex<HashMap<String, Vec<u64>>>,
    /// Joiners still to join, over every group.
    joiners_left: AtomicU64,
    /// Per job id: per thing, the `queuedAt` and `startedAt` of the first execution it
    /// started, and how many executions devices started in all.
    started: Mutex<HashMap<String, Starts>>,
    /// DescribeJob calls that got no usable answer.
    describe_failures: AtomicU64,
    /// Cancelled once every job is over.
    pub over: CancellationToken,
}

/// The executions of one job the devices started.
#[derive(Debug, Default)]
struct Starts {
    first: HashMap<String, (f64, f64)>,
    executions: u64,
}

/// One job as the watch sees it.
#[derive(Debug, Default, Clone)]
struct Watched {
    /// When its CreateJob was acknowledged, µs since the run's start.
    created_us: Option<u64>,
    /// The things its groups held then: a snapshot job's targets.
    targeted_then: u64,
    /// Its last description.
    last: Option<Described>,
    /// Counts by minute from its creation (the last description within each minute).
    minutes: BTreeMap<u64, BTreeMap<String, u64>>,
    /// For a continuous job, when its counts first showed every targeted thing done, in
    /// seconds of target time from its creation.
    finished_s: Option<f64>,
}

/// What DescribeJob said of a job.
#[derive(Debug, Default, Clone, PartialEq)]
struct Described {
    status: Option<String>,
    reason_code: Option<String>,
    created_at: Option<f64>,
    completed_at: Option<f64>,
    last_updated_at: Option<f64>,
    counts: BTreeMap<String, u64>,
}

impl Described {
    fn of(body: &Value) -> Self {
        let job = &body["job"];
        let text = |k: &str| job.get(k).and_then(Value::as_str).map(str::to_string);
        let time = |k: &str| job.get(k).and_then(Value::as_f64);
        let details = &job["jobProcessDetails"];
        let counts = COUNTS
            .iter()
            .filter_map(|(member, status)| {
                details
                    .get(member)
                    .and_then(Value::as_u64)
                    .map(|n| (status.to_string(), n))
            })
            .collect();
        Self {
            status: text("status"),
            reason_code: text("reasonCode"),
            created_at: time("createdAt"),
            completed_at: time("completedAt"),
            last_updated_at: time("lastUpdatedAt"),
            counts,
        }
    }

    fn count(&self, status: &str) -> u64 {
        self.counts.get(status).copied().unwrap_or(0)
    }

    /// Whether nothing more happens to the job: its status says so and none of its
    /// executions is queued or in progress (a canceled job's started ones go on).
    fn over(&self) -> bool {
        self.status.as_deref().is_some_and(|s| OVER.contains(&s))
            && self.count("QUEUED") == 0
            && self.count("IN_PROGRESS") == 0
    }

    /// Whether every one of `targeted` things shows a final status.
    fn all_done(&self, targeted: u64) -> bool {
        let total: u64 = self.counts.values().sum();
        self.count("QUEUED") == 0 && self.count("IN_PROGRESS") == 0 && total >= targeted
    }
}

/// The job id of job `spec` in run `run`.
pub fn job_id(run: &str, spec: &JobSpec) -> String {
    format!("{run}-{}", spec.id)
}

/// The name of group `name` in run `run`.
fn group_name(run: &str, name: &str) -> String {
    format!("{run}-{name}")
}

impl Shaped {
    /// The state of `spec`'s rollout before anything was created.
    pub fn new(spec: &FleetSpec) -> Self {
        let joiners = spec
            .rollout
            .groups
            .iter()
            .filter_map(|g| g.joiners.map(|j| j.count))
            .sum();
        Self {
            jobs: Mutex::new(vec![Watched::default(); spec.rollout.jobs.len()]),
            joiners_left: AtomicU64::new(joiners),
            ..Self::default()
        }
    }

    /// Notes an answer to a device's start-next: the execution it started, with the target's
    /// own times.
    pub fn device_started(&self, thing: &str, exchange: &Exchange) {
        let Outcome::Answered(r) = &exchange.outcome else {
            return;
        };
        let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
            return;
        };
        let execution = &body["execution"];
        let (Some(job), Some(queued), Some(started)) = (
            execution.get("jobId").and_then(Value::as_str),
            execution.get("queuedAt").and_then(Value::as_f64),
            execution.get("startedAt").and_then(Value::as_f64),
        ) else {
            return;
        };
        let mut all = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let starts = all.entry(job.to_string()).or_default();
        starts.executions += 1;
        starts
            .first
            .entry(thing.to_string())
            .or_insert((queued, started));
    }

    /// The things job `k` of `spec` would target now: its groups' members and the joiners
    /// that joined them (a continuous job's targets; a snapshot job keeps those at its
    /// creation).
    fn targeted(&self, spec: &FleetSpec, k: usize) -> BTreeSet<u64> {
        let joined = self.joined.lock().unwrap_or_else(|p| p.into_inner());
        let mut things = BTreeSet::new();
        for name in &spec.rollout.jobs[k].targets {
            let Some(g) = spec.rollout.groups.iter().find(|g| &g.name == name) else {
                continue;
            };
            match g.members {
                Some(r) => things.extend(r.indices()),
                None if g.joiners.is_none() => things.extend(0..spec.things.count),
                None => {
                    let late = g.joiners.map(|j| j.indices()).unwrap_or(0..0);
                    things.extend((0..spec.things.count).filter(|i| !late.contains(i)));
                }
            }
            things.extend(joined.get(name).into_iter().flatten().copied());
        }
        things
    }

    /// The record of the rollout, from the watch and the devices' starts.
    pub fn record(&self, spec: &FleetSpec, run: &str) -> RolloutRecord {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let joined = self
            .joined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let jobs = spec
            .rollout
            .jobs
            .iter()
            .zip(jobs)
            .enumerate()
            .map(|(k, (job, watched))| {
                let id = job_id(run, job);
                let targeted = if job.continuous() {
                    self.targeted(spec, k).len() as u64
                } else {
                    watched.targeted_then
                };
                let starts = started.get(&id);
                let joiners: BTreeSet<String> = job
                    .targets
                    .iter()
                    .flat_map(|g| joined.get(g).into_iter().flatten())
                    .map(|i| spec.things.name_of(run, *i))
                    .collect();
                job_record(job, id, &watched, starts, targeted, &joiners)
            })
            .collect();
        RolloutRecord {
            jobs,
            describe_failures: self.describe_failures.load(Ordering::Relaxed),
        }
    }
}

/// The record of one job.
fn job_record(
    job: &JobSpec,
    job_id: String,
    watched: &Watched,
    starts: Option<&Starts>,
    targeted: u64,
    joiners: &BTreeSet<String>,
) -> JobRollout {
    let last = watched.last.clone().unwrap_or_default();
    let created = last.created_at;
    let first: Vec<(f64, f64)> = starts
        .map(|s| s.first.values().copied().collect())
        .unwrap_or_default();
    let since = |t: f64| created.map(|c| t - c);
    let devices_started = first.len() as u64;
    let everyone = devices_started >= targeted && targeted > 0;
    let latest = |pick: fn(&(f64, f64)) -> f64| {
        everyone
            .then(|| first.iter().map(pick).fold(f64::MIN, f64::max))
            .and_then(since)
    };
    let until_all_finished_s = match last.status.as_deref() {
        Some("COMPLETED") => last.completed_at.and_then(since),
        _ if job.continuous() => watched.finished_s,
        _ => None,
    };
    let aborted = job.aborts() && last.status.as_deref() == Some("CANCELED");
    let abort = aborted.then(|| AbortFigures {
        after_s: last
            .completed_at
            .or(last.last_updated_at)
            .and_then(since)
            .unwrap_or(0.0),
        devices_started: last
            .counts
            .iter()
            .filter(|(s, _)| !matches!(s.as_str(), "QUEUED" | "CANCELED"))
            .map(|(_, n)| n)
            .sum(),
        canceled: last.count("CANCELED"),
    });
    let joiner_figures = (!joiners.is_empty()).then(|| JoinerFigures {
        joined: joiners.len() as u64,
        started: starts.map_or(0, |s| {
            s.first.keys().filter(|t| joiners.contains(*t)).count() as u64
        }),
    });
    JobRollout {
        name: job.id.clone(),
        job_id,
        continuous: job.continuous(),
        aborts: job.aborts(),
        created_at_s: created,
        status: last.status.clone(),
        reason_code: last.reason_code.clone(),
        targeted,
        devices_started,
        executions_started: starts.map_or(0, |s| s.executions),
        until_all_notified_s: latest(|t| t.0),
        until_all_started_s: latest(|t| t.1),
        until_all_finished_s,
        notified_per_minute: created
            .map(|c| per_minute(first.iter().map(|t| t.0 - c)))
            .unwrap_or_default(),
        started_per_minute: created
            .map(|c| per_minute(first.iter().map(|t| t.1 - c)))
            .unwrap_or_default(),
        minutes: watched
            .minutes
            .iter()
            .map(|(m, counts)| StatusSample {
                minute: *m,
                counts: counts.clone(),
            })
            .collect(),
        final_counts: last.counts.clone(),
        abort,
        joiners: joiner_figures,
    }
}

/// Creates the groups and adds their first members.
pub async fn create_groups(fleet: &Fleet, stop: &CancellationToken) -> Result<(), String> {
    let spec = &fleet.spec;
    for g in &spec.rollout.groups {
        let name = group_name(&fleet.run_id, &g.name);
        let called = fleet
            .control
            .create_thing_group(fleet.next_seq(), "setup", &name)
            .await;
        let (_, arn) = recorded(fleet, ControlOperation::CreateThingGroup, called)
            .map_err(|e| e.explain(Seeding::CreateThingGroup(&name), &fleet.target))?;
        let arn = arn.ok_or_else(|| {
            format!(
                "CreateThingGroup of group {name} at {}: the answer names no thingGroupArn, \
                     which jobs need to target the group",
                fleet.target.control.base
            )
        })?;
        fleet
            .shaped
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(g.name.clone(), arn);
        let late = g.joiners.map(|j| j.indices()).unwrap_or(0..0);
        let members: Vec<u64> = match g.members {
            Some(r) => r.indices().collect(),
            None => (0..spec.things.count)
                .filter(|i| !late.contains(i))
                .collect(),
        };
        let calls = members
            .into_iter()
            .map(|i| add_to_group(fleet, &name, spec.things.name_of(&fleet.run_id, i)));
        seeding(calls, stop, "filling thing groups").await?;
    }
    Ok(())
}

async fn add_to_group(fleet: &Fleet, group: &str, thing: String) -> Result<(), String> {
    let called = fleet
        .control
        .add_thing_to_thing_group(fleet.next_seq(), "setup", group, &thing)
        .await;
    recorded(fleet, ControlOperation::AddThingToThingGroup, called)
        .map(drop)
        .map_err(|e| e.explain(Seeding::AddThingToThingGroup(&thing, group), &fleet.target))
}

/// Creates job `k` of the file.
async fn create_job(fleet: &Fleet, k: usize) -> Result<(), String> {
    let job = &fleet.spec.rollout.jobs[k];
    let id = job_id(&fleet.run_id, job);
    let targets: Vec<String> = {
        let groups = fleet
            .shaped
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        job.targets
            .iter()
            .filter_map(|g| groups.get(g).cloned())
            .collect()
    };
    let mut members = job.create_job.clone();
    members.insert("document".into(), Value::String(job.document_text()));
    let called = fleet
        .control
        .create_job_with(fleet.next_seq(), "setup", &id, &targets, &members)
        .await;
    let (timing, _) = recorded(fleet, ControlOperation::CreateJob, called)
        .map_err(|e| e.explain(Seeding::CreateGroupJob(&id, &targets), &fleet.target))?;
    fleet.recorder.update(|r| r.jobs += 1);
    let targeted = fleet.shaped.targeted(&fleet.spec, k).len() as u64;
    let mut jobs = fleet.shaped.jobs.lock().unwrap_or_else(|p| p.into_inner());
    jobs[k].created_us = Some(timing.done_us);
    jobs[k].targeted_then = targeted;
    Ok(())
}

/// Creates the jobs due before the devices start (`at-s: 0`).
pub async fn create_first_jobs(fleet: &Fleet) -> Result<(), String> {
    for (k, job) in fleet.spec.rollout.jobs.iter().enumerate() {
        if job.at_s == 0.0 {
            create_job(fleet, k).await?;
        }
    }
    Ok(())
}

/// Creates the later jobs at their times and adds the joiners at theirs, on the target's
/// clock from `start`.
pub async fn carry_on(fleet: &Fleet) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    let mut due: Vec<(f64, Step)> = Vec::new();
    for (k, job) in fleet.spec.rollout.jobs.iter().enumerate() {
        if job.at_s > 0.0 {
            due.push((job.at_s, Step::Job(k)));
        }
    }
    for (g, group) in fleet.spec.rollout.groups.iter().enumerate() {
        if let Some(j) = group.joiners {
            for (n, i) in j.indices().enumerate() {
                due.push((j.after_s + n as f64 * 60.0 / j.per_minute, Step::Join(g, i)));
            }
        }
    }
    due.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, step) in due {
        tokio::select! {
            () = tokio::time::sleep_until(start + fleet.virtual_to_real(at)) => {}
            () = fleet.halt.cancelled() => return Ok(()),
        }
        match step {
            Step::Job(k) => create_job(fleet, k).await?,
            Step::Join(g, i) => {
                let group = &fleet.spec.rollout.groups[g].name;
                let thing = fleet.spec.things.name_of(&fleet.run_id, i);
                add_to_group(fleet, &group_name(&fleet.run_id, group), thing).await?;
                fleet
                    .shaped
                    .joined
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(group.clone())
                    .or_default()
                    .push(i);
                fleet.shaped.joiners_left.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// What [`carry_on`] does at a time.
enum Step {
    Job(usize),
    Join(usize, u64),
}

/// Describes every created job, at least twice a minute of target time, until every job is
/// over (then cancels [`Shaped::over`]) or the run halts.
pub async fn watch(fleet: &Fleet) {
    let half_minute = fleet.virtual_to_real(30.0);
    let period = half_minute.clamp(SHORTEST_WATCH, LONGEST_WATCH);
    loop {
        let over = describe_all(fleet).await;
        if over {
            fleet.shaped.over.cancel();
            return;
        }
        if !fleet.pause(period).await {
            return;
        }
    }
}

/// Describes every created job once; whether every job is over.
async fn describe_all(fleet: &Fleet) -> bool {
    let jobs = &fleet.spec.rollout.jobs;
    let mut all_over = true;
    for (k, job) in jobs.iter().enumerate() {
        let created = fleet.shaped.jobs.lock().unwrap_or_else(|p| p.into_inner())[k].created_us;
        let Some(created_us) = created else {
            all_over = false;
            continue;
        };
        let id = job_id(&fleet.run_id, job);
        let described = match fleet
            .control
            .describe_job(fleet.next_seq(), "watch", &id)
            .await
        {
            Ok(Called {
                result: Ok(body), ..
            }) => Described::of(&body),
            _ => {
                fleet
                    .shaped
                    .describe_failures
                    .fetch_add(1, Ordering::Relaxed);
                all_over = false;
                continue;
            }
        };
        let targeted = if job.continuous() {
            fleet.shaped.targeted(&fleet.spec, k).len() as u64
        } else {
            fleet.shaped.jobs.lock().unwrap_or_else(|p| p.into_inner())[k].targeted_then
        };
        let joining = fleet.shaped.joiners_left.load(Ordering::Relaxed) > 0;
        // Minutes of target time since the job was acknowledged.
        let since_s =
            fleet.now_us().saturating_sub(created_us) as f64 / 1e6 * fleet.target.time_scale;
        let minute = (since_s / 60.0).floor() as u64;
        let done = described.all_done(targeted);
        let over = described.over() || (job.continuous() && !joining && done);
        let mut watched = fleet.shaped.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let w = &mut watched[k];
        w.minutes.insert(minute, described.counts.clone());
        if job.continuous() && done && !joining && w.finished_s.is_none() {
            w.finished_s = Some(since_s);
        }
        w.last = Some(described);
        all_over &= over;
    }
    all_over
}
