//! The REST-JSON binding of an operation input: which members go in the path, the query
//! string and the body, read from the request schema's `x-http` and `x-location` annotations.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use jobcert_contract::Schema;

/// Everything but the unreserved characters is escaped in path labels, as the AWS SDKs do.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An HTTP request ready for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: String,
    /// Path and query string, encoded.
    pub target: String,
    /// JSON body (always present for PUT and POST, as the SDKs send `{}`).
    pub body: Option<String>,
}

/// An MQTT publish ready for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttRequest {
    /// Topic.
    pub topic: String,
    /// JSON payload.
    pub payload: String,
}

/// Why an input could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// The schema has no `x-http` annotation.
    #[error("schema {0} declares no HTTP binding")]
    NoBinding(String),
}

/// Binds `input` to an MQTT publish as the schema's `x-mqtt` topic template and `x-location`
/// annotations say: topic members fill the template, the others form the payload.
pub fn bind_mqtt(schema: &Schema, input: &Map<String, Value>) -> Result<MqttRequest, BindingError> {
    let template = schema
        .mqtt_topic()
        .ok_or_else(|| BindingError::NoBinding(schema.path().to_string()))?;
    let mut topic = template.to_string();
    for name in schema.members_at("topic") {
        topic = topic.replace(
            &format!("{{{name}}}"),
            &input.get(name).map(text).unwrap_or_default(),
        );
    }
    let payload: Map<String, Value> = input
        .iter()
        .filter(|(name, _)| schema.location(name).is_none())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(MqttRequest {
        topic,
        payload: Value::Object(payload).to_string(),
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Encodes a path label.
pub fn encode_label(label: &str) -> String {
    utf8_percent_encode(label, LABEL).to_string()
}

/// Binds `input` to an HTTP request as the schema says. Labels missing from `input` become
/// empty path segments, so that a request without them can still be sent and judged.
pub fn bind(schema: &Schema, input: &Map<String, Value>) -> Result<HttpRequest, BindingError> {
    let (method, template) = schema
        .http_binding()
        .ok_or_else(|| BindingError::NoBinding(schema.path().to_string()))?;
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = &rest[open + 1..close];
        path.push_str(
            &input
                .get(name)
                .map(text)
                .map(|v| encode_label(&v))
                .unwrap_or_default(),
        );
        rest = rest.get(close + 1..).unwrap_or("");
    }
    path.push_str(rest);
    let query: Vec<String> = schema
        .members_at("querystring")
        .filter_map(|name| {
            input.get(name).map(|v| {
                format!(
                    "{}={}",
                    name,
                    form_urlencoded::byte_serialize(text(v).as_bytes()).collect::<String>()
                )
            })
        })
        .collect();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let body = (method != "GET").then(|| {
        let members: Map<String, Value> = input
            .iter()
            .filter(|(name, _)| schema.location(name).is_none())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(members).to_string()
    });
    Ok(HttpRequest {
        method: method.to_string(),
        target: path,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcert_contract::Operation;
    use serde_json::json;

    fn bound(op: Operation, input: Value) -> HttpRequest {
        bind(op.request_schema().unwrap(), input.as_object().unwrap()).unwrap()
    }

    #[test]
    fn start_next_keeps_the_literal_next_and_encodes_the_thing() {
        let r = bound(
            Operation::StartNextPendingJobExecution,
            json!({"thingName": "my:thing", "stepTimeoutInMinutes": 5}),
        );
        assert_eq!(r.method, "PUT");
        assert_eq!(r.target, "/things/my%3Athing/jobs/$next");
        assert_eq!(r.body.as_deref(), Some(r#"{"stepTimeoutInMinutes":5}"#));
    }

    #[test]
    fn describe_puts_options_in_the_query_and_encodes_next() {
        let r = bound(
            Operation::DescribeJobExecution,
            json!({"thingName": "t", "jobId": "$next", "includeJobDocument": false, "executionNumber": 3}),
        );
        assert_eq!(r.method, "GET");
        assert!(
            r.target.starts_with("/things/t/jobs/%24next?"),
            "{}",
            r.target
        );
        assert!(
            r.target.contains("includeJobDocument=false") && r.target.contains("executionNumber=3")
        );
        assert_eq!(r.body, None);
    }

    #[test]
    fn start_next_without_members_sends_an_empty_object() {
        let r = bound(
            Operation::StartNextPendingJobExecution,
            json!({"thingName": "t"}),
        );
        assert_eq!(r.body.as_deref(), Some("{}"));
    }
}
