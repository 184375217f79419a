//! `jobcert diff` both ways: a capture of part of the suite, played against two reference
//! servers (primary and secondary) and a third behind a proxy. Through a faithful proxy no
//! member counts; through a proxy that renames one error type, or adds one member, exactly
//! that difference counts, with samples side by side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::Fault;
use super::proxy::RunningProxy;
use crate::common::faults::TIME_SCALE;
use crate::common::process::{Process, args, jobcert};
use crate::common::{root, scratch, server};

/// Longest one `jobcert` command of these tests may take.
const LIMIT: Duration = Duration::from_secs(180);

/// A capture of the cases of `only`, recorded against the embedded reference over HTTP; the
/// timer cases are left out, since the three targets' clocks run apart at 600x.
fn capture(dir: &Path, only: &[&str]) -> PathBuf {
    let path = dir.join("suite.jsonl");
    let mut words: Vec<String> = [
        "run",
        "--transport",
        "http",
        "--skip",
        "timers",
        "--quiet",
        "--capture",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    words.push(path.display().to_string());
    words.extend([
        "--report-dir".to_string(),
        dir.join("run").display().to_string(),
    ]);
    for o in only {
        words.extend(["--only".to_string(), o.to_string()]);
    }
    let ran = Process::spawn_in(&args(words), &root(), dir).finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    path
}

/// `jobcert diff` of `capture` with the candidate behind a proxy breaking `fault`: its exit
/// code and summary.
fn diff(dir: &Path, capture: &Path, fault: Fault) -> (Option<i32>, Value) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, proxy) = runtime.block_on(async {
        let server = server(TIME_SCALE).await;
        let proxy = RunningProxy::start(format!("http://{}", server.data_plane()), fault).await;
        (server, proxy)
    });
    let reports = dir.join(format!("diff-{fault:?}"));
    let ran = jobcert(
        &args([
            "diff".to_string(),
            capture.display().to_string(),
            "--reference-secondary".into(),
            "--candidate".into(),
            proxy.base.clone(),
            "--candidate-control".into(),
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
    let folder = std::fs::read_dir(&reports)
        .unwrap_or_else(|e| panic!("{e}: {ran}"))
        .next()
        .expect("a run folder")
        .unwrap()
        .path();
    let summary = serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap())
        .expect("summary.json");
    (ran.code, summary)
}

/// The (operation, member) pairs whose differences count.
fn counted(summary: &Value) -> Vec<(String, String)> {
    summary["verdict"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["significant"] == true)
        .map(|m| {
            (
                m["operation"].as_str().unwrap().to_string(),
                m["member"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_faithful_candidate_differs_in_nothing_that_counts() {
    let dir = scratch("diff-faithful");
    let capture = capture(dir.path(), &["UP-INPUT", "DE-DOCUMENT", "SN-START"]);
    let (code, summary) = diff(dir.path(), &capture, Fault::Faithful);
    assert_eq!(
        counted(&summary),
        Vec::<(String, String)>::new(),
        "{summary}"
    );
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["record"]["quarantined"], 0);
}

#[test]
fn a_renamed_error_type_is_the_one_difference_that_counts() {
    let dir = scratch("diff-error-type");
    let capture = capture(dir.path(), &["UP-INPUT"]);
    let (code, summary) = diff(dir.path(), &capture, Fault::WrongErrorType);
    assert_eq!(code, Some(1), "{summary}");
    let counted = counted(&summary);
    assert_eq!(
        counted,
        [("UpdateJobExecution".to_string(), "(outcome)".to_string())],
        "{summary}"
    );
    let sample = &summary["record"]["operations"]["UpdateJobExecution"]["members"]["(outcome)"]["samples"]
        [0];
    assert_eq!(sample["primary"], "4xx InvalidRequestException");
    assert_eq!(sample["candidate"], "4xx ResourceNotFoundException");
    assert_eq!(sample["exchanges"].as_array().unwrap().len(), 3);
}

#[test]
fn an_added_member_is_the_one_difference_that_counts() {
    let dir = scratch("diff-member");
    let capture = capture(dir.path(), &["DE-DOCUMENT"]);
    let (code, summary) = diff(dir.path(), &capture, Fault::NextKeepsTheDocument);
    assert_eq!(code, Some(1), "{summary}");
    let counted = counted(&summary);
    assert!(!counted.is_empty(), "{summary}");
    for (operation, member) in &counted {
        assert_eq!(operation, "DescribeJobExecution", "{summary}");
        assert!(
            member.starts_with("execution.jobDocument"),
            "{member}: {summary}"
        );
    }
}
