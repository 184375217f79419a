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

mod common;

use common::{call, create_job, create_thing, encode, server};
use jobcert_contract::{NEXT_EXECUTION, execution_model, schemas};
use jobcert_reference::RunningServer;
use percent_encoding::percent_decode_str;
use rstest::rstest;
use serde_json::{Map, Value, json};

use Expect::{Accepted, Conflict, Invalid, NotFound};

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

// ---------------------------------------------------------------------------------------------
// The shapes behind the tables.

/// Each member tested below takes its constraint from the `common.json` shape its table reads.
#[rstest]
#[case::start_next_thing_name("start-next-pending-job-execution", "thingName", THING_NAME)]
#[case::update_thing_name("update-job-execution", "thingName", THING_NAME)]
#[case::describe_thing_name("describe-job-execution", "thingName", THING_NAME)]
#[case::get_pending_thing_name("get-pending-job-executions", "thingName", THING_NAME)]
#[case::update_job_id("update-job-execution", "jobId", JOB_ID)]
#[case::describe_job_id("describe-job-execution", "jobId", DESCRIBE_JOB_ID)]
#[case::start_next_details("start-next-pending-job-execution", "statusDetails", "DetailsMap")]
#[case::update_details("update-job-execution", "statusDetails", "DetailsMap")]
#[case::start_next_step_timeout(
    "start-next-pending-job-execution",
    "stepTimeoutInMinutes",
    STEP_TIMEOUT
)]
#[case::update_step_timeout(
    "update-job-execution",
    "stepTimeoutInMinutes",
    "UpdateStepTimeoutInMinutes"
)]
#[case::update_status("update-job-execution", "status", "JobExecutionStatus")]
#[case::update_expected_version("update-job-execution", "expectedVersion", LONG)]
#[case::update_execution_number("update-job-execution", "executionNumber", LONG)]
#[case::describe_execution_number("describe-job-execution", "executionNumber", LONG)]
#[case::start_next_namespace("start-next-pending-job-execution", "namespaceId", "NamespaceId")]
#[case::update_namespace("update-job-execution", "namespaceId", "NamespaceId")]
#[case::describe_namespace("describe-job-execution", "namespaceId", "NamespaceId")]
#[case::get_pending_namespace("get-pending-job-executions", "namespaceId", "NamespaceId")]
fn member_shape(#[case] operation: &str, #[case] member: &str, #[case] shape_name: &str) {
    let path = format!("http/{operation}.request.json");
    let schema = schemas().get(&path).expect("request schema is compiled");
    let reference = &schema.document()["properties"][member]["$ref"];
    assert_eq!(
        reference,
        &format!("../common.json#/$defs/{shape_name}"),
        "{path} {member}"
    );
}

/// statusDetails keys and values, and Update's cancel value, come from the shapes the tables
/// read.
#[test]
fn composite_shapes() {
    let map = shape("DetailsMap");
    assert_eq!(
        map["propertyNames"]["$ref"],
        format!("#/$defs/{DETAILS_KEY}")
    );
    assert_eq!(
        map["additionalProperties"]["$ref"],
        format!("#/$defs/{DETAILS_VALUE}")
    );
    let update = shape("UpdateStepTimeoutInMinutes")["anyOf"]
        .as_array()
        .expect("anyOf");
    assert!(update.contains(&json!({ "$ref": format!("#/$defs/{STEP_TIMEOUT}") })));
    assert!(update.iter().any(|s| s["const"] == cancel_step_timeout()));
}

// ---------------------------------------------------------------------------------------------
// Path labels.

