//! One recorded device replayed: its exchanges in their recorded order, each sent when due and
//! after the previous answer, mapped onto what this replay's target answered, compared with
//! the recorded answer and judged like any fleet device's: by the wire checks and, where the
//! capture is a complete world for it, by a fleet device's state facts (`vantage`). Beside the
//! devices, each unit's later world changes (a job created mid-run, a cancel) happen on the
//! same schedule, and a device's exchange waits for every change recorded before it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::correlate::Correlation;
use super::vantage::{Asked, Created, Vantage, View, certain};
use super::world::{Names, Unit};
use super::{LATE_ALLOWANCE, Replay, label};
use crate::check::agent::{CreatedJob, error_of};
use crate::check::answer::{Answer, read};
use crate::check::differential::notifications::Kind;
use crate::check::replay::{Compared, compare};
use crate::finding::Finding;
use crate::record::capture::{
    Capture, CapturedEvent, CapturedExchange, Line, job_placeholder, labels,
};
use crate::record::{DivergenceExample, SETUP_ERROR, outcome_name};
use crate::transport::mqtt::Received;
use crate::transport::{DataClient, Exchange, Outcome, Raw, Request};
use jobcert_contract::{Binding, Operation};

/// The job a request of `operation` to `target` names (`…/jobs/<job>…`): none for start-next
/// and the pending list (whose MQTT topics end in `start-next` and `get`) nor for `$next`.
pub(super) fn named_job(operation: Operation, target: &str) -> Option<&str> {
    if matches!(
        operation,
        Operation::StartNextPendingJobExecution | Operation::GetPendingJobExecutions
    ) {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    let mut parts = path.split('/');
    parts.find(|p| *p == "jobs")?;
    parts
        .next()
        .filter(|j| !j.is_empty() && *j != "$next" && *j != "%24next")
}

/// Where each device's exchanges and the later control-plane calls are among a capture's
/// lines: read once, so that working out a group costs its own lines, not the capture's.
pub(super) struct LineIndex {
    by_device: HashMap<String, Vec<usize>>,
    /// Control lines, each with the job placeholders its path names.
    controls: Vec<(usize, Vec<String>)>,
}

impl LineIndex {
    /// The index of `capture`.
    pub(super) fn of(capture: &Capture) -> Self {
        let mut by_device: HashMap<String, Vec<usize>> = HashMap::new();
        let mut controls = Vec::new();
        for (i, n) in capture.lines.iter().enumerate() {
            match &n.value {
                Line::Exchange(e) => by_device.entry(e.device.clone()).or_default().push(i),
                Line::Event(e) => by_device.entry(e.device.clone()).or_default().push(i),
                Line::Control(c) => controls.push((
                    i,
                    labels(&c.target, "job")
                        .iter()
                        .map(|l| job_placeholder(l))
                        .collect(),
                )),
                _ => {}
            }
        }
        Self {
            by_device,
            controls,
        }
    }
}

/// What every copy of one group of things shares, worked out once: each device's exchanges,
/// when the group first sends, and its world changes after that.
#[derive(Debug)]
pub(super) struct GroupPlan {
    /// Each device (placeholder or literal name) with its exchanges and notifications, in
    /// capture order, and whether it is judged for state ([`certain`]).
    devices: Vec<(String, Vec<usize>, bool)>,
    /// When the group's devices first send, in the capture's microseconds.
    pub(super) first_us: Option<u64>,
    /// The world changes after that, in recorded order, with their times.
    events: Vec<(u64, Change)>,
    /// When each exchange was recorded, sorted.
    line_times: Vec<u64>,
}

impl GroupPlan {
    /// The plan of the group of `unit` (any copy of it).
    pub(super) fn of(capture: &Capture, index: &LineIndex, unit: &Unit) -> Self {
        let mut devices: Vec<(String, Vec<usize>, bool)> = unit
            .things
            .iter()
            .filter_map(|t| {
                let lines = index.by_device.get(t)?;
                Some((t.clone(), lines.clone(), certain(capture, t, lines)))
            })
            .collect();
        devices.sort();
        let mut line_times: Vec<u64> = devices
            .iter()
            .flat_map(|(_, lines, _)| lines)
            .filter_map(|&i| match &capture.lines[i].value {
                Line::Exchange(e) => Some(e.sent_us),
                _ => None,
            })
            .collect();
        line_times.sort_unstable();
        let first_us = line_times.first().copied();
        let seed = &capture.header.seed;
        let mut events: Vec<(u64, Change)> = unit
            .jobs
            .iter()
            .filter_map(|&j| {
                let at = seed.jobs[j].at_us?;
                first_us
                    .is_some_and(|f| at > f)
                    .then_some((at, Change::Job(j)))
            })
            .collect();
        let jobs: Vec<&str> = unit
            .jobs
            .iter()
            .map(|&j| seed.jobs[j].id.as_str())
            .collect();
        for (i, named) in &index.controls {
            if named.iter().any(|j| jobs.contains(&j.as_str()))
                && let Line::Control(c) = &capture.lines[*i].value
            {
                events.push((c.sent_us, Change::Control(*i)));
            }
        }
        events.sort_by_key(|(at, _)| *at);
        Self {
            devices,
            first_us,
            events,
            line_times,
        }
    }
}

/// The recorded order of a unit's world changes and its devices' exchanges, kept across the
/// two: a change waits for every exchange recorded before it to be answered, and an exchange for
/// every change recorded at or before it to be made. (An exchange recorded after a change
/// cannot finish before it, so counting finished exchanges is enough.)
#[derive(Debug)]
pub(super) struct Order {
    /// World changes made so far.
    changes: watch::Sender<usize>,
    /// Exchanges finished so far.
    lines: watch::Sender<usize>,
    /// What the copy plays.
    pub(super) plan: Arc<GroupPlan>,
    /// The jobs created so far in the copy.
    pub(super) created: Created,
}

impl Order {
    /// The order of one copy of a group planned as `plan`.
    pub(super) fn of(plan: Arc<GroupPlan>) -> Self {
        Self {
            changes: watch::channel(0).0,
            lines: watch::channel(0).0,
            plan,
            created: Created::default(),
        }
    }

    /// Waits until `counter` reaches `need`, unless halted; false when halted.
    async fn reach(replay: &Replay, counter: &watch::Sender<usize>, need: usize) -> bool {
        let mut seen = counter.subscribe();
        tokio::select! {
            r = seen.wait_for(|n| *n >= need) => r.is_ok(),
            () = replay.halt.cancelled() => false,
        }
    }

    /// The number of exchanges of the group recorded before `at_us`.
    fn exchanges_before(&self, at_us: u64) -> usize {
        self.plan.line_times.partition_point(|&t| t < at_us)
    }

    /// Waits for the changes recorded at or before `at_us`.
    async fn before_exchange(&self, replay: &Replay, at_us: u64) -> bool {
        let need = self.plan.events.iter().filter(|(t, _)| *t <= at_us).count();
        Self::reach(replay, &self.changes, need).await
    }

    /// Waits for the exchanges recorded before `at_us`.
    async fn before_change(&self, replay: &Replay, at_us: u64) -> bool {
        let need = self.exchanges_before(at_us);
        Self::reach(replay, &self.lines, need).await
    }
}

/// A world change on a unit's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Create seeded job `j` (an index into the seed).
    Job(usize),
    /// Send capture line `i` (an index into the capture's lines) to the control plane.
    Control(usize),
}

