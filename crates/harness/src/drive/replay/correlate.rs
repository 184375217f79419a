//! What ties a replayed device's requests to the answers it really got, rather than to the
//! recorded ones: clientTokens are fresh for the run (each recorded token always maps to the
//! same new one); `expectedVersion` and `executionNumber` are mapped from the recorded answers'
//! values to the replayed answers' values of the same job; and a job that `$next` named in
//! place of the recorded one takes its place in the device's later requests.

use std::collections::HashMap;

use serde_json::Value;

use crate::check::replay::Facts;

/// One replayed device's correlation state, keyed by the real job ids of this replay.
#[derive(Debug, Default)]
pub struct Correlation {
    tokens: HashMap<String, String>,
    /// (job, recorded version) → replayed version.
    versions: HashMap<(String, i64), i64>,
    /// job → (recorded, replayed) of the latest pair seen.
    latest_version: HashMap<String, (i64, i64)>,
    /// (job, recorded number) → replayed number.
    numbers: HashMap<(String, i64), i64>,
    /// recorded job → the job the target named instead.
    rebound: HashMap<String, String>,
    /// Fresh tokens made so far.
    made: u64,
}

impl Correlation {
    /// The job the device's requests about `job` now go to.
    pub fn job(&self, job: &str) -> String {
        self.rebound
            .get(job)
            .cloned()
            .unwrap_or_else(|| job.to_string())
    }

    /// From now on, requests about `recorded` go to `replayed`.
    pub fn rebind(&mut self, recorded: &str, replayed: &str) {
        self.rebound
            .insert(recorded.to_string(), replayed.to_string());
    }

    /// Learns the pairing of a recorded answer's facts with the replayed answer's, for `job`
    /// (the request's job, or the one the answers name).
    pub fn learn(&mut self, job: &str, recorded: &Facts, replayed: &Facts) {
        let job = self.job(job);
        if let (Some(r), Some(p)) = (recorded.version, replayed.version) {
            self.versions.insert((job.clone(), r), p);
            self.latest_version.insert(job.clone(), (r, p));
        }
        if let (Some(r), Some(p)) = (recorded.execution_number, replayed.execution_number) {
            self.numbers.insert((job, r), p);
        }
    }

    fn version(&self, job: &str, recorded: i64) -> i64 {
        if let Some(v) = self.versions.get(&(job.to_string(), recorded)) {
            return *v;
        }
        // A version no answer showed (a deliberately stale one, say): the same distance from
        // the latest pair.
        match self.latest_version.get(job) {
            Some((r, p)) => recorded - r + p,
            None => recorded,
        }
    }

    fn number(&self, job: &str, recorded: i64) -> i64 {
        self.numbers
            .get(&(job.to_string(), recorded))
            .copied()
            .unwrap_or(recorded)
    }

    fn token(&mut self, recorded: &str, run_id: &str) -> String {
        if let Some(t) = self.tokens.get(recorded) {
            return t.clone();
        }
        self.made += 1;
        let fresh: String = format!("{run_id}-{}", self.made).chars().take(64).collect();
        self.tokens.insert(recorded.to_string(), fresh.clone());
        fresh
    }

    /// The body to send for a recorded `body` about `job`: a JSON object has its clientToken,
    /// expectedVersion and executionNumber mapped (only integers are mapped: any other value
    /// was sent to be refused, and is sent as it was); anything else goes as recorded.
    pub fn body(&mut self, body: &str, job: Option<&str>, run_id: &str) -> String {
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(body) else {
            return body.to_string();
        };
        let job = job.map(|j| self.job(j));
        if let Some(Value::String(t)) = map.get("clientToken") {
            let fresh = self.token(&t.clone(), run_id);
            map.insert("clientToken".into(), Value::String(fresh));
        }
        if let Some(job) = &job {
            if let Some(v) = map.get("expectedVersion").and_then(Value::as_i64) {
                map.insert("expectedVersion".into(), self.version(job, v).into());
            }
            if let Some(n) = map.get("executionNumber").and_then(Value::as_i64) {
                map.insert("executionNumber".into(), self.number(job, n).into());
            }
        }
        Value::Object(map).to_string()
    }

