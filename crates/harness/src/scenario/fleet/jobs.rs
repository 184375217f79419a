//! The rollout as AWS shapes it: thing groups (with devices that join later) and jobs that
//! target them, each with CreateJob's own configuration members (`jobExecutionsRolloutConfig`,
//! `abortConfig`, `schedulingConfig`, …) as AWS spells them. The members are checked against
//! the control plane's CreateJob schema, the single source of their shapes and limits.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use jobcert_contract::ControlOperation;

/// A thing group the fleet creates and fills.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GroupSpec {
    /// Its name; the group is called `{run}-{name}`.
    pub name: String,
    /// The things in it from the start (default: every thing of the fleet).
    pub members: Option<Range>,
    /// Things added to it while the run goes on.
    pub joiners: Option<Joiners>,
}

/// Things by index: `count` of them from `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Range {
    /// The first index.
    #[serde(default)]
    pub from: u64,
    /// How many.
    pub count: u64,
}

impl Range {
    /// The indices.
    pub fn indices(&self) -> std::ops::Range<u64> {
        self.from..self.from.saturating_add(self.count)
    }
}

/// Things that join a group after the run started (a continuous job reaches them too).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Joiners {
    /// The first index.
    #[serde(default)]
    pub from: u64,
    /// How many.
    pub count: u64,
    /// When the first joins, in seconds of target time after the devices started.
    #[serde(default)]
    pub after_s: f64,
    /// How many join per minute of target time.
    pub per_minute: f64,
}

impl Joiners {
    /// The indices.
    pub fn indices(&self) -> std::ops::Range<u64> {
        self.from..self.from.saturating_add(self.count)
    }
}

/// A job of the rollout: its targets (groups of [`GroupSpec`]), when it is created, its
/// document, and CreateJob's other members as they are.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobSpec {
    /// Its name; the job id is `{run}-{id}`.
    pub id: String,
    /// The groups it targets, by their names in `rollout.groups`.
    pub targets: Vec<String>,
    /// When it is created, in seconds of target time after the devices started (0: before
    /// they start).
    #[serde(default)]
    pub at_s: f64,
    /// The job document (a mapping).
    pub document: Option<Value>,
    /// CreateJob's other members, as AWS spells them.
    #[serde(flatten)]
    pub create_job: Map<String, Value>,
}

/// The CreateJob members the fleet itself sets.
const SET_BY_THE_FLEET: [&str; 3] = ["jobId", "targets", "document"];

impl JobSpec {
    /// The job's document as CreateJob sends it.
    pub fn document_text(&self) -> String {
        self.document
            .clone()
            .unwrap_or_else(|| json!({ "operation": "update", "version": "1.0.0" }))
            .to_string()
    }

    /// Whether the job keeps reaching things that join its groups.
    pub fn continuous(&self) -> bool {
        self.create_job
            .get("targetSelection")
            .and_then(Value::as_str)
            == Some("CONTINUOUS")
    }

    /// Whether the job has abort criteria.
    pub fn aborts(&self) -> bool {
        self.create_job.contains_key("abortConfig")
    }

    /// What is wrong with the job's CreateJob members: the member at fault (path under the
    /// job) and why. Each must be one CreateJob has, and together they must fit its schema.
    pub fn problems(&self) -> Vec<(Vec<String>, String)> {
        let schema = ControlOperation::CreateJob
            .request_schema()
            .expect("control schemas are embedded");
        let known = schema.document()["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for member in self.create_job.keys() {
            if SET_BY_THE_FLEET.contains(&member.as_str()) {
                out.push((vec![member.clone()], "is set by the fleet".to_string()));
            } else if !known.contains_key(member) {
                out.push((
                    vec![member.clone()],
                    "is not a member of CreateJob".to_string(),
                ));
            }
        }
        if !out.is_empty() {
            return out;
        }
        let mut input = self.create_job.clone();
        input.insert("jobId".into(), json!("j"));
        input.insert(
            "targets".into(),
            json!(["arn:aws:iot:us-east-1:123456789012:thinggroup/g"]),
        );
        input.insert("document".into(), json!(self.document_text()));
        for v in schema.violations(&Value::Object(input)) {
            let at: Vec<String> = v
                .field
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            out.push((at, v.message));
        }
        out
    }
}
