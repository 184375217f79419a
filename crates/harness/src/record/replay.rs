//! What a replay adds to a fleet record: how much of the capture was played, and where the
//! target's answers departed from the recorded ones, by kind, with the first examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::transport::Exchange;

/// Divergence examples a record keeps.
pub const DIVERGENCES_KEPT: usize = 10;

/// One answer that departed from the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivergenceExample {
    /// Its kind (`status`, `error-type`, `next-job`, ...).
    pub kind: String,
    /// The capture line replayed.
    pub line: u64,
    /// The device, as the replay named it.
    pub device: String,
    /// What was recorded.
    pub recorded: String,
    /// What came back.
    pub replayed: String,
    /// The replayed exchange (none for a final status, which no one exchange shows).
    pub exchange: Option<Exchange>,
}

/// A replay's account of the capture it played.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayTally {
    /// The capture file.
    pub capture: String,
    /// Speed (`None`: as fast as possible).
    pub speed: Option<f64>,
    /// Copies of each recorded device.
    pub clones: u32,
    /// Whether a divergence fails the run.
    pub strict: bool,
    /// Exchanges this record's devices were to replay.
    pub planned: u64,
    /// Exchanges sent.
    pub replayed: u64,
    /// Departures from the recording, by kind.
    pub divergences: BTreeMap<String, u64>,
    /// Devices rebound to the job `$next` really named.
    pub rebound: u64,
    /// The first departures.
    pub examples: Vec<DivergenceExample>,
}

impl ReplayTally {
    /// Counts a divergence, keeping it as an example while there is room.
    pub fn diverged(&mut self, example: DivergenceExample) {
        *self.divergences.entry(example.kind.clone()).or_default() += 1;
        if self.examples.len() < DIVERGENCES_KEPT {
            self.examples.push(example);
        }
    }

    /// All divergences.
    pub fn divergence_count(&self) -> u64 {
        self.divergences.values().sum()
    }

    /// Adds another shard's tally.
    pub fn merge(&mut self, other: ReplayTally) {
        self.planned += other.planned;
        self.replayed += other.replayed;
        self.rebound += other.rebound;
        for (k, n) in other.divergences {
            *self.divergences.entry(k).or_default() += n;
        }
        let room = DIVERGENCES_KEPT.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }
}
