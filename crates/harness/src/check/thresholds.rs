//! Thresholds of a fleet run and their judging. They are judged on a [`FleetRecord`], so a
//! merged record of many shards is judged exactly like a single run.

use serde::{Deserialize, Serialize};

use super::finding::{Finding, Severity, severity};
use crate::record::FleetRecord;
use jobcert_contract::Operation;

/// What a fleet run's verdict requires, besides conformance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Thresholds {
    /// Latency percentiles per operation (all outcomes: a timeout counts at its deadline).
    #[serde(default)]
    pub latency: Vec<LatencyThreshold>,
    /// Share of data-plane requests and connection attempts that failed a device.
    pub error_rate: Option<Bound>,
    /// Executions the devices saw TIMED_OUT.
    pub timed_out: Option<Bound>,
    /// Cycles started over cycles the open-loop schedule called for.
    pub achieved_rate: Option<Bound>,
}

/// A latency limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LatencyThreshold {
    /// Operation name, or `*` for every data-plane operation together.
    pub operation: String,
    /// Percentile, e.g. 99 or 99.9.
    pub percentile: f64,
    /// Highest allowed value, in milliseconds.
    pub max_ms: f64,
}

/// Inclusive bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    /// Lowest allowed.
    pub min: Option<f64>,
    /// Highest allowed.
    pub max: Option<f64>,
}

impl Bound {
    fn holds(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => format!("= {a}"),
            (Some(a), Some(b)) => format!("in [{a}, {b}]"),
            (Some(a), None) => format!("≥ {a}"),
            (None, Some(b)) => format!("≤ {b}"),
            (None, None) => "anything".into(),
        }
    }
}

/// One threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdVerdict {
    /// What is limited, e.g. `StartNextPendingJobExecution p99`.
    pub name: String,
    /// The limit, e.g. `≤ 250 ms`.
    pub limit: String,
    /// What was observed (`None` when there was nothing to measure).
    pub observed: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}

impl Thresholds {
    /// What is wrong with the thresholds themselves: the member at fault (path under
    /// `thresholds`) and why.
    pub fn problems(&self) -> Vec<(Vec<String>, String)> {
        let mut out = Vec::new();
        for (i, t) in self.latency.iter().enumerate() {
            let at = |member: &str| vec!["latency".to_string(), i.to_string(), member.to_string()];
            if t.operation != "*" && Operation::from_name(&t.operation).is_none() {
                out.push((
                    at("operation"),
                    format!("unknown operation {:?}", t.operation),
                ));
            }
            if !(t.percentile > 0.0 && t.percentile <= 100.0) {
                out.push((
                    at("percentile"),
                    format!("{} is not in (0, 100]", t.percentile),
                ));
            }
            if !(t.max_ms.is_finite() && t.max_ms > 0.0) {
                out.push((
                    at("max-ms"),
                    format!("{} is not a positive number", t.max_ms),
                ));
            }
        }
        for (what, b) in [
            ("error-rate", &self.error_rate),
            ("timed-out", &self.timed_out),
            ("achieved-rate", &self.achieved_rate),
        ] {
            if let Some(b) = b {
                if b.min.is_none() && b.max.is_none() {
                    out.push((vec![what.to_string()], "needs min or max".to_string()));
                }
                if [b.min, b.max].iter().flatten().any(|v| !v.is_finite()) {
                    out.push((vec![what.to_string()], "bounds must be numbers".to_string()));
                }
            }
        }
        out
    }

    /// Each threshold judged on `record`.
    pub fn judge(&self, record: &FleetRecord) -> Vec<ThresholdVerdict> {
        let mut out = Vec::new();
        for t in &self.latency {
            let h = record.latency.combined(|k| {
                if t.operation == "*" {
                    Operation::from_name(&k.operation).is_some()
                } else {
                    k.operation == t.operation
                }
            });
            let observed =
                (!h.is_empty()).then(|| h.value_at_quantile(t.percentile / 100.0) as f64 / 1000.0);
            out.push(ThresholdVerdict {
                name: format!("{} p{}", t.operation, t.percentile),
                limit: format!("≤ {} ms", t.max_ms),
                observed,
                passed: observed.is_some_and(|v| v <= t.max_ms),
            });
        }
        if let Some(b) = &self.error_rate {
            let attempts = record.data_requests() + record.connects();
            let observed = (attempts > 0).then(|| record.error_count() as f64 / attempts as f64);
            out.push(ThresholdVerdict {
                name: "error rate".into(),
                limit: b.describe(),
                observed,
                passed: observed.is_some_and(|v| b.holds(v)),
            });
        }
        if let Some(b) = &self.timed_out {
            let observed = record.statuses.get("TIMED_OUT").copied().unwrap_or(0) as f64;
            out.push(ThresholdVerdict {
                name: "executions TIMED_OUT".into(),
                limit: b.describe(),
                observed: Some(observed),
                passed: b.holds(observed),
            });
        }
        if let Some(b) = &self.achieved_rate {
            let s = &record.schedule;
            let observed = (s.intended > 0).then(|| s.started as f64 / s.intended as f64);
            out.push(ThresholdVerdict {
                name: "achieved / target rate".into(),
                limit: b.describe(),
                observed,
                passed: observed.is_some_and(|v| b.holds(v)),
            });
        }
        out
    }
}

/// One requirement's checks during a fleet run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequirementVerdict {
    /// Requirement ID.
    pub requirement: String,
    /// Checks met.
    pub passed: u64,
    /// Checks broken.
    pub failed: u64,
    /// The weight of its failures (`pass` when there are none).
    pub severity: Severity,
}

/// A fleet run's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetVerdict {
    /// Each threshold.
    pub thresholds: Vec<ThresholdVerdict>,
    /// Each requirement checked, in ID order.
    pub conformance: Vec<RequirementVerdict>,
    /// The CI verdict.
    pub passed: bool,
    /// Why it failed, one line per reason.
    pub reasons: Vec<String>,
}

/// Judges a fleet record: its thresholds, its conformance findings under its profile, and
/// whether it ran at all and to its end.
pub fn assess_fleet(record: &FleetRecord) -> FleetVerdict {
    let thresholds = record.thresholds.judge(record);
    let conformance: Vec<RequirementVerdict> = record
        .findings
        .iter()
        .map(|(requirement, tally)| {
            let probe = Finding::fail(requirement, "", None);
            RequirementVerdict {
                requirement: requirement.clone(),
                passed: tally.passed,
                failed: tally.failed,
                severity: if tally.failed == 0 {
                    Severity::Pass
                } else {
                    severity(&probe, record.profile)
                },
            }
        })
        .collect();
    let mut reasons = Vec::new();
    for t in thresholds.iter().filter(|t| !t.passed) {
        reasons.push(match t.observed {
            Some(v) => format!("threshold {} {}: observed {v}", t.name, t.limit),
            None => format!("threshold {} {}: nothing to measure", t.name, t.limit),
        });
    }
    for c in conformance
        .iter()
        .filter(|c| c.severity == Severity::Failure)
    {
        reasons.push(format!(
            "{} failed {} of {} checks",
            c.requirement,
            c.failed,
            c.passed + c.failed
        ));
    }
    if record.partial {
        reasons.push(format!(
            "the run is partial: {}",
            record.stopped_by.as_deref().unwrap_or("stopped early")
        ));
    }
    if record.data_requests() == 0 {
        reasons.push("no data-plane request was sent".into());
    }
    FleetVerdict {
        passed: reasons.is_empty(),
        thresholds,
        conformance,
        reasons,
    }
}
