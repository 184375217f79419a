//! Records of a run: exchanges, latency histograms, and the fleet record. Reports read these; nothing here judges.

mod fleet;
mod latency;
mod recorder;
mod run;

pub use fleet::{
    CONNECT, EXAMPLES_KEPT, Example, FleetRecord, Interval, Memory, SETUP_ERROR, Schedule, Shard,
    Tally,
};
pub use latency::{LatencyBook, LatencyKey, hgrm, outcome_name};
pub use recorder::{Recorder, Snapshot, epoch_ms};
pub use run::{CaseRecord, DiscardedAttempt, RunRecord, TargetInfo};
