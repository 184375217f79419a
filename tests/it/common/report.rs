//! Reports read back: a conformance run's and a fleet run's `summary.json`, checked against
//! their schemas, and the numbers tests pick out of them.

use std::path::{Path, PathBuf};

use jobcert_contract::schemas;
use serde_json::Value;

/// The schema of a conformance run's `summary.json`, relative to `schemas/`.
pub const SUMMARY_SCHEMA: &str = "report/summary.schema.json";
/// The schema of a fleet run's `summary.json`, relative to `schemas/`.
pub const FLEET_SUMMARY_SCHEMA: &str = "report/fleet-summary.schema.json";

/// `path` as JSON, checked against the schema `schema`.
fn checked(path: &Path, schema: &str) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let summary: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let violations = schemas()
        .get(schema)
        .expect("the summary schema compiles")
        .violations(&summary);
    assert!(
        violations.is_empty(),
        "{} breaks its schema: {violations:#?}",
        path.display()
    );
    summary
}

/// The one run folder a command wrote under `reports`.
pub fn run_folder(reports: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap_or_else(|e| panic!("no report folder {}: {e}", reports.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    let [run] = runs.as_slice() else {
        panic!("one run folder expected: {runs:?}");
    };
    run.clone()
}

/// The `summary.json` of the one run folder under `reports`, unchecked.
pub fn raw_summary(reports: &Path) -> Value {
    let file = run_folder(reports).join("summary.json");
    serde_json::from_slice(
        &std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .expect("summary.json is JSON")
}

/// The `summary.json` of the one conformance run folder under `reports`, checked against its
/// schema; `junit.xml` and `report.html` must be there too.
pub fn run_summary(reports: &Path) -> Value {
    let run = &run_folder(reports);
    for file in ["junit.xml", "report.html"] {
        assert!(run.join(file).is_file(), "{} has no {file}", run.display());
    }
    checked(&run.join("summary.json"), SUMMARY_SCHEMA)
}

/// The `summary.json` of the fleet report in `dir`, checked against its schema; the other
/// report files must be there too.
pub fn summary(dir: &Path) -> Value {
    for file in ["junit.xml", "report.html", "latency.hlog"] {
        assert!(dir.join(file).is_file(), "{} has no {file}", dir.display());
    }
    let summary = checked(&dir.join("summary.json"), FLEET_SUMMARY_SCHEMA);
    assert_eq!(summary["kind"], "fleet");
    summary
}

/// Requests of `operation` that ended in `outcome`, from a summary's record.
pub fn count(summary: &Value, operation: &str, outcome: &str) -> u64 {
    summary["record"]["requests"][operation][outcome]
        .as_u64()
        .unwrap_or(0)
}

/// The sum of a summary's final statuses.
pub fn statuses_total(summary: &Value) -> u64 {
    summary["record"]["statuses"]
        .as_object()
        .expect("record.statuses is an object")
        .values()
        .map(|v| v.as_u64().expect("a count"))
        .sum()
}
