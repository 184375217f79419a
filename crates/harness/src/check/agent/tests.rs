//! What a device concludes from its own view: each case is the device's history (jobs created
//! 2 s apart, unless `close`; the ones it started, finished, forgot), one answer, and the
//! requirement verdicts it gives.

use rstest::rstest;
use serde_json::{Value, json};

use super::{CreatedJob, DeviceOracle, transition};
use crate::check::answer::Answer;

/// Jobs `ids` created 2 s apart (`gap_us` apart when given), oldest first.
fn created(ids: &[&str], gap_us: u64) -> Vec<CreatedJob> {
    ids.iter()
        .enumerate()
        .map(|(k, id)| CreatedJob {
            id: id.to_string(),
            sent_us: k as u64 * gap_us,
            acked_us: k as u64 * gap_us + 1_000,
        })
        .collect()
}

/// A device that started `started`, finished `finished` and forgot `forgot`.
fn oracle(started: &[&str], finished: &[&str], forgot: &[&str]) -> DeviceOracle {
    let mut o = DeviceOracle::default();
    started.iter().for_each(|j| o.started(j));
    finished.iter().for_each(|j| o.finished(j));
    forgot.iter().for_each(|j| o.forget(j));
    o
}

/// `[requirement, passed]` pairs, as text.
fn verdicts(findings: impl IntoIterator<Item = crate::finding::Finding>) -> Vec<(String, bool)> {
    findings
        .into_iter()
        .map(|f| (f.requirement.to_string(), f.passed))
        .collect()
}

fn execution(job: &str, status: &str) -> Value {
    json!({ "execution": { "jobId": job, "status": status } })
}

const SECONDS_APART: u64 = 2_000_000;

#[rstest]
#[case::head(&[], &[], &[], true, execution("a", "IN_PROGRESS"), &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
#[case::newer_first(&[], &[], &[], true, execution("b", "IN_PROGRESS"), &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
#[case::finished_comes_back(&[], &["a"], &[], true, execution("a", "IN_PROGRESS"), &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
#[case::in_progress_is_the_head(&["b"], &[], &[], true, execution("b", "IN_PROGRESS"), &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
#[case::queued_before_in_progress(&["b"], &[], &[], true, execution("a", "IN_PROGRESS"), &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
#[case::nothing_while_pending(&[], &[], &[], true, json!({}), &[("SN-NEXT-ORDER", false)])]
#[case::nothing_left(&[], &["a", "b"], &[], true, json!({}), &[("SN-EMPTY", true)])]
#[case::nothing_left_unsure(&[], &["a", "b"], &[], false, json!({}), &[])]
#[case::forgotten_head_returned(&[], &[], &["a"], true, execution("a", "IN_PROGRESS"), &[("SN-START", true)])]
#[case::forgotten_head_skipped(&[], &[], &["a"], true, execution("b", "IN_PROGRESS"), &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
#[case::nothing_but_forgotten(&[], &["b"], &["a"], true, json!({}), &[])]
#[case::stranger(&[], &["a", "b"], &[], true, execution("x", "IN_PROGRESS"), &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
#[case::stranger_unsure(&[], &["a", "b"], &[], false, execution("x", "IN_PROGRESS"), &[("SN-START", true)])]
#[case::still_queued(&[], &[], &[], true, execution("a", "QUEUED"), &[("SN-NEXT-ORDER", true), ("SN-START", false)])]
fn start_next_names_the_head_and_starts_it(
    #[case] started: &[&str],
    #[case] finished: &[&str],
    #[case] forgot: &[&str],
    #[case] exact: bool,
    #[case] body: Value,
    #[case] want: &[(&str, bool)],
) {
    let o = oracle(started, finished, forgot);
    let (_, findings) = o.start_next_facts(
        &Answer::Success(body),
        Some(1),
        &created(&["a", "b"], SECONDS_APART),
        exact,
    );
    let want: Vec<(String, bool)> = want.iter().map(|(r, p)| (r.to_string(), *p)).collect();
    assert_eq!(verdicts(findings), want);
}

#[rstest]
#[case::queued_tie(&[], "SN-TIE-ORDER")]
#[case::in_progress_head_is_no_tie(&["a"], "SN-NEXT-ORDER")]
fn a_job_created_within_the_second_is_a_tie_only_behind_a_queued_head(
    #[case] started: &[&str],
    #[case] cited: &str,
) {
    let o = oracle(started, &[], &[]);
    let (_, findings) = o.start_next_facts(
        &Answer::Success(execution("b", "IN_PROGRESS")),
        None,
        &created(&["a", "b"], 10_000),
        true,
    );
    assert_eq!(verdicts(findings)[0], (cited.to_string(), false));
}

