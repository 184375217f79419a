//! One simulated device: its link to the data plane and its job-agent program. A cycle is one
//! start-next and, when a job comes back, the work on it and its update (or, for a device that
//! goes silent, the wait for its step timer and the describe that shows TIMED_OUT).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use tokio::sync::{OwnedSemaphorePermit, watch};

use super::Fleet;
use super::draws::{Draws, Part};
use super::storm::{ConnectTries, refusal};
use crate::check::agent::{DeviceOracle, Judged, Started};
use crate::record::ConnectAttempt;
use crate::scenario::fleet::{LoadModel, Program};
use crate::transport::line::LineState;
use crate::transport::{DataClient, Exchange, Label, Outcome, Raw, Request};
use jobcert_contract::Operation;

/// Extra real time a silent device waits past the step timer's slack before it looks.
const SILENCE_MARGIN: Duration = Duration::from_millis(250);
/// Describes a silent device makes before it concludes the timer never fired.
const SILENCE_LOOKS: u32 = 4;
/// Pause between those describes.
const SILENCE_RECHECK: Duration = Duration::from_millis(500);

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleEnd {
    /// A job was worked on (or, for `poll`, a request made).
    Worked,
    /// Nothing was pending, but the rollout is not over.
    Empty,
    /// Nothing was pending and nothing more will come.
    Drained,
    /// The run was halted mid-cycle.
    Halted,
}

/// One device.
pub struct Agent {
    /// Thing name.
    pub thing: String,
    /// Block (the jobs that target it).
    pub block: u64,
    /// Its index in the fleet (its stream of draws).
    pub index: u64,
    /// Its draws.
    pub draws: Draws,
    /// Its link to the data plane.
    pub(super) client: DataClient,
    /// Where its own broker connection stands, when it has one.
    pub(super) line: Option<watch::Receiver<LineState>>,
    /// The connections made so far that the device has acted on (asked start-next after).
    pub(super) up_seen: u64,
    /// When its last start-next went out, µs since the run started: notifications from then
    /// on are news to it.
    pub(super) asked_us: u64,
    /// When it heard the `notify-next` its next start-next answers, µs since the run started.
    pub(super) heard_us: Option<u64>,
    /// Whether an attempt of its last request that got no answer was retried: the target may
    /// have applied it, so a refusal of a later attempt says nothing.
    maybe_applied: bool,
    oracle: DeviceOracle,
}

impl Agent {
    /// Device `index`, not connected yet.
    pub fn new(thing: String, block: u64, index: u64, draws: Draws, client: DataClient) -> Self {
        Self {
            line: client.line().map(|l| l.watch()),
            thing,
            block,
            index,
            draws,
            client,
            up_seen: 0,
            asked_us: 0,
            heard_us: None,
            maybe_applied: false,
            oracle: DeviceOracle::default(),
        }
    }

    /// Connects the device's own connection, if it has one, retrying as the fleet's policy
    /// says for `CONNECT`; records each attempt's time. The handshake `permit` is given back
    /// before the first backoff, so that devices waiting to retry hold up none of the ramp.
    /// A device that connects is one a reconnect storm drops.
    pub async fn connect(&mut self, fleet: &Fleet, permit: OwnedSemaphorePermit) -> bool {
        let mut permit = Some(permit);
        let timeout = Duration::from_millis(fleet.spec.connect.timeout_ms);
        let mut tries = ConnectTries::new(Draws::device_part(
            fleet.spec.seed,
            self.index,
            Part::Connect,
        ));
        loop {
            let started = Instant::now();
            let Some(result) = self.client.open(&self.thing, timeout).await else {
                // A device of the shared pool has no connection of its own to open.
                fleet.recorder.update(|r| r.connected += 1);
                return true;
            };
            let took = started.elapsed().as_micros() as u64;
            let words = match result {
                Ok(()) => {
                    fleet.recorder.connect_attempt(took, ConnectAttempt::Made);
                    if let Some(line) = &mut self.line
                        && let LineState::Up(made) = *line.borrow_and_update()
                    {
                        self.up_seen = made;
                    }
                    fleet
                        .storm
                        .online(self.index, &self.thing, self.client.line());
                    return true;
                }
                Err(e) => refusal(&e, &self.thing),
            };
            match tries.backoff(fleet) {
                Some(wait) => {
                    fleet
                        .recorder
                        .connect_attempt(took, ConnectAttempt::Retried(words));
                    drop(permit.take());
                    if !fleet.pause(wait).await {
                        return false;
                    }
                }
                None => {
                    fleet
                        .recorder
                        .connect_attempt(took, ConnectAttempt::Failed(words));
                    return false;
                }
            }
        }
    }

