//! The harness against deliberately non-conforming MQTT targets. A mosquitto broker carries
//! the Jobs topics; a responder in this file, a client of that broker, answers every request
//! through the reference's [`JobsService`] and publishes its notifications, but breaks exactly
//! one rule per [`Fault`]. The real plan (scenarios plus generated negative cases, filtered to
//! the cases that matter) must then fail under the right requirement ID. The same responder
//! without a fault must pass with zero failures, which also shows that it is transparent.
//!
//! Needs mosquitto (`$JOBCERT_MOSQUITTO`, else `mosquitto` on `PATH` or in `/usr/sbin`), so
//! every test here is `#[ignore]`d and fails when run without it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobcert_contract::{Binding, Operation};
use jobcert_harness::drive::conformance;
use jobcert_harness::plan::Plan;
use jobcert_harness::record::RunRecord;
use jobcert_harness::transport::{Broker, DataPlane};
use jobcert_harness::verdict::Assessment;
use jobcert_reference::engine::Engine;
use jobcert_reference::mqtt::service::{JobsService, Message};
use jobcert_reference::mqtt::topics::{self, JobsTopic};
use rstest::rstest;
use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::common::broker::Mosquitto;
use crate::common::faults::{
    self, TIME_SCALE, assert_clean, assert_timeouts_cited, cited, doubled, failures, listing,
    timed_out,
};

/// Request deadline of every run (also how long a notification step waits).
const DEADLINE: Duration = Duration::from_millis(1500);
/// Longest a whole run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How long the responder may take to connect and subscribe.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Every thing's Jobs topics.
const FILTER: &str = "$aws/things/+/jobs/#";
/// Largest packet the responder sends or accepts.
const MAX_PACKET: usize = 256 * 1024;
/// What [`Fault::WrongReplyTopic`] appends to an `…/accepted` topic.
const WRONG_SUFFIX: &str = "-wrong";

/// The one rule a responder breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// None: every reply and notification goes out as the reference composed it.
    Faithful,
    /// A rejected `InvalidRequest` says `InvalidTopic` instead.
    InvalidRequestAsInvalidTopic,
    /// A rejected `VersionMismatch` says `InvalidStateTransition` instead.
    VersionMismatchAsStateTransition,
    /// Replies (accepted and rejected) leave `clientToken` out.
    NoClientToken,
    /// Requests for this operation are never answered.
    NoReply(Operation),
    /// `…/accepted` replies go to `…/accepted-wrong`, clientToken kept.
    WrongReplyTopic,
    /// `notify-next` is never published.
    NoNotifyNext,
    /// A fractional expectedVersion, a number or a decimal string, is truncated to an integer.
    TruncatesVersion,
}

