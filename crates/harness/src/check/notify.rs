//! What a `notify` or `notify-next` message must say (MQ-NOTIFY, MQ-NOTIFY-NEXT): the jobs it
//! lists (or names), and a timestamp. A step waits for the message whose jobs match (others
//! describe another state and are no answer); only when none arrives is there a miss, which
//! lists what did arrive.

use serde_json::Value;

use crate::finding::Finding;
use jobcert_contract::{RequirementId, req};

/// What a step expects a notification to say, in the target's own job ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `notify-next` names this job, or none.
    Next(Option<String>),
    /// `notify` lists these QUEUED and IN_PROGRESS jobs, in order; an empty list is absent.
    Lists {
        /// QUEUED jobs.
        queued: Vec<String>,
        /// IN_PROGRESS jobs.
        in_progress: Vec<String>,
    },
}

impl Expected {
    /// The requirement a notification of this kind is judged under.
    pub fn requirement(&self) -> RequirementId {
        match self {
            Expected::Next(_) => req::MQ_NOTIFY_NEXT,
            Expected::Lists { .. } => req::MQ_NOTIFY,
        }
    }
}

/// Whether `payload` describes the state `expected` names (jobs only; the timestamp is judged
/// afterwards). A notification of another state (an earlier one arriving late, or one the
/// contract allows but does not require, spec §7.25) is not the answer and is skipped.
pub fn matches(expected: &Expected, payload: &str) -> bool {
    content(expected, &parse(payload)).0
}

/// Judges a notification's `payload` against `expected`.
pub fn judge(expected: &Expected, payload: &str) -> Finding {
    let body = parse(payload);
    let (ok, what) = content(expected, &body);
    let stamped = body["timestamp"].as_i64().is_some();
    let what = if stamped {
        what
    } else {
        format!("{what}; no timestamp")
    };
    Finding::check(ok && stamped, expected.requirement(), what, None)
}

/// Most arrived messages a miss lists.
const LISTED: usize = 5;

/// No notification on `topic` matched within `waited`; `arrived` are the payloads that came
/// on it meanwhile, none of them matching.
pub fn missing(
    expected: &Expected,
    topic: &str,
    waited: std::time::Duration,
    arrived: &[&str],
) -> Finding {
    let message = if arrived.is_empty() {
        format!("no {topic} arrived within {waited:?}")
    } else {
        let mut listed: Vec<String> = arrived
            .iter()
            .take(LISTED)
            .map(|p| shown(expected, &parse(p)))
            .collect();
        if arrived.len() > LISTED {
            listed.push(format!("and {} more", arrived.len() - LISTED));
        }
        format!(
            "{} {topic} message{} arrived within {waited:?}, none {}: {}",
            arrived.len(),
            if arrived.len() == 1 { "" } else { "s" },
            wanted(expected),
            listed.join(", ")
        )
    };
    Finding::fail(expected.requirement(), message, None)
}

fn parse(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap_or(Value::Null)
}

/// Whether `body` says what `expected` names, and what it says.
fn content(expected: &Expected, body: &Value) -> (bool, String) {
    // Anything but a JSON object describes no state at all.
    let ok = body.is_object()
        && match expected {
            Expected::Next(want) => named(body) == *want,
            Expected::Lists {
                queued,
                in_progress,
            } => {
                let jobs = &body["jobs"];
                ids(&jobs["QUEUED"]) == *queued
                    && ids(&jobs["IN_PROGRESS"]) == *in_progress
                    && (jobs.get("QUEUED").is_some() != queued.is_empty())
                    && (jobs.get("IN_PROGRESS").is_some() != in_progress.is_empty())
            }
        };
    let what = match expected {
        Expected::Next(_) => "notify-next names",
        Expected::Lists { .. } => "notify lists",
    };
    let what = format!(
        "{what} {}, expected {}",
        shown(expected, body),
        named_by(expected)
    );
    (ok, what)
}

/// The part of `body` that `expected` is about.
fn shown(expected: &Expected, body: &Value) -> String {
    match expected {
        Expected::Next(_) => format!("{:?}", named(body)),
        Expected::Lists { .. } => body["jobs"].to_string(),
    }
}

/// What a matching notification would say, after "none".
fn wanted(expected: &Expected) -> String {
    match expected {
        Expected::Next(_) => format!("naming {}", named_by(expected)),
        Expected::Lists { .. } => format!("listing {}", named_by(expected)),
    }
}

/// What `expected` names: a job (or none), or the two lists.
fn named_by(expected: &Expected) -> String {
    match expected {
        Expected::Next(want) => format!("{want:?}"),
        Expected::Lists {
            queued,
            in_progress,
        } => format!("QUEUED {queued:?} and IN_PROGRESS {in_progress:?}"),
    }
}

/// The job `notify-next` names, if any.
fn named(body: &Value) -> Option<String> {
    body["execution"]["jobId"].as_str().map(str::to_string)
}