/// Creates seeded job `j` in `unit`'s copy of the world, whose devices learn when it was sent
/// and acknowledged from `created`.
pub(super) async fn create_job(
    replay: &Replay,
    unit: &Unit,
    created: &Created,
    j: usize,
) -> Result<(), String> {
    let names = Names::new(&replay.settings.run_id, unit.clone);
    let job = &replay.capture.header.seed.jobs[j];
    let id = names.apply(&job.id);
    let targets: Vec<String> = job
        .targets
        .iter()
        .map(|t| replay.arn(&names.device(t)))
        .collect();
    let members: Map<String, Value> =
        serde_json::from_str(&names.apply(&Value::Object(job.create.clone()).to_string()))
            .unwrap_or_default();
    let seq = replay.next_seq();
    created.creating();
    let called = replay
        .control
        .create_job_with(seq, &id, &id, &targets, &members)
        .await;
    let acked = called.as_ref().ok().filter(|c| c.result.is_ok()).map(|c| {
        let timing = &c.exchange.timing;
        CreatedJob {
            id: id.clone(),
            sent_us: timing.sent_us,
            acked_us: timing.done_us,
        }
    });
    created.ended(&id, &job.targets, acked);
    let called = called.map_err(|e| format!("CreateJob {id}: {e}"))?;
    let failed = called.result.as_ref().err().map(|e| e.to_string());
    replay.recorder.exchange(
        &called.exchange,
        Vec::new(),
        failed.as_ref().map(|_| format!("{SETUP_ERROR}CreateJob")),
    );
    replay.recorder.update(|r| r.jobs += 1);
    match failed {
        Some(e) => Err(format!("CreateJob {id}: {e}")),
        None => Ok(()),
    }
}

