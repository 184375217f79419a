//! The lines of a capture, typed. The schema (`schemas/capture.schema.json`) is the format's
//! definition; these types are what a reader gets after a line has passed it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::transport::{FailureClass, Outcome, WireResponse};

/// The format name and version of the header's `format` member.
pub const FORMAT: &str = "jobcert-capture/1";

/// What recorded a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A conformance run (`jobcert run --capture`).
    Run,
    /// A fleet run (`jobcert fleet --capture`).
    Fleet,
    /// The recording proxy (`jobcert capture proxy`).
    Proxy,
    /// An imported HAR file.
    Har,
    /// An imported GoReplay file.
    Gor,
}

/// Where a capture came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// What recorded it.
    pub kind: SourceKind,
    /// The run id, the proxied target, the imported file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A thing to create before replaying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedThing {
    /// Its placeholder.
    pub name: String,
}

/// A job to create before (or, with `at_us`, while) replaying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedJob {
    /// Its placeholder.
    pub id: String,
    /// The things it targets, as placeholders.
    pub targets: Vec<String>,
    /// When it was created, if after the origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_us: Option<u64>,
    /// The CreateJob body as sent, without `targets`.
    pub create: Map<String, Value>,
}

/// The world a replay creates first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Seed {
    /// Things.
    pub things: Vec<SeedThing>,
    /// Jobs.
    pub jobs: Vec<SeedJob>,
}

/// The first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// What recorded it.
    pub source: Source,
    /// Version of the jobcert that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobcert_version: Option<String>,
    /// Wall-clock origin, epoch milliseconds.
    pub origin_ms: u64,
    /// How fast the recorded target's clock ran.
    pub target_time_scale: f64,
    /// What to create first.
    pub seed: Seed,
}

/// What came of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// An HTTP answer.
    Http {
        /// Status.
        status: u16,
        /// The error type the answer named, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_type: Option<String>,
        /// Body.
        body: String,
        /// Whether the body was cut.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    /// An MQTT reply.
    Mqtt {
        /// Reply topic.
        topic: String,
        /// Payload.
        body: String,
    },
    /// No answer within the deadline.
    Timeout {
        /// The deadline, in milliseconds.
        timeout_ms: u64,
    },
    /// The transport failed.
    Failed {
        /// How.
        failed: FailureClass,
        /// What the transport said.
        message: String,
    },
}

impl Answer {
    /// The answer an exchange's outcome records. Only the error type is kept of the headers: the
    /// rest describe the recorded server, not the exchange.
    pub fn of(outcome: &Outcome, transport: &str) -> Self {
        match outcome {
            Outcome::Answered(r) if transport == "mqtt" => Self::Mqtt {
                topic: r.header("topic").unwrap_or_default().to_string(),
                body: r.body.clone(),
            },
            Outcome::Answered(r) => Self::Http {
                status: r.status,
                error_type: r
                    .header("x-amzn-errortype")
                    .map(|t| t.split(':').next().unwrap_or(t).to_string()),
                body: r.body.clone(),
                truncated: r.truncated,
            },
            Outcome::Timeout { deadline_ms } => Self::Timeout {
                timeout_ms: *deadline_ms,
            },
            Outcome::Failed { class, message } => Self::Failed {
                failed: *class,
                message: message.clone(),
            },
        }
    }

    /// The outcome this answer records, as the checks read outcomes.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Http {
                status,
                error_type,
                body,
                truncated,
            } => Outcome::Answered(WireResponse {
                status: *status,
                headers: error_type
                    .iter()
                    .map(|t| ("x-amzn-errortype".to_string(), t.clone()))
                    .collect(),
                body: body.clone(),
                truncated: *truncated,
            }),
            Self::Mqtt { topic, body } => Outcome::Answered(WireResponse {
                status: 0,
                headers: vec![("topic".into(), topic.clone())],
                body: body.clone(),
                truncated: false,
            }),
            Self::Timeout { timeout_ms } => Outcome::Timeout {
                deadline_ms: *timeout_ms,
            },
            Self::Failed { failed, message } => Outcome::Failed {
                class: *failed,
                message: message.clone(),
            },
        }
    }
}

/// A device's request and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedExchange {
    /// The device (thing placeholder).
    pub device: String,
    /// Order on the device's timeline.
    pub device_seq: u64,
    /// When it was meant to go out, if that differs from `sent_us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_us: Option<u64>,
    /// When it went out.
    pub sent_us: u64,
    /// When its outcome was known.
    pub done_us: u64,
    /// `http` or `mqtt`.
    pub transport: String,
    /// The data-plane operation.
    pub operation: String,
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path and query, or topic, with placeholders.
    pub target: String,
    /// Body or payload, with placeholders.
    #[serde(default)]
    pub body: Option<String>,
    /// The request's clientToken, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// What came of it.
    pub answer: Answer,
}

/// A message the server sent a device unasked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedEvent {
    /// The device.
    pub device: String,
    /// Order on the device's timeline.
    pub device_seq: u64,
    /// When it arrived.
    pub at_us: u64,
    /// Topic, with placeholders.
    pub topic: String,
    /// Payload, with placeholders.
    pub body: String,
}

/// A control-plane call made after seeding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedControl {
    /// When it went out.
    pub sent_us: u64,
    /// When its outcome was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_us: Option<u64>,
    /// The control-plane operation.
    pub operation: String,
    /// HTTP method.
    pub method: String,
    /// Path and query, with placeholders.
    pub target: String,
    /// Body, with placeholders.
    #[serde(default)]
    pub body: Option<String>,
    /// What came of it.
    pub answer: Answer,
}

/// One line of a capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Line {
    /// The first line.
    Header(Header),
    /// A device's exchange.
    Exchange(CapturedExchange),
    /// A notification.
    Event(CapturedEvent),
    /// A later control-plane call.
    Control(CapturedControl),
}

impl Line {
    /// When the line happened, in microseconds since the origin (the header: 0).
    pub fn at_us(&self) -> u64 {
        match self {
            Self::Header(_) => 0,
            Self::Exchange(e) => e.sent_us,
            Self::Event(e) => e.at_us,
            Self::Control(c) => c.sent_us,
        }
    }
}

/// A line and the 1-based line number it was read from (0 for one built in memory).
#[derive(Debug, Clone, PartialEq)]
pub struct Numbered {
    /// Line number in the file.
    pub line: u64,
    /// The line.
    pub value: Line,
}

/// A whole capture: the header and every other line in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The header.
    pub header: Header,
    /// The other lines.
    pub lines: Vec<Numbered>,
}

impl Capture {
    /// The device exchanges, in file order.
    pub fn exchanges(&self) -> impl Iterator<Item = (u64, &CapturedExchange)> {
        self.lines.iter().filter_map(|n| match &n.value {
            Line::Exchange(e) => Some((n.line, e)),
            _ => None,
        })
    }
}