/// The job ids of a list of summaries.
fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["jobId"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn lists(q: &[&str], i: &[&str]) -> Expected {
        Expected::Lists {
            queued: q.iter().map(|s| s.to_string()).collect(),
            in_progress: i.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[rstest]
    #[case::next_names_the_job(Expected::Next(Some("a".into())), r#"{"timestamp":1,"execution":{"jobId":"a"}}"#, true)]
    #[case::next_names_another(Expected::Next(Some("a".into())), r#"{"timestamp":1,"execution":{"jobId":"b"}}"#, false)]
    #[case::next_empty(Expected::Next(None), r#"{"timestamp":1}"#, true)]
    #[case::next_without_timestamp(Expected::Next(Some("a".into())), r#"{"execution":{"jobId":"a"}}"#, false)]
    #[case::lists_in_order(lists(&["b"], &["a"]), r#"{"timestamp":1,"jobs":{"QUEUED":[{"jobId":"b"}],"IN_PROGRESS":[{"jobId":"a"}]}}"#, true)]
    #[case::lists_an_earlier_state(lists(&["b"], &[]), r#"{"timestamp":1,"jobs":{"QUEUED":[{"jobId":"b"}],"IN_PROGRESS":[{"jobId":"a"}]}}"#, false)]
    #[case::empty_list_present(lists(&["b"], &[]), r#"{"timestamp":1,"jobs":{"QUEUED":[{"jobId":"b"}],"IN_PROGRESS":[]}}"#, false)]
    #[case::nothing_pending(lists(&[], &[]), r#"{"timestamp":1,"jobs":{}}"#, true)]
    #[case::not_json(lists(&[], &[]), "garbage", false)]
    fn notifications_are_judged_by_content(
        #[case] expected: Expected,
        #[case] payload: &str,
        #[case] ok: bool,
    ) {
        let f = judge(&expected, payload);
        assert_eq!(f.passed, ok, "{}", f.message);
        assert_eq!(f.requirement, expected.requirement());
    }

    const EARLIER: &str = r#"{"timestamp":1,"jobs":{"IN_PROGRESS":[{"jobId":"first"}],"QUEUED":[{"jobId":"second"}]}}"#;
    const LATER: &str = r#"{"timestamp":2,"jobs":{"QUEUED":[{"jobId":"second"}]}}"#;

    #[rstest]
    #[case::the_expected_state(lists(&["second"], &[]), LATER, true)]
    #[case::an_earlier_state_is_skipped(lists(&["second"], &[]), EARLIER, false)]
    #[case::the_head_going_in_progress_is_optional(lists(&["second"], &[]), r#"{"timestamp":1,"jobs":{"IN_PROGRESS":[{"jobId":"second"}]}}"#, false)]
    #[case::matched_without_timestamp(lists(&["second"], &[]), r#"{"jobs":{"QUEUED":[{"jobId":"second"}]}}"#, true)]
    #[case::next_names_the_job(Expected::Next(Some("second".into())), r#"{"timestamp":1,"execution":{"jobId":"second"}}"#, true)]
    #[case::next_names_an_earlier_head(Expected::Next(Some("second".into())), r#"{"timestamp":1,"execution":{"jobId":"first"}}"#, false)]
    #[case::next_empty_skips_a_head(
        Expected::Next(None),
        r#"{"timestamp":1,"execution":{"jobId":"first"}}"#,
        false
    )]
    #[case::not_json_never_matches(lists(&[], &[]), "garbage", false)]
    fn notifications_are_matched_by_jobs_alone(
        #[case] expected: Expected,
        #[case] payload: &str,
        #[case] matched: bool,
    ) {
        assert_eq!(matches(&expected, payload), matched);
    }

    #[test]
    fn a_match_without_timestamp_still_fails_its_judgement() {
        let expected = lists(&["second"], &[]);
        let payload = r#"{"jobs":{"QUEUED":[{"jobId":"second"}]}}"#;
        assert!(matches(&expected, payload));
        let f = judge(&expected, payload);
        assert!(!f.passed);
        assert!(f.message.ends_with("no timestamp"), "{}", f.message);
    }

    #[rstest]
    #[case::nothing_arrived(lists(&["second"], &[]), &[], "no notify arrived within 2s")]
    #[case::one_earlier(
        lists(&["second"], &[]),
        &[EARLIER],
        r#"1 notify message arrived within 2s, none listing QUEUED ["second"] and IN_PROGRESS []: {"IN_PROGRESS":[{"jobId":"first"}],"QUEUED":[{"jobId":"second"}]}"#
    )]
    #[case::two_others(
        lists(&[], &[]),
        &[EARLIER, LATER],
        r#"2 notify messages arrived within 2s, none listing QUEUED [] and IN_PROGRESS []: {"IN_PROGRESS":[{"jobId":"first"}],"QUEUED":[{"jobId":"second"}]}, {"QUEUED":[{"jobId":"second"}]}"#
    )]
    #[case::next_lists_heads(
        Expected::Next(None),
        &[r#"{"execution":{"jobId":"first"}}"#, "garbage"],
        r#"2 notify messages arrived within 2s, none naming None: Some("first"), None"#
    )]
    #[case::many_are_cut_short(
        Expected::Next(None),
        &[EARLIER; 7],
        "7 notify messages arrived within 2s, none naming None: None, None, None, None, None, and 2 more"
    )]
    fn a_miss_lists_what_arrived(
        #[case] expected: Expected,
        #[case] arrived: &[&str],
        #[case] message: &str,
    ) {
        let f = missing(
            &expected,
            "notify",
            std::time::Duration::from_secs(2),
            arrived,
        );
        assert!(!f.passed);
        assert_eq!(f.requirement, expected.requirement());
        assert_eq!(f.message, message);
    }
}