impl Fault {
    /// A name fit for the run id (which ends up in thing names and topics).
    fn name(self) -> &'static str {
        match self {
            Self::Faithful => "faithful",
            Self::InvalidRequestAsInvalidTopic => "badcode",
            Self::VersionMismatchAsStateTransition => "badversion",
            Self::NoClientToken => "notoken",
            Self::NoReply(_) => "noreply",
            Self::WrongReplyTopic => "badtopic",
            Self::NoNotifyNext => "nonext",
            Self::TruncatesVersion => "truncates",
        }
    }

    /// A request payload as this fault reads it.
    fn request(self, payload: &[u8]) -> Vec<u8> {
        let Ok(mut body) = serde_json::from_slice::<Value>(payload) else {
            return payload.to_vec();
        };
        let version = &body["expectedVersion"];
        let read = version
            .as_f64()
            .or_else(|| version.as_str().and_then(|v| v.parse::<f64>().ok()))
            .filter(|v| v.fract() != 0.0);
        match read {
            Some(v) if self == Self::TruncatesVersion => {
                body["expectedVersion"] = json!(v.trunc() as i64);
                body.to_string().into_bytes()
            }
            _ => payload.to_vec(),
        }
    }

    /// The reply to a request on `request_topic` as this fault sends it; `None` drops it.
    fn reply(self, request_topic: &str, mut reply: Message) -> Option<Message> {
        match self {
            Self::Faithful => {}
            Self::InvalidRequestAsInvalidTopic => {
                recode(&mut reply, "InvalidRequest", "InvalidTopic")
            }
            Self::VersionMismatchAsStateTransition => {
                recode(&mut reply, "VersionMismatch", "InvalidStateTransition");
            }
            Self::NoClientToken => edit(&mut reply, |body| {
                body.as_object_mut().and_then(|b| b.remove("clientToken"));
            }),
            Self::NoReply(dropped) => {
                if matches!(
                    topics::parse(request_topic),
                    Some(JobsTopic::Request { operation, .. }) if operation == dropped
                ) {
                    return None;
                }
            }
            Self::WrongReplyTopic => {
                if reply.topic.ends_with("/accepted") {
                    reply.topic.push_str(WRONG_SUFFIX);
                }
            }
            Self::NoNotifyNext | Self::TruncatesVersion => {}
        }
        Some(reply)
    }

    /// A notification as this fault publishes it; `None` drops it.
    fn notification(self, notification: Message) -> Option<Message> {
        match self {
            Self::NoNotifyNext if notification.topic.ends_with("/notify-next") => None,
            _ => Some(notification),
        }
    }
}

/// Rewrites the JSON payload of `message` with `change`.
fn edit(message: &mut Message, change: impl FnOnce(&mut Value)) {
    if let Ok(mut body) = serde_json::from_slice::<Value>(&message.payload) {
        change(&mut body);
        message.payload = body.to_string().into_bytes();
    }
}

/// Renames the rejected code `from` to `to`.
fn recode(message: &mut Message, from: &str, to: &str) {
    if message.topic.ends_with("/rejected") {
        edit(message, |body| {
            if body["code"] == from {
                body["code"] = json!(to);
            }
        });
    }
}

