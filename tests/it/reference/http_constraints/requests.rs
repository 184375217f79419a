//! The shapes behind the tables, the path labels and the query strings.

use super::*;

// ---------------------------------------------------------------------------------------------
// The shapes behind the tables.

/// Each member tested below takes its constraint from the `common.json` shape its table reads.
#[rstest]
#[case::start_next_thing_name("start-next-pending-job-execution", "thingName", THING_NAME)]
#[case::update_thing_name("update-job-execution", "thingName", THING_NAME)]
#[case::describe_thing_name("describe-job-execution", "thingName", THING_NAME)]
#[case::get_pending_thing_name("get-pending-job-executions", "thingName", THING_NAME)]
#[case::update_job_id("update-job-execution", "jobId", JOB_ID)]
#[case::describe_job_id("describe-job-execution", "jobId", DESCRIBE_JOB_ID)]
#[case::start_next_details("start-next-pending-job-execution", "statusDetails", "DetailsMap")]
#[case::update_details("update-job-execution", "statusDetails", "DetailsMap")]
#[case::start_next_step_timeout(
    "start-next-pending-job-execution",
    "stepTimeoutInMinutes",
    STEP_TIMEOUT
)]
#[case::update_step_timeout(
    "update-job-execution",
    "stepTimeoutInMinutes",
    "UpdateStepTimeoutInMinutes"
)]
#[case::update_status("update-job-execution", "status", "JobExecutionStatus")]
#[case::update_expected_version("update-job-execution", "expectedVersion", LONG)]
#[case::update_execution_number("update-job-execution", "executionNumber", LONG)]
#[case::describe_execution_number("describe-job-execution", "executionNumber", LONG)]
#[case::start_next_namespace("start-next-pending-job-execution", "namespaceId", "NamespaceId")]
#[case::update_namespace("update-job-execution", "namespaceId", "NamespaceId")]
#[case::describe_namespace("describe-job-execution", "namespaceId", "NamespaceId")]
#[case::get_pending_namespace("get-pending-job-executions", "namespaceId", "NamespaceId")]
fn member_shape(#[case] operation: &str, #[case] member: &str, #[case] shape_name: &str) {
    let path = format!("http/{operation}.request.json");
    let schema = schemas().get(&path).expect("request schema is compiled");
    let reference = &schema.document()["properties"][member]["$ref"];
    assert_eq!(
        reference,
        &format!("../common.json#/$defs/{shape_name}"),
        "{path} {member}"
    );
}

/// statusDetails keys and values, and Update's cancel value, come from the shapes the tables
/// read.
#[test]
fn composite_shapes() {
    let map = shape("DetailsMap");
    assert_eq!(
        map["propertyNames"]["$ref"],
        format!("#/$defs/{DETAILS_KEY}")
    );
    assert_eq!(
        map["additionalProperties"]["$ref"],
        format!("#/$defs/{DETAILS_VALUE}")
    );
    let update = shape("UpdateStepTimeoutInMinutes")["anyOf"]
        .as_array()
        .expect("anyOf");
    assert!(update.contains(&json!({ "$ref": format!("#/$defs/{STEP_TIMEOUT}") })));
    assert!(update.iter().any(|s| s["const"] == cancel_step_timeout()));
}

// ---------------------------------------------------------------------------------------------
// Path labels.

/// thingName on all four operations. `wire` is the label as sent; a valid name is created first.
#[rstest]
#[case::one_char("a", Accepted)]
#[case::max_length(text(max_len(THING_NAME)), Accepted)]
#[case::max_length_all_encoded(encode(&":".repeat(max_len(THING_NAME))), Accepted)]
#[case::colon_encoded("a%3Ab", Accepted)]
#[case::colon_literal("a:b", Accepted)]
#[case::underscore_and_hyphen("a_b-c", Accepted)]
#[case::empty("", Invalid("thingName"))]
#[case::over_max_length(text(max_len(THING_NAME) + 1), Invalid("thingName"))]
#[case::space("a%20b", Invalid("thingName"))]
#[case::slash_encoded("a%2Fb", Invalid("thingName"))]
#[case::plus("a+b", Invalid("thingName"))]
#[case::hash_encoded("a%23b", Invalid("thingName"))]
#[case::dollar("a$b", Invalid("thingName"))]
#[case::dot("a.b", Invalid("thingName"))]
#[case::non_ascii_letter(encode("aé"), Invalid("thingName"))]
#[case::nul("a%00b", Invalid("thingName"))]
#[case::trailing_newline("ab%0A", Invalid("thingName"))]
#[tokio::test]
async fn thing_name(
    #[case] wire: String,
    #[case] expect: Expect,
    #[values(Op::StartNext, Op::Update, Op::Describe, Op::GetPending)] op: Op,
) {
    let fixture = match expect {
        Accepted => Fixture::with(&decode(&wire), JOB).await,
        _ => Fixture::new().await,
    };
    let body = fixture.check(&Request::new(op).thing(&wire), expect).await;
    if expect == Accepted {
        fixture.assert_served(op, &body).await;
    }
}

