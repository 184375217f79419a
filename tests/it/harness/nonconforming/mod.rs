//! The harness against deliberately non-conforming targets. A small proxy sits in front of a
//! real reference server and breaks exactly one rule per [`Fault`]; the real plan (scenarios plus
//! generated negative cases, filtered to the cases that matter) must then fail under the right
//! requirement ID. The same proxy without a fault must pass with zero failures, which also shows
//! that the proxy itself is transparent.

use std::time::{Duration, Instant};

use jobcert_contract::{Binding, req};
use jobcert_harness::drive::conformance;
use jobcert_harness::finding::Severity;
use jobcert_harness::plan::Plan;
use jobcert_harness::record::RunRecord;
use jobcert_harness::report::{self, ReportInput};
use jobcert_harness::transport::{DataPlane, Exchange, Outcome};
use jobcert_harness::verdict::{Assessment, Verdict, Weighed};
use rstest::rstest;
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::common::faults::{
    self, TIME_SCALE, assert_timeouts_cited, cited, doubled, failures, listing, messages, timed_out,
};

mod blind_spots;
mod differential;
mod notify_proxy;
mod one_cause;
mod proxy;
mod replay;
mod timing_premise;
mod whole_query;

use proxy::RunningProxy;

/// Request deadline of an ordinary run.
const DEADLINE: Duration = Duration::from_secs(5);
/// Request deadline of the late-answers run, shorter than [`LATE`].
const SHORT_DEADLINE: Duration = Duration::from_millis(300);
/// How long the late-answers proxy holds back every GetPendingJobExecutions answer.
const LATE: Duration = Duration::from_millis(600);
const ERROR_TYPE: &str = "x-amzn-errortype";
const INVALID_REQUEST: &str = "InvalidRequestException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const INTERNAL_ERROR: &str = "InternalError";
const TERMINAL_STATE: &str = "TerminalStateException";
/// A case of one request, whose omission changes nothing later.
const NOTHING_PENDING: &str = "start-next/nothing-pending";
/// The case whose request corrupts a [`Fault::CorruptedByStringStep`] target.
const STRING_STEP_CASE: &str = "generated/update/steptimeoutinminutes-as-a-numeric-string";

