//! The control-plane subset the reference serves to seed state: things, jobs, cancellation and
//! the control plane's view of an execution.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLockWriteGuard};

use jobcert_contract::Status;

use super::Unreleased;
use super::job::{Job, Outcomes, Rollout};
use super::rollout::{Pace, RolloutConfig};
use super::schedule::Schedule;
use super::thing::ThingState;
use super::timers::Due;
use super::{
    Engine, EngineError, ExecutionView, JobSpec, JobState, JobStatus, VirtualMillis, execution,
};

/// A thing or a thing group as CreateThing or CreateThingGroup reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ThingInfo {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Id.
    pub id: String,
}

/// A job as DescribeJob reports it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// ARN.
    pub arn: String,
    /// The definition.
    pub spec: JobSpec,
    /// Creation time.
    pub created_at: VirtualMillis,
    /// Status and cancellation details.
    pub state: JobState,
    /// How many targets' latest executions are in each status.
    pub counts: HashMap<Status, u64>,
}

/// The jobs by id.
type Jobs = HashMap<Arc<str>, Arc<Job>>;

/// The version every thing has (the reference has no UpdateThing).
const THING_VERSION: i64 = 1;

/// CancelJobExecution's input.
#[derive(Debug, Clone)]
pub struct CancelExecution {
    /// The thing.
    pub thing: String,
    /// The job.
    pub job_id: String,
    /// Cancel an IN_PROGRESS execution too.
    pub force: bool,
    /// The version the execution must be at.
    pub expected_version: Option<i64>,
    /// statusDetails to store.
    pub status_details: Option<super::Details>,
}

/// A job execution as the control plane's DescribeJobExecution reports it.
#[derive(Debug, Clone)]
pub struct ControlExecutionView {
    /// The data-plane view (without the document).
    pub execution: ExecutionView,
    /// ARN of the thing.
    pub thing_arn: String,
}