#[rstest]
#[case::head(&[], &[], execution("a", "QUEUED"), &[("DE-NEXT", true)])]
#[case::newer(&[], &[], execution("b", "QUEUED"), &[("DE-NEXT", false)])]
#[case::in_progress_first(&["b"], &[], execution("b", "IN_PROGRESS"), &[("DE-NEXT", true)])]
#[case::finished(&[], &["a"], execution("a", "SUCCEEDED"), &[("DE-NEXT", false)])]
#[case::empty_while_pending(&[], &["a"], json!({}), &[("DE-NEXT", false)])]
#[case::empty(&[], &["a", "b"], json!({}), &[("DE-NEXT-EMPTY", true)])]
fn describe_next_names_the_head(
    #[case] started: &[&str],
    #[case] finished: &[&str],
    #[case] body: Value,
    #[case] want: &[(&str, bool)],
) {
    let o = oracle(started, finished, &[]);
    let findings = o.describe_next_facts(
        &Answer::Success(body),
        None,
        &created(&["a", "b"], SECONDS_APART),
        true,
    );
    let want: Vec<(String, bool)> = want.iter().map(|(r, p)| (r.to_string(), *p)).collect();
    assert_eq!(verdicts(findings), want);
}

#[rstest]
#[case::right(&["a"], &[], &[], true, &["a"], &["b"], Some(true))]
#[case::finished_listed(&[], &["a"], &[], true, &[], &["a", "b"], Some(false))]
#[case::started_listed_queued(&["a"], &[], &[], true, &[], &["a", "b"], Some(false))]
#[case::never_started_listed_in_progress(&[], &[], &[], true, &["b"], &["a"], Some(false))]
#[case::stranger(&[], &[], &[], true, &[], &["a", "b", "x"], Some(false))]
#[case::stranger_unsure(&[], &[], &[], false, &[], &["a", "b", "x"], Some(true))]
#[case::forgotten_anywhere(&[], &[], &["a"], true, &["a"], &["b"], Some(true))]
#[case::nothing_listed_nothing_known(&[], &["a", "b"], &[], false, &[], &[], None)]
fn the_pending_list_holds_what_the_device_left_pending(
    #[case] started: &[&str],
    #[case] finished: &[&str],
    #[case] forgot: &[&str],
    #[case] exact: bool,
    #[case] in_progress: &[&str],
    #[case] queued: &[&str],
    #[case] passed: Option<bool>,
) {
    let o = oracle(started, finished, forgot);
    let list = |ids: &[&str]| -> Vec<Value> { ids.iter().map(|j| json!({ "jobId": j })).collect() };
    let body = json!({ "inProgressJobs": list(in_progress), "queuedJobs": list(queued) });
    let finding = o.pending_facts(
        &Answer::Success(body),
        None,
        &created(&["a", "b"], SECONDS_APART),
        exact,
    );
    assert_eq!(finding.as_ref().map(|f| f.passed), passed, "{finding:?}");
    if let Some(f) = finding {
        assert_eq!(f.requirement.to_string(), "GP-CONTENT");
    }
}

#[test]
fn only_a_success_is_judged() {
    let o = DeviceOracle::default();
    let refused = Answer::Error {
        status: 409,
        type_name: None,
        body: None,
    };
    let created = created(&["a"], SECONDS_APART);
    assert!(
        o.start_next_facts(&refused, None, &created, true)
            .1
            .is_empty()
    );
    assert!(
        o.describe_next_facts(&refused, None, &created, true)
            .is_empty()
    );
    assert!(o.pending_facts(&refused, None, &created, true).is_none());
}

/// An update's answer and the UP-TRANSITION verdict it gives (`None`: no finding).
#[rstest]
#[case::accepted(Answer::Success(json!({})), Some(true))]
#[case::refused(Answer::Error { status: 409, type_name: Some("InvalidStateTransitionException".into()), body: None }, Some(false))]
#[case::not_found(Answer::Error { status: 404, type_name: Some("ResourceNotFoundException".into()), body: None }, Some(false))]
#[case::throttled(Answer::Error { status: 429, type_name: Some("ThrottlingException".into()), body: None }, None)]
#[case::faulted(Answer::Error { status: 503, type_name: Some("ServiceUnavailableException".into()), body: None }, None)]
#[case::unanswered(Answer::Unanswered, None)]
fn a_transition_is_judged_only_when_the_service_considered_it(
    #[case] answer: Answer,
    #[case] passed: Option<bool>,
) {
    let finding = transition(&answer, None, "j", "SUCCEEDED");
    assert_eq!(finding.map(|f| f.passed), passed);
}
