//! `jobcert serve --time-scale 600` as a user runs it: the listener lines, a step timeout that
//! fires within the documented slack in a fraction of a second, and a clean stop on SIGTERM.

use std::time::{Duration, Instant};

use jobcert_contract::execution_model;
use serde_json::{Value, json};

use crate::common::process::Serve;

#[tokio::test]
async fn a_step_timeout_fires_within_the_slack_on_the_virtual_clock() {
    let mut server = Serve::start(600.0);
    let (data, control) = (server.data.clone(), server.control.clone());
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

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status} after SIGTERM");
}

/// `--quotas FILE` and `--faults FILE` as a user passes them: the budget's burst goes through
/// and the next request is throttled; the faulted operation answers 503; `--quotas` alone
/// enforces the embedded AWS figures, whose burst a handful of requests does not reach.
#[tokio::test]
async fn quotas_and_faults_are_read_from_their_files() {
    let dir = crate::common::scratch("serve-quotas");
    let source = json!({"url": "https://example.com/q", "read": "2026-12-03", "note": "test"});
    let limits = json!({"service": "test", "read": "2026-12-03", "buckets": [
        {"name": "read", "plane": "data", "perSecond": 1, "burst": 2, "source": source,
         "operations": ["DescribeJobExecution", "GetPendingJobExecutions"]}]});
    let (quotas, faults) = (
        dir.path().join("limits.json"),
        dir.path().join("faults.yaml"),
    );
    std::fs::write(&quotas, limits.to_string()).unwrap();
    std::fs::write(
        &faults,
        "rules:\n  - operations: [StartNextPendingJobExecution]\n    fault: unavailable\n",
    )
    .unwrap();
    let http = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();
    let mut server = Serve::with(&[
        "--time-scale",
        "0.000001",
        "--quotas",
        quotas.to_str().unwrap(),
        "--faults",
        faults.to_str().unwrap(),
    ]);
    let pending = format!("{}/things/dev-1/jobs", server.data);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(status(http.get(&pending).send().await.unwrap()));
    }
    let next = format!("{}/things/dev-1/jobs/$next", server.data);
    seen.push(status(
        http.put(&next).json(&json!({})).send().await.unwrap(),
    ));
    assert_eq!(seen, [200, 200, 429, 503]);
    assert!(server.terminate().success());

    let mut server = Serve::with(&["--quotas"]);
    let pending = format!("{}/things/dev-1/jobs", server.data);
    for _ in 0..10 {
        assert_eq!(status(http.get(&pending).send().await.unwrap()), 200);
    }
    assert!(server.terminate().success());
}
