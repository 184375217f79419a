//! `summary.json` of a fleet run, described by `schemas/report/fleet-summary.schema.json`: the
//! verdict, the latency and throughput figures, and the whole record, which
//! [`read_record`] reads back so that shard summaries merge exactly.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FleetReport, Stat, Throughput, stats, throughput};
use crate::record::FleetRecord;
use crate::verdict::fleet::FleetVerdict;

/// The `kind` of a fleet summary.
const KIND: &str = "fleet";

#[derive(Serialize)]
struct Summary<'a> {
    kind: &'static str,
    scenario: &'a str,
    run_id: &'a str,
    passed: bool,
    verdict: &'a FleetVerdict,
    stats: Vec<Stat>,
    throughput: Throughput,
    record: &'a FleetRecord,
}

/// The summary, pretty-printed JSON.
pub(super) fn json(report: &FleetReport<'_>) -> serde_json::Result<String> {
    let record = report.record;
    serde_json::to_string_pretty(&Summary {
        kind: KIND,
        scenario: &record.scenario,
        run_id: &record.run_id,
        passed: report.verdict.passed,
        verdict: report.verdict,
        stats: stats(record),
        throughput: throughput(record),
        record,
    })
}

/// Why a `summary.json` could not be read as a fleet record.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The file is JSON but not the summary of a fleet run.
    #[error("{}: not the summary of a fleet run (no \"kind\": \"fleet\")", path.display())]
    NotFleet {
        /// The file.
        path: PathBuf,
    },
    /// The file is not JSON, or its record is malformed.
    #[error("{}: at {at}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Where in the document, e.g. `record.intervals[3].latency`.
        at: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct Kind {
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Stored {
    record: FleetRecord,
}

/// Reads the [`FleetRecord`] back from a `summary.json` written by [`super::write_all`].
pub fn read_record(summary_json: &Path) -> Result<FleetRecord, ReadError> {
    let path = || summary_json.to_path_buf();
    let text = fs::read_to_string(summary_json).map_err(|source| ReadError::Io {
        path: path(),
        source,
    })?;
    match serde_json::from_str::<Kind>(&text) {
        Ok(Kind { kind: Some(kind) }) if kind == KIND => {}
        // Malformed JSON: the full read below says where.
        Err(e) if !e.is_data() => {}
        _ => return Err(ReadError::NotFleet { path: path() }),
    }
    let mut de = serde_json::Deserializer::from_str(&text);
    let stored: Stored =
        serde_path_to_error::deserialize(&mut de).map_err(|e| ReadError::Json {
            path: path(),
            at: e.path().to_string(),
            source: e.into_inner(),
        })?;
    de.end().map_err(|source| ReadError::Json {
        path: path(),
        at: ".".into(),
        source,
    })?;
    Ok(stored.record)
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use jobcert_contract::schemas;

    fn sample_value() -> serde_json::Value {
        let (record, verdict) = fixture::sample();
        let text = json(&FleetReport {
            record: &record,
            verdict: &verdict,
        })
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("jobcert-fleet-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn summary_validates_against_its_schema() {
        let value = sample_value();
        let schema = schemas().get("report/fleet-summary.schema.json").unwrap();
        assert_eq!(schema.violations(&value), []);
        assert_eq!(value["kind"], "fleet");
        assert_eq!(value["passed"], false);
        assert_eq!(value["stats"].as_array().unwrap().len(), 4);
        assert_eq!(
            value["stats"][1]["operation"],
            "StartNextPendingJobExecution"
        );
        assert_eq!(value["throughput"]["seconds"], 3.0);

        let mut broken = value.clone();
        broken["stats"][0].as_object_mut().unwrap().remove("p99_ms");
        assert_eq!(schema.violations(&broken).len(), 1);
        let mut broken = value;
        broken["kind"] = "conformance".into();
        assert_eq!(schema.violations(&broken).len(), 1);
    }

    #[test]
    fn the_record_round_trips() {
        let (record, verdict) = fixture::sample();
        let dir = std::env::temp_dir().join(format!("jobcert-fleet-{}", uuid::Uuid::new_v4()));
        super::super::write_all(
            &dir,
            &FleetReport {
                record: &record,
                verdict: &verdict,
            },
        )
        .unwrap();
        let back = read_record(&dir.join("summary.json")).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&record).unwrap()
        );
        assert!(record.latency.histograms().eq(back.latency.histograms()));
        assert_eq!(back.intervals.len(), record.intervals.len());
        for (a, b) in record.intervals.iter().zip(&back.intervals) {
            assert_eq!((a.start_ms, a.length_ms), (b.start_ms, b.length_ms));
            assert!(a.latency.histograms().eq(b.latency.histograms()));
        }
        assert_eq!(back.findings, record.findings);
        assert_eq!(back.schedule, record.schedule);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shards_lateness_histograms_add_up() {
        let (mut whole, _) = fixture::sample();
        let (other, _) = fixture::sample();
        whole.merge(other);
        let late = whole.schedule.lateness.combined(|_| true);
        assert_eq!(late.len(), 4);
        assert_eq!(late.max(), late.highest_equivalent(12_500));
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let conformance = temp_file("summary.json", r#"{"run_id":"r-1","cases":[]}"#);
        let err = read_record(&conformance).unwrap_err();
        assert!(matches!(err, ReadError::NotFleet { .. }), "{err}");

        let bad = temp_file(
            "summary.json",
            r#"{"kind":"fleet","record":{"scenario":"s","run_id":7}}"#,
        );
        match read_record(&bad).unwrap_err() {
            ReadError::Json { at, path, .. } => {
                assert_eq!(at, "record.run_id");
                assert_eq!(path, bad);
            }
            other => panic!("{other}"),
        }

        let cut = temp_file("summary.json", r#"{"kind":"fleet","record":{"#);
        assert!(matches!(
            read_record(&cut).unwrap_err(),
            ReadError::Json { .. }
        ));

        let missing = conformance.with_file_name("absent.json");
        let err = read_record(&missing).unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }));
        assert!(err.to_string().starts_with(&missing.display().to_string()));
        for p in [conformance, bad, cut] {
            fs::remove_dir_all(p.parent().unwrap()).unwrap();
        }
    }
}