/// Makes `unit`'s world changes when they are due and the exchanges recorded before each are
/// answered.
pub(super) async fn run_events(replay: &Replay, unit: &Unit, order: &Order, start_us: u64) {
    let names = Names::new(&replay.settings.run_id, unit.clone);
    for (k, &(at, change)) in order.plan.events.iter().enumerate() {
        if let Some(due) = replay.due_us(start_us, at)
            && !replay.until(due).await
        {
            return;
        }
        if !order.before_change(replay, at).await {
            return;
        }
        match change {
            Change::Job(j) => {
                if let Err(e) = create_job(replay, unit, &order.created, j).await {
                    tracing::warn!("replay: {e}");
                }
            }
            Change::Control(i) => {
                if let Line::Control(c) = &replay.capture.lines[i].value {
                    for label in labels(&c.target, "job") {
                        order.created.touched(&names.apply(&job_placeholder(label)));
                    }
                    let seq = replay.next_seq();
                    let path = names.apply(&c.target);
                    let body = c.body.as_deref().map(|b| names.apply(b));
                    let exchange = replay
                        .control
                        .send_raw(
                            label(seq, &path, &c.operation),
                            &c.method,
                            &path,
                            body.as_deref(),
                        )
                        .await;
                    replay.recorder.exchange(&exchange, Vec::new(), None);
                }
            }
        }
        order.changes.send_replace(k + 1);
    }
}

/// One device's exchanges in one copy of the world.
pub(super) struct Timeline {
    names: Names,
    /// The device as the capture names it (placeholder or literal).
    recorded: String,
    /// The real thing name.
    device: String,
    /// Whether it is judged for state.
    stateful: bool,
    /// Indices into the capture's lines.
    lines: Vec<usize>,
    /// Whether any of them goes over MQTT (the device then connects before the replay starts).
    pub(super) mqtt: bool,
    /// The unit's recorded order.
    order: Arc<Order>,
}

/// The last status a job had in the recording and in the replay.
type Statuses = BTreeMap<String, (Option<String>, Option<String>)>;

impl Timeline {
    /// The timelines of the devices of `unit` (a copy of the group `order` plans) that have
    /// exchanges.
    pub(super) fn of(
        capture: &Capture,
        unit: &Unit,
        run_id: &str,
        order: &Arc<Order>,
    ) -> Vec<Timeline> {
        let names = Names::new(run_id, unit.clone);
        let mut out: Vec<Timeline> = order
            .plan
            .devices
            .iter()
            .map(|(device, lines, stateful)| {
                Timeline {
                recorded: device.clone(),
                device: names.device(device),
                stateful: *stateful,
                names: names.clone(),
                mqtt: lines.iter().any(|&i| {
                    matches!(&capture.lines[i].value, Line::Exchange(e) if e.transport == "mqtt")
                }),
                lines: lines.clone(),
                order: order.clone(),
            }
            })
            .collect();
        out.sort_by(|a, b| a.device.cmp(&b.device));
        out
    }

