//! Tests of reading answers as the SDKs do, and of the response-schema attribution.

use super::*;
use serde_json::json;

fn response(header: Option<&str>) -> WireResponse {
    WireResponse {
        status: 400,
        headers: header
            .map(|h| vec![("x-amzn-errortype".to_string(), h.to_string())])
            .unwrap_or_default(),
        body: String::new(),
        truncated: false,
    }
}

#[test]
fn the_header_wins_and_is_sanitised() {
    let body = json!({"__type": "InvalidRequestException"});
    let r = response(Some(
        "InvalidStateTransitionException:http://internal.amazon.com/",
    ));
    assert_eq!(
        sdk_error_type(&r, Some(&body)).as_deref(),
        Some("InvalidStateTransitionException")
    );
}

#[test]
fn then_code_then_type_with_namespace_dropped() {
    let r = response(None);
    assert_eq!(
        sdk_error_type(&r, Some(&json!({"code": "A", "__type": "B"}))).as_deref(),
        Some("A")
    );
    assert_eq!(
        sdk_error_type(
            &r,
            Some(&json!({"__type": "com.amazonaws.iot#InvalidRequestException"}))
        )
        .as_deref(),
        Some("InvalidRequestException")
    );
    assert_eq!(sdk_error_type(&r, Some(&json!({"message": "x"}))), None);
}

fn start_next_with(details: Value) -> Value {
    json!({
        "execution": {
            "jobId": "j", "thingName": "t", "status": "IN_PROGRESS",
            "statusDetails": details,
            "queuedAt": 1_700_000_000, "startedAt": 1_700_000_001,
            "lastUpdatedAt": 1_700_000_001, "versionNumber": 2, "executionNumber": 1
        }
    })
}

// A response-schema violation that is a §7 item is reported under that item; one inside
// statusDetails is left to the input checks and the state model; anything else is a
// malformed answer.
#[rstest::rstest]
#[case::conforming(json!({ "k": "v" }), &[(req::SN_SHAPE, true)])]
#[case::a_long_value(json!({ "k": "v".repeat(1025) }), &[(req::SN_DETAILS_VALUE_MAX, false), (req::SN_SHAPE, true)])]
#[case::a_bad_key(json!({ "bad key": "v" }), &[(req::SN_SHAPE, true)])]
#[case::an_empty_value(json!({ "k": "" }), &[(req::SN_SHAPE, true)])]
#[case::not_a_map(json!("k=v"), &[(req::SN_SHAPE, false)])]
fn a_schema_violation_is_blamed_once_on_its_cause(
    #[case] details: Value,
    #[case] expected: &[(RequirementId, bool)],
) {
    let body = start_next_with(details);
    let found = shape(
        Operation::StartNextPendingJobExecution,
        Binding::Http,
        &body,
        Some(1),
    );
    let got: Vec<(RequirementId, bool)> = found.iter().map(|f| (f.requirement, f.passed)).collect();
    assert_eq!(got, expected, "{found:#?}");
}

// A member AWS returns but the model leaves optional, left out of an execution (or a pending
// list's summary), is a WI-MEMBERS warning and not a malformed answer; a member of the wrong
// type, or a malformed envelope, still is.
#[rstest::rstest]
#[case::thing_left_out(Operation::StartNextPendingJobExecution, Binding::Mqtt, "/execution/thingName", None, &[(req::WI_MEMBERS, false), (req::SN_SHAPE, true)])]
#[case::two_left_out(Operation::DescribeJobExecution, Binding::Http, "/execution/status", Some("/execution/versionNumber"), &[(req::WI_MEMBERS, false), (req::WI_SCHEMA, true)])]
#[case::wrong_type_is_malformed(Operation::StartNextPendingJobExecution, Binding::Http, "", None, &[(req::SN_SHAPE, false)])]
#[case::nothing_left_out(Operation::StartNextPendingJobExecution, Binding::Http, "/none", None, &[(req::SN_SHAPE, true)])]
fn a_member_left_out_of_an_execution_is_a_warning(
    #[case] operation: Operation,
    #[case] binding: Binding,
    #[case] remove: &str,
    #[case] also: Option<&str>,
    #[case] expected: &[(RequirementId, bool)],
) {
    let mut body = start_next_with(json!({ "k": "v" }));
    if binding == Binding::Mqtt {
        body["timestamp"] = json!(1_700_000_002);
    }
    for path in [Some(remove), also].into_iter().flatten() {
        if let Some((parent, member)) = path.rsplit_once('/')
            && let Some(object) = body.pointer_mut(parent).and_then(Value::as_object_mut)
        {
            object.remove(member);
        }
    }
    if remove.is_empty() {
        body["execution"]["versionNumber"] = json!("2");
    }
    let found = shape(operation, binding, &body, Some(1));
    let got: Vec<(RequirementId, bool)> = found.iter().map(|f| (f.requirement, f.passed)).collect();
    assert_eq!(got, expected, "{found:#?}");
}