/// thingName on all four operations. `wire` is the label as sent; a valid name is created first.
#[rstest]
#[case::one_char("a", Accepted)]
#[case::max_length(text(max_len(THING_NAME)), Accepted)]
#[case::max_length_all_encoded(encode(&":".repeat(max_len(THING_NAME))), Accepted)]
#[case::colon_encoded("a%3Ab", Accepted)]
#[case::colon_literal("a:b", Accepted)]
#[case::underscore_and_hyphen("a_b-c", Accepted)]
#[case::empty("", Invalid("thingName"))]
#[case::over_max_length(text(max_len(THING_NAME) + 1), Invalid("thingName"))]
#[case::space("a%20b", Invalid("thingName"))]
#[case::slash_encoded("a%2Fb", Invalid("thingName"))]
#[case::plus("a+b", Invalid("thingName"))]
#[case::hash_encoded("a%23b", Invalid("thingName"))]
#[case::dollar("a$b", Invalid("thingName"))]
#[case::dot("a.b", Invalid("thingName"))]
#[case::non_ascii_letter(encode("aé"), Invalid("thingName"))]
#[case::nul("a%00b", Invalid("thingName"))]
#[case::trailing_newline("ab%0A", Invalid("thingName"))]
#[tokio::test]
async fn thing_name(
    #[case] wire: String,
    #[case] expect: Expect,
    #[values(Op::StartNext, Op::Update, Op::Describe, Op::GetPending)] op: Op,
) {
    let fixture = match expect {
        Accepted => Fixture::with(&decode(&wire), JOB).await,
        _ => Fixture::new().await,
    };
    let body = fixture.check(&Request::new(op).thing(&wire), expect).await;
    if expect == Accepted {
        fixture.assert_served(op, &body).await;
    }
}

/// jobId of UpdateJobExecution (a JobId: `$next` is not one). A valid id is created first.
#[rstest]
#[case::one_char("j", Accepted)]
#[case::max_length(text(max_len(JOB_ID)), Accepted)]
#[case::underscore_and_hyphen("a_b-c", Accepted)]
#[case::empty("", Invalid("jobId"))]
#[case::over_max_length(text(max_len(JOB_ID) + 1), Invalid("jobId"))]
#[case::next_literal("$next", Invalid("jobId"))]
#[case::next_encoded("%24next", Invalid("jobId"))]
#[case::space("a%20b", Invalid("jobId"))]
#[case::dot("a.b", Invalid("jobId"))]
#[case::colon("a%3Ab", Invalid("jobId"))]
#[case::non_ascii_letter(encode("aé"), Invalid("jobId"))]
#[tokio::test]
async fn update_job_id(#[case] wire: String, #[case] expect: Expect) {
    let fixture = match expect {
        Accepted => Fixture::with(THING, &decode(&wire)).await,
        _ => Fixture::new().await,
    };
    let body = fixture
        .check(&Request::new(Op::Update).job(&wire), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(Op::Update, &body).await;
    }
}

