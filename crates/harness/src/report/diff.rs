//! What changed between two conformance runs, read from their `summary.json` files: the
//! requirements whose verdict moved, and each operation's p50 and p99 latency. For nightly CI,
//! where the question is "what broke since yesterday", not "what is broken".

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jobcert_contract::schemas;
use serde::Deserialize;

/// Schema of a conformance run's `summary.json`, relative to `schemas/`.
const SUMMARY_SCHEMA: &str = "report/summary.schema.json";
/// The coverage verdict of a requirement no case exercised.
const UNTESTED: &str = "untested";
/// The coverage verdict of a failed requirement.
const FAIL: &str = "fail";

/// A summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a conformance run's summary.
    #[error("{path} is not a conformance run's summary.json: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// The parts of a `summary.json` a diff reads.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryView {
    coverage: Vec<CoverageRow>,
    latency: Vec<LatencyRow>,
}

#[derive(Debug, Clone, Deserialize)]
struct CoverageRow {
    id: String,
    verdict: String,
}

#[derive(Debug, Clone, Deserialize)]
struct LatencyRow {
    operation: String,
    outcome: String,
    p50_us: u64,
    p99_us: u64,
}

/// Reads the `summary.json` of the run folder `dir`, checked against its schema.
pub fn read_summary(dir: &Path) -> Result<SummaryView, DiffError> {
    let path = dir.join("summary.json");
    let format = |message: String| DiffError::Format {
        path: path.clone(),
        message,
    };
    let text = std::fs::read(&path).map_err(|source| DiffError::Io {
        path: path.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format(e.to_string()))?;
    let schema = schemas()
        .get(SUMMARY_SCHEMA)
        .map_err(|e| format(e.to_string()))?;
    if let Some(v) = schema.first_violation(&value) {
        return Err(format(v.to_string()));
    }
    serde_json::from_value(value).map_err(|e| format(e.to_string()))
}

/// A requirement whose coverage verdict moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Requirement ID.
    pub requirement: String,
    /// Its verdict in the old run (`untested` when the old run did not list it).
    pub old: String,
    /// Its verdict in the new run.
    pub new: String,
}

/// Which list a requirement's move belongs to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Failing,
    Passing,
    Untested,
}

/// The move from verdict `old` to `new`: failing is any move into `fail`; passing is a move
/// from `fail` or `untested` into a tested verdict that is not a failure; untested is a move
/// from a tested verdict into `untested`.
fn classify(old: &str, new: &str) -> Option<Move> {
    match (old, new) {
        (o, n) if o == n => None,
        (_, FAIL) => Some(Move::Failing),
        (FAIL | UNTESTED, _) => Some(Move::Passing),
        (_, UNTESTED) => Some(Move::Untested),
        _ => None,
    }
}

/// One operation's latency (for one outcome) in either run, `(p50, p99)` in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyChange {
    /// Operation.
    pub operation: String,
    /// `answered`, `timeout` or `failed`.
    pub outcome: String,
    /// In the old run, if it had any.
    pub old: Option<(u64, u64)>,
    /// In the new run, if it had any.
    pub new: Option<(u64, u64)>,
}

/// Everything that changed from one run to the next.
#[derive(Debug, Clone, Default)]
pub struct RunDiff {
    /// Requirements that fail now and did not before.
    pub newly_failing: Vec<Change>,
    /// Requirements that pass now and failed or were untested before.
    pub newly_passing: Vec<Change>,
    /// Requirements tested before and untested now.
    pub newly_untested: Vec<Change>,
    /// Latency per operation and outcome, in operation order.
    pub latency: Vec<LatencyChange>,
}

impl RunDiff {
    /// Whether anything fails now that did not before: the nightly job's failure.
    pub fn regressed(&self) -> bool {
        !self.newly_failing.is_empty()
    }
}

/// What changed from `old` to `new`, requirements in the new run's catalogue order.
pub fn diff(old: &SummaryView, new: &SummaryView) -> RunDiff {
    let before: BTreeMap<&str, &str> = old
        .coverage
        .iter()
        .map(|r| (r.id.as_str(), r.verdict.as_str()))
        .collect();
    let mut out = RunDiff::default();
    for row in &new.coverage {
        let was = before.get(row.id.as_str()).copied().unwrap_or(UNTESTED);
        let change = Change {
            requirement: row.id.clone(),
            old: was.to_string(),
            new: row.verdict.clone(),
        };
        match classify(was, &row.verdict) {
            Some(Move::Failing) => out.newly_failing.push(change),
            Some(Move::Passing) => out.newly_passing.push(change),
            Some(Move::Untested) => out.newly_untested.push(change),
            None => {}
        }
    }
    let mut latency: BTreeMap<(&str, &str), LatencyChange> = BTreeMap::new();
    for (rows, is_new) in [(&old.latency, false), (&new.latency, true)] {
        for row in rows {
            let entry = latency
                .entry((&row.operation, &row.outcome))
                .or_insert_with(|| LatencyChange {
                    operation: row.operation.clone(),
                    outcome: row.outcome.clone(),
                    old: None,
                    new: None,
                });
            let slot = if is_new {
                &mut entry.new
            } else {
                &mut entry.old
            };
            *slot = Some((row.p50_us, row.p99_us));
        }
    }
    out.latency = latency.into_values().collect();
    out
}

