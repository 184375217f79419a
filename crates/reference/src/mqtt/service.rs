//! The Jobs service over MQTT (spec §3): answers requests published on the reserved topics and
//! composes `notify` / `notify-next`. It speaks JSON payloads only; the broker or the attached
//! client moves the bytes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::topics::{self, JobsTopic};
use crate::admission::{Gate, Refusal};
use crate::engine::{Change, Engine, EngineError, ExecutionView, requests};
use jobcert_contract::{Binding, ErrorKind, MqttOnly, NEXT_EXECUTION, Operation, Plane, mqtt_code};

/// A message the service publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// JSON payload.
    pub payload: Vec<u8>,
}

/// A reply, and how long to hold it (an injected delay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// What to publish.
    pub message: Message,
    /// Real time to wait before publishing it.
    pub after: Duration,
}

/// The Jobs service in front of an engine.
#[derive(Debug, Clone)]
pub struct JobsService {
    engine: Arc<Engine>,
    gate: Arc<Gate>,
}

/// The rejected code of an error kind; a kind MQTT has no code for is a service fault.
fn rejected_code(kind: ErrorKind) -> &'static str {
    mqtt_code(kind)
        .or_else(|| mqtt_code(ErrorKind::ServiceUnavailable))
        .unwrap_or_default()
}

/// A refusal, as `…/rejected` carries it.
struct Rejection {
    code: &'static str,
    message: String,
    state: Option<Value>,
}

impl Rejection {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            state: None,
        }
    }
}

impl From<EngineError> for Rejection {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::VersionMismatch { .. } => MqttOnly::VersionMismatch.code(),
            other => rejected_code(other.kind()),
        };
        Self {
            code,
            state: e.execution_state().map(|s| json!(s)),
            message: e.to_string(),
        }
    }
}

/// An execution as MQTT carries it: the job document as a JSON object.
fn execution_json(view: ExecutionView) -> Value {
    let document = view.job_document.clone();
    let mut value = json!(view);
    if let Some(text) = document {
        value["jobDocument"] =
            serde_json::from_str(&text).unwrap_or(Value::String(text.to_string()));
    }
    value
}

fn document_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

impl JobsService {
    /// A service answering for `engine`, without faults or quotas.
    pub fn new(engine: Arc<Engine>) -> Self {
        let gate = Arc::new(Gate::new(engine.clock().clone(), None, None));
        Self { engine, gate }
    }

    /// A service answering for `engine` through `gate` (its faults and quotas).
    pub fn with_gate(engine: Arc<Engine>, gate: Arc<Gate>) -> Self {
        Self { engine, gate }
    }

