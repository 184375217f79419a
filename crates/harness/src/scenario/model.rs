//! The YAML scenario format, as written by users (see `schemas/scenario.schema.json`).

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::plan::RetrySpec;
use jobcert_contract::Binding;

/// One scenario file: a suite of cases.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ScenarioFile {
    /// Suite name; the file stem when absent.
    pub suite: Option<String>,
    /// What the suite is about.
    pub description: Option<String>,
    /// Tags given to every case.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The cases.
    pub cases: Vec<Spanned<CaseSpec>>,
}

/// One case: fixtures to seed, then steps.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CaseSpec {
    /// Name, unique in its file.
    pub name: Spanned<String>,
    /// What the case shows.
    pub description: Option<String>,
    /// Requirement IDs the case exercises.
    #[serde(default)]
    pub requirements: Vec<Spanned<String>>,
    /// Tags for `--only` / `--skip`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The transports the case runs over (`http`, `mqtt`); all when absent.
    #[serde(default)]
    pub transports: Vec<Binding>,
    /// Logical names of the things to create; each run gives them run-unique names.
    #[serde(default)]
    pub things: Vec<Spanned<String>>,
    /// Logical names of things that get run-unique names but are never created.
    #[serde(default)]
    pub absent_things: Vec<Spanned<String>>,
    /// Jobs to create, in order.
    #[serde(default)]
    pub jobs: Vec<Spanned<JobSpecYaml>>,
    /// What to do.
    pub steps: Vec<Spanned<StepSpec>>,
}

/// A job fixture.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JobSpecYaml {
    /// Logical job id.
    pub id: String,
    /// Logical names of the target things.
    pub targets: Vec<Spanned<String>>,
    /// The job document (any JSON value; sent as its text).
    #[serde(default)]
    pub document: Option<Value>,
    /// timeoutConfig.inProgressTimeoutInMinutes.
    pub in_progress_timeout_minutes: Option<i64>,
    /// jobExecutionsRetryConfig.criteriaList.
    #[serde(default)]
    pub retry: Vec<RetrySpec>,
}

/// An operation's input as written: members with where each value stands.
pub type Input = std::collections::BTreeMap<String, Spanned<Value>>;

/// One step: exactly one action, and what to expect of it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StepSpec {
    /// StartNextPendingJobExecution.
    pub start_next: Option<Input>,
    /// UpdateJobExecution.
    pub update: Option<Input>,
    /// DescribeJobExecution.
    pub describe: Option<Input>,
    /// GetPendingJobExecutions.
    pub get_pending: Option<Input>,
    /// CancelJob (control plane).
    pub cancel_job: Option<CancelSpec>,
    /// Let target time pass.
    pub wait: Option<WaitSpec>,
    /// Wait for a notification (MQTT only).
    pub notification: Option<NotificationSpec>,
    /// Send this text as the body instead of the JSON of the input.
    pub raw_body: Option<String>,
    /// Use this path (with `{thing}` and `{job}` filled in) instead of the bound one (HTTP).
    pub raw_path: Option<String>,
    /// Publish to this topic (with `{thing}` and `{job}` filled in) instead of the bound one (MQTT).
    pub raw_topic: Option<String>,
    /// What the answer must be, beyond what the state model predicts.
    pub expect: Option<ExpectSpec>,
    /// Longest wait for the answer, in milliseconds of real time.
    pub deadline_ms: Option<u64>,
}

/// CancelJob.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CancelSpec {
    /// Logical job id.
    pub job: String,
    /// Cancel IN_PROGRESS executions too.
    #[serde(default)]
    pub force: bool,
}

/// A notification the thing's device must receive after the previous step.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NotificationSpec {
    /// Logical thing name.
    pub thing: String,
    /// `notify` or `notify-next`.
    pub topic: String,
    /// notify-next: the logical job now at the head; absent = the list became empty.
    pub job: Option<String>,
    /// notify: logical jobs listed as QUEUED.
    #[serde(default)]
    pub queued: Vec<String>,
    /// notify: logical jobs listed as IN_PROGRESS.
    #[serde(default)]
    pub in_progress: Vec<String>,
}

/// A wait in the target's time.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WaitSpec {
    /// Minutes of target time.
    pub minutes: f64,
}

/// Explicit expectations, as written (see [`super::plan::Expectation`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExpectSpec {
    /// HTTP status.
    pub status: Option<u16>,
    /// Error type, as the SDKs read it.
    pub error: Option<Spanned<String>>,
    /// An error type the answer must not be.
    pub not_error: Option<Spanned<String>>,
    /// Body members by dotted path.
    #[serde(default)]
    pub body: Map<String, Value>,
    /// After a refusal, check nothing changed.
    #[serde(default)]
    pub state_unchanged: bool,
    /// The requirement these expectations check.
    pub requirement: Option<Spanned<String>>,
    /// Stricter than the requirement allows (one of its allowed answers): judged as written
    /// only under the strict profile.
    #[serde(default)]
    pub strict_only: bool,
}
