//! One simulated device: its link to the data plane and its job-agent program. A cycle is one
//! start-next and, when a job comes back, the work on it and its update (or, for a device that
//! goes silent, the wait for its step timer and the describe that shows TIMED_OUT).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Fleet;
use super::draws::Draws;
use crate::check::agent::{DeviceOracle, Judged, Started};
use crate::scenario::fleet::Program;
use crate::transport::binding::{bind, bind_mqtt};
use crate::transport::http_conn::DeviceConnection;
use crate::transport::mqtt::MqttDevice;
use crate::transport::{Exchange, FailureClass, Outcome, Timing, WireRequest};
use jobcert_contract::{Binding, Operation};

/// Extra real time a silent device waits past the step timer's slack before it looks.
const SILENCE_MARGIN: Duration = Duration::from_millis(250);
/// Describes a silent device makes before it concludes the timer never fired.
const SILENCE_LOOKS: u32 = 4;
/// Pause between those describes.
const SILENCE_RECHECK: Duration = Duration::from_millis(500);

/// How a device reaches the data plane.
pub enum Link {
    /// Its own HTTP connection.
    Own(DeviceConnection),
    /// The shared HTTP pool; a request waits for one of its permits.
    Pool(Arc<Semaphore>),
    /// Its own MQTT connection (set once connected).
    Mqtt(Option<MqttDevice>),
}

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
    /// Its draws.
    pub draws: Draws,
    link: Link,
    oracle: DeviceOracle,
}

impl Agent {
    /// A device that is not connected yet.
    pub fn new(thing: String, block: u64, draws: Draws, link: Link) -> Self {
        Self {
            thing,
            block,
            draws,
            link,
            oracle: DeviceOracle::default(),
        }
    }

    /// Connects the device's own connection, if it has one; records the time it took.
    pub async fn connect(&mut self, fleet: &Fleet) -> bool {
        let started = Instant::now();
        let timeout = Duration::from_millis(fleet.spec.connect.timeout_ms);
        let result = match &mut self.link {
            Link::Own(conn) => conn.open(timeout).await,
            Link::Pool(_) => {
                fleet.recorder.update(|r| r.connected += 1);
                return true;
            }
            Link::Mqtt(slot) => {
                let (host, port) = fleet.target.mqtt_address();
                MqttDevice::connect(host, port, &self.thing, fleet.origin, timeout)
                    .await
                    .map(|d| *slot = Some(d))
            }
        };
        let ok = result.is_ok();
        fleet
            .recorder
            .connect(started.elapsed().as_micros() as u64, result.err());
        ok
    }

    /// Disconnects an MQTT device cleanly (an HTTP connection closes when the device goes).
    pub fn close(&mut self) {
        if let Link::Mqtt(slot) = &mut self.link
            && let Some(d) = slot.take()
        {
            d.close();
        }
    }

    /// One cycle, its first request due at `intended_us` (µs since the run started).
    pub async fn cycle(&mut self, fleet: &Fleet, intended_us: u64) -> CycleEnd {
        let stateful = fleet.spec.behaviour.program == Program::Agent;
        let block = fleet.rollout.block(self.block);
        let (before, done, exact_before) = if stateful {
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
            None => CycleEnd::Empty,
            Some(job) => self.work(fleet, job, exchange.timing.sent_us).await,
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
        let (accepted, judged) = self.oracle.update(
            &exchange,
            fleet.binding(),
            fleet.profile,
            &job.job_id,
            status,
            timer_may_have_fired,
        );
        let refused = judged.error.is_none() && !accepted;
        fleet.record(&exchange, judged);
        if accepted {
            fleet.recorder.status(status);
            self.oracle.finished(&job.job_id);
        } else if refused && timer_may_have_fired {
            return self.look_after_silence(fleet, &job.job_id).await;
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

    /// Sends one data-plane request through the device's link.
    async fn call(
        &mut self,
        fleet: &Fleet,
        operation: Operation,
        input: Map<String, Value>,
        intended_us: u64,
    ) -> Exchange {
        let seq = fleet.next_seq();
        let _active = fleet.active();
        let mut exchange = match fleet.binding() {
            Binding::Http => {
                let schema = operation
                    .request_schema()
                    .expect("request schemas are embedded");
                let request = bind(schema, &input).expect("every data-plane schema has a binding");
                let endpoint = fleet.target.data_endpoint();
                match &mut self.link {
                    Link::Own(conn) => {
                        conn.send(
                            endpoint,
                            &request,
                            fleet.deadline,
                            seq,
                            &self.thing,
                            operation.name(),
                        )
                        .await
                    }
                    Link::Pool(permits) => {
                        let _permit: Option<OwnedSemaphorePermit> =
                            permits.clone().acquire_owned().await.ok();
                        fleet
                            .target
                            .http
                            .send(
                                endpoint,
                                &request,
                                fleet.deadline,
                                seq,
                                &self.thing,
                                operation.name(),
                            )
                            .await
                    }
                    Link::Mqtt(_) => unreachable!("an HTTP fleet has HTTP links"),
                }
            }
            Binding::Mqtt => {
                let schema = operation
                    .request_schema_for(Binding::Mqtt)
                    .expect("request schemas are embedded");
                let request = bind_mqtt(schema, &input).expect("every MQTT schema has a topic");
                match &self.link {
                    Link::Mqtt(Some(d)) if d.is_connected() => {
                        d.send(&request, fleet.deadline, seq, &self.thing, operation.name())
                            .await
                    }
                    _ => not_connected(fleet, seq, &self.thing, operation, request.topic),
                }
            }
        };
        exchange.timing.intended_us = intended_us.min(exchange.timing.sent_us);
        exchange
    }
}

/// The record of a request a disconnected MQTT device could not send.
fn not_connected(
    fleet: &Fleet,
    seq: u64,
    thing: &str,
    operation: Operation,
    topic: String,
) -> Exchange {
    let now = fleet.now_us();
    Exchange {
        seq,
        context: thing.to_string(),
        operation: operation.name().to_string(),
        request: WireRequest {
            transport: "mqtt".into(),
            method: "PUBLISH".into(),
            endpoint: fleet.target.data_url(),
            target: topic,
            headers: Vec::new(),
            body: None,
        },
        outcome: Outcome::Failed {
            class: FailureClass::Connect,
            message: "the device is not connected".into(),
        },
        timing: Timing {
            intended_us: now,
            sent_us: now,
            done_us: now,
        },
    }
}

impl Fleet {
    /// Records an exchange a device made, with its judgement.
    pub fn record(&self, exchange: &Exchange, judged: Judged) {
        self.recorder
            .exchange(exchange, judged.findings, judged.error);
    }
}