#[test]
fn a_long_value_in_any_answer_is_a_seventh_item_not_a_malformed_answer() {
    let body = json!({ "execution": start_next_with(json!({ "k": "v".repeat(1025) }))["execution"].clone() });
    let found = shape(Operation::DescribeJobExecution, Binding::Http, &body, None);
    let failed: Vec<RequirementId> = found
        .iter()
        .filter(|f| !f.passed)
        .map(|f| f.requirement)
        .collect();
    assert_eq!(failed, [req::SN_DETAILS_VALUE_MAX], "{found:#?}");
}

// A read after a request names the §7 item of the request that stored the value.
#[rstest::rstest]
#[case::after_an_update(Operation::UpdateJobExecution, req::UP_DETAILS_VALUE_MAX)]
#[case::after_a_start(Operation::StartNextPendingJobExecution, req::SN_DETAILS_VALUE_MAX)]
#[case::after_a_read(Operation::GetPendingJobExecutions, req::SN_DETAILS_VALUE_MAX)]
fn a_read_back_names_the_item_of_the_request_that_stored_it(
    #[case] stored: Operation,
    #[case] expected: RequirementId,
) {
    let body = json!({ "execution": start_next_with(json!({ "k": "v".repeat(1025) }))["execution"].clone() });
    let mut found = shape(Operation::DescribeJobExecution, Binding::Http, &body, None);
    stored_by(&mut found, stored);
    let failed: Vec<RequirementId> = found
        .iter()
        .filter(|f| !f.passed)
        .map(|f| f.requirement)
        .collect();
    assert_eq!(failed, [expected], "{found:#?}");
}

// No answer on a topic's /rejected is a missing answer, unless the topic names no operation:
// where InvalidTopic is delivered is open (§7.15).
#[rstest::rstest]
#[case::an_operation("$aws/things/t/jobs/j/get", req::WI_ANSWER)]
#[case::start_next("$aws/things/t/jobs/start-next", req::WI_ANSWER)]
#[case::no_operation("$aws/things/t/jobs/j/frobnicate", req::MQ_INVALID_TOPIC_REPLY)]
fn an_unanswered_topic_that_names_no_operation_is_the_seventh_item(
    #[case] topic: &str,
    #[case] requirement: RequirementId,
) {
    use crate::transport::{Label, WireRequest};
    let label = Label {
        seq: 3,
        context: "c",
        operation: "DescribeJobExecution",
    };
    let request = WireRequest::publish("mqtt://h".into(), topic.into(), Some("{}".into()));
    let timeout = Outcome::Timeout { deadline_ms: 500 };
    let exchange = Exchange::new(label, request, timeout, 0, 0);
    let (answer, findings) = read(
        &exchange,
        Operation::DescribeJobExecution,
        Binding::Mqtt,
        Profile::Aws,
    );
    assert!(matches!(answer, Answer::Unanswered));
    let failed: Vec<RequirementId> = findings
        .iter()
        .filter(|f| !f.passed)
        .map(|f| f.requirement)
        .collect();
    assert_eq!(failed, [requirement], "{findings:#?}");
}

// The rejection of a topic that names no operation, when it comes, is judged on where it came.
#[rstest::rstest]
#[case::on_its_rejected("/rejected", true)]
#[case::on_its_accepted("/accepted", false)]
fn where_the_reply_to_a_topic_naming_no_operation_came_is_judged(
    #[case] suffix: &str,
    #[case] passed: bool,
) {
    use crate::transport::{Label, WireRequest};
    let topic = "$aws/things/t/jobs/j/frobnicate";
    let label = Label {
        seq: 3,
        context: "c",
        operation: "DescribeJobExecution",
    };
    let request = WireRequest::publish("mqtt://h".into(), topic.into(), Some("{}".into()));
    let reply = WireResponse {
        status: 0,
        headers: vec![("topic".into(), format!("{topic}{suffix}"))],
        body: r#"{"code":"InvalidTopic","message":"no operation","timestamp":1}"#.into(),
        truncated: false,
    };
    let exchange = Exchange::new(label, request, Outcome::Answered(reply), 0, 0);
    let (_, findings) = read(
        &exchange,
        Operation::DescribeJobExecution,
        Binding::Mqtt,
        Profile::Aws,
    );
    let judged: Vec<bool> = findings
        .iter()
        .filter(|f| f.requirement == req::MQ_INVALID_TOPIC_REPLY)
        .map(|f| f.passed)
        .collect();
    assert_eq!(judged, [passed], "{findings:#?}");
}
