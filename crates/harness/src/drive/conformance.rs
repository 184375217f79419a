//! The conformance runner: seeds each case through the control plane, plays its steps against
//! the data plane, and has every answer judged. Cases have run-unique names, so they run
//! side by side and re-runs against a persistent target never collide.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, watch};

use crate::check::answer::{self, Answer};
use crate::check::oracle::{Call, JobFacts, Oracle, Subject, Window, subject};
use crate::check::{expect, notify};
use crate::finding::{Finding, Profile};
use crate::plan::{Action, JobFixture, Plan, PlannedCase, Step};
use crate::record::CaseRecord;
use crate::transport::binding::{HttpRequest, bind, encode_label};
use crate::transport::binding::{MqttRequest, bind_mqtt};
use crate::transport::http::{Endpoint, HttpTransport};
use crate::transport::mqtt::MqttTransport;
use crate::transport::{Exchange, Outcome};
use jobcert_contract::{Binding, ControlOperation, NEXT_EXECUTION, Operation, RequirementId, req};

/// Where device requests go.
#[derive(Debug, Clone)]
pub enum DataPlane {
    /// The REST-JSON endpoint.
    Http(Endpoint),
    /// An MQTT broker carrying the Jobs topics.
    Mqtt(Arc<MqttTransport>),
}

impl DataPlane {
    /// The binding this data plane speaks.
    pub fn binding(&self) -> Binding {
        match self {
            Self::Http(_) => Binding::Http,
            Self::Mqtt(_) => Binding::Mqtt,
        }
    }
}

/// The target of a run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The HTTP transport (control plane, and the data plane when it is HTTP).
    pub transport: HttpTransport,
    /// Data plane.
    pub data: DataPlane,
    /// Control plane.
    pub control: Endpoint,
    /// How fast the target's clock runs (1 for real targets).
    pub time_scale: f64,
    /// Account and region part of thing ARNs (`arn:aws:iot:REGION:ACCOUNT:thing/`).
    pub thing_arn_prefix: String,
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Run id, appended to every name the run creates.
    pub run_id: String,
    /// Default deadline of one request.
    pub deadline: Duration,
    /// Longest real wait a `wait` step may take.
    pub max_wait: Duration,
    /// Cases run side by side.
    pub concurrency: usize,
    /// How strictly answers are weighed (status codes of throttling).
    pub profile: Profile,
}

/// Runs every case of `plan`; stops starting cases once `stop` turns true. Records come back
/// in plan order; a case that never started is left out.
pub async fn run(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    stop: watch::Receiver<bool>,
) -> Vec<CaseRecord> {
    let seq = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, case) in plan.cases.iter().enumerate() {
        let permit = tokio::select! {
            p = gate.clone().acquire_owned() => p.expect("semaphore open"),
            () = stopped(stop.clone()) => break,
        };
        let (case, target, settings, seq, stop) = (
            case.clone(),
            target.clone(),
            settings.clone(),
            seq.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let record = CaseRun::new(&case, index, &target, &settings, seq)
                .play(stop)
                .await;
            drop(permit);
            (index, record)
        });
    }
    let mut records = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(r) = done {
            records.push(r);
        }
    }
    records.sort_by_key(|(i, _)| *i);
    records.into_iter().map(|(_, r)| r).collect()
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One case in flight.
struct CaseRun<'a> {
    case: &'a PlannedCase,
    target: &'a Target,
    settings: &'a Settings,
    seq: Arc<AtomicU64>,
    things: BTreeMap<String, String>,
    jobs: BTreeMap<String, String>,
    oracle: Oracle,
    findings: Vec<Finding>,
    exchanges: Vec<Exchange>,
    /// When the last step other than a notification began (notifications it caused come after);
    /// 0 until the first step, so that notifications caused by the set-up count.
    step_mark_us: u64,
    steps_taken: usize,
}

