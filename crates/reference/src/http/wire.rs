//! The REST-JSON wire format shared by the data plane and the control plane: reading a request
//! into one input object checked against its schema, and writing responses and errors the way
//! the AWS SDKs read them (spec §2.2–§2.4).

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::admission::{Gate, Refusal};
use crate::engine::{EngineError, StateView};
use jobcert_contract::{ErrorKind, Plane, Schema, SchemaError, error_status};

/// Largest request body read; anything longer is refused before parsing.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Header carrying the error type.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";
/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// An error response: the modelled type, a message, and the execution state where it applies.
#[derive(Debug, Clone)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    execution_state: Option<StateView>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            execution_state: None,
        }
    }

    /// Its error type.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// An InvalidRequestException.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }
}

/// A schema that does not load is a fault of the server, not of the request.
impl From<SchemaError> for ApiError {
    fn from(e: SchemaError) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        Self {
            kind: e.kind(),
            execution_state: e.execution_state().cloned(),
            message: e.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "__type")]
    type_name: &'a str,
    #[serde(rename = "executionState", skip_serializing_if = "Option::is_none")]
    execution_state: Option<&'a StateView>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let type_name = self.kind.type_name();
        let body = ErrorBody {
            message: &self.message,
            type_name,
            execution_state: self.execution_state.as_ref(),
        };
        let status =
            StatusCode::from_u16(error_status(self.kind)).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = json_response(status, &body);
        response
            .headers_mut()
            .insert(ERROR_TYPE_HEADER, HeaderValue::from_static(type_name));
        response
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 JSON response.
pub fn ok(body: &impl Serialize) -> Response {
    json_response(StatusCode::OK, body)
}

/// Splits a raw request path into percent-decoded segments; `/a/b%3Ac/` is `["a", "b:c", ""]`.
/// Splitting happens before decoding, so an encoded `/` stays inside its segment.
pub fn path_segments(raw_path: &str) -> Result<Vec<String>, ApiError> {
    raw_path
        .strip_prefix('/')
        .unwrap_or(raw_path)
        .split('/')
        .map(|segment| {
            percent_decode_str(segment)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "path segment {segment:?} is not UTF-8 once percent-decoded"
                    ))
                })
        })
        .collect()
}

/// Reads the body as a JSON object: empty means `{}`.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::invalid(format!(
            "the request body must be a JSON object, not {}",
            json_type(&other)
        ))),
        Err(e) => Err(ApiError::invalid(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A query-string value as the schema types the member: `true`/`false` for booleans, decimal
/// digits for integers; anything else stays a string, so the schema reports it. A whole float
/// (`executionNumber=1.0`) is no integer here, unlike in a JSON body: the documentation leaves
/// it open (WI-QUERY-WHOLE), and refusing it is the default the README gives.
fn query_value(schema: &Schema, name: &str, raw: &str) -> Value {
    match schema.inline_type(name) {
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.to_string()),
        },
        Some("integer") => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.to_string())),
        _ => Value::String(raw.to_string()),
    }
}

/// The parts of one HTTP request that carry an operation's input.
pub struct RawRequest<'a> {
    /// Decoded path labels, by member name.
    pub labels: Vec<(&'a str, String)>,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The body (ignored for operations without body members).
    pub body: Option<&'a Bytes>,
}

/// Builds the operation's input object from path labels, query string and body, checks it
/// against the operation's request `schema`, and reads it into `T`.
pub fn read_input<T: DeserializeOwned>(
    schema: &Schema,
    raw: RawRequest<'_>,
) -> Result<T, ApiError> {
    let mut input = match raw.body {
        Some(body) => body_object(body)?,
        None => Map::new(),
    };
    // Members bound to the path or the query string never come from the body.
    input.retain(|name, _| schema.location(name).is_none());
    if let Some(query) = raw.query {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if schema.location(&name) == Some("querystring") {
                let value = query_value(schema, &name, &value);
                input.insert(name.into_owned(), value);
            }
        }
    }
    for (name, value) in raw.labels {
        input.insert(name.to_string(), Value::String(value));
    }
    let input = Value::Object(input);
    if let Some(violation) = schema.first_violation(&input) {
        return Err(ApiError::invalid(violation.to_string()));
    }
    crate::engine::requests::read(input).map_err(ApiError::invalid)
}

/// Reads at most [`MAX_BODY_BYTES`] of a request body.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::invalid(format!(
                "the request body is unreadable or longer than {MAX_BODY_BYTES} bytes"
            ))
        })
}

/// Adds a fresh `x-amzn-RequestId` to every response.
pub async fn request_id(response: Response) -> Response {
    let mut response = response;
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

/// The answer to a method and path that name no operation.
pub fn unknown_operation(method: &str, path: &str) -> ApiError {
    ApiError::new(
        ErrorKind::UnknownOperation,
        format!("no operation is bound to {method} {path}"),
    )
}

/// Lets a request through the gate: waits out an injected delay, answers a refusal with its
/// error (429 ThrottlingException, 503 ServiceUnavailableException), and ends the connection
/// without an answer for a drop.
pub async fn pass(
    gate: &Gate,
    plane: Plane,
    operation: &str,
    thing: Option<&str>,
) -> Result<(), ApiError> {
    let decision = gate.admit(plane, operation, thing);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.refusal {
        None => Ok(()),
        Some(Refusal::Throttled(why)) => Err(ApiError::new(
            ErrorKind::Throttling,
            format!("Rate exceeded: {why}"),
        )),
        Some(Refusal::Unavailable) => Err(ApiError::new(
            ErrorKind::ServiceUnavailable,
            format!("{operation} is unavailable (injected fault)"),
        )),
        // Hyper polls a handler inside its connection's task: unwinding it drops the socket
        // with nothing written. `resume_unwind` skips the panic hook, so nothing is printed.
        Some(Refusal::Drop) => {
            std::panic::resume_unwind(Box::new("connection dropped (injected fault)"))
        }
    }
}
