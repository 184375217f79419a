//! The control-plane client: the CreateThing, CreateJob, CancelJob and DescribeJob calls that
//! seed and steer a run. Each call returns its [`Exchange`], for the caller to record, and what
//! came of it: the answer's body, or why the call did not succeed.

use std::time::Duration;

use jobcert_contract::ControlOperation;
use serde_json::{Value, json};

use super::binding::{HttpRequest, bind};
use super::http::{Endpoint, HttpTransport};
use super::{Exchange, Label, Outcome, RateLimit, Retry, is_throttle};

mod seeding;

pub use seeding::Seeding;

/// Characters of a refusal's body that its error keeps.
const BODY_IN_ERROR: usize = 300;

/// Why a control-plane call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The request could not be built.
    #[error("{0}")]
    Unbuildable(String),
    /// The target answered with another status than 200.
    #[error("{operation} answered {status} {body}")]
    Refused {
        /// Operation name.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// The error type it named (`x-amzn-ErrorType`, else the body's `__type` or `code`).
        error_type: Option<String>,
        /// The body's `message`, if it has one.
        message: Option<String>,
        /// The start of the answer's body.
        body: String,
    },
    /// No answer within the deadline.
    #[error("{operation} got no answer within {deadline_ms} ms")]
    Timeout {
        /// Operation name.
        operation: &'static str,
        /// The deadline, in milliseconds.
        deadline_ms: u64,
    },
    /// The transport failed.
    #[error("{operation} failed: {message}")]
    Failed {
        /// Operation name.
        operation: &'static str,
        /// What the transport said.
        message: String,
    },
}

/// A call that went out: its exchange and what came of it.
#[derive(Debug, Clone)]
pub struct Called<T> {
    /// What went over the wire.
    pub exchange: Exchange,
    /// What came of it.
    pub result: Result<T, ControlError>,
}

/// A call, or [`ControlError::Unbuildable`] when its request could not be built (nothing
/// went out).
pub type Call<T> = Result<Called<T>, ControlError>;

/// A job to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Job id.
    pub id: String,
    /// Thing ARNs.
    pub targets: Vec<String>,
    /// Document text.
    pub document: String,
    /// In-progress timeout, in minutes.
    pub in_progress_timeout_minutes: Option<i64>,
    /// Retry criteria: failure type and number of retries.
    pub retry: Vec<(String, u32)>,
}

impl NewJob {
    fn input(&self) -> Value {
        let mut input =
            json!({ "jobId": self.id, "targets": self.targets, "document": self.document });
        if let Some(m) = self.in_progress_timeout_minutes {
            input["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
        }
        if !self.retry.is_empty() {
            let criteria: Vec<Value> = self
                .retry
                .iter()
                .map(|(t, n)| json!({ "failureType": t, "numberOfRetries": n }))
                .collect();
            input["jobExecutionsRetryConfig"] = json!({ "criteriaList": criteria });
        }
        input
    }
}

/// Calls the control plane over an HTTP transport, each call within one deadline.
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: HttpTransport,
    endpoint: Endpoint,
    deadline: Duration,
    rate: Option<RateLimit>,
}

impl ControlClient {
    /// A client of `endpoint` over `http`.
    pub fn new(http: HttpTransport, endpoint: Endpoint, deadline: Duration) -> Self {
        Self {
            http,
            endpoint,
            deadline,
            rate: None,
        }
    }

    /// The same client, each call waiting for a token of `rate` first (shared by clones).
    pub fn with_rate(self, rate: Option<RateLimit>) -> Self {
        Self { rate, ..self }
    }

    /// Creates thing `name`; the thingArn the target answered with, if it named one.
    pub async fn create_thing(&self, seq: u64, context: &str, name: &str) -> Call<Option<String>> {
        let input = json!({ "thingName": name });
        let Called { exchange, result } = self
            .call(ControlOperation::CreateThing, &input, seq, context)
            .await?;
        let result = result.map(|body| body["thingArn"].as_str().map(str::to_string));
        Ok(Called { exchange, result })
    }

    /// Creates `job`.
    pub async fn create_job(&self, seq: u64, context: &str, job: &NewJob) -> Call<Value> {
        self.call(ControlOperation::CreateJob, &job.input(), seq, context)
            .await
    }

