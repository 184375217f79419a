//! Reading an answer the way the AWS SDKs do (spec §2.4), and the wire checks that apply to
//! every answer whatever was asked.

use serde_json::Value;

use crate::finding::{Finding, Profile};
use crate::transport::{Exchange, Outcome, WireResponse};
use jobcert_contract::{
    Binding, Operation, RequirementId, Violation, catalogue, errors, outcomes, req, schemas,
    type_for_mqtt_code,
};

/// An answer as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 2xx with a JSON object body.
    Success(Value),
    /// An error, with the type the SDKs would raise.
    Error {
        /// HTTP status.
        status: u16,
        /// Sanitised type name; `None` when nothing names one.
        type_name: Option<String>,
        /// The body, when it is JSON.
        body: Option<Value>,
    },
    /// A 2xx whose body is not a JSON object.
    Garbled,
    /// No answer: timeout or transport failure.
    Unanswered,
}

impl Answer {
    /// The error type, if this is an error.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Self::Error { type_name, .. } => type_name.as_deref(),
            _ => None,
        }
    }

    /// The body of a success.
    pub fn success(&self) -> Option<&Value> {
        match self {
            Self::Success(v) => Some(v),
            _ => None,
        }
    }

    /// One line saying what came back.
    pub fn describe(&self) -> String {
        match self {
            Self::Success(_) => "200 success".into(),
            Self::Error {
                status, type_name, ..
            } => format!(
                "{status} {}",
                type_name.as_deref().unwrap_or("(no error type)")
            ),
            Self::Garbled => "a success whose body is not a JSON object".into(),
            Self::Unanswered => "no answer".into(),
        }
    }
}

/// The error type as botocore derives it: header, else body `code`/`Code`, else `__type`;
/// then everything after the first `:` and up to the last `#` is dropped.
pub fn sdk_error_type(response: &WireResponse, body: Option<&Value>) -> Option<String> {
    let raw = response
        .header("x-amzn-errortype")
        .map(str::to_string)
        .or_else(|| {
            let body = body?;
            ["code", "Code", "__type"]
                .iter()
                .find_map(|k| body.get(k).and_then(Value::as_str).map(str::to_string))
        })?;
    let before_colon = raw.split(':').next().unwrap_or_default();
    let name = before_colon.rsplit('#').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_string())
}

/// Reads the answer of a data-plane exchange in `binding` and makes the checks every answer
/// gets: an answer at all, a well-formed body, a named error type (with the model's status over
/// HTTP; on the right topic, with the token echoed and a timestamp over MQTT).
pub fn read(
    exchange: &Exchange,
    operation: Operation,
    binding: Binding,
    profile: Profile,
) -> (Answer, Vec<Finding>) {
    match binding {
        Binding::Http => read_http(exchange, operation, profile),
        Binding::Mqtt => read_mqtt(exchange, operation),
    }
}

