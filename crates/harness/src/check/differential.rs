//! Comparing two targets' answers to the same request, member by member, after taking out what
//! legitimately differs between two runs: each run's own names and tokens, timestamps (only
//! their presence is compared), `approximateSecondsBeforeTimedOut` within a tolerance, version
//! and execution numbers (compared as steps from the first one a run saw of the job), and the
//! order of list entries queued in the same second. What remains is a map from member path to
//! value; two maps differ at every path whose values differ. The notifications the targets
//! published are compared the same way (`notifications`).

pub mod notifications;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::answer::{Answer, read};
use crate::finding::Profile;
use crate::transport::Exchange;
use jobcert_contract::{Binding, Operation};

/// Seconds `approximateSecondsBeforeTimedOut` may differ by before it is a difference, besides
/// what the two runs' own timing explains (see [`countdown_tolerance`]).
pub const COUNTDOWN_TOLERANCE_S: f64 = 5.0;

/// The countdown tolerance for targets whose clocks run `time_scale` times real time, when the
/// two runs' requests so far were up to `skew` apart in real time (each measured from its run's
/// start, its answer's whole round trip counted). A countdown runs from the request that set
/// the timer to the one that reads it, so two correct runs' countdowns differ by at most twice
/// that skew in target time: the harness's scheduling moves the tolerance, never the verdict.
pub fn countdown_tolerance(time_scale: f64, skew: std::time::Duration) -> f64 {
    COUNTDOWN_TOLERANCE_S + 2.0 * skew.as_secs_f64() * time_scale
}

/// How far apart in real time two runs' copies of one exchange could have been read by their
/// targets: each from its send to its answer, measured from its own run's start.
pub fn skew(a: (u64, u64), b: (u64, u64)) -> std::time::Duration {
    let ((a_sent, a_done), (b_sent, b_done)) = (a, b);
    std::time::Duration::from_micros(
        a_done
            .saturating_sub(b_sent)
            .max(b_done.saturating_sub(a_sent)),
    )
}

/// The path of an answer's outcome (status class, error type, or MQTT reply kind).
pub const OUTCOME: &str = "(outcome)";

/// What one target's answers have shown so far, to normalise the next one: the first version
/// and execution number seen of each job.
#[derive(Debug, Default, Clone)]
pub struct Baseline {
    versions: HashMap<String, i64>,
    numbers: HashMap<String, i64>,
}

/// An answer reduced to what two runs must agree on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalised {
    /// Member path → value (a string, a number for the countdown).
    pub members: BTreeMap<String, Value>,
}

/// `answer` of `operation` reduced for comparison. `run` is the text the run put in every name
/// and token (its run id): it is replaced by `*`, so that two runs' names compare equal. `job`
/// is the job the request named, for numbers in a body that names none (an update's state).
pub fn normalise(
    exchange: &Exchange,
    operation: Operation,
    binding: Binding,
    (run, job): (&str, Option<&str>),
    baseline: &mut Baseline,
) -> Normalised {
    let (answer, _) = read(exchange, operation, binding, Profile::Aws);
    let mut members = BTreeMap::new();
    let outcome = match &answer {
        Answer::Success(_) => "success".to_string(),
        Answer::Error {
            status, type_name, ..
        } => format!(
            "{}xx {}",
            status / 100,
            type_name.as_deref().unwrap_or("(no error type)")
        ),
        Answer::Garbled => "garbled".into(),
        Answer::Unanswered => "no answer".into(),
    };
    members.insert(OUTCOME.to_string(), Value::String(outcome));
    if let Answer::Success(body) = &answer {
        let mut body = body.clone();
        anonymise(&mut body, run);
        order_ties(&mut body);
        flatten("", &body, &mut members);
        let job = job.map(|j| j.replace(run, "*"));
        relative_numbers(&mut members, job.as_deref(), baseline);
    }
    Normalised { members }
}

/// Replaces the run id in every string with `*`.
fn anonymise(value: &mut Value, run: &str) {
    match value {
        Value::String(s) if !run.is_empty() && s.contains(run) => *s = s.replace(run, "*"),
        Value::Array(items) => items.iter_mut().for_each(|v| anonymise(v, run)),
        Value::Object(map) => map.values_mut().for_each(|v| anonymise(v, run)),
        _ => {}
    }
}