/// jobId of DescribeJobExecution: a job id without length limit, or `$next` (literal or encoded).
/// A valid id other than `$next` is created first when it fits CreateJob's JobId.
#[rstest]
#[case::next_literal(NEXT_EXECUTION.to_string(), Accepted)]
#[case::next_encoded(encode(NEXT_EXECUTION), Accepted)]
#[case::one_char("j", Accepted)]
#[case::job_id_max_length(text(max_len(JOB_ID)), Accepted)]
#[case::beyond_job_id_max_length(text(max_len(JOB_ID) + 1), NotFound)]
#[case::empty("", Invalid("jobId"))]
#[case::next_with_suffix("$nextx", Invalid("jobId"))]
#[case::next_with_prefix("x$next", Invalid("jobId"))]
#[case::next_upper_case("$NEXT", Invalid("jobId"))]
#[case::space("a%20b", Invalid("jobId"))]
#[case::dot("a.b", Invalid("jobId"))]
#[case::colon("a%3Ab", Invalid("jobId"))]
#[case::non_ascii_letter(encode("aé"), Invalid("jobId"))]
#[tokio::test]
async fn describe_job_id(#[case] wire: String, #[case] expect: Expect) {
    assert!(
        shape(DESCRIBE_JOB_ID).get("maxLength").is_none(),
        "the contract now limits Describe's jobId; revisit beyond_job_id_max_length"
    );
    let id = decode(&wire);
    let fixture = match expect {
        Accepted if id != NEXT_EXECUTION => Fixture::with(THING, &id).await,
        _ => Fixture::new().await,
    };
    let body = fixture
        .check(&Request::new(Op::Describe).job(&wire), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(Op::Describe, &body).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings.

/// namespaceId, accepted (and ignored) by every operation that declares it.
#[rstest]
#[case::valid("ns_1-a", Accepted)]
#[case::empty("", Invalid("namespaceId"))]
#[case::space_encoded("bad%20ns", Invalid("namespaceId"))]
#[case::space_as_plus("bad+ns", Invalid("namespaceId"))]
#[case::dot("ns.x", Invalid("namespaceId"))]
#[case::colon("ns%3Ax", Invalid("namespaceId"))]
#[tokio::test]
async fn namespace_id(
    #[case] wire: &str,
    #[case] expect: Expect,
    #[values(Op::StartNext, Op::Update, Op::Describe, Op::GetPending)] op: Op,
) {
    let fixture = Fixture::new().await;
    let request = Request::new(op).query(&format!("namespaceId={wire}"));
    let body = fixture.check(&request, expect).await;
    if expect == Accepted {
        fixture.assert_served(op, &body).await;
    }
}

/// DescribeJobExecution's typed query members: includeJobDocument (boolean) and
/// executionNumber (long).
#[rstest]
#[case::include_document_true("includeJobDocument=true", Accepted)]
#[case::include_document_false("includeJobDocument=false", Accepted)]
#[case::include_document_word("includeJobDocument=maybe", Invalid("includeJobDocument"))]
#[case::include_document_capitalised("includeJobDocument=True", Invalid("includeJobDocument"))]
#[case::include_document_empty("includeJobDocument=", Invalid("includeJobDocument"))]
#[case::execution_number_one("executionNumber=1", Accepted)]
#[case::execution_number_long_max(format!("executionNumber={}", maximum(LONG)), NotFound)]
#[case::execution_number_beyond_long_max(
    format!("executionNumber={}", i128::from(maximum(LONG)) + 1),
    Invalid("executionNumber")
)]
#[case::execution_number_long_min(format!("executionNumber={}", minimum(LONG)), NotFound)]
#[case::execution_number_below_long_min(
    format!("executionNumber={}", i128::from(minimum(LONG)) - 1),
    Invalid("executionNumber")
)]
#[case::execution_number_word("executionNumber=abc", Invalid("executionNumber"))]
#[case::execution_number_fraction("executionNumber=1.5", Invalid("executionNumber"))]
#[case::execution_number_empty("executionNumber=", Invalid("executionNumber"))]
#[tokio::test]
async fn describe_query(#[case] query: String, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let body = fixture
        .check(&Request::new(Op::Describe).query(&query), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(Op::Describe, &body).await;
        let document = &body["execution"]["jobDocument"];
        assert_eq!(
            document.is_string(),
            query != "includeJobDocument=false",
            "{body}"
        );
        assert_eq!(body["execution"]["executionNumber"], 1, "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies.

/// statusDetails of StartNext and Update: key and value lengths and characters, and types.
/// An accepted map is stored as sent.
#[rstest]
#[case::empty_map(json!({}), Accepted)]
#[case::one_char_key_and_value(details("k", "v"), Accepted)]
#[case::key_max_length(details(text(max_len(DETAILS_KEY)), "v"), Accepted)]
#[case::key_punctuation(details("a:b_c-d", "v"), Accepted)]
#[case::value_max_length(details("k", text(max_len(DETAILS_VALUE))), Accepted)]
#[case::value_max_length_two_byte(details("k", "é".repeat(max_len(DETAILS_VALUE))), Accepted)]
#[case::value_max_length_astral(details("k", "😀".repeat(max_len(DETAILS_VALUE))), Accepted)]
#[case::value_with_space_and_symbols(details("k", "50% done: ok/é"), Accepted)]
#[case::many_pairs(
    Value::Object((0..100).map(|i| (format!("k{i}"), json!("v"))).collect()),
    Accepted
)]
#[case::key_empty(details("", "v"), Invalid("statusDetails"))]
#[case::key_over_max_length(details(text(max_len(DETAILS_KEY) + 1), "v"), Invalid("statusDetails"))]
#[case::key_space(details("a b", "v"), Invalid("statusDetails"))]
#[case::key_dot(details("a.b", "v"), Invalid("statusDetails"))]
#[case::key_slash(details("a/b", "v"), Invalid("statusDetails"))]
#[case::key_non_ascii_letter(details("aé", "v"), Invalid("statusDetails"))]
#[case::value_empty(details("k", ""), Invalid("statusDetails"))]
#[case::value_over_max_length(details("k", text(max_len(DETAILS_VALUE) + 1)), Invalid("statusDetails"))]
#[case::value_over_max_length_two_byte(
    details("k", "é".repeat(max_len(DETAILS_VALUE) + 1)),
    Invalid("statusDetails")
)]
#[case::value_cc_nul(details("k", "a\u{0}b"), Invalid("statusDetails"))]
#[case::value_cc_newline(details("k", "a\nb"), Invalid("statusDetails"))]
#[case::value_cc_trailing_newline(details("k", "ab\n"), Invalid("statusDetails"))]
#[case::value_cc_delete(details("k", "a\u{7f}b"), Invalid("statusDetails"))]
#[case::value_cc_c1_control(details("k", "a\u{85}b"), Invalid("statusDetails"))]
#[case::value_cf_zero_width_space(details("k", "a\u{200b}b"), Invalid("statusDetails"))]
#[case::value_co_private_use(details("k", "a\u{e000}b"), Invalid("statusDetails"))]
#[case::value_cn_unassigned(details("k", "a\u{378}b"), Invalid("statusDetails"))]
#[case::not_an_object_string(json!("k=v"), Invalid("statusDetails"))]
#[case::not_an_object_array(json!([["k", "v"]]), Invalid("statusDetails"))]
#[case::not_an_object_null(Value::Null, Invalid("statusDetails"))]
#[case::value_number(details("k", 1), Invalid("statusDetails"))]
#[case::value_boolean(details("k", true), Invalid("statusDetails"))]
#[case::value_null(details("k", Value::Null), Invalid("statusDetails"))]
#[case::value_object(details("k", json!({ "a": "b" })), Invalid("statusDetails"))]
#[tokio::test]
async fn status_details(
    #[case] map: Value,
    #[case] expect: Expect,
    #[values(Op::StartNext, Op::Update)] op: Op,
) {
    let fixture = Fixture::new().await;
    let mut body = op.default_body().expect("the operation has a body");
    body["statusDetails"] = map.clone();
    fixture.check(&Request::new(op).body(&body), expect).await;
    if expect == Accepted {
        let stored = fixture.execution().await["statusDetails"].clone();
        let empty = map.as_object().is_some_and(Map::is_empty);
        let expected = if empty { Value::Null } else { map };
        assert_eq!(stored, expected);
    }
}