/// A success body against the operation's response schema in `binding` (SN-SHAPE for
/// StartNext, WI-SCHEMA for the others). One fault, one failed requirement:
/// - a violation that is a §7 item (`schemaCauses` of `schemas/outcomes.json`, e.g. a
///   statusDetails value over 1,024 characters, §7.20) is reported under that item's
///   ambiguous requirement, not as a malformed answer;
/// - a member left out of an execution, execution state or summary is a WI-MEMBERS warning:
///   the model marks none of their members required (§1.4);
/// - any other violation inside a statusDetails map is not judged here: the harness wrote
///   every key and value, the input checks judged the request that stored them (SN-DETAILS-KEY,
///   UP-INPUT), and the state model judges that they are returned as sent.
fn shape(operation: Operation, binding: Binding, body: &Value, seq: Option<u64>) -> Vec<Finding> {
    let schema = operation
        .response_schema_for(binding)
        .expect("response schemas are embedded");
    let requirement = match operation {
        Operation::StartNextPendingJobExecution => req::SN_SHAPE,
        _ => req::WI_SCHEMA,
    };
    let what = format!(
        "{} {}",
        operation.name(),
        match binding {
            Binding::Http => "body",
            Binding::Mqtt => "accepted payload",
        }
    );
    let mut out: Vec<Finding> = Vec::new();
    let mut malformed = None;
    let mut left_out: Vec<Violation> = Vec::new();
    for v in schema.violations(body) {
        if left_out_member(&v) {
            left_out.push(v);
        } else if let Some(item) = seventh_item(operation, &v) {
            if !out.iter().any(|f| f.requirement == item) {
                let section = outcomes().get(item).map_or("7", |a| a.section.as_str());
                out.push(Finding::fail(
                    item,
                    format!("{what} breaks {}: {v} (§{section})", schema.path()),
                    seq,
                ));
            }
        } else if !inside_details(&v) {
            malformed.get_or_insert(v);
        }
    }
    if !left_out.is_empty() {
        let members: Vec<String> = left_out.iter().map(ToString::to_string).collect();
        out.push(Finding::fail(
            req::WI_MEMBERS,
            format!(
                "{what} leaves out what AWS returns ({}); the model marks it optional (§1.4)",
                members.join("; ")
            ),
            seq,
        ));
    }
    out.push(match malformed {
        Some(v) => Finding::fail(
            requirement,
            format!("{what} breaks {}: {v}", schema.path()),
            seq,
        ),
        None => Finding::pass(
            requirement,
            format!("{what} matches {}", schema.path()),
            seq,
        ),
    });
    out
}

/// Whether `v` is a member missing from an execution, execution state or summary (an object
/// below the answer's top level): the model marks none of their members required, so the
/// schema's `required` there says what AWS returns, not what the contract demands.
fn left_out_member(v: &Violation) -> bool {
    !v.field.is_empty() && v.keyword_path.rsplit('.').next() == Some("required")
}

/// The §7 requirement a response-schema violation is, preferring the one of `operation`.
fn seventh_item(operation: Operation, v: &Violation) -> Option<RequirementId> {
    let items: Vec<RequirementId> = outcomes().schema_cause(&v.field, &v.keyword_path).collect();
    items
        .iter()
        .copied()
        .find(|id| catalogue().requirement(*id).operation == operation.name())
        .or_else(|| items.first().copied())
}

/// The findings of a read that follows a request of `stored_by` (a read-back): a §7 item a
/// response-schema violation is reported under is the one of the request that stored the
/// value (UP-DETAILS-VALUE-MAX for a describe after an update), where that request has one
/// with the same schema causes.
pub fn stored_by(findings: &mut [Finding], stored_by: Operation) {
    let table = outcomes();
    for f in findings.iter_mut() {
        let Some(causes) = table
            .get(f.requirement)
            .map(|a| &a.schema_causes)
            .filter(|c| !c.is_empty())
        else {
            continue;
        };
        let own = table.iter().find(|(id, a)| {
            catalogue().requirement(*id).operation == stored_by.name() && a.schema_causes == *causes
        });
        if let Some((id, _)) = own {
            f.requirement = id;
        }
    }
}

/// Whether a violation lies inside a statusDetails map (a key or a value of it).
fn inside_details(v: &Violation) -> bool {
    let segments: Vec<&str> = v.field.split('.').collect();
    let at = segments.iter().position(|s| *s == "statusDetails");
    match at {
        Some(i) if i + 1 < segments.len() => true,
        // A key breaks the map's propertyNames, which the schema path names by its definition.
        Some(_) => ["propertyNames", "DetailsKey"]
            .iter()
            .any(|k| v.keyword_path.contains(k)),
        None => false,
    }
}

/// Whether `topic` ends as one operation's request topic does (its last level: `get`,
/// `start-next`, `update`, as the schemas' `x-mqtt` templates say).
fn names_an_operation(topic: &str) -> bool {
    let last = |t: &str| t.rsplit('/').next().map(str::to_string);
    Operation::ALL
        .iter()
        .filter_map(|o| o.request_schema_for(Binding::Mqtt).ok())
        .filter_map(|s| s.mqtt_topic().and_then(last))
        .any(|l| Some(l) == last(topic))
}

