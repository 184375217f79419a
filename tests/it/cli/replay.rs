//! `jobcert replay` as users run it: a fleet run recorded with `--capture` (HTTP and MQTT,
//! with the notifications MQTT devices heard) replays against a fresh reference at 1×, 10× and 100× with every exchange sent (and its
//! lateness recorded), no divergence and the same final statuses; a capture whose timers a replay would move is
//! refused with the reason; a bad capture is refused by file and line before anything is sent.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jobcert_harness::record::LatencyBook;
use jobcert_harness::record::capture::{self, Line};
use rstest::rstest;

use crate::common::process::{args, jobcert};
use crate::common::report::raw_summary;
use crate::common::{ScratchExt, scratch};

/// Longest one `jobcert` command of these tests may take.
const LIMIT: Duration = Duration::from_secs(120);

/// A fleet that finishes in a second or two, in `transport`.
fn small_fleet(transport: &str) -> String {
    format!(
        "\
fleet:
  name: replayed-{transport}
  seed: 11
  things: {{ count: 40, per-job: 20 }}
  transport: {transport}
  connect: {{ rate: 2000 }}
  rollout: {{ jobs-per-thing: 2, rate: 200, start: before }}
  behaviour:
    work: {{ uniform: {{ min: 1, max: 3 }} }}
    outcomes: {{ SUCCEEDED: 0.7, FAILED: 0.2, REJECTED: 0.1 }}
    step-timeout-minutes: 600
  load: {{ model: closed }}
  run: {{ until: drained, max-duration-s: 30, deadline-ms: 15000 }}
  reference: {{ time-scale: 600 }}
"
    )
}