    /// Disconnects an MQTT device cleanly (an HTTP connection closes when the device goes).
    pub async fn close(&mut self) {
        self.client.close().await;
    }

    /// One cycle, its first request due at `intended_us` (µs since the run started).
    pub async fn cycle(&mut self, fleet: &Fleet, intended_us: u64) -> CycleEnd {
        let stateful = fleet.spec.behaviour.program == Program::Agent;
        let block = fleet.rollout.block(self.block);
        // What a device may expect is the block's jobs, unless the target shapes the rollout.
        let (before, done, exact_before) = if stateful && !fleet.is_shaped() {
            block.view()
        } else {
            (Vec::new(), false, false)
        };
        let mut input = Map::new();
        input.insert("thingName".into(), json!(self.thing));
        if let Some(m) = fleet.spec.behaviour.step_timeout_minutes {
            input.insert("stepTimeoutInMinutes".into(), json!(m));
        }
        let exchange = self
            .call(
                fleet,
                Operation::StartNextPendingJobExecution,
                input,
                intended_us,
            )
            .await;
        self.asked_us = exchange.timing.sent_us;
        if let Some(heard_us) = self.heard_us.take() {
            fleet.recorder.notice_to_start(&exchange, heard_us);
        }
        if fleet.spec.load.model == LoadModel::Open {
            fleet.recorder.lateness(&exchange);
        }
        let exact = stateful && {
            let (after, _, exact_after) = block.view();
            exact_before && exact_after && after.len() == before.len()
        };
        let (started, judged) = self.oracle.start_next(
            &exchange,
            fleet.binding(),
            fleet.profile,
            &before,
            exact,
            stateful,
        );
        let answered = judged.error.is_none();
        fleet.record(&exchange, judged);
        if !stateful {
            return CycleEnd::Worked;
        }
        match started {
            None if answered && done && exact => CycleEnd::Drained,
            None if answered && fleet.rollout_over() => CycleEnd::Drained,
            None => CycleEnd::Empty,
            Some(job) => {
                if fleet.is_shaped() {
                    fleet.shaped.device_started(&self.thing, &exchange);
                }
                self.work(fleet, job, exchange.timing.sent_us).await
            }
        }
    }

    /// Works on `job` (started by a request sent at `started_us`), or goes silent on it, as
    /// the draws say.
    async fn work(&mut self, fleet: &Fleet, job: Started, started_us: u64) -> CycleEnd {
        let behaviour = &fleet.spec.behaviour;
        let silent = self.draws.chance(behaviour.silent);
        let work = self.draws.duration(&behaviour.work);
        let status = self.draws.outcome(&behaviour.outcomes);
        let step = behaviour
            .step_timeout_minutes
            .filter(|m| *m >= 1)
            .map(|m| fleet.virtual_to_real(m as f64 * 60.0));
        // Work that would end within the last quarter of the step timer (counted from the
        // start-next request) is taken to overrun it, so the update never races the timer:
        // the device then waits for the timer, like a silent one.
        let since = Duration::from_micros(fleet.now_us().saturating_sub(started_us));
        let outlasted = step.is_some_and(|s| since + work + s / 4 >= s);
        if silent || outlasted {
            let slack = fleet.virtual_to_real(fleet.timer_slack_s());
            let wait = step.unwrap_or_default() + slack + SILENCE_MARGIN;
            if !fleet.pause(wait).await {
                return CycleEnd::Halted;
            }
            return self.look_after_silence(fleet, &job.job_id).await;
        }
        if !fleet.pause(work).await {
            return CycleEnd::Halted;
        }
        let mut input = Map::new();
        input.insert("thingName".into(), json!(self.thing));
        input.insert("jobId".into(), json!(job.job_id));
        input.insert("status".into(), json!(status));
        if let Some(v) = job.version {
            input.insert("expectedVersion".into(), json!(v));
        }
        let exchange = self
            .call(fleet, Operation::UpdateJobExecution, input, fleet.now_us())
            .await;
        let timer_may_have_fired = step.is_some_and(|s| {
            exchange.timing.done_us.saturating_sub(started_us) >= s.as_micros() as u64
        });
        // A refusal is no finding when the timer may have ended the execution first, or an
        // earlier attempt that got no answer may have been applied.
        let (accepted, judged) = self.oracle.update(
            &exchange,
            fleet.binding(),
            fleet.profile,
            &job.job_id,
            status,
            timer_may_have_fired || self.maybe_applied,
        );
        let refused = judged.error.is_none() && !accepted;
        fleet.record(&exchange, judged);
        if accepted {
            fleet.recorder.status(status);
            self.oracle.finished(&job.job_id);
        } else if refused && timer_may_have_fired {
            return self.look_after_silence(fleet, &job.job_id).await;
        } else if !matches!(exchange.outcome, Outcome::Answered(_)) || self.maybe_applied {
            // Sent but unanswered (a connection dropped under it, say): the update may have
            // been applied, so the device no longer knows the execution's state.
            self.oracle.forget(&job.job_id);
        }
        CycleEnd::Worked
    }

