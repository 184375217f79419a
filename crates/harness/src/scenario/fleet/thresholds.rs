//! The thresholds of a fleet scenario: what a run's verdict requires besides conformance.
//! They are part of the format; `verdict::fleet` judges them.

use serde::{Deserialize, Serialize};

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
    /// What a rollout of `jobs` must achieve.
    pub rollout: Option<RolloutThresholds>,
    /// What an abort must hold to.
    pub abort: Option<AbortThresholds>,
}

/// What a rollout of `jobs` must achieve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RolloutThresholds {
    /// Longest a job may take from its creation until every thing it targeted finished
    /// (`90s`, `7m`, `2h`; target time).
    pub completed_within: Option<String>,
}

/// What an abort must hold to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AbortThresholds {
    /// Devices that started a job with abort criteria (before it was canceled).
    pub devices_started: Option<Bound>,
}

/// Seconds in a duration written with its unit: `90s`, `7m`, `2h`.
pub fn duration_s(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{text:?} is not a duration like 90s, 7m or 2h")),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(format!("{text:?} is not a duration like 90s, 7m or 2h")),
    }
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
    /// Whether `v` is within the bounds.
    pub fn holds(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// The bounds in words, e.g. `≤ 0.01`.
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => format!("= {a}"),
            (Some(a), Some(b)) => format!("in [{a}, {b}]"),
            (Some(a), None) => format!("≥ {a}"),
            (None, Some(b)) => format!("≤ {b}"),
            (None, None) => "anything".into(),
        }
    }
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
        if let Some(Err(problem)) = self
            .rollout
            .as_ref()
            .and_then(|r| r.completed_within.as_deref())
            .map(duration_s)
        {
            out.push((
                vec!["rollout".to_string(), "completed-within".to_string()],
                problem,
            ));
        }
        let started = self.abort.as_ref().and_then(|a| a.devices_started.as_ref());
        for (what, b) in [
            ("error-rate", &self.error_rate),
            ("timed-out", &self.timed_out),
            ("achieved-rate", &self.achieved_rate),
            ("abort.devices-started", &started.cloned()),
        ] {
            if let Some(b) = b {
                let at: Vec<String> = what.split('.').map(str::to_string).collect();
                if b.min.is_none() && b.max.is_none() {
                    out.push((at.clone(), "needs min or max".to_string()));
                }
                if [b.min, b.max].iter().flatten().any(|v| !v.is_finite()) {
                    out.push((at, "bounds must be numbers".to_string()));
                }
            }
        }
        out
    }
}