    /// The device's real name.
    pub(super) fn device(&self) -> &str {
        &self.device
    }

    /// The index into the capture's lines of exchange `k`.
    pub(super) fn line_index(&self, k: usize) -> usize {
        self.lines[k]
    }

    /// Exchanges and notifications to replay.
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Exchanges to replay (notifications are awaited, not sent).
    pub(super) fn exchanges(&self, capture: &Capture) -> usize {
        self.lines
            .iter()
            .filter(|&&i| matches!(capture.lines[i].value, Line::Exchange(_)))
            .count()
    }

    /// Plays the timeline from `start_us` (µs since the replay's origin), each exchange after
    /// the world changes recorded before it.
    pub(super) async fn play(self, replay: &Replay, start_us: u64) {
        let mut playing = Playing::new(self, replay.targets.primary.time_scale);
        for k in 0..playing.timeline.len() {
            if let Step::Halted = playing.step(replay, start_us, k).await {
                return;
            }
        }
        playing.finish(replay);
    }

    /// Sends the replayed form of `recorded`; `None` when it cannot be built.
    async fn send(
        &self,
        replay: &Replay,
        client: &mut DataClient,
        correlation: &mut Correlation,
        recorded: &CapturedExchange,
        binding: Binding,
        intended_us: u64,
    ) -> Option<Exchange> {
        let operation = Operation::from_name(&recorded.operation)?;
        let target = self.names.apply(&recorded.target);
        let job = named_job(operation, &target).map(str::to_string);
        let target = correlation.target(&target, job.as_deref());
        let body = recorded.body.as_deref().map(|b| {
            correlation.body(
                &self.names.apply(b),
                job.as_deref(),
                &replay.settings.run_id,
            )
        });
        let mut input = Map::new();
        input.insert("thingName".into(), json!(self.device));
        input.insert(
            "jobId".into(),
            json!(
                job.as_deref()
                    .map_or_else(|| "$next".to_string(), |j| correlation.job(j))
            ),
        );
        let raw = match binding {
            Binding::Http => Raw {
                path: Some(&target),
                topic: None,
                body: body.as_deref(),
            },
            Binding::Mqtt => Raw {
                path: None,
                topic: Some(&target),
                body: body.as_deref(),
            },
        };
        let permit = match replay.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                replay.recorder.update(|r| r.schedule.queued += 1);
                replay.slots.clone().acquire_owned().await.ok()?
            }
        };
        let seq = replay.next_seq();
        let request = Request {
            operation,
            input: &input,
            raw,
        };
        let sent = client
            .send(
                &request,
                replay.settings.deadline,
                label(seq, &self.device, operation.name()),
            )
            .await;
        drop(permit);
        let mut exchange = sent.ok()?;
        exchange.timing.intended_us = intended_us.min(exchange.timing.sent_us);
        let late = exchange.timing.sent_us - exchange.timing.intended_us;
        replay.recorder.update(|r| {
            let s = &mut r.schedule;
            s.intended += 1;
            s.started += 1;
            if late > LATE_ALLOWANCE.as_micros() as u64 {
                s.late += 1;
            }
            s.max_lateness_us = s.max_lateness_us.max(late);
            s.lateness
                .record_value(&exchange.operation, outcome_name(&exchange.outcome), late);
            if let Some(t) = r.replay.as_mut() {
                t.replayed += 1;
            }
        });
        Some(exchange)
    }

    /// Compares the answer with the recorded one, learns from it, and records it judged by the
    /// wire checks and the device's state facts (`before`: the world when it went out).
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        replay: &Replay,
        learnt: (&mut Correlation, &mut Statuses, &mut Vantage),
        recorded: &CapturedExchange,
        line: u64,
        binding: Binding,
        exchange: &Exchange,
        before: &View,
    ) {
        let (correlation, statuses, vantage) = learnt;
        let Some(operation) = Operation::from_name(&recorded.operation) else {
            return;
        };
        let target = self.names.apply(&recorded.target);
        let job = named_job(operation, &target).map(str::to_string);
        let compared: Compared = {
            let (names, corr) = (&self.names, &*correlation);
            compare(
                &recorded.answer.outcome(),
                exchange,
                operation,
                binding,
                |j| corr.job(&names.apply(j)),
            )
        };
        let diverged = !compared.divergences.is_empty();
        if job.is_none()
            && let (Some(then), Some(now)) = (&compared.recorded.job, &compared.replayed.job)
        {
            let then = correlation.job(&self.names.apply(then));
            if then != *now {
                correlation.rebind(&then, now);
                replay.recorder.update(|r| {
                    if let Some(t) = r.replay.as_mut() {
                        t.rebound += 1;
                    }
                });
            }
        }
        let about = compared
            .replayed
            .job
            .clone()
            .or_else(|| job.as_deref().map(|j| correlation.job(j)));
        if let Some(about) = &about {
            correlation.learn(about, &compared.recorded, &compared.replayed);
            // An accepted update without the execution state moved it to the status it sent.
            let sent = (operation == Operation::UpdateJobExecution)
                .then(|| sent_status(recorded.body.as_deref()))
                .flatten();
            let entry = statuses.entry(about.clone()).or_default();
            let then = compared.recorded.status.clone().or_else(|| {
                accepted(&recorded.answer.outcome())
                    .then(|| sent.clone())
                    .flatten()
            });
            let now = compared
                .replayed
                .status
                .clone()
                .or_else(|| accepted(&exchange.outcome).then(|| sent.clone()).flatten());
            entry.0 = then.or(entry.0.take());
            entry.1 = now.or(entry.1.take());
        }
        for d in compared.divergences {
            let example = DivergenceExample {
                kind: d.kind.to_string(),
                line,
                device: self.device.clone(),
                recorded: d.recorded,
                replayed: d.replayed,
                exchange: Some(exchange.clone()),
            };
            replay.recorder.update(|r| {
                if let Some(t) = r.replay.as_mut() {
                    t.diverged(example);
                }
            });
        }
        let (answer, mut findings) = read(exchange, operation, binding, replay.settings.profile);
        findings.extend(self.facts(
            vantage,
            (
                recorded,
                operation,
                named_job(operation, &target).map(|j| correlation.job(j)),
            ),
            exchange,
            &answer,
            before,
        ));
        // An error the recording also got is what the request was for, not a failure.
        let error =
            error_of(exchange, &answer).filter(|_| diverged || answer == Answer::Unanswered);
        replay.recorder.exchange(exchange, findings, error);
    }

    /// The device's state facts about `answer`, from what it knew when the request went out
    /// (`before`) and knows now.
    fn facts(
        &self,
        vantage: &mut Vantage,
        (recorded, operation, job): (&CapturedExchange, Operation, Option<String>),
        exchange: &Exchange,
        answer: &Answer,
        before: &View,
    ) -> Vec<Finding> {
        let after = self.order.created.view(&self.recorded);
        let body = recorded.body.as_deref().map(|b| self.names.apply(b));
        let asked = Asked {
            operation,
            job: job.as_deref(),
            body: body.as_deref(),
            recorded_accepted: accepted(&recorded.answer.outcome()),
            before,
            after: &after,
        };
        vantage.judge(&asked, exchange, answer)
    }

    /// Compares each job's last status in the replay with the recording's, and counts the
    /// replayed ones.
    fn settle(&self, replay: &Replay, statuses: Statuses) {
        for (job, (then, now)) in statuses {
            if let Some(s) = &now {
                replay.recorder.status(s);
            }
            if then != now {
                let example = DivergenceExample {
                    kind: "final-status".into(),
                    line: 0,
                    device: format!("{} / {job}", self.device),
                    recorded: then.unwrap_or_else(|| "none".into()),
                    replayed: now.unwrap_or_else(|| "none".into()),
                    exchange: None,
                };
                replay.recorder.update(|r| {
                    if let Some(t) = r.replay.as_mut() {
                        t.diverged(example);
                    }
                });
            }
        }
    }
}

