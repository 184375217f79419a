//! `jobcert run` and `jobcert replay` under a low open-descriptor limit: each counts what its
//! run needs before it connects (the cases side by side and the embedded reference's ends of
//! their connections; the capture's devices, copies included, and the reference it starts),
//! runs when the soft limit, raised to the hard one, holds that, and otherwise refuses with
//! exit 2, naming the number and the command that raises the limit, without writing a report.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::common::process::{Process, Ran, args};
use crate::common::report::raw_summary;
use crate::common::{ScratchExt, root, scratch};

const LIMIT: Duration = Duration::from_secs(120);

/// One MQTT case naming three things: 4 connections a case (3 things and the control plane).
const THREE_THINGS: &str = "\
cases:
  - name: three-things
    things: [a, b, c]
    jobs:
      - { id: j, targets: [a, b, c] }
    steps:
      - start-next: { thing: a }
      - start-next: { thing: b }
      - start-next: { thing: c }
";

/// 64 cases side by side over MQTT, each end in this process: 64 × 4 × 2 + 256.
const RUN_NEEDS: &str = "768";

fn run_args(scratch: &Path, reports: &Path) -> Vec<OsString> {
    args([
        OsString::from("run"),
        scratch.join("three.yaml").into_os_string(),
        OsString::from("--no-generated"),
        OsString::from("--transport"),
        OsString::from("mqtt"),
        OsString::from("--concurrency"),
        OsString::from("64"),
        OsString::from("--report-dir"),
        reports.as_os_str().to_owned(),
        OsString::from("--quiet"),
    ])
}

/// The capture of 12 HTTP devices, played in 40 copies: 480 devices, each holding a connection
/// in `jobcert replay` and in its reference server, 480 + 256 descriptors each.
fn replay_args(reports: &Path) -> Vec<OsString> {
    args([
        OsString::from("replay"),
        root()
            .join("scenarios/replay/agents-http.jsonl")
            .into_os_string(),
        OsString::from("--clone"),
        OsString::from("40"),
        OsString::from("--report-dir"),
        reports.as_os_str().to_owned(),
        OsString::from("--quiet"),
    ])
}

const REPLAY_NEEDS: &str = "736";

fn assert_refused(ran: &Ran, needs: &str, reports: &Path) {
    assert_eq!(ran.code, Some(2), "{ran}");
    for part in [
        format!("needs {needs} open descriptors"),
        "the limit is 256".to_string(),
        format!("ulimit -Hn {needs}"),
        format!("LimitNOFILE={needs}"),
    ] {
        assert!(ran.stderr.contains(&part), "{part:?}: {ran}");
    }
    assert!(!ran.stderr.contains("Too many open files"), "{ran}");
    assert!(
        !reports.exists(),
        "a refused run wrote {}: {ran}",
        reports.display()
    );
}

#[test]
fn run_raises_a_low_soft_limit_and_passes() {
    let scratch = scratch("descriptors-run");
    scratch.write("three.yaml", THREE_THINGS);
    let reports = scratch.path().join("reports");
    let ran = Process::spawn_in_shell(
        "ulimit -Sn 256 && ulimit -Hn 2048",
        &run_args(scratch.path(), &reports),
        &scratch,
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    assert_eq!(raw_summary(&reports)["passed"], true, "{ran}");
}

#[test]
fn run_is_refused_before_it_connects_when_the_hard_limit_cannot_hold_it() {
    let scratch = scratch("descriptors-run-refused");
    scratch.write("three.yaml", THREE_THINGS);
    let reports = scratch.path().join("reports");
    let ran = Process::spawn_in_shell(
        "ulimit -Sn 256 && ulimit -Hn 256",
        &run_args(scratch.path(), &reports),
        &scratch,
    )
    .finish(LIMIT);
    assert_refused(&ran, RUN_NEEDS, &reports);
}

#[test]
fn replay_raises_a_low_soft_limit_and_passes() {
    let scratch = scratch("descriptors-replay");
    let reports = scratch.path().join("reports");
    let ran = Process::spawn_in_shell(
        "ulimit -Sn 256 && ulimit -Hn 2048",
        &replay_args(&reports),
        &scratch,
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    let replay = &raw_summary(&reports)["record"]["replay"];
    assert_eq!(replay["planned"], replay["replayed"], "{replay}");
    assert_eq!(replay["clones"], 40, "{replay}");
}

#[test]
fn replay_is_refused_before_it_connects_when_the_hard_limit_cannot_hold_it() {
    let scratch = scratch("descriptors-replay-refused");
    let reports = scratch.path().join("reports");
    let ran = Process::spawn_in_shell(
        "ulimit -Sn 256 && ulimit -Hn 256",
        &replay_args(&reports),
        &scratch,
    )
    .finish(LIMIT);
    assert_refused(&ran, REPLAY_NEEDS, &reports);
}