/// stepTimeoutInMinutes of StartNext: 1..=10080 minutes, and not the cancel value.
#[rstest]
#[case::minimum(json!(minimum(STEP_TIMEOUT)), Accepted)]
#[case::maximum(json!(maximum(STEP_TIMEOUT)), Accepted)]
#[case::below_minimum(json!(minimum(STEP_TIMEOUT) - 1), Invalid("stepTimeoutInMinutes"))]
#[case::above_maximum(json!(maximum(STEP_TIMEOUT) + 1), Invalid("stepTimeoutInMinutes"))]
#[case::cancel_value(json!(cancel_step_timeout()), Invalid("stepTimeoutInMinutes"))]
#[case::integral_float(json!(5.0), Accepted)]
#[case::string(json!("5"), Invalid("stepTimeoutInMinutes"))]
#[case::fraction(json!(1.5), Invalid("stepTimeoutInMinutes"))]
#[case::boolean(json!(true), Invalid("stepTimeoutInMinutes"))]
#[case::null(Value::Null, Invalid("stepTimeoutInMinutes"))]
#[tokio::test]
async fn start_next_step_timeout(#[case] minutes: Value, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let request = Request::new(Op::StartNext).body(&json!({ "stepTimeoutInMinutes": minutes }));
    let body = fixture.check(&request, expect).await;
    if expect == Accepted {
        fixture.assert_served(Op::StartNext, &body).await;
        let whole_minutes = minutes.as_f64().map(|m| m as i64);
        fixture.assert_countdown(whole_minutes).await;
    }
}

/// The execution an Update step-timeout case starts from.
#[derive(Debug, Clone, Copy)]
enum Seed {
    /// QUEUED.
    Queued,
    /// IN_PROGRESS without a step timer.
    Started,
    /// IN_PROGRESS with a step timer of the maximum length.
    StepTimerRunning,
}

impl Seed {
    async fn fixture(self) -> Fixture {
        match self {
            Seed::Queued => Fixture::new().await,
            Seed::Started => Fixture::started(&json!({})).await,
            Seed::StepTimerRunning => {
                Fixture::started(&json!({ "stepTimeoutInMinutes": maximum(STEP_TIMEOUT) })).await
            }
        }
    }
}