    /// The path or topic to send for a recorded one about `job`: the job rebound where it
    /// was, and an `executionNumber` query value mapped.
    pub fn target(&self, target: &str, job: Option<&str>) -> String {
        let Some(job) = job else {
            return target.to_string();
        };
        let now = self.job(job);
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = path
            .split('/')
            .map(|segment| {
                if segment == job {
                    now.as_str()
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let Some(query) = query else {
            return path;
        };
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("executionNumber", v)) => match v.parse::<i64>() {
                    Ok(n) => format!("executionNumber={}", self.number(&now, n)),
                    Err(_) => pair.to_string(),
                },
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn facts(version: i64, number: i64) -> Facts {
        Facts {
            job: Some("j".into()),
            status: None,
            version: Some(version),
            execution_number: Some(number),
        }
    }

    fn learned() -> Correlation {
        let mut c = Correlation::default();
        c.learn("j", &facts(2, 1), &facts(5, 7));
        c
    }

    #[rstest]
    #[case::seen_version(
        r#"{"status":"SUCCEEDED","expectedVersion":2}"#,
        r#"{"expectedVersion":5,"status":"SUCCEEDED"}"#
    )]
    #[case::stale_version_keeps_its_distance(
        r#"{"expectedVersion":1}"#,
        r#"{"expectedVersion":4}"#
    )]
    #[case::fraction_goes_as_sent(r#"{"expectedVersion":1.5}"#, r#"{"expectedVersion":1.5}"#)]
    #[case::string_goes_as_sent(r#"{"expectedVersion":"2"}"#, r#"{"expectedVersion":"2"}"#)]
    #[case::execution_number(r#"{"executionNumber":1}"#, r#"{"executionNumber":7}"#)]
    #[case::unknown_number_as_sent(r#"{"executionNumber":3}"#, r#"{"executionNumber":3}"#)]
    #[case::not_json("{oops", "{oops")]
    fn bodies_are_mapped_onto_the_replayed_values(#[case] recorded: &str, #[case] sent: &str) {
        let mut c = learned();
        let got: Value =
            serde_json::from_str(&c.body(recorded, Some("j"), "r1")).unwrap_or(Value::Null);
        let want: Value = serde_json::from_str(sent).unwrap_or(Value::Null);
        assert_eq!(got, want);
    }

    #[test]
    fn a_recorded_token_always_maps_to_the_same_fresh_one() {
        let mut c = Correlation::default();
        let first = c.body(r#"{"clientToken":"abc"}"#, None, "r1");
        let again = c.body(r#"{"clientToken":"abc"}"#, None, "r1");
        let other = c.body(r#"{"clientToken":"xyz"}"#, None, "r1");
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(!first.contains("abc"));
    }

    #[rstest]
    #[case::rebound_path("/things/t/jobs/j", "/things/t/jobs/k")]
    #[case::next_untouched("/things/t/jobs/$next", "/things/t/jobs/$next")]
    #[case::query_mapped(
        "/things/t/jobs/j?executionNumber=1&includeJobDocument=false",
        "/things/t/jobs/k?executionNumber=1&includeJobDocument=false"
    )]
    #[case::topic("$aws/things/t/jobs/j/update", "$aws/things/t/jobs/k/update")]
    fn a_rebound_job_takes_the_recorded_ones_place(#[case] recorded: &str, #[case] sent: &str) {
        let mut c = Correlation::default();
        c.rebind("j", "k");
        assert_eq!(c.target(recorded, Some("j")), sent);
    }

    #[test]
    fn an_execution_number_in_a_query_is_mapped() {
        let c = learned();
        assert_eq!(
            c.target("/things/t/jobs/j?executionNumber=1", Some("j")),
            "/things/t/jobs/j?executionNumber=7"
        );
    }
}
