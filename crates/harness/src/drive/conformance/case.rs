//! One case in flight: its run-unique names, its steps, and the judging of every answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::check::answer;
use crate::check::health::{self, Breakage, ReadBack};
use crate::check::oracle::{Call, Deadline, Oracle, Subject, Window, subject};
use crate::check::{expect, notify, whole_query};
use crate::finding::Finding;
use crate::plan::{Action, PlannedCase, Step};
use crate::record::CaseRecord;
use crate::transport::{
    ControlClient, DataClient, Exchange, Label, Raw, Request, Retry, Sent, Target, is_throttle,
};
use jobcert_contract::{Binding, ErrorKind, NEXT_EXECUTION, Operation, RequirementId, req};

use super::Settings;
use super::premise::{Late, Track};
use super::throttle::{is_unavailable, throttle_shape, throttled_out, unavailable};

/// One case in flight.
pub(super) struct CaseRun<'a> {
    pub(super) case: &'a PlannedCase,
    pub(super) target: &'a Target,
    pub(super) settings: &'a Settings,
    seq: Arc<AtomicU64>,
    /// Its own client on the run's shared pool or broker.
    pub(super) client: DataClient,
    pub(super) control: &'a ControlClient,
    /// Logical thing name → the run's name.
    pub(super) things: BTreeMap<String, String>,
    /// Logical job id → the run's id.
    pub(super) jobs: BTreeMap<String, String>,
    /// The run's ids of the jobs the target created for the case, to cancel once it is over.
    pub(super) created: Vec<String>,
    pub(super) oracle: Oracle,
    /// The things a request of the case broke: later server errors follow from that.
    breakage: Breakage,
    pub(super) findings: Vec<Finding>,
    pub(super) exchanges: Vec<Exchange>,
    /// When the last step other than a notification began (notifications it caused come after);
    /// 0 until the first step, so that notifications caused by the set-up count.
    step_mark_us: u64,
    steps_taken: usize,
    /// Where its steps landed relative to the timers' deadlines.
    premise: Track,
    /// A service fault its step did not ask for answered a request: the later steps presume
    /// that request was served, so they are not played.
    faulted: bool,
    /// Why a step could not go on, which ends the case as aborted.
    halted: Option<String>,
}

impl<'a> CaseRun<'a> {
    /// Attempt `attempt` at the case at `index` of the plan.
    pub(super) fn new(
        case: &'a PlannedCase,
        (index, attempt): (usize, u32),
        target: &'a Target,
        settings: &'a Settings,
        seq: Arc<AtomicU64>,
        client: DataClient,
        control: &'a ControlClient,
    ) -> Self {
        // Run id, binding initial, case index and any attempt after the first: unique on a
        // persistent target.
        let again = if attempt > 1 {
            format!("a{attempt}")
        } else {
            String::new()
        };
        let suffix = format!(
            "{}{}-{index}{again}",
            settings.run_id,
            &target.binding().name()[..1]
        );
        let things = case
            .things
            .iter()
            .chain(&case.absent_things)
            .map(|t| (t.clone(), format!("{t}-{suffix}")))
            .collect();
        let jobs = case
            .jobs
            .iter()
            .map(|j| (j.id.clone(), format!("{}-{suffix}", j.id)))
            .collect();
        let tolerance_ms = 2000.0 + 25.0 * target.time_scale;
        Self {
            case,
            target,
            settings,
            seq,
            client,
            control,
            things,
            jobs,
            created: Vec::new(),
            oracle: Oracle::new(tolerance_ms),
            breakage: Breakage::default(),
            findings: Vec::new(),
            exchanges: Vec::new(),
            step_mark_us: 0,
            steps_taken: 0,
            premise: Track::new(),
            faulted: false,
            halted: None,
        }
    }

