//! Request-rate quotas on the virtual clock: one token bucket per budget of the limits file,
//! shared by the operations the budget names (AWS's data plane: StartNext and Update share the
//! write budget, Describe and GetPending the read budget), or one bucket per MQTT client id (the
//! broker's CONNECTs of one client id). Kept in integer milli-tokens so a budget is exact: a test
//! counts the requests that get through to the unit.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use jobcert_contract::{Limits, Per, Plane};

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

/// The operation a budget of the broker counts.
const CONNECT: &str = "Connect";

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

    /// Whether the bucket is full at `now`: then it is the same as a new one.
    fn full_at(&self, now: VirtualMillis) -> bool {
        let elapsed = u64::try_from(now - self.at).unwrap_or(0);
        self.level
            .saturating_add(elapsed.saturating_mul(self.per_second))
            >= self.capacity
    }
}

/// The buckets of a budget kept per client id, and when to forget the full ones.
#[derive(Debug)]
struct PerClient {
    buckets: HashMap<String, Bucket>,
    /// The number of buckets at which full ones are forgotten next (twice what the last
    /// forgetting left, so that it costs amortised constant time per request).
    prune_at: usize,
}

/// The buckets of one budget.
#[derive(Debug)]
enum Buckets {
    /// One for the account.
    Account(Mutex<Bucket>),
    /// One for each client id; `new` is the bucket a client id starts with.
    PerClient { new: Bucket, held: Mutex<PerClient> },
}

/// A budget's buckets locked for one request.
enum Locked<'a> {
    Account(MutexGuard<'a, Bucket>),
    PerClient(Bucket, MutexGuard<'a, PerClient>),
}

/// Fewest per-client buckets before full ones are forgotten.
const PRUNE_FLOOR: usize = 1024;

impl Locked<'_> {
    /// The bucket a request by `client` draws on at `now`.
    fn bucket(&mut self, client: &str, now: VirtualMillis) -> &mut Bucket {
        match self {
            Locked::Account(bucket) => bucket,
            Locked::PerClient(new, held) => {
                if held.buckets.len() >= held.prune_at {
                    held.buckets.retain(|_, b| !b.full_at(now));
                    held.prune_at = (held.buckets.len() * 2).max(PRUNE_FLOOR);
                }
                held.buckets
                    .entry(client.to_string())
                    .or_insert(Bucket { at: now, ..*new })
            }
        }
    }
}

/// A budget: its name, what it counts, and its buckets.
#[derive(Debug)]
struct Budget {
    name: String,
    plane: Plane,
    operations: Vec<String>,
    buckets: Buckets,
}

