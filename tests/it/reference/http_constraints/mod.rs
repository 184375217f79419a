//! Every input constraint of the four data-plane operations, at its boundaries, over real HTTP
//! against the reference server.
//!
//! Each case states one exact outcome: HTTP 200, HTTP 400 `InvalidRequestException` whose
//! message names the offending field, or — for values the schema admits but that select nothing —
//! the modelled 404/409. Every refused request is also checked to have left the seeded execution
//! exactly as it was.
//!
//! Boundary values are derived from `schemas/common.json` (and the cancel value of the step timer
//! from `schemas/execution-model.json`), so the tables follow the contract rather than restate it.

use crate::common::{call, create_job, create_thing, encode, server};
use jobcert_contract::{NEXT_EXECUTION, execution_model, schemas};
use jobcert_reference::RunningServer;
use percent_encoding::percent_decode_str;
use rstest::rstest;
use serde_json::{Map, Value, json};

use Expect::{Accepted, Conflict, Invalid, NotFound};

mod bodies;
mod requests;

// ---------------------------------------------------------------------------------------------
// The contract, read from the schema documents.

/// `$defs` names of `schemas/common.json` used below.
const THING_NAME: &str = "ThingName";
const JOB_ID: &str = "JobId";
const DESCRIBE_JOB_ID: &str = "DescribeJobId";
const DETAILS_KEY: &str = "DetailsKey";
const DETAILS_VALUE: &str = "DetailsValue";
const STEP_TIMEOUT: &str = "StepTimeoutInMinutes";
const LONG: &str = "Long";

/// A shape of `schemas/common.json` by its `$defs` name.
fn shape(name: &str) -> &'static Value {
    let document = schemas()
        .get("common.json")
        .expect("schemas/common.json is compiled")
        .document();
    let shape = &document["$defs"][name];
    assert!(shape.is_object(), "schemas/common.json has no $defs/{name}");
    shape
}

/// An integer keyword (`maxLength`, `minimum`, ...) of a shape.
fn keyword(name: &str, keyword: &str) -> i64 {
    shape(name)[keyword]
        .as_i64()
        .unwrap_or_else(|| panic!("$defs/{name} has no integer {keyword}"))
}

/// `maxLength` of a string shape.
fn max_len(name: &str) -> usize {
    usize::try_from(keyword(name, "maxLength")).expect("maxLength is non-negative")
}

/// `minimum` of an integer shape.
fn minimum(name: &str) -> i64 {
    keyword(name, "minimum")
}

/// `maximum` of an integer shape.
fn maximum(name: &str) -> i64 {
    keyword(name, "maximum")
}

/// The stepTimeoutInMinutes value that cancels a running step timer (UpdateJobExecution only).
fn cancel_step_timeout() -> i64 {
    execution_model().timers.cancel_step_timeout
}

/// A string of `len` ASCII letters.
fn text(len: usize) -> String {
    "a".repeat(len)
}

/// A one-entry statusDetails map.
fn details(key: impl Into<String>, value: impl Into<Value>) -> Value {
    let mut map = Map::new();
    map.insert(key.into(), value.into());
    Value::Object(map)
}

/// Decodes a wire-form path label or query value.
fn decode(wire: &str) -> String {
    percent_decode_str(wire)
        .decode_utf8()
        .expect("test labels decode to UTF-8")
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// Requests and outcomes.

/// The thing and job every fixture seeds unless a case names its own.
const THING: &str = "thing-1";
const JOB: &str = "job-1";

/// The four data-plane operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StartNext,
    Update,
    Describe,
    GetPending,
}

impl Op {
    fn method(self) -> &'static str {
        match self {
            Op::StartNext => "PUT",
            Op::Update => "POST",
            Op::Describe | Op::GetPending => "GET",
        }
    }

    /// The request path for wire-form (already percent-encoded) labels.
    fn path(self, thing: &str, job: &str) -> String {
        match self {
            Op::StartNext => format!("/things/{thing}/jobs/$next"),
            Op::Update | Op::Describe => format!("/things/{thing}/jobs/{job}"),
            Op::GetPending => format!("/things/{thing}/jobs"),
        }
    }

    /// The smallest valid body: `{}` for StartNext, a move to IN_PROGRESS for Update.
    fn default_body(self) -> Option<Value> {
        match self {
            Op::StartNext => Some(json!({})),
            Op::Update => Some(json!({ "status": "IN_PROGRESS" })),
            Op::Describe | Op::GetPending => None,
        }
    }
}

/// One data-plane request, its path labels and query string in wire form.
#[derive(Debug, Clone)]
struct Request {
    op: Op,
    thing: String,
    job: String,
    query: String,
    body: Option<String>,
}

impl Request {
    /// `op` on the default thing and job with the operation's default body.
    fn new(op: Op) -> Self {
        Self {
            op,
            thing: encode(THING),
            job: encode(JOB),
            query: String::new(),
            body: op.default_body().map(|b| b.to_string()),
        }
    }

    /// Sets the thingName label, in wire form.
    fn thing(mut self, wire: &str) -> Self {
        self.thing = wire.to_string();
        self
    }

    /// Sets the jobId label, in wire form.
    fn job(mut self, wire: &str) -> Self {
        self.job = wire.to_string();
        self
    }

    /// Sets the query string (without `?`), in wire form.
    fn query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    /// Sets the body to `body` serialised.
    fn body(self, body: &Value) -> Self {
        self.raw_body(&body.to_string())
    }

    /// Sets the body to exactly `raw`.
    fn raw_body(mut self, raw: &str) -> Self {
        self.body = Some(raw.to_string());
        self
    }