    /// Plays the case; with its record comes the first step that came later than a timer
    /// deadline its scenario meant it to precede, if one did.
    pub(super) async fn play(mut self, stop: &CancellationToken) -> (CaseRecord, Option<Late>) {
        let started = Instant::now();
        let mut aborted = self.setup().await.err();
        if aborted.is_none() {
            for step in &self.case.steps {
                if stop.is_cancelled() {
                    aborted = Some("the run was interrupted".to_string());
                    break;
                }
                self.step(step, stop).await;
                if self.faulted {
                    break;
                }
                if let Some(why) = self.halted.take() {
                    aborted = Some(why);
                    break;
                }
            }
        }
        if !stop.is_cancelled() {
            self.retire_jobs().await;
        }
        let c = self.case;
        let record = CaseRecord {
            id: c.id.clone(),
            suite: c.suite.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            source: c.source.as_ref().map(ToString::to_string),
            requirements: c.requirements.clone(),
            tags: c.tags.clone(),
            findings: self.findings,
            exchanges: self.exchanges,
            aborted,
            duration_ms: started.elapsed().as_millis() as u64,
            discarded: Vec::new(),
        };
        (record, self.premise.late())
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn window(&self, exchange: &Exchange) -> Window {
        let scale = self.target.time_scale;
        Window {
            lo: exchange.timing.sent_us as f64 / 1000.0 * scale,
            hi: exchange.timing.done_us as f64 / 1000.0 * scale,
        }
    }

    /// Now, in target milliseconds since the run began (the clock of the model's windows).
    fn now_ms(&self) -> f64 {
        self.settings.origin.elapsed().as_secs_f64() * 1000.0 * self.target.time_scale
    }

    async fn step(&mut self, step: &Step, stop: &CancellationToken) {
        if !matches!(step.action, Action::Notification { .. }) && self.steps_taken > 0 {
            self.step_mark_us = self.exchanges.last().map_or(0, |e| e.timing.done_us);
        }
        self.steps_taken += 1;
        let now = self.now_ms();
        let called = match &step.action {
            Action::Call { operation, .. } => Some(operation.name()),
            Action::CancelJob { .. } => Some("CancelJob"),
            Action::Wait { .. }
            | Action::Notification { .. }
            | Action::UnusableCertificates { .. } => None,
        };
        let before = (
            self.running_deadlines(),
            (self.findings.len(), self.exchanges.len()),
        );
        self.act(step, now, stop).await;
        let (deadlines, counts) = before;
        if let Some(what) = called {
            let span = (now, self.now_ms());
            self.premise
                .call((self.steps_taken, what), span, &deadlines, counts);
        }
        let what = called.unwrap_or(match step.action {
            Action::Wait { .. } => "wait",
            Action::UnusableCertificates { .. } => "certificates",
            _ => "notification",
        });
        self.premise.clocks((self.steps_taken, what), counts);
    }

    /// The timers the model knows running, each with when the exchange that set it was sent.
    fn running_deadlines(&self) -> Vec<(Deadline, Option<f64>)> {
        self.oracle
            .running_deadlines()
            .into_iter()
            .map(|d| {
                let set = self.exchanges.iter().find(|e| Some(e.seq) == d.set_by);
                let set_at = set.map(|e| self.window(e).lo);
                (d, set_at)
            })
            .collect()
    }

    /// Does what `step` says; it began at `now` (target milliseconds).
    async fn act(&mut self, step: &Step, now: f64, stop: &CancellationToken) {
        match &step.action {
            Action::Wait { minutes } => {
                let real =
                    Duration::from_secs_f64((minutes * 60.0 / self.target.time_scale).max(0.0))
                        .min(self.settings.max_wait);
                self.premise
                    .intend(real.as_secs_f64() * 1000.0 * self.target.time_scale);
                let board = self.settings.status.as_ref();
                let _listed = board.map(|b| b.waiting(self.case.id.clone(), *minutes, real));
                tokio::select! {
                    () = tokio::time::sleep(real) => {}
                    () = stop.cancelled() => {}
                }
            }
            Action::CancelJob { job, force } => self.cancel_job(job, *force).await,
            Action::UnusableCertificates { thing, endpoint } => {
                if let Err(why) = self.unusable_certificates(thing, endpoint).await {
                    self.halted = Some(why);
                }
            }
            Action::Call { operation, input } => self.call(*operation, input, step).await,
            Action::Notification {
                thing,
                topic,
                job,
                queued,
                in_progress,
            } => {
                self.notification(thing, topic, job.as_deref(), queued, in_progress, step)
                    .await;
                let awaited = self.now_ms() - now;
                self.premise.intend(awaited);
            }
        }
    }

    /// Waits for the notification to the thing's device that lists what the step expects, and
    /// judges it.
    async fn notification(
        &mut self,
        thing: &str,
        topic: &str,
        job: Option<&str>,
        queued: &[String],
        in_progress: &[String],
        step: &Step,
    ) {
        if self.binding() != Binding::Mqtt {
            return;
        }
        let real = |j: &str| self.jobs.get(j).cloned().unwrap_or_default();
        let expected = if topic == "notify-next" {
            notify::Expected::Next(job.map(real))
        } else {
            notify::Expected::Lists {
                queued: queued.iter().map(|j| real(j)).collect(),
                in_progress: in_progress.iter().map(|j| real(j)).collect(),
            }
        };
        let real_thing = self.things[thing].clone();
        let full_topic = format!("$aws/things/{real_thing}/jobs/{topic}");
        let since = self.step_mark_us;
        let deadline = step.deadline.unwrap_or(self.settings.deadline);
        // Matched by content: a notification of another state (an earlier one arriving late, or
        // one the contract allows but does not require) is skipped and left for later steps.
        let found = self
            .client
            .next_message(&real_thing, &full_topic, since, deadline, |payload| {
                notify::matches(&expected, payload)
            })
            .await;
        let finding = match found {
            Ok(message) => notify::judge(&expected, &message.payload),
            Err(others) => {
                let arrived: Vec<&str> = others.iter().map(|m| m.payload.as_str()).collect();
                notify::missing(&expected, topic, deadline, &arrived)
            }
        };
        self.findings.push(finding);
    }

    pub(super) fn primary_requirement(&self) -> RequirementId {
        self.case
            .requirements
            .first()
            .copied()
            .unwrap_or(req::WI_ANSWER)
    }

    /// The input as sent: logical names replaced by the run's names.
    fn resolve(&self, input: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in input {
            match (k.as_str(), v.as_str()) {
                ("thing", Some(t)) => {
                    out.insert(
                        "thingName".into(),
                        Value::String(self.things.get(t).cloned().unwrap_or_else(|| t.to_string())),
                    );
                }
                ("job", Some(j)) => {
                    let real = if j == NEXT_EXECUTION {
                        j.to_string()
                    } else {
                        self.jobs.get(j).cloned().unwrap_or_else(|| j.to_string())
                    };
                    out.insert("jobId".into(), Value::String(real));
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }

    fn binding(&self) -> Binding {
        self.client.binding()
    }

    /// Sends one data-plane request, retrying while the target throttles it, and keeps every
    /// exchange; `None` when the request cannot be built (a finding says so) or was throttled
    /// at every attempt (then only a WI-THROTTLED-OUT warning says its checks were skipped:
    /// throttling keeps a quota, it breaks nothing).
    async fn send(
        &mut self,
        operation: Operation,
        sent: &Map<String, Value>,
        step: &Step,
    ) -> Option<Exchange> {
        let request = Request {
            operation,
            input: sent,
            raw: Raw {
                path: step.raw_path.as_deref(),
                topic: step.raw_topic.as_deref(),
                body: step.raw_body.as_deref(),
            },
        };
        let label = Label {
            seq: self.next_seq(),
            context: &self.case.id,
            operation: operation.name(),
        };
        let deadline = step.deadline.unwrap_or(self.settings.deadline);
        let seq = self.seq.clone();
        let next_seq = move || seq.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .client
            .send_retrying(&request, deadline, label, next_seq, Retry::STANDARD)
            .await;
        match sent {
            Ok(Sent {
                exchange,
                throttled,
            }) => {
                for t in &throttled {
                    self.throttle(t, operation);
                }
                let out = is_throttle(&exchange);
                if out || !throttled.is_empty() {
                    let attempts = [throttled, vec![exchange.clone()]].concat();
                    self.findings.extend(throttled_out(operation, &attempts));
                }
                if out {
                    self.throttle(&exchange, operation);
                    return None;
                }
                self.exchanges.push(exchange.clone());
                let (binding, profile) = (self.binding(), self.settings.profile);
                let (answer, _) = answer::read(&exchange, operation, binding, profile);
                if is_unavailable(&answer) {
                    let asked = step.expect.error.as_deref()
                        == Some(ErrorKind::ServiceUnavailable.type_name());
                    self.faulted |= !asked;
                    self.findings
                        .extend(unavailable(&exchange, operation, binding, profile, asked));
                    return None;
                }
                Some(exchange)
            }
            Err(e) => {
                let requirement = self.primary_requirement();
                self.findings.push(Finding::fail(
                    requirement,
                    format!("cannot build the request: {e}"),
                    None,
                ));
                None
            }
        }
    }

    /// Keeps a throttled exchange and judges only the throttle's own shape (SN-THROTTLING):
    /// a ThrottlingException (RequestThrottled over MQTT) with the status and message every
    /// error has.
    fn throttle(&mut self, exchange: &Exchange, operation: Operation) {
        let finding = throttle_shape(exchange, operation, self.binding(), self.settings.profile);
        self.findings.push(finding);
        self.exchanges.push(exchange.clone());
    }

    async fn call(&mut self, operation: Operation, input: &Map<String, Value>, step: &Step) {
        let sent = self.resolve(input);
        let schema_ok = operation
            .request_schema_for(self.binding())
            .map(|s| s.violations(&Value::Object(sent.clone())).is_empty())
            .unwrap_or(false);
        // A raw body or topic is not the bound request: the state model does not judge it.
        let bound = schema_ok && step.raw_body.is_none() && step.raw_topic.is_none();
        // An input whose reading on the wire is open is expected refused, the default; a
        // target that reads it as the schema does is judged by the model on that reading.
        let open = whole_query::situation(operation, self.binding(), &sent);
        let Some(exchange) = self.send(operation, &sent, step).await else {
            return;
        };
        let (answer, wire) =
            answer::read(&exchange, operation, self.binding(), self.settings.profile);
        let valid = bound && (open.is_none() || answer.success().is_some());
        let checked = self.findings.len();
        self.findings.extend(wire);
        // A raw body's members are what the target read, when it reads them at all.
        let raw: Option<Map<String, Value>> = step
            .raw_body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let call = Call {
            operation,
            thing: subject(
                input.get("thing"),
                sent.get("thingName")
                    .filter(|_| !input.contains_key("thing")),
            ),
            job: subject(
                input.get("job"),
                sent.get("jobId").filter(|_| !input.contains_key("job")),
            ),
            input: raw.as_ref().unwrap_or(&sent),
            valid,
            binding: self.binding(),
            window: self.window(&exchange),
            seq: exchange.seq,
        };
        let judged = self.oracle.judge(&call, &answer, None);
        let cause = self.oracle.cause_behind(&judged);
        let judging = expect::Judging {
            profile: self.settings.profile,
            judged: &judged,
        };
        let expectation = expect::effective(&step.expect, operation, valid && open.is_none(), open);
        let requirement = expectation
            .requirement
            .unwrap_or_else(|| self.primary_requirement());
        let (things, jobs) = (&self.things, &self.jobs);
        let resolve = |name: &str| things.get(name).or_else(|| jobs.get(name)).cloned();
        // Where the model, re-synchronised after a root cause, agrees with the answer, a
        // scenario expectation written for the predicted state follows from that cause.
        let expected = expect::check(
            &expectation,
            &exchange,
            &answer,
            requirement,
            judging,
            &resolve,
        );
        self.findings.extend(judged);
        let expected: Vec<Finding> = expected
            .into_iter()
            .map(|f| match cause {
                Some(c) => f.following(c),
                None => f,
            })
            .collect();
        self.oracle.scripted(&expected);
        self.findings.extend(expected);
        self.breakage
            .follow(&call.thing, &answer, &mut self.findings[checked..]);
        let back = health::read_back(
            &call,
            &expectation,
            requirement,
            &answer,
            &exchange.request,
            &|t| things.contains_key(t),
            &|j| jobs.contains_key(j),
        );
        if let Some(back) = back {
            self.read_back(back).await;
        }
    }

    /// Reads the thing back after a negative request or a refusal: every answer is judged for
    /// the target's health and, when the request must have changed nothing, by the oracle
    /// (which did not move on it) under the requirement the refusal was checked against.
    async fn read_back(&mut self, back: ReadBack) {
        for (operation, read) in &back.reads {
            let operation = *operation;
            let sent = self.resolve(read);
            let step = Step::call(operation, read.clone());
            let Some(exchange) = self.send(operation, &sent, &step).await else {
                return;
            };
            let (answer, mut wire) =
                answer::read(&exchange, operation, self.binding(), self.settings.profile);
            answer::stored_by(&mut wire, back.stored_by);
            let checked = self.findings.len();
            self.findings.extend(wire);
            self.findings
                .extend(health::judge(&back, operation, &answer, exchange.seq));
            let thing = Subject::Seeded(back.thing.clone());
            let Some(attribution) = back.unchanged else {
                self.breakage
                    .follow(&thing, &answer, &mut self.findings[checked..]);
                continue;
            };
            let call = Call {
                operation,
                thing: thing.clone(),
                job: subject(read.get("job"), None),
                input: &sent,
                valid: true,
                binding: self.binding(),
                window: self.window(&exchange),
                seq: exchange.seq,
            };
            let judged = self.oracle.judge(&call, &answer, Some(attribution));
            self.findings.extend(judged);
            self.breakage
                .follow(&thing, &answer, &mut self.findings[checked..]);
        }
    }
}