impl Budget {
    fn lock(&self) -> Locked<'_> {
        match &self.buckets {
            Buckets::Account(b) => Locked::Account(b.lock().unwrap_or_else(|e| e.into_inner())),
            Buckets::PerClient { new, held } => {
                Locked::PerClient(*new, held.lock().unwrap_or_else(|e| e.into_inner()))
            }
        }
    }
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
                let bucket = Bucket::new(b.per_second?, b.burst?, now);
                let buckets = match b.per {
                    Per::Account => Buckets::Account(Mutex::new(bucket)),
                    Per::ClientId => Buckets::PerClient {
                        new: bucket,
                        held: Mutex::new(PerClient {
                            buckets: HashMap::new(),
                            prune_at: PRUNE_FLOOR,
                        }),
                    },
                };
                Some(Budget {
                    name: b.name.clone(),
                    plane: b.plane,
                    operations: b.operations.clone(),
                    buckets,
                })
            })
            .collect();
        Self { budgets }
    }

    /// Takes a token from every budget that counts `operation` of `plane` at `now`; the name of
    /// the first one that was empty. A refused request takes nothing from the others.
    pub fn admit(&self, plane: Plane, operation: &str, now: VirtualMillis) -> Result<(), String> {
        self.admit_as(plane, operation, None, now)
    }

    /// [`Quotas::admit`] for a CONNECT of the broker by `client` (its client id), which also
    /// draws on the budgets kept per client id.
    pub fn admit_connect(&self, client: &str, now: VirtualMillis) -> Result<(), String> {
        self.admit_as(Plane::Broker, CONNECT, Some(client), now)
    }

    fn admit_as(
        &self,
        plane: Plane,
        operation: &str,
        client: Option<&str>,
        now: VirtualMillis,
    ) -> Result<(), String> {
        let counting: Vec<&Budget> = self
            .budgets
            .iter()
            .filter(|b| b.plane == plane && b.operations.iter().any(|o| o == operation))
            .filter(|b| client.is_some() || matches!(b.buckets, Buckets::Account(_)))
            .collect();
        let mut held: Vec<Locked<'_>> = counting.iter().map(|b| b.lock()).collect();
        let mut buckets: Vec<&mut Bucket> = held
            .iter_mut()
            .map(|l| l.bucket(client.unwrap_or_default(), now))
            .collect();
        let before: Vec<Bucket> = buckets.iter().map(|b| **b).collect();
        for i in 0..buckets.len() {
            if !buckets[i].take(now) {
                for (b, saved) in buckets.iter_mut().zip(&before) {
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

    const CONNECTS: &str = r#"{"service":"t","read":"2026-12-03","buckets":[
        {"name":"account","plane":"broker","operations":["Connect"],"perSecond":1,"burst":3,
         "source":{"url":"https://example.com","read":"2026-12-03","note":"test"}},
        {"name":"client","plane":"broker","operations":["Connect"],"per":"clientId","perSecond":1,"burst":1,
         "source":{"url":"https://example.com","read":"2026-12-03","note":"test"}}]}"#;

    #[rstest]
    #[case::one_a_second_per_client_id(&[("a", 0), ("a", 999), ("a", 1000)], &[Ok(()), Err("client"), Ok(())])]
    #[case::client_ids_apart(&[("a", 0), ("b", 0), ("a", 0), ("c", 0)], &[Ok(()), Ok(()), Err("client"), Ok(())])]
    #[case::the_account_shared_by_all(&[("a", 0), ("b", 0), ("c", 0), ("d", 0)], &[Ok(()), Ok(()), Ok(()), Err("account")])]
    #[case::a_client_refusal_spends_no_account_token(&[("a", 0), ("a", 0), ("a", 0), ("b", 0), ("c", 0)], &[Ok(()), Err("client"), Err("client"), Ok(()), Ok(())])]
    #[case::an_account_refusal_spends_no_client_token(&[("a", 0), ("b", 0), ("c", 0), ("d", 0), ("d", 1000)], &[Ok(()), Ok(()), Ok(()), Err("account"), Ok(())])]
    fn connects_draw_on_the_account_and_their_client_id(
        #[case] connects: &[(&str, VirtualMillis)],
        #[case] expected: &[Result<(), &str>],
    ) {
        let quotas = Quotas::new(&limits(CONNECTS), 0);
        let got: Vec<Result<(), String>> = connects
            .iter()
            .map(|(client, at)| quotas.admit_connect(client, *at))
            .collect();
        let expected: Vec<Result<(), String>> =
            expected.iter().map(|r| r.map_err(str::to_string)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn full_client_buckets_are_forgotten_and_spent_ones_kept() {
        let roomy = CONNECTS.replace(r#""burst":3"#, r#""burst":100000"#);
        let quotas = Quotas::new(&limits(&roomy), 0);
        for i in 1..PRUNE_FLOOR {
            assert_eq!(quotas.admit_connect(&format!("old-{i}"), 0), Ok(()));
        }
        assert_eq!(quotas.admit_connect("recent", 999), Ok(()));
        assert_eq!(quotas.admit_connect("new", 1000), Ok(()));
        assert_eq!(quotas.admit_connect("recent", 1500), Err("client".into()));
        let Buckets::PerClient { held, .. } = &quotas.budgets[1].buckets else {
            unreachable!("the second budget is kept per client id")
        };
        let held = held.lock().unwrap();
        assert_eq!(held.buckets.len(), 2, "only recent and new are left");
        assert_eq!(held.prune_at, PRUNE_FLOOR);
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