/// What came of one step of a timeline.
pub(super) enum Step {
    /// The replay was halted before the exchange went out.
    Halted,
    /// The exchange went out; `job` is the job its request named in this replay, if any.
    Sent {
        /// The exchange.
        exchange: Box<Exchange>,
        /// The request's job.
        job: Option<String>,
    },
    /// The request could not be sent (no target for its transport, or unbuildable).
    Unsent,
    /// A recorded notification was awaited (and compared); nothing was sent.
    Noticed,
}

/// A timeline being played: where it is, and what it has learnt of its target.
pub(super) struct Playing {
    timeline: Timeline,
    clients: HashMap<Binding, Option<DataClient>>,
    correlation: Correlation,
    statuses: Statuses,
    vantage: Vantage,
    previous_done_us: u64,
    /// The notifications its steps awaited and took.
    heard: Vec<Received>,
}

impl Playing {
    /// `timeline`, at its start, against a target whose clock runs `time_scale` times real
    /// time.
    pub(super) fn new(timeline: Timeline, time_scale: f64) -> Self {
        Self {
            vantage: Vantage::new(timeline.stateful, time_scale),
            timeline,
            clients: HashMap::new(),
            correlation: Correlation::default(),
            statuses: Statuses::new(),
            previous_done_us: 0,
            heard: Vec::new(),
        }
    }

