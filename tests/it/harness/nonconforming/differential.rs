//! `jobcert diff` both ways: a capture of part of the suite, played against two reference
//! servers (primary and secondary) and a third behind a proxy. Through a faithful proxy no
//! member counts; through a proxy that renames one error type, or adds one member, exactly
//! that difference counts, with samples side by side. The same over MQTT for notifications: a
//! fleet's capture (its `notify` and `notify-next` among its lines) against a reference behind a
//! relay that passes everything (nothing counts), drops one `notify-next` (that one counts),
//! strips the job document from every `notify-next` (only that member counts), or swallows one
//! update (that device is quarantined, and its notifications from then on, which follow another
//! state, are not compared).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::Fault;
use super::notify_proxy::{NotifyFault, NotifyProxy};
use super::proxy::RunningProxy;
use crate::common::faults::TIME_SCALE;
use crate::common::process::{Process, Serve, args, jobcert};
use crate::common::proxy::Proxy;
use crate::common::report::raw_summary;
use crate::common::{root, scratch};

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

/// A fleet's MQTT traffic through the recording proxy: a capture whose devices' notifications
/// are among its lines.
fn mqtt_capture(dir: &Path) -> PathBuf {
    let time_scale = TIME_SCALE.to_string();
    let serve = Serve::with(&["--time-scale", &time_scale, "--mqtt", "127.0.0.1:0"]);
    let path = dir.join("fleet.jsonl");
    let proxy = Proxy::start(&serve, TIME_SCALE, &path, dir);
    let scenario = dir.join("fleet.yaml");
    std::fs::write(
        &scenario,
        format!(
            "\
fleet:
  name: diff-notify
  seed: 11
  things: {{ count: 6, per-job: 6 }}
  transport: mqtt
  connect: {{ rate: 2000 }}
  rollout: {{ jobs-per-thing: 2, rate: 200, start: before }}
  behaviour:
    work: {{ uniform: {{ min: 1, max: 3 }} }}
    outcomes: {{ SUCCEEDED: 1.0 }}
    step-timeout-minutes: 600
  load: {{ model: closed }}
  run: {{ until: drained, max-duration-s: 30, deadline-ms: 15000 }}
  reference: {{ time-scale: {TIME_SCALE} }}
"
        ),
    )
    .unwrap();
    let ran = Process::spawn(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--quiet".as_ref(),
            "--target".as_ref(),
            proxy.mqtt.clone().expect("an MQTT listener").as_ref(),
            "--control".as_ref(),
            proxy.control.as_ref(),
            "--target-time-scale".as_ref(),
            time_scale.as_ref(),
            "--report-dir".as_ref(),
            dir.join("fleet").as_os_str(),
        ]),
        dir,
    )
    .finish(LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    proxy.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("/jobs/notify-next\""),
        "no notify-next in the capture"
    );
    path
}

/// `jobcert diff` of `capture` with the candidate behind a proxy breaking `fault`: its exit
/// code and summary.
fn diff(dir: &Path, capture: &Path, fault: Fault) -> (Option<i32>, Value) {
    let (runtime, server, proxy) = RunningProxy::before_reference(TIME_SCALE, fault);
    let reports = dir.join(format!("diff-{fault:?}"));
    let control = format!("http://{}", server.control_plane());
    let summary = diff_against(dir, capture, (&proxy.base, &control), &reports);
    drop(proxy);
    runtime.block_on(server.shutdown());
    summary
}

/// `jobcert diff` of the MQTT `capture` with the candidate a reference server behind a relay
/// breaking `fault`: its exit code and summary.
fn diff_notifications(dir: &Path, capture: &Path, fault: NotifyFault) -> (Option<i32>, Value) {
    let serve = Serve::with(&[
        "--time-scale",
        &TIME_SCALE.to_string(),
        "--mqtt",
        "127.0.0.1:0",
    ]);
    let broker = serve.mqtt.clone().expect("a broker");
    let upstream = broker.trim_start_matches("mqtt://").to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = runtime.block_on(NotifyProxy::start(upstream, fault));
    let reports = dir.join(format!("diff-{fault:?}"));
    let summary = diff_against(dir, capture, (&relay.url, &serve.control), &reports);
    drop(relay);
    summary
}