/// stepTimeoutInMinutes of Update (to IN_PROGRESS): 1..=10080 minutes, or the cancel value while
/// a step timer runs.
#[rstest]
#[case::cancel_with_timer_running(Seed::StepTimerRunning, cancel_step_timeout(), Accepted)]
#[case::cancel_while_queued(Seed::Queued, cancel_step_timeout(), Invalid("stepTimeoutInMinutes"))]
#[case::cancel_without_timer(Seed::Started, cancel_step_timeout(), Invalid("stepTimeoutInMinutes"))]
#[case::minimum_while_queued(Seed::Queued, minimum(STEP_TIMEOUT), Accepted)]
#[case::minimum_replacing_timer(Seed::StepTimerRunning, minimum(STEP_TIMEOUT), Accepted)]
#[case::maximum(Seed::Started, maximum(STEP_TIMEOUT), Accepted)]
#[case::below_minimum(Seed::Started, minimum(STEP_TIMEOUT) - 1, Invalid("stepTimeoutInMinutes"))]
#[case::above_maximum(Seed::Started, maximum(STEP_TIMEOUT) + 1, Invalid("stepTimeoutInMinutes"))]
#[case::below_cancel(Seed::StepTimerRunning, cancel_step_timeout() - 1, Invalid("stepTimeoutInMinutes"))]
#[tokio::test]
async fn update_step_timeout(#[case] seed: Seed, #[case] minutes: i64, #[case] expect: Expect) {
    let fixture = seed.fixture().await;
    let body = json!({ "status": "IN_PROGRESS", "stepTimeoutInMinutes": minutes });
    fixture
        .check(&Request::new(Op::Update).body(&body), expect)
        .await;
    if expect == Accepted {
        let running = (minutes != cancel_step_timeout()).then_some(minutes);
        fixture.assert_countdown(running).await;
    }
}

/// Update's other body members: status (required, device-settable values only),
/// expectedVersion and executionNumber (longs), and the two include flags (booleans).
#[rstest]
#[case::status_in_progress(json!({ "status": "IN_PROGRESS" }), Accepted)]
#[case::status_succeeded(json!({ "status": "SUCCEEDED" }), Accepted)]
#[case::status_failed(json!({ "status": "FAILED" }), Accepted)]
#[case::status_rejected(json!({ "status": "REJECTED" }), Accepted)]
#[case::status_missing(json!({}), Invalid("status"))]
#[case::status_unknown(json!({ "status": "FOO" }), Invalid("status"))]
#[case::status_lower_case(json!({ "status": "succeeded" }), Invalid("status"))]
#[case::status_number(json!({ "status": 1 }), Invalid("status"))]
#[case::status_null(json!({ "status": null }), Invalid("status"))]
#[case::status_queued(json!({ "status": "QUEUED" }), Invalid("status"))]
#[case::status_timed_out(json!({ "status": "TIMED_OUT" }), Invalid("status"))]
#[case::status_removed(json!({ "status": "REMOVED" }), Invalid("status"))]
#[case::status_canceled(json!({ "status": "CANCELED" }), Invalid("status"))]
#[case::expected_version_current(
    json!({ "status": "IN_PROGRESS", "expectedVersion": execution_model().initial_version_number }),
    Accepted
)]
#[case::expected_version_long_max(
    json!({ "status": "IN_PROGRESS", "expectedVersion": maximum(LONG) }),
    Conflict
)]
#[case::expected_version_long_min(
    json!({ "status": "IN_PROGRESS", "expectedVersion": minimum(LONG) }),
    Conflict
)]
#[case::expected_version_beyond_long_max(
    json!({ "status": "IN_PROGRESS", "expectedVersion": maximum(LONG).unsigned_abs() + 1 }),
    Invalid("expectedVersion")
)]
#[case::expected_version_string(
    json!({ "status": "IN_PROGRESS", "expectedVersion": "1" }),
    Invalid("expectedVersion")
)]
#[case::expected_version_fraction(
    json!({ "status": "IN_PROGRESS", "expectedVersion": 1.5 }),
    Invalid("expectedVersion")
)]
#[case::execution_number_current(json!({ "status": "IN_PROGRESS", "executionNumber": 1 }), Accepted)]
#[case::execution_number_long_max(
    json!({ "status": "IN_PROGRESS", "executionNumber": maximum(LONG) }),
    NotFound
)]
#[case::execution_number_beyond_long_max(
    json!({ "status": "IN_PROGRESS", "executionNumber": maximum(LONG).unsigned_abs() + 1 }),
    Invalid("executionNumber")
)]
#[case::execution_number_string(
    json!({ "status": "IN_PROGRESS", "executionNumber": "abc" }),
    Invalid("executionNumber")
)]
#[case::execution_number_fraction(
    json!({ "status": "IN_PROGRESS", "executionNumber": 1.5 }),
    Invalid("executionNumber")
)]
#[case::include_state_true(
    json!({ "status": "IN_PROGRESS", "includeJobExecutionState": true }),
    Accepted
)]
#[case::include_state_string(
    json!({ "status": "IN_PROGRESS", "includeJobExecutionState": "true" }),
    Invalid("includeJobExecutionState")
)]
#[case::include_document_true(json!({ "status": "IN_PROGRESS", "includeJobDocument": true }), Accepted)]
#[case::include_document_string(
    json!({ "status": "IN_PROGRESS", "includeJobDocument": "true" }),
    Invalid("includeJobDocument")
)]
#[tokio::test]
async fn update_body(#[case] body: Value, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let response = fixture
        .check(&Request::new(Op::Update).body(&body), expect)
        .await;
    if expect == Accepted {
        let execution = fixture.execution().await;
        assert_eq!(execution["status"], body["status"]);
        let state = &response["executionState"];
        assert_eq!(
            state.is_object(),
            body["includeJobExecutionState"] == true,
            "{response}"
        );
        if state.is_object() {
            assert_eq!(state["status"], body["status"]);
            assert_eq!(state["versionNumber"], execution["versionNumber"]);
        }
        let document = &response["jobDocument"];
        assert_eq!(
            document.is_string(),
            body["includeJobDocument"] == true,
            "{response}"
        );
    }
}