/// The outcome's answer, or the WI-ANSWER failure of a timeout or transport failure.
fn answered<'a>(exchange: &'a Exchange, findings: &mut Vec<Finding>) -> Option<&'a WireResponse> {
    let seq = Some(exchange.seq);
    match &exchange.outcome {
        Outcome::Answered(r) => {
            findings.push(Finding::pass(
                req::WI_ANSWER,
                "answered within the deadline",
                seq,
            ));
            Some(r)
        }
        Outcome::Timeout { deadline_ms } => {
            findings.push(Finding::fail(
                req::WI_ANSWER,
                format!("timeout: no answer within {deadline_ms} ms"),
                seq,
            ));
            None
        }
        Outcome::Failed { class, message } => {
            findings.push(Finding::fail(
                req::WI_ANSWER,
                format!("transport failure ({class:?}): {message}"),
                seq,
            ));
            None
        }
    }
}

/// The HTTP status an MQTT rejected code is filed under (its error type's, or errors.json's
/// `httpStatusEquivalent` for the MQTT-only codes).
fn status_class(code: &str) -> u16 {
    errors().status_class(code).unwrap_or(400)
}

fn read_mqtt(exchange: &Exchange, operation: Operation) -> (Answer, Vec<Finding>) {
    let seq = Some(exchange.seq);
    let mut findings = Vec::new();
    let Some(response) = answered(exchange, &mut findings) else {
        // Where the rejection of a topic that names no operation goes is open (§7.15): no
        // answer on the topic's own /rejected is that item, not a missing answer.
        if !names_an_operation(&exchange.request.target) {
            for f in findings
                .iter_mut()
                .filter(|f| f.requirement == req::WI_ANSWER)
            {
                f.requirement = req::MQ_INVALID_TOPIC_REPLY;
                f.message = format!(
                    "{} names no operation and got no InvalidTopic on its /rejected: {}",
                    exchange.request.target, f.message
                );
            }
        }
        return (Answer::Unanswered, findings);
    };
    let topic = response.header("topic").unwrap_or_default();
    let request_topic = &exchange.request.target;
    let accepted = topic == format!("{request_topic}/accepted");
    let rejected = topic == format!("{request_topic}/rejected");
    findings.push(Finding::check(
        accepted || rejected,
        req::MQ_REPLY_TOPIC,
        format!("the reply to {request_topic} came on {topic}"),
        seq,
    ));
    if !names_an_operation(request_topic) {
        findings.push(Finding::check(
            rejected,
            req::MQ_INVALID_TOPIC_REPLY,
            format!("the reply to {request_topic}, which names no operation, came on {topic}"),
            seq,
        ));
    }
    let Some(body) = serde_json::from_str::<Value>(&response.body)
        .ok()
        .filter(Value::is_object)
    else {
        findings.push(Finding::fail(
            req::WI_JSON,
            "the reply payload is not a JSON object",
            seq,
        ));
        return (Answer::Garbled, findings);
    };
    let sent_token = exchange
        .request
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|b| b.get("clientToken").cloned());
    if let Some(token) = sent_token {
        findings.push(Finding::check(
            body.get("clientToken") == Some(&token),
            req::MQ_CLIENT_TOKEN,
            format!(
                "sent clientToken {token}, the reply carries {}",
                body.get("clientToken").unwrap_or(&Value::Null)
            ),
            seq,
        ));
    }
    findings.push(Finding::check(
        body["timestamp"]
            .as_i64()
            .is_some_and(|t| (1_000_000_000..10_000_000_000).contains(&t)),
        req::MQ_TIMESTAMP,
        format!(
            "timestamp {} is not whole epoch seconds",
            body.get("timestamp").unwrap_or(&Value::Null)
        ),
        seq,
    ));
    if rejected || (!accepted && body.get("code").is_some()) {
        let schema = schemas()
            .get("mqtt/rejected.json")
            .expect("embedded schema");
        let violations = schema.violations(&body);
        findings.push(Finding::check(
            violations.is_empty(),
            req::MQ_REJECTED,
            match violations.first() {
                Some(v) => format!("the rejected payload breaks mqtt/rejected.json: {v}"),
                None => "a documented code with a message".to_string(),
            },
            seq,
        ));
        let code = body["code"].as_str().unwrap_or_default().to_string();
        let type_name = type_for_mqtt_code(&code)
            .map(str::to_string)
            .or((!code.is_empty()).then_some(code.clone()));
        return (
            Answer::Error {
                status: status_class(&code),
                type_name,
                body: Some(body),
            },
            findings,
        );
    }
    findings.extend(shape(operation, Binding::Mqtt, &body, seq));
    if let Some(doc) = body
        .get("execution")
        .and_then(|e| e.get("jobDocument"))
        .or_else(|| body.get("jobDocument"))
    {
        findings.push(Finding::check(
            doc.is_object(),
            req::MQ_DOCUMENT_OBJECT,
            format!("jobDocument is {doc}"),
            seq,
        ));
    }
    (Answer::Success(body), findings)
}