    /// Creates job `id` for `targets` (thing ARNs) with the other CreateJob members of
    /// `members` as they are (a recorded CreateJob body, say).
    pub async fn create_job_with(
        &self,
        seq: u64,
        context: &str,
        id: &str,
        targets: &[String],
        members: &serde_json::Map<String, Value>,
    ) -> Call<Value> {
        let mut input = members.clone();
        input.insert("jobId".into(), json!(id));
        input.insert("targets".into(), json!(targets));
        self.call(
            ControlOperation::CreateJob,
            &Value::Object(input),
            seq,
            context,
        )
        .await
    }

    /// Sends a recorded control-plane `method` request to `path` with `body` as it is; the
    /// exchange is labelled `operation`.
    pub async fn send_raw(
        &self,
        label: Label<'_>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Exchange {
        let request = HttpRequest {
            method: method.to_string(),
            target: path.to_string(),
            body: body.map(str::to_string),
        };
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
        self.http
            .send(&self.endpoint, &request, self.deadline, label)
            .await
    }

    /// Creates thing group `name`; the thingGroupArn the target answered with, if it named one.
    pub async fn create_thing_group(
        &self,
        seq: u64,
        context: &str,
        name: &str,
    ) -> Call<Option<String>> {
        let input = json!({ "thingGroupName": name });
        let Called { exchange, result } = self
            .call(ControlOperation::CreateThingGroup, &input, seq, context)
            .await?;
        let result = result.map(|body| body["thingGroupArn"].as_str().map(str::to_string));
        Ok(Called { exchange, result })
    }

    /// Adds thing `thing` to thing group `group`, both by name.
    pub async fn add_thing_to_thing_group(
        &self,
        seq: u64,
        context: &str,
        group: &str,
        thing: &str,
    ) -> Call<Value> {
        let input = json!({ "thingGroupName": group, "thingName": thing });
        self.call(ControlOperation::AddThingToThingGroup, &input, seq, context)
            .await
    }

    /// Cancels job `id`, forcing it off devices that have it in progress when `force`.
    pub async fn cancel_job(&self, seq: u64, context: &str, id: &str, force: bool) -> Call<Value> {
        let input = json!({ "jobId": id, "force": force });
        self.call(ControlOperation::CancelJob, &input, seq, context)
            .await
    }

    /// Describes job `id`.
    pub async fn describe_job(&self, seq: u64, context: &str, id: &str) -> Call<Value> {
        let input = json!({ "jobId": id });
        self.call(ControlOperation::DescribeJob, &input, seq, context)
            .await
    }

    /// One call; a 200 answer's body (`null` when it is not JSON) or why there was none.
    async fn call(
        &self,
        operation: ControlOperation,
        input: &Value,
        seq: u64,
        context: &str,
    ) -> Call<Value> {
        let name = operation.name();
        let label = Label {
            seq,
            context,
            operation: name,
        };
        let request = operation
            .request_schema()
            .map_err(|e| e.to_string())
            .and_then(|schema| {
                let input = input.as_object().expect("control input is an object");
                bind(schema, input).map_err(|e| e.to_string())
            });
        let request = request.map_err(ControlError::Unbuildable)?;
        // Throttled calls are retried as the SDKs' standard mode does (AWS's control plane
        // keeps quotas of a few calls a second); the last answer is the call's.
        let waits = Retry::STANDARD.waits(std::iter::repeat_with(rand::random::<f64>));
        let mut waits = waits.into_iter();
        let exchange = loop {
            if let Some(rate) = &self.rate {
                rate.acquire().await;
            }
            let exchange = self
                .http
                .send(&self.endpoint, &request, self.deadline, label)
                .await;
            match waits.next() {
                Some(wait) if is_throttle(&exchange) => tokio::time::sleep(wait).await,
                _ => break exchange,
            }
        };
        Ok(Called {
            result: judge(name, &exchange.outcome),
            exchange,
        })
    }
}

