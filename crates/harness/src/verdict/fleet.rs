//! A fleet run's verdict: its thresholds judged on a [`FleetRecord`] (so a merged record of many
//! shards is judged exactly like a single run) and its conformance findings weighed.

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Severity, severity};
use crate::record::FleetRecord;
use crate::scenario::fleet::{Thresholds, duration_s};
use jobcert_contract::{Operation, RequirementId};

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

/// Each threshold of `thresholds` judged on `record`.
pub fn judge(thresholds: &Thresholds, record: &FleetRecord) -> Vec<ThresholdVerdict> {
    let mut out = Vec::new();
    for t in &thresholds.latency {
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
    if let Some(b) = &thresholds.error_rate {
        let attempts = record.data_requests() + record.connects();
        let observed = (attempts > 0).then(|| record.error_count() as f64 / attempts as f64);
        out.push(ThresholdVerdict {
            name: "error rate".into(),
            limit: b.describe(),
            observed,
            passed: observed.is_some_and(|v| b.holds(v)),
        });
    }
    if let Some(b) = &thresholds.timed_out {
        let observed = record.statuses.get("TIMED_OUT").copied().unwrap_or(0) as f64;
        out.push(ThresholdVerdict {
            name: "executions TIMED_OUT".into(),
            limit: b.describe(),
            observed: Some(observed),
            passed: b.holds(observed),
        });
    }
    if let Some(b) = &thresholds.achieved_rate {
        let s = &record.schedule;
        let observed = (s.intended > 0).then(|| s.started as f64 / s.intended as f64);
        out.push(ThresholdVerdict {
            name: "achieved / target rate".into(),
            limit: b.describe(),
            observed,
            passed: observed.is_some_and(|v| b.holds(v)),
        });
    }
    rollout(thresholds, record, &mut out);
    out
}

/// The rollout thresholds: each job's time until every thing it targeted finished, and the
/// devices each job with abort criteria reached. Without a rollout of `jobs` there is nothing
/// to measure, and they fail.
fn rollout(thresholds: &Thresholds, record: &FleetRecord, out: &mut Vec<ThresholdVerdict>) {
    let jobs = record.rollout.as_ref().map_or(&[][..], |r| &r.jobs[..]);
    let within = thresholds
        .rollout
        .as_ref()
        .and_then(|r| r.completed_within.as_deref());
    if let Some(text) = within {
        let limit = duration_s(text).unwrap_or(0.0);
        if jobs.is_empty() {
            out.push(unmeasured("rollout completed", format!("within {text}")));
        }
        for job in jobs {
            let observed = job.until_all_finished_s;
            out.push(ThresholdVerdict {
                name: format!("{} completed (s)", job.name),
                limit: format!("≤ {limit} s"),
                observed,
                passed: observed.is_some_and(|v| v <= limit),
            });
        }
    }
    let started = thresholds
        .abort
        .as_ref()
        .and_then(|a| a.devices_started.as_ref());
    if let Some(b) = started {
        let aborting: Vec<_> = jobs.iter().filter(|j| j.aborts).collect();
        if aborting.is_empty() {
            out.push(unmeasured("abort devices started", b.describe()));
        }
        for job in aborting {
            let observed = job.devices_started as f64;
            out.push(ThresholdVerdict {
                name: format!("{} devices started", job.name),
                limit: b.describe(),
                observed: Some(observed),
                passed: b.holds(observed),
            });
        }
    }
}

/// A threshold with nothing to measure it on: it fails.
fn unmeasured(name: &str, limit: String) -> ThresholdVerdict {
    ThresholdVerdict {
        name: name.to_string(),
        limit,
        observed: None,
        passed: false,
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
/// whether it ran at all and to its end. The record names requirements by text (it may have
/// been read back from a file): one the catalogue does not know cannot be weighed, so it fails.
pub fn assess_fleet(record: &FleetRecord) -> FleetVerdict {
    let thresholds = judge(&record.thresholds, record);
    let conformance: Vec<(RequirementVerdict, bool)> = record
        .findings
        .iter()
        .map(|(requirement, tally)| {
            let known = RequirementId::parse(requirement);
            let severity = match known {
                Err(_) => Severity::Failure,
                Ok(_) if tally.failed == 0 => Severity::Pass,
                Ok(id) => severity(&Finding::fail(id, "", None), record.profile),
            };
            let verdict = RequirementVerdict {
                requirement: requirement.clone(),
                passed: tally.passed,
                failed: tally.failed,
                severity,
            };
            (verdict, known.is_ok())
        })
        .collect();
    let mut reasons = Vec::new();
    for t in thresholds.iter().filter(|t| !t.passed) {
        reasons.push(match t.observed {
            Some(v) => format!("threshold {} {}: observed {v}", t.name, t.limit),
            None => format!("threshold {} {}: nothing to measure", t.name, t.limit),
        });
    }
    for (c, known) in conformance
        .iter()
        .filter(|(c, _)| c.severity == Severity::Failure)
    {
        let checks = c.passed + c.failed;
        reasons.push(if *known {
            format!("{} failed {} of {checks} checks", c.requirement, c.failed)
        } else {
            format!(
                "unknown requirement ID {}: its {checks} checks cannot be weighed",
                c.requirement
            )
        });
    }
    let conformance = conformance.into_iter().map(|(c, _)| c).collect();
    if record.partial {
        reasons.push(format!(
            "the run is partial: {}",
            record.stopped_by.as_deref().unwrap_or("stopped early")
        ));
    }
    if record.data_requests() == 0 {
        reasons.push("no data-plane request was sent".into());
    }
    if let Some(t) = &record.replay {
        if t.strict && t.divergence_count() > 0 {
            reasons.push(format!(
                "--strict: {} divergence(s) from the recording",
                t.divergence_count()
            ));
        }
        if !record.partial && t.replayed < t.planned {
            reasons.push(format!(
                "{} of {} exchanges were not replayed",
                t.planned - t.replayed,
                t.planned
            ));
        }
    }
    FleetVerdict {
        passed: reasons.is_empty(),
        thresholds,
        conformance,
        reasons,
    }
}