    /// The timeline.
    pub(super) fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Plays line `k` of the timeline: an exchange when due and after the world changes
    /// recorded before it, its answer compared with the recording and recorded judged; or a
    /// notification, awaited.
    pub(super) async fn step(&mut self, replay: &Replay, start_us: u64, k: usize) -> Step {
        let i = self.timeline.lines[k];
        let recorded = match &replay.capture.lines[i].value {
            Line::Exchange(e) => e,
            Line::Event(event) => {
                return self
                    .notice(replay, event, replay.capture.lines[i].line)
                    .await;
            }
            _ => unreachable!("a timeline holds exchanges and notifications only"),
        };
        let line = replay.capture.lines[i].line;
        if !self
            .timeline
            .order
            .before_exchange(replay, recorded.sent_us)
            .await
        {
            return Step::Halted;
        }
        let due = replay.due_us(start_us, recorded.sent_us);
        if let Some(d) = due
            && !replay.until(d).await
        {
            return Step::Halted;
        }
        if replay.halt.is_cancelled() {
            return Step::Halted;
        }
        let intended = due.unwrap_or(0).max(self.previous_done_us);
        let binding = if recorded.transport == "mqtt" {
            Binding::Mqtt
        } else {
            Binding::Http
        };
        let client = self
            .clients
            .entry(binding)
            .or_insert_with(|| replay.client(binding));
        let before = self.timeline.order.created.view(&self.timeline.recorded);
        let sent = match client.as_mut() {
            Some(client) => {
                self.timeline
                    .send(
                        replay,
                        client,
                        &mut self.correlation,
                        recorded,
                        binding,
                        intended,
                    )
                    .await
            }
            None => None,
        };
        let step = match sent {
            Some(exchange) => {
                self.previous_done_us = exchange.timing.done_us;
                self.timeline.judge(
                    replay,
                    (&mut self.correlation, &mut self.statuses, &mut self.vantage),
                    recorded,
                    line,
                    binding,
                    &exchange,
                    &before,
                );
                let target = self.timeline.names.apply(&recorded.target);
                let job = Operation::from_name(&recorded.operation)
                    .and_then(|op| named_job(op, &target))
                    .map(|j| self.correlation.job(j));
                Step::Sent {
                    exchange: Box::new(exchange),
                    job,
                }
            }
            None => Step::Unsent,
        };
        self.timeline.order.lines.send_modify(|n| *n += 1);
        step
    }

