//! The record of one exchange with a target: what was sent, what came back (or that nothing
//! did), and when. It is self-contained and serialisable, so a run can be written to a capture
//! file and replayed from one.

use serde::{Deserialize, Serialize};

/// Header names whose values never leave the process (credentials, signatures).
const SECRET_HEADERS: [&str; 2] = ["authorization", "x-amz-security-token"];

/// What the request put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRequest {
    /// `http` or `mqtt`.
    pub transport: String,
    /// HTTP method (empty for MQTT).
    pub method: String,
    /// Base URL of the target (`http://127.0.0.1:9080`).
    pub endpoint: String,
    /// Path and query (HTTP) or topic (MQTT), as sent.
    pub target: String,
    /// Headers as sent, secrets redacted.
    pub headers: Vec<(String, String)>,
    /// Body or payload as sent.
    pub body: Option<String>,
}

/// What the target answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireResponse {
    /// HTTP status (0 for MQTT).
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8; cut at the transport's limit, see `truncated`).
    pub body: String,
    /// Whether the body was longer than the transport keeps.
    pub truncated: bool,
}

impl WireResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The HTTP status; for an MQTT reply (status 0), the status `errors.json` files its
    /// rejection code under, and 0 for an accepted one.
    pub fn status_class(&self) -> u16 {
        match self.status {
            0 => serde_json::from_str::<serde_json::Value>(&self.body)
                .ok()
                .and_then(|b| {
                    b["code"]
                        .as_str()
                        .and_then(|c| jobcert_contract::errors().status_class(c))
                })
                .unwrap_or(0),
            status => status,
        }
    }
}

/// How a transport failure is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// The connection could not be made.
    Connect,
    /// The connection broke before a whole answer arrived.
    Reset,
    /// The answer was not a valid protocol message.
    Protocol,
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// An answer arrived within the deadline.
    Answered(WireResponse),
    /// No whole answer arrived within the deadline.
    Timeout {
        /// The deadline, in milliseconds.
        deadline_ms: u64,
    },
    /// The transport failed.
    Failed {
        /// What kind of failure.
        class: FailureClass,
        /// What the transport said.
        message: String,
    },
}

impl Outcome {
    /// No whole answer within `deadline`.
    pub fn timeout(deadline: std::time::Duration) -> Self {
        Self::Timeout {
            deadline_ms: deadline.as_millis() as u64,
        }
    }
}

/// When things happened, in microseconds since the run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// When the request was meant to go out (open-loop schedules; equal to `sent_us` otherwise).
    pub intended_us: u64,
    /// When it went out.
    pub sent_us: u64,
    /// When the outcome was known.
    pub done_us: u64,
}

impl Timing {
    /// Latency from the intended send time, which does not hide queueing in the sender.
    pub fn latency_us(&self) -> u64 {
        self.done_us.saturating_sub(self.intended_us)
    }
}

/// One request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// Order within the run.
    pub seq: u64,
    /// The case or device it belongs to.
    pub context: String,
    /// The model's operation name.
    pub operation: String,
    /// What was sent.
    pub request: WireRequest,
    /// What came of it.
    pub outcome: Outcome,
    /// When.
    pub timing: Timing,
}

/// Which request of a run an exchange is: its order, the case or device it belongs to, and the
/// model's operation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a> {
    /// Order within the run.
    pub seq: u64,
    /// The case or device.
    pub context: &'a str,
    /// The model's operation name.
    pub operation: &'a str,
}

impl Exchange {
    /// The record of `request`, sent at `sent_us` and settled at `done_us`. It was meant to go
    /// out when it did; an open-loop driver moves `timing.intended_us` back to its schedule.
    pub fn new(
        label: Label<'_>,
        request: WireRequest,
        outcome: Outcome,
        sent_us: u64,
        done_us: u64,
    ) -> Self {
        Self {
            seq: label.seq,
            context: label.context.to_string(),
            operation: label.operation.to_string(),
            request,
            outcome,
            timing: Timing {
                intended_us: sent_us,
                sent_us,
                done_us,
            },
        }
    }

    /// The record of a request that never left, at `at_us`: there was no connection to send it on.
    pub fn unsent(label: Label<'_>, request: WireRequest, message: String, at_us: u64) -> Self {
        let outcome = Outcome::Failed {
            class: FailureClass::Connect,
            message,
        };
        Self::new(label, request, outcome, at_us, at_us)
    }
}

impl WireRequest {
    /// An MQTT publish of `payload` on `topic` to the broker at `endpoint`.
    pub fn publish(endpoint: String, topic: String, payload: Option<String>) -> Self {
        Self {
            transport: "mqtt".into(),
            method: "PUBLISH".into(),
            endpoint,
            target: topic,
            headers: Vec::new(),
            body: payload,
        }
    }
}

/// Replaces the value of every secret header with `***`.
pub fn redact(headers: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| {
            if SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                (k, "***".to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}

/// `target` (a path and query) without the query parameters of a presigned request
/// (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, ...), which are credentials
/// as much as the `Authorization` header is.
pub fn redact_target(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let name = p.split('=').next().unwrap_or(p);
            !name.to_ascii_lowercase().starts_with("x-amz-")
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: Label<'static> = Label {
        seq: 7,
        context: "case",
        operation: "StartNextPendingJobExecution",
    };

    #[test]
    fn an_exchange_was_meant_to_go_out_when_it_did() {
        let request = WireRequest::publish("mqtt://h:1".into(), "t".into(), None);
        let e = Exchange::new(LABEL, request, Outcome::Timeout { deadline_ms: 5 }, 10, 25);
        assert_eq!((e.seq, e.context.as_str()), (7, "case"));
        assert_eq!(e.operation, "StartNextPendingJobExecution");
        assert_eq!(
            e.timing,
            Timing {
                intended_us: 10,
                sent_us: 10,
                done_us: 25
            }
        );
    }

    #[test]
    fn a_presigned_query_loses_its_signature_and_keeps_the_rest() {
        let cases = [
            ("/things/t/jobs", "/things/t/jobs"),
            (
                "/things/t/jobs?X-Amz-Signature=ab&X-Amz-Credential=k",
                "/things/t/jobs",
            ),
            (
                "/things/t/jobs/j?executionNumber=2&x-amz-security-token=s",
                "/things/t/jobs/j?executionNumber=2",
            ),
        ];
        for (target, want) in cases {
            assert_eq!(redact_target(target), want, "{target}");
        }
    }

    #[test]
    fn an_unsent_request_failed_to_connect_at_once() {
        let request = WireRequest::publish("mqtt://h:1".into(), "t".into(), Some("{}".into()));
        let e = Exchange::unsent(LABEL, request, "down".into(), 40);
        assert_eq!(
            e.outcome,
            Outcome::Failed {
                class: FailureClass::Connect,
                message: "down".into()
            }
        );
        assert_eq!((e.timing.sent_us, e.timing.done_us), (40, 40));
        assert_eq!(e.request.method, "PUBLISH");
    }
}
