//! `jobcert run`'s progress when stderr is not a terminal (a CI log): silent through short
//! waits, and a plain line now and then through a timer wait longer than the period, so that a
//! run against a real-clock target never sits silent for minutes.

use std::ffi::OsStr;
use std::time::Duration;

use crate::common::process::{Process, Ran, args};
use crate::common::{ScratchExt, root, scratch};

/// Longest one run may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// One case that waits 30 minutes of target time: 3 s against the embedded reference.
const WAITS: &str = "cases:\n  - name: waits\n    requirements: [SN-EMPTY]\n    things: [dev]\n    steps:\n      - start-next: { thing: dev }\n      - wait: { minutes: 30 }\n      - start-next: { thing: dev }\n";

/// Runs the waiting case over HTTP with `extra` options.
fn run_waiting(label: &str, extra: &[&str]) -> Ran {
    let dir = scratch(label);
    let scenario = dir.write("waits.yaml", WAITS);
    let reports = dir.path().join("reports");
    let mut words: Vec<&OsStr> = vec![
        "run".as_ref(),
        "--no-generated".as_ref(),
        "--transport".as_ref(),
        "http".as_ref(),
        "--report-dir".as_ref(),
        reports.as_os_str(),
        scenario.as_os_str(),
    ];
    words.extend(extra.iter().map(OsStr::new));
    let ran = Process::spawn_in(&args(words), &root(), &dir).finish(RUN_LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    ran
}

#[test]
fn a_long_wait_shows_in_a_log_and_a_short_one_does_not() {
    let ran = run_waiting("progress-log", &["--progress-every-s", "1"]);
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("jobcert run: "))
        .collect();
    assert!(!lines.is_empty(), "no progress line: {ran}");
    for line in &lines {
        assert!(
            line.contains("cases 0/1 (0 passed, 0 warned, 0 failed), 1 running")
                && line.contains("waiting: http:waits/waits \u{2014} 30 min of target time, ")
                && line.contains(" s left  ETA ")
                && !line.contains('\r'),
            "{line}"
        );
    }
    // The wait lasts 3 s: at most one line a second, one more if the ends meet the ticks.
    assert!(lines.len() <= 4, "more than one line a second: {ran}");

    let quiet = run_waiting("progress-default", &[]);
    assert!(
        !quiet.stderr.contains("cases "),
        "a 3 s wait is shorter than the default period: {quiet}"
    );
}
