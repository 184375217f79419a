//! The record of a differential run (`jobcert diff`): for every operation and answer member,
//! and every notification and its members, how often the candidate differed from the primary
//! (raw) and the secondary from the primary (noise), out of how many comparisons, with the
//! first samples side by side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::run::TargetInfo;
use crate::transport::Exchange;

/// Samples kept per operation and member.
pub const SAMPLES_KEPT: usize = 3;

/// One comparison where a member differed, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The capture line.
    pub line: u64,
    /// The recorded device.
    pub device: String,
    /// The member's value from each target (`null` where absent).
    pub primary: Value,
    /// The candidate's.
    pub candidate: Value,
    /// The secondary's, when there is one.
    pub secondary: Option<Value>,
    /// The exchanges: primary, candidate, then secondary (none for a notification).
    pub exchanges: Vec<Exchange>,
    /// For a notification, what each target published (primary, candidate, then secondary;
    /// `None` where it published none within the window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Option<Notified>>,
}

/// A notification a target published to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notified {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: String,
    /// When it arrived, in µs since that target's run started.
    pub at_us: u64,
}

/// How one member fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberTally {
    /// Comparisons where the candidate differed from the primary.
    pub raw: u64,
    /// Comparisons where the secondary differed from the primary.
    pub noise: u64,
    /// The first raw differences.
    pub samples: Vec<Sample>,
}

/// One operation's comparisons.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationTally {
    /// Exchanges compared.
    pub compared: u64,
    /// Members by path (`(outcome)` for the status class and error type).
    pub members: BTreeMap<String, MemberTally>,
}

/// The targets of a differential run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compared {
    /// The reference for the comparison.
    pub primary: TargetInfo,
    /// The implementation judged.
    pub candidate: TargetInfo,
    /// A second instance of the primary, whose differences are noise.
    pub secondary: Option<TargetInfo>,
}

/// A differential run's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiffRecord {
    /// The capture played.
    pub capture: String,
    /// Run id (each target's names carry it and a letter of its own).
    pub run_id: String,
    /// Start, epoch milliseconds.
    pub started_at_ms: u64,
    /// Wall time, in milliseconds.
    pub duration_ms: u64,
    /// Why the run stopped early, if it did.
    pub stopped_by: Option<String>,
    /// The targets.
    pub targets: Compared,
    /// Diffy's relative threshold, in percent.
    pub relative: f64,
    /// Diffy's absolute threshold, in percent.
    pub absolute: f64,
    /// How far apart, in target milliseconds, two targets' notifications may arrive and still
    /// be the same notification.
    pub notify_window_ms: u64,
    /// By operation, and by notification (`notify`, `notify-next`).
    pub operations: BTreeMap<String, OperationTally>,
    /// Devices whose candidate state departed from the primary's; their later exchanges were
    /// sent but not compared.
    pub quarantined: u64,
    /// Exchanges not compared because their device was quarantined.
    pub skipped: u64,
    /// Exchanges of the capture not sent to every target.
    pub unsent: u64,
}

impl DiffRecord {
    /// Counts one comparison of `operation`: the members where the candidate and (when
    /// present) the secondary differ from the primary.
    pub fn count(
        &mut self,
        operation: &str,
        raw: &[String],
        noise: &[String],
        sample: impl Fn(&str) -> Sample,
    ) {
        let op = self.operations.entry(operation.to_string()).or_default();
        op.compared += 1;
        for path in raw {
            let m = op.members.entry(path.clone()).or_default();
            m.raw += 1;
            if m.samples.len() < SAMPLES_KEPT {
                m.samples.push(sample(path));
            }
        }
        for path in noise {
            op.members.entry(path.clone()).or_default().noise += 1;
        }
    }
}
