//! The embedded broker at fleet scale: `jobcert serve --mqtt` in its own process (one process
//! may hold only 20,000 descriptors here), 15,000 things targeted by one job, and 15,000
//! concurrently connected MQTT 3.1.1 devices, each asking for its next job with
//! `start-next` and receiving its own `IN_PROGRESS` execution. Prints the broker's resident
//! memory per connection, the connect time and the round-trip throughput.
//!
//! Every wait is bounded by one overall deadline ([`BUDGET`]); on failure the test says how
//! many devices did not get that far.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::timeout_at;

use crate::common::process::Serve;

/// Devices (and things).
const DEVICES: usize = 15_000;
/// The one job every thing is targeted by.
const JOB: &str = "scale";
/// CreateThing requests in flight while seeding.
const SEED_CONCURRENCY: usize = 64;
/// Connection handshakes (TCP connect, CONNECT/CONNACK, SUBSCRIBE/SUBACK) in progress at
/// once; stays well inside the broker's listen backlog.
const HANDSHAKES: usize = 128;
/// Longest one device's handshake may take once it is under way.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole test, from spawning the server to the last reply.
const BUDGET: Duration = Duration::from_secs(120);
/// How many failure messages a failed assertion quotes.
const QUOTED: usize = 5;

/// `jobcert serve` on free ports: the server, its control-plane URL and the broker's address.
fn start() -> (Serve, String, String) {
    let server = Serve::with(&["--mqtt", "127.0.0.1:0"]);
    let control = server.control.clone();
    let mqtt = server
        .mqtt
        .as_deref()
        .and_then(|url| url.strip_prefix("mqtt://"))
        .expect("an mqtt://HOST:PORT line")
        .to_string();
    (server, control, mqtt)
}

/// Resident memory of process `pid` (`self` for this one), in KiB.
fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a VmRSS line")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn thing(i: usize) -> String {
    format!("scale-{i:05}")
}

/// What a device task tells the test.
enum Report {
    /// Connected and subscribed.
    Subscribed,
    /// Its start-next reply arrived and was checked.
    Replied(Result<(), String>),
    /// The connection failed or ended.
    Ended(String),
}

/// Checks a reply to `thing`'s start-next request.
fn check_reply(thing: &str, topic: &str, payload: &[u8]) -> Result<(), String> {
    let accepted = format!("$aws/things/{thing}/jobs/start-next/accepted");
    let body = String::from_utf8_lossy(payload);
    if topic != accepted {
        return Err(format!("{thing}: reply on {topic}: {body}"));
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("{thing}: {e}: {body}"))?;
    let e = &v["execution"];
    let ok = v["clientToken"] == thing
        && e["jobId"] == JOB
        && e["thingName"] == thing
        && e["status"] == "IN_PROGRESS";
    ok.then_some(())
        .ok_or_else(|| format!("{thing}: unexpected reply {body}"))
}

/// Drives one device's connection: handshake under a `gate` permit, then every reply, until
/// the task is aborted or the connection fails.
async fn device(
    thing: String,
    mut events: EventLoop,
    gate: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let mut permit = Some(gate.acquire_owned().await.expect("the gate stays open"));
    let handshake_until = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let mut replied = false;
    loop {
        let event = if permit.is_some() {
            match timeout_at(handshake_until, events.poll()).await {
                Ok(e) => e,
                Err(_) => {
                    let _ = reports.send(Report::Ended(format!(
                        "{thing}: no SUBACK within {HANDSHAKE_TIMEOUT:?}"
                    )));
                    return;
                }
            }
        } else {
            events.poll().await
        };
        match event {
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                permit = None;
                let granted = ack
                    .return_codes
                    .iter()
                    .all(|c| matches!(c, SubscribeReasonCode::Success(_)));
                let _ = reports.send(if granted {
                    Report::Subscribed
                } else {
                    Report::Ended(format!("{thing}: subscription refused: {ack:?}"))
                });
                if !granted {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let result = if replied {
                    Err(format!("{thing}: a second reply on {}", p.topic))
                } else {
                    check_reply(&thing, &p.topic, &p.payload)
                };
                replied = true;
                let _ = reports.send(Report::Replied(result));
            }
            Ok(_) => {}
            Err(e) => {
                let _ = reports.send(Report::Ended(format!("{thing}: {e}")));
                return;
            }
        }
    }
}

