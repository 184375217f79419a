//! A capture made from recorded exchanges: the things and jobs the control plane created become
//! the seed, every data-plane exchange a line on its device's timeline, and every later
//! control-plane change (a cancel, say) a control line. Reads (GET) of the control plane are
//! the recorder's own business and are left out. Notifications a device received (seen by
//! the recording proxy) become event lines on its timeline.

use std::collections::{BTreeSet, HashMap};

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::format::{
    Answer, Capture, CapturedControl, CapturedEvent, CapturedExchange, FORMAT, Header, Line,
    Numbered, Seed, SeedJob, SeedThing, Source,
};
use super::names::Placeholders;
use crate::transport::{Exchange, Outcome, Received};
use jobcert_contract::Operation;

/// The thing a data-plane path (`/things/NAME/jobs/…`) or topic (`$aws/things/NAME/jobs/…`)
/// is about.
pub fn thing_of(target: &str) -> Option<String> {
    let path = target.split('?').next().unwrap_or(target);
    let mut parts = path.split('/');
    parts.find(|p| *p == "things")?;
    let name = parts.next().filter(|n| !n.is_empty())?;
    Some(percent_decode_str(name).decode_utf8_lossy().into_owned())
}

/// The job a control-plane path (`/jobs/ID…`) is about.
fn job_of(target: &str) -> Option<String> {
    let path = target.split('?').next().unwrap_or(target);
    let mut parts = path.split('/');
    parts.find(|p| *p == "jobs")?;
    let id = parts.next().filter(|n| !n.is_empty())?;
    Some(percent_decode_str(id).decode_utf8_lossy().into_owned())
}

fn succeeded(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Answered(r) if (200..300).contains(&r.status))
}

/// A thing ARN's name (`arn:aws:iot:r:a:thing/NAME`).
fn arn_thing(arn: &str) -> Option<&str> {
    arn.rsplit_once(":thing/").map(|(_, name)| name)
}

fn client_token(body: Option<&str>) -> Option<String> {
    let value: Value = serde_json::from_str(body?).ok()?;
    value.get("clientToken")?.as_str().map(str::to_string)
}

/// `answer` with placeholders for the names its body (and reply topic) holds.
fn placeheld(answer: Answer, names: &Placeholders) -> Answer {
    match answer {
        Answer::Http {
            status,
            error_type,
            body,
            truncated,
        } => Answer::Http {
            status,
            error_type,
            body: names.apply(&body),
            truncated,
        },
        Answer::Mqtt { topic, body } => Answer::Mqtt {
            topic: names.apply(&topic),
            body: names.apply(&body),
        },
        other => other,
    }
}

/// What a capture header says besides its seed.
#[derive(Debug, Clone)]
pub struct Origin {
    /// What recorded it.
    pub source: Source,
    /// Wall-clock origin, epoch milliseconds.
    pub origin_ms: u64,
    /// How fast the recorded target's clock ran.
    pub target_time_scale: f64,
    /// The run id the recorder put in every name it created, left out of placeholders.
    pub run_id: Option<String>,
}

/// A message the server sent a device unasked (`notify`, `notify-next`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// When it arrived, in microseconds since the origin.
    pub at_us: u64,
    /// Topic (`$aws/things/NAME/jobs/notify-next`).
    pub topic: String,
    /// Payload.
    pub body: String,
}

impl From<&Received> for Notification {
    fn from(r: &Received) -> Self {
        Self {
            at_us: r.at_us,
            topic: r.topic.clone(),
            body: r.payload.clone(),
        }
    }
}

/// The capture of a run's `exchanges` and the notifications its devices `heard`, keeping
/// only the notifications of things the exchanges speak for: a case played again ran its
/// discarded attempts under names of their own, whose exchanges are not in the capture.
pub fn from_run<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    heard: &[Received],
    origin: Origin,
) -> Capture {
    let exchanges: Vec<&Exchange> = exchanges.into_iter().collect();
    let things: BTreeSet<String> = exchanges
        .iter()
        .filter_map(|e| thing_of(&e.request.target))
        .collect();
    let notifications: Vec<Notification> = heard
        .iter()
        .filter(|r| thing_of(&r.topic).is_some_and(|t| things.contains(&t)))
        .map(Notification::from)
        .collect();
    from_traffic(exchanges, &notifications, origin)
}

/// The capture of `exchanges` (any order; they are put in send order).
pub fn from_exchanges<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    origin: Origin,
) -> Capture {
    from_traffic(exchanges, &[], origin)
}

