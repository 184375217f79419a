//! The data-plane client: binds an operation's input to the target's binding (HTTP request or
//! MQTT publish), applies a step's raw overrides, and sends it over whichever link the caller
//! has — the shared HTTP pool, a device's own HTTP connection, one broker connection per thing,
//! or a device's own broker connection. Every driver sends device requests through it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobcert_contract::{Binding, Operation};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::binding::{HttpRequest, MqttRequest, bind, bind_mqtt, encode_label};
use super::http::{Endpoint, HttpTransport};
use super::http_conn::DeviceConnection;
use super::line::Line;
use super::mqtt::{Dial, Heard, MqttTransport, Received};
use super::{Exchange, Label, RateLimit, Retry, WireRequest, is_throttle};

/// What replaces parts of the bound request: malformed input the schemas cannot express.
/// `{thing}` and `{job}` in a path or topic stand for the input's thing name and job id.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw<'a> {
    /// HTTP path and query.
    pub path: Option<&'a str>,
    /// MQTT topic.
    pub topic: Option<&'a str>,
    /// HTTP body or MQTT payload.
    pub body: Option<&'a str>,
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(String);

/// One device request: the operation and its input, as sent (real names, wire member names).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The operation.
    pub operation: Operation,
    /// Its input.
    pub input: &'a Map<String, Value>,
    /// Overrides of the bound request.
    pub raw: Raw<'a>,
}

impl Request<'_> {
    fn text(&self, key: &str) -> &str {
        self.input
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The HTTP request, with the raw path (labels percent-encoded) and body in place.
    fn http(&self) -> Result<HttpRequest, BuildError> {
        let schema = self.operation.request_schema().map_err(fail)?;
        let mut request = bind(schema, self.input).map_err(fail)?;
        if let Some(path) = self.raw.path {
            request.target = path
                .replace("{thing}", &encode_label(self.text("thingName")))
                .replace("{job}", &encode_label(self.text("jobId")));
        }
        if let Some(body) = self.raw.body {
            request.body = Some(body.to_string());
        }
        Ok(request)
    }

    /// The MQTT publish, with the raw topic (labels as they are) and payload in place.
    fn mqtt(&self) -> Result<MqttRequest, BuildError> {
        let schema = self
            .operation
            .request_schema_for(Binding::Mqtt)
            .map_err(fail)?;
        let mut request = bind_mqtt(schema, self.input).map_err(fail)?;
        if let Some(topic) = self.raw.topic {
            request.topic = topic
                .replace("{thing}", self.text("thingName"))
                .replace("{job}", self.text("jobId"));
        }
        if let Some(body) = self.raw.body {
            request.payload = body.to_string();
        }
        Ok(request)
    }
}

fn fail(e: impl std::fmt::Display) -> BuildError {
    BuildError(e.to_string())
}

/// How requests reach the data plane.
enum Link {
    /// The shared HTTP pool; with permits, a request waits for one first.
    Pool {
        http: HttpTransport,
        endpoint: Endpoint,
        permits: Option<Arc<Semaphore>>,
    },
    /// A device's own HTTP connection.
    Own {
        connection: Box<DeviceConnection>,
        endpoint: Endpoint,
    },
    /// One broker connection per thing, made when the thing first sends or listens.
    Broker(Arc<MqttTransport>),
    /// A device's own broker connection, once opened.
    Device { line: Arc<Line>, origin: Instant },
}

/// What a retried request came to: its final attempt, and the throttled attempts before it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The last attempt (itself throttled when every attempt was).
    pub exchange: Exchange,
    /// Earlier attempts the target throttled, in order.
    pub throttled: Vec<Exchange>,
}

/// Sends device requests and returns the [`Exchange`] of each.
pub struct DataClient {
    link: Link,
    /// The run's request rate, when it has one.
    rate: Option<RateLimit>,
}

impl std::fmt::Debug for DataClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataClient")
            .field("binding", &self.binding())
            .finish_non_exhaustive()
    }
}

impl DataClient {
    /// Requests through the shared pool `http` to `endpoint`, each waiting for one of
    /// `permits` when given.
    pub fn pooled(
        http: HttpTransport,
        endpoint: Endpoint,
        permits: Option<Arc<Semaphore>>,
    ) -> Self {
        Self {
            link: Link::Pool {
                http,
                endpoint,
                permits,
            },
            rate: None,
        }
    }

    /// Requests over a device's own connection to `endpoint`.
    pub fn own(connection: DeviceConnection, endpoint: Endpoint) -> Self {
        Self {
            link: Link::Own {
                connection: Box::new(connection),
                endpoint,
            },
            rate: None,
        }
    }

    /// Requests as any thing, each over that thing's connection to the broker of `mqtt`.
    pub fn per_thing(mqtt: Arc<MqttTransport>) -> Self {
        Self {
            link: Link::Broker(mqtt),
            rate: None,
        }
    }

