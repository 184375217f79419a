//! The inputs tried against one member: each length limit at min-1, min, max and max+1, each
//! character class, each wrong type, and each integer bound; each one valid or invalid as the
//! schema decides, with the requirement it checks.

use serde_json::{Map, Value, json};

use super::schema::Text;
use jobcert_contract::{Operation, RequirementId, execution_model, req};

/// Characters tried against every string pattern, by class. Whether one is forbidden is
/// decided by the schema, not here.
const PROBES: [(&str, char, bool); 14] = [
    // (label, character, whether it is tried in URI labels too)
    ("space", ' ', true),
    ("plus", '+', true),
    ("hash", '#', true),
    ("dollar", '$', true),
    ("dot", '.', true),
    ("percent", '%', true),
    ("non-ASCII letter", 'é', true),
    ("slash", '/', false),
    ("Cc NUL", '\u{0}', false),
    ("Cc newline", '\n', false),
    ("Cc DEL", '\u{7f}', false),
    ("Cf zero-width space", '\u{200b}', false),
    ("Co private use", '\u{e000}', false),
    ("Cn unassigned", '\u{378}', false),
];

/// A change to a base input.
pub(super) type Mutation = Box<dyn Fn(&mut Map<String, Value>)>;

/// One generated input: the change to the base input, what it should cause, and why.
pub(super) struct Variant {
    pub(super) label: String,
    pub(super) requirement: RequirementId,
    pub(super) mutate: Mutation,
    pub(super) raw_body: Option<String>,
    pub(super) valid: bool,
    /// The error an invalid variant must be refused with.
    pub(super) error: &'static str,
}

pub(super) fn invalid(
    label: String,
    requirement: RequirementId,
    mutate: impl Fn(&mut Map<String, Value>) + 'static,
) -> Variant {
    Variant {
        label,
        requirement,
        mutate: Box::new(mutate),
        raw_body: None,
        valid: false,
        error: "InvalidRequestException",
    }
}

fn valid(
    label: String,
    requirement: RequirementId,
    mutate: impl Fn(&mut Map<String, Value>) + 'static,
) -> Variant {
    Variant {
        valid: true,
        ..invalid(label, requirement, mutate)
    }
}

/// The requirements an operation's inputs are checked under.
pub(super) struct Requirements {
    pub(super) thing: RequirementId,
    pub(super) input: RequirementId,
    pub(super) details_key: RequirementId,
    pub(super) details_value: RequirementId,
    pub(super) details_value_max: RequirementId,
    pub(super) body: RequirementId,
}

pub(super) fn requirements(op: Operation) -> Requirements {
    match op {
        Operation::StartNextPendingJobExecution => Requirements {
            thing: req::SN_THING_NAME,
            input: req::SN_STEP_RANGE,
            details_key: req::SN_DETAILS_KEY,
            details_value: req::SN_DETAILS_VALUE,
            details_value_max: req::SN_DETAILS_VALUE_MAX,
            body: req::SN_BODY,
        },
        Operation::UpdateJobExecution => Requirements {
            thing: req::UP_INPUT,
            input: req::UP_INPUT,
            details_key: req::UP_INPUT,
            details_value: req::UP_INPUT,
            details_value_max: req::UP_DETAILS_VALUE_MAX,
            body: req::UP_INPUT,
        },
        Operation::DescribeJobExecution => Requirements {
            thing: req::DE_INPUT,
            input: req::DE_INPUT,
            details_key: req::DE_INPUT,
            details_value: req::DE_INPUT,
            details_value_max: req::DE_INPUT,
            body: req::DE_INPUT,
        },
        Operation::GetPendingJobExecutions => Requirements {
            thing: req::GP_INPUT,
            input: req::GP_INPUT,
            details_key: req::GP_INPUT,
            details_value: req::GP_INPUT,
            details_value_max: req::GP_INPUT,
            body: req::GP_INPUT,
        },
    }
}

fn repeat(c: char, n: u64) -> String {
    std::iter::repeat_n(c, n as usize).collect()
}

/// Variants of a string member `name` with constraint `t`, placed by `put`.
pub(super) fn string_variants(
    name: &str,
    t: Text,
    requirement: RequirementId,
    max_requirement: RequirementId,
    in_uri: bool,
    put: impl Fn(&mut Map<String, Value>, String) + Clone + 'static,
) -> Vec<Variant> {
    let mut out = Vec::new();
    let min = t.min.unwrap_or(0);
    if min > 0 {
        let p = put.clone();
        out.push(invalid(
            format!("{name} of {} characters", min - 1),
            requirement,
            move |m| p(m, repeat('a', min - 1)),
        ));
    }
    if let Some(max) = t.max {
        let p = put.clone();
        out.push(invalid(
            format!("{name} of {} characters", max + 1),
            max_requirement,
            move |m| p(m, repeat('a', max + 1)),
        ));
        let p = put.clone();
        out.push(valid(
            format!("{name} of {max} characters"),
            requirement,
            move |m| p(m, repeat('a', max)),
        ));
        if !in_uri {
            let p = put.clone();
            out.push(valid(
                format!("{name} of {max} two-byte characters"),
                requirement,
                move |m| p(m, repeat('é', max)),
            ));
        }
    }
    if min > 0 {
        let p = put.clone();
        out.push(valid(
            format!("{name} of {min} characters"),
            requirement,
            move |m| p(m, repeat('a', min)),
        ));
    }
    for (label, c, uri_too) in PROBES {
        if in_uri && !uri_too {
            continue;
        }
        let p = put.clone();
        out.push(invalid(
            format!("{name} with {label}"),
            requirement,
            move |m| p(m, format!("a{c}a")),
        ));
    }
    out
}