fn read_http(
    exchange: &Exchange,
    operation: Operation,
    profile: Profile,
) -> (Answer, Vec<Finding>) {
    let seq = Some(exchange.seq);
    let mut findings = Vec::new();
    let response = match &exchange.outcome {
        Outcome::Answered(r) => r,
        Outcome::Timeout { deadline_ms } => {
            findings.push(Finding::fail(
                req::WI_ANSWER,
                format!("timeout: no answer within {deadline_ms} ms"),
                seq,
            ));
            return (Answer::Unanswered, findings);
        }
        Outcome::Failed { class, message } => {
            findings.push(Finding::fail(
                req::WI_ANSWER,
                format!("transport failure ({class:?}): {message}"),
                seq,
            ));
            return (Answer::Unanswered, findings);
        }
    };
    findings.push(Finding::pass(
        req::WI_ANSWER,
        "answered within the deadline",
        seq,
    ));
    let body: Option<Value> = serde_json::from_str(&response.body)
        .ok()
        .filter(Value::is_object);
    let json_type = response.header("content-type").is_some_and(|c| {
        c.starts_with("application/json") || c.starts_with("application/x-amz-json")
    });
    if (200..300).contains(&response.status) {
        findings.push(Finding::check(
            body.is_some(),
            req::WI_JSON,
            "a success carries a JSON object",
            seq,
        ));
        findings.push(Finding::check(
            json_type,
            req::WI_CONTENT_TYPE,
            "Content-Type is application/json",
            seq,
        ));
        let answer = body.map_or(Answer::Garbled, Answer::Success);
        if let Answer::Success(b) = &answer {
            findings.extend(shape(operation, Binding::Http, b, seq));
        }
        return (answer, findings);
    }
    let type_name = sdk_error_type(response, body.as_ref());
    match &type_name {
        None => findings.push(Finding::fail(
            req::WI_ERROR_TYPE,
            format!(
                "a {} answer names no error type (no x-amzn-ErrorType, code or __type)",
                response.status
            ),
            seq,
        )),
        Some(name) => match errors().data_plane(name) {
            None => findings.push(Finding::fail(
                req::WI_ERROR_TYPE,
                format!("{name} is not an error type of the service model"),
                seq,
            )),
            Some(row) => {
                findings.push(Finding::pass(
                    req::WI_ERROR_TYPE,
                    format!("{name} is a modelled error type"),
                    seq,
                ));
                let (s, status) = (response.status, row.http_status);
                let ok = s == status
                    || (profile == Profile::Aws && row.also_seen_http_status.contains(&s));
                findings.push(Finding::check(
                    ok,
                    req::WI_ERROR_STATUS,
                    format!("{name} came with HTTP {s}; the model says {status}"),
                    seq,
                ));
            }
        },
    }
    let has_message = body
        .as_ref()
        .and_then(|b| b.get("message").or_else(|| b.get("Message")))
        .and_then(Value::as_str)
        .is_some();
    findings.push(Finding::check(
        has_message,
        req::WI_ERROR_MESSAGE,
        "the error body carries a message",
        seq,
    ));
    (
        Answer::Error {
            status: response.status,
            type_name,
            body,
        },
        findings,
    )
}

#[cfg(test)]
mod tests;
