//! The reference engine: the execution store, "next" ordering, the state machine, timers and
//! the virtual clock. Transports (HTTP, MQTT) call it with validated, typed requests.

mod abort;
mod bounds;
mod clock;
mod control;
mod error;
mod execution;
mod groups;
mod job;
mod progress;
pub mod requests;
mod rollout;
mod schedule;
mod store;
mod thing;
mod timers;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

pub use abort::{ABORT_REASON_CODE, AbortCriterion, AbortDenominator};
pub use bounds::StateBounds;
pub use clock::{VirtualClock, VirtualMillis, epoch_seconds};
pub use control::{CancelExecution, ControlExecutionView, JobInfo, ThingInfo};
pub use error::EngineError;
pub use execution::{Details, ExecutionView, StateView, SummaryView};
pub use job::{JobSpec, JobState, JobStatus, RetryCriterion};
pub use progress::{EngineSettings, Unreleased};
pub use rollout::{ExponentialRate, RateIncreaseCriteria, RolloutConfig};
pub use schedule::{MaintenanceWindow, SchedulingConfig};
pub use timers::TimerQueue;

use job::Job;
use jobcert_contract::{ExecutionModel, NEXT_EXECUTION, Status, execution_model};
use store::Store;
/// A thing whose pending list changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The thing.
    pub thing: Arc<str>,
    /// An execution joined or left the pending list.
    pub list_changed: bool,
    /// The head of the pending list is another execution (or none).
    pub head_changed: bool,
}

/// Changes buffered for a slow listener before it starts missing them.
const CHANGE_BUFFER: usize = 65_536;

/// What UpdateJobExecution returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOutcome {
    /// The new state, when asked for.
    pub execution_state: Option<StateView>,
    /// The job document, when asked for.
    pub job_document: Option<Arc<str>>,
}

/// What GetPendingJobExecutions returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PendingView {
    /// IN_PROGRESS executions, oldest first.
    pub in_progress: Vec<SummaryView>,
    /// QUEUED executions, oldest first.
    pub queued: Vec<SummaryView>,
}

/// The reference implementation's state: things, jobs, executions and timers.
#[derive(Debug)]
pub struct Engine {
    clock: VirtualClock,
    model: &'static ExecutionModel,
    things: Store,
    jobs: RwLock<HashMap<Arc<str>, Arc<Job>>>,
    seq: AtomicU64,
    timers: TimerQueue,
    region: String,
    account_id: String,
    changes: broadcast::Sender<Change>,
    settings: EngineSettings,
    groups: groups::Groups,
    /// Jobs still rolling out or with abort criteria to apply (see `progress`).
    watched: std::sync::Mutex<Vec<Arc<Job>>>,
    watching: std::sync::atomic::AtomicUsize,
    /// Bumped whenever a thing's pending list changes or a thing goes: a job can only complete
    /// after one of these, so the active jobs need counting again only then.
    pending_changes: AtomicU64,
    /// `pending_changes` when the active jobs were last brought up to date.
    active_counted_at: AtomicU64,
}

impl Engine {
    /// An empty engine on `clock`, naming resources in `region` and `account_id`.
    pub fn new(clock: VirtualClock, region: &str, account_id: &str) -> Self {
        Self {
            clock,
            model: execution_model(),
            things: Store::new(),
            jobs: RwLock::new(HashMap::new()),
            seq: AtomicU64::new(0),
            timers: TimerQueue::default(),
            region: region.to_string(),
            account_id: account_id.to_string(),
            changes: broadcast::channel(CHANGE_BUFFER).0,
            settings: EngineSettings::default(),
            groups: groups::Groups::default(),
            watched: std::sync::Mutex::new(Vec::new()),
            watching: std::sync::atomic::AtomicUsize::new(0),
            pending_changes: AtomicU64::new(0),
            active_counted_at: AtomicU64::new(u64::MAX),
        }
    }

