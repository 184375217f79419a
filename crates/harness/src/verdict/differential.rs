//! A differential run's verdict: the members whose differences between candidate and primary
//! are significant next to the noise between secondary and primary (Diffy's rule,
//! [`significant`]), judged on the record.

use serde::{Deserialize, Serialize};

use crate::record::differential::DiffRecord;

/// Diffy's rule for a member that differs between primary and candidate (`raw` times) and
/// between primary and secondary (`noise` times) out of `total` comparisons: it counts when the
/// raw differences outnumber the noise, by more than `relative` percent of the two together
/// and by more than `absolute` percent of all comparisons.
pub fn significant(raw: u64, noise: u64, total: u64, relative: f64, absolute: f64) -> bool {
    if raw <= noise || total == 0 {
        return false;
    }
    let gap = (raw - noise) as f64;
    gap / (raw + noise) as f64 * 100.0 > relative && gap / total as f64 * 100.0 > absolute
}

/// One operation's member and how it fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberVerdict {
    /// The operation.
    pub operation: String,
    /// The member's path.
    pub member: String,
    /// Candidate ≠ primary, times.
    pub raw: u64,
    /// Secondary ≠ primary, times.
    pub noise: u64,
    /// Comparisons of the operation.
    pub compared: u64,
    /// Whether the difference counts.
    pub significant: bool,
}

/// A differential run's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffVerdict {
    /// Every member that differed at all, significant ones first.
    pub members: Vec<MemberVerdict>,
    /// Whether no member's difference counts and the run went to its end.
    pub passed: bool,
    /// Why it failed, one line per reason.
    pub reasons: Vec<String>,
}

/// Judges `record`.
pub fn assess_diff(record: &DiffRecord) -> DiffVerdict {
    let mut members: Vec<MemberVerdict> = record
        .operations
        .iter()
        .flat_map(|(op, tally)| {
            tally.members.iter().map(move |(path, m)| MemberVerdict {
                operation: op.clone(),
                member: path.clone(),
                raw: m.raw,
                noise: m.noise,
                compared: tally.compared,
                significant: significant(
                    m.raw,
                    m.noise,
                    tally.compared,
                    record.relative,
                    record.absolute,
                ),
            })
        })
        .collect();
    members.sort_by(|a, b| {
        b.significant
            .cmp(&a.significant)
            .then(b.raw.cmp(&a.raw))
            .then(a.operation.cmp(&b.operation))
            .then(a.member.cmp(&b.member))
    });
    let mut reasons: Vec<String> = members
        .iter()
        .filter(|m| m.significant)
        .map(|m| {
            format!(
                "{} {}: the candidate differs in {} of {} (noise {})",
                m.operation, m.member, m.raw, m.compared, m.noise
            )
        })
        .collect();
    if let Some(why) = &record.stopped_by {
        reasons.push(format!("the run is partial: {why}"));
    }
    if record.unsent > 0 {
        reasons.push(format!(
            "{} exchange(s) could not be sent to every target",
            record.unsent
        ));
    }
    if record.operations.values().all(|o| o.compared == 0) {
        reasons.push("no exchange was compared".into());
    }
    DiffVerdict {
        passed: reasons.is_empty(),
        members,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::noise_as_large(10, 10, 100, false)]
    #[case::clear(10, 0, 100, true)]
    #[case::too_few_of_all(1, 0, 100_000, false)]
    #[case::close_to_noise(11, 10, 100, false)]
    #[case::none(0, 0, 100, false)]
    fn diffy_rule(#[case] raw: u64, #[case] noise: u64, #[case] total: u64, #[case] counts: bool) {
        assert_eq!(significant(raw, noise, total, 20.0, 0.03), counts);
    }
}