    /// The engine it answers for.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The faults and quotas it answers through; the broker asks it about CONNECTs.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    fn timestamp(&self) -> i64 {
        crate::engine::epoch_seconds(self.engine.clock().now_ms())
    }

    /// The reply to a publish on `topic`, if the topic is a Jobs request (or an invalid one) and
    /// no injected fault drops it.
    pub fn handle(&self, topic: &str, payload: &[u8]) -> Option<Reply> {
        let parsed = topics::parse(topic)?;
        let (operation, thing, job, namespace) = match parsed {
            JobsTopic::Outbound => return None,
            JobsTopic::Invalid => {
                let r = Rejection::new(
                    MqttOnly::InvalidTopic.code(),
                    format!("{topic} names no Jobs operation"),
                );
                let token = parse_payload(payload)
                    .ok()
                    .and_then(|b| b.get("clientToken").cloned());
                return Some(now(self.rejected(topic, token, r)));
            }
            JobsTopic::Request {
                operation,
                thing,
                job,
                namespace,
            } => (operation, thing, job, namespace),
        };
        let body = match parse_payload(payload) {
            Ok(b) => b,
            Err(r) => return Some(now(self.rejected(topic, None, r))),
        };
        let token = body.get("clientToken").cloned();
        let decision = self.gate.admit(Plane::Data, operation.name(), Some(&thing));
        let reply = match decision.refusal {
            None => self.answer(operation, thing, job, namespace, body),
            Some(Refusal::Drop) => return None,
            Some(Refusal::Throttled(why)) => Err(Rejection::new(
                rejected_code(ErrorKind::Throttling),
                format!("Rate exceeded: {why}"),
            )),
            Some(Refusal::Unavailable) => Err(Rejection::new(
                rejected_code(ErrorKind::ServiceUnavailable),
                format!("{} is unavailable (injected fault)", operation.name()),
            )),
        };
        let message = match reply {
            Ok(mut accepted) => {
                accepted.insert("timestamp".into(), json!(self.timestamp()));
                if let Some(t) = token {
                    accepted.insert("clientToken".into(), t);
                }
                Message {
                    topic: format!("{topic}/accepted"),
                    payload: Value::Object(accepted).to_string().into_bytes(),
                }
            }
            Err(r) => self.rejected(topic, token, r),
        };
        Some(Reply {
            message,
            after: decision.delay,
        })
    }

    fn rejected(&self, topic: &str, token: Option<Value>, r: Rejection) -> Message {
        let mut body =
            json!({ "code": r.code, "message": r.message, "timestamp": self.timestamp() });
        if let Some(t) = token {
            body["clientToken"] = t;
        }
        if let Some(s) = r.state {
            body["executionState"] = s;
        }
        Message {
            topic: format!("{topic}/rejected"),
            payload: body.to_string().into_bytes(),
        }
    }

    fn answer(
        &self,
        operation: Operation,
        thing: String,
        job: Option<String>,
        namespace: Option<String>,
        mut input: Map<String, Value>,
    ) -> Result<Map<String, Value>, Rejection> {
        input.insert("thingName".into(), Value::String(thing));
        if let Some(j) = job {
            input.insert("jobId".into(), Value::String(j));
        }
        if let Some(ns) = namespace {
            input.insert("namespaceId".into(), Value::String(ns));
        }
        let schema = operation.request_schema_for(Binding::Mqtt).map_err(|e| {
            Rejection::new(rejected_code(ErrorKind::ServiceUnavailable), e.to_string())
        })?;
        let input = Value::Object(input);
        if let Some(v) = schema.first_violation(&input) {
            return Err(Rejection::new(
                rejected_code(ErrorKind::InvalidRequest),
                v.to_string(),
            ));
        }
        let input = numeric_strings(input);
        let read = |e: String| Rejection::new(rejected_code(ErrorKind::InvalidRequest), e);
        let mut out = Map::new();
        match operation {
            Operation::GetPendingJobExecutions => {
                let req: requests::GetPending = requests::read(input).map_err(read)?;
                let view = self.engine.pending(&req);
                out.insert("inProgressJobs".into(), json!(view.in_progress));
                out.insert("queuedJobs".into(), json!(view.queued));
            }
            Operation::StartNextPendingJobExecution => {
                let req: requests::StartNext = requests::read(input).map_err(read)?;
                if let Some(e) = self.engine.start_next(&req)? {
                    out.insert("execution".into(), execution_json(e));
                }
            }
            Operation::DescribeJobExecution => {
                let req: requests::Describe = requests::read(input).map_err(read)?;
                if let Some(e) = self.engine.describe(&req)? {
                    out.insert("execution".into(), execution_json(e));
                }
            }
            Operation::UpdateJobExecution => {
                let req: requests::Update = requests::read(input).map_err(read)?;
                let outcome = self.engine.update(&req)?;
                if let Some(state) = outcome.execution_state {
                    out.insert("executionState".into(), json!(state));
                }
                if let Some(doc) = outcome.job_document {
                    out.insert("jobDocument".into(), document_json(&doc));
                }
            }
        }
        Ok(out)
    }

    /// The notifications a change calls for: `notify` when the pending list gained or lost an
    /// execution, `notify-next` when its head changed (spec §3.7, §7.25).
    /// Only topics `wanted` says someone listens to are composed.
    pub fn notifications(&self, change: &Change, wanted: &dyn Fn(&str) -> bool) -> Vec<Message> {
        let mut out = Vec::new();
        let thing = change.thing.to_string();
        let timestamp = self.timestamp();
        let (notify, notify_next) = (
            topics::notification(&thing, "notify"),
            topics::notification(&thing, "notify-next"),
        );
        if change.list_changed && wanted(&notify) {
            let view = self.engine.pending(&requests::GetPending {
                thing_name: thing.clone(),
            });
            let mut jobs = Map::new();
            if !view.in_progress.is_empty() {
                jobs.insert("IN_PROGRESS".into(), json!(view.in_progress));
            }
            if !view.queued.is_empty() {
                jobs.insert("QUEUED".into(), json!(view.queued));
            }
            out.push(Message {
                topic: notify,
                payload: json!({ "timestamp": timestamp, "jobs": jobs })
                    .to_string()
                    .into_bytes(),
            });
        }
        if change.head_changed && wanted(&notify_next) {
            let next = self.engine.describe(&requests::Describe {
                thing_name: thing.clone(),
                job_id: NEXT_EXECUTION.to_string(),
                include_job_document: Some(true),
                execution_number: None,
            });
            let mut body = json!({ "timestamp": timestamp });
            if let Ok(Some(e)) = next {
                body["execution"] = execution_json(e);
            }
            out.push(Message {
                topic: notify_next,
                payload: body.to_string().into_bytes(),
            });
        }
        out
    }
}

/// A reply sent at once.
fn now(message: Message) -> Reply {
    Reply {
        message,
        after: Duration::ZERO,
    }
}

/// The payload as a JSON object; an empty payload is `{}` (spec §7.16).
fn parse_payload(payload: &[u8]) -> Result<Map<String, Value>, Rejection> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let text = std::str::from_utf8(payload)
        .map_err(|_| Rejection::new(MqttOnly::InvalidJson.code(), "the payload is not UTF-8"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::new(
            MqttOnly::InvalidJson.code(),
            "the payload must be a JSON object",
        )),
        Err(e) => Err(Rejection::new(
            MqttOnly::InvalidJson.code(),
            format!("the payload is not valid JSON: {e}"),
        )),
    }
}

/// `expectedVersion` may arrive as a decimal string over MQTT (the schema admits it); the
/// typed input wants the number.
fn numeric_strings(mut input: Value) -> Value {
    if let Some(v) = input.get_mut("expectedVersion")
        && let Some(n) = v.as_str().and_then(|s| s.parse::<i64>().ok())
    {
        *v = json!(n);
    }
    input
}