/// `old → new` in microseconds, with the change in per cent when both exist.
fn quantile(old: Option<u64>, new: Option<u64>) -> String {
    let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let change = match (old, new) {
        (Some(o), Some(n)) if o > 0 => {
            format!(" ({:+.0}%)", (n as f64 - o as f64) * 100.0 / o as f64)
        }
        _ => String::new(),
    };
    format!("{} → {}{change}", show(old), show(new))
}

impl fmt::Display for RunDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (title, changes) in [
            ("newly failing", &self.newly_failing),
            ("newly passing", &self.newly_passing),
            ("newly untested", &self.newly_untested),
        ] {
            writeln!(f, "{title}: {}", changes.len())?;
            for c in changes {
                writeln!(f, "  {} ({} → {})", c.requirement, c.old, c.new)?;
            }
        }
        if !self.latency.is_empty() {
            writeln!(f, "latency (µs, old → new):")?;
        }
        for l in &self.latency {
            writeln!(
                f,
                "  {} {}: p50 {}, p99 {}",
                l.operation,
                l.outcome,
                quantile(l.old.map(|q| q.0), l.new.map(|q| q.0)),
                quantile(l.old.map(|q| q.1), l.new.map(|q| q.1)),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::unchanged("pass", "pass", None)]
    #[case::pass_to_fail("pass", "fail", Some(Move::Failing))]
    #[case::untested_to_fail("untested", "fail", Some(Move::Failing))]
    #[case::warn_to_fail("warn", "fail", Some(Move::Failing))]
    #[case::fail_to_pass("fail", "pass", Some(Move::Passing))]
    #[case::untested_to_warn("untested", "warn", Some(Move::Passing))]
    #[case::fail_to_deviation("fail", "deviation", Some(Move::Passing))]
    #[case::pass_to_untested("pass", "untested", Some(Move::Untested))]
    #[case::fail_to_untested("fail", "untested", Some(Move::Passing))]
    #[case::pass_to_warn("pass", "warn", None)]
    fn verdict_moves_are_classified(
        #[case] old: &str,
        #[case] new: &str,
        #[case] expected: Option<Move>,
    ) {
        assert_eq!(classify(old, new), expected);
    }

    fn view(coverage: &[(&str, &str)], latency: &[(&str, u64, u64)]) -> SummaryView {
        SummaryView {
            coverage: coverage
                .iter()
                .map(|(id, verdict)| CoverageRow {
                    id: id.to_string(),
                    verdict: verdict.to_string(),
                })
                .collect(),
            latency: latency
                .iter()
                .map(|(operation, p50_us, p99_us)| LatencyRow {
                    operation: operation.to_string(),
                    outcome: "answered".into(),
                    p50_us: *p50_us,
                    p99_us: *p99_us,
                })
                .collect(),
        }
    }

    #[test]
    fn a_diff_lists_moves_and_latency_per_operation() {
        let old = view(
            &[("A", "pass"), ("B", "fail"), ("C", "pass")],
            &[("Op1", 100, 400), ("Op2", 10, 20)],
        );
        let new = view(
            &[
                ("A", "fail"),
                ("B", "pass"),
                ("C", "untested"),
                ("D", "pass"),
            ],
            &[("Op1", 150, 200)],
        );
        let d = diff(&old, &new);
        assert!(d.regressed());
        let ids = |c: &[Change]| c.iter().map(|c| c.requirement.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d.newly_failing), ["A"]);
        assert_eq!(ids(&d.newly_passing), ["B", "D"]);
        assert_eq!(ids(&d.newly_untested), ["C"]);
        let text = d.to_string();
        assert!(text.contains("  A (pass → fail)"), "{text}");
        assert!(
            text.contains("Op1 answered: p50 100 → 150 (+50%), p99 400 → 200 (-50%)"),
            "{text}"
        );
        assert!(
            text.contains("Op2 answered: p50 10 → -, p99 20 → -"),
            "{text}"
        );
        assert!(!diff(&new, &new).regressed());
    }
}
