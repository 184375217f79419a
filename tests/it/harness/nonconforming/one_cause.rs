//! One fault, one finding: each fault a foreign implementation was seen to have, reproduced by
//! the proxy, is counted once (per request or execution it touches) under its own requirement,
//! and everything it causes later in the case is a follow-on linked to that finding. The same
//! cases pass through the faithful proxy.

use std::collections::{BTreeMap, BTreeSet};

use jobcert_harness::finding::{Cause, Severity};
use jobcert_harness::verdict::Assessment;
use rstest::rstest;

use super::{DEADLINE, Fault, STRING_STEP_CASE, plan, run_through};
use crate::common::faults::{failures, listing};

const IN_PROGRESS_FIRST: &str = "start-next/in-progress-comes-first";
const STEP_TIMER: &str = "start-next/step-timeout-times-out";
const CANCEL: &str = "update/minus-one-cancels-the-step-timer";
const RETRIED: &str = "update/a-failed-execution-is-retried";
const CAP: &str = "blind-spots/the-in-progress-timeout-caps-a-step-timer-set-by-update";
const INVALID: &str = "blind-spots/invalid-step-timeouts-on-update-leave-the-timers";
const STRING: &str = "blind-spots/step-timeout-as-a-string-on-update-leaves-the-timers";
const MINUS_ONE: &str = "blind-spots/minus-one-with-no-step-timer-starts-and-stops-nothing";

/// The counted failures, by requirement.
fn counted(assessment: &Assessment) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for (_, w) in failures(assessment) {
        *out.entry(w.finding.requirement.as_str()).or_default() += 1;
    }
    out
}

/// The follow-ons whose cause is not a counted failure of their own case.
fn orphans(assessment: &Assessment) -> Vec<String> {
    let mut out = Vec::new();
    for case in &assessment.cases {
        let roots: Vec<Cause> = case
            .problems
            .iter()
            .filter(|w| w.severity != Severity::FollowOn && !w.finding.passed)
            .map(|w| Cause::of(&w.finding))
            .collect();
        for w in case
            .problems
            .iter()
            .filter(|w| w.severity == Severity::FollowOn)
        {
            if !w.finding.caused_by.is_some_and(|c| roots.contains(&c)) {
                out.push(format!("{}: {:?}", case.id, w.finding));
            }
        }
    }
    out
}

#[rstest]
#[case::start_next_takes_the_queue_head(
    Fault::WrongNextJob,
    &[IN_PROGRESS_FIRST],
    &[("SN-NEXT-ORDER", 1)],
    &["SN-NEXT-ORDER"]
)]
#[case::start_next_step_ignored(
    Fault::StartNextStepIgnored,
    &[STEP_TIMER],
    &[("SN-STEP-TIMER", 1)],
    &["TM-STEP-EXPIRY", "UP-TERMINAL"]
)]
#[case::minus_one_ends_a_step_timed_execution(
    Fault::EndsAfter("-1", 0),
    &[CANCEL],
    &[("UP-STEP-CANCEL", 1)],
    &[]
)]
#[case::minus_one_ends_an_execution_without_step_timer(
    Fault::EndsAfter("-1", 0),
    &[MINUS_ONE],
    &[("TM-NOT-EARLY", 1)],
    &["TM-NOT-EARLY"]
)]
#[case::minus_two_ends_at_once(
    Fault::EndsAfter("-2", 0),
    &[INVALID],
    &[("UP-INPUT", 2), ("UP-STEP-INVALID-TIMERS", 2)],
    &[]
)]
#[case::a_fraction_replaces_the_timers(
    Fault::EndsAfter("2.5", 150),
    &[INVALID],
    &[("UP-INPUT", 2), ("UP-STEP-INVALID-TIMERS", 2)],
    &[]
)]
#[case::update_step_uncapped(Fault::UpdateStepUncapped, &[CAP], &[("UP-STEP-CAP", 1)], &["UP-STEP-CAP"])]
#[case::string_step_breaks_the_thing(
    Fault::CorruptedByStringStep,
    &[STRING],
    &[("WI-HEALTH", 1)],
    &["WI-ERROR-TYPE", "WI-HEALTH"]
)]
#[case::numeric_string_breaks_the_thing(
    Fault::CorruptedByStringStep,
    &[STRING_STEP_CASE],
    &[("WI-HEALTH", 1)],
    &["WI-ERROR-TYPE"]
)]
#[case::no_retries(Fault::NoRetries, &[RETRIED], &[("EX-RETRY", 1)], &[])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_is_counted_once_and_its_consequences_follow_it(
    #[case] fault: Fault,
    #[case] only: &[&str],
    #[case] expected: &[(&str, usize)],
    #[case] follow_ons: &[&str],
) {
    let plan = plan(only);
    let (_, control) = run_through(Fault::Faithful, &plan, DEADLINE).await;
    let control = failures(&control);
    assert!(
        control.is_empty(),
        "the same cases fail without the fault:\n{}",
        listing(&control)
    );
    let (_, assessment) = run_through(fault, &plan, DEADLINE).await;
    let expected: BTreeMap<&str, usize> = expected.iter().copied().collect();
    assert_eq!(
        counted(&assessment),
        expected,
        "{fault:?}: counted failures:\n{}",
        listing(&failures(&assessment))
    );
    let orphans = orphans(&assessment);
    assert!(
        orphans.is_empty(),
        "{fault:?}: follow-ons of no counted failure:\n{}",
        orphans.join("\n")
    );
    let followed: BTreeSet<&str> = assessment
        .cases
        .iter()
        .flat_map(|c| &c.problems)
        .filter(|w| w.severity == Severity::FollowOn)
        .map(|w| w.finding.requirement.as_str())
        .collect();
    for id in follow_ons {
        assert!(
            followed.contains(id),
            "{fault:?}: no {id} follow-on: {followed:?}"
        );
    }
}
