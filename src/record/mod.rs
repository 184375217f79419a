//! Records of a run: exchanges and latency histograms. Reports read these; nothing here judges.

mod exchange;
mod latency;
mod run;

pub use exchange::{Exchange, FailureClass, Outcome, Timing, WireRequest, WireResponse, redact};
pub use latency::{LatencyBook, LatencyKey, hgrm};
pub use run::{CaseRecord, RunRecord, TargetInfo};
