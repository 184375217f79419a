//! A job's abort criteria (CreateJob's `abortConfig`) and the tally they are judged on.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use jobcert_contract::Status;

/// The reason code of a job its abort criteria canceled (AWS documents none).
pub const ABORT_REASON_CODE: &str = "ABORT_CRITERIA_MET";

/// One member of `abortConfig.criteriaList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortCriterion {
    /// `FAILED`, `REJECTED`, `TIMED_OUT` or `ALL` (any of the three).
    pub failure_type: String,
    /// `CANCEL`, the only action.
    pub action: String,
    /// The share of failures, in percent, that aborts the job.
    pub threshold_percentage: f64,
    /// How many things must have executed before the job may be aborted.
    pub min_number_of_executed_things: u64,
}

/// What the percentage is a share of, and what `minNumberOfExecutedThings` counts: AWS's
/// reference says "things which must receive job execution notifications", its guide speaks of
/// executed things. A `jobcert serve` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AbortDenominator {
    /// Executions that ended (succeeded, failed, rejected or timed out, after any retries).
    #[default]
    Finished,
    /// Executions rolled out (notified).
    Notified,
}

impl FromStr for AbortDenominator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "finished" => Ok(Self::Finished),
            "notified" => Ok(Self::Notified),
            other => Err(format!("{other:?} is neither finished nor notified")),
        }
    }
}

/// How a job's executions ended, counting each thing's last execution once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// SUCCEEDED.
    pub succeeded: u64,
    /// FAILED.
    pub failed: u64,
    /// REJECTED.
    pub rejected: u64,
    /// TIMED_OUT.
    pub timed_out: u64,
}

impl Tally {
    /// Counts one ended execution.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Succeeded => self.succeeded += 1,
            Status::Failed => self.failed += 1,
            Status::Rejected => self.rejected += 1,
            Status::TimedOut => self.timed_out += 1,
            _ => {}
        }
    }

    /// Executions that ended.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed + self.rejected + self.timed_out
    }

    fn failures(&self, failure_type: &str) -> u64 {
        match failure_type {
            "FAILED" => self.failed,
            "REJECTED" => self.rejected,
            "TIMED_OUT" => self.timed_out,
            "ALL" => self.failed + self.rejected + self.timed_out,
            _ => 0,
        }
    }
}

/// The first criterion met by `tally`, with `notified` executions rolled out.
pub fn met<'a>(
    criteria: &'a [AbortCriterion],
    tally: &Tally,
    notified: u64,
    denominator: AbortDenominator,
) -> Option<&'a AbortCriterion> {
    let executed = match denominator {
        AbortDenominator::Finished => tally.finished(),
        AbortDenominator::Notified => notified,
    };
    criteria.iter().find(|c| {
        executed > 0
            && executed >= c.min_number_of_executed_things
            && tally.failures(&c.failure_type) as f64 * 100.0
                >= c.threshold_percentage * executed as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criterion(failure_type: &str, threshold: f64, min: u64) -> AbortCriterion {
        AbortCriterion {
            failure_type: failure_type.to_string(),
            action: "CANCEL".to_string(),
            threshold_percentage: threshold,
            min_number_of_executed_things: min,
        }
    }

    fn tally(succeeded: u64, failed: u64, rejected: u64, timed_out: u64) -> Tally {
        Tally {
            succeeded,
            failed,
            rejected,
            timed_out,
        }
    }

    #[test]
    fn criteria_are_met_as_the_table_says() {
        use AbortDenominator::{Finished, Notified};
        // (criterion, tally, notified, denominator, met)
        let table = [
            // 10 % FAILED after 100: exactly 10 of 100 meets it, 9 does not.
            (
                criterion("FAILED", 10.0, 100),
                tally(90, 10, 0, 0),
                100,
                Finished,
                true,
            ),
            (
                criterion("FAILED", 10.0, 100),
                tally(91, 9, 0, 0),
                100,
                Finished,
                false,
            ),
            // Fewer than the minimum executed: never, whatever the share.
            (
                criterion("FAILED", 10.0, 100),
                tally(0, 99, 0, 0),
                99,
                Finished,
                false,
            ),
            // Other failure types do not count for FAILED, all of them for ALL.
            (
                criterion("FAILED", 10.0, 10),
                tally(5, 0, 3, 2),
                10,
                Finished,
                false,
            ),
            (
                criterion("ALL", 50.0, 10),
                tally(5, 1, 2, 2),
                10,
                Finished,
                true,
            ),
            (
                criterion("TIMED_OUT", 20.0, 10),
                tally(8, 0, 0, 2),
                10,
                Finished,
                true,
            ),
            (
                criterion("REJECTED", 20.0, 10),
                tally(8, 0, 1, 1),
                10,
                Finished,
                false,
            ),
            // Over notified things, 10 failures of 100 finished are 5 % of 200 notified.
            (
                criterion("FAILED", 10.0, 100),
                tally(90, 10, 0, 0),
                200,
                Notified,
                false,
            ),
            (
                criterion("FAILED", 5.0, 100),
                tally(90, 10, 0, 0),
                200,
                Notified,
                true,
            ),
            // Fractional thresholds compare exactly enough: 1 of 3 is 33.33… ≥ 33.33.
            (
                criterion("FAILED", 33.33, 3),
                tally(2, 1, 0, 0),
                3,
                Finished,
                true,
            ),
            (
                criterion("FAILED", 33.34, 3),
                tally(2, 1, 0, 0),
                3,
                Finished,
                false,
            ),
        ];
        for (c, t, notified, denominator, expected) in table {
            let criteria = [c];
            assert_eq!(
                met(&criteria, &t, notified, denominator).is_some(),
                expected,
                "{criteria:?} {t:?} notified {notified} over {denominator:?}"
            );
        }
    }
}