/// jobId of UpdateJobExecution (a JobId: `$next` is not one). A valid id is created first.
#[rstest]
#[case::one_char("j", Accepted)]
#[case::max_length(text(max_len(JOB_ID)), Accepted)]
#[case::underscore_and_hyphen("a_b-c", Accepted)]
#[case::empty("", Invalid("jobId"))]
#[case::over_max_length(text(max_len(JOB_ID) + 1), Invalid("jobId"))]
#[case::next_literal("$next", Invalid("jobId"))]
#[case::next_encoded("%24next", Invalid("jobId"))]
#[case::space("a%20b", Invalid("jobId"))]
#[case::dot("a.b", Invalid("jobId"))]
#[case::colon("a%3Ab", Invalid("jobId"))]
#[case::non_ascii_letter(encode("aé"), Invalid("jobId"))]
#[tokio::test]
async fn update_job_id(#[case] wire: String, #[case] expect: Expect) {
    let fixture = match expect {
        Accepted => Fixture::with(THING, &decode(&wire)).await,
        _ => Fixture::new().await,
    };
    let body = fixture
        .check(&Request::new(Op::Update).job(&wire), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(Op::Update, &body).await;
    }
}

/// jobId of DescribeJobExecution: a job id without length limit, or `$next` (literal or encoded).
/// A valid id other than `$next` is created first when it fits CreateJob's JobId.
#[rstest]
#[case::next_literal(NEXT_EXECUTION.to_string(), Accepted)]
#[case::next_encoded(encode(NEXT_EXECUTION), Accepted)]
#[case::one_char("j", Accepted)]
#[case::job_id_max_length(text(max_len(JOB_ID)), Accepted)]
#[case::beyond_job_id_max_length(text(max_len(JOB_ID) + 1), NotFound)]
#[case::empty("", Invalid("jobId"))]
#[case::next_with_suffix("$nextx", Invalid("jobId"))]
#[case::next_with_prefix("x$next", Invalid("jobId"))]
#[case::next_upper_case("$NEXT", Invalid("jobId"))]
#[case::space("a%20b", Invalid("jobId"))]
#[case::dot("a.b", Invalid("jobId"))]
#[case::colon("a%3Ab", Invalid("jobId"))]
#[case::non_ascii_letter(encode("aé"), Invalid("jobId"))]
#[tokio::test]
async fn describe_job_id(#[case] wire: String, #[case] expect: Expect) {
    assert!(
        shape(DESCRIBE_JOB_ID).get("maxLength").is_none(),
        "the contract now limits Describe's jobId; revisit beyond_job_id_max_length"
    );
    let id = decode(&wire);
    let fixture = match expect {
        Accepted if id != NEXT_EXECUTION => Fixture::with(THING, &id).await,
        _ => Fixture::new().await,
    };
    let body = fixture
        .check(&Request::new(Op::Describe).job(&wire), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(Op::Describe, &body).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings.

/// namespaceId, accepted (and ignored) by every operation that declares it.
#[rstest]
#[case::valid("ns_1-a", Accepted)]
#[case::empty("", Invalid("namespaceId"))]
#[case::space_encoded("bad%20ns", Invalid("namespaceId"))]
#[case::space_as_plus("bad+ns", Invalid("namespaceId"))]
#[case::dot("ns.x", Invalid("namespaceId"))]
#[case::colon("ns%3Ax", Invalid("namespaceId"))]
#[tokio::test]
async fn namespace_id(
    #[case] wire: &str,
    #[case] expect: Expect,
    #[values(Op::StartNext, Op::Update, Op::Describe, Op::GetPending)] op: Op,
) {
    let fixture = Fixture::new().await;
    let request = Request::new(op).query(&format!("namespaceId={wire}"));
    let body = fixture.check(&request, expect).await;
    if expect == Accepted {
        fixture.assert_served(op, &body).await;
    }
}

/// DescribeJobExecution's typed query members: includeJobDocument (boolean) and
/// executionNumber (long).
#[rstest]
#[case::include_document_true("includeJobDocument=true", Accepted)]
#[case::include_document_false("includeJobDocument=false", Accepted)]
#[case::include_document_word("includeJobDocument=maybe", Invalid("includeJobDocument"))]
#[case::include_document_capitalised("includeJobDocument=True", Invalid("includeJobDocument"))]
#[case::include_document_empty("includeJobDocument=", Invalid("includeJobDocument"))]
#[case::execution_number_one("executionNumber=1", Accepted)]
#[case::execution_number_long_max(format!("executionNumber={}", maximum(LONG)), NotFound)]
#[case::execution_number_beyond_long_max(
    format!("executionNumber={}", i128::from(maximum(LONG)) + 1),
    Invalid("executionNumber")
)]
#[case::execution_number_long_min(format!("executionNumber={}", minimum(LONG)), NotFound)]
#[case::execution_number_below_long_min(
    format!("executionNumber={}", i128::from(minimum(LONG)) - 1),
    Invalid("executionNumber")
)]
#[case::execution_number_word("executionNumber=abc", Invalid("executionNumber"))]
#[case::execution_number_fraction("executionNumber=1.5", Invalid("executionNumber"))]
// A long in a query is decimal digits: `1.0` is refused, the default of WI-QUERY-WHOLE (README,
// "Behaviour where the documentation leaves room"), and so is an exponent.
#[case::execution_number_whole_float("executionNumber=1.0", Invalid("executionNumber"))]
#[case::execution_number_exponent("executionNumber=1e0", Invalid("executionNumber"))]
#[case::execution_number_empty("executionNumber=", Invalid("executionNumber"))]
#[tokio::test]
async fn describe_query(#[case] query: String, #[case] expect: Expect) {
    let fixture = Fixture::new().await;
    let body = fixture
        .check(&Request::new(Op::Describe).query(&query), expect)
        .await;
    if expect == Accepted {
        fixture.assert_served(Op::Describe, &body).await;
        let document = &body["execution"]["jobDocument"];
        assert_eq!(
            document.is_string(),
            query != "includeJobDocument=false",
            "{body}"
        );
        assert_eq!(body["execution"]["executionNumber"], 1, "{body}");
    }
}
