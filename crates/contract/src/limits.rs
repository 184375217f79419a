//! Request-rate quotas and state bounds as data (`schemas/limits/<service>-<date>.json`, checked
//! against `schemas/limits.schema.json`): token buckets shared by the operations they name, kept
//! for the account or for each MQTT client id, and bounds on the state an account keeps, each
//! figure with its source. The reference enforces them; no figure lives in code.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::schemas::{file, files, schemas};

/// Which API a bucket's operations belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    /// The device API (HTTP data plane and MQTT).
    Data,
    /// The control plane (service `iot`).
    Control,
    /// The MQTT message broker itself: its `Connect`s.
    Broker,
}

/// Whom one bucket is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Per {
    /// One bucket for the account (a server serves one).
    #[default]
    Account,
    /// A bucket of its own for each MQTT client id.
    ClientId,
}

/// Where a figure was read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The page.
    pub url: String,
    /// When it was read (YYYY-MM-DD).
    pub read: String,
    /// Whether the figure was seen on that page.
    #[serde(default)]
    pub verified: bool,
    /// What the page says, or why the figure could not be checked.
    pub note: String,
}

/// One budget shared by the operations it names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BucketLimit {
    /// Its name in messages.
    pub name: String,
    /// The API of its operations.
    pub plane: Plane,
    /// Operation names (the model's; `Connect` for the broker).
    pub operations: Vec<String>,
    /// Whom one bucket is kept for.
    #[serde(default)]
    pub per: Per,
    /// Sustained requests a second; `None` is not enforced.
    pub per_second: Option<u32>,
    /// Requests the full bucket holds.
    pub burst: Option<u32>,
    /// Where the figure comes from.
    pub source: Source,
}

impl BucketLimit {
    /// Whether this bucket counts `operation` of `plane`.
    pub fn covers(&self, plane: Plane, operation: &str) -> bool {
        self.plane == plane && self.operations.iter().any(|o| o == operation)
    }
}

/// Whom a state bound's count is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The account (a server serves one).
    Account,
    /// Each thing.
    Thing,
    /// Each job.
    Job,
    /// Each job execution.
    Execution,
}

/// What a state bound counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Resources.
    Count,
    /// UTF-8 bytes.
    Bytes,
    /// Characters of text.
    Characters,
    /// Entries of a map.
    Entries,
}

/// What happens past a state bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Past {
    /// The request that would exceed it is refused.
    #[default]
    Refused,
    /// The oldest terminal resource is forgotten to make room.
    OldestTerminalForgotten,
}

/// AWS's figure for a state bound, and where it was read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsFigure {
    /// The figure; `None` when none could be verified.
    pub figure: Option<u64>,
    /// Where it comes from, or why it could not be read.
    pub source: Source,
}

/// Whose figure the reference enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnforcedBy {
    /// AWS's figure.
    Aws,
    /// A bound of the reference's own.
    Reference,
    /// A request schema's maximum, enforced by request validation.
    Schema,
    /// Nothing.
    None,
}

/// What the reference enforces of a state bound.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enforced {
    /// Whose figure.
    pub by: EnforcedBy,
    /// The figure (with `Aws` and `Reference`).
    pub figure: Option<u64>,
    /// `file.json#/pointer` of the schema member holding it (with `Schema`).
    pub schema: Option<String>,
    /// Why the reference holds a bound of its own (with `Reference`).
    pub why: Option<String>,
}

/// The error exceeding a state bound gives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateError {
    /// The plane whose row of `errors.json` it is.
    pub plane: Plane,
    /// The error type.
    #[serde(rename = "type")]
    pub error_type: String,
}

/// One bound on the state an account keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateLimit {
    /// Its name, by which the reference looks it up.
    pub name: String,
    /// What it counts, in words.
    pub counts: String,
    /// Whom a count is kept for.
    pub scope: Scope,
    /// What it counts in.
    pub unit: Unit,
    /// What happens past it.
    #[serde(default)]
    pub past: Past,
    /// AWS's figure.
    pub aws: AwsFigure,
    /// What the reference enforces.
    pub enforced: Enforced,
    /// The error exceeding it gives.
    pub error: StateError,
}

