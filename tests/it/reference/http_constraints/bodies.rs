//! Request bodies.

use super::*;

/// statusDetails of StartNext and Update: key and value lengths and characters, and types.
/// An accepted map is stored as sent.
#[rstest]
#[case::empty_map(json!({}), Accepted)]
#[case::one_char_key_and_value(details("k", "v"), Accepted)]
#[case::key_max_length(details(text(max_len(DETAILS_KEY)), "v"), Accepted)]
#[case::key_punctuation(details("a:b_c-d", "v"), Accepted)]
#[case::value_max_length(details("k", text(max_len(DETAILS_VALUE))), Accepted)]
#[case::value_max_length_two_byte(details("k", "é".repeat(max_len(DETAILS_VALUE))), Accepted)]
#[case::value_max_length_astral(details("k", "😀".repeat(max_len(DETAILS_VALUE))), Accepted)]
#[case::value_with_space_and_symbols(details("k", "50% done: ok/é"), Accepted)]
#[case::many_pairs(
    Value::Object((0..100).map(|i| (format!("k{i}"), json!("v"))).collect()),
    Accepted
)]
#[case::key_empty(details("", "v"), Invalid("statusDetails"))]
#[case::key_over_max_length(details(text(max_len(DETAILS_KEY) + 1), "v"), Invalid("statusDetails"))]
#[case::key_space(details("a b", "v"), Invalid("statusDetails"))]
#[case::key_dot(details("a.b", "v"), Invalid("statusDetails"))]
#[case::key_slash(details("a/b", "v"), Invalid("statusDetails"))]
#[case::key_non_ascii_letter(details("aé", "v"), Invalid("statusDetails"))]
#[case::value_empty(details("k", ""), Invalid("statusDetails"))]
#[case::value_over_max_length(details("k", text(max_len(DETAILS_VALUE) + 1)), Invalid("statusDetails"))]
#[case::value_over_max_length_two_byte(
    details("k", "é".repeat(max_len(DETAILS_VALUE) + 1)),
    Invalid("statusDetails")
)]
#[case::value_cc_nul(details("k", "a\u{0}b"), Invalid("statusDetails"))]
#[case::value_cc_newline(details("k", "a\nb"), Invalid("statusDetails"))]
#[case::value_cc_trailing_newline(details("k", "ab\n"), Invalid("statusDetails"))]
#[case::value_cc_delete(details("k", "a\u{7f}b"), Invalid("statusDetails"))]
#[case::value_cc_c1_control(details("k", "a\u{85}b"), Invalid("statusDetails"))]
#[case::value_cf_zero_width_space(details("k", "a\u{200b}b"), Invalid("statusDetails"))]
#[case::value_co_private_use(details("k", "a\u{e000}b"), Invalid("statusDetails"))]
#[case::value_cn_unassigned(details("k", "a\u{378}b"), Invalid("statusDetails"))]
#[case::not_an_object_string(json!("k=v"), Invalid("statusDetails"))]
#[case::not_an_object_array(json!([["k", "v"]]), Invalid("statusDetails"))]
#[case::not_an_object_null(Value::Null, Invalid("statusDetails"))]
#[case::value_number(details("k", 1), Invalid("statusDetails"))]
#[case::value_boolean(details("k", true), Invalid("statusDetails"))]
#[case::value_null(details("k", Value::Null), Invalid("statusDetails"))]
#[case::value_object(details("k", json!({ "a": "b" })), Invalid("statusDetails"))]
#[tokio::test]
async fn status_details(
    #[case] map: Value,
    #[case] expect: Expect,
    #[values(Op::StartNext, Op::Update)] op: Op,
) {
    let fixture = Fixture::new().await;
    let mut body = op.default_body().expect("the operation has a body");
    body["statusDetails"] = map.clone();
    fixture.check(&Request::new(op).body(&body), expect).await;
    if expect == Accepted {
        let stored = fixture.execution().await["statusDetails"].clone();
        let empty = map.as_object().is_some_and(Map::is_empty);
        let expected = if empty { Value::Null } else { map };
        assert_eq!(stored, expected);
    }
}