/// Whole request bodies of StartNext and Update: what is not a JSON object is refused, an empty
/// body reads as `{}`, and unknown or path-bound members are ignored.
#[rstest]
#[case::start_next_empty(Op::StartNext, "", Accepted)]
#[case::start_next_whitespace(Op::StartNext, " \n", Accepted)]
#[case::start_next_unknown_member(Op::StartNext, r#"{"foo":1}"#, Accepted)]
#[case::start_next_path_member(Op::StartNext, r#"{"thingName":"other"}"#, Accepted)]
#[case::start_next_malformed(Op::StartNext, "{", Invalid("body"))]
#[case::start_next_array(Op::StartNext, "[]", Invalid("body"))]
#[case::start_next_string(Op::StartNext, r#""{}""#, Invalid("body"))]
#[case::start_next_null(Op::StartNext, "null", Invalid("body"))]
#[case::start_next_lone_surrogate(
    Op::StartNext,
    r#"{"statusDetails":{"k":"\ud800"}}"#,
    Invalid("body")
)]
#[case::update_empty(Op::Update, "", Invalid("status"))]
#[case::update_whitespace(Op::Update, " \n", Invalid("status"))]
#[case::update_unknown_member(Op::Update, r#"{"status":"IN_PROGRESS","foo":1}"#, Accepted)]
#[case::update_path_member(Op::Update, r#"{"status":"IN_PROGRESS","jobId":"other"}"#, Accepted)]
#[case::update_malformed(Op::Update, r#"{"status":"IN_PROGRESS""#, Invalid("body"))]
#[case::update_array(Op::Update, r#"[{"status":"IN_PROGRESS"}]"#, Invalid("body"))]
#[case::update_string(Op::Update, r#""IN_PROGRESS""#, Invalid("body"))]
#[case::update_null(Op::Update, "null", Invalid("body"))]
#[case::update_expected_version_below_long_min(
    Op::Update,
    format!(
        r#"{{"status":"IN_PROGRESS","expectedVersion":{}}}"#,
        i128::from(minimum(LONG)) - 1
    ),
    Invalid("expectedVersion")
)]
#[tokio::test]
async fn raw_body(#[case] op: Op, #[case] raw: String, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let body = fixture
        .check(&Request::new(op).raw_body(&raw), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(op, &body).await;
    }
}
