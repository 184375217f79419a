//! The hand-written schemas of `schemas/` against the official service model in
//! `schemas/model/`: same members, same wire locations, same limits and patterns, same error
//! statuses. Where the schemas knowingly differ (spec §7), the difference is listed here.

use std::collections::BTreeSet;

use jobcert_contract::{file, schemas};
use rstest::rstest;
use serde_json::Value;

fn model() -> Value {
    serde_json::from_str(file("model/iot-jobs-data.service-2.json").expect("model embedded"))
        .expect("model JSON")
}

fn common(def: &str) -> Value {
    let common: Value =
        serde_json::from_str(file("common.json").expect("common.json")).expect("JSON");
    common["$defs"][def].clone()
}

/// The inside of a pattern, without anchors or a non-capturing group around it.
fn pattern_core(p: &str) -> String {
    let p = p.replace('^', "");
    let p = p.strip_suffix('$').unwrap_or(&p);
    let p = p
        .strip_prefix("(?:")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or(p);
    p.to_string()
}

#[test]
fn every_schema_compiles() {
    jobcert_contract::SchemaSet::load().expect("all schemas compile");
}

#[rstest]
#[case("ThingName", "ThingName", None)]
#[case("JobId", "JobId", None)]
#[case("DescribeJobExecutionJobId", "DescribeJobId", None)]
#[case("DetailsKey", "DetailsKey", None)]
// Spec §7.20: the documented 1,024-character maximum, dropped from the model in botocore 1.36.
#[case("DetailsValue", "DetailsValue", Some(1024))]
#[case("JobDocument", "JobDocumentText", None)]
fn string_limits_match_the_model(
    #[case] shape: &str,
    #[case] def: &str,
    #[case] documented_max: Option<u64>,
) {
    let m = &model()["shapes"][shape];
    let s = common(def);
    assert_eq!(
        s["minLength"].as_u64(),
        m["min"].as_u64(),
        "{def} minLength"
    );
    assert_eq!(
        s["maxLength"].as_u64(),
        m["max"].as_u64().or(documented_max),
        "{def} maxLength"
    );
    if let Some(p) = m["pattern"].as_str() {
        let schema_pattern = s["pattern"].as_str().expect("schema pattern");
        assert!(
            schema_pattern.starts_with('^') && schema_pattern.ends_with('$'),
            "{def} is anchored"
        );
        assert_eq!(
            pattern_core(schema_pattern),
            pattern_core(p),
            "{def} pattern"
        );
    }
}

#[test]
fn status_enum_matches_the_model() {
    let m: BTreeSet<String> =
        serde_json::from_value(model()["shapes"]["JobExecutionStatus"]["enum"].clone())
            .expect("enum");
    let s: BTreeSet<String> =
        serde_json::from_value(common("JobExecutionStatus")["enum"].clone()).expect("enum");
    assert_eq!(s, m);
    let facts: Value =
        serde_json::from_str(file("execution-model.json").expect("execution model")).expect("JSON");
    let listed: BTreeSet<String> = facts["statuses"]
        .as_object()
        .expect("statuses")
        .keys()
        .cloned()
        .collect();
    assert_eq!(listed, m);
}

#[test]
fn data_plane_error_statuses_match_the_model() {
    let model = model();
    let table: Value =
        serde_json::from_str(file("errors.json").expect("errors.json")).expect("JSON");
    let ops = [
        "StartNextPendingJobExecution",
        "UpdateJobExecution",
        "DescribeJobExecution",
        "GetPendingJobExecutions",
    ];
    for op in ops {
        for e in model["operations"][op]["errors"]
            .as_array()
            .expect("errors")
        {
            let name = e["shape"].as_str().expect("shape");
            let status = model["shapes"][name]["error"]["httpStatusCode"].as_u64();
            assert_eq!(
                table["dataPlane"][name]["httpStatus"].as_u64(),
                status,
                "{op}: {name}"
            );
        }
    }
}

#[rstest]
#[case(
    "StartNextPendingJobExecution",
    "http/start-next-pending-job-execution"
)]
#[case("UpdateJobExecution", "http/update-job-execution")]
#[case("DescribeJobExecution", "http/describe-job-execution")]
#[case("GetPendingJobExecutions", "http/get-pending-job-executions")]
fn operation_members_and_locations_match_the_model(#[case] op: &str, #[case] schema: &str) {
    let model = model();
    let shapes = &model["shapes"];
    let input = &shapes[model["operations"][op]["input"]["shape"]
        .as_str()
        .expect("input")];
    let request = schemas()
        .get(&format!("{schema}.request.json"))
        .expect("request schema");
    let declared: BTreeSet<&str> = request.document()["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected: BTreeSet<&str> = input["members"]
        .as_object()
        .expect("members")
        .keys()
        .map(String::as_str)
        .collect();
    // Spec §7.2: namespaceId is accepted on the data plane although no model version has it.
    expected.insert("namespaceId");
    assert_eq!(declared, expected, "{op} members");
    for (name, member) in input["members"].as_object().expect("members") {
        assert_eq!(
            request.location(name),
            member["location"].as_str(),
            "{op}.{name} location"
        );
    }
    let required: BTreeSet<&str> = request.document()["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let model_required: BTreeSet<&str> = input["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, model_required, "{op} required");

    let output = &shapes[model["operations"][op]["output"]["shape"]
        .as_str()
        .expect("output")];
    let response: Value =
        serde_json::from_str(file(&format!("{schema}.response.json")).expect("response schema"))
            .expect("JSON");
    let declared: BTreeSet<&str> = response["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = output["members"]
        .as_object()
        .expect("members")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(declared, expected, "{op} response members");
}

#[rstest]
#[case("JobExecution")]
#[case("JobExecutionState")]
#[case("JobExecutionSummary")]
fn response_shapes_match_the_model(#[case] shape: &str) {
    let model = model();
    let shapes: Value =
        serde_json::from_str(file("http/shapes.json").expect("shapes")).expect("JSON");
    let declared: BTreeSet<&str> = shapes["$defs"][shape]["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = model["shapes"][shape]["members"]
        .as_object()
        .expect("members")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(declared, expected, "{shape}");
}