    /// Waits for the `notify-next` `event` records (on its topic, naming the same head), within
    /// the request deadline; one that does not come is a `notification`
    /// divergence. The device's messages are searched from its start, oldest first, and the one
    /// matched is taken: a notification may arrive before the exchange the recording lists it
    /// after (it answers a change, not a line), and messages about another state are left for
    /// later lines. The one taken is kept for [`Playing::notifications`].
    async fn notice(&mut self, replay: &Replay, event: &CapturedEvent, line: u64) -> Step {
        // A `notify` lists the pending set as it is when published, which may be after the
        // device's next request or not (and one on a head's start is optional, §7.25): only
        // `notify-next`, which names the head, is awaited.
        if !event.topic.ends_with("/notify-next") {
            return Step::Noticed;
        }
        let client = self
            .clients
            .entry(Binding::Mqtt)
            .or_insert_with(|| replay.client(Binding::Mqtt));
        let Some(client) = client.as_ref() else {
            return Step::Noticed;
        };
        let topic = self.timeline.names.apply(&event.topic);
        let body = self.timeline.names.apply(&event.body);
        let correlation = &self.correlation;
        let expected = notified(&body, |j| correlation.job(j));
        let received = client
            .next_message(
                &self.timeline.device,
                &topic,
                0,
                replay.settings.deadline,
                |payload| notified(payload, |j| j.to_string()) == expected,
            )
            .await;
        let others = match received {
            Ok(message) => {
                self.heard.push(message);
                return Step::Noticed;
            }
            Err(others) => others,
        };
        let example = DivergenceExample {
            kind: "notification".into(),
            line,
            device: self.timeline.device.clone(),
            recorded: format!("{topic} naming {expected:?}"),
            replayed: format!(
                "no such message within {:?} ({} other message(s) on the topic)",
                replay.settings.deadline,
                others.len()
            ),
            exchange: None,
        };
        replay.recorder.update(|r| {
            if let Some(t) = r.replay.as_mut() {
                t.diverged(example);
            }
        });
        Step::Noticed
    }

    /// Takes the device's `notify` messages out of its connection's bounded inbox into what it
    /// heard, so that a long timeline loses none; `notify-next` stays there for the steps that
    /// await it.
    pub(super) async fn keep_notifies(&mut self, replay: &Replay) {
        let taken = self
            .take(replay, |t| Kind::of(t) == Some(Kind::Notify))
            .await;
        self.heard.extend(taken);
    }

    /// Every notification the device heard from this replay's target, in order of arrival:
    /// those its steps awaited or kept and those still in its inbox.
    pub(super) async fn notifications(&mut self, replay: &Replay) -> Vec<Received> {
        let rest = self.take(replay, |t| Kind::of(t).is_some()).await;
        let mut all = std::mem::take(&mut self.heard);
        all.extend(rest);
        all.sort_by_key(|m| m.at_us);
        all
    }

    /// Takes the messages on a topic `wanted` accepts from the device's MQTT inbox.
    async fn take(&mut self, replay: &Replay, wanted: impl Fn(&str) -> bool) -> Vec<Received> {
        let client = self
            .clients
            .entry(Binding::Mqtt)
            .or_insert_with(|| replay.client(Binding::Mqtt));
        match client.as_ref() {
            Some(client) => client.take_messages(&self.timeline.device, wanted).await,
            None => Vec::new(),
        }
    }

