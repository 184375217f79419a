//! The record of a whole run: each case's exchanges and findings, and the latency histograms.

use serde::{Deserialize, Serialize};

use jobcert_contract::RequirementId;

use super::latency::LatencyBook;
use crate::finding::Finding;
use crate::transport::{Exchange, Target};

/// What was tested.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Data-plane base URL.
    pub data_plane: String,
    /// Control-plane base URL.
    pub control_plane: String,
    /// `http` or `mqtt`.
    pub transport: String,
    /// How fast the target's clock runs.
    pub time_scale: f64,
    /// Whether it was the embedded reference server.
    pub embedded: bool,
    /// Whether requests were SigV4-signed.
    pub signed: bool,
}

impl From<&Target> for TargetInfo {
    fn from(target: &Target) -> Self {
        Self {
            data_plane: target.data.url(),
            control_plane: target.control.base.clone(),
            transport: target.binding().name().to_string(),
            time_scale: target.time_scale,
            embedded: target.embedded,
            signed: target.signer.is_some(),
        }
    }
}

/// One case's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRecord {
    /// `suite/name`.
    pub id: String,
    /// Suite.
    pub suite: String,
    /// Name.
    pub name: String,
    /// What it shows.
    pub description: Option<String>,
    /// `file:line:column`, or `None` for generated cases.
    pub source: Option<String>,
    /// Requirement IDs it exercises.
    pub requirements: Vec<RequirementId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Every check made.
    pub findings: Vec<Finding>,
    /// Every exchange, in order.
    pub exchanges: Vec<Exchange>,
    /// Why the case could not run to its end (setup refused, run interrupted), if so.
    pub aborted: Option<String>,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// Earlier attempts at the case thrown away because a step came later than its scenario
    /// assumed (it ended after a timer deadline its scenario put it before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discarded: Vec<DiscardedAttempt>,
}

/// An attempt at a case that was played again because its timing premise did not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscardedAttempt {
    /// Which attempt (the first is 1).
    pub attempt: u32,
    /// The timer deadline that fell where the scenario did not expect it.
    pub deadline: String,
    /// The steps it fell between.
    pub between: String,
}

/// A run's record.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Run id: also the suffix of every name the run created on the target.
    pub run_id: String,
    /// Start, epoch milliseconds.
    pub started_at_ms: u64,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// What was tested.
    pub target: TargetInfo,
    /// Whether the run stopped before every case ran.
    pub partial: bool,
    /// The cases, in plan order.
    pub cases: Vec<CaseRecord>,
    /// Latency of every exchange.
    pub latency: LatencyBook,
}