    /// Requests as one device, over its own connection through `dial` (see [`Self::open`]);
    /// timings count from `origin`.
    pub fn device(dial: Dial, origin: Instant) -> Self {
        Self {
            link: Link::Device {
                line: Arc::new(Line::new(dial, origin, None)),
                origin,
            },
            rate: None,
        }
    }

    /// The same client, a device's own broker connection keeping every notification it hears
    /// in `heard` (for a capture); other links are left as they are. Given before the line
    /// is shared (see [`Self::line`]).
    pub fn hearing(mut self, kept: Option<Heard>) -> Self {
        if let Link::Device { line, origin } = &mut self.link
            && let Some(line) = Arc::get_mut(line)
        {
            *line = Line::new(line.dial().clone(), *origin, kept);
        }
        self
    }

    /// A device's own broker connection, to watch it, or to drop and remake it while the
    /// device goes on; `None` for every other link.
    pub fn line(&self) -> Option<Arc<Line>> {
        match &self.link {
            Link::Device { line, .. } => Some(line.clone()),
            _ => None,
        }
    }

    /// The same client, each request waiting for a token of `rate` first (shared by clones).
    pub fn with_rate(self, rate: Option<RateLimit>) -> Self {
        Self { rate, ..self }
    }

    /// Another client on the same shared pool or broker; `None` for a device's own connection.
    pub fn share(&self) -> Option<Self> {
        let link = match &self.link {
            Link::Pool {
                http,
                endpoint,
                permits,
            } => Link::Pool {
                http: http.clone(),
                endpoint: endpoint.clone(),
                permits: permits.clone(),
            },
            Link::Broker(mqtt) => Link::Broker(mqtt.clone()),
            Link::Own { .. } | Link::Device { .. } => return None,
        };
        Some(Self {
            link,
            rate: self.rate.clone(),
        })
    }

    /// The binding it speaks.
    pub fn binding(&self) -> Binding {
        match self.link {
            Link::Pool { .. } | Link::Own { .. } => Binding::Http,
            Link::Broker(_) | Link::Device { .. } => Binding::Mqtt,
        }
    }

    /// Opens `thing`'s connection within `timeout` unless it is open (so that a broker
    /// connection hears notifications from now on); `None` for the shared pool, which has
    /// nothing of the thing's own to open.
    pub async fn open(&mut self, thing: &str, timeout: Duration) -> Option<Result<(), String>> {
        Some(match &mut self.link {
            Link::Pool { .. } => return None,
            Link::Own { connection, .. } => connection.open(timeout).await,
            Link::Broker(mqtt) => mqtt.connect(thing, timeout).await,
            Link::Device { line, .. } => line.open(thing, timeout).await,
        })
    }

    /// Binds and sends `request` as its input's thing, waiting at most `deadline`.
    pub async fn send(
        &mut self,
        request: &Request<'_>,
        deadline: Duration,
        label: Label<'_>,
    ) -> Result<Exchange, BuildError> {
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
        Ok(match &mut self.link {
            Link::Pool {
                http,
                endpoint,
                permits,
            } => {
                let bound = request.http()?;
                let _permit = match permits {
                    Some(p) => p.clone().acquire_owned().await.ok(),
                    None => None,
                };
                http.send(endpoint, &bound, deadline, label).await
            }
            Link::Own {
                connection,
                endpoint,
            } => {
                let bound = request.http()?;
                connection.send(endpoint, &bound, deadline, label).await
            }
            Link::Broker(mqtt) => {
                let bound = request.mqtt()?;
                let thing = request.text("thingName");
                mqtt.send(thing, &bound, deadline, label).await
            }
            Link::Device { line, origin } => {
                let bound = request.mqtt()?;
                match line.current() {
                    Some(d) => d.send(&bound, deadline, label).await,
                    None => {
                        let wire = WireRequest::publish(line.endpoint(), bound.topic, None);
                        let now = origin.elapsed().as_micros() as u64;
                        let message = "the device is not connected".to_string();
                        Exchange::unsent(label, wire, message, now)
                    }
                }
            }
        })
    }

    /// Sends `request` as [`Self::send`] does, and again while the target throttles it, up to
    /// `retry`'s attempts, waiting its jittered backoff in between. Each attempt is an exchange
    /// of its own (retries numbered by `next_seq`), timed from its own send, so the wait is in
    /// no exchange's latency.
    pub async fn send_retrying(
        &mut self,
        request: &Request<'_>,
        deadline: Duration,
        mut label: Label<'_>,
        next_seq: impl Fn() -> u64,
        retry: Retry,
    ) -> Result<Sent, BuildError> {
        let mut throttled = Vec::new();
        for wait in retry.waits(std::iter::repeat_with(rand::random::<f64>)) {
            let exchange = self.send(request, deadline, label).await?;
            if !is_throttle(&exchange) {
                return Ok(Sent {
                    exchange,
                    throttled,
                });
            }
            throttled.push(exchange);
            tokio::time::sleep(wait).await;
            label.seq = next_seq();
        }
        let exchange = self.send(request, deadline, label).await?;
        Ok(Sent {
            exchange,
            throttled,
        })
    }

