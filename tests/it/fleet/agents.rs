//! Device agent profiles against the reference over MQTT, each fleet small and on a fast
//! clock (600×, so a second of real time is ten minutes of device time):
//!
//! * A listener fleet drains with far fewer start-next requests than a poller fleet of the
//!   same size, jobs and seed: it asks again only when `notify-next` names an execution.
//! * Offline devices come online after their time away, and only then ask.
//! * A reconnect storm shows as a spike of connection attempts in the per-second series, and
//!   the fleet still drains with every execution finished once.
//! * When the broker turns the storm's reconnections away for a while, the Device Client's
//!   doubling backoff outlasts the refusal and every device comes back; the SDKs' three quick
//!   attempts do not, and those devices take no further part.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use jobcert_harness::record::{FleetRecord, Interval};
use jobcert_harness::report::fleet::read_record;
use serde_json::Value;

use super::runs::{assert_passed, run};
use crate::common::process::Serve;
use crate::common::report::{count, statuses_total};
use crate::common::scratch;

/// Jobs created one after another while the devices wait for them: 60 devices, 3 jobs each,
/// one job a second.
const WAITING_FOR_JOBS: &str = "\
fleet:
  name: agents-profile
  seed: 7
  things: { count: 60, per-job: 60 }
  transport: mqtt
  connect: { rate: 2000 }
  rollout: { jobs-per-thing: 3, rate: 1, start: during }
  behaviour:
    agent: AGENT
    work: { constant: 5 }
    idle: { constant: 20 }
    step-timeout-minutes: 600
  load: { model: closed }
  run: { until: drained, max-duration-s: 30, deadline-ms: 10000 }
  thresholds:
    error-rate: { max: 0 }
  reference: { time-scale: 600 }
";