/// The capture of `exchanges` and the `notifications` devices received (any order; each
/// device's timeline is put in time order, a notification after an exchange sent at the same
/// microsecond).
pub fn from_traffic<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    notifications: &[Notification],
    origin: Origin,
) -> Capture {
    let mut all: Vec<&Exchange> = exchanges.into_iter().collect();
    all.sort_by_key(|e| (e.timing.sent_us, e.seq));
    let mut names = Placeholders::new(origin.run_id.clone());

    // The world: what the control plane created, and the things devices spoke for.
    let mut things = BTreeSet::new();
    let mut created_jobs = Vec::new();
    for e in &all {
        if !succeeded(&e.outcome) {
            continue;
        }
        match e.operation.as_str() {
            "CreateThing" => things.extend(thing_of(&e.request.target)),
            "CreateJob" => {
                let body: Map<String, Value> = e
                    .request
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or_default();
                let targets: Vec<String> = body
                    .get("targets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().and_then(arn_thing).map(str::to_string))
                    .collect();
                if let Some(id) = job_of(&e.request.target) {
                    created_jobs.push((id, targets, body, e.timing.sent_us));
                }
            }
            _ => {}
        }
    }
    for t in &things {
        names.thing(t);
    }
    for (id, ..) in &created_jobs {
        names.job(id);
    }

    let seed = Seed {
        things: things
            .iter()
            .map(|t| SeedThing {
                name: names.thing(t),
            })
            .collect(),
        jobs: created_jobs
            .into_iter()
            .map(|(id, targets, mut body, at)| {
                body.remove("targets");
                let create = serde_json::from_str(&names.apply(&Value::Object(body).to_string()))
                    .unwrap_or_default();
                SeedJob {
                    id: names.job(&id),
                    targets: targets.iter().map(|t| names.thing(t)).collect(),
                    at_us: Some(at),
                    create,
                }
            })
            .collect(),
    };

    let mut timeline = Timeline {
        things: &things,
        device_seq: HashMap::new(),
    };
    let mut heard: Vec<&Notification> = notifications.iter().collect();
    heard.sort_by_key(|n| n.at_us);
    let mut heard = heard.into_iter().peekable();
    let mut lines = Vec::new();
    for e in &all {
        while let Some(n) = heard.next_if(|n| n.at_us < e.timing.sent_us) {
            lines.extend(timeline.event(n, &mut names));
        }
        let answer = placeheld(Answer::of(&e.outcome, &e.request.transport), &names);
        if Operation::from_name(&e.operation).is_some() {
            let Some((device, device_seq)) = timeline.next(&e.request.target, &mut names) else {
                continue;
            };
            lines.push(Line::Exchange(CapturedExchange {
                device,
                device_seq,
                intended_us: (e.timing.intended_us != e.timing.sent_us)
                    .then_some(e.timing.intended_us),
                sent_us: e.timing.sent_us,
                done_us: e.timing.done_us,
                transport: e.request.transport.clone(),
                operation: e.operation.clone(),
                method: (e.request.transport == "http").then(|| e.request.method.clone()),
                target: names.apply(&e.request.target),
                body: e.request.body.as_deref().map(|b| names.apply(b)),
                client_token: client_token(e.request.body.as_deref()),
                answer,
            }));
        } else if !matches!(e.operation.as_str(), "CreateThing" | "CreateJob")
            && e.request.method != "GET"
        {
            lines.push(Line::Control(CapturedControl {
                sent_us: e.timing.sent_us,
                done_us: Some(e.timing.done_us),
                operation: e.operation.clone(),
                method: e.request.method.clone(),
                target: names.apply(&e.request.target),
                body: e.request.body.as_deref().map(|b| names.apply(b)),
                answer,
            }));
        }
    }
    for n in heard {
        lines.extend(timeline.event(n, &mut names));
    }
    Capture {
        header: Header {
            format: FORMAT.to_string(),
            source: origin.source,
            jobcert_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            origin_ms: origin.origin_ms,
            target_time_scale: origin.target_time_scale,
            seed,
        },
        lines: lines
            .into_iter()
            .map(|value| Numbered { line: 0, value })
            .collect(),
    }
}

/// The devices' timelines: who a line is about and its order there.
struct Timeline<'a> {
    /// The things the control plane created (stored as placeholders).
    things: &'a BTreeSet<String>,
    device_seq: HashMap<String, u64>,
}

impl Timeline<'_> {
    /// The device a path or topic is about and its next sequence number.
    fn next(&mut self, target: &str, names: &mut Placeholders) -> Option<(String, u64)> {
        let thing = thing_of(target)?;
        let device = if self.things.contains(&thing) {
            names.thing(&thing)
        } else {
            thing
        };
        let n = self.device_seq.entry(device.clone()).or_default();
        *n += 1;
        Some((device, *n - 1))
    }

    /// The event line of `n`, if its topic names a thing.
    fn event(&mut self, n: &Notification, names: &mut Placeholders) -> Option<Line> {
        let (device, device_seq) = self.next(&n.topic, names)?;
        Some(Line::Event(CapturedEvent {
            device,
            device_seq,
            at_us: n.at_us,
            topic: names.apply(&n.topic),
            body: names.apply(&n.body),
        }))
    }
}