/// Tallies device reports.
#[derive(Default)]
struct Tally {
    subscribed: usize,
    replied: usize,
    ended: usize,
    errors: Vec<String>,
}

impl Tally {
    fn add(&mut self, report: Report) {
        let error = match report {
            Report::Subscribed => {
                self.subscribed += 1;
                None
            }
            Report::Replied(Ok(())) => {
                self.replied += 1;
                None
            }
            Report::Replied(Err(e)) => Some(e),
            Report::Ended(e) => {
                self.ended += 1;
                Some(e)
            }
        };
        if let Some(e) = error
            && self.errors.len() < QUOTED
        {
            self.errors.push(e);
        }
    }

    /// Reads reports until `done` holds, every device has ended, or the deadline passes.
    async fn until(
        &mut self,
        reports: &mut mpsc::UnboundedReceiver<Report>,
        deadline: tokio::time::Instant,
        done: impl Fn(&Self) -> bool,
    ) {
        while !done(self) && self.ended < DEVICES {
            match timeout_at(deadline, reports.recv()).await {
                Ok(Some(r)) => self.add(r),
                _ => return,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifteen_thousand_devices_each_get_their_start_next() {
    let _descriptors = crate::common::descriptors::reserve(DEVICES as u64 + 256).await;
    let test_start = Instant::now();
    let deadline = tokio::time::Instant::now() + BUDGET;
    let (server, control, mqtt) = start();
    let broker_pid = server.id().to_string();
    let (host, port) = mqtt.rsplit_once(':').expect("host:port");
    let (host, port) = (host.to_string(), port.parse::<u16>().expect("a port"));

    // Seed: the things, then one job targeting all of them.
    let seed_start = Instant::now();
    let http = reqwest::Client::new();
    let created = futures_util::stream::iter(0..DEVICES)
        .map(|i| {
            let request = http
                .post(format!("{control}/things/{}", thing(i)))
                .json(&json!({}))
                .send();
            async move { request.await.map(|r| r.status()) }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .filter(|r| std::future::ready(matches!(r, Ok(s) if s.is_success())))
        .count();
    let created = timeout_at(deadline, created)
        .await
        .expect("the things are created within the budget");
    assert_eq!(created, DEVICES, "things created");
    let targets: Vec<String> = (0..DEVICES)
        .map(|i| format!("arn:aws:iot:us-east-1:123456789012:thing/{}", thing(i)))
        .collect();
    let response = timeout_at(
        deadline,
        http.put(format!("{control}/jobs/{JOB}"))
            .json(&json!({"targets": targets, "document": "{\"op\":\"scale\"}"}))
            .send(),
    )
    .await
    .expect("CreateJob answers within the budget")
    .expect("CreateJob answers");
    let status = response.status();
    assert!(
        status.is_success(),
        "CreateJob: {status} {}",
        response.text().await.unwrap_or_default()
    );
    drop(http);
    println!(
        "seeded {DEVICES} things and one job in {:.2?}",
        seed_start.elapsed()
    );

    // Connect and subscribe every device, at most HANDSHAKES at a time; keep them all open.
    let broker_before = rss_kib(&broker_pid);
    let own_before = rss_kib("self");
    let gate = Arc::new(Semaphore::new(HANDSHAKES));
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut clients = Vec::with_capacity(DEVICES);
    let connect_start = Instant::now();
    for i in 0..DEVICES {
        let name = thing(i);
        let mut options = MqttOptions::new(name.clone(), host.clone(), port);
        options.set_keep_alive(Duration::from_secs(60));
        options.set_inflight(1);
        options.set_max_packet_size(16 * 1024, 16 * 1024);
        let (client, events) = AsyncClient::new(options, 1);
        client
            .try_subscribe(
                format!("$aws/things/{name}/jobs/start-next/+"),
                QoS::AtLeastOnce,
            )
            .expect("the subscription is queued");
        tasks.spawn(device(name, events, gate.clone(), report_tx.clone()));
        clients.push(client);
    }
    drop(report_tx);
    let mut tally = Tally::default();
    tally
        .until(&mut reports, deadline, |t| t.subscribed == DEVICES)
        .await;
    let connect_time = connect_start.elapsed();
    let n = DEVICES as f64;
    println!(
        "connect: {} of {DEVICES} devices connected and subscribed in {connect_time:.2?} \
         ({:.0} per second, {HANDSHAKES} handshakes at a time)",
        tally.subscribed,
        tally.subscribed as f64 / connect_time.as_secs_f64()
    );
    assert_eq!(
        tally.subscribed,
        DEVICES,
        "{} of {DEVICES} devices did not connect and subscribe within {:?} \
         ({} connections ended); first errors: {:?}",
        DEVICES - tally.subscribed,
        connect_time,
        tally.ended,
        tally.errors
    );
    let broker_connected = rss_kib(&broker_pid);
    let own_connected = rss_kib("self");
    println!(
        "broker rss: {:.1} MiB -> {:.1} MiB; {:.1} KiB per connection",
        mib(broker_before),
        mib(broker_connected),
        broker_connected.saturating_sub(broker_before) as f64 / n,
    );
    println!(
        "test process rss: {:.1} MiB -> {:.1} MiB; {:.1} KiB per device",
        mib(own_before),
        mib(own_connected),
        own_connected.saturating_sub(own_before) as f64 / n,
    );

    // Every device asks for its next job; all stay connected until every reply is in.
    let round_trip_start = Instant::now();
    for (i, client) in clients.iter().enumerate() {
        let name = thing(i);
        let payload = json!({ "clientToken": name }).to_string();
        client
            .try_publish(
                format!("$aws/things/{name}/jobs/start-next"),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .expect("the request is queued");
    }
    tally
        .until(&mut reports, deadline, |t| t.replied == DEVICES)
        .await;
    let round_trip_time = round_trip_start.elapsed();
    println!(
        "round trips: {} of {DEVICES} start-next replies in {round_trip_time:.2?} ({:.0} per second)",
        tally.replied,
        tally.replied as f64 / round_trip_time.as_secs_f64()
    );
    assert_eq!(
        tally.replied,
        DEVICES,
        "{} of {DEVICES} devices got no correct start-next reply within {:?} \
         ({} connections ended); first errors: {:?}",
        DEVICES - tally.replied,
        round_trip_time,
        tally.ended,
        tally.errors
    );
    assert_eq!(tally.ended, 0, "connections ended: {:?}", tally.errors);
    println!(
        "broker rss after the replies: {:.1} MiB",
        mib(rss_kib(&broker_pid))
    );

    // The control plane agrees: every execution is in progress.
    let http = reqwest::Client::new();
    let job = timeout_at(deadline, http.get(format!("{control}/jobs/{JOB}")).send())
        .await
        .expect("DescribeJob answers within the budget")
        .expect("DescribeJob answers")
        .json::<Value>()
        .await
        .expect("a JSON DescribeJob reply");
    assert_eq!(
        job["job"]["jobProcessDetails"]["numberOfInProgressThings"], DEVICES,
        "{}",
        job["job"]["jobProcessDetails"]
    );

    println!("total {:.2?}", test_start.elapsed());

    // Stop the broker first so it does not tear down 15,000 sessions one by one.
    drop(server);
    tasks.abort_all();
    drop(clients);
}