pub(super) fn number_label(name: &str, v: i64) -> String {
    if v < 0 {
        format!("{name} minus {}", v.unsigned_abs())
    } else {
        format!("{name} {v}")
    }
}

pub(super) fn integer_variants(
    name: &str,
    schema: &Value,
    requirement: RequirementId,
) -> Vec<Variant> {
    let mut out = Vec::new();
    let branches: Vec<Value> = match schema.get("anyOf").and_then(Value::as_array) {
        Some(list) => list.clone(),
        None => vec![schema.clone()],
    };
    let mut valid_values: Vec<i64> = Vec::new();
    for branch in &branches {
        if let Some(c) = branch.get("const").and_then(Value::as_i64) {
            valid_values.push(c);
        }
        if let (Some(lo), Some(hi)) = (branch["minimum"].as_i64(), branch["maximum"].as_i64()) {
            valid_values.extend([lo, hi]);
        }
    }
    let accepted = |v: i64| {
        branches.iter().any(|b| {
            b.get("const").and_then(Value::as_i64) == Some(v)
                || (b["minimum"].as_i64().is_some_and(|lo| v >= lo)
                    && b["maximum"].as_i64().is_some_and(|hi| v <= hi))
        })
    };
    let mut candidates: Vec<i64> = valid_values.iter().flat_map(|v| [v - 1, v + 1]).collect();
    // The step-timer cancel value is valid for some operations only: try it everywhere.
    candidates.push(execution_model().timers.cancel_step_timeout);
    candidates.sort_unstable();
    candidates.dedup();
    for v in candidates.into_iter().filter(|v| !accepted(*v)) {
        let n = name.to_string();
        out.push(invalid(number_label(name, v), requirement, move |m| {
            m.insert(n.clone(), json!(v));
        }));
    }
    for v in valid_values {
        let n = name.to_string();
        out.push(valid(number_label(name, v), requirement, move |m| {
            m.insert(n.clone(), json!(v));
        }));
    }
    out
}

pub(super) fn type_variants(name: &str, kind: &str, requirement: RequirementId) -> Vec<Variant> {
    let wrong: Vec<(String, Value, RequirementId)> = match kind {
        "integer" => integer_wrong(1.5, "5", requirement),
        "boolean" => vec![
            ("a number".into(), json!(1), requirement),
            (
                "the string true".into(),
                json!("true"),
                req::WI_SCALAR_STRINGS,
            ),
        ],
        "object" => vec![
            ("a string".into(), json!("x"), requirement),
            ("an array".into(), json!([]), requirement),
        ],
        "enum" => vec![
            ("a number".into(), json!(1), requirement),
            ("an unknown word".into(), json!("FINISHED"), requirement),
        ],
        _ => Vec::new(),
    };
    labelled(name, wrong)
}

/// Wrong types of an integer member: the fraction `fraction`, a word, and the numeric string
/// `numeric`.
fn integer_wrong(
    fraction: f64,
    numeric: &str,
    requirement: RequirementId,
) -> Vec<(String, Value, RequirementId)> {
    vec![
        ("a fraction".into(), json!(fraction), requirement),
        ("a word".into(), json!("five"), requirement),
        (
            "a numeric string".into(),
            json!(numeric),
            req::WI_SCALAR_STRINGS,
        ),
    ]
}

/// Wrong types of expectedVersion, each of which would match the version `stored` if a target
/// read it leniently (truncating the fraction, parsing the string), so that such a target is
/// refused for its leniency and not for a stale version.
pub(super) fn version_variants(
    name: &str,
    stored: i64,
    requirement: RequirementId,
) -> Vec<Variant> {
    let fraction = stored as f64 + 0.5;
    labelled(
        name,
        integer_wrong(fraction, &stored.to_string(), requirement),
    )
}

fn labelled(name: &str, wrong: Vec<(String, Value, RequirementId)>) -> Vec<Variant> {
    wrong
        .into_iter()
        .map(|(label, value, requirement)| {
            let n = name.to_string();
            invalid(format!("{name} as {label}"), requirement, move |m| {
                m.insert(n.clone(), value.clone());
            })
        })
        .collect()
}
