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