    /// The engine with `settings` where the documentation leaves room.
    pub fn with_settings(mut self, settings: EngineSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The engine's clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The armed deadlines.
    pub fn timers(&self) -> &TimerQueue {
        &self.timers
    }

    fn arm(&self, thing: &Arc<str>, deadline: Option<VirtualMillis>) {
        if let Some(at) = deadline {
            self.timers.arm(at, timers::Due::Thing(thing.clone()));
        }
    }

    /// Runs `f` on the thing named `name` (or `None`), and announces a change of its pending
    /// list or of its head to [`Engine::changes`] subscribers.
    fn with_thing<R>(&self, name: &str, f: impl FnOnce(Option<&mut thing::ThingState>) -> R) -> R {
        let mut change = None;
        let result = self.things.with(name, |t| match t {
            None => f(None),
            Some(t) => {
                let before = t.signature(self.model);
                let result = f(Some(t));
                let after = t.signature(self.model);
                if before != after {
                    change = Some(Change {
                        thing: t.name.clone(),
                        list_changed: before.0 != after.0,
                        head_changed: before.1 != after.1,
                    });
                }
                result
            }
        });
        if let Some(c) = change {
            self.pending_changes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Nobody listening is fine.
            let _ = self.changes.send(c);
        }
        result
    }

    /// Changes of things' pending lists, as they happen (for notifications).
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Expires due timers until the task is dropped. Reads expire lazily as well, so this only
    /// makes expiry happen without a read.
    pub async fn run_timers(self: Arc<Self>) {
        loop {
            let due = self.timers.take_due(self.clock.now_ms());
            for what in due {
                let now = self.clock.now_ms();
                match what {
                    timers::Due::Thing(thing) => self.with_thing(&thing, |t| {
                        if let Some(t) = t {
                            t.expire(now, self.model, &self.seq);
                        }
                    }),
                    timers::Due::Rollout(_) => self.settle(now),
                }
            }
            match self.timers.earliest() {
                None => self.timers.rearmed().await,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep(self.clock.real_until(at)) => {}
                        () = self.timers.rearmed() => {}
                    }
                }
            }
        }
    }

    /// StartNextPendingJobExecution: starts the head of the pending list if it is QUEUED and
    /// returns it; `None` when nothing is pending (or the thing is unknown, spec §7.14).
    pub fn start_next(
        &self,
        req: &requests::StartNext,
    ) -> Result<Option<ExecutionView>, EngineError> {
        self.settings
            .bounds
            .check_details(req.status_details.as_ref())?;
        let now = self.clock.now_ms();
        self.settle(now);
        let (view, deadline, thing) = self.with_thing(&req.thing_name, |t| {
            let Some(t) = t else {
                return (None, None, None);
            };
            t.expire(now, self.model, &self.seq);
            let Some(i) = t.head(self.model) else {
                return (None, None, None);
            };
            let e = &mut t.executions[i];
            let mut deadline = None;
            if e.status == Status::Queued {
                e.start(now, req.step_timeout_in_minutes);
                if let Some(details) = &req.status_details {
                    e.details = details.clone();
                }
                e.touch(now);
                deadline = e.deadline();
            }
            (
                Some(e.view(&t.name, now, true)),
                deadline,
                Some(t.name.clone()),
            )
        });
        if let Some(thing) = thing {
            self.arm(&thing, deadline);
        }
        Ok(view)
    }

    /// UpdateJobExecution.
    pub fn update(&self, req: &requests::Update) -> Result<UpdateOutcome, EngineError> {
        self.settings
            .bounds
            .check_details(req.status_details.as_ref())?;
        let now = self.clock.now_ms();
        self.settle(now);
        let model = self.model;
        let (outcome, deadline, thing) = self.with_thing(&req.thing_name, |t| {
            let not_found = || {
                EngineError::NotFound(format!(
                    "no execution of job {} on thing {}",
                    req.job_id, req.thing_name
                ))
            };
            let t = t.ok_or_else(not_found)?;
            t.expire(now, model, &self.seq);
            let i = t
                .find(&req.job_id, req.execution_number)
                .ok_or_else(not_found)?;
            let e = &mut t.executions[i];
            if !model.is_device_settable(req.status) {
                return Err(EngineError::InvalidRequest(format!(
                    "status {} cannot be set by a device",
                    req.status.as_str()
                )));
            }
            if let Some(expected) = req.expected_version
                && expected != e.version
            {
                return Err(EngineError::VersionMismatch {
                    message: format!(
                        "expectedVersion {expected} does not match versionNumber {}",
                        e.version
                    ),
                    state: e.state(),
                });
            }
            if !model.device_may_move(e.status, req.status) {
                return Err(EngineError::InvalidStateTransition {
                    message: format!(
                        "the execution is {}; it cannot be changed to {}",
                        e.status.as_str(),
                        req.status.as_str()
                    ),
                    state: e.state(),
                });
            }
            let cancel = model.timers.cancel_step_timeout;
            if req.status == Status::InProgress
                && req.step_timeout_in_minutes == Some(cancel)
                && e.step_deadline.is_none()
            {
                return Err(EngineError::InvalidRequest(format!(
                    "stepTimeoutInMinutes {cancel} cancels a step timer, and none is running"
                )));
            }
            let step = req.step_timeout_in_minutes.filter(|m| *m != cancel);
            match (e.status, req.status) {
                (Status::Queued, Status::InProgress) => e.start(now, step),
                (_, Status::InProgress) => match step {
                    Some(m) => e.set_step_timer(now, m),
                    None if req.step_timeout_in_minutes == Some(cancel) => e.step_deadline = None,
                    None => {}
                },
                (_, terminal) => e.finish(terminal),
            }
            if let Some(details) = &req.status_details {
                e.details = details.clone();
            }
            e.touch(now);
            let deadline = e.deadline();
            let outcome = UpdateOutcome {
                execution_state: req.include_job_execution_state.then(|| e.state()),
                job_document: req.include_job_document.then(|| e.job.document.clone()),
            };
            if model.is_terminal(req.status) {
                t.queue_retry(i, now, model, &self.seq);
            }
            Ok((outcome, deadline, t.name.clone()))
        })?;
        self.arm(&thing, deadline);
        self.settle(now);
        Ok(outcome)
    }

    /// DescribeJobExecution: a named execution, or the head of the pending list for `$next`
    /// (`None` when nothing is pending, spec §7.7).
    pub fn describe(&self, req: &requests::Describe) -> Result<Option<ExecutionView>, EngineError> {
        let now = self.clock.now_ms();
        self.settle(now);
        let with_document = req.include_job_document.unwrap_or(true);
        let next = req.job_id == NEXT_EXECUTION;
        self.with_thing(&req.thing_name, |t| {
            let not_found = || {
                EngineError::NotFound(format!(
                    "no execution of job {} on thing {}",
                    req.job_id, req.thing_name
                ))
            };
            let Some(t) = t else {
                return if next { Ok(None) } else { Err(not_found()) };
            };
            t.expire(now, self.model, &self.seq);
            let i = if next {
                t.head(self.model)
            } else {
                Some(
                    t.find(&req.job_id, req.execution_number)
                        .ok_or_else(not_found)?,
                )
            };
            Ok(i.map(|i| t.executions[i].view(&t.name, now, with_document)))
        })
    }

    /// GetPendingJobExecutions: IN_PROGRESS then QUEUED, oldest first, at most the model's limit.
    pub fn pending(&self, req: &requests::GetPending) -> PendingView {
        let now = self.clock.now_ms();
        self.settle(now);
        self.with_thing(&req.thing_name, |t| {
            let Some(t) = t else {
                return PendingView::default();
            };
            t.expire(now, self.model, &self.seq);
            let mut view = PendingView::default();
            let pending = t.pending(self.model);
            let scheduled = pending
                .iter()
                .any(|&i| t.executions[i].job.spec.scheduling.is_some());
            let limit = if scheduled {
                self.model.pending_list_limit_with_scheduling
            } else {
                self.model.pending_list_limit
            };
            for i in pending.into_iter().take(limit) {
                let e = &t.executions[i];
                match e.status {
                    Status::InProgress => view.in_progress.push(e.summary()),
                    _ => view.queued.push(e.summary()),
                }
            }
            view
        })
    }
}
