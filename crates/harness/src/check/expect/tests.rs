//! Tests of the explicit expectations: what messages say, and the answers the contract allows.

use rstest::rstest;
use serde_json::json;

use super::*;
use crate::transport::{FailureClass, Timing, WireRequest, WireResponse};

fn exchange(transport: &str, outcome: Outcome) -> Exchange {
    Exchange {
        seq: 7,
        context: "case".into(),
        operation: "UpdateJobExecution".into(),
        request: WireRequest {
            transport: transport.into(),
            method: "POST".into(),
            endpoint: "http://127.0.0.1:9080".into(),
            target: "/things/t/jobs/j".into(),
            headers: vec![],
            body: None,
        },
        outcome,
        timing: Timing {
            intended_us: 0,
            sent_us: 0,
            done_us: 1,
        },
    }
}

fn answered(status: u16) -> Outcome {
    Outcome::Answered(WireResponse {
        status,
        headers: vec![],
        body: String::new(),
        truncated: false,
    })
}

fn refused(status: u16, type_name: &str) -> Answer {
    Answer::Error {
        status,
        type_name: Some(type_name.into()),
        body: Some(json!({ "message": "no" })),
    }
}

fn aws(judged: &[Finding]) -> Judging<'_> {
    Judging {
        profile: Profile::Aws,
        judged,
    }
}

fn expecting(status: Option<u16>, error: Option<&str>, body: Value) -> Expectation {
    Expectation {
        status,
        error: error.map(str::to_string),
        body: body.as_object().cloned().unwrap_or_default(),
        ..Expectation::default()
    }
}

#[rstest]
#[case::member_of_an_error(
    expecting(None, None, json!({ "execution.status": "SUCCEEDED" })),
    answered(410),
    refused(410, "TerminalStateException"),
    &["execution.status: expected \"SUCCEEDED\", got 410 TerminalStateException"]
)]
#[case::member_missing_from_a_success(
    expecting(None, None, json!({ "execution.status": "SUCCEEDED" })),
    answered(200),
    Answer::Success(json!({ "execution": {} })),
    &["execution.status: expected \"SUCCEEDED\", got 200 success without it"]
)]
#[case::member_of_another_value(
    expecting(None, None, json!({ "execution.status": "SUCCEEDED" })),
    answered(200),
    Answer::Success(json!({ "execution": { "status": "FAILED" } })),
    &["execution.status: expected \"SUCCEEDED\", got \"FAILED\""]
)]
#[case::member_present_not_absent(
    expecting(None, None, json!({ "execution": { "absent": true } })),
    answered(200),
    Answer::Success(json!({ "execution": 1 })),
    &["execution: expected absent, got 1"]
)]
#[case::error_type_of_a_success(
    expecting(None, Some("InvalidRequestException"), json!({})),
    answered(200),
    Answer::Success(json!({})),
    &["expected InvalidRequestException, got 200 success"]
)]
#[case::status_and_type_of_another_error(
    expecting(Some(400), Some("InvalidRequestException"), json!({})),
    answered(410),
    refused(410, "TerminalStateException"),
    &[
        "expected HTTP 400, got 410 TerminalStateException",
        "expected InvalidRequestException, got 410 TerminalStateException",
    ]
)]
fn messages_say_what_came_back(
    #[case] expect: Expectation,
    #[case] outcome: Outcome,
    #[case] answer: Answer,
    #[case] messages: &[&str],
) {
    let findings = check(
        &expect,
        &exchange("http", outcome),
        &answer,
        req::UP_INPUT,
        aws(&[]),
        &|_| None,
    );
    let failed: Vec<&str> = findings
        .iter()
        .filter(|f| !f.passed)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(failed, messages);
    assert!(findings.iter().all(|f| f.exchange == Some(7)));
}