impl StateLimit {
    /// The figure the reference holds requests to itself; `None` when request validation holds
    /// it (a schema's maximum) or nothing does.
    pub fn bound(&self) -> Option<u64> {
        match self.enforced.by {
            EnforcedBy::Aws | EnforcedBy::Reference => self.enforced.figure,
            EnforcedBy::Schema | EnforcedBy::None => None,
        }
    }
}

/// A whole limits file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// What the file is, for its readers.
    #[serde(rename = "$comment", default)]
    pub comment: String,
    /// The service the figures are of.
    pub service: String,
    /// When the file was last checked against its sources.
    pub read: String,
    /// The budgets.
    pub buckets: Vec<BucketLimit>,
    /// The bounds on state.
    #[serde(default)]
    pub state: Vec<StateLimit>,
}

/// Why a limits text is refused.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not what `limits.schema.json` admits.
    #[error("{0}")]
    Schema(String),
    /// The schema itself did not load.
    #[error(transparent)]
    Contract(#[from] crate::SchemaError),
}

/// The schema every limits file follows.
pub const LIMITS_SCHEMA: &str = "limits.schema.json";

impl Limits {
    /// Reads a limits file's text, checked against [`LIMITS_SCHEMA`].
    pub fn parse(text: &str) -> Result<Self, LimitsError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        if let Some(v) = schemas().get(LIMITS_SCHEMA)?.first_violation(&value) {
            return Err(LimitsError::Schema(v.to_string()));
        }
        Ok(serde_json::from_value(value)?)
    }

    /// The state bound named `name`.
    pub fn state_limit(&self, name: &str) -> Option<&StateLimit> {
        self.state.iter().find(|s| s.name == name)
    }

    /// The newest embedded AWS limits file (`limits/aws-<date>.json`, the latest date).
    ///
    /// # Panics
    /// If none is embedded or it does not read: a build defect the tests catch.
    pub fn aws() -> &'static Self {
        static AWS: OnceLock<Limits> = OnceLock::new();
        AWS.get_or_init(|| {
            let path = aws_path();
            let text = file(path).unwrap_or_default();
            Self::parse(text).unwrap_or_else(|e| panic!("{path}: {e}"))
        })
    }
}

