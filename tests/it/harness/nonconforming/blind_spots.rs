//! The faults a foreign implementation was seen to have and no case caught, each run against
//! the case of `scenarios/conformance/blind-spots.yaml` written for it (and the generated
//! cases of its requirement): the faithful proxy passes those cases, the faulty one fails them
//! under the case's own requirements and nothing else: what the fault brings about later is
//! a follow-on of it (see `one_cause`).

use std::collections::BTreeSet;

use jobcert_harness::finding::Severity;
use rstest::rstest;

use super::{DEADLINE, Fault, plan, run_through};
use crate::common::faults::{cited, failures, listing};

const NEXT: &str = "blind-spots/next-is-the-in-progress-execution-queued-later";
const CAP: &str = "blind-spots/the-in-progress-timeout-caps-a-step-timer-set-by-update";
const INVALID: &str = "blind-spots/invalid-step-timeouts-on-update-leave-the-timers";
const STRING: &str = "blind-spots/step-timeout-as-a-string-on-update-leaves-the-timers";
const MINUS_ONE: &str = "blind-spots/minus-one-with-no-step-timer-starts-and-stops-nothing";
const NEXT_DOCUMENT: &str = "blind-spots/next-leaves-the-document-out-on-request";

#[rstest]
#[case::next_prefers_queued(Fault::NextPrefersQueued, &[NEXT], &["DE-NEXT"], &[])]
#[case::update_step_uncapped(Fault::UpdateStepUncapped, &[CAP], &["UP-STEP-CAP"], &[])]
#[case::zero_stops_timers(
    Fault::StopsTimersOn("0"),
    &[INVALID],
    &["UP-INPUT", "UP-STEP-INVALID-TIMERS"],
    &[]
)]
#[case::minus_two_stops_timers(
    Fault::StopsTimersOn("-2"),
    &[INVALID],
    &["UP-INPUT", "UP-STEP-INVALID-TIMERS"],
    &[]
)]
#[case::fraction_stops_timers(
    Fault::StopsTimersOn("2.5"),
    &[INVALID],
    &["UP-INPUT", "UP-STEP-INVALID-TIMERS"],
    &[]
)]
#[case::string_stops_timers(
    Fault::StopsTimersOn(r#""5""#),
    &[STRING],
    &["UP-STEP-INVALID-TIMERS"],
    &["WI-SCALAR-STRINGS"]
)]
#[case::string_corrupts(Fault::CorruptedByStringStep, &[STRING], &["WI-HEALTH"], &[])]
#[case::minus_one_starts_a_timer(
    Fault::MinusOneStartsATimer,
    &[MINUS_ONE],
    &["TM-NOT-EARLY"],
    &["UP-STEP-CANCEL-NONE"]
)]
#[case::truncates_version(
    Fault::TruncatesVersion,
    &["UP-EXPECTED-VERSION-INTEGER"],
    &["UP-EXPECTED-VERSION-INTEGER"],
    &[]
)]
#[case::next_keeps_the_document(
    Fault::NextKeepsTheDocument,
    &[NEXT_DOCUMENT],
    &["DE-DOCUMENT"],
    &[]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_spot_fails_its_own_requirement(
    #[case] fault: Fault,
    #[case] only: &[&str],
    #[case] failed: &[&str],
    #[case] warned: &[&str],
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
    let failures = failures(&assessment);
    let cited = cited(&failures);
    let expected: BTreeSet<&str> = failed.iter().copied().collect();
    assert_eq!(
        cited,
        expected,
        "{fault:?} should fail {expected:?} and nothing else; failures:\n{}",
        listing(&failures)
    );
    let warnings: BTreeSet<&str> = assessment
        .cases
        .iter()
        .flat_map(|c| &c.problems)
        .filter(|w| w.severity == Severity::Warning)
        .map(|w| w.finding.requirement.as_str())
        .collect();
    for id in warned {
        assert!(
            warnings.contains(id),
            "{fault:?} should warn under {id}: {warnings:?}"
        );
    }
}
