//! The plan: the cases a run executes, whether written in YAML (`scenario`) or generated from
//! the request schemas (`generate`).

mod certificate;
pub mod generate;
mod strictness;

pub use certificate::unusable_certificates;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use jobcert_contract::{Binding, Operation, RequirementId};

/// Where a case or step was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The scenario file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A job to create before the steps run.
#[derive(Debug, Clone)]
pub struct JobFixture {
    /// Logical id.
    pub id: String,
    /// Logical names of the target things.
    pub targets: Vec<String>,
    /// Document text.
    pub document: String,
    /// In-progress timeout.
    pub in_progress_timeout_minutes: Option<i64>,
    /// Retry criteria.
    pub retry: Vec<RetrySpec>,
}

/// What a step's answer must be, beyond what the state model predicts.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// HTTP status.
    pub status: Option<u16>,
    /// Error type, as the SDKs read it.
    pub error: Option<String>,
    /// An error type the answer must not be (a valid boundary value must not be refused as invalid).
    pub not_error: Option<String>,
    /// Body members by dotted path: a value to equal, or `{absent: true}` / `{present: true}`.
    pub body: serde_json::Map<String, Value>,
    /// After a refusal, read the thing's executions back and check nothing changed.
    pub state_unchanged: bool,
    /// The requirement these expectations check; the case's first one when absent.
    pub requirement: Option<RequirementId>,
    /// Judged as written only under the strict profile: stricter than the contract (one of
    /// several allowed answers), so under `aws` a departure is at most a warning.
    pub strict_only: bool,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// A data-plane call. In `input`, `thing` and `job` are logical names (`job` may be
    /// `$next`); `thingName` and `jobId` are sent as written.
    Call {
        /// The operation.
        operation: Operation,
        /// Its input.
        input: Map<String, Value>,
    },
    /// CancelJob on the control plane.
    CancelJob {
        /// Logical job id.
        job: String,
        /// Cancel IN_PROGRESS executions too.
        force: bool,
    },
    /// Let target time pass.
    Wait {
        /// Minutes of target time.
        minutes: f64,
    },
    /// A notification the thing's device must receive (MQTT only).
    Notification {
        /// Logical thing name.
        thing: String,
        /// `notify` or `notify-next`.
        topic: String,
        /// notify-next: the logical job at the head, `None` for an empty list.
        job: Option<String>,
        /// notify: logical jobs listed as QUEUED.
        queued: Vec<String>,
        /// notify: logical jobs listed as IN_PROGRESS.
        in_progress: Vec<String>,
    },
    /// StartNext on an mTLS endpoint with the run's client certificate, then with
    /// certificates it cannot use (SN-CERTIFICATE).
    UnusableCertificates {
        /// Logical thing name.
        thing: String,
        /// The mTLS data plane's base URL.
        endpoint: String,
    },
}

/// One step of a case.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// A body to send instead of the bound one.
    pub raw_body: Option<String>,
    /// A path to send instead of the bound one (`{thing}`, `{job}` filled in; HTTP).
    pub raw_path: Option<String>,
    /// A topic to publish to instead of the bound one (`{thing}`, `{job}` filled in; MQTT).
    pub raw_topic: Option<String>,
    /// Explicit expectations.
    pub expect: Expectation,
    /// How long to wait for the answer; the run's default when absent.
    pub deadline: Option<Duration>,
    /// Where it was written.
    pub source: Option<Source>,
}

impl Step {
    /// A call with no explicit expectation.
    pub fn call(operation: Operation, input: Map<String, Value>) -> Self {
        Self::of(Action::Call { operation, input })
    }

    /// A step taking `action` as it is: no raw overrides, no expectation, the run's deadline.
    pub fn of(action: Action) -> Self {
        Self {
            action,
            raw_body: None,
            raw_path: None,
            raw_topic: None,
            expect: Expectation::default(),
            deadline: None,
            source: None,
        }
    }
}

/// One case.
#[derive(Debug, Clone)]
pub struct PlannedCase {
    /// `suite/name`, unique in the plan.
    pub id: String,
    /// Suite (file stem, or `generated`).
    pub suite: String,
    /// Name within the suite.
    pub name: String,
    /// What it shows.
    pub description: Option<String>,
    /// Where it was written; `None` for generated cases.
    pub source: Option<Source>,
    /// Requirement IDs it exercises.
    pub requirements: Vec<RequirementId>,
    /// Tags.
    pub tags: Vec<String>,
    /// The bindings the case runs over; all when empty.
    pub bindings: Vec<Binding>,
    /// Logical thing names to create.
    pub things: Vec<String>,
    /// Logical thing names that are named but never created.
    pub absent_things: Vec<String>,
    /// Jobs to create.
    pub jobs: Vec<JobFixture>,
    /// Steps.
    pub steps: Vec<Step>,
}

impl PlannedCase {
    /// Whether the case runs over `binding`.
    pub fn runs_over(&self, binding: Binding) -> bool {
        self.bindings.is_empty() || self.bindings.contains(&binding)
    }

    /// Whether the case carries `label` as a requirement ID or a tag.
    pub fn matches(&self, label: &str) -> bool {
        self.requirements.iter().any(|r| r.as_str() == label)
            || self.tags.iter().any(|t| t == label)
    }
}