/// The path of the newest embedded AWS limits file.
pub fn aws_path() -> &'static str {
    files()
        .map(|(path, _)| path)
        .filter(|p| p.starts_with("limits/aws-") && p.ends_with(".json"))
        .max()
        .expect("an embedded limits/aws-<date>.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_file_reads_and_the_data_plane_budgets_are_shared_as_aws_documents() {
        let limits = Limits::aws();
        let bucket_of = |op: &str| {
            let found: Vec<&str> = limits
                .buckets
                .iter()
                .filter(|b| b.covers(Plane::Data, op))
                .map(|b| b.name.as_str())
                .collect();
            assert_eq!(found.len(), 1, "{op} is in {found:?}");
            found[0]
        };
        assert_eq!(
            bucket_of("StartNextPendingJobExecution"),
            bucket_of("UpdateJobExecution")
        );
        assert_eq!(
            bucket_of("DescribeJobExecution"),
            bucket_of("GetPendingJobExecutions")
        );
        assert_ne!(
            bucket_of("UpdateJobExecution"),
            bucket_of("DescribeJobExecution")
        );
        let connect: Vec<Per> = limits
            .buckets
            .iter()
            .filter(|b| b.covers(Plane::Broker, "Connect"))
            .map(|b| b.per)
            .collect();
        assert_eq!(connect, [Per::Account, Per::ClientId]);
        for b in &limits.buckets {
            assert_eq!(b.per_second.is_some(), b.burst.is_some(), "{}", b.name);
            assert!(
                b.source.verified || !b.source.note.is_empty(),
                "{}: an unverified figure says why",
                b.name
            );
        }
    }

    /// The member of an embedded schema a `file.json#/pointer` names.
    fn schema_member(at: &str) -> serde_json::Value {
        let (path, pointer) = at.split_once('#').expect("file#pointer");
        let text = file(path).unwrap_or_else(|| panic!("{path} is not embedded"));
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        value
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{at} names nothing"))
            .clone()
    }

    #[test]
    fn every_state_bound_of_the_aws_file_holds_together() {
        let limits = Limits::aws();
        assert!(!limits.state.is_empty());
        for s in &limits.state {
            let errors = crate::errors();
            let row = match s.error.plane {
                Plane::Data => errors.data_plane.get(&s.error.error_type),
                Plane::Control => errors.control_plane.get(&s.error.error_type),
                Plane::Broker => None,
            };
            assert!(
                row.is_some(),
                "{}: {:?} is no error of its plane",
                s.name,
                s.error
            );
            assert!(
                s.aws.source.verified == s.aws.figure.is_some() || !s.aws.source.note.is_empty(),
                "{}",
                s.name
            );
            match s.enforced.by {
                EnforcedBy::Aws => assert_eq!(s.enforced.figure, s.aws.figure, "{}", s.name),
                EnforcedBy::Reference => assert!(s.enforced.why.is_some(), "{}", s.name),
                EnforcedBy::Schema => {
                    let at = s.enforced.schema.as_deref().unwrap();
                    let member = schema_member(at);
                    let max = member["maxLength"].as_u64().or(member["maxItems"].as_u64());
                    assert_eq!(max, s.aws.figure, "{}: {at} holds another figure", s.name);
                }
                EnforcedBy::None => assert!(s.bound().is_none(), "{}", s.name),
            }
        }
    }

    #[rstest::rstest]
    #[case::aws_without_a_figure(r#"{"by":"aws"}"#)]
    #[case::reference_without_why(r#"{"by":"reference","figure":5}"#)]
    #[case::schema_with_a_figure(r#"{"by":"schema","schema":"common.json#/x","figure":5}"#)]
    #[case::none_with_a_figure(r#"{"by":"none","figure":5}"#)]
    fn a_state_bound_that_does_not_say_whose_figure_it_is_is_refused(#[case] enforced: &str) {
        let file_with = |enforced: &str| {
            format!(
                r#"{{"service":"s","read":"2026-01-01","buckets":[{{"name":"c","plane":"broker","operations":["Connect"],"perSecond":null,"burst":null,"source":{{"url":"https://x","read":"2026-01-01","note":"n"}}}}],"state":[{{"name":"b","counts":"c","scope":"thing","unit":"count","aws":{{"figure":null,"source":{{"url":"https://x","read":"2026-01-01","note":"n"}}}},"enforced":{enforced},"error":{{"plane":"control","type":"LimitExceededException"}}}}]}}"#
            )
        };
        let e = Limits::parse(&file_with(enforced)).unwrap_err();
        assert!(matches!(e, LimitsError::Schema(_)), "{e}");
        let fixed = file_with(r#"{"by":"reference","figure":5,"why":"w"}"#);
        let limits = Limits::parse(&fixed).unwrap();
        assert_eq!(limits.state_limit("b").and_then(StateLimit::bound), Some(5));
    }

    #[test]
    fn a_file_the_schema_refuses_is_named() {
        let text = r#"{"service":"s","read":"2026-01-01","buckets":[{"name":"w","plane":"data","operations":["Nope"],"perSecond":1,"burst":1,"source":{"url":"https://x","read":"2026-01-01","note":"n"}}]}"#;
        let e = Limits::parse(text).unwrap_err();
        assert!(matches!(e, LimitsError::Schema(_)), "{e}");
    }

    #[rstest::rstest]
    #[case::a_connect_on_the_data_plane("data", "Connect", "account")]
    #[case::a_jobs_operation_on_the_broker("broker", "UpdateJobExecution", "account")]
    #[case::a_jobs_budget_per_client_id("data", "UpdateJobExecution", "clientId")]
    #[case::an_unknown_keeper("broker", "Connect", "thing")]
    fn a_bucket_mixing_the_broker_and_the_jobs_api_is_refused(
        #[case] plane: &str,
        #[case] operation: &str,
        #[case] per: &str,
    ) {
        let text = format!(
            r#"{{"service":"s","read":"2026-01-01","buckets":[{{"name":"c","plane":"{plane}","operations":["{operation}"],"per":"{per}","perSecond":1,"burst":1,"source":{{"url":"https://x","read":"2026-01-01","note":"n"}}}}]}}"#
        );
        let e = Limits::parse(&text).unwrap_err();
        assert!(matches!(e, LimitsError::Schema(_)), "{e}");
        let fixed = text
            .replace(r#""plane":"data""#, r#""plane":"broker""#)
            .replace("UpdateJobExecution", "Connect")
            .replace(r#""per":"thing""#, r#""per":"clientId""#);
        assert!(Limits::parse(&fixed).is_ok(), "{fixed}");
    }
}