    /// Describes `job` until it shows TIMED_OUT (or the looks run out).
    async fn look_after_silence(&mut self, fleet: &Fleet, job: &str) -> CycleEnd {
        for look in 1..=SILENCE_LOOKS {
            let mut input = Map::new();
            input.insert("thingName".into(), json!(self.thing));
            input.insert("jobId".into(), json!(job));
            let exchange = self
                .call(
                    fleet,
                    Operation::DescribeJobExecution,
                    input,
                    fleet.now_us(),
                )
                .await;
            let (status, judged) = self.oracle.after_silence(
                &exchange,
                fleet.binding(),
                fleet.profile,
                job,
                look == SILENCE_LOOKS,
            );
            fleet.record(&exchange, judged);
            if let Some(s) = &status
                && s != "IN_PROGRESS"
            {
                fleet.recorder.status(s);
                self.oracle.finished(job);
                return CycleEnd::Worked;
            }
            if look < SILENCE_LOOKS && !fleet.pause(SILENCE_RECHECK).await {
                return CycleEnd::Halted;
            }
        }
        // Never finished: the device leaves the job behind; start-next will hand it back.
        CycleEnd::Worked
    }

    /// Sends one data-plane request through the device's link, and again as the fleet's retry
    /// policy says while it is throttled, faulted or unanswered; returns the last attempt (the
    /// ones given up are recorded as retried).
    async fn call(
        &mut self,
        fleet: &Fleet,
        operation: Operation,
        input: Map<String, Value>,
        intended_us: u64,
    ) -> Exchange {
        let mut attempt = 1;
        self.maybe_applied = false;
        loop {
            let exchange = self.send(fleet, operation, &input, intended_us).await;
            let Some(policy) = fleet
                .retry
                .as_ref()
                .filter(|p| p.retries(operation.name()) && retryable(&exchange))
            else {
                return exchange;
            };
            attempt += 1;
            let Some(backoff_ms) = policy.backoff_ms(attempt, self.draws.unit()) else {
                return exchange;
            };
            if !fleet
                .pause(fleet.virtual_to_real(backoff_ms / 1000.0))
                .await
            {
                return exchange;
            }
            fleet.record_retried(&exchange);
            self.maybe_applied |= !matches!(exchange.outcome, Outcome::Answered(_));
        }
    }

    /// One attempt of a request.
    async fn send(
        &mut self,
        fleet: &Fleet,
        operation: Operation,
        input: &Map<String, Value>,
        intended_us: u64,
    ) -> Exchange {
        let label = Label {
            seq: fleet.next_seq(),
            context: &self.thing,
            operation: operation.name(),
        };
        let _active = fleet.active();
        let request = Request {
            operation,
            input,
            raw: Raw::default(),
        };
        let mut exchange = self
            .client
            .send(&request, fleet.deadline, label)
            .await
            .expect("every data-plane schema has a binding");
        exchange.timing.intended_us = intended_us.min(exchange.timing.sent_us);
        exchange
    }
}

/// Whether an attempt met what a retry policy retries: no answer, or an answer whose error
/// `errors.json` files under 429 (throttled) or 5xx (faulted).
fn retryable(exchange: &Exchange) -> bool {
    match &exchange.outcome {
        Outcome::Answered(r) => {
            let status = r.status_class();
            status == 429 || status >= 500
        }
        Outcome::Timeout { .. } | Outcome::Failed { .. } => true,
    }
}

impl Fleet {
    /// Records an exchange a device made, with its judgement.
    pub fn record(&self, exchange: &Exchange, judged: Judged) {
        self.recorder
            .exchange(exchange, judged.findings, judged.error);
    }

    /// Records an attempt the device gave up to try again: its time and whether it was
    /// throttled, but no error (as an SDK surfaces none for a request its retries carried);
    /// the last attempt's outcome is the request's.
    fn record_retried(&self, exchange: &Exchange) {
        self.recorder.exchange(exchange, Vec::new(), None);
        self.recorder.retried(&exchange.operation);
    }
}