    /// Compares each job's last status with the recording's and counts the replayed ones. The
    /// device's own HTTP connection closes here; broker connections are the replay's.
    pub(super) fn finish(self, replay: &Replay) {
        self.timeline.settle(replay, self.statuses);
    }
}

/// What a notification says, for matching one against another: the jobs it lists by status
/// (`notify`), or the job `notify-next` names (none when nothing is pending), each job id
/// passed through `job`.
fn notified(payload: &str, job: impl Fn(&str) -> String) -> Vec<(String, Vec<String>)> {
    let Ok(value) = serde_json::from_str::<Value>(payload) else {
        return vec![("(not JSON)".into(), vec![payload.to_string()])];
    };
    let id = |v: &Value| v.get("jobId").and_then(Value::as_str).map(&job);
    if let Some(jobs) = value.get("jobs").and_then(Value::as_object) {
        return jobs
            .iter()
            .map(|(status, list)| {
                let ids = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(id)
                    .collect();
                (status.clone(), ids)
            })
            .collect();
    }
    let next = value.get("execution").and_then(id);
    vec![("next".into(), next.into_iter().collect())]
}

/// Whether an outcome is an acceptance (2xx, or an MQTT `/accepted` reply).
fn accepted(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Answered(r)
        if (200..300).contains(&r.status) || r.header("topic").is_some_and(|t| t.ends_with("/accepted")))
}

/// The status a request body sets, if any.
fn sent_status(body: Option<&str>) -> Option<String> {
    let value: Value = serde_json::from_str(body?).ok()?;
    value.get("status")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{Operation, named_job, notified};

    #[rstest]
    #[case::mqtt_start_next(
        Operation::StartNextPendingJobExecution,
        "$aws/things/t/jobs/start-next",
        None
    )]
    #[case::mqtt_pending(Operation::GetPendingJobExecutions, "$aws/things/t/jobs/get", None)]
    #[case::http_pending(Operation::GetPendingJobExecutions, "/things/t/jobs", None)]
    #[case::mqtt_describe(
        Operation::DescribeJobExecution,
        "$aws/things/t/jobs/j1/get",
        Some("j1")
    )]
    #[case::mqtt_update(
        Operation::UpdateJobExecution,
        "$aws/things/t/jobs/j1/update",
        Some("j1")
    )]
    #[case::http_describe(
        Operation::DescribeJobExecution,
        "/things/t/jobs/j1?includeJobDocument=true",
        Some("j1")
    )]
    #[case::http_next(Operation::DescribeJobExecution, "/things/t/jobs/$next", None)]
    #[case::encoded_next(Operation::DescribeJobExecution, "/things/t/jobs/%24next", None)]
    fn a_request_names_a_job_only_where_its_operation_takes_one(
        #[case] operation: Operation,
        #[case] target: &str,
        #[case] job: Option<&str>,
    ) {
        assert_eq!(named_job(operation, target), job);
    }

    #[rstest]
    #[case::next(r#"{"timestamp":1,"execution":{"jobId":"a"}}"#, r#"[["next",["A"]]]"#)]
    #[case::nothing_next(r#"{"timestamp":1}"#, r#"[["next",[]]]"#)]
    #[case::lists(
        r#"{"timestamp":1,"jobs":{"IN_PROGRESS":[{"jobId":"a"}],"QUEUED":[{"jobId":"b"},{"jobId":"c"}]}}"#,
        r#"[["IN_PROGRESS",["A"]],["QUEUED",["B","C"]]]"#
    )]
    #[case::empty_lists(r#"{"timestamp":1,"jobs":{}}"#, "[]")]
    #[case::not_json("oops", r#"[["(not JSON)",["oops"]]]"#)]
    fn a_notification_is_what_it_names_by_status(#[case] payload: &str, #[case] says: &str) {
        let got = notified(payload, |j| j.to_uppercase());
        let want: Vec<(String, Vec<String>)> = serde_json::from_str(says).unwrap();
        assert_eq!(got, want);
    }
}