    /// The first message on `topic` that `thing`'s device received at or after `since_us` and
    /// `wanted` accepts, waiting at most `deadline`; only it is taken out of the inbox. `Err`
    /// holds the messages on `topic` that were not accepted (none over HTTP).
    pub async fn next_message(
        &self,
        thing: &str,
        topic: &str,
        since_us: u64,
        deadline: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Received, Vec<Received>> {
        match &self.link {
            Link::Broker(mqtt) => {
                mqtt.next_message(thing, topic, since_us, deadline, wanted)
                    .await
            }
            Link::Device { line, .. } => match line.current() {
                Some(d) => d.next_message(topic, since_us, deadline, wanted).await,
                None => Err(Vec::new()),
            },
            _ => Err(Vec::new()),
        }
    }

    /// Takes every message `thing`'s device kept on a topic `wanted` accepts, oldest first
    /// (none over HTTP).
    pub async fn take_messages(&self, thing: &str, wanted: impl Fn(&str) -> bool) -> Vec<Received> {
        match &self.link {
            Link::Broker(mqtt) => mqtt.take(thing, wanted).await,
            Link::Device { line, .. } => line.current().map(|d| d.take(wanted)).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Disconnects its MQTT connections (an HTTP connection closes when the client goes).
    pub async fn close(&mut self) {
        match &mut self.link {
            Link::Broker(mqtt) => mqtt.close().await,
            Link::Device { line, .. } => line.close(),
            Link::Pool { .. } | Link::Own { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::transport::Broker;

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[rstest]
    #[case(Raw::default(), "/things/a%2Fb/jobs/j1", None)]
    #[case(Raw { path: Some("/things/{thing}/jobs/{job}/x"), ..Raw::default() }, "/things/a%2Fb/jobs/j1/x", None)]
    #[case(Raw { body: Some("{not json"), ..Raw::default() }, "/things/a%2Fb/jobs/j1", Some("{not json"))]
    fn http_requests_take_raw_paths_and_bodies(
        #[case] raw: Raw<'_>,
        #[case] target: &str,
        #[case] body: Option<&str>,
    ) {
        let sent = input(json!({ "thingName": "a/b", "jobId": "j1" }));
        let request = Request {
            operation: Operation::DescribeJobExecution,
            input: &sent,
            raw,
        };
        let http = request.http().unwrap();
        assert_eq!(http.target.split('?').next(), Some(target));
        if body.is_some() {
            assert_eq!(http.body.as_deref(), body);
        }
    }

    #[rstest]
    #[case(Raw::default(), "$aws/things/a/jobs/j1/get", None)]
    #[case(Raw { topic: Some("$aws/things/{thing}/jobs/{job}/oops"), ..Raw::default() }, "$aws/things/a/jobs/j1/oops", None)]
    #[case(Raw { body: Some("[]"), ..Raw::default() }, "$aws/things/a/jobs/j1/get", Some("[]"))]
    fn mqtt_requests_take_raw_topics_and_payloads(
        #[case] raw: Raw<'_>,
        #[case] topic: &str,
        #[case] payload: Option<&str>,
    ) {
        let sent = input(json!({ "thingName": "a", "jobId": "j1" }));
        let request = Request {
            operation: Operation::DescribeJobExecution,
            input: &sent,
            raw,
        };
        let mqtt = request.mqtt().unwrap();
        assert_eq!(mqtt.topic, topic);
        if let Some(p) = payload {
            assert_eq!(mqtt.payload, p);
        }
    }

    #[tokio::test]
    async fn a_device_that_never_connected_records_an_unsent_request() {
        let dial = Dial::new(Broker::tcp("127.0.0.1", 1), None, Default::default());
        let mut client = DataClient::device(dial, Instant::now());
        assert!(client.share().is_none());
        let sent = input(json!({ "thingName": "a" }));
        let request = Request {
            operation: Operation::StartNextPendingJobExecution,
            input: &sent,
            raw: Raw::default(),
        };
        let label = Label {
            seq: 3,
            context: "a",
            operation: "StartNextPendingJobExecution",
        };
        let e = client
            .send(&request, Duration::from_secs(1), label)
            .await
            .unwrap();
        assert_eq!(e.request.endpoint, "mqtt://127.0.0.1:1");
        assert_eq!(e.request.target, "$aws/things/a/jobs/start-next");
        assert!(matches!(e.outcome, super::super::Outcome::Failed { .. }));
    }
}
