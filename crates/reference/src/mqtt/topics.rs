//! The reserved Jobs topics (spec §3.2): which operation a publish asks for.

use jobcert_contract::Operation;

/// The prefix of every Jobs topic.
pub const PREFIX: &str = "$aws/things/";

/// What a publish under `$aws/things/{thing}/jobs/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobsTopic {
    /// A request for an operation.
    Request {
        /// The operation.
        operation: Operation,
        /// Thing name from the topic.
        thing: String,
        /// Job id (or `$next`) from the topic.
        job: Option<String>,
        /// Namespace from a `namespace-{ns}` level.
        namespace: Option<String>,
    },
    /// A reply or a notification (`…/accepted`, `…/rejected`, `notify…`): not for the service.
    Outbound,
    /// Under the Jobs namespace but no operation: answered with InvalidTopic.
    Invalid,
}

/// Reads a topic; `None` when it is not under `$aws/things/{thing}/jobs/`.
pub fn parse(topic: &str) -> Option<JobsTopic> {
    let rest = topic.strip_prefix(PREFIX)?;
    let (thing, rest) = rest.split_once('/')?;
    let rest = rest
        .strip_prefix("jobs/")
        .or_else(|| (rest == "jobs").then_some(""))?;
    let levels: Vec<&str> = rest.split('/').collect();
    if levels
        .last()
        .is_some_and(|l| *l == "accepted" || *l == "rejected")
        || levels.first().is_some_and(|l| l.starts_with("notify"))
    {
        return Some(JobsTopic::Outbound);
    }
    let request = |operation, job: Option<&str>, namespace: Option<&str>| JobsTopic::Request {
        operation,
        thing: thing.to_string(),
        job: job.map(str::to_string),
        namespace: namespace.map(str::to_string),
    };
    Some(match levels.as_slice() {
        ["get"] => request(Operation::GetPendingJobExecutions, None, None),
        ["start-next"] => request(Operation::StartNextPendingJobExecution, None, None),
        [job, "get"] => request(Operation::DescribeJobExecution, Some(job), None),
        [job, "update"] => request(Operation::UpdateJobExecution, Some(job), None),
        [job, ns, "get"] if namespace(ns).is_some() => {
            request(Operation::DescribeJobExecution, Some(job), namespace(ns))
        }
        [job, ns, "update"] if namespace(ns).is_some() => {
            request(Operation::UpdateJobExecution, Some(job), namespace(ns))
        }
        _ => JobsTopic::Invalid,
    })
}

fn namespace(level: &str) -> Option<&str> {
    level.strip_prefix("namespace-")
}

/// The topic a notification goes to: `notify` or `notify-next`.
pub fn notification(thing: &str, kind: &str) -> String {
    format!("{PREFIX}{thing}/jobs/{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_replies_and_strangers() {
        let req = |t| parse(t).unwrap();
        assert!(matches!(
            req("$aws/things/t/jobs/get"),
            JobsTopic::Request {
                operation: Operation::GetPendingJobExecutions,
                ..
            }
        ));
        assert!(
            matches!(req("$aws/things/t/jobs/$next/get"), JobsTopic::Request { operation: Operation::DescribeJobExecution, job: Some(j), .. } if j == "$next")
        );
        assert!(
            matches!(req("$aws/things/t/jobs/j1/namespace-aws-gg-deployment/update"), JobsTopic::Request { namespace: Some(n), .. } if n == "aws-gg-deployment")
        );
        assert_eq!(
            req("$aws/things/t/jobs/j1/update/accepted"),
            JobsTopic::Outbound
        );
        assert_eq!(req("$aws/things/t/jobs/notify-next"), JobsTopic::Outbound);
        assert_eq!(req("$aws/things/t/jobs/j1/frobnicate"), JobsTopic::Invalid);
        assert_eq!(req("$aws/things/t/jobs"), JobsTopic::Invalid);
        assert_eq!(parse("$aws/things/t/shadow/get"), None);
        assert_eq!(parse("plain/topic"), None);
    }
}