#[rstest]
#[case::http("http")]
#[case::mqtt("mqtt")]
fn a_recorded_fleet_replays_at_every_speed_with_the_same_outcome(#[case] transport: &str) {
    let dir = scratch("replay-fleet");
    let scenario = dir.write("fleet.yaml", small_fleet(transport));
    let capture = dir.path().join("fleet.jsonl.gz");
    let recorded = dir.path().join("recorded");
    let ran = jobcert(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--quiet".as_ref(),
            "--capture".as_ref(),
            capture.as_os_str(),
            "--report-dir".as_ref(),
            recorded.as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    let fleet = raw_summary(&recorded);
    let requests = fleet["record"]["requests"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(op, _)| op.ends_with("Execution") || op.ends_with("Executions"))
        .flat_map(|(_, by)| by.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum::<u64>();
    assert!(requests >= 120, "{fleet}");
    // MQTT devices heard notify-next as their executions moved on, and the capture keeps it
    // on their timelines; HTTP devices hear nothing.
    let heard = capture::read(&capture)
        .unwrap()
        .lines
        .iter()
        .filter(|n| matches!(&n.value, Line::Event(e) if e.topic.ends_with("/notify-next")))
        .count();
    assert_eq!(heard > 0, transport == "mqtt", "{heard} notify-next lines");

    for speed in ["1", "10", "100"] {
        let reports = dir.path().join(format!("replay-{speed}"));
        let ran = jobcert(
            &args([
                "replay".as_ref(),
                capture.as_os_str(),
                "--speed".as_ref(),
                speed.as_ref(),
                "--strict".as_ref(),
                "--report-dir".as_ref(),
                reports.as_os_str(),
            ]),
            &dir,
            LIMIT,
        );
        assert_eq!(ran.code, Some(0), "{speed}x: {ran}");
        assert!(
            ran.stdout.contains("divergences from the recording: none"),
            "{ran}"
        );
        let replay = raw_summary(&reports);
        let tally = &replay["record"]["replay"];
        assert_eq!(tally["planned"], requests, "{speed}x: {tally}");
        assert_eq!(tally["replayed"], requests, "{speed}x: {tally}");
        let lateness: LatencyBook =
            serde_json::from_value(replay["record"]["schedule"]["lateness"].clone()).unwrap();
        assert_eq!(
            lateness.combined(|_| true).len(),
            requests,
            "{speed}x: every replayed send has its lateness"
        );
        assert_eq!(
            tally["divergences"],
            serde_json::json!({}),
            "{speed}x: {tally}"
        );
        assert_eq!(
            replay["record"]["statuses"], fleet["record"]["statuses"],
            "{speed}x: final statuses"
        );
    }
}

/// A capture with a step timer (recorded at 600×) and one exchange.
const TIMED: &str = r#"{"type":"header","format":"jobcert-capture/1","source":{"kind":"proxy"},"origin_ms":0,"target_time_scale":600,"seed":{"things":[{"name":"{thing:d}"}],"jobs":[{"id":"{job:j}","targets":["{thing:d}"],"at_us":0,"create":{"document":"{}"}}]}}
{"type":"exchange","device":"{thing:d}","device_seq":0,"sent_us":10,"done_us":20,"transport":"http","operation":"StartNextPendingJobExecution","method":"PUT","target":"/things/{thing:d}/jobs/$next","body":"{\"stepTimeoutInMinutes\":5}","answer":{"status":200,"body":"{}"}}
"#;

#[rstest]
#[case::wrong_clock(&["--target", "http://127.0.0.1:9", "--control", "http://127.0.0.1:9", "--target-time-scale", "600", "--speed", "10"], "--target-time-scale 6000")]
#[case::no_schedule(&["--as-fast-as-possible"], "--as-fast-as-possible keeps no schedule")]
fn a_replay_that_would_move_recorded_timers_is_refused(#[case] extra: &[&str], #[case] says: &str) {
    let dir = scratch("replay-clock");
    let capture = dir.write("timed.jsonl", TIMED);
    let mut words = vec!["replay".to_string(), capture.display().to_string()];
    words.extend(extra.iter().map(|s| s.to_string()));
    let ran = jobcert(&args(words), &dir, LIMIT);
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains(says), "{ran}");
    assert!(ran.stderr.contains("--allow-timer-shift"), "{ran}");
}

#[test]
fn a_bad_capture_is_refused_before_anything_is_sent() {
    let dir = scratch("replay-bad");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let backwards = TIMED.to_string()
        + &TIMED
            .lines()
            .nth(1)
            .unwrap()
            .replace("\"sent_us\":10", "\"sent_us\":30");
    let capture = dir.write("bad.jsonl", backwards);
    let ran = jobcert(
        &args([
            "replay",
            &capture.display().to_string(),
            "--target",
            &url,
            "--control",
            &url,
            "--target-time-scale",
            "600",
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(
        ran.stderr.contains(&format!(
            "{}:3: device {{thing:d}}: device_seq 0 after 0",
            capture.display()
        )),
        "{ran}"
    );
    assert!(listener.accept().is_err(), "a connection was made");
}

#[test]
fn a_replay_is_judged_by_the_thresholds_it_is_given() {
    let dir = scratch("replay-thresholds");
    let scenario = dir.write("fleet.yaml", small_fleet("http"));
    let capture = dir.path().join("fleet.jsonl");
    let ran = jobcert(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--quiet".as_ref(),
            "--capture".as_ref(),
            capture.as_os_str(),
            "--report-dir".as_ref(),
            dir.path().join("recorded").as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    let replay = |thresholds: &Path| {
        jobcert(
            &args([
                "replay".as_ref(),
                capture.as_os_str(),
                "--thresholds".as_ref(),
                thresholds.as_os_str(),
                "--report-dir".as_ref(),
                dir.path().join("replays").as_os_str(),
            ]),
            &dir,
            LIMIT,
        )
    };
    let impossible = dir.write(
        "impossible.yaml",
        "thresholds:\n  latency:\n    - { operation: StartNextPendingJobExecution, percentile: 99, max-ms: 0.000001 }\n",
    );
    let ran = replay(&impossible);
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stdout
            .contains("threshold StartNextPendingJobExecution p99 ≤ 0.000001 ms"),
        "{ran}"
    );
    let easy = dir.write("easy.yaml", "thresholds:\n  error-rate: { max: 0 }\n");
    assert_eq!(replay(&easy).code, Some(0));
    let broken = dir.write(
        "broken.yaml",
        "thresholds:\n  latency:\n    - { operation: Nope, percentile: 99, max-ms: 1 }\n",
    );
    let ran = replay(&broken);
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(
        ran.stderr.contains(&format!("{}:4:", broken.display()))
            || ran.stderr.contains(&format!("{}:3:", broken.display())),
        "{ran}"
    );
    assert!(ran.stderr.contains("unknown operation \"Nope\""), "{ran}");
}

#[test]
fn every_committed_capture_lints_and_replays_exactly() {
    let dir = scratch("replay-committed");
    let folder = crate::common::root().join("scenarios/replay");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("scenarios/replay")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl" || e == "gz"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 2, "{captures:?}");
    for capture in captures {
        let lint = jobcert(
            &args(["capture".as_ref(), "lint".as_ref(), capture.as_os_str()]),
            &dir,
            LIMIT,
        );
        assert_eq!(lint.code, Some(0), "{}: {lint}", capture.display());
        let reports = dir.path().join(capture.file_name().unwrap());
        let ran = jobcert(
            &args([
                "replay".as_ref(),
                capture.as_os_str(),
                "--strict".as_ref(),
                "--clone".as_ref(),
                "3".as_ref(),
                "--report-dir".as_ref(),
                reports.as_os_str(),
            ]),
            &dir,
            LIMIT,
        );
        assert_eq!(ran.code, Some(0), "{}: {ran}", capture.display());
        let tally = &raw_summary(&reports)["record"]["replay"];
        assert_eq!(tally["planned"], tally["replayed"], "{tally}");
        assert_eq!(tally["divergences"], serde_json::json!({}), "{tally}");
    }
}

/// An MQTT capture: device `d` starts job `j`; then, if `event` is given, the notification it
/// received (a payload naming placeholders).
fn mqtt_capture(event: Option<&str>) -> String {
    let header = r#"{"type":"header","format":"jobcert-capture/1","source":{"kind":"proxy"},"origin_ms":0,"target_time_scale":1,"seed":{"things":[{"name":"{thing:d}"},{"name":"{thing:e}"}],"jobs":[{"id":"{job:j}","targets":["{thing:d}"],"at_us":0,"create":{"document":"{}"}},{"id":"{job:ghost}","targets":["{thing:e}"],"at_us":0,"create":{"document":"{}"}}]}}"#;
    let start = serde_json::json!({
        "type": "exchange", "device": "{thing:d}", "device_seq": 0, "sent_us": 10, "done_us": 20,
        "transport": "mqtt", "operation": "StartNextPendingJobExecution",
        "target": "$aws/things/{thing:d}/jobs/start-next", "body": "{\"clientToken\":\"t1\"}",
        "answer": {"topic": "$aws/things/{thing:d}/jobs/start-next/accepted",
                   "body": "{\"clientToken\":\"t1\",\"execution\":{\"jobId\":\"{job:j}\",\"status\":\"IN_PROGRESS\"}}"}
    });
    let mut lines = vec![header.to_string(), start.to_string()];
    if let Some(payload) = event {
        lines.push(
            serde_json::json!({
                "type": "event", "device": "{thing:d}", "device_seq": 1, "at_us": 30,
                "topic": "$aws/things/{thing:d}/jobs/notify-next", "body": payload
            })
            .to_string(),
        );
    }
    lines.join("\n") + "\n"
}

#[rstest]
#[case::no_notification(None, None)]
#[case::one_that_never_comes(
    Some(r#"{"timestamp":1,"execution":{"jobId":"{job:ghost}"}}"#),
    Some(1)
)]
fn a_recorded_notification_that_never_comes_is_a_divergence(
    #[case] event: Option<&str>,
    #[case] missing: Option<u64>,
) {
    let dir = scratch("replay-notification");
    let capture = dir.write("mqtt.jsonl", mqtt_capture(event));
    let reports = dir.path().join("reports");
    let ran = jobcert(
        &args([
            "replay".as_ref(),
            capture.as_os_str(),
            "--strict".as_ref(),
            "--deadline-ms".as_ref(),
            "500".as_ref(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    let tally = &raw_summary(&reports)["record"]["replay"];
    assert_eq!(tally["replayed"], 1, "{tally}");
    assert_eq!(
        tally["divergences"]["notification"].as_u64(),
        missing,
        "{tally}"
    );
    assert_eq!(
        ran.code,
        Some(if missing.is_some() { 1 } else { 0 }),
        "{ran}"
    );
}