/// The one rule a proxy breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// None: every exchange passes through unchanged.
    Faithful,
    /// InvalidRequestException is renamed ResourceNotFoundException (header and `__type`).
    WrongErrorType,
    /// InvalidRequestException comes with HTTP 500 instead of 400.
    WrongStatus,
    /// StartNext's stepTimeoutInMinutes above the maximum is clamped to it, not refused.
    LimitNotEnforced,
    /// stepTimeoutInMinutes never reaches the server (StartNext and Update), so no timer runs.
    TimerNeverFires,
    /// StartNext starts the newest QUEUED execution instead of the head.
    WrongNextJob,
    /// Every GetPendingJobExecutions answer arrives after the run's deadline.
    LateAnswers,
    /// An Update whose stepTimeoutInMinutes is a numeric string is accepted (read as its
    /// number), and from then on every request for that thing answers 500 InternalError.
    CorruptedByStringStep,
    /// Every [`THROTTLE_EVERY`]th data-plane request is answered 429 ThrottlingException (not a
    /// broken rule: a quota kept); its retry goes through.
    Throttles,
    /// Describe `$next` describes the oldest QUEUED execution ahead of an IN_PROGRESS one
    /// queued no earlier.
    NextPrefersQueued,
    /// A step timer set by Update runs to its own deadline, past the job's in-progress one.
    UpdateStepUncapped,
    /// An Update whose stepTimeoutInMinutes is this JSON text is accepted and stops every timer
    /// of the execution, the in-progress one included.
    StopsTimersOn(&'static str),
    /// stepTimeoutInMinutes -1 on an Update with no step timer running starts a 1-minute one.
    MinusOneStartsATimer,
    /// A fractional expectedVersion is truncated to an integer.
    TruncatesVersion,
    /// The first data-plane request is answered 429 ThrottlingException at every attempt.
    ThrottlesOne,
    /// Executions are numbered from 1000 (not a broken rule: numbers are opaque, spec §1.1).
    Renumbered,
    /// Describe `$next` ignores `includeJobDocument=false`: the document is always included.
    NextKeepsTheDocument,
    /// The first StartNext that sets a step timer is answered [`PAST_THE_STEP`] late (not a
    /// broken rule: a slow answer within the deadline), so the timer fires before the next step.
    SlowOnce,
    /// Every StartNext that sets a step timer is answered [`PAST_THE_STEP`] late.
    SlowEveryTime,
    /// StartNext's stepTimeoutInMinutes is ignored: no step timer starts (Update's still does).
    StartNextStepIgnored,
    /// An Update whose stepTimeoutInMinutes is this JSON text is accepted and ends its
    /// execution this many target seconds later (at once for 0), its countdown running to
    /// then; every describe of a terminal execution is refused with 410 (allowed, spec §7.6).
    EndsAfter(&'static str, u32),
    /// A failed execution is never retried, whatever the job's retry configuration.
    NoRetries,
    /// A StartNext that finds nothing pending answers with the thing's last SUCCEEDED
    /// execution, as if it had come back.
    FinishedComesBack,
    /// A query's whole decimal (`executionNumber=1.0`) is read as its integer (not a broken
    /// rule: the contract leaves it open, WI-QUERY-WHOLE).
    WholeQueryRead,
    /// A request whose query holds a whole decimal (`executionNumber=1.0`) is answered 500.
    WholeQueryBreaks,
}

/// How long [`Fault::SlowOnce`] and [`Fault::SlowEveryTime`] hold back an answer: 6 minutes of
/// target time, past a 3-minute step timer and the expiry slack.
const PAST_THE_STEP: Duration = Duration::from_millis(600);

/// [`Fault::Renumbered`] adds this to every execution number the reference gives.
const RENUMBER: i64 = 999;

/// One data-plane request in this many is throttled by [`Fault::Throttles`] (2 %).
const THROTTLE_EVERY: u64 = 50;

/// The real plan over HTTP, keeping only the cases that carry one of `only`.
fn plan(only: &[&str]) -> Plan {
    faults::plan(Binding::Http, only)
}

/// Runs `plan` through a proxy with `fault` in front of a fresh reference server, with request
/// deadline `deadline`, and weighs the findings under the AWS profile.
async fn run_through(fault: Fault, plan: &Plan, deadline: Duration) -> (RunRecord, Assessment) {
    let server = common::server(TIME_SCALE).await;
    let proxy = RunningProxy::start(format!("http://{}", server.data_plane()), fault).await;
    let control = format!("http://{}", server.control_plane());
    let origin = Instant::now();
    let data = DataPlane::parse(&proxy.base).expect("the proxy's URL");
    let target = faults::target(data, &control);
    let run_id = format!("{fault:?}")
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let settings = faults::settings(run_id, deadline, origin);
    let cases = conformance::run(plan, &target, &settings, CancellationToken::new())
        .await
        .cases;
    let proxy_base = proxy.base.clone();
    drop(proxy);
    server.shutdown().await;
    faults::weigh(
        settings.run_id,
        origin,
        (proxy_base, control, "http"),
        cases,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_behind_a_faithful_proxy_has_no_failure() {
    let (_, assessment) = run_through(Fault::Faithful, &plan(&[]), DEADLINE).await;
    let failed = failures(&assessment);
    assert!(failed.is_empty(), "failures:\n{}", listing(&failed));
    assert_eq!(assessment.totals.aborted, 0);
    assert!(assessment.totals.checks > 0);
    assert!(assessment.passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_checked_never_failed() {
    let (record, assessment) = run_through(Fault::Throttles, &plan(&[]), DEADLINE).await;
    faults::assert_clean(&assessment, "a target throttling 2 % of requests");
    let throttled = record
        .cases
        .iter()
        .flat_map(|c| &c.exchanges)
        .filter(|e| matches!(&e.outcome, Outcome::Answered(r) if r.status == 429))
        .count();
    assert!(throttled > 0, "no request was throttled");
    let row = assessment
        .coverage
        .iter()
        .find(|c| c.id == "SN-THROTTLING")
        .expect("SN-THROTTLING is in the coverage matrix");
    assert_eq!(row.verdict, Verdict::Pass, "{row:?}");
    assert_eq!(row.checks, throttled);
    let retried = assessment
        .coverage
        .iter()
        .find(|c| c.id == "WI-THROTTLED-OUT")
        .expect("WI-THROTTLED-OUT is in the coverage matrix");
    assert_eq!(retried.verdict, Verdict::Pass, "{retried:?}");
    // A request throttled at two attempts in a row is one retried request.
    let throttled_at = |e: &Exchange| matches!(&e.outcome, Outcome::Answered(r) if r.status == 429);
    let mut requests = 0;
    for case in &record.cases {
        let mut previous: Option<&Exchange> = None;
        for e in &case.exchanges {
            let again = previous.is_some_and(|p| {
                throttled_at(p)
                    && p.request.method == e.request.method
                    && p.request.target == e.request.target
            });
            if throttled_at(e) && !again {
                requests += 1;
            }
            previous = Some(e);
        }
    }
    assert_eq!(retried.checks, requests, "one check per retried request");
}

/// A request throttled at every attempt of the SDKs' standard mode is not judged, and one
/// warning says so, naming it and its attempts; the run still passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_throttled_at_every_attempt_is_a_warning_naming_it() {
    let plan = plan(&[NOTHING_PENDING]);
    let (record, assessment) = run_through(Fault::ThrottlesOne, &plan, DEADLINE).await;
    faults::assert_clean(
        &assessment,
        "a target throttling one request at every attempt",
    );
    let warned: Vec<&Weighed> = assessment
        .cases
        .iter()
        .flat_map(|c| &c.problems)
        .filter(|w| w.severity == Severity::Warning)
        .collect();
    let [warning] = warned.as_slice() else {
        panic!("expected exactly one warning: {warned:#?}");
    };
    assert_eq!(warning.finding.requirement, req::WI_THROTTLED_OUT);
    let kept: Vec<u64> = record.cases[0]
        .exchanges
        .iter()
        .filter(|e| matches!(&e.outcome, Outcome::Answered(r) if r.status == 429))
        .map(|e| e.seq)
        .collect();
    assert_eq!(kept.len(), 3, "every attempt is kept");
    let seqs: Vec<String> = kept.iter().map(|s| format!("#{s}")).collect();
    let message = &warning.finding.message;
    let ending = format!(
        "was throttled at all 3 attempts ({}); its checks were skipped",
        seqs.join(", ")
    );
    assert!(
        message.starts_with("StartNextPendingJobExecution PUT /things/dev-")
            && message.ends_with(&ending),
        "{message}"
    );
    assert_eq!(warning.finding.exchange, kept.last().copied());
    assert_eq!(assessment.cases[0].verdict, Verdict::Warn);

    let dir = common::scratch("throttled-out");
    let input = ReportInput {
        run: &record,
        assessment: &assessment,
        rerun_prefix: "jobcert run",
        region: "us-east-1",
    };
    report::write_all(dir.path(), &input).expect("reports are written");
    let summary = std::fs::read_to_string(dir.path().join("summary.json")).expect("summary.json");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    let warnings = &html[html
        .find(r#"<section id="warnings">"#)
        .expect("a Warnings section")..];
    let exchange = format!("Exchange #{}", kept[2]);
    assert!(
        summary.contains("WI-THROTTLED-OUT") && summary.contains(&ending),
        "{summary}"
    );
    assert!(
        warnings.contains(&ending) && warnings.contains(&exchange),
        "{warnings}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_numbered_from_a_thousand_conform() {
    let (record, assessment) = run_through(Fault::Renumbered, &plan(&[]), DEADLINE).await;
    faults::assert_clean(&assessment, "a target numbering executions from 1000");
    let numbered = record
        .cases
        .iter()
        .flat_map(|c| &c.exchanges)
        .any(|e| matches!(&e.outcome, Outcome::Answered(r) if r.body.contains(r#""executionNumber":1000"#)));
    assert!(numbered, "no execution numbered 1000 was seen");
}

/// A step timer that never fires is named once, under the timer's requirement (or, for one a
/// StartNext was seen not to start, under SN-STEP-TIMER there): what the target then rightly
/// does from its own state (accepts an update, lists or describes the execution as running)
/// fails no other requirement, and is shown as a follow-on of the timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_that_never_fires_is_one_cause_not_an_avalanche() {
    let (_, assessment) = run_through(Fault::TimerNeverFires, &plan(&["timers"]), DEADLINE).await;
    let failed = failures(&assessment);
    let cited = cited(&failed);
    assert!(
        cited.contains("TM-STEP-EXPIRY"),
        "no TM-STEP-EXPIRY failure:\n{}",
        listing(&failed)
    );
    // The fault drops the timer on its way in, so the start's missing countdown is a fault of
    // its own (SN-STEP-TIMER), and so is an invalid stepTimeoutInMinutes accepted once dropped
    // (UP-INPUT, then UP-STEP-INVALID-TIMERS for the timer it must have left); everything after
    // follows from the timer.
    let stray: Vec<_> = failed
        .iter()
        .filter(|(_, w)| {
            !["TM-", "SN-STEP-TIMER", "UP-INPUT", "UP-STEP-INVALID-TIMERS"]
                .iter()
                .any(|p| w.finding.requirement.as_str().starts_with(p))
        })
        .copied()
        .collect();
    assert!(
        stray.is_empty(),
        "failures beyond the timers':\n{}",
        listing(&stray)
    );
    let follow_ons: Vec<_> = assessment
        .cases
        .iter()
        .flat_map(|c| &c.problems)
        .filter(|w| w.severity == Severity::FollowOn)
        .collect();
    assert!(
        follow_ons
            .iter()
            .any(|w| w.finding.requirement == req::UP_TERMINAL),
        "the accepted update is not a follow-on: {follow_ons:#?}"
    );
    assert!(
        follow_ons
            .iter()
            .filter_map(|w| w.finding.caused_by)
            .all(|c| ["TM-", "UP-STEP-", "SN-STEP-TIMER"]
                .iter()
                .any(|p| c.requirement.as_str().starts_with(p))),
        "a follow-on of another cause: {follow_ons:#?}"
    );
}

#[rstest]
#[case::wrong_error_type(Fault::WrongErrorType, &["SN-STEP-RANGE", "SN-THING-NAME"], &["SN-STEP-RANGE", "SN-THING-NAME"])]
#[case::wrong_status(Fault::WrongStatus, &["SN-STEP-RANGE"], &["WI-ERROR-STATUS"])]
#[case::limit_not_enforced(Fault::LimitNotEnforced, &["SN-STEP-RANGE"], &["SN-STEP-RANGE"])]
#[case::timer_never_fires(Fault::TimerNeverFires, &["timers"], &["TM-STEP-EXPIRY"])]
#[case::wrong_next_job(Fault::WrongNextJob, &["SN-NEXT-ORDER"], &["SN-NEXT-ORDER"])]
#[case::late_answers(Fault::LateAnswers, &["GP-LISTS"], &["WI-ANSWER"])]
#[case::corrupted_by_string_step(Fault::CorruptedByStringStep, &[STRING_STEP_CASE], &["WI-HEALTH"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_fails_under_its_requirement(
    #[case] fault: Fault,
    #[case] only: &[&str],
    #[case] expected: &[&str],
) {
    let deadline = if fault == Fault::LateAnswers {
        SHORT_DEADLINE
    } else {
        DEADLINE
    };
    let plan = plan(only);
    let (_, control) = run_through(Fault::Faithful, &plan, deadline).await;
    let control = failures(&control);
    assert!(
        control.is_empty(),
        "the same cases fail without the fault:\n{}",
        listing(&control)
    );
    let (_, assessment) = run_through(fault, &plan, deadline).await;
    let failed = failures(&assessment);
    let cited = cited(&failed);
    for id in expected {
        assert!(
            cited.contains(id),
            "{fault:?} should fail {id}; failures:\n{}",
            listing(&failed)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_is_a_timeout_not_a_wrong_answer() {
    let (record, assessment) =
        run_through(Fault::LateAnswers, &plan(&["GP-LISTS"]), SHORT_DEADLINE).await;
    assert_timeouts_cited(
        &record,
        &assessment,
        "GetPendingJobExecutions",
        SHORT_DEADLINE,
    );
}

/// A timeout is reported as a timeout (WI-ANSWER) only, not also as a wrong answer under the
/// step's explicit expectations (here GP-LISTS: "inProgressJobs: expected []").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_reported_only_as_a_timeout() {
    let (record, assessment) =
        run_through(Fault::LateAnswers, &plan(&["GP-LISTS"]), SHORT_DEADLINE).await;
    assert!(!timed_out(&record).is_empty(), "nothing timed out");
    let doubled = doubled(&record, &assessment);
    assert!(
        doubled.is_empty(),
        "timeouts also failed as wrong answers:\n{}",
        listing(&doubled)
    );
}

/// A target that accepts a request it should refuse and is broken by it fails WI-HEALTH, and
/// the failure names that request and what came of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_request_that_breaks_the_target_is_named() {
    let plan = plan(&[STRING_STEP_CASE]);
    let (_, assessment) = run_through(Fault::CorruptedByStringStep, &plan, DEADLINE).await;
    let failed = failures(&assessment);
    let health = messages(&failed, req::WI_HEALTH);
    assert!(
        !health.is_empty(),
        "no WI-HEALTH failure:\n{}",
        listing(&failed)
    );
    for message in health {
        assert!(
            message.starts_with("after UpdateJobExecution ")
                && message.contains(r#""stepTimeoutInMinutes":"5""#)
                && message.contains(" was accepted, ")
                && message.ends_with(" answered 500 InternalError"),
            "{message}"
        );
    }
}
