//! Request-rate quotas on the virtual clock: one token bucket per budget of the limits file,
//! shared by the operations the budget names (AWS's data plane: StartNext and Update share the
//! write budget, Describe and GetPending the read budget). Kept in integer milli-tokens so a
//! budget is exact: a test counts the requests that get through to the unit.

use std::sync::Mutex;

use jobcert_contract::{Limits, Plane};

use crate::engine::VirtualMillis;

/// One bucket's arithmetic, a pure function of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    /// Milli-tokens added per virtual millisecond (= tokens a second).
    per_second: u64,
    /// Milli-tokens the full bucket holds.
    capacity: u64,
    /// Milli-tokens held at `at`.
    level: u64,
    /// When `level` was last brought up to date.
    at: VirtualMillis,
}

/// One request's worth.
const TOKEN: u64 = 1000;

impl Bucket {
    /// A full bucket at `now`.
    fn new(per_second: u32, burst: u32, now: VirtualMillis) -> Self {
        let capacity = u64::from(burst) * TOKEN;
        Self {
            per_second: u64::from(per_second),
            capacity,
            level: capacity,
            at: now,
        }
    }

    /// Takes a token for a request at `now`; false when the bucket is empty.
    fn take(&mut self, now: VirtualMillis) -> bool {
        let elapsed = u64::try_from(now - self.at).unwrap_or(0);
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(self.per_second))
            .min(self.capacity);
        self.at = self.at.max(now);
        if self.level >= TOKEN {
            self.level -= TOKEN;
            true
        } else {
            false
        }
    }
}

/// A budget: its name, what it counts, and its bucket.
#[derive(Debug)]
struct Budget {
    name: String,
    plane: Plane,
    operations: Vec<String>,
    bucket: Mutex<Bucket>,
}

/// Every enforced budget of a limits file; one set per server, which serves one account.
#[derive(Debug)]
pub struct Quotas {
    budgets: Vec<Budget>,
}

impl Quotas {
    /// The budgets of `limits` with a figure, full at `now`.
    pub fn new(limits: &Limits, now: VirtualMillis) -> Self {
        let budgets = limits
            .buckets
            .iter()
            .filter_map(|b| {
                let (per_second, burst) = (b.per_second?, b.burst?);
                Some(Budget {
                    name: b.name.clone(),
                    plane: b.plane,
                    operations: b.operations.clone(),
                    bucket: Mutex::new(Bucket::new(per_second, burst, now)),
                })
            })
            .collect();
        Self { budgets }
    }

    /// Takes a token from every budget that counts `operation` of `plane` at `now`; the name of
    /// the first one that was empty. A refused request takes nothing from the others.
    pub fn admit(&self, plane: Plane, operation: &str, now: VirtualMillis) -> Result<(), String> {
        let counting: Vec<&Budget> = self
            .budgets
            .iter()
            .filter(|b| b.plane == plane && b.operations.iter().any(|o| o == operation))
            .collect();
        let mut held: Vec<_> = counting
            .iter()
            .map(|b| b.bucket.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let before: Vec<Bucket> = held.iter().map(|b| **b).collect();
        for (i, bucket) in held.iter_mut().enumerate() {
            if !bucket.take(now) {
                for (b, saved) in held.iter_mut().zip(&before) {
                    **b = *saved;
                }
                return Err(counting[i].name.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::the_burst_then_nothing(5, 3, &[0, 0, 0, 0, 0], &[true, true, true, false, false])]
    #[case::one_token_per_interval(10, 1, &[0, 50, 100, 150, 200], &[true, false, true, false, true])]
    #[case::refills_up_to_the_burst_only(10, 2, &[0, 0, 10_000, 10_000, 10_000], &[true, true, true, true, false])]
    #[case::a_full_bucket_keeps_no_excess(3, 1, &[0, 333, 334, 667, 1000, 1001], &[true, false, true, false, true, false])]
    #[case::fractions_add_up(3, 2, &[0, 0, 333, 334, 667, 1000, 1000], &[true, true, false, true, true, true, false])]
    #[case::a_refusal_takes_nothing(1, 1, &[0, 500, 999, 1000], &[true, false, false, true])]
    #[case::time_never_runs_back(1, 1, &[1000, 0, 2000], &[true, false, true])]
    fn a_bucket_admits_by_virtual_time(
        #[case] per_second: u32,
        #[case] burst: u32,
        #[case] at_ms: &[VirtualMillis],
        #[case] admitted: &[bool],
    ) {
        let mut bucket = Bucket::new(per_second, burst, 0);
        let got: Vec<bool> = at_ms.iter().map(|&t| bucket.take(t)).collect();
        assert_eq!(got, admitted);
    }

    fn limits(text: &str) -> Limits {
        Limits::parse(text).expect("a valid limits file")
    }

    const SHARED: &str = r#"{"service":"t","read":"2026-12-03","buckets":[
        {"name":"w","plane":"data","operations":["StartNextPendingJobExecution","UpdateJobExecution"],"perSecond":1,"burst":2,
         "source":{"url":"https://example.com","read":"2026-12-03","note":"test"}},
        {"name":"r","plane":"data","operations":["DescribeJobExecution","GetPendingJobExecutions"],"perSecond":1,"burst":1,
         "source":{"url":"https://example.com","read":"2026-12-03","note":"test"}},
        {"name":"c","plane":"control","operations":["CreateJob"],"perSecond":null,"burst":null,
         "source":{"url":"https://example.com","read":"2026-12-03","note":"test"}}]}"#;

    #[rstest]
    #[case::writes_share_one_budget(&["StartNextPendingJobExecution", "UpdateJobExecution", "StartNextPendingJobExecution"], &[Ok(()), Ok(()), Err("w")])]
    #[case::reads_are_apart_from_writes(&["UpdateJobExecution", "UpdateJobExecution", "DescribeJobExecution", "GetPendingJobExecutions"], &[Ok(()), Ok(()), Ok(()), Err("r")])]
    fn operations_draw_on_their_budget(
        #[case] operations: &[&str],
        #[case] expected: &[Result<(), &str>],
    ) {
        let quotas = Quotas::new(&limits(SHARED), 0);
        let got: Vec<Result<(), String>> = operations
            .iter()
            .map(|op| quotas.admit(Plane::Data, op, 0))
            .collect();
        let expected: Vec<Result<(), String>> =
            expected.iter().map(|r| r.map_err(str::to_string)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_budget_without_a_figure_and_an_uncounted_operation_are_not_limited() {
        let quotas = Quotas::new(&limits(SHARED), 0);
        for _ in 0..100 {
            assert_eq!(quotas.admit(Plane::Control, "CreateJob", 0), Ok(()));
            assert_eq!(quotas.admit(Plane::Control, "CreateThing", 0), Ok(()));
        }
    }
}