    fn path_and_query(&self) -> String {
        let path = self.op.path(&self.thing, &self.job);
        if self.query.is_empty() {
            path
        } else {
            format!("{path}?{}", self.query)
        }
    }
}

/// The exact outcome a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// HTTP 200.
    Accepted,
    /// HTTP 400 `InvalidRequestException` whose message contains this text (the field name).
    Invalid(&'static str),
    /// HTTP 404 `ResourceNotFoundException`: a valid request that selects no execution.
    NotFound,
    /// HTTP 409 `InvalidStateTransitionException`: a valid request the execution refuses.
    Conflict,
}

impl Expect {
    /// HTTP status and `x-amzn-errortype` of the outcome.
    fn wire(self) -> (u16, Option<&'static str>) {
        match self {
            Accepted => (200, None),
            Invalid(_) => (400, Some("InvalidRequestException")),
            NotFound => (404, Some("ResourceNotFoundException")),
            Conflict => (409, Some("InvalidStateTransitionException")),
        }
    }
}

/// A reference server with one thing and a QUEUED execution of one job on it.
struct Fixture {
    server: RunningServer,
    thing: String,
    job: String,
}

impl Fixture {
    /// The default thing and job.
    async fn new() -> Self {
        Self::with(THING, JOB).await
    }

    /// `thing` with a QUEUED execution of `job`.
    async fn with(thing: &str, job: &str) -> Self {
        let server = server(1.0).await;
        create_thing(&server, thing).await;
        create_job(&server, job, &[thing], json!({})).await;
        let fixture = Self {
            server,
            thing: thing.to_string(),
            job: job.to_string(),
        };
        let summary = &fixture.pending().await["queuedJobs"][0];
        assert_eq!(summary["jobId"], job);
        assert_eq!(
            summary["versionNumber"],
            execution_model().initial_version_number
        );
        fixture
    }

    /// The default thing and job, with the execution started by StartNext with `body`.
    async fn started(body: &Value) -> Self {
        let fixture = Self::new().await;
        let r = fixture.send(&Request::new(Op::StartNext).body(body)).await;
        assert_eq!(r.0, 200, "seeding StartNext: {}", r.2);
        fixture
    }

    /// Sends `request`: status, error type header and JSON body.
    async fn send(&self, request: &Request) -> (u16, Option<String>, Value) {
        call(
            &self.server,
            request.op.method(),
            &request.path_and_query(),
            request.body.as_deref(),
        )
        .await
    }

    /// GetPendingJobExecutions of the fixture's thing.
    async fn pending(&self) -> Value {
        let r = self
            .send(&Request::new(Op::GetPending).thing(&encode(&self.thing)))
            .await;
        assert_eq!(r.0, 200, "GetPendingJobExecutions: {}", r.2);
        r.2
    }

    /// DescribeJobExecution of the fixture's execution.
    async fn execution(&self) -> Value {
        let request = Request::new(Op::Describe)
            .thing(&encode(&self.thing))
            .job(&encode(&self.job));
        let r = self.send(&request).await;
        assert_eq!(r.0, 200, "DescribeJobExecution: {}", r.2);
        r.2["execution"].clone()
    }

    /// Everything a request could change: the pending list and the execution, without the
    /// countdown (which moves by itself).
    async fn snapshot(&self) -> Value {
        let mut execution = self.execution().await;
        if let Some(e) = execution.as_object_mut() {
            e.remove("approximateSecondsBeforeTimedOut");
        }
        json!({ "pending": self.pending().await, "execution": execution })
    }

    /// Sends `request`, checks the outcome is exactly `expect`, and for a refusal checks that
    /// nothing changed. Returns the response body.
    async fn check(&self, request: &Request, expect: Expect) -> Value {
        let before = self.snapshot().await;
        let (status, error_type, body) = self.send(request).await;
        let what = format!("{request:?} answered {status} {error_type:?} {body}");
        assert_eq!((status, error_type.as_deref()), expect.wire(), "{what}");
        if expect == Accepted {
            return body;
        }
        assert_eq!(
            body["__type"],
            expect.wire().1.unwrap_or_default(),
            "{what}"
        );
        let message = body["message"].as_str().unwrap_or_default();
        if let Invalid(field) = expect {
            assert!(
                message.contains(field),
                "message should name {field}: {what}"
            );
        }
        assert_eq!(self.snapshot().await, before, "state changed after {what}");
        body
    }

    /// Checks a 200 body of `op`, sent with its default body, acted on the fixture's execution.
    async fn assert_served(&self, op: Op, body: &Value) {
        match op {
            Op::StartNext | Op::Describe => {
                let execution = &body["execution"];
                assert_eq!(execution["thingName"], self.thing.as_str(), "{body}");
                assert_eq!(execution["jobId"], self.job.as_str(), "{body}");
                let status = if op == Op::StartNext {
                    "IN_PROGRESS"
                } else {
                    "QUEUED"
                };
                assert_eq!(execution["status"], status, "{body}");
            }
            Op::Update => {
                assert_eq!(body, &json!({}));
                assert_eq!(self.execution().await["status"], "IN_PROGRESS");
            }
            Op::GetPending => {
                assert_eq!(body["queuedJobs"][0]["jobId"], self.job.as_str(), "{body}");
            }
        }
    }

    /// The execution's step countdown is running and close to `minutes`, or absent for `None`.
    async fn assert_countdown(&self, minutes: Option<i64>) {
        let left = self.execution().await["approximateSecondsBeforeTimedOut"].as_i64();
        match minutes {
            None => assert_eq!(left, None),
            Some(m) => {
                let left = left.expect("a running step timer");
                assert!(
                    (m * 60 - 10..=m * 60).contains(&left),
                    "{left}s left of {m} min"
                );
            }
        }
    }
}
