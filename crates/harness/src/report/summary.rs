//! `summary.json`: the machine-readable result of a run, described by
//! `schemas/report/summary.schema.json`.

use serde::Serialize;

use super::ReportInput;
use crate::finding::{Cause, Profile, Severity};
use crate::record::{DiscardedAttempt, TargetInfo};
use crate::verdict::{Coverage, Deviation, Totals, Verdict};

#[derive(Serialize)]
struct Summary<'a> {
    run_id: &'a str,
    started_at: u64,
    duration_ms: u64,
    partial: bool,
    target: &'a TargetInfo,
    profile: Profile,
    passed: bool,
    totals: &'a Totals,
    cases: Vec<CaseSummary<'a>>,
    coverage: &'a [Coverage],
    unused_deviations: &'a [Deviation],
    latency: Vec<Latency>,
}

#[derive(Serialize)]
struct CaseSummary<'a> {
    id: &'a str,
    suite: &'a str,
    name: &'a str,
    source: Option<&'a str>,
    verdict: Verdict,
    checks: usize,
    problems: Vec<Problem<'a>>,
    aborted: Option<&'a str>,
    discarded: &'a [DiscardedAttempt],
}

#[derive(Serialize)]
struct Problem<'a> {
    requirement: &'a str,
    severity: Severity,
    message: &'a str,
    exchange: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caused_by: Option<Cause>,
}

#[derive(Serialize)]
struct Latency {
    operation: String,
    outcome: String,
    count: u64,
    min_us: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p99_9_us: u64,
    max_us: u64,
    encoded: String,
}

fn summary<'a>(input: &ReportInput<'a>) -> Summary<'a> {
    let (run, assessment) = (input.run, input.assessment);
    let cases = input
        .cases()
        .map(|(case, verdict)| CaseSummary {
            id: &case.id,
            suite: &case.suite,
            name: &case.name,
            source: case.source.as_deref(),
            verdict: verdict.verdict,
            checks: verdict.checks,
            problems: verdict
                .problems
                .iter()
                .map(|p| Problem {
                    requirement: p.finding.requirement.as_str(),
                    severity: p.severity,
                    message: &p.finding.message,
                    exchange: p.finding.exchange,
                    caused_by: p.finding.caused_by,
                })
                .collect(),
            aborted: case.aborted.as_deref(),
            discarded: &case.discarded,
        })
        .collect();
    // `histograms()` and `encoded()` walk the same ordered map, so they pair up by position.
    let latency = run
        .latency
        .histograms()
        .zip(run.latency.encoded())
        .map(|((key, h), (_, encoded))| Latency {
            operation: key.operation.clone(),
            outcome: key.outcome.clone(),
            count: h.len(),
            min_us: h.min(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p99_9_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            encoded,
        })
        .collect();
    Summary {
        run_id: &run.run_id,
        started_at: run.started_at_ms,
        duration_ms: run.duration_ms,
        partial: run.partial,
        target: &run.target,
        profile: assessment.profile,
        passed: assessment.passed,
        totals: &assessment.totals,
        cases,
        coverage: &assessment.coverage,
        unused_deviations: &assessment.unused_deviations,
        latency,
    }
}

/// The summary, pretty-printed JSON.
pub(super) fn json(input: &ReportInput<'_>) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&summary(input))
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::record::{LatencyBook, LatencyKey};
    use jobcert_contract::schemas;

    #[test]
    fn summary_validates_against_its_schema() {
        let (run, assessment) = fixture::sample();
        let text = json(&fixture::input(&run, &assessment)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schema = schemas().get("report/summary.schema.json").unwrap();
        assert_eq!(schema.violations(&value), []);
        let mut broken = value.clone();
        broken["cases"][0]["verdict"] = "untested".into();
        assert_eq!(schema.violations(&broken).len(), 1);
        assert_eq!(value["cases"][1]["verdict"], "fail");
        let follow = &value["cases"][1]["problems"][1];
        assert_eq!(follow["severity"], "follow-on");
        assert_eq!(
            follow["caused_by"],
            serde_json::json!({"requirement": "SN-EMPTY", "exchange": 2})
        );
        let mut orphan = value.clone();
        orphan["cases"][1]["problems"][1]["caused_by"] = serde_json::json!({"exchange": 2});
        assert_eq!(schema.violations(&orphan).len(), 1);
        assert_eq!(
            value["cases"][2]["aborted"],
            "setup refused: CreateJob answered 500"
        );
        assert_eq!(value["unused_deviations"][0]["requirement"], "GP-CAP");
        assert_eq!(value["cases"][0]["discarded"][0]["attempt"], 1);
        assert_eq!(value["cases"][1]["discarded"], serde_json::json!([]));
    }

    #[test]
    fn encoded_latency_decodes_to_the_same_histogram() {
        let (run, assessment) = fixture::sample();
        let value: serde_json::Value =
            serde_json::from_str(&json(&fixture::input(&run, &assessment)).unwrap()).unwrap();
        let entry = &value["latency"][0];
        let key = LatencyKey {
            operation: entry["operation"].as_str().unwrap().into(),
            outcome: entry["outcome"].as_str().unwrap().into(),
        };
        let book =
            LatencyBook::decode(&[(key, entry["encoded"].as_str().unwrap().into())]).unwrap();
        let (_, h) = book.histograms().next().unwrap();
        assert_eq!(h.len(), entry["count"].as_u64().unwrap());
        assert_eq!(h.max(), entry["max_us"].as_u64().unwrap());
    }
}