/// stepTimeoutInMinutes of StartNext: 1..=10080 minutes, and not the cancel value.
#[rstest]
#[case::minimum(json!(minimum(STEP_TIMEOUT)), Accepted)]
#[case::maximum(json!(maximum(STEP_TIMEOUT)), Accepted)]
#[case::below_minimum(json!(minimum(STEP_TIMEOUT) - 1), Invalid("stepTimeoutInMinutes"))]
#[case::above_maximum(json!(maximum(STEP_TIMEOUT) + 1), Invalid("stepTimeoutInMinutes"))]
#[case::cancel_value(json!(cancel_step_timeout()), Invalid("stepTimeoutInMinutes"))]
#[case::integral_float(json!(5.0), Accepted)]
#[case::string(json!("5"), Invalid("stepTimeoutInMinutes"))]
#[case::fraction(json!(1.5), Invalid("stepTimeoutInMinutes"))]
#[case::boolean(json!(true), Invalid("stepTimeoutInMinutes"))]
#[case::null(Value::Null, Invalid("stepTimeoutInMinutes"))]
#[tokio::test]
async fn start_next_step_timeout(#[case] minutes: Value, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let request = Request::new(Op::StartNext).body(&json!({ "stepTimeoutInMinutes": minutes }));
    let body = fixture.check(&request, expect).await;
    if expect == Accepted {
        fixture.assert_served(Op::StartNext, &body).await;
        let whole_minutes = minutes.as_f64().map(|m| m as i64);
        fixture.assert_countdown(whole_minutes).await;
    }
}

/// The execution an Update step-timeout case starts from.
#[derive(Debug, Clone, Copy)]
enum Seed {
    /// QUEUED.
    Queued,
    /// IN_PROGRESS without a step timer.
    Started,
    /// IN_PROGRESS with a step timer of the maximum length.
    StepTimerRunning,
}

impl Seed {
    async fn fixture(self) -> Fixture {
        match self {
            Seed::Queued => Fixture::new().await,
            Seed::Started => Fixture::started(&json!({})).await,
            Seed::StepTimerRunning => {
                Fixture::started(&json!({ "stepTimeoutInMinutes": maximum(STEP_TIMEOUT) })).await
            }
        }
    }
}

/// stepTimeoutInMinutes of Update (to IN_PROGRESS): 1..=10080 minutes, or the cancel value while
/// a step timer runs.
#[rstest]
#[case::cancel_with_timer_running(Seed::StepTimerRunning, cancel_step_timeout(), Accepted)]
#[case::cancel_while_queued(Seed::Queued, cancel_step_timeout(), Invalid("stepTimeoutInMinutes"))]
#[case::cancel_without_timer(Seed::Started, cancel_step_timeout(), Invalid("stepTimeoutInMinutes"))]
#[case::minimum_while_queued(Seed::Queued, minimum(STEP_TIMEOUT), Accepted)]
#[case::minimum_replacing_timer(Seed::StepTimerRunning, minimum(STEP_TIMEOUT), Accepted)]
#[case::maximum(Seed::Started, maximum(STEP_TIMEOUT), Accepted)]
#[case::below_minimum(Seed::Started, minimum(STEP_TIMEOUT) - 1, Invalid("stepTimeoutInMinutes"))]
#[case::above_maximum(Seed::Started, maximum(STEP_TIMEOUT) + 1, Invalid("stepTimeoutInMinutes"))]
#[case::below_cancel(Seed::StepTimerRunning, cancel_step_timeout() - 1, Invalid("stepTimeoutInMinutes"))]
#[tokio::test]
async fn update_step_timeout(#[case] seed: Seed, #[case] minutes: i64, #[case] expect: Expect) {
    let fixture = seed.fixture().await;
    let body = json!({ "status": "IN_PROGRESS", "stepTimeoutInMinutes": minutes });
    fixture
        .check(&Request::new(Op::Update).body(&body), expect)
        .await;
    if expect == Accepted {
        let running = (minutes != cancel_step_timeout()).then_some(minutes);
        fixture.assert_countdown(running).await;
    }
}