/// `jobcert diff` of `capture` against the candidate `(data plane, control plane)`, with
/// reference servers as primary and secondary: its exit code and summary.
fn diff_against(
    dir: &Path,
    capture: &Path,
    (data, control): (&str, &str),
    reports: &Path,
) -> (Option<i32>, Value) {
    let ran = jobcert(
        &args([
            "diff".to_string(),
            capture.display().to_string(),
            "--reference-secondary".into(),
            "--candidate".into(),
            data.to_string(),
            "--candidate-control".into(),
            control.to_string(),
            "--target-time-scale".into(),
            TIME_SCALE.to_string(),
            "--deadline-ms".into(),
            "2000".into(),
            "--report-dir".into(),
            reports.display().to_string(),
        ]),
        dir,
        LIMIT,
    );
    assert!(reports.is_dir(), "no report folder: {ran}");
    let summary = raw_summary(reports);
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

/// Notifications compared of `kind` (`notify`, `notify-next`).
fn notifications_compared(summary: &Value, kind: &str) -> u64 {
    summary["record"]["operations"][kind]["compared"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_faithful_broker_publishes_no_notification_that_counts() {
    let dir = scratch("diff-notify-faithful");
    let capture = mqtt_capture(dir.path());
    let (code, summary) = diff_notifications(dir.path(), &capture, NotifyFault::Faithful);
    assert_eq!(
        counted(&summary),
        Vec::<(String, String)>::new(),
        "{summary}"
    );
    assert_eq!(code, Some(0), "{summary}");
    for kind in ["notify", "notify-next"] {
        assert!(
            notifications_compared(&summary, kind) >= 6,
            "{kind}: {summary}"
        );
    }
}

#[test]
fn a_dropped_notify_next_is_the_one_difference_that_counts() {
    let dir = scratch("diff-notify-dropped");
    let capture = mqtt_capture(dir.path());
    let (code, summary) = diff_notifications(dir.path(), &capture, NotifyFault::DropsOneNext);
    assert_eq!(code, Some(1), "{summary}");
    assert_eq!(
        counted(&summary),
        [("notify-next".to_string(), "(published)".to_string())],
        "{summary}"
    );
    let member = &summary["record"]["operations"]["notify-next"]["members"]["(published)"];
    assert_eq!(member["raw"], 1, "{summary}");
    let sample = &member["samples"][0];
    assert!(sample["primary"].is_object(), "{sample}");
    assert_eq!(sample["candidate"], Value::Null, "{sample}");
    assert_eq!(sample["secondary"], sample["primary"], "{sample}");
    let published = sample["notifications"].as_array().unwrap();
    assert!(
        published[0]["topic"]
            .as_str()
            .unwrap()
            .ends_with("/jobs/notify-next"),
        "{sample}"
    );
    assert_eq!(published[1], Value::Null, "{sample}");
}

#[test]
fn a_notify_next_without_its_document_differs_in_that_member_alone() {
    let dir = scratch("diff-notify-document");
    let capture = mqtt_capture(dir.path());
    let (code, summary) =
        diff_notifications(dir.path(), &capture, NotifyFault::NextWithoutDocument);
    assert_eq!(code, Some(1), "{summary}");
    let counted = counted(&summary);
    assert!(!counted.is_empty(), "{summary}");
    for (kind, member) in &counted {
        assert_eq!(kind, "notify-next", "{summary}");
        assert!(
            member.starts_with("execution.jobDocument"),
            "{member}: {summary}"
        );
    }
    let sample =
        &summary["record"]["operations"]["notify-next"]["members"][&counted[0].1]["samples"][0];
    assert_ne!(sample["primary"], Value::Null, "{sample}");
    assert_eq!(sample["candidate"], Value::Null, "{sample}");
}

#[test]
fn a_quarantined_devices_later_notifications_are_not_compared() {
    let dir = scratch("diff-notify-quarantine");
    let capture = mqtt_capture(dir.path());
    let (code, summary) = diff_notifications(dir.path(), &capture, NotifyFault::SwallowsOneUpdate);
    assert_eq!(code, Some(1), "{summary}");
    assert_eq!(summary["record"]["quarantined"], 1, "{summary}");
    let counted = counted(&summary);
    assert!(
        counted.contains(&("UpdateJobExecution".to_string(), "(outcome)".to_string())),
        "{summary}"
    );
    for (operation, _) in &counted {
        assert_eq!(operation, "UpdateJobExecution", "{summary}");
    }
    for kind in ["notify", "notify-next"] {
        assert!(
            notifications_compared(&summary, kind) >= 6,
            "{kind}: {summary}"
        );
    }
}