impl Engine {
    fn thing_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:iot:{}:{}:thing/{name}",
            self.region, self.account_id
        )
    }

    fn thing_group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:iot:{}:{}:thinggroup/{name}",
            self.region, self.account_id
        )
    }

    fn job_arn(&self, id: &str) -> String {
        format!("arn:aws:iot:{}:{}:job/{id}", self.region, self.account_id)
    }

    /// CreateThing: creates the thing, or reports the existing one.
    pub fn create_thing(&self, name: &str) -> ThingInfo {
        let id = self.things.with_or_create(name, |t| t.id.clone());
        ThingInfo {
            name: name.to_string(),
            arn: self.thing_arn(name),
            id,
        }
    }

    /// CreateJob: queues one execution per target thing.
    pub fn create_job(&self, mut spec: JobSpec) -> Result<String, EngineError> {
        // A thing ARN of another account or region names no thing of this server, whatever
        // its name: a client that guesses the account instead of using CreateThing's answer
        // is caught here, as it would be by the service.
        let (ours, our_groups) = (self.thing_arn(""), self.thing_group_arn(""));
        if let Some(foreign) = spec
            .targets
            .iter()
            .find(|arn| !arn.starts_with(&ours) && !arn.starts_with(&our_groups))
        {
            return Err(EngineError::NotFound(format!(
                "thing {foreign} cannot be found; this server's thing ARNs begin {ours}"
            )));
        }
        if let Some(missing) = spec.things.iter().find(|t| !self.things.contains(t)) {
            return Err(EngineError::NotFound(format!(
                "thing {missing} does not exist"
            )));
        }
        if let Some(missing) = spec.groups.iter().find(|g| !self.groups.contains(g)) {
            return Err(EngineError::NotFound(format!(
                "thing group {missing} does not exist"
            )));
        }
        // A group's members at creation join the things named, each once, in target order.
        for group in &spec.groups {
            for member in self.groups.members(group) {
                if !spec.things.iter().any(|t| **t == *member) {
                    spec.things.push(member.to_string());
                }
            }
        }
        let now = self.clock.now_ms();
        let job = {
            let mut jobs = self.jobs_admitting(&spec.target_selection, now)?;
            if jobs.contains_key(spec.id.as_str()) {
                return Err(EngineError::AlreadyExists(format!(
                    "job {} already exists",
                    spec.id
                )));
            }
            let schedule = spec
                .scheduling
                .as_ref()
                .map(|c| Schedule::new(c, now))
                .transpose()
                .map_err(EngineError::InvalidRequest)?;
            let end = schedule.as_ref().and_then(|s| s.end).map(|at| {
                let behavior = spec
                    .scheduling
                    .as_ref()
                    .and_then(|c| c.end_behavior.clone())
                    .unwrap_or_else(|| "STOP_ROLLOUT".to_string());
                (at, behavior)
            });
            let paced = spec.rollout.is_some() || schedule.is_some();
            let rollout = paced.then(|| Rollout {
                pace: Pace::new(
                    spec.rollout.clone().unwrap_or(RolloutConfig {
                        maximum_per_minute: None,
                        exponential_rate: None,
                    }),
                    now,
                ),
                waiting: spec.things.iter().map(|t| Arc::from(t.as_str())).collect(),
                armed: None,
                schedule,
                cursor: now,
                open_from: None,
                successes_seen: 0,
            });
            let job = Arc::new(Job {
                id: Arc::from(spec.id.as_str()),
                document: Arc::from(spec.document.as_str()),
                created_at: now,
                state: std::sync::Mutex::new(JobState {
                    status: JobStatus::InProgress,
                    last_updated_at: now,
                    completed_at: None,
                    force_canceled: false,
                    reason_code: None,
                    comment: None,
                }),
                rollout: std::sync::Mutex::new(rollout),
                notified: AtomicU64::new(0),
                outcomes: std::sync::Mutex::new(Outcomes::default()),
                abort_denominator: self.settings.abort_denominator,
                later: std::sync::Mutex::new(Vec::new()),
                end: std::sync::Mutex::new(end),
                spec,
            });
            jobs.insert(job.id.clone(), job.clone());
            job
        };
        let paced = job
            .rollout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if let Some((at, _)) = *job.end.lock().unwrap_or_else(|p| p.into_inner()) {
            self.timers.arm(at, Due::Rollout(job.id.clone()));
        }
        if !paced || self.settings.unreleased == Unreleased::Queued {
            for thing in &job.spec.things {
                let seq = self.seq.fetch_add(1, Ordering::Relaxed);
                // Things exist (checked above); a job adds one execution to each, once.
                let add = |t: Option<&mut ThingState>| {
                    if let Some(t) = t {
                        self.add_once(t, &job, now, seq);
                    }
                };
                if paced {
                    // Announced when rolled out.
                    self.things.with(thing, add);
                } else {
                    self.with_thing(thing, add);
                }
            }
        }
        if !paced {
            job.notified
                .store(job.spec.things.len() as u64, Ordering::Release);
        }
        if paced || !job.spec.abort.is_empty() {
            self.watch(job.clone());
            self.settle(now);
        }
        Ok(self.job_arn(&job.spec.id))
    }

    /// The jobs, locked for a new one of `target_selection`: refused with LimitExceeded when
    /// as many jobs of its kind are in progress as the bound allows. Jobs that completed since
    /// they were last counted are brought up to date first (SNAPSHOT jobs complete lazily).
    fn jobs_admitting(
        &self,
        target_selection: &str,
        now: VirtualMillis,
    ) -> Result<RwLockWriteGuard<'_, Jobs>, EngineError> {
        let bounds = self.settings.bounds;
        let active = |jobs: &Jobs| -> Vec<Arc<Job>> {
            jobs.values()
                .filter(|j| j.spec.target_selection == target_selection)
                .filter(|j| {
                    j.state.lock().unwrap_or_else(|p| p.into_inner()).status
                        == JobStatus::InProgress
                })
                .cloned()
                .collect()
        };
        let jobs = self.jobs.write().unwrap_or_else(|p| p.into_inner());
        let (Some(max), _) = bounds.active_jobs(target_selection) else {
            return Ok(jobs);
        };
        let counted = active(&jobs);
        if counted.len() < max {
            return Ok(jobs);
        }
        let changes = self.pending_changes.load(Ordering::Relaxed);
        if self.active_counted_at.swap(changes, Ordering::Relaxed) != changes {
            drop(jobs);
            self.settle(now);
            for job in &counted {
                self.counts_completing(job, now);
            }
            let jobs = self.jobs.write().unwrap_or_else(|p| p.into_inner());
            bounds.admit_job(target_selection, active(&jobs).len())?;
            return Ok(jobs);
        }
        bounds.admit_job(target_selection, counted.len())?;
        Ok(jobs)
    }

    /// Queues an execution of `job` on `thing` unless it has one already (a job adds one to
    /// each of its things, once). A thing holding as many executions as it may retains forgets
    /// its oldest terminal ones first.
    fn add_once(&self, thing: &mut ThingState, job: &Arc<Job>, now: VirtualMillis, seq: u64) {
        if thing.find(&job.spec.id, None).is_none() {
            let forget = self
                .settings
                .bounds
                .forget_before_one_more(thing.executions.len());
            thing.forget_oldest_terminal(forget, self.model);
            thing.executions.push(execution::Execution::queued(
                job.clone(),
                1,
                now,
                seq,
                self.model,
            ));
        }
    }

    fn job(&self, id: &str) -> Result<Arc<Job>, EngineError> {
        self.jobs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("job {id} does not exist")))
    }

    /// DescribeJob, with per-status counts of the targets' latest executions.
    pub fn describe_job(&self, id: &str) -> Result<JobInfo, EngineError> {
        let job = self.job(id)?;
        let now = self.clock.now_ms();
        self.settle(now);
        let (counts, state) = self.counts_completing(&job, now);
        Ok(JobInfo {
            arn: self.job_arn(id),
            spec: job.spec.clone(),
            created_at: job.created_at,
            state,
            counts,
        })
    }

    /// How many targets' latest executions are in each status, and the job's state: a SNAPSHOT
    /// job whose rollout is over and whose every execution is terminal completes here.
    fn counts_completing(&self, job: &Job, now: VirtualMillis) -> (HashMap<Status, u64>, JobState) {
        let mut counts: HashMap<Status, u64> = HashMap::new();
        for thing in job.targets() {
            self.with_thing(&thing, |t| {
                if let Some(t) = t {
                    t.expire(now, self.model, &self.seq);
                    if let Some(i) = t.find(&job.spec.id, None) {
                        *counts.entry(t.executions[i].status).or_default() += 1;
                    }
                }
            });
        }
        for (status, n) in &job
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .departed
        {
            *counts.entry(*status).or_default() += n;
        }
        let mut state = job.state.lock().unwrap_or_else(|p| p.into_inner());
        let rolling = job
            .rollout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        let all_terminal = !rolling && counts.keys().all(|s| self.model.is_terminal(*s));
        if state.status == JobStatus::InProgress
            && all_terminal
            && job.spec.target_selection == "SNAPSHOT"
        {
            state.status = JobStatus::Completed;
            state.completed_at = Some(now);
            state.last_updated_at = now;
        }
        (counts, state.clone())
    }

    /// CancelJob: cancels QUEUED executions, and IN_PROGRESS ones too with `force`.
    pub fn cancel_job(
        &self,
        id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
    ) -> Result<String, EngineError> {
        let job = self.job(id)?;
        let now = self.clock.now_ms();
        self.settle(now);
        {
            let state = job.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.status == JobStatus::Completed {
                return Err(EngineError::InvalidRequest(format!(
                    "job {id} has completed"
                )));
            }
        }
        self.cancel_at(&job, force, reason_code, comment, now, now);
        Ok(self.job_arn(id))
    }

    /// Cancels `job` as of `at`: its QUEUED executions, IN_PROGRESS ones too with `force`, and
    /// the targets not rolled out yet, which never will be.
    pub(super) fn cancel_at(
        &self,
        job: &Arc<Job>,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        at: VirtualMillis,
        now: VirtualMillis,
    ) {
        {
            let mut state = job.state.lock().unwrap_or_else(|p| p.into_inner());
            state.status = JobStatus::Canceled;
            state.force_canceled |= force;
            state.reason_code = reason_code.or(state.reason_code.take());
            state.comment = comment.or(state.comment.take());
            state.last_updated_at = at;
            state.completed_at = Some(at);
        }
        *job.rollout.lock().unwrap_or_else(|p| p.into_inner()) = None;
        for thing in job.targets() {
            self.with_thing(&thing, |t| {
                let Some(t) = t else { return };
                t.expire(now, self.model, &self.seq);
                for e in t
                    .executions
                    .iter_mut()
                    .filter(|e| e.job_id() == job.id.as_ref())
                {
                    let cancel = match e.status {
                        Status::Queued => true,
                        Status::InProgress => force,
                        _ => false,
                    };
                    if cancel {
                        e.finish(Status::Canceled);
                        e.touch(at.max(e.last_updated_at));
                    }
                }
            });
        }
    }

    /// The control plane's DescribeJobExecution: any execution, terminal or not.
    pub fn control_describe(
        &self,
        thing: &str,
        job_id: &str,
        number: Option<i64>,
    ) -> Result<ControlExecutionView, EngineError> {
        let now = self.clock.now_ms();
        self.settle(now);
        let execution = self.with_thing(thing, |t| {
            let t = t?;
            t.expire(now, self.model, &self.seq);
            let i = t.find(job_id, number)?;
            Some(t.executions[i].view(&t.name, now, false))
        });
        let execution = execution.ok_or_else(|| {
            EngineError::NotFound(format!("no execution of job {job_id} on thing {thing}"))
        })?;
        Ok(ControlExecutionView {
            execution,
            thing_arn: self.thing_arn(thing),
        })
    }

    /// CancelJobExecution: cancels `thing`'s latest execution of `job_id` if it is QUEUED, or
    /// IN_PROGRESS with `force`.
    pub fn cancel_execution(&self, req: CancelExecution) -> Result<(), EngineError> {
        self.settings
            .bounds
            .check_details(req.status_details.as_ref())?;
        let now = self.clock.now_ms();
        self.settle(now);
        self.with_thing(&req.thing, |t| {
            let not_found = || {
                EngineError::NotFound(format!(
                    "no execution of job {} on thing {}",
                    req.job_id, req.thing
                ))
            };
            let t = t.ok_or_else(not_found)?;
            t.expire(now, self.model, &self.seq);
            let i = t.find(&req.job_id, None).ok_or_else(not_found)?;
            let e = &mut t.executions[i];
            if let Some(expected) = req.expected_version
                && expected != e.version
            {
                return Err(EngineError::VersionConflict(format!(
                    "expectedVersion {expected} does not match versionNumber {}",
                    e.version
                )));
            }
            let cancelable = match e.status {
                Status::Queued => true,
                Status::InProgress => req.force,
                _ => false,
            };
            if !cancelable {
                return Err(EngineError::InvalidStateTransition {
                    message: format!(
                        "the execution is {}; it cannot be canceled{}",
                        e.status.as_str(),
                        if e.status == Status::InProgress {
                            " without force"
                        } else {
                            ""
                        }
                    ),
                    state: e.state(),
                });
            }
            e.finish(Status::Canceled);
            if let Some(details) = req.status_details {
                e.details = details;
            }
            e.touch(now);
            Ok(())
        })
    }

    /// DeleteThing: removes the thing and its executions (a thing that does not exist is no
    /// error, as AWS documents); its jobs count an execution that had not ended as REMOVED.
    /// Things have no versions here other than 1.
    pub fn delete_thing(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        self.settle(now);
        if let Some(expected) = expected_version
            && expected != THING_VERSION
            && self.things.contains(name)
        {
            return Err(EngineError::VersionConflict(format!(
                "expectedVersion {expected} does not match the thing's version {THING_VERSION}"
            )));
        }
        self.groups.forget(name);
        let Some(thing) = self.things.remove(name) else {
            return Ok(());
        };
        self.pending_changes.fetch_add(1, Ordering::Relaxed);
        for (i, e) in thing.executions.iter().enumerate() {
            if thing.find(e.job_id(), None) != Some(i) {
                continue;
            }
            let status = if self.model.is_terminal(e.status) {
                e.status
            } else {
                Status::Removed
            };
            let mut o = e.job.outcomes.lock().unwrap_or_else(|p| p.into_inner());
            *o.departed.entry(status).or_default() += 1;
        }
        Ok(())
    }

    /// CreateThingGroup: creates the group, or reports the existing one.
    pub fn create_thing_group(
        &self,
        name: &str,
        parent: Option<&str>,
    ) -> Result<ThingInfo, EngineError> {
        let id = self.groups.create(name, parent).ok_or_else(|| {
            EngineError::NotFound(format!(
                "parent group {} does not exist",
                parent.unwrap_or_default()
            ))
        })?;
        Ok(ThingInfo {
            name: name.to_string(),
            arn: self.thing_group_arn(name),
            id,
        })
    }

    /// The name a thing-group ARN of this server names.
    pub fn thing_group_name<'a>(&self, arn: &'a str) -> Option<&'a str> {
        arn.strip_prefix(&self.thing_group_arn(""))
    }

    /// AddThingToThingGroup: the thing joins the group, and every open CONTINUOUS job that
    /// targets the group (or an ancestor) gives it an execution at once, outside any rollout rate.
    pub fn add_thing_to_group(&self, group: &str, thing: &str) -> Result<(), EngineError> {
        if !self.things.contains(thing) {
            return Err(EngineError::NotFound(format!(
                "thing {thing} does not exist"
            )));
        }
        if !self.groups.add(group, thing) {
            return Err(EngineError::NotFound(format!(
                "thing group {group} does not exist"
            )));
        }
        let now = self.clock.now_ms();
        self.settle(now);
        for job in self.continuous_jobs_over(thing) {
            let thing: Arc<str> = Arc::from(thing);
            {
                let mut later = job.later.lock().unwrap_or_else(|p| p.into_inner());
                if job.spec.things.iter().any(|t| **t == *thing) || later.contains(&thing) {
                    continue;
                }
                later.push(thing.clone());
            }
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            self.with_thing(&thing, |t| {
                if let Some(t) = t {
                    self.add_once(t, &job, now, seq);
                }
            });
            job.notified.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// RemoveThingFromThingGroup: the thing leaves the group; an open CONTINUOUS job that no
    /// longer targets it sets its unfinished execution REMOVED.
    pub fn remove_thing_from_group(&self, group: &str, thing: &str) -> Result<(), EngineError> {
        if !self.things.contains(thing) {
            return Err(EngineError::NotFound(format!(
                "thing {thing} does not exist"
            )));
        }
        let now = self.clock.now_ms();
        self.settle(now);
        let before = self.continuous_jobs_over(thing);
        if !self.groups.remove(group, thing) {
            return Err(EngineError::NotFound(format!(
                "thing group {group} does not exist"
            )));
        }
        let after = self.continuous_jobs_over(thing);
        for job in before
            .iter()
            .filter(|j| !after.iter().any(|a| a.id == j.id))
        {
            self.with_thing(thing, |t| {
                let Some(t) = t else { return };
                t.expire(now, self.model, &self.seq);
                if let Some(i) = t.find(&job.spec.id, None) {
                    let e = &mut t.executions[i];
                    if !self.model.is_terminal(e.status) {
                        e.finish(Status::Removed);
                        e.touch(now);
                    }
                }
            });
        }
        Ok(())
    }

    /// The open CONTINUOUS jobs one of whose target groups holds `thing`.
    fn continuous_jobs_over(&self, thing: &str) -> Vec<Arc<Job>> {
        let jobs: Vec<Arc<Job>> = self
            .jobs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|j| j.spec.target_selection == "CONTINUOUS" && !j.spec.groups.is_empty())
            .cloned()
            .collect();
        jobs.into_iter()
            .filter(|j| {
                j.state.lock().unwrap_or_else(|p| p.into_inner()).status == JobStatus::InProgress
            })
            .filter(|j| j.spec.groups.iter().any(|g| self.groups.includes(g, thing)))
            .collect()
    }

    /// Whether `thing` exists.
    pub fn has_thing(&self, thing: &str) -> bool {
        self.things.contains(thing)
    }
}
