//! Negative and boundary cases generated from the request schemas: every length limit at
//! min-1, min, max and max+1, every forbidden character class, wrong types, malformed bodies.
//! Each invalid input must be refused with InvalidRequestException and change nothing; each
//! valid boundary value must not be refused as invalid. The limits come from `schemas/` alone.

use serde_json::{Map, Value, json};

use super::{Action, Expectation, JobFixture, PlannedCase, Step};
use jobcert_contract::{Binding, Operation, SchemaError, execution_model, req};

mod schema;
mod variants;

use schema::{resolve, text};
use variants::{
    Variant, integer_variants, invalid, number_label, requirements, string_variants, type_variants,
    version_variants,
};

/// The fixtures and prelude each operation's cases start from, and its base input.
fn base(op: Operation, step_max: i64) -> (Vec<Step>, Map<String, Value>) {
    let input = |v: Value| v.as_object().cloned().unwrap_or_default();
    match op {
        Operation::StartNextPendingJobExecution => (Vec::new(), input(json!({ "thing": "dev" }))),
        Operation::UpdateJobExecution => (
            vec![Step::call(
                Operation::StartNextPendingJobExecution,
                input(json!({ "thing": "dev", "stepTimeoutInMinutes": step_max })),
            )],
            input(json!({ "thing": "dev", "job": "a", "status": "IN_PROGRESS" })),
        ),
        Operation::DescribeJobExecution => {
            (Vec::new(), input(json!({ "thing": "dev", "job": "a" })))
        }
        Operation::GetPendingJobExecutions => (Vec::new(), input(json!({ "thing": "dev" }))),
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn variants(op: Operation, binding: Binding) -> Result<(Vec<Variant>, i64), SchemaError> {
    let schema = op.request_schema_for(binding)?;
    let doc = schema.document();
    let from = schema.path();
    let reqs = requirements(op);
    let mut out = Vec::new();
    let mut step_max = 1;
    let props = doc["properties"].as_object().cloned().unwrap_or_default();
    for (name, prop) in &props {
        let (p, home) = resolve(from, prop);
        let location = schema.location(name).map(str::to_string);
        // How a service answers a malformed name inside an MQTT topic is not documented.
        if location.as_deref() == Some("topic") {
            continue;
        }
        match name.as_str() {
            "thingName" | "jobId" => {
                let logical = if name == "thingName" { "thing" } else { "job" };
                let member = name.clone();
                let put = move |m: &mut Map<String, Value>, v: String| {
                    m.remove(logical);
                    m.insert(member.clone(), Value::String(v));
                };
                let requirement = if name == "thingName" {
                    reqs.thing
                } else {
                    reqs.input
                };
                out.extend(string_variants(
                    name,
                    text(&p),
                    requirement,
                    requirement,
                    location.is_some(),
                    put,
                ));
            }
            "namespaceId" => {
                out.push(Variant {
                    label: "namespaceId accepted".into(),
                    requirement: if op == Operation::StartNextPendingJobExecution {
                        req::SN_NAMESPACE
                    } else {
                        reqs.input
                    },
                    mutate: Box::new(|m| {
                        m.insert("namespaceId".into(), json!("ns_1-a"));
                    }),
                    raw_body: None,
                    valid: true,
                    error: "InvalidRequestException",
                });
            }
            "statusDetails" => {
                out.extend(type_variants(name, "object", reqs.details_key));
                let (key, _) = resolve(&home, &p["propertyNames"]);
                let (value, _) = resolve(&home, &p["additionalProperties"]);
                out.extend(string_variants(
                    "statusDetails key",
                    text(&key),
                    reqs.details_key,
                    reqs.details_key,
                    false,
                    |m, k| {
                        m.insert("statusDetails".into(), json!({ k: "v" }));
                    },
                ));
                out.extend(string_variants(
                    "statusDetails value",
                    text(&value),
                    reqs.details_value,
                    reqs.details_value_max,
                    false,
                    |m, v| {
                        m.insert("statusDetails".into(), json!({ "k": v }));
                    },
                ));
                out.push(invalid(
                    "statusDetails value as a number".into(),
                    reqs.details_value,
                    |m| {
                        m.insert("statusDetails".into(), json!({ "k": 5 }));
                    },
                ));
            }
            "stepTimeoutInMinutes" => {
                let resolved = match p.get("anyOf").and_then(Value::as_array) {
                    Some(list) => {
                        json!({ "anyOf": list.iter().map(|b| resolve(&home, b).0).collect::<Vec<_>>() })
                    }
                    None => p.clone(),
                };
                step_max = resolved["maximum"]
                    .as_i64()
                    .or_else(|| {
                        resolved["anyOf"]
                            .as_array()
                            .and_then(|l| l.iter().find_map(|b| b["maximum"].as_i64()))
                    })
                    .unwrap_or(step_max);
                let requirement = if op == Operation::StartNextPendingJobExecution {
                    req::SN_STEP_RANGE
                } else {
                    reqs.input
                };
                let mut ints = integer_variants(name, &resolved, requirement);
                if op == Operation::StartNextPendingJobExecution {
                    let cancel = number_label(name, execution_model().timers.cancel_step_timeout);
                    for v in ints.iter_mut().filter(|v| v.label == cancel) {
                        v.requirement = req::SN_STEP_MINUS_ONE;
                    }
                }
                out.extend(ints);
                out.extend(type_variants(name, "integer", requirement));
            }
            "expectedVersion" => {
                // The Update prelude starts the execution: one version on from the first.
                let stored = execution_model().initial_version_number + 1;
                out.extend(version_variants(
                    name,
                    stored,
                    req::UP_EXPECTED_VERSION_INTEGER,
                ));
            }
            "status" => {
                out.extend(type_variants(name, "enum", reqs.input));
                out.push(invalid("status in lower case".into(), reqs.input, |m| {
                    m.insert("status".into(), json!("succeeded"));
                }));
                out.push(invalid("status missing".into(), reqs.input, |m| {
                    m.remove("status");
                }));
            }
            _ => {
                let kind = p["type"].as_str().unwrap_or_default();
                if location.as_deref() == Some("querystring") {
                    let n = name.clone();
                    out.push(invalid(
                        format!("{name} as a word in the query"),
                        reqs.input,
                        move |m| {
                            m.insert(n.clone(), json!("maybe"));
                        },
                    ));
                } else {
                    out.extend(type_variants(name, kind, reqs.input));
                }
            }
        }
    }
    let bodies: &[(&str, &str)] = match binding {
        Binding::Http => &[
            ("malformed JSON", "{\"statusDetails\": "),
            ("a JSON array", "[]"),
            ("a JSON string", "\"x\""),
            ("a JSON number", "5"),
        ],
        // Over MQTT only a payload that is no JSON at all has a documented code.
        Binding::Mqtt => &[("malformed JSON", "{\"statusDetails\": ")],
    };
    let has_body = binding == Binding::Mqtt
        || matches!(
            op,
            Operation::StartNextPendingJobExecution | Operation::UpdateJobExecution
        );
    if has_body {
        for (label, body) in bodies {
            let (requirement, error) = match binding {
                Binding::Http => (reqs.body, "InvalidRequestException"),
                Binding::Mqtt => (req::MQ_INVALID_JSON, "InvalidJson"),
            };
            out.push(Variant {
                label: format!("body is {label}"),
                requirement,
                mutate: Box::new(|_| {}),
                raw_body: Some(body.to_string()),
                valid: false,
                error,
            });
        }
    }
    if op == Operation::UpdateJobExecution {
        out.push(Variant {
            label: "body is empty".into(),
            requirement: reqs.body,
            mutate: Box::new(|_| {}),
            raw_body: Some(String::new()),
            valid: false,
            error: "InvalidRequestException",
        });
    }
    Ok((out, step_max))
}

/// The input with the logical `thing` and `job` replaced by valid names, for schema checks.
fn as_sent(input: &Map<String, Value>) -> Map<String, Value> {
    let mut sent = input.clone();
    if sent.remove("thing").is_some() {
        sent.insert("thingName".into(), json!("dev"));
    }
    if sent.remove("job").is_some() {
        sent.insert("jobId".into(), json!("a"));
    }
    sent
}

fn op_slug(op: Operation) -> &'static str {
    match op {
        Operation::StartNextPendingJobExecution => "start-next",
        Operation::UpdateJobExecution => "update",
        Operation::DescribeJobExecution => "describe",
        Operation::GetPendingJobExecutions => "get-pending",
    }
}

/// Every generated case of the four operations in `binding`.
pub fn negative_cases(binding: Binding) -> Result<Vec<PlannedCase>, SchemaError> {
    let mut cases = Vec::new();
    for op in Operation::ALL {
        let (variants, step_max) = variants(op, binding)?;
        let (prelude, input) = base(op, step_max);
        let schema = op.request_schema_for(binding)?;
        for v in variants {
            let mut mutated = input.clone();
            (v.mutate)(&mut mutated);
            // A probe is a case only where the schema agrees: a character the pattern allows is
            // no negative case, and a value it refuses no valid boundary.
            if v.raw_body.is_none()
                && schema
                    .violations(&Value::Object(as_sent(&mutated)))
                    .is_empty()
                    != v.valid
            {
                continue;
            }
            let expect = if v.valid {
                Expectation {
                    not_error: Some("InvalidRequestException".into()),
                    requirement: Some(v.requirement),
                    ..Expectation::default()
                }
            } else {
                Expectation {
                    error: Some(v.error.into()),
                    state_unchanged: true,
                    requirement: Some(v.requirement),
                    ..Expectation::default()
                }
            };
            let mut steps = prelude.clone();
            steps.push(Step {
                action: Action::Call {
                    operation: op,
                    input: mutated,
                },
                raw_body: v.raw_body.clone(),
                expect,
                ..Step::call(op, Map::new())
            });
            let name = format!("{}/{}", op_slug(op), slug(&v.label));
            cases.push(PlannedCase {
                id: format!("generated/{name}"),
                suite: "generated".into(),
                name,
                description: Some(format!(
                    "{}: {} {}",
                    op.name(),
                    v.label,
                    if v.valid {
                        "is accepted as valid"
                    } else {
                        "is refused with InvalidRequestException and changes nothing"
                    }
                )),
                source: None,
                bindings: vec![binding],
                requirements: vec![v.requirement],
                tags: vec![
                    "generated".into(),
                    if v.valid {
                        "boundary".into()
                    } else {
                        "negative".into()
                    },
                ],
                things: vec!["dev".into()],
                absent_things: Vec::new(),
                jobs: vec![JobFixture {
                    id: "a".into(),
                    targets: vec!["dev".into()],
                    document: "{\"generated\":true}".into(),
                    in_progress_timeout_minutes: None,
                    retry: Vec::new(),
                }],
                steps,
            });
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_schemas() {
        let cases = negative_cases(Binding::Http).unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.contains(&"start-next/thingname-of-129-characters"),
            "{names:?}"
        );
        assert!(
            names.contains(&"start-next/steptimeoutinminutes-10081"),
            "{names:?}"
        );
        assert!(
            names.contains(&"update/steptimeoutinminutes-minus-1"),
            "the cancel value is a valid Update boundary"
        );
        assert!(names.contains(&"start-next/steptimeoutinminutes-minus-1"));
        assert!(names.contains(&"start-next/statusdetails-value-of-1025-characters"));
        assert!(
            !names.iter().any(|n| n.starts_with("describe/jobid-of-")),
            "Describe's jobId has no length limit in the model"
        );
    }

    /// A target that truncates a fractional expectedVersion, or parses a numeric string, must
    /// find it equal to the stored version, so that only its leniency can refuse it.
    #[test]
    fn wrong_expected_versions_would_match_the_stored_one() {
        let stored = execution_model().initial_version_number + 1;
        for (binding, name, lenient) in [
            (Binding::Http, "update/expectedversion-as-a-fraction", true),
            (
                Binding::Http,
                "update/expectedversion-as-a-numeric-string",
                true,
            ),
            (Binding::Mqtt, "update/expectedversion-as-a-fraction", true),
            (
                Binding::Mqtt,
                "update/expectedversion-as-a-numeric-string",
                false,
            ),
        ] {
            let cases = negative_cases(binding).unwrap();
            let case = cases.iter().find(|c| c.name == name);
            assert_eq!(case.is_some(), lenient, "{binding:?} {name}");
            let Some(case) = case else { continue };
            let starts = case
                .steps
                .iter()
                .filter(|s| {
                    matches!(
                        s.action,
                        Action::Call {
                            operation: Operation::StartNextPendingJobExecution,
                            ..
                        }
                    )
                })
                .count();
            assert_eq!(starts, 1, "{name}: the prelude starts the execution once");
            let Some(Action::Call { input, .. }) = case.steps.last().map(|s| &s.action) else {
                panic!("{name} ends with a call");
            };
            let sent = &input["expectedVersion"];
            let read = sent
                .as_f64()
                .map(|v| v.trunc() as i64)
                .or_else(|| sent.as_str().and_then(|s| s.parse().ok()));
            assert_eq!(read, Some(stored), "{binding:?} {name}: {sent}");
            assert_ne!(
                sent,
                &json!(stored),
                "{name} is not the valid version itself"
            );
        }
    }

    #[test]
    fn ids_are_unique() {
        let cases = negative_cases(Binding::Http).unwrap();
        let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        let dupes: Vec<&&str> = ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| &w[0])
            .collect();
        assert!(dupes.is_empty(), "{dupes:?}");
    }
}