/// What an outcome means for a control-plane call.
fn judge(operation: &'static str, outcome: &Outcome) -> Result<Value, ControlError> {
    match outcome {
        Outcome::Answered(r) if r.status == 200 => {
            Ok(serde_json::from_str(&r.body).unwrap_or(Value::Null))
        }
        Outcome::Answered(r) => {
            let body = serde_json::from_str::<Value>(&r.body).ok();
            let member = |names: &[&str]| {
                let body = body.as_ref()?;
                names
                    .iter()
                    .find_map(|k| body.get(k).and_then(Value::as_str).map(str::to_string))
            };
            let raw_type = r
                .header("x-amzn-errortype")
                .map(str::to_string)
                .or_else(|| member(&["__type", "code", "Code"]));
            Err(ControlError::Refused {
                operation,
                status: r.status,
                error_type: raw_type.as_deref().and_then(short_type),
                message: member(&["message", "Message"]),
                body: r.body.chars().take(BODY_IN_ERROR).collect(),
            })
        }
        Outcome::Timeout { deadline_ms } => Err(ControlError::Timeout {
            operation,
            deadline_ms: *deadline_ms,
        }),
        Outcome::Failed { message, .. } => Err(ControlError::Failed {
            operation,
            message: message.clone(),
        }),
    }
}

/// An error type without its namespace (`…#`) or its suffix (`:…`).
fn short_type(raw: &str) -> Option<String> {
    let name = raw.split(':').next()?.rsplit('#').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::{FailureClass, WireResponse};

    fn answered(status: u16, body: &str) -> Outcome {
        Outcome::Answered(WireResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
            truncated: false,
        })
    }

    #[rstest]
    #[case(answered(200, r#"{"thingArn":"a"}"#), Ok(json!({ "thingArn": "a" })))]
    #[case(answered(200, "not json"), Ok(Value::Null))]
    #[case(answered(409, "taken"), Err("CreateThing answered 409 taken"))]
    #[case(Outcome::Timeout { deadline_ms: 50 }, Err("CreateThing got no answer within 50 ms"))]
    #[case(
        Outcome::Failed { class: FailureClass::Connect, message: "refused".into() },
        Err("CreateThing failed: refused")
    )]
    fn outcomes_are_judged(#[case] outcome: Outcome, #[case] expected: Result<Value, &str>) {
        let judged = judge("CreateThing", &outcome).map_err(|e| e.to_string());
        assert_eq!(judged, expected.map_err(str::to_string));
    }

    #[rstest]
    #[case(
        Vec::new(),
        r#"{"__type":"com.amazonaws.iot#ResourceNotFoundException:http://x","message":"m"}"#,
        Some("ResourceNotFoundException"),
        Some("m")
    )]
    #[case(vec![("X-Amzn-ErrorType".to_string(), "Throttling".to_string())], r#"{"Message":"slow"}"#, Some("Throttling"), Some("slow"))]
    #[case(Vec::new(), r#"{"code":"Conflict"}"#, Some("Conflict"), None)]
    #[case(Vec::new(), "<html>", None, None)]
    fn refusals_name_their_type_and_message(
        #[case] headers: Vec<(String, String)>,
        #[case] body: &str,
        #[case] error_type: Option<&str>,
        #[case] message: Option<&str>,
    ) {
        let outcome = Outcome::Answered(WireResponse {
            status: 404,
            headers,
            body: body.into(),
            truncated: false,
        });
        let Err(ControlError::Refused {
            error_type: t,
            message: m,
            ..
        }) = judge("CreateJob", &outcome)
        else {
            panic!("not a refusal");
        };
        assert_eq!((t.as_deref(), m.as_deref()), (error_type, message));
    }

    #[test]
    fn a_refusal_keeps_the_start_of_its_body() {
        let long = "x".repeat(BODY_IN_ERROR * 2);
        let e = judge("CreateJob", &answered(400, &long)).unwrap_err();
        let ControlError::Refused { body, .. } = e else {
            panic!("{e:?}");
        };
        assert_eq!(body.len(), BODY_IN_ERROR);
    }

    #[test]
    fn jobs_carry_their_timeout_and_retries_only_when_set() {
        let mut job = NewJob {
            id: "j".into(),
            targets: vec!["arn:t".into()],
            document: "{}".into(),
            in_progress_timeout_minutes: None,
            retry: Vec::new(),
        };
        assert_eq!(
            job.input(),
            json!({ "jobId": "j", "targets": ["arn:t"], "document": "{}" })
        );
        job.in_progress_timeout_minutes = Some(3);
        job.retry = vec![("FAILED".into(), 2)];
        let input = job.input();
        assert_eq!(input["timeoutConfig"]["inProgressTimeoutInMinutes"], 3);
        assert_eq!(
            input["jobExecutionsRetryConfig"]["criteriaList"],
            json!([{ "failureType": "FAILED", "numberOfRetries": 2 }])
        );
    }
}