#[rstest]
#[case::timeout(Outcome::Timeout { deadline_ms: 5000 }, "no answer (timeout after 5000 ms)")]
#[case::reset(
    Outcome::Failed { class: FailureClass::Reset, message: "connection reset".into() },
    "no answer (transport failure: connection reset)"
)]
#[case::answered(answered(410), "410 TerminalStateException")]
fn what_came_back_names_a_missing_answer(#[case] outcome: Outcome, #[case] said: &str) {
    let answer = match outcome {
        Outcome::Answered(_) => refused(410, "TerminalStateException"),
        _ => Answer::Unanswered,
    };
    assert_eq!(came_back(&exchange("http", outcome), &answer), said);
}

#[test]
fn an_unanswered_call_is_left_to_the_answer_check() {
    let expect = expecting(Some(400), Some("InvalidRequestException"), json!({}));
    let timeout = exchange("http", Outcome::Timeout { deadline_ms: 5000 });
    assert!(
        check(
            &expect,
            &timeout,
            &Answer::Unanswered,
            req::UP_INPUT,
            aws(&[]),
            &|_| None
        )
        .is_empty()
    );
}

#[test]
fn mqtt_has_no_status_to_expect() {
    let expect = expecting(Some(400), None, json!({}));
    let rejected = exchange("mqtt", answered(0));
    let answer = refused(400, "InvalidRequestException");
    assert!(
        check(
            &expect,
            &rejected,
            &answer,
            req::UP_INPUT,
            aws(&[]),
            &|_| None
        )
        .is_empty()
    );
}

fn strict_only(mut expect: Expectation) -> Expectation {
    expect.strict_only = true;
    expect
}

/// The default of a call whose integer query member is a whole float (`whole_query`).
fn whole_query() -> Expectation {
    effective(
        &Expectation::default(),
        Operation::DescribeJobExecution,
        false,
        Some(req::WI_QUERY_WHOLE),
    )
}

fn terminal_body() -> Expectation {
    expecting(None, None, json!({ "execution.status": "SUCCEEDED" }))
}

fn version_refusal() -> Expectation {
    expecting(
        Some(409),
        Some("InvalidStateTransitionException"),
        json!({}),
    )
}

/// The state model judged the call as a describe of a terminal execution (410 accepted).
fn terminal() -> Vec<Finding> {
    vec![Finding::pass(
        req::DE_TERMINAL,
        "refused as terminal",
        Some(7),
    )]
}

/// The state model judged the call as a version mismatch answered 400.
fn mismatch() -> Vec<Finding> {
    vec![
        Finding::pass(req::UP_EXPECTED_VERSION, "refused", Some(7)),
        Finding::fail(req::UP_EXPECTED_VERSION_TYPE, "not 409", Some(7)),
    ]
}

