//! The reads a device makes judged from its vantage point: describe `$next` names the head of
//! the pending list as start-next would (DE-NEXT, DE-NEXT-EMPTY), and the pending list holds
//! no job the device finished, each known one under the status the device gave it
//! (GP-CONTENT). A fleet device does not read; a replayed one does.

use serde_json::Value;

use super::{CreatedJob, DeviceOracle, Head};
use crate::check::answer::Answer;
use crate::finding::Finding;
use jobcert_contract::req;

impl DeviceOracle {
    /// The state facts of a describe `$next` answer; `created` and `exact` as for
    /// [`Self::start_next_facts`]. Only a success is judged.
    pub fn describe_next_facts(
        &self,
        answer: &Answer,
        seq: Option<u64>,
        created: &[CreatedJob],
        exact: bool,
    ) -> Vec<Finding> {
        let Some(body) = answer.success() else {
            return Vec::new();
        };
        let (known, exact) = self.known(created, exact);
        let pending = self.pending(&known);
        let job = body
            .get("execution")
            .filter(|e| !e.is_null())
            .map(|e| e.get("jobId").and_then(Value::as_str));
        match job {
            None => self
                .nothing_returned(&pending, exact, Head::DescribeNext, seq)
                .into_iter()
                .collect(),
            Some(None) => Vec::new(),
            Some(Some(job)) => self
                .order(job, &pending, &known, exact, Head::DescribeNext, seq)
                .into_iter()
                .collect(),
        }
    }

    /// The state facts of a get-pending answer: no listed job is one the device finished or,
    /// when it knows every job (`exact`), one it does not know; a job it started is listed in
    /// progress and one it did not is queued. One finding an answer, naming the first problem.
    /// A known job missing from the lists is not judged (the lists are capped).
    pub fn pending_facts(
        &self,
        answer: &Answer,
        seq: Option<u64>,
        created: &[CreatedJob],
        exact: bool,
    ) -> Option<Finding> {
        let body = answer.success()?;
        let (known, exact) = self.known(created, exact);
        let listed = [("inProgressJobs", true), ("queuedJobs", false)]
            .into_iter()
            .flat_map(|(list, in_progress)| {
                body.get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|j| j.get("jobId").and_then(Value::as_str))
                    .map(move |id| (id, in_progress))
            });
        let mut judged = false;
        let mut problem = None;
        for (job, listed_in_progress) in listed {
            if self.forgotten.contains(job) {
                continue;
            }
            let is_known = known.iter().any(|j| j.id == job);
            let wrong = if self.known_finished(job) {
                Some(format!("{job} is listed although the device finished it"))
            } else if !is_known {
                exact.then(|| format!("{job} is listed but is not a job of this thing"))
            } else if listed_in_progress != self.is_in_progress(job) {
                Some(format!(
                    "{job} is listed {} although the device {}",
                    if listed_in_progress {
                        "in progress"
                    } else {
                        "as queued"
                    },
                    if listed_in_progress {
                        "never started it"
                    } else {
                        "started it"
                    }
                ))
            } else {
                None
            };
            judged |= is_known || exact;
            problem = problem.or(wrong);
        }
        (judged || problem.is_some()).then(|| match problem {
            Some(message) => Finding::fail(req::GP_CONTENT, message, seq),
            None => Finding::pass(
                req::GP_CONTENT,
                "every listed job is pending, under the status the device gave it".to_string(),
                seq,
            ),
        })
    }
}