/// An invalid stepTimeoutInMinutes on Update (out of range, a fraction, a numeric string) is
/// refused and leaves the running step timer as it was.
#[rstest]
#[case::zero(json!(0))]
#[case::below_cancel(json!(cancel_step_timeout() - 1))]
#[case::fraction(json!(2.5))]
#[case::numeric_string(json!("5"))]
#[tokio::test]
async fn an_invalid_update_step_timeout_leaves_the_timer(#[case] minutes: Value) {
    let fixture = Seed::StepTimerRunning.fixture().await;
    let body = json!({ "status": "IN_PROGRESS", "stepTimeoutInMinutes": minutes });
    fixture
        .check(
            &Request::new(Op::Update).body(&body),
            Invalid("stepTimeoutInMinutes"),
        )
        .await;
    fixture.assert_countdown(Some(maximum(STEP_TIMEOUT))).await;
}

/// Update's other body members: status (required, device-settable values only),
/// expectedVersion and executionNumber (longs), and the two include flags (booleans).
#[rstest]
#[case::status_in_progress(json!({ "status": "IN_PROGRESS" }), Accepted)]
#[case::status_succeeded(json!({ "status": "SUCCEEDED" }), Accepted)]
#[case::status_failed(json!({ "status": "FAILED" }), Accepted)]
#[case::status_rejected(json!({ "status": "REJECTED" }), Accepted)]
#[case::status_missing(json!({}), Invalid("status"))]
#[case::status_unknown(json!({ "status": "FOO" }), Invalid("status"))]
#[case::status_lower_case(json!({ "status": "succeeded" }), Invalid("status"))]
#[case::status_number(json!({ "status": 1 }), Invalid("status"))]
#[case::status_null(json!({ "status": null }), Invalid("status"))]
#[case::status_queued(json!({ "status": "QUEUED" }), Invalid("status"))]
#[case::status_timed_out(json!({ "status": "TIMED_OUT" }), Invalid("status"))]
#[case::status_removed(json!({ "status": "REMOVED" }), Invalid("status"))]
#[case::status_canceled(json!({ "status": "CANCELED" }), Invalid("status"))]
#[case::expected_version_current(
    json!({ "status": "IN_PROGRESS", "expectedVersion": execution_model().initial_version_number }),
    Accepted
)]
#[case::expected_version_current_integral_float(
    json!({ "status": "IN_PROGRESS", "expectedVersion": execution_model().initial_version_number as f64 }),
    Accepted
)]
#[case::expected_version_long_max(
    json!({ "status": "IN_PROGRESS", "expectedVersion": maximum(LONG) }),
    Conflict
)]
#[case::expected_version_long_min(
    json!({ "status": "IN_PROGRESS", "expectedVersion": minimum(LONG) }),
    Conflict
)]
#[case::expected_version_beyond_long_max(
    json!({ "status": "IN_PROGRESS", "expectedVersion": maximum(LONG).unsigned_abs() + 1 }),
    Invalid("expectedVersion")
)]
#[case::expected_version_string(
    json!({ "status": "IN_PROGRESS", "expectedVersion": "1" }),
    Invalid("expectedVersion")
)]
#[case::expected_version_fraction(
    json!({ "status": "IN_PROGRESS", "expectedVersion": 1.5 }),
    Invalid("expectedVersion")
)]
#[case::execution_number_current(json!({ "status": "IN_PROGRESS", "executionNumber": 1 }), Accepted)]
#[case::execution_number_long_max(
    json!({ "status": "IN_PROGRESS", "executionNumber": maximum(LONG) }),
    NotFound
)]
#[case::execution_number_beyond_long_max(
    json!({ "status": "IN_PROGRESS", "executionNumber": maximum(LONG).unsigned_abs() + 1 }),
    Invalid("executionNumber")
)]
#[case::execution_number_string(
    json!({ "status": "IN_PROGRESS", "executionNumber": "abc" }),
    Invalid("executionNumber")
)]
#[case::execution_number_fraction(
    json!({ "status": "IN_PROGRESS", "executionNumber": 1.5 }),
    Invalid("executionNumber")
)]
#[case::include_state_true(
    json!({ "status": "IN_PROGRESS", "includeJobExecutionState": true }),
    Accepted
)]
#[case::include_state_string(
    json!({ "status": "IN_PROGRESS", "includeJobExecutionState": "true" }),
    Invalid("includeJobExecutionState")
)]
#[case::include_document_true(json!({ "status": "IN_PROGRESS", "includeJobDocument": true }), Accepted)]
#[case::include_document_string(
    json!({ "status": "IN_PROGRESS", "includeJobDocument": "true" }),
    Invalid("includeJobDocument")
)]
#[tokio::test]
async fn update_body(#[case] body: Value, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let response = fixture
        .check(&Request::new(Op::Update).body(&body), expect)
        .await;
    if expect == Accepted {
        let execution = fixture.execution().await;
        assert_eq!(execution["status"], body["status"]);
        let state = &response["executionState"];
        assert_eq!(
            state.is_object(),
            body["includeJobExecutionState"] == true,
            "{response}"
        );
        if state.is_object() {
            assert_eq!(state["status"], body["status"]);
            assert_eq!(state["versionNumber"], execution["versionNumber"]);
        }
        let document = &response["jobDocument"];
        assert_eq!(
            document.is_string(),
            body["includeJobDocument"] == true,
            "{response}"
        );
    }
}