/// The faulty Jobs service: a client of the broker that answers through the reference's
/// [`JobsService`] and publishes its notifications, each altered by the fault. Aborted on drop;
/// [`Responder::stop`] ends it cleanly and says what went wrong on the way.
struct Responder {
    task: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
    /// Connection losses and dropped publishes: each may fail a check for no fault of the target.
    troubles: Arc<Mutex<Vec<String>>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Responder {
    /// Connects to the broker on `port`, subscribes to every thing's Jobs topics and returns
    /// once the broker acknowledged the subscription.
    async fn start(port: u16, engine: Arc<Engine>, fault: Fault) -> Self {
        let service = JobsService::new(engine.clone());
        let mut changes = engine.changes();
        let mut options = MqttOptions::new(
            format!("faulty-jobs-{}", uuid::Uuid::new_v4().simple()),
            "127.0.0.1",
            port,
        );
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        let (client, mut events) = AsyncClient::new(options, 4096);
        // Like the broker: no Nagle stall on the responder's side of a round trip.
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let (ready_tx, ready) = oneshot::channel();
        let (stop, mut stopped) = watch::channel(false);
        let troubles = Arc::new(Mutex::new(Vec::new()));
        let trouble = {
            let troubles = troubles.clone();
            move |what: String| troubles.lock().expect("troubles lock").push(what)
        };
        let subscriber = client.clone();
        let publish = move |m: Message| {
            client
                .try_publish(m.topic, QoS::AtLeastOnce, false, m.payload)
                .err()
        };
        let task = tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            loop {
                tokio::select! {
                    event = events.poll() => match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if let Err(e) = subscriber.try_subscribe(FILTER, QoS::AtLeastOnce) {
                                trouble(format!("subscribing: {e}"));
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(tx) = ready_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            // Its own misdirected replies come back through the filter.
                            if p.topic.ends_with(WRONG_SUFFIX) {
                                continue;
                            }
                            let reply = service
                                .handle(&p.topic, &fault.request(&p.payload))
                                .and_then(|r| fault.reply(&p.topic, r.message));
                            if let Some(e) = reply.and_then(&publish) {
                                trouble(format!("reply to {} dropped: {e}", p.topic));
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            trouble(format!("broker connection: {e}"));
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    },
                    change = changes.recv() => match change {
                        Ok(change) => {
                            for m in service.notifications(&change, &|_| true) {
                                let topic = m.topic.clone();
                                if let Some(e) = fault.notification(m).and_then(&publish) {
                                    trouble(format!("{topic} dropped: {e}"));
                                }
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            trouble(format!("{n} changes were not notified"));
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = stopped.changed() => return,
                }
            }
        });
        let responder = Self {
            task,
            stop,
            troubles,
        };
        match tokio::time::timeout(SUBSCRIBE_TIMEOUT, ready).await {
            Ok(Ok(())) => responder,
            _ => panic!("the responder did not subscribe to {FILTER} within {SUBSCRIBE_TIMEOUT:?}"),
        }
    }

    /// Stops answering (before the broker goes away) and returns what went wrong on the way.
    async fn stop(mut self) -> Vec<String> {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.troubles
                .lock()
                .expect("troubles lock")
                .push("the responder did not stop within 5 s".into());
        }
        std::mem::take(&mut *self.troubles.lock().expect("troubles lock"))
    }
}

/// The real plan over MQTT, keeping only the cases that carry one of `only` (all when empty).
fn plan(only: &[&str]) -> Plan {
    faults::plan(Binding::Mqtt, only)
}

/// Runs `plan` over MQTT against a fresh mosquitto, a fresh reference server (its engine and
/// control plane) and a responder with `fault`, and weighs the findings under the AWS profile.
async fn run_through(fault: Fault, plan: &Plan) -> (RunRecord, Assessment) {
    let broker = Mosquitto::start();
    let server = common::server(TIME_SCALE).await;
    assert!(server.mqtt().is_none(), "no embedded broker");
    let responder = Responder::start(broker.port(), server.engine().clone(), fault).await;
    let control = format!("http://{}", server.control_plane());
    let origin = Instant::now();
    let data = DataPlane::Mqtt(Broker::tcp("127.0.0.1", broker.port()));
    let target = faults::target(data, &control);
    let settings = faults::settings(fault.name().to_string(), DEADLINE, origin);
    let cases = tokio::time::timeout(
        RUN_LIMIT,
        conformance::run(plan, &target, &settings, CancellationToken::new()),
    )
    .await
    .unwrap_or_else(|_| panic!("the {fault:?} run took longer than {RUN_LIMIT:?}"))
    .cases;
    let troubles = responder.stop().await;
    server.shutdown().await;
    drop(broker);
    assert!(
        troubles.is_empty(),
        "the {fault:?} responder had trouble:\n{}",
        troubles.join("\n")
    );
    faults::weigh(
        settings.run_id,
        origin,
        (target.data.url(), control, "mqtt"),
        cases,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
async fn a_faithful_responder_through_mosquitto_has_no_failure() {
    let plan = plan(&["mqtt-only", "start-next"]);
    let (_, assessment) = run_through(Fault::Faithful, &plan).await;
    assert_clean(&assessment, "mqtt-only and start-next, faithful");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
async fn the_whole_plan_passes_through_a_faithful_responder() {
    let plan = plan(&[]);
    let (_, assessment) = run_through(Fault::Faithful, &plan).await;
    assert_clean(&assessment, "the whole plan, faithful");
}

/// Each row: the fault, the plan's filter, and the requirement IDs that must fail; `A|B` means
/// either.
#[rstest]
#[case::invalid_request_as_invalid_topic(
    Fault::InvalidRequestAsInvalidTopic,
    &["SN-STEP-RANGE", "UP-INPUT"],
    &["SN-STEP-RANGE", "UP-INPUT"]
)]
#[case::version_mismatch_as_state_transition(
    Fault::VersionMismatchAsStateTransition,
    &["MQ-VERSION-MISMATCH"],
    &["MQ-VERSION-MISMATCH"]
)]
#[case::no_client_token(
    Fault::NoClientToken,
    &["GP-LISTS", "MQ-VERSION-MISMATCH"],
    &["MQ-CLIENT-TOKEN|WI-ANSWER"]
)]
#[case::no_pending_reply(
    Fault::NoReply(Operation::GetPendingJobExecutions),
    &["GP-LISTS", "GP-CONTENT"],
    &["WI-ANSWER"]
)]
#[case::wrong_reply_topic(
    Fault::WrongReplyTopic,
    &["GP-LISTS", "MQ-VERSION-MISMATCH"],
    &["MQ-REPLY-TOPIC"]
)]
#[case::no_notify_next(Fault::NoNotifyNext, &["MQ-NOTIFY-NEXT"], &["MQ-NOTIFY-NEXT"])]
#[case::truncates_version(
    Fault::TruncatesVersion,
    &["UP-EXPECTED-VERSION-INTEGER"],
    &["UP-EXPECTED-VERSION-INTEGER"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
async fn a_broken_rule_fails_under_its_requirement(
    #[case] fault: Fault,
    #[case] only: &[&str],
    #[case] expected: &[&str],
) {
    let plan = plan(only);
    let (_, control) = run_through(Fault::Faithful, &plan).await;
    assert_clean(&control, &format!("{only:?} without the fault"));
    let (_, assessment) = run_through(fault, &plan).await;
    let failed = failures(&assessment);
    let cited = cited(&failed);
    eprintln!("{fault:?} fails {cited:?}:\n{}", listing(&failed));
    for alternatives in expected {
        assert!(
            alternatives.split('|').any(|id| cited.contains(id)),
            "{fault:?} should fail {alternatives}; failures:\n{}",
            listing(&failed)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
async fn a_missing_reply_is_a_timeout_not_a_wrong_answer() {
    let fault = Fault::NoReply(Operation::GetPendingJobExecutions);
    let (record, assessment) = run_through(fault, &plan(&["GP-LISTS", "GP-CONTENT"])).await;
    assert_timeouts_cited(&record, &assessment, "GetPendingJobExecutions", DEADLINE);
    let doubled = doubled(&record, &assessment);
    assert!(
        doubled.is_empty(),
        "timeouts also failed as wrong answers:\n{}",
        listing(&doubled)
    );
}

/// A request the model expects refused that times out fails WI-ANSWER only, not also the
/// requirement of the refusal (e.g. UP-EXPECTED-VERSION).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
async fn a_missing_refusal_is_a_timeout_not_a_wrong_answer() {
    let fault = Fault::NoReply(Operation::UpdateJobExecution);
    let (record, assessment) = run_through(fault, &plan(&["MQ-VERSION-MISMATCH"])).await;
    assert!(!timed_out(&record).is_empty(), "nothing timed out");
    let doubled = doubled(&record, &assessment);
    assert!(
        doubled.is_empty(),
        "timeouts also failed as wrong answers:\n{}",
        listing(&doubled)
    );
}

/// A reply without the clientToken echo still reaches its request (by reply topic), and fails
/// MQ-CLIENT-TOKEN rather than timing out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto (apt-get install mosquitto); run with --include-ignored"]
async fn a_missing_client_token_fails_mq_client_token() {
    let (_, assessment) = run_through(Fault::NoClientToken, &plan(&["GP-LISTS"])).await;
    let failed = failures(&assessment);
    assert!(
        cited(&failed).contains("MQ-CLIENT-TOKEN"),
        "failures:\n{}",
        listing(&failed)
    );
}
