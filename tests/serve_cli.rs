//! `jobcert serve --time-scale 600` as a user runs it: the listener lines, a step timeout that
//! fires within the documented slack in a fraction of a second, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jobcert_contract::execution_model;
use serde_json::{Value, json};

/// Kills the server if the test fails half-way.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Server, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--time-scale",
            "600",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("jobcert serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut url = |prefix: &str| {
        let line = lines.next().expect("a listener line").expect("utf-8");
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?} starts with {prefix:?}"))
            .to_string()
    };
    let data = url("data-plane ");
    let control = url("control-plane ");
    (Server(child), data, control)
}

#[tokio::test]
async fn a_step_timeout_fires_within_the_slack_on_the_virtual_clock() {
    let (mut server, data, control) = start();
    let http = reqwest::Client::new();
    let ok = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    ok(http
        .post(format!("{control}/things/dev-1"))
        .json(&json!({}))
        .send()
        .await
        .unwrap())
    .await;
    let arn = "arn:aws:iot:us-east-1:123456789012:thing/dev-1";
    ok(http
        .put(format!("{control}/jobs/j1"))
        .json(&json!({"targets": [arn], "document": "{}"}))
        .send()
        .await
        .unwrap())
    .await;

    let real_start = Instant::now();
    let started = ok(http
        .put(format!("{data}/things/dev-1/jobs/$next"))
        .json(&json!({"stepTimeoutInMinutes": 1}))
        .send()
        .await
        .unwrap())
    .await;
    let started_at = started["execution"]["startedAt"].as_i64().unwrap();
    let execution = loop {
        let e = ok(http
            .get(format!("{data}/things/dev-1/jobs/j1"))
            .send()
            .await
            .unwrap())
        .await["execution"]
            .clone();
        if e["status"] != "IN_PROGRESS" || real_start.elapsed() > Duration::from_secs(5) {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(
        execution["status"],
        "TIMED_OUT",
        "after {:?}",
        real_start.elapsed()
    );
    assert!(
        real_start.elapsed() < Duration::from_secs(1),
        "one virtual minute is 0.1 s"
    );
    let lateness = execution["lastUpdatedAt"].as_i64().unwrap() - started_at - 60;
    assert!(
        (0..=execution_model().timers.expiry_slack_seconds).contains(&lateness),
        "{lateness} s late"
    );
    let pending = ok(http
        .get(format!("{data}/things/dev-1/jobs"))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(pending, json!({"inProgressJobs": [], "queuedJobs": []}));

    let term = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stop = Instant::now();
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            stop.elapsed() < Duration::from_secs(5),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.0.wait().unwrap().success());
}
