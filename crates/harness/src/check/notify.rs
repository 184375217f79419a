//! What a `notify` or `notify-next` message must say (MQ-NOTIFY, MQ-NOTIFY-NEXT): the jobs it
//! lists (or names), and a timestamp.

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

/// Judges a notification's `payload` against `expected`.
pub fn judge(expected: &Expected, payload: &str) -> Finding {
    let (ok, what) = verdict(expected, payload);
    Finding::check(ok, expected.requirement(), what, None)
}

/// A missing notification.
pub fn missing(expected: &Expected, topic: &str, waited: std::time::Duration) -> Finding {
    Finding::fail(
        expected.requirement(),
        format!("no {topic} arrived within {waited:?}"),
        None,
    )
}

fn verdict(expected: &Expected, payload: &str) -> (bool, String) {
    let body: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["jobId"].as_str().map(str::to_string))
            .collect()
    };
    let (ok, what) = match expected {
        Expected::Next(want) => {
            let got = body["execution"]["jobId"].as_str().map(str::to_string);
            (
                got == *want,
                format!("notify-next names {got:?}, expected {want:?}"),
            )
        }
        Expected::Lists {
            queued,
            in_progress,
        } => {
            let jobs = &body["jobs"];
            let ok = ids(&jobs["QUEUED"]) == *queued
                && ids(&jobs["IN_PROGRESS"]) == *in_progress
                && (jobs.get("QUEUED").is_some() != queued.is_empty())
                && (jobs.get("IN_PROGRESS").is_some() != in_progress.is_empty());
            (
                ok,
                format!(
                    "notify lists {jobs}, expected QUEUED {queued:?} and IN_PROGRESS {in_progress:?}"
                ),
            )
        }
    };
    let stamped = body["timestamp"].as_i64().is_some();
    let what = if stamped {
        what
    } else {
        format!("{what}; no timestamp")
    };
    (ok && stamped, what)
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
}
