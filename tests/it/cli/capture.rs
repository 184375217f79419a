//! Captures from the command line: `jobcert run --capture` writes every exchange of a run as a
//! `jobcert-capture/1` file that `jobcert capture lint` reads back, with placeholders for names
//! and no credential; a bad capture is refused by file and line.

use std::time::Duration;

use crate::common::process::{Process, args, jobcert};
use crate::common::{root, scratch};

/// Longest one `jobcert` command of these tests may take.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_run_writes_a_capture_that_lint_reads() {
    let dir = scratch("capture-run");
    let capture = dir.path().join("run.jsonl.gz");
    let ran = Process::spawn_env(
        &args([
            "run".as_ref(),
            "--only".as_ref(),
            "SN-START".as_ref(),
            "--quiet".as_ref(),
            "--capture".as_ref(),
            capture.as_os_str(),
            "--report-dir".as_ref(),
            dir.path().join("reports").as_os_str(),
        ]),
        &root(),
        &dir,
        &[
            ("AWS_ACCESS_KEY_ID", Some("AKIDCAPTURETEST")),
            (
                "AWS_SECRET_ACCESS_KEY",
                Some("capture-secret-never-written"),
            ),
        ],
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let bytes = std::fs::read(&capture).expect("the capture");
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip-compressed by its name");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert!(
        text.starts_with(r#"{"type":"header","format":"jobcert-capture/1""#),
        "{text}"
    );
    assert!(
        text.contains(r#""target":"/things/{thing:"#),
        "placeholders in paths"
    );
    for secret in [
        "AKIDCAPTURETEST",
        "capture-secret-never-written",
        "authorization",
    ] {
        assert!(!text.contains(secret), "{secret} in the capture");
    }

    let lint = jobcert(
        &args(["capture".as_ref(), "lint".as_ref(), capture.as_os_str()]),
        &dir,
        LIMIT,
    );
    assert_eq!(lint.code, Some(0), "{lint}");
    assert!(
        lint.stdout.contains("StartNextPendingJobExecution: "),
        "{lint}"
    );
    assert!(
        lint.stdout
            .contains("send order: every line after the one above it"),
        "{lint}"
    );
}

#[test]
fn a_bad_capture_is_refused_with_its_file_and_line() {
    let dir = scratch("capture-bad");
    let path = dir.path().join("bad.jsonl");
    let header = r#"{"type":"header","format":"jobcert-capture/1","source":{"kind":"proxy"},"origin_ms":0,"target_time_scale":1,"seed":{"things":[],"jobs":[]}}"#;
    std::fs::write(
        &path,
        format!("{header}\n{{\"type\":\"exchange\",\"device\""),
    )
    .unwrap();
    let lint = jobcert(
        &args(["capture".as_ref(), "lint".as_ref(), path.as_os_str()]),
        &dir,
        LIMIT,
    );
    assert_eq!(lint.code, Some(2), "{lint}");
    assert!(
        lint.stderr.contains(&format!("{}:2:", path.display())),
        "{lint}"
    );
    assert!(lint.stderr.contains("cut short"), "{lint}");
}

/// A run over MQTT keeps the notifications its devices heard on their timelines, and its
/// capture replays with every one of them heard again. (The case is one whose notifications
/// follow the device's own steps: the reference words a notification when it publishes it, so
/// a cancel right after a creation may be told as one state.)
#[test]
fn a_run_over_mqtt_captures_its_notifications_and_replays_them() {
    let dir = scratch("capture-run-mqtt");
    let capture = dir.path().join("run.jsonl");
    let ran = Process::spawn_env(
        &args([
            "run".as_ref(),
            "--only".as_ref(),
            "mqtt:mqtt/notify-next-follows-the-head".as_ref(),
            "--transport".as_ref(),
            "mqtt".as_ref(),
            "--quiet".as_ref(),
            "--capture".as_ref(),
            capture.as_os_str(),
            "--report-dir".as_ref(),
            dir.path().join("reports").as_os_str(),
        ]),
        &root(),
        &dir,
        &[],
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let text = std::fs::read_to_string(&capture).expect("the capture");
    let heard = text
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"event""#) && l.contains("/jobs/notify-next"))
        .count();
    assert!(heard >= 3, "{heard} notify-next lines in\n{text}");

    let replayed = jobcert(
        &args([
            "replay".as_ref(),
            capture.as_os_str(),
            "--strict".as_ref(),
            "--report-dir".as_ref(),
            dir.path().join("replayed").as_os_str(),
        ]),
        &dir,
        LIMIT,
    );
    assert_eq!(replayed.code, Some(0), "{replayed}");
    assert!(
        replayed
            .stdout
            .contains("divergences from the recording: none"),
        "{replayed}"
    );
}