/// Whole request bodies of StartNext and Update: what is not a JSON object is refused, an empty
/// body reads as `{}`, and unknown or path-bound members are ignored.
#[rstest]
#[case::start_next_empty(Op::StartNext, "", Accepted)]
#[case::start_next_whitespace(Op::StartNext, " \n", Accepted)]
#[case::start_next_unknown_member(Op::StartNext, r#"{"foo":1}"#, Accepted)]
#[case::start_next_path_member(Op::StartNext, r#"{"thingName":"other"}"#, Accepted)]
#[case::start_next_malformed(Op::StartNext, "{", Invalid("body"))]
#[case::start_next_array(Op::StartNext, "[]", Invalid("body"))]
#[case::start_next_string(Op::StartNext, r#""{}""#, Invalid("body"))]
#[case::start_next_null(Op::StartNext, "null", Invalid("body"))]
#[case::start_next_lone_surrogate(
    Op::StartNext,
    r#"{"statusDetails":{"k":"\ud800"}}"#,
    Invalid("body")
)]
#[case::update_empty(Op::Update, "", Invalid("status"))]
#[case::update_whitespace(Op::Update, " \n", Invalid("status"))]
#[case::update_unknown_member(Op::Update, r#"{"status":"IN_PROGRESS","foo":1}"#, Accepted)]
#[case::update_path_member(Op::Update, r#"{"status":"IN_PROGRESS","jobId":"other"}"#, Accepted)]
#[case::update_malformed(Op::Update, r#"{"status":"IN_PROGRESS""#, Invalid("body"))]
#[case::update_array(Op::Update, r#"[{"status":"IN_PROGRESS"}]"#, Invalid("body"))]
#[case::update_string(Op::Update, r#""IN_PROGRESS""#, Invalid("body"))]
#[case::update_null(Op::Update, "null", Invalid("body"))]
#[case::update_expected_version_below_long_min(
    Op::Update,
    format!(
        r#"{{"status":"IN_PROGRESS","expectedVersion":{}}}"#,
        i128::from(minimum(LONG)) - 1
    ),
    Invalid("expectedVersion")
)]
#[tokio::test]
async fn raw_body(#[case] op: Op, #[case] raw: String, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let body = fixture
        .check(&Request::new(op).raw_body(&raw), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(op, &body).await;
    }
}
