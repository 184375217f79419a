//! Records of a run: exchanges, latency histograms, and the fleet record. Reports read these; nothing here judges.

pub mod capture;
pub mod differential;
mod fleet;
mod latency;
mod recorder;
mod replay;
mod rollout;
mod run;

pub use fleet::{
    CONNECT, EXAMPLES_KEPT, Example, FleetRecord, Handshakes, Interval, Memory, SETUP_ERROR,
    Schedule, Shard, Tally,
};
pub use latency::{LatencyBook, LatencyKey, hgrm, outcome_name};
pub use recorder::{ConnectAttempt, Kept, Recorder, Snapshot, epoch_ms};
pub use replay::{DIVERGENCES_KEPT, DivergenceExample, ReplayTally};
pub use rollout::{
    AbortFigures, JobRollout, JoinerFigures, RolloutRecord, StatusSample, per_minute,
};
pub use run::{CaseRecord, DiscardedAttempt, RunRecord, TargetInfo};