/// Sorts entries of a job list that share a `queuedAt` second by job id: the contract leaves
/// their order open (§7), so two correct targets may list them either way.
fn order_ties(value: &mut Value) {
    match value {
        Value::Array(items) => {
            let key = |v: &Value| {
                (
                    v.get("queuedAt").and_then(Value::as_i64),
                    v.get("jobId").and_then(Value::as_str).map(str::to_string),
                )
            };
            if items.iter().all(|v| key(v).0.is_some()) {
                let mut start = 0;
                while start < items.len() {
                    let second = key(&items[start]).0;
                    let end = items[start..]
                        .iter()
                        .position(|v| key(v).0 != second)
                        .map_or(items.len(), |n| start + n);
                    items[start..end].sort_by_key(|v| key(v).1);
                    start = end;
                }
            }
            items.iter_mut().for_each(order_ties);
        }
        Value::Object(map) => map.values_mut().for_each(order_ties),
        _ => {}
    }
}

fn is_timestamp(key: &str) -> bool {
    key.ends_with("At") || key == "timestamp"
}

/// Every leaf of `value` under `prefix`, timestamps as their type only.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if is_timestamp(k) && !v.is_object() {
                    out.insert(path, Value::String(kind(v).into()));
                } else {
                    flatten(&path, v, out);
                }
            }
        }
        Value::Array(items) => {
            out.insert(format!("{prefix}.length"), Value::from(items.len()));
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Number(_) => "(a number)",
        Value::String(_) => "(a string)",
        Value::Null => "(null)",
        _ => "(other)",
    }
}

/// Version and execution numbers as steps from the first one seen of the same job (the one
/// beside them, else `job`).
fn relative_numbers(
    members: &mut BTreeMap<String, Value>,
    job: Option<&str>,
    baseline: &mut Baseline,
) {
    let jobs: BTreeMap<String, String> = members
        .iter()
        .filter_map(|(k, v)| {
            let prefix = k.strip_suffix("jobId")?;
            Some((prefix.to_string(), v.as_str()?.to_string()))
        })
        .collect();
    for (path, value) in members.iter_mut() {
        let (seen, field) = if path.ends_with("versionNumber") {
            (&mut baseline.versions, "versionNumber")
        } else if path.ends_with("executionNumber") {
            (&mut baseline.numbers, "executionNumber")
        } else {
            continue;
        };
        let Some(n) = value.as_i64() else {
            continue;
        };
        let prefix = path.strip_suffix(field).unwrap_or_default();
        let job = jobs
            .get(prefix)
            .cloned()
            .or_else(|| job.map(str::to_string))
            .unwrap_or_else(|| prefix.to_string());
        let first = *seen.entry(job).or_insert(n);
        *value = Value::String(format!("first{:+}", n - first));
    }
}

