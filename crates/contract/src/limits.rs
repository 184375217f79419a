//! Request-rate quotas as data (`schemas/limits/<service>-<date>.json`, checked against
//! `schemas/limits.schema.json`): token buckets shared by the operations they name, kept for the
//! account or for each MQTT client id, each figure with its source. The reference enforces them;
//! no figure lives in code.

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