// An expectation passes for any outcome the contract allows in the call's situation; the
// non-default one is reported once under the situation's ambiguous partner; strict-only
// clauses are judged as written under strict and weigh at most a warning under aws.
#[rstest]
#[case::terminal_refused_in_a_timer_case(terminal_body(), req::TM_IN_PROGRESS_EXPIRY, terminal(), Profile::Aws, 410, Some("TerminalStateException"), &[(req::TM_IN_PROGRESS_EXPIRY, true), (req::DE_TERMINAL_DESCRIBED, false)])]
#[case::terminal_refused_under_its_own_requirement(terminal_body(), req::DE_TERMINAL, vec![], Profile::Aws, 410, Some("TerminalStateException"), &[(req::DE_TERMINAL, true), (req::DE_TERMINAL_DESCRIBED, false)])]
#[case::terminal_refused_strictly(terminal_body(), req::DE_TERMINAL, vec![], Profile::Strict, 410, Some("TerminalStateException"), &[(req::DE_TERMINAL, true), (req::DE_TERMINAL_DESCRIBED, false)])]
#[case::partner_already_judged(terminal_body(), req::DE_TERMINAL, vec![Finding::fail(req::DE_TERMINAL_DESCRIBED, "410", Some(7))], Profile::Aws, 410, Some("TerminalStateException"), &[(req::DE_TERMINAL, true)])]
#[case::refused_outside_the_situation(terminal_body(), req::TM_IN_PROGRESS_EXPIRY, vec![], Profile::Aws, 410, Some("TerminalStateException"), &[(req::TM_IN_PROGRESS_EXPIRY, false)])]
#[case::refused_with_a_status_not_allowed(terminal_body(), req::DE_TERMINAL, vec![], Profile::Aws, 409, Some("TerminalStateException"), &[(req::DE_TERMINAL, false)])]
#[case::version_400_under_a_written_409(version_refusal(), req::UP_EXPECTED_VERSION, mismatch(), Profile::Aws, 400, Some("InvalidRequestException"), &[(req::UP_EXPECTED_VERSION, true)])]
#[case::version_400_strict_only_under_strict(strict_only(version_refusal()), req::UP_EXPECTED_VERSION, mismatch(), Profile::Strict, 400, Some("InvalidRequestException"), &[(req::UP_EXPECTED_VERSION, false), (req::UP_EXPECTED_VERSION, false)])]
#[case::version_400_strict_only_under_aws(strict_only(version_refusal()), req::UP_EXPECTED_VERSION, mismatch(), Profile::Aws, 400, Some("InvalidRequestException"), &[(req::UP_EXPECTED_VERSION, true)])]
#[case::strict_only_warns_under_aws(strict_only(version_refusal()), req::UP_EXPECTED_VERSION, vec![], Profile::Aws, 404, Some("ResourceNotFoundException"), &[(req::UP_EXPECTED_VERSION_TYPE, false), (req::UP_EXPECTED_VERSION_TYPE, false)])]
#[case::as_written_when_as_written(version_refusal(), req::UP_EXPECTED_VERSION, vec![], Profile::Aws, 409, Some("InvalidStateTransitionException"), &[(req::UP_EXPECTED_VERSION, true), (req::UP_EXPECTED_VERSION, true)])]
#[case::whole_query_refused(whole_query(), req::WI_QUERY_WHOLE, vec![], Profile::Aws, 400, Some("InvalidRequestException"), &[(req::WI_QUERY_WHOLE, true)])]
#[case::whole_query_read(whole_query(), req::WI_QUERY_WHOLE, vec![], Profile::Aws, 200, None, &[(req::WI_QUERY_WHOLE, true), (req::WI_QUERY_WHOLE_REFUSED, false)])]
#[case::whole_query_server_error(whole_query(), req::WI_QUERY_WHOLE, vec![], Profile::Aws, 500, Some("InternalError"), &[(req::WI_QUERY_WHOLE, false)])]
#[case::whole_query_not_found(whole_query(), req::WI_QUERY_WHOLE, vec![], Profile::Aws, 404, Some("ResourceNotFoundException"), &[(req::WI_QUERY_WHOLE, false)])]
fn an_expectation_admits_what_the_contract_allows(
    #[case] expect: Expectation,
    #[case] requirement: RequirementId,
    #[case] judged: Vec<Finding>,
    #[case] profile: Profile,
    #[case] status: u16,
    #[case] error: Option<&str>,
    #[case] expected: &[(RequirementId, bool)],
) {
    let answer = match error {
        Some(e) => refused(status, e),
        None => Answer::Success(json!({ "execution": { "status": "SUCCEEDED" } })),
    };
    let findings = check(
        &expect,
        &exchange("http", answered(status)),
        &answer,
        requirement,
        Judging {
            profile,
            judged: &judged,
        },
        &|_| None,
    );
    let got: Vec<(RequirementId, bool)> =
        findings.iter().map(|f| (f.requirement, f.passed)).collect();
    assert_eq!(got, expected, "{findings:#?}");
}

#[test]
fn an_allowed_alternative_says_what_came_back_and_which_section_allows_it() {
    let findings = check(
        &terminal_body(),
        &exchange("http", answered(410)),
        &refused(410, "TerminalStateException"),
        req::TM_TERMINAL_STOPS,
        aws(&terminal()),
        &|_| None,
    );
    assert!(
        findings[0]
            .message
            .starts_with("410 TerminalStateException came back, which §7.6 allows"),
        "{}",
        findings[0].message
    );
}