/// The paths at which `a` and `b` differ, the countdown within `tolerance_s`.
pub fn differences(a: &Normalised, b: &Normalised, tolerance_s: f64) -> Vec<String> {
    let mut out = Vec::new();
    let paths = a.members.keys().chain(b.members.keys());
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        if !seen.insert(path) {
            continue;
        }
        let (x, y) = (a.members.get(path), b.members.get(path));
        let same = match (x, y) {
            (Some(x), Some(y)) if path.ends_with("approximateSecondsBeforeTimedOut") => {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => (x - y).abs() <= tolerance_s,
                    _ => x == y,
                }
            }
            (x, y) => x == y,
        };
        if !same {
            out.push(path.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::transport::{Label, Outcome, WireRequest, WireResponse};

    fn exchange(status: u16, error: Option<&str>, body: Value) -> Exchange {
        let request = WireRequest {
            transport: "http".into(),
            method: "GET".into(),
            endpoint: "http://127.0.0.1:1".into(),
            target: "/things/t/jobs".into(),
            headers: Vec::new(),
            body: None,
        };
        let outcome = Outcome::Answered(WireResponse {
            status,
            headers: error
                .iter()
                .map(|e| ("x-amzn-errortype".to_string(), e.to_string()))
                .collect(),
            body: body.to_string(),
            truncated: false,
        });
        let label = Label {
            seq: 1,
            context: "t",
            operation: "GetPendingJobExecutions",
        };
        Exchange::new(label, request, outcome, 0, 1)
    }

    fn pending(run: &str, jobs: &[(&str, i64, i64)]) -> Value {
        let list: Vec<Value> = jobs
            .iter()
            .map(|(j, queued, version)| {
                json!({"jobId": format!("{j}-{run}-0"), "queuedAt": queued, "lastUpdatedAt": queued,
                       "versionNumber": version, "executionNumber": version * 10})
            })
            .collect();
        json!({"queuedJobs": list, "inProgressJobs": []})
    }

    fn diff(a: Exchange, b: Exchange) -> Vec<String> {
        let op = Operation::GetPendingJobExecutions;
        let mut base = (Baseline::default(), Baseline::default());
        let x = normalise(&a, op, Binding::Http, ("runa", None), &mut base.0);
        let y = normalise(&b, op, Binding::Http, ("runb", None), &mut base.1);
        differences(&x, &y, COUNTDOWN_TOLERANCE_S)
    }

    #[rstest]
    #[case::other_names_and_times(
        exchange(200, None, pending("runa", &[("j1", 100, 1), ("j2", 101, 1)])),
        exchange(200, None, pending("runb", &[("j1", 900, 1), ("j2", 901, 1)])),
        &[]
    )]
    #[case::other_first_versions(
        exchange(200, None, pending("runa", &[("j1", 100, 1)])),
        exchange(200, None, pending("runb", &[("j1", 100, 7)])),
        &[]
    )]
    #[case::ties_in_either_order(
        exchange(200, None, pending("runa", &[("j1", 100, 1), ("j2", 100, 1)])),
        exchange(200, None, pending("runb", &[("j2", 100, 1), ("j1", 100, 1)])),
        &[]
    )]
    #[case::order_across_seconds(
        exchange(200, None, pending("runa", &[("j1", 100, 1), ("j2", 101, 1)])),
        exchange(200, None, pending("runb", &[("j2", 100, 1), ("j1", 101, 1)])),
        &["queuedJobs[0].jobId", "queuedJobs[1].jobId"]
    )]
    #[case::one_more_entry(
        exchange(200, None, pending("runa", &[("j1", 100, 1)])),
        exchange(200, None, pending("runb", &[("j1", 100, 1), ("j2", 101, 1)])),
        &["queuedJobs.length", "queuedJobs[1].executionNumber", "queuedJobs[1].jobId", "queuedJobs[1].lastUpdatedAt", "queuedJobs[1].queuedAt", "queuedJobs[1].versionNumber"]
    )]
    #[case::other_error_type(
        exchange(400, Some("InvalidRequestException"), json!({})),
        exchange(400, Some("ResourceNotFoundException"), json!({})),
        &[OUTCOME]
    )]
    #[case::success_and_error(
        exchange(200, None, json!({"queuedJobs": []})),
        exchange(503, Some("ServiceUnavailableException"), json!({})),
        &[OUTCOME, "queuedJobs.length"]
    )]
    fn answers_differ_only_where_two_correct_runs_cannot(
        #[case] a: Exchange,
        #[case] b: Exchange,
        #[case] paths: &[&str],
    ) {
        assert_eq!(diff(a, b), paths);
    }

    #[rstest]
    #[case::within(300.0, 296.0, true)]
    #[case::beyond(300.0, 290.0, false)]
    fn the_countdown_compares_within_its_tolerance(
        #[case] a: f64,
        #[case] b: f64,
        #[case] same: bool,
    ) {
        let n = |v: f64| Normalised {
            members: BTreeMap::from([(
                "execution.approximateSecondsBeforeTimedOut".to_string(),
                json!(v),
            )]),
        };
        assert_eq!(
            differences(&n(a), &n(b), COUNTDOWN_TOLERANCE_S).is_empty(),
            same
        );
    }

    #[rstest]
    #[case::in_step((10, 20), (12, 18), 8)]
    #[case::b_later((10, 20), (100, 130), 120)]
    #[case::a_later((100, 130), (10, 20), 120)]
    fn skew_spans_both_round_trips(#[case] a: (u64, u64), #[case] b: (u64, u64), #[case] us: u64) {
        assert_eq!(skew(a, b).as_micros() as u64, us);
    }

    #[test]
    fn the_countdown_tolerance_grows_with_the_measured_skew() {
        let second = std::time::Duration::from_millis(100);
        assert_eq!(countdown_tolerance(600.0, second), 125.0);
        assert_eq!(countdown_tolerance(1.0, std::time::Duration::ZERO), 5.0);
    }

    #[test]
    fn a_later_version_is_a_step_from_the_first() {
        let op = Operation::GetPendingJobExecutions;
        let mut base = Baseline::default();
        let at = |version| exchange(200, None, pending("r", &[("j", 100, version)]));
        normalise(&at(3), op, Binding::Http, ("r", None), &mut base);
        let later = normalise(&at(5), op, Binding::Http, ("r", None), &mut base);
        assert_eq!(later.members["queuedJobs[0].versionNumber"], "first+2");
    }
}
