//! `jobcert replay` judges every replayed answer with a fleet device's state facts: a capture
//! of one device working through two jobs created over a second apart replays clean against
//! the reference behind a faithful proxy, and fails SN-NEXT-ORDER (exit 1) behind a proxy that
//! starts the newer job first, or hands back a job the device already finished.

use std::path::Path;
use std::time::Duration;

use rstest::rstest;
use serde_json::{Value, json};

use super::Fault;
use super::proxy::RunningProxy;
use crate::common::faults::TIME_SCALE;
use crate::common::process::{args, jobcert};
use crate::common::report::raw_summary;
use crate::common::{ScratchExt, scratch};

/// Longest one `jobcert` command of these tests may take.
const LIMIT: Duration = Duration::from_secs(120);

/// An HTTP exchange of device `{thing:d}` at `sent_us` (answered 1 ms later).
fn exchange(
    seq: u64,
    sent_us: u64,
    operation: &str,
    path: &str,
    body: Value,
    answer: Value,
) -> Value {
    let method = match operation {
        "StartNextPendingJobExecution" => "PUT",
        "UpdateJobExecution" => "POST",
        _ => "GET",
    };
    json!({
        "type": "exchange", "device": "{thing:d}", "device_seq": seq, "sent_us": sent_us,
        "done_us": sent_us + 1_000, "transport": "http", "operation": operation,
        "method": method, "target": format!("/things/{{thing:d}}/jobs{path}"),
        "body": if body.is_null() { Value::Null } else { Value::String(body.to_string()) },
        "answer": { "status": 200, "body": answer.to_string() }
    })
}

/// The execution of `job` as start-next returns it.
fn started(job: &str) -> Value {
    json!({ "execution": {
        "jobId": job, "thingName": "{thing:d}", "status": "IN_PROGRESS", "executionNumber": 1,
        "versionNumber": 2, "queuedAt": 1, "startedAt": 2, "lastUpdatedAt": 2, "jobDocument": "{}"
    }})
}

/// Device `{thing:d}` lists its pending job `a`; job `b` is created 1.1 s later; the device
/// then starts and finishes `a`, then `b`, and finds nothing more.
fn capture() -> String {
    let header = json!({
        "type": "header", "format": "jobcert-capture/1", "source": { "kind": "run" },
        "origin_ms": 0, "target_time_scale": TIME_SCALE,
        "seed": {
            "things": [{ "name": "{thing:d}" }],
            "jobs": [
                { "id": "{job:a}", "targets": ["{thing:d}"], "at_us": 0, "create": { "document": "{}" } },
                { "id": "{job:b}", "targets": ["{thing:d}"], "at_us": 1_100_000, "create": { "document": "{}" } }
            ]
        }
    });
    let queued = json!({ "inProgressJobs": [], "queuedJobs": [
        { "jobId": "{job:a}", "executionNumber": 1, "versionNumber": 1, "queuedAt": 1, "lastUpdatedAt": 1 }
    ]});
    let done = json!({ "status": "SUCCEEDED", "expectedVersion": 2 });
    let lines = [
        header,
        exchange(0, 1_000, "GetPendingJobExecutions", "", Value::Null, queued),
        exchange(
            1,
            1_200_000,
            "StartNextPendingJobExecution",
            "/$next",
            json!({}),
            started("{job:a}"),
        ),
        exchange(
            2,
            1_210_000,
            "UpdateJobExecution",
            "/{job:a}",
            done.clone(),
            json!({}),
        ),
        exchange(
            3,
            1_220_000,
            "StartNextPendingJobExecution",
            "/$next",
            json!({}),
            started("{job:b}"),
        ),
        exchange(
            4,
            1_230_000,
            "UpdateJobExecution",
            "/{job:b}",
            done,
            json!({}),
        ),
        exchange(
            5,
            1_240_000,
            "StartNextPendingJobExecution",
            "/$next",
            json!({}),
            json!({}),
        ),
    ];
    lines.iter().map(|l| l.to_string() + "\n").collect()
}

/// `jobcert replay` of `capture` against the reference behind a proxy breaking `fault`: its
/// exit code and summary.
fn replay(dir: &Path, capture: &Path, fault: Fault) -> (Option<i32>, Value) {
    let (runtime, server, proxy) = RunningProxy::before_reference(TIME_SCALE, fault);
    let reports = dir.join(format!("replay-{fault:?}"));
    let ran = jobcert(
        &args([
            "replay".to_string(),
            capture.display().to_string(),
            "--target".into(),
            proxy.base.clone(),
            "--control".into(),
            format!("http://{}", server.control_plane()),
            "--target-time-scale".into(),
            TIME_SCALE.to_string(),
            "--report-dir".into(),
            reports.display().to_string(),
        ]),
        dir,
        LIMIT,
    );
    drop(proxy);
    runtime.block_on(server.shutdown());
    assert!(&reports.is_dir(), "no report folder: {ran}");
    let summary = raw_summary(&reports);
    (ran.code, summary)
}

/// `(requirement, passed, failed)` of every requirement the verdict weighed.
fn weighed(summary: &Value) -> Vec<(String, u64, u64)> {
    summary["verdict"]["conformance"]
        .as_array()
        .expect("the verdict's requirements")
        .iter()
        .map(|r| {
            (
                r["requirement"].as_str().unwrap().to_string(),
                r["passed"].as_u64().unwrap(),
                r["failed"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[rstest]
#[case::faithful(Fault::Faithful, Some(0), &[])]
#[case::newer_job_first(Fault::WrongNextJob, Some(1), &["SN-NEXT-ORDER"])]
#[case::finished_job_back(Fault::FinishedComesBack, Some(1), &["SN-NEXT-ORDER", "SN-START"])]
fn a_replay_judges_the_state_a_device_sees(
    #[case] fault: Fault,
    #[case] code: Option<i32>,
    #[case] failed: &[&str],
) {
    let dir = scratch(&format!("replay-oracle-{fault:?}"));
    let capture = dir.write("device.jsonl", capture());
    let (exit, summary) = replay(dir.path(), &capture, fault);
    let weighed = weighed(&summary);
    let failing: Vec<&str> = weighed
        .iter()
        .filter(|(_, _, f)| *f > 0)
        .map(|(r, _, _)| r.as_str())
        .collect();
    assert_eq!(failing, failed, "{weighed:?}");
    assert_eq!(exit, code, "{summary}");
    let judged = |id: &str| weighed.iter().any(|(r, p, f)| r == id && p + f > 0);
    for id in [
        "SN-NEXT-ORDER",
        "SN-START",
        "SN-EMPTY",
        "UP-TRANSITION",
        "GP-CONTENT",
    ] {
        assert!(
            judged(id) || fault != Fault::Faithful,
            "{id} not judged: {weighed:?}"
        );
    }
    if fault == Fault::Faithful {
        assert_eq!(
            summary["record"]["replay"]["divergences"],
            json!({}),
            "{summary}"
        );
    }
}