/// Every case of a run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// In execution order.
    pub cases: Vec<PlannedCase>,
}

impl Plan {
    /// The cases that run over `binding`, with ids and suites prefixed by its name.
    pub fn over(&self, binding: Binding) -> Plan {
        Plan {
            cases: self
                .cases
                .iter()
                .filter(|c| c.runs_over(binding))
                .map(|c| PlannedCase {
                    id: format!("{}:{}", binding.name(), c.id),
                    suite: format!("{}:{}", binding.name(), c.suite),
                    tags: c
                        .tags
                        .iter()
                        .cloned()
                        .chain([binding.name().to_string()])
                        .collect(),
                    ..c.clone()
                })
                .collect(),
        }
    }

    /// Keeps the cases that match any of `only` (all when empty) and none of `skip`. A label
    /// may also be a case id prefixed by a binding (`http:start-next/order`, the id a run
    /// reports): it selects (or skips) that case over that binding only, so a case selected
    /// only that way then runs over that binding alone.
    pub fn filter(&mut self, only: &[String], skip: &[String]) {
        self.cases.retain_mut(|c| {
            let over: Vec<Binding> = BINDINGS.into_iter().filter(|&b| c.runs_over(b)).collect();
            let kept: Vec<Binding> = over
                .iter()
                .copied()
                .filter(|&b| only.is_empty() || only.iter().any(|l| c.selected_by(l, b)))
                .filter(|&b| !skip.iter().any(|l| c.selected_by(l, b)))
                .collect();
            if kept.len() < over.len() {
                c.bindings.clone_from(&kept);
            }
            !kept.is_empty()
        });
    }
}

/// Every binding, in the order a run covers them.
const BINDINGS: [Binding; 2] = [Binding::Http, Binding::Mqtt];

impl PlannedCase {
    /// Whether `label` names this case over `binding`: a requirement ID, a tag, its id, or its
    /// id prefixed by the binding's name.
    fn selected_by(&self, label: &str, binding: Binding) -> bool {
        self.matches(label)
            || self.id == label
            || label
                .strip_prefix(binding.name())
                .and_then(|rest| rest.strip_prefix(':'))
                == Some(self.id.as_str())
    }
}

/// One retry criterion.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrySpec {
    /// FAILED, TIMED_OUT or ALL.
    pub failure_type: String,
    /// How many retries.
    pub number_of_retries: u32,
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn case(id: &str, bindings: Vec<Binding>) -> PlannedCase {
        PlannedCase {
            id: id.into(),
            suite: "s".into(),
            name: id.into(),
            description: None,
            source: None,
            requirements: vec![jobcert_contract::req::SN_NEXT_ORDER],
            tags: vec!["order".into()],
            bindings,
            things: vec![],
            absent_things: vec![],
            jobs: vec![],
            steps: vec![],
        }
    }

    /// The ids of the cases `plan` runs over each binding, prefixed as a run reports them.
    fn run_ids(plan: &Plan) -> Vec<String> {
        BINDINGS
            .into_iter()
            .flat_map(|b| plan.over(b).cases.into_iter().map(|c| c.id))
            .collect()
    }

    #[rstest]
    #[case::everything(&[], &[], &["http:s/a", "http:s/b", "http:s/h", "mqtt:s/a", "mqtt:s/b"])]
    #[case::by_id(&["s/a"], &[], &["http:s/a", "mqtt:s/a"])]
    #[case::by_requirement(&["SN-NEXT-ORDER"], &["s/b"], &["http:s/a", "mqtt:s/a"])]
    #[case::by_tag(&["order"], &[], &["http:s/a", "http:s/b", "mqtt:s/a", "mqtt:s/b"])]
    #[case::by_http_id(&["http:s/a"], &[], &["http:s/a"])]
    #[case::by_mqtt_id(&["mqtt:s/a"], &[], &["mqtt:s/a"])]
    #[case::both_prefixed(&["mqtt:s/a", "http:s/a"], &[], &["http:s/a", "mqtt:s/a"])]
    #[case::plain_id_wins(&["mqtt:s/a", "s/a"], &[], &["http:s/a", "mqtt:s/a"])]
    #[case::skip_one_binding(&[], &["mqtt:s/b"], &["http:s/a", "http:s/b", "http:s/h", "mqtt:s/a"])]
    #[case::only_binding_skipped(&["s/h"], &["http:s/h"], &[])]
    #[case::prefix_of_another_binding(&["mqtt:s/h"], &[], &[])]
    #[case::no_such_prefix(&["coap:s/a"], &[], &[])]
    #[case::prefix_without_colon(&["https/a"], &[], &[])]
    fn filter_selects_cases_over_bindings(
        #[case] only: &[&str],
        #[case] skip: &[&str],
        #[case] expected: &[&str],
    ) {
        let mut plan = Plan {
            cases: vec![
                case("s/a", vec![]),
                case("s/b", vec![]),
                case("s/h", vec![Binding::Http]),
            ],
        };
        plan.cases[1].requirements.clear();
        plan.cases[2].tags.clear();
        plan.cases[2].requirements.clear();
        let strings = |l: &[&str]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        plan.filter(&strings(only), &strings(skip));
        assert_eq!(run_ids(&plan), expected);
    }
}