impl<'a> CaseRun<'a> {
    fn new(
        case: &'a PlannedCase,
        index: usize,
        target: &'a Target,
        settings: &'a Settings,
        seq: Arc<AtomicU64>,
    ) -> Self {
        // Run id, binding initial and case index: unique on a persistent target.
        let suffix = format!(
            "{}{}-{index}",
            settings.run_id,
            &target.data.binding().name()[..1]
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
            things,
            jobs,
            oracle: Oracle::new(tolerance_ms),
            findings: Vec::new(),
            exchanges: Vec::new(),
            step_mark_us: 0,
            steps_taken: 0,
        }
    }

    async fn play(mut self, stop: watch::Receiver<bool>) -> CaseRecord {
        let started = Instant::now();
        let mut aborted = self.setup().await.err();
        if aborted.is_none() {
            for step in &self.case.steps {
                if *stop.borrow() {
                    aborted = Some("the run was interrupted".to_string());
                    break;
                }
                self.step(step, &stop).await;
            }
        }
        let c = self.case;
        CaseRecord {
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
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn window(&self, exchange: &Exchange) -> Window {
        let scale = self.target.time_scale;
        Window {
            lo: exchange.timing.sent_us as f64 / 1000.0 * scale,
            hi: exchange.timing.done_us as f64 / 1000.0 * scale,
        }
    }

    async fn control(
        &mut self,
        operation: ControlOperation,
        input: Value,
    ) -> Result<(Exchange, Value), String> {
        let schema = operation.request_schema().map_err(|e| e.to_string())?;
        let request = bind(
            schema,
            input.as_object().expect("control input is an object"),
        )
        .map_err(|e| e.to_string())?;
        let seq = self.next_seq();
        let exchange = self
            .target
            .transport
            .send(
                &self.target.control,
                &request,
                self.settings.deadline,
                seq,
                &self.case.id,
                operation.name(),
            )
            .await;
        self.exchanges.push(exchange.clone());
        match &exchange.outcome {
            Outcome::Answered(r) if r.status == 200 => {
                let body = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                Ok((exchange, body))
            }
            Outcome::Answered(r) => Err(format!(
                "{} answered {} {}",
                operation.name(),
                r.status,
                r.body.chars().take(300).collect::<String>()
            )),
            Outcome::Timeout { deadline_ms } => Err(format!(
                "{} got no answer within {deadline_ms} ms",
                operation.name()
            )),
            Outcome::Failed { message, .. } => {
                Err(format!("{} failed: {message}", operation.name()))
            }
        }
    }

    async fn setup(&mut self) -> Result<(), String> {
        for logical in &self.case.things {
            let real = self.things[logical].clone();
            self.control(ControlOperation::CreateThing, json!({ "thingName": real }))
                .await?;
            self.oracle.thing_created(logical, &real);
        }
        for logical in &self.case.absent_things {
            self.oracle.thing_absent(logical);
        }
        // Devices listen before any job exists, so they hear every notification.
        if let DataPlane::Mqtt(mqtt) = &self.target.data {
            for logical in &self.case.things {
                mqtt.connect(&self.things[logical], self.settings.deadline)
                    .await?;
            }
        }
        for job in self.case.jobs.clone() {
            self.create_job(&job).await?;
        }
        Ok(())
    }

    async fn create_job(&mut self, job: &JobFixture) -> Result<(), String> {
        let real_id = self.jobs[&job.id].clone();
        let targets: Vec<String> = job
            .targets
            .iter()
            .map(|t| format!("{}{}", self.target.thing_arn_prefix, self.things[t]))
            .collect();
        let mut input = json!({ "jobId": real_id, "targets": targets, "document": job.document });
        if let Some(m) = job.in_progress_timeout_minutes {
            input["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
        }
        if !job.retry.is_empty() {
            let criteria: Vec<Value> = job
                .retry
                .iter()
                .map(|r| json!({ "failureType": r.failure_type, "numberOfRetries": r.number_of_retries }))
                .collect();
            input["jobExecutionsRetryConfig"] = json!({ "criteriaList": criteria });
        }
        let (exchange, _) = self.control(ControlOperation::CreateJob, input).await?;
        let window = self.window(&exchange);
        self.oracle.job_created(
            JobFacts {
                id: job.id.clone(),
                real_id,
                document: job.document.clone(),
                in_progress_minutes: job.in_progress_timeout_minutes,
                retry: job
                    .retry
                    .iter()
                    .map(|r| (r.failure_type.clone(), r.number_of_retries))
                    .collect(),
            },
            &job.targets,
            window,
        );
        Ok(())
    }

    async fn step(&mut self, step: &Step, stop: &watch::Receiver<bool>) {
        if !matches!(step.action, Action::Notification { .. }) && self.steps_taken > 0 {
            self.step_mark_us = self.exchanges.last().map_or(0, |e| e.timing.done_us);
        }
        self.steps_taken += 1;
        match &step.action {
            Action::Wait { minutes } => {
                let real =
                    Duration::from_secs_f64((minutes * 60.0 / self.target.time_scale).max(0.0));
                tokio::select! {
                    () = tokio::time::sleep(real.min(self.settings.max_wait)) => {}
                    () = stopped(stop.clone()) => {}
                }
            }
            Action::CancelJob { job, force } => {
                let input = json!({ "jobId": self.jobs[job], "force": force });
                match self.control(ControlOperation::CancelJob, input).await {
                    Ok((exchange, _)) => {
                        let window = self.window(&exchange);
                        self.oracle.job_canceled(job, *force, window);
                    }
                    Err(e) => self.findings.push(Finding::fail(
                        self.primary_requirement(),
                        format!("CancelJob was refused: {e}"),
                        None,
                    )),
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
                    .await
            }
        }
    }

    /// Waits for a notification to the thing's device and checks what it lists.
    async fn notification(
        &mut self,
        thing: &str,
        topic: &str,
        job: Option<&str>,
        queued: &[String],
        in_progress: &[String],
        step: &Step,
    ) {
        let DataPlane::Mqtt(mqtt) = &self.target.data else {
            return;
        };
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
        let finding = match mqtt
            .next_message(&real_thing, &full_topic, since, deadline)
            .await
        {
            Some(message) => notify::judge(&expected, &message.payload),
            None => notify::missing(&expected, topic, deadline),
        };
        self.findings.push(finding);
    }

    fn primary_requirement(&self) -> RequirementId {
        self.case
            .requirements
            .first()
            .cloned()
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
        self.target.data.binding()
    }

    fn http_request(
        &self,
        operation: Operation,
        sent: &Map<String, Value>,
        step: &Step,
    ) -> Result<HttpRequest, String> {
        let schema = operation.request_schema().map_err(|e| e.to_string())?;
        let mut request = bind(schema, sent).map_err(|e| e.to_string())?;
        if let Some(path) = &step.raw_path {
            let label = |key: &str| {
                sent.get(key)
                    .and_then(Value::as_str)
                    .map(encode_label)
                    .unwrap_or_default()
            };
            request.target = path
                .replace("{thing}", &label("thingName"))
                .replace("{job}", &label("jobId"));
        }
        if let Some(body) = &step.raw_body {
            request.body = Some(body.clone());
        }
        Ok(request)
    }

    fn mqtt_request(
        &self,
        operation: Operation,
        sent: &Map<String, Value>,
        step: &Step,
    ) -> Result<MqttRequest, String> {
        let schema = operation
            .request_schema_for(Binding::Mqtt)
            .map_err(|e| e.to_string())?;
        let mut request = bind_mqtt(schema, sent).map_err(|e| e.to_string())?;
        if let Some(topic) = &step.raw_topic {
            let label = |key: &str| {
                sent.get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            request.topic = topic
                .replace("{thing}", &label("thingName"))
                .replace("{job}", &label("jobId"));
        }
        if let Some(body) = &step.raw_body {
            request.payload = body.clone();
        }
        Ok(request)
    }

    async fn send(
        &mut self,
        operation: Operation,
        sent: &Map<String, Value>,
        step: &Step,
    ) -> Option<Exchange> {
        let seq = self.next_seq();
        let deadline = step.deadline.unwrap_or(self.settings.deadline);
        let exchange = match &self.target.data {
            DataPlane::Http(endpoint) => match self.http_request(operation, sent, step) {
                Ok(request) => {
                    self.target
                        .transport
                        .send(
                            endpoint,
                            &request,
                            deadline,
                            seq,
                            &self.case.id,
                            operation.name(),
                        )
                        .await
                }
                Err(e) => return self.unbuildable(&e),
            },
            DataPlane::Mqtt(mqtt) => match self.mqtt_request(operation, sent, step) {
                Ok(request) => {
                    let thing = sent
                        .get("thingName")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    mqtt.send(
                        thing,
                        &request,
                        deadline,
                        seq,
                        &self.case.id,
                        operation.name(),
                    )
                    .await
                }
                Err(e) => return self.unbuildable(&e),
            },
        };
        self.exchanges.push(exchange.clone());
        Some(exchange)
    }

    fn unbuildable(&mut self, e: &str) -> Option<Exchange> {
        let requirement = self.primary_requirement();
        self.findings.push(Finding::fail(
            requirement,
            format!("cannot build the request: {e}"),
            None,
        ));
        None
    }

    async fn call(&mut self, operation: Operation, input: &Map<String, Value>, step: &Step) {
        let sent = self.resolve(input);
        let schema_ok = operation
            .request_schema_for(self.binding())
            .map(|s| s.violations(&Value::Object(sent.clone())).is_empty())
            .unwrap_or(false);
        // A raw body or topic is not the bound request: the state model does not judge it.
        let valid = schema_ok && step.raw_body.is_none() && step.raw_topic.is_none();
        let Some(exchange) = self.send(operation, &sent, step).await else {
            return;
        };
        let (answer, wire) =
            answer::read(&exchange, operation, self.binding(), self.settings.profile);
        self.findings.extend(wire);
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
            input: &sent,
            valid,
            binding: self.binding(),
            window: self.window(&exchange),
            seq: exchange.seq,
        };
        let judged = self.oracle.judge(&call, &answer, None);
        self.findings.extend(judged);
        let expectation = expect::effective(&step.expect, operation, valid);
        let requirement = expectation
            .requirement
            .unwrap_or_else(|| self.primary_requirement());
        let (things, jobs) = (&self.things, &self.jobs);
        let resolve = |name: &str| things.get(name).or_else(|| jobs.get(name)).cloned();
        self.findings.extend(expect::check(
            &expectation,
            &exchange,
            &answer,
            requirement,
            &resolve,
        ));
        let refused = matches!(answer, Answer::Error { .. });
        if let Some(attribution) =
            expect::unchanged_requirement(operation, &expectation, valid, requirement)
                .filter(|_| refused)
        {
            self.verify_unchanged(input, attribution).await;
        }
    }

    /// Reads the thing's pending list and the named execution back; the oracle, which did not
    /// move on the refusal, checks that nothing changed.
    async fn verify_unchanged(&mut self, input: &Map<String, Value>, attribution: RequirementId) {
        let Some(thing) = input
            .get("thing")
            .and_then(Value::as_str)
            .filter(|t| self.things.contains_key(*t))
        else {
            return;
        };
        let mut reads = vec![(
            Operation::GetPendingJobExecutions,
            json!({ "thing": thing }),
        )];
        if let Some(job) = input
            .get("job")
            .and_then(Value::as_str)
            .filter(|j| self.jobs.contains_key(*j))
        {
            reads.push((
                Operation::DescribeJobExecution,
                json!({ "thing": thing, "job": job }),
            ));
        }
        for (operation, read) in reads {
            let read = read.as_object().cloned().unwrap_or_default();
            let sent = self.resolve(&read);
            let step = Step::call(operation, read.clone());
            let Some(exchange) = self.send(operation, &sent, &step).await else {
                return;
            };
            let (answer, wire) =
                answer::read(&exchange, operation, self.binding(), self.settings.profile);
            self.findings.extend(wire);
            let call = Call {
                operation,
                thing: Subject::Seeded(thing.to_string()),
                job: subject(read.get("job"), None),
                input: &sent,
                valid: true,
                binding: self.binding(),
                window: self.window(&exchange),
                seq: exchange.seq,
            };
            let judged = self.oracle.judge(&call, &answer, Some(attribution));
            self.findings.extend(judged);
        }
    }
}
