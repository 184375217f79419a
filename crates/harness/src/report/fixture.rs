//! A small run for the report tests: one passing case, one failing case (with a follow-on, a
//! warning and a hostile response body), and one aborted case.

use super::ReportInput;
use crate::finding::Profile;
use crate::finding::{Cause, Finding};
use crate::record::{CaseRecord, DiscardedAttempt, LatencyBook, RunRecord};
use crate::transport::{Exchange, Outcome, Timing, WireRequest, WireResponse};
use crate::verdict::{Assessment, Deviation, assess};
use jobcert_contract::req;

pub const RERUN: &str = "jobcert run scenarios/conformance --target http://127.0.0.1:9080";

fn exchange(seq: u64, operation: &str, outcome: Outcome) -> Exchange {
    Exchange {
        seq,
        context: "case".into(),
        operation: operation.into(),
        request: WireRequest {
            transport: "http".into(),
            method: "PUT".into(),
            endpoint: "http://127.0.0.1:9080".into(),
            target: "/things/t-1/jobs/$next".into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (
                    "authorization".into(),
                    "AWS4-HMAC-SHA256 Credential=AKIDSECRET".into(),
                ),
            ],
            body: Some(r#"{"stepTimeoutInMinutes":5}"#.into()),
        },
        outcome,
        timing: Timing {
            intended_us: seq * 1_000,
            sent_us: seq * 1_000,
            done_us: seq * 1_000 + 1_500 * seq,
        },
    }
}

fn answered(status: u16, body: &str) -> Outcome {
    Outcome::Answered(WireResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
        truncated: false,
    })
}

fn case(suite: &str, name: &str, findings: Vec<Finding>, exchanges: Vec<Exchange>) -> CaseRecord {
    CaseRecord {
        id: format!("{suite}/{name}"),
        suite: suite.into(),
        name: name.into(),
        description: None,
        source: Some(format!("scenarios/{suite}.yaml:3:5")),
        requirements: findings.iter().map(|f| f.requirement).collect(),
        tags: vec![],
        findings,
        exchanges,
        aborted: None,
        duration_ms: 12,
        discarded: Vec::new(),
    }
}

/// The run and its assessment under the AWS profile, with one unused deviation.
pub fn sample() -> (RunRecord, Assessment) {
    let mut passing = case(
        "start-next",
        "order",
        vec![
            Finding::pass(req::SN_ROUTE, "answered 200", Some(1)),
            Finding::pass(req::SN_NEXT_ORDER, "head of the queue", Some(1)),
        ],
        vec![exchange(
            1,
            "StartNextPendingJobExecution",
            answered(200, r#"{"execution":{}}"#),
        )],
    );
    passing.discarded = vec![DiscardedAttempt {
        attempt: 1,
        deadline: "the step timer set by exchange #0 of job-1 on t-1".into(),
        between: "step 1 (StartNextPendingJobExecution) and step 2 (UpdateJobExecution)".into(),
    }];
    let failing = case(
        "start-next",
        "empty",
        vec![
            Finding::fail(req::SN_EMPTY, "expected no `execution` member", Some(2)),
            Finding::fail(req::SN_NEXT_ORDER, "returned a job not pending", Some(2)).following(
                Cause {
                    requirement: req::SN_EMPTY,
                    exchange: Some(2),
                },
            ),
            Finding::fail(
                req::SN_UNKNOWN_THING,
                "answered 404 for an unknown thing",
                None,
            ),
            Finding::pass(req::SN_ROUTE, "answered 200", Some(2)),
        ],
        vec![exchange(
            2,
            "StartNextPendingJobExecution",
            answered(200, r#"{"execution":"<script>alert(1)</script>"}"#),
        )],
    );
    let mut aborted = case(
        "update",
        "timeout",
        vec![Finding::fail(req::WI_ANSWER, "no answer", Some(3))],
        vec![exchange(
            3,
            "UpdateJobExecution",
            Outcome::Timeout { deadline_ms: 5_000 },
        )],
    );
    aborted.aborted = Some("setup refused: CreateJob answered 500".into());
    let cases = vec![passing, failing, aborted];
    let mut latency = LatencyBook::default();
    for e in cases.iter().flat_map(|c| &c.exchanges) {
        latency.record(e);
    }
    let run = RunRecord {
        run_id: "r-1a2b".into(),
        started_at_ms: 1_700_000_000_000,
        duration_ms: 1_234,
        target: crate::report::kit::sample_target(),
        partial: false,
        cases,
        latency,
    };
    let deviations = [Deviation {
        requirement: req::GP_CAP,
        reason: "pages of 10".into(),
    }];
    let assessment = assess(&run, Profile::Aws, &deviations);
    (run, assessment)
}

/// A run of one case that only warned: its finding cites a refused exchange.
pub fn warned() -> (RunRecord, Assessment) {
    let warned = case(
        "start-next",
        "unknown-thing",
        vec![Finding::fail(
            req::SN_UNKNOWN_THING,
            "answered 410 TerminalStateException for an unknown thing",
            Some(4),
        )],
        vec![exchange(
            4,
            "StartNextPendingJobExecution",
            answered(410, r#"{"__type":"TerminalStateException"}"#),
        )],
    );
    let run = RunRecord {
        cases: vec![warned],
        latency: LatencyBook::default(),
        ..sample().0
    };
    let assessment = assess(&run, Profile::Aws, &[]);
    (run, assessment)
}

/// The report input over `sample()`.
pub fn input<'a>(run: &'a RunRecord, assessment: &'a Assessment) -> ReportInput<'a> {
    ReportInput {
        run,
        assessment,
        rerun_prefix: RERUN,
        region: "us-east-1",
    }
}
