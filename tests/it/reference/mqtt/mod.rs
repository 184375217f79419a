//! The embedded MQTT broker and the Jobs service behind it, over real TCP on 127.0.0.1
//! (spec §3, §7): request/reply on the reserved topics for MQTT 3.1.1 and 5, the rejected
//! codes, notifications, namespace topics, consistency with the HTTP data plane, plain
//! publish/subscribe, and the broker surviving abuse.
//!
//! Every payload received on a `$aws/things/{thing}/jobs/…` topic is checked against the
//! matching `schemas/mqtt/*.json` schema, and every wait is bounded by [`WAIT`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{call, create_job, create_thing, server_with};
use bytes::Bytes;
use jobcert_contract::schemas;
use jobcert_reference::{RunningServer, ServeConfig};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Longest wait for anything expected to happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);
/// The thing most tests use.
const THING: &str = "dev-1";
/// Payloads accepted by the test clients (the broker allows 128 KiB plus headers).
const CLIENT_MAX_PACKET: usize = 512 * 1024;

mod admission;
mod client;
mod notifications;
mod policy;
mod pubsub;
mod raw;
mod replies;
mod robustness;
mod websocket;

use client::*;
use raw::*;

// ---------------------------------------------------------------------------------------------
// Server set-up
// ---------------------------------------------------------------------------------------------

/// A reference server with the embedded broker, its clock at 600×.
async fn mqtt_server() -> RunningServer {
    server_with(ServeConfig {
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        time_scale: 600.0,
        ..Default::default()
    })
    .await
}

/// A server whose [`THING`] has `jobs` queued, oldest first.
async fn seeded(jobs: &[&str]) -> RunningServer {
    let s = mqtt_server().await;
    create_thing(&s, THING).await;
    for id in jobs {
        create_job(&s, id, &[THING], json!({})).await;
    }
    s
}

fn broker(s: &RunningServer) -> SocketAddr {
    let addr = s.mqtt().expect("the embedded broker runs");
    assert!(addr.ip().is_loopback());
    addr
}

/// `$aws/things/{thing}/jobs/{rest}`.
fn jobs(thing: &str, rest: &str) -> String {
    format!("$aws/things/{thing}/jobs/{rest}")
}

// ---------------------------------------------------------------------------------------------
// Payload checks
// ---------------------------------------------------------------------------------------------

/// The schema a Jobs topic's payload must satisfy.
fn schema_for(topic: &str) -> Option<&'static str> {
    let rest = topic.strip_prefix("$aws/things/")?.split_once("/jobs/")?.1;
    let levels: Vec<&str> = rest.split('/').collect();
    Some(match levels.as_slice() {
        ["notify"] => "mqtt/notify.json",
        ["notify-next"] => "mqtt/notify-next.json",
        [.., "rejected"] => "mqtt/rejected.json",
        ["get", "accepted"] => "mqtt/get-pending-job-executions.accepted.json",
        ["start-next", "accepted"] => "mqtt/start-next-pending-job-execution.accepted.json",
        [_, "get", "accepted"] | [_, _, "get", "accepted"] => {
            "mqtt/describe-job-execution.accepted.json"
        }
        [_, "update", "accepted"] | [_, _, "update", "accepted"] => {
            "mqtt/update-job-execution.accepted.json"
        }
        _ => return None,
    })
}

/// The payload as JSON; on a Jobs topic it must satisfy its schema and carry an integer
/// epoch-seconds `timestamp`.
fn json_of(topic: &str, payload: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(payload).unwrap_or_else(|e| {
        panic!(
            "{topic}: payload is not JSON ({e}): {}",
            String::from_utf8_lossy(payload)
        )
    });
    if let Some(path) = schema_for(topic) {
        let violations = schemas()
            .get(path)
            .expect("schema exists")
            .violations(&value);
        assert!(
            violations.is_empty(),
            "{topic}: {value} breaks {path}: {violations:?}"
        );
        let ts = value["timestamp"].as_u64();
        assert!(
            ts.is_some_and(|t| t > 1_000_000_000 && t < 100_000_000_000),
            "{topic}: timestamp must be integer epoch seconds: {value}"
        );
    }
    value
}

/// The job ids of a list of summaries.
fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e["jobId"].as_str().expect("jobId"))
        .collect()
}
