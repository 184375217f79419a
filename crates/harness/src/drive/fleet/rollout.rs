//! Seeding a fleet through the control plane: its things (before anything else), then its
//! jobs, one per block of things per `jobs-per-thing`, paced at the rollout rate. Devices read
//! which jobs of their block were acknowledged, and when, to judge what start-next returns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Fleet;
use crate::check::agent::CreatedJob;
use crate::record::SETUP_ERROR;
use crate::transport::control::Seeding;
use crate::transport::target::ThingArn;
use crate::transport::{Call, Called, ControlError, NewJob, Timing};
use jobcert_contract::ControlOperation;

/// Seeding calls (CreateThing, AddThingToThingGroup) in flight at once.
const SEED_CONCURRENCY: usize = 64;

/// What the devices of one block know about its jobs.
#[derive(Debug, Default)]
pub struct Block {
    created: Mutex<Vec<CreatedJob>>,
    in_flight: AtomicBool,
    done: AtomicBool,
}

impl Block {
    /// The jobs acknowledged so far, in creation order, and whether that is final and no
    /// creation is in flight.
    pub fn view(&self) -> (Vec<CreatedJob>, bool, bool) {
        let done = self.done.load(Ordering::Acquire);
        let exact = !self.in_flight.load(Ordering::Acquire);
        let created = self
            .created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (created, done, exact)
    }
}

/// The blocks of this shard, by block number, and the thing ARNs the target returned.
#[derive(Debug, Default)]
pub struct Rollout {
    blocks: HashMap<u64, Block>,
    /// Thing name → the ARN CreateThing returned for it.
    arns: Mutex<HashMap<String, String>>,
}

impl Rollout {
    /// Empty blocks for `blocks`.
    pub fn new(blocks: impl IntoIterator<Item = u64>) -> Self {
        Self {
            blocks: blocks.into_iter().map(|b| (b, Block::default())).collect(),
            arns: Mutex::default(),
        }
    }

    /// How many blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Block `block`.
    pub fn block(&self, block: u64) -> &Block {
        &self.blocks[&block]
    }

    fn arns(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.arns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The id of job `n` of block `block` in run `run`.
pub fn job_id(run: &str, block: u64, n: u32) -> String {
    format!("{run}-b{block}-j{n}")
}

/// Records a seeding call's exchange (a failure counts as a setup error); when it succeeded,
/// when it went out and was acknowledged and what it returned, else what went wrong.
pub(super) fn recorded<T>(
    fleet: &Fleet,
    operation: ControlOperation,
    call: Call<T>,
) -> Result<(Timing, T), ControlError> {
    let Called { exchange, result } = call?;
    let error = result
        .as_ref()
        .err()
        .map(|_| format!("{SETUP_ERROR}{}", operation.name()));
    fleet.recorder.exchange(&exchange, Vec::new(), error);
    result.map(|r| (exchange.timing, r))
}

/// Creates every thing of the shard, keeping the ARNs the target returned for its jobs; the
/// first failure ends the seeding.
pub async fn create_things(
    fleet: &Fleet,
    things: &[String],
    stop: &CancellationToken,
) -> Result<(), String> {
    let calls = things.iter().map(|name| async {
        let called = fleet
            .control
            .create_thing(fleet.next_seq(), "setup", name)
            .await;
        let (_, returned) = recorded(fleet, ControlOperation::CreateThing, called)
            .map_err(|e| e.explain(Seeding::CreateThing(name), &fleet.target))?;
        if let Some(arn) = returned {
            fleet.rollout.arns().insert(name.clone(), arn);
        }
        Ok::<_, String>(())
    });
    seeding(calls, stop, "creating things").await
}

/// Runs seeding `calls`, [`SEED_CONCURRENCY`] at a time; the first failure ends them, and so
/// does `stop` (an interruption while `doing` it).
pub(super) async fn seeding(
    calls: impl Iterator<Item = impl std::future::Future<Output = Result<(), String>>>,
    stop: &CancellationToken,
    doing: &str,
) -> Result<(), String> {
    let mut calls = futures_util::stream::iter(calls).buffer_unordered(SEED_CONCURRENCY);
    while let Some(result) = calls.next().await {
        result?;
        if stop.is_cancelled() {
            return Err(format!("interrupted while {doing}"));
        }
    }
    Ok(())
}

/// Creates the jobs of every block of the shard at `rate` per second: job 0 of every block,
/// then job 1, and so on. Each block is marked done after its last job.
pub async fn create_jobs(
    fleet: &Fleet,
    things_of: &HashMap<u64, Vec<String>>,
    rate: f64,
    stop: &CancellationToken,
) -> Result<(), String> {
    let spec = &fleet.spec.rollout;
    let document = spec
        .document
        .clone()
        .unwrap_or_else(|| json!({ "operation": "update", "version": "1.0.0" }))
        .to_string();
    let mut blocks: Vec<u64> = things_of.keys().copied().collect();
    blocks.sort_unstable();
    let start = Instant::now();
    let mut k = 0u32;
    for n in 0..spec.jobs_per_thing {
        for &b in &blocks {
            let due = start + Duration::from_secs_f64(f64::from(k) / rate);
            k += 1;
            tokio::time::sleep_until(due.into()).await;
            if stop.is_cancelled() {
                return Err("interrupted while creating jobs".into());
            }
            let targets: Vec<ThingArn> = {
                let arns = fleet.rollout.arns();
                things_of[&b]
                    .iter()
                    .map(|t| fleet.target.job_target(t, arns.get(t).cloned()))
                    .collect()
            };
            let job = NewJob {
                id: job_id(&fleet.run_id, b, n),
                targets: targets.iter().map(|t| t.arn.clone()).collect(),
                document: document.clone(),
                in_progress_timeout_minutes: spec.in_progress_timeout_minutes.map(i64::from),
                retry: Vec::new(),
            };
            let block = fleet.rollout.block(b);
            block.in_flight.store(true, Ordering::Release);
            let called = fleet
                .control
                .create_job(fleet.next_seq(), "setup", &job)
                .await;
            let result = recorded(fleet, ControlOperation::CreateJob, called);
            if let Ok((timing, _)) = &result {
                block
                    .created
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(CreatedJob {
                        id: job.id.clone(),
                        sent_us: timing.sent_us,
                        acked_us: timing.done_us,
                    });
                fleet.recorder.update(|r| r.jobs += 1);
            }
            block.in_flight.store(false, Ordering::Release);
            if n + 1 == spec.jobs_per_thing {
                block.done.store(true, Ordering::Release);
            }
            result.map_err(|e| e.explain(Seeding::CreateJob(&job.id, &targets), &fleet.target))?;
        }
    }
    // With no jobs per thing the loop above marks nothing: every block is done as it is.
    for &b in &blocks {
        fleet.rollout.block(b).done.store(true, Ordering::Release);
    }
    Ok(())
}