/// The record a summary carries, read back as the merge reads it.
fn record_of(scratch: &Path, run_id: &str) -> FleetRecord {
    read_record(&scratch.join("reports").join(run_id).join("summary.json"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Start-next requests of every outcome.
fn start_nexts(summary: &Value) -> u64 {
    summary["record"]["requests"]["StartNextPendingJobExecution"]
        .as_object()
        .map_or(0, |o| o.values().filter_map(Value::as_u64).sum())
}

#[test]
fn a_listener_fleet_drains_with_far_fewer_start_next_requests_than_a_poller_fleet() {
    let scratch = scratch("agents-profile");
    let mut asked = Vec::new();
    for agent in ["poller", "listener"] {
        let scenario = WAITING_FOR_JOBS.replace("AGENT", agent);
        let (ran, summary) = run(&scratch, &scenario, agent, &[]);
        assert_passed(&ran, &summary);
        assert_eq!(statuses_total(&summary), 60 * 3, "{agent}");
        asked.push(start_nexts(&summary));
        // A listener's start-nexts after a notice say how long it took to act on it.
        let noticed: u64 = record_of(scratch.path(), agent)
            .notice_to_start
            .histograms()
            .map(|(_, h)| h.len())
            .sum();
        match agent {
            "poller" => assert_eq!(noticed, 0),
            _ => assert!((60..=start_nexts(&summary)).contains(&noticed), "{noticed}"),
        }
    }
    let [poller, listener] = asked[..] else {
        unreachable!("two runs")
    };
    // Each device asks at least once per job and once to find nothing more.
    assert!(listener >= 60 * 4, "{asked:?}");
    // A listener asks once when it comes online, and after each job twice at most (the
    // notice, and after its update); a poller asks every 20 ms while it waits.
    assert!(listener <= 60 * (1 + 2 * 3) + 60, "{asked:?}");
    assert!(listener * 3 < poller, "{asked:?}");
}

#[test]
fn offline_devices_come_online_after_their_time_away_and_only_then_ask() {
    let scratch = scratch("agents-offline");
    // Half the devices stay away 25 minutes of device time: 2.5 s at 600×.
    let scenario = "\
fleet:
  name: agents-offline
  seed: 9
  things: { count: 40, per-job: 40 }
  transport: mqtt
  rollout: { jobs-per-thing: 1, start: before }
  behaviour:
    step-timeout-minutes: 600
    offline: { share: 0.5, for-ms: { constant: 1500000 } }
  load: { model: closed }
  run: { until: drained, max-duration-s: 30, deadline-ms: 10000 }
  thresholds:
    error-rate: { max: 0 }
  reference: { time-scale: 600 }
";
    let (ran, summary) = run(&scratch, scenario, "offline", &[]);
    assert_passed(&ran, &summary);
    assert_eq!(summary["record"]["connected"], 40);
    assert_eq!(
        count(&summary, "StartNextPendingJobExecution", "answered"),
        80
    );
    let record = record_of(scratch.path(), "offline");
    let first = record
        .intervals
        .iter()
        .find(|i| i.connects > 0)
        .expect("an interval with connections")
        .start_ms;
    // The devices online from the start connect within a few milliseconds: in the first
    // interval with connections or the next. The others connect 2.5 s later, in intervals
    // that end at least that long after the first began.
    let late = |i: &&Interval| i.start_ms > first + 1_000;
    let early: u64 = record
        .intervals
        .iter()
        .filter(|i| !late(i))
        .map(|i| i.connects)
        .sum();
    let away: u64 = record
        .intervals
        .iter()
        .filter(late)
        .map(|i| i.connects)
        .sum();
    assert_eq!(early + away, 40, "{:?}", connects(&record));
    assert!((8..=32).contains(&away), "{:?}", connects(&record));
    assert!(
        record
            .intervals
            .iter()
            .filter(late)
            .filter(|i| i.connects > 0)
            .all(|i| i.start_ms + i.length_ms >= first + 2_500),
        "{:?}",
        connects(&record)
    );
    // Each device away asks twice (its job, then nothing more), and only once it is back.
    let asked_late: u64 = record
        .intervals
        .iter()
        .filter(late)
        .flat_map(|i| i.latency.histograms())
        .filter(|(k, _)| k.operation == "StartNextPendingJobExecution")
        .map(|(_, h)| h.len())
        .sum();
    assert_eq!(asked_late, 2 * away, "{:?}", connects(&record));
}

/// The per-second connection attempts, from the run's start, for messages.
fn connects(record: &FleetRecord) -> Vec<(u64, u64, u64)> {
    record
        .intervals
        .iter()
        .map(|i| {
            (
                i.start_ms.saturating_sub(record.started_at_ms),
                i.connects,
                i.connect_failures,
            )
        })
        .collect()
}

#[test]
fn a_reconnect_storm_spikes_the_connects_per_second_and_the_fleet_still_drains() {
    let scratch = scratch("agents-storm");
    // Listeners waiting for jobs created over about 1.4 s; every connection drops 1 s (ten
    // minutes of device time) after the first device came online, while they wait.
    let scenario = WAITING_FOR_JOBS
        .replace("agent: AGENT", "agent: listener")
        .replace("rate: 1, start: during", "rate: 1.5, start: during")
        .replace(
            "    idle: { constant: 20 }\n",
            "    reconnect-storm: { at-s: 600 }\n    retry: device-client\n",
        )
        .replace(
            "    error-rate: { max: 0 }\n",
            "    timed-out: { max: 0 }\n",
        );
    let (ran, summary) = run(&scratch, &scenario, "storm", &[]);
    assert_eq!(ran.code, Some(0), "{ran}");
    let record = &summary["record"];
    assert_eq!(record["partial"], false, "{:#}", record["stopped_by"]);
    for (requirement, t) in record["findings"].as_object().expect("findings") {
        assert_eq!(t["failed"], 0, "{requirement}: {t:#}");
    }
    assert_eq!(statuses_total(&summary), 60 * 3);
    // Every device connected, dropped its connection and made it again.
    assert_eq!(record["connected"], 60);
    assert_eq!(count(&summary, "Connect", "answered"), 120);
    let record = record_of(scratch.path(), "storm");
    let first = record
        .intervals
        .iter()
        .find(|i| i.connects > 0)
        .expect("an interval with connections");
    let spike = record
        .intervals
        .iter()
        .filter(|i| i.start_ms > first.start_ms)
        .map(|i| i.connects)
        .max()
        .unwrap_or(0);
    assert!(spike >= 50, "{:?}", connects(&record));
    let attempts: u64 = record.intervals.iter().map(|i| i.connects).sum();
    assert_eq!(attempts, 120, "{:?}", connects(&record));
    assert!(
        ran.stdout.contains("connects: 120 attempts, 0 failed"),
        "{ran}"
    );
}

/// A TCP relay in front of a broker that lets the first `open` connections through and then,
/// for `refusing` from the first connection it refuses, closes every new one at once (before
/// CONNACK): a broker that turns a reconnect storm away for a while.
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Longest the relay accepts connections.
    const LIFETIME: Duration = Duration::from_secs(60);

    fn start(upstream: &str, open: usize, refusing: Duration) -> Self {
        let upstream = upstream.trim_start_matches("mqtt://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("an address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            let born = Instant::now();
            let (mut let_through, mut refused_since) = (0, None::<Instant>);
            while !stopped.load(Ordering::Relaxed) && born.elapsed() < Self::LIFETIME {
                let Ok((device, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(1));
                    continue;
                };
                if let_through >= open {
                    let since = *refused_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < refusing {
                        drop(device);
                        continue;
                    }
                }
                let_through += 1;
                let Ok(broker) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = device.set_nonblocking(false);
                for (mut from, mut to) in [
                    (device.try_clone(), broker.try_clone()),
                    (broker.try_clone(), device.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| a.ok().zip(b.ok()))
                {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self { port, stop }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Connection attempts of every outcome, retried ones and connection errors of a summary.
fn connection_counts(summary: &Value) -> (u64, u64, u64, u64) {
    let record = &summary["record"];
    let errors: u64 = record["errors"].as_object().map_or(0, |o| {
        o.iter()
            .filter(|(k, _)| k.starts_with("connect:"))
            .filter_map(|(_, n)| n.as_u64())
            .sum()
    });
    (
        count(summary, "Connect", "answered"),
        count(summary, "Connect", "failed"),
        record["retries"]["Connect"].as_u64().unwrap_or(0),
        errors,
    )
}

#[test]
fn after_a_storm_a_broker_turns_away_the_device_client_backs_off_into_it_and_the_sdk_gives_up() {
    let scratch = scratch("agents-storm-refused");
    let scenario = WAITING_FOR_JOBS
        .replace("count: 60, per-job: 60", "count: 40, per-job: 40")
        .replace("agent: AGENT", "agent: listener")
        .replace("rate: 1, start: during", "rate: 1.5, start: during")
        .replace(
            "    idle: { constant: 20 }\n",
            "    reconnect-storm: { at-s: 600 }\n    retry: RETRY\n",
        )
        .replace("  thresholds:\n    error-rate: { max: 0 }\n", "");
    let mut seen = Vec::new();
    for retry in ["device-client", "sdk-standard"] {
        let serve = Serve::with(&["--mqtt", "127.0.0.1:0", "--time-scale", "600"]);
        // The storm's reconnections are turned away for 0.4 s: the Device Client's backoff
        // (10, 20, 40, 80, 160, 320 s of device time; 17 ms to 0.5 s at 600×) outlasts it;
        // the SDKs' three attempts (within a few milliseconds) do not.
        let relay = Relay::start(
            serve.mqtt.as_deref().expect("a broker"),
            40,
            Duration::from_millis(400),
        );
        let (ran, summary) = run(
            &scratch,
            &scenario.replace("RETRY", retry),
            retry,
            &[
                "--target",
                &relay.url(),
                "--control",
                &serve.control,
                "--target-time-scale",
                "600",
            ],
        );
        let record = &summary["record"];
        assert_eq!(record["partial"], false, "{retry}: {ran}");
        for (requirement, t) in record["findings"].as_object().expect("findings") {
            assert_eq!(t["failed"], 0, "{retry}: {requirement}: {t:#}");
        }
        seen.push((retry, connection_counts(&summary), statuses_total(&summary)));
    }
    let [
        (_, (made, failed, retried, errors), finished),
        (_, (sdk_made, sdk_failed, sdk_retried, sdk_errors), sdk_finished),
    ] = seen[..]
    else {
        unreachable!("two runs")
    };
    // The Device Client: every device back, each after several refused attempts, all retried.
    assert_eq!((made, errors, finished), (80, 0, 40 * 3), "{seen:?}");
    assert!(failed >= 40 * 3 && retried == failed, "{seen:?}");
    // The SDKs' standard mode: three attempts each, two retried, the third an error; the
    // devices take no further part, their last job left undone.
    assert_eq!(
        (sdk_made, sdk_failed, sdk_retried, sdk_errors),
        (40, 40 * 3, 40 * 2, 40),
        "{seen:?}"
    );
    assert!(sdk_finished < 40 * 3, "{seen:?}");
}
