//! Sequences across operations: facts the contract fixes only relatively (opaque execution
//! numbers, timestamps that move with changes, what was accepted is what is stored), and root
//! causes named once, with the model re-synchronised from the target's answers.

use rstest::rstest;
use serde_json::{Map, Value, json};

use super::fixture::{EPOCH, THING, at, document, execution, ok, patched, real, refused};
use super::{Answer, Call, JobFacts, Oracle, Subject};
use crate::finding::{Cause, Finding, Profile, Severity, severity};
use jobcert_contract::{Binding, Operation, RequirementId, req};

/// One thing with job `a` queued on it at 0 s, retried once on FAILED.
struct World {
    oracle: Oracle,
    seq: u64,
}

impl World {
    fn new() -> Self {
        Self::of(&[("a", 0.0)])
    }

    /// One thing with `jobs` queued on it, each at its time in milliseconds.
    fn of(jobs: &[(&str, f64)]) -> Self {
        let mut oracle = Oracle::new(1_000.0);
        oracle.thing_created("t", THING);
        for (job, ms) in jobs {
            let facts = JobFacts {
                id: job.to_string(),
                real_id: real(job),
                document: document(job),
                in_progress_minutes: None,
                retry: vec![("FAILED".into(), 1)],
            };
            oracle.job_created(facts, &["t".to_string()], at(*ms));
        }
        Self { oracle, seq: 0 }
    }

    /// Judges `answer` to `operation` sent at `ms`.
    fn call(
        &mut self,
        operation: Operation,
        job: Subject,
        input: Value,
        answer: Answer,
        ms: f64,
    ) -> Vec<Finding> {
        self.call_as(true, operation, job, input, answer, ms)
    }

    /// As [`World::call`], with an input its request schema accepts (`valid`) or refuses.
    fn call_as(
        &mut self,
        valid: bool,
        operation: Operation,
        job: Subject,
        input: Value,
        answer: Answer,
        ms: f64,
    ) -> Vec<Finding> {
        self.seq += 1;
        let input: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
        let call = Call {
            operation,
            thing: Subject::Seeded("t".into()),
            job,
            input: &input,
            valid,
            binding: Binding::Http,
            window: at(ms),
            seq: self.seq,
        };
        self.oracle.judge(&call, &answer, None)
    }

    fn start_next(&mut self, input: Value, answer: Answer, ms: f64) -> Vec<Finding> {
        let op = Operation::StartNextPendingJobExecution;
        self.call(op, Subject::Absent, input, answer, ms)
    }

    fn update(&mut self, input: Value, answer: Answer, ms: f64) -> Vec<Finding> {
        let op = Operation::UpdateJobExecution;
        self.call(op, Subject::Seeded("a".into()), input, answer, ms)
    }

    fn describe(&mut self, input: Value, answer: Answer, ms: f64) -> Vec<Finding> {
        let op = Operation::DescribeJobExecution;
        self.call(op, Subject::Seeded("a".into()), input, answer, ms)
    }

    /// Started at 2 s as execution `number`; the step timer of `step` minutes if given.
    fn started(number: i64, step: Option<i64>) -> Self {
        let mut world = Self::new();
        let mut body = patched(
            execution("a", "IN_PROGRESS", 2),
            json!({"executionNumber": number}),
        );
        let input = match step {
            Some(m) => {
                body["approximateSecondsBeforeTimedOut"] = json!(m * 60);
                json!({"stepTimeoutInMinutes": m})
            }
            None => json!({}),
        };
        let found = world.start_next(input, ok(json!({ "execution": body })), 2_000.0);
        assert_failures(&found, &[]);
        world
    }
}

/// Job `a` with an in-progress timeout of `in_progress` minutes, started at 2 s (exchange #1)
/// with a step timer of `step` minutes if given, its countdown shown.
fn started_under(in_progress: Option<i64>, step: Option<i64>) -> World {
    let mut world = World::new();
    if let Some(job) = world.oracle.case.jobs.get_mut("a") {
        job.in_progress_minutes = in_progress;
    }
    let mut body = execution("a", "IN_PROGRESS", 2);
    let deadline = match (step, in_progress) {
        (Some(s), Some(i)) => Some(s.min(i)),
        (s, i) => s.or(i),
    };
    if let Some(m) = deadline {
        body["approximateSecondsBeforeTimedOut"] = json!(m * 60 - 1);
    }
    let input = step.map_or(json!({}), |m| json!({ "stepTimeoutInMinutes": m }));
    let found = world.start_next(input, ok(json!({ "execution": body })), 2_000.0);
    assert_failures(&found, &[]);
    world
}

/// The failures among `found` that count (not follow-ons), by requirement.
fn failures(found: &[Finding]) -> Vec<RequirementId> {
    found
        .iter()
        .filter(|f| severity(f, Profile::Strict) == Severity::Failure)
        .map(|f| f.requirement)
        .collect()
}

fn assert_failures(found: &[Finding], expected: &[RequirementId]) {
    assert_eq!(failures(found), expected, "{found:#?}");
}

fn passed(found: &[Finding], requirement: RequirementId) -> bool {
    found
        .iter()
        .any(|f| f.passed && f.requirement == requirement)
}

/// The retry of execution 1000 as a target describes it, queued at 3 s.
fn retry(number: i64) -> Answer {
    let body = patched(
        execution("a", "QUEUED", 1),
        json!({"executionNumber": number, "queuedAt": EPOCH + 3, "lastUpdatedAt": EPOCH + 3}),
    );
    ok(json!({ "execution": body }))
}

// Execution numbers are opaque, ordered values (§1.1): a target may start at 1000; a retry
// must be numbered above the execution it retries.
#[rstest]
#[case::above(1001, &[])]
#[case::far_above(5_000_000_000, &[])]
#[case::equal(1000, &[req::EX_RETRY])]
#[case::below(999, &[req::EX_RETRY])]
fn a_retry_is_numbered_above_its_predecessor(
    #[case] number: i64,
    #[case] expected: &[RequirementId],
) {
    let mut world = World::started(1000, None);
    let failed = world.update(json!({"status": "FAILED"}), ok(json!({})), 3_000.0);
    assert_failures(&failed, &[]);
    // The failed execution's number is known, though its retry's is not yet.
    let first = patched(
        execution("a", "FAILED", 3),
        json!({"executionNumber": 1000, "lastUpdatedAt": EPOCH + 3}),
    );
    let found = world.describe(
        json!({"executionNumber": 1000}),
        ok(json!({ "execution": first.clone() })),
        3_500.0,
    );
    assert_failures(&found, &[]);
    assert!(passed(&found, req::DE_EXECUTION_NUMBER), "{found:#?}");
    let found = world.describe(json!({}), retry(number), 4_000.0);
    assert_failures(&found, expected);
    assert!(passed(&found, req::EX_RETRY), "{found:#?}");
    if !expected.is_empty() {
        return;
    }
    // With distinct numbers, executionNumber still selects the failed execution.
    let found = world.describe(
        json!({"executionNumber": 1000}),
        ok(json!({ "execution": first })),
        5_000.0,
    );
    assert_failures(&found, &[]);
    assert!(passed(&found, req::DE_EXECUTION_NUMBER), "{found:#?}");
}

// The same, learned from the pending list.
#[rstest]
#[case::above(1001, &[])]
#[case::equal(1000, &[req::EX_RETRY])]
fn a_listed_retry_is_numbered_above_its_predecessor(
    #[case] number: i64,
    #[case] expected: &[RequirementId],
) {
    let mut world = World::started(1000, None);
    world.update(json!({"status": "FAILED"}), ok(json!({})), 3_000.0);
    let summary = json!({"jobId": real("a"), "queuedAt": EPOCH + 3, "lastUpdatedAt": EPOCH + 3, "versionNumber": 1, "executionNumber": number});
    let listed = ok(json!({"inProgressJobs": [], "queuedJobs": [summary]}));
    let op = Operation::GetPendingJobExecutions;
    let found = world.call(op, Subject::Absent, json!({}), listed, 4_000.0);
    assert_failures(&found, expected);
    assert!(passed(&found, req::EX_RETRY), "{found:#?}");
}

// A retry that never came is named once, under EX-RETRY, whichever read shows it;
// the model then holds the target's state and nothing else fails.
#[rstest]
#[case::start_next(Operation::StartNextPendingJobExecution, ok(json!({})))]
#[case::get_pending(Operation::GetPendingJobExecutions, ok(json!({"inProgressJobs": [], "queuedJobs": []})))]
#[case::describe_latest(Operation::DescribeJobExecution, ok(json!({"execution": patched(execution("a", "FAILED", 3), json!({"lastUpdatedAt": EPOCH + 3}))})))]
#[case::describe_refused(
    Operation::DescribeJobExecution,
    refused(410, "TerminalStateException")
)]
fn a_retry_that_never_came_is_one_failure(#[case] operation: Operation, #[case] answer: Answer) {
    let mut world = World::started(1, None);
    world.update(json!({"status": "FAILED"}), ok(json!({})), 3_000.0);
    let job = match operation {
        Operation::DescribeJobExecution => Subject::Seeded("a".into()),
        _ => Subject::Absent,
    };
    let found = world.call(operation, job, json!({}), answer, 4_000.0);
    assert_failures(&found, &[req::EX_RETRY]);
    let cause = found.iter().find(|f| !f.passed).expect("a cause");
    assert!(
        cause.message.contains("FAILED by exchange #2"),
        "{}",
        cause.message
    );
    // Re-synchronised: nothing is pending, and the execution is the failed one.
    let found = world.start_next(json!({}), ok(json!({})), 5_000.0);
    assert_failures(&found, &[]);
    assert!(passed(&found, req::SN_EMPTY));
    let refused = refused(409, "InvalidStateTransitionException");
    let found = world.update(json!({"status": "SUCCEEDED"}), refused, 6_000.0);
    assert_failures(&found, &[]);
    assert!(passed(&found, req::UP_TERMINAL));
}

// A step timer that never fired: the update the target accepted (rightly, from its state) is
// judged against that state, and the timer is the one failure.
#[test]
fn a_timer_that_never_fired_is_one_failure_and_the_model_follows_the_target() {
    let mut world = World::started(1, Some(1));
    let accepted = world.update(json!({"status": "SUCCEEDED"}), ok(json!({})), 200_000.0);
    assert_failures(&accepted, &[req::TM_STEP_EXPIRY]);
    assert!(passed(&accepted, req::UP_TRANSITION), "{accepted:#?}");
    let cause = accepted.iter().find(|f| !f.passed).expect("a cause");
    assert!(
        cause.message.contains("step timer set by exchange #1"),
        "{}",
        cause.message
    );
    let done = patched(
        execution("a", "SUCCEEDED", 3),
        json!({"lastUpdatedAt": EPOCH + 300}),
    );
    let found = world.describe(json!({}), ok(json!({ "execution": done })), 201_000.0);
    assert_failures(&found, &[]);
}

// The same, seen by a describe: the stale version it shows is a follow-on of the timer, shown
// under it and weighing nothing of its own.
#[rstest]
#[case::as_it_was(2, &[])]
#[case::moved(3, &[req::EX_EXECUTION])]
fn a_disagreement_in_the_answer_that_names_the_cause_follows_it(
    #[case] version: i64,
    #[case] follow_ons: &[RequirementId],
) {
    let mut world = World::started(1, Some(1));
    let running = execution("a", "IN_PROGRESS", version);
    let found = world.describe(json!({}), ok(json!({ "execution": running })), 200_000.0);
    assert_failures(&found, &[req::TM_STEP_EXPIRY]);
    let follows: Vec<RequirementId> = found
        .iter()
        .filter(|f| f.caused_by.is_some())
        .map(|f| f.requirement)
        .collect();
    assert_eq!(follows, follow_ons);
    assert!(
        found
            .iter()
            .filter_map(|f| f.caused_by)
            .all(|c| c.requirement == req::TM_STEP_EXPIRY)
    );
}

// lastUpdatedAt follows every accepted change, in whole seconds (so never back), and nothing
// else; queuedAt and startedAt never change.
#[rstest]
#[case::read_leaves_it(json!({}), &[])]
#[case::read_moves_it(json!({"lastUpdatedAt": EPOCH + 3}), &[req::EX_TIMESTAMPS])]
#[case::queued_at_moves(json!({"queuedAt": EPOCH + 1}), &[req::EX_TIMESTAMPS])]
#[case::started_at_moves(json!({"startedAt": EPOCH + 3}), &[req::EX_TIMESTAMPS])]
fn a_read_changes_no_timestamp(#[case] change: Value, #[case] expected: &[RequirementId]) {
    let mut world = World::started(1, None);
    let body = patched(execution("a", "IN_PROGRESS", 2), change);
    let found = world.describe(json!({}), ok(json!({ "execution": body })), 3_000.0);
    assert_failures(&found, expected);
}

#[rstest]
#[case::same_second(EPOCH + 2, &[])]
#[case::later(EPOCH + 4, &[])]
#[case::left_behind(EPOCH + 1, &[req::EX_TIMESTAMPS])]
fn a_change_moves_last_updated_at_forward(#[case] stamp: i64, #[case] expected: &[RequirementId]) {
    let mut world = World::started(1, None);
    world.update(json!({"status": "IN_PROGRESS"}), ok(json!({})), 3_000.0);
    let body = patched(
        execution("a", "IN_PROGRESS", 3),
        json!({"lastUpdatedAt": stamp}),
    );
    let found = world.describe(json!({}), ok(json!({ "execution": body })), 4_000.0);
    assert_failures(&found, expected);
}

// What the target accepted is what it stores and returns.
#[rstest]
#[case::stored(json!({"k": "v"}), &[])]
#[case::lost(json!({}), &[req::EX_EXECUTION])]
fn accepted_details_are_stored(#[case] later: Value, #[case] expected: &[RequirementId]) {
    let mut world = World::new();
    let started = patched(
        execution("a", "IN_PROGRESS", 2),
        json!({"statusDetails": {"k": "v"}}),
    );
    let found = world.start_next(
        json!({"statusDetails": {"k": "v"}}),
        ok(json!({ "execution": started })),
        2_000.0,
    );
    assert_failures(&found, &[]);
    let body = patched(
        execution("a", "IN_PROGRESS", 2),
        json!({ "statusDetails": later }),
    );
    let found = world.describe(json!({}), ok(json!({ "execution": body })), 3_000.0);
    assert_failures(&found, expected);
}

// Two jobs created in overlapping windows (a fast clock): creation order alone cannot order
// them, so the pick of the second is first only the open tie-break; once the target's own
// queuedAt shows the first queued a second earlier, the pick breaks the order rule.
#[rstest]
#[case::queued_earlier(EPOCH, &[req::SN_NEXT_ORDER])]
#[case::same_second(EPOCH + 1, &[])]
fn the_targets_queued_at_settles_a_pick_later(
    #[case] first_queued: i64,
    #[case] expected: &[RequirementId],
) {
    let mut world = World::of(&[("a", 0.0), ("b", 100.0)]);
    let second = patched(
        execution("b", "IN_PROGRESS", 2),
        json!({"queuedAt": EPOCH + 1}),
    );
    let found = world.start_next(json!({}), ok(json!({ "execution": second })), 2_000.0);
    assert_failures(&found, &[req::SN_TIE_ORDER]);
    let summary = |job: &str, queued: i64, running: bool| {
        let mut s = json!({"jobId": real(job), "queuedAt": queued, "lastUpdatedAt": EPOCH + 2, "versionNumber": 1, "executionNumber": 1});
        if running {
            s["startedAt"] = json!(EPOCH + 2);
            s["versionNumber"] = json!(2);
        }
        s
    };
    let listed = ok(json!({
        "inProgressJobs": [summary("b", EPOCH + 1, true)],
        "queuedJobs": [summary("a", first_queued, false)],
    }));
    let op = Operation::GetPendingJobExecutions;
    let found = world.call(op, Subject::Absent, json!({}), listed, 3_000.0);
    assert_failures(&found, expected);
    let late = found.iter().find(|f| !f.passed);
    assert!(late.is_none_or(|f| f.exchange == Some(1)), "{late:?}");
}

// An update's accepted statusDetails, read back later: replaced or merged (§7.8, only the
// former the default), never lost.
#[rstest]
#[case::replaced(json!({"new": "y"}), &[])]
#[case::merged(json!({"old": "x", "new": "y"}), &[req::UP_DETAILS_REPLACE])]
#[case::lost(json!({"old": "x"}), &[req::UP_DETAILS_STORED, req::UP_DETAILS_REPLACE])]
fn an_updates_details_are_read_back(#[case] later: Value, #[case] expected: &[RequirementId]) {
    let mut world = World::new();
    let started = patched(
        execution("a", "IN_PROGRESS", 2),
        json!({"statusDetails": {"old": "x"}}),
    );
    let input = json!({"statusDetails": {"old": "x"}});
    world.start_next(input, ok(json!({ "execution": started })), 2_000.0);
    let input = json!({"status": "IN_PROGRESS", "statusDetails": {"new": "y"}});
    assert_failures(&world.update(input, ok(json!({})), 3_000.0), &[]);
    let body = patched(
        execution("a", "IN_PROGRESS", 3),
        json!({ "statusDetails": later, "lastUpdatedAt": EPOCH + 3 }),
    );
    let found = world.describe(json!({}), ok(json!({ "execution": body })), 4_000.0);
    assert_failures(&found, expected);
}

// A cancel that never happened is named once, under the requirement of the state it predicted,
// and the model follows the target: the execution is still there to start.
#[test]
fn a_cancel_that_never_happened_is_one_failure() {
    let mut world = World::new();
    world.oracle.job_canceled("a", false, at(1_000.0));
    let queued = ok(json!({ "execution": execution("a", "QUEUED", 1) }));
    let found = world.describe(json!({}), queued, 2_000.0);
    assert_failures(&found, &[req::EX_EXECUTION]);
    let cause = found.iter().find(|f| !f.passed).expect("a cause");
    assert!(cause.message.starts_with("CancelJob of real-a was accepted, so CANCELED was predicted; but the target shows real-a QUEUED"), "{}", cause.message);
    let started = ok(json!({ "execution": execution("a", "IN_PROGRESS", 2) }));
    assert_failures(&world.start_next(json!({}), started, 3_000.0), &[]);
}

// A scenario expectation that fails where the re-synchronised model agrees with the answer
// follows from the case's cause; where the model also disagrees, it stands on its own.
#[test]
fn a_scenario_expectation_follows_the_cause_only_where_the_model_agrees() {
    let mut world = World::started(1, Some(1));
    let clean = [Finding::pass(req::EX_EXECUTION, "as modelled", Some(9))];
    assert_eq!(world.oracle.cause_behind(&clean), None);
    let running = ok(json!({ "execution": execution("a", "IN_PROGRESS", 2) }));
    let named = world.describe(json!({}), running, 200_000.0);
    let cause = world
        .oracle
        .cause_behind(&named)
        .expect("the answer names the cause");
    assert_eq!(cause.requirement, req::TM_STEP_EXPIRY);
    assert_eq!(world.oracle.cause_behind(&clean), Some(cause));
    let independent = [Finding::fail(req::DE_DOCUMENT, "another document", Some(9))];
    assert_eq!(world.oracle.cause_behind(&independent), None);
    // An answer the model did not judge (invalid input) it cannot agree with.
    assert_eq!(world.oracle.cause_behind(&[]), None);
}

// A timer that never fired on a job retried on TIMED_OUT: the listing, or start-next, shows the
// running execution (its number is the first's), so the timer is the one cause and its
// predicted retry goes with it.
#[rstest]
#[case::listed(true)]
#[case::started(false)]
fn a_running_execution_predicted_timed_out_takes_its_predicted_retry_with_it(
    #[case] by_listing: bool,
) {
    let mut world = World::of(&[]);
    let facts = JobFacts {
        id: "a".into(),
        real_id: real("a"),
        document: document("a"),
        in_progress_minutes: None,
        retry: vec![("TIMED_OUT".into(), 1)],
    };
    world.oracle.job_created(facts, &["t".to_string()], at(0.0));
    let body = patched(
        execution("a", "IN_PROGRESS", 2),
        json!({"approximateSecondsBeforeTimedOut": 60}),
    );
    let input = json!({"stepTimeoutInMinutes": 1});
    assert_failures(
        &world.start_next(input, ok(json!({ "execution": body })), 2_000.0),
        &[],
    );
    let running = json!({"jobId": real("a"), "queuedAt": EPOCH, "startedAt": EPOCH + 2, "lastUpdatedAt": EPOCH + 2, "versionNumber": 2, "executionNumber": 1});
    let listed = ok(json!({"inProgressJobs": [running], "queuedJobs": []}));
    let op = Operation::GetPendingJobExecutions;
    let found = if by_listing {
        world.call(op, Subject::Absent, json!({}), listed, 200_000.0)
    } else {
        let running = ok(json!({ "execution": execution("a", "IN_PROGRESS", 2) }));
        world.start_next(json!({}), running, 200_000.0)
    };
    assert_failures(&found, &[req::TM_STEP_EXPIRY]);
    let found = world.start_next(
        json!({}),
        ok(json!({ "execution": execution("a", "IN_PROGRESS", 2) })),
        201_000.0,
    );
    assert_failures(&found, &[]);
}

// An invalid update the target accepted (its input check failed already) moves the model onto
// what the target shows next, so the version and lastUpdatedAt it changed fail nothing more;
// a step timer it must have left that then does not fire is blamed on it (UP-STEP-INVALID-TIMERS),
// not on the timer.
#[rstest]
#[case::timer_left_running("TIMED_OUT", 8, &[])]
#[case::timer_stopped("IN_PROGRESS", 7, &[req::UP_STEP_INVALID_TIMERS])]
fn an_accepted_invalid_update_is_followed_not_repeated(
    #[case] later: &str,
    #[case] version: i64,
    #[case] expected: &[RequirementId],
) {
    let mut world = World::started(1, Some(3));
    world.seq += 1;
    let input: Map<String, Value> = json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": 0})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let call = Call {
        operation: Operation::UpdateJobExecution,
        thing: Subject::Seeded("t".into()),
        job: Subject::Seeded("a".into()),
        input: &input,
        valid: false,
        binding: Binding::Http,
        window: at(3_000.0),
        seq: world.seq,
    };
    assert_failures(&world.oracle.judge(&call, &ok(json!({})), None), &[]);
    let moved = patched(
        execution("a", "IN_PROGRESS", 7),
        json!({"lastUpdatedAt": EPOCH + 3}),
    );
    let found = world.describe(json!({}), ok(json!({ "execution": moved })), 4_000.0);
    assert_failures(&found, &[]);
    let shown = patched(
        execution("a", later, version),
        json!({"lastUpdatedAt": EPOCH + 300}),
    );
    let found = world.describe(json!({}), ok(json!({ "execution": shown })), 300_000.0);
    assert_failures(&found, expected);
}

// StartNext that starts a QUEUED execution over the IN_PROGRESS head fails SN-NEXT-ORDER once;
// the model follows what the target started, so the next StartNext, returning the oldest
// IN_PROGRESS execution (now the head) untouched, is right.
#[test]
fn a_wrong_head_is_one_failure_and_the_model_follows_it() {
    let mut world = World::of(&[("older", 0.0), ("newer", 5_000.0)]);
    let update = Operation::UpdateJobExecution;
    let newer = Subject::Seeded("newer".into());
    let found = world.call(
        update,
        newer,
        json!({"status": "IN_PROGRESS"}),
        ok(json!({})),
        6_000.0,
    );
    assert_failures(&found, &[]);
    let older = patched(
        execution("older", "IN_PROGRESS", 2),
        json!({"startedAt": EPOCH + 7, "lastUpdatedAt": EPOCH + 7}),
    );
    let answer = ok(json!({ "execution": older }));
    let found = world.start_next(json!({}), answer.clone(), 7_000.0);
    assert_failures(&found, &[req::SN_NEXT_ORDER]);
    let again = json!({"statusDetails": {"phase": "two"}, "stepTimeoutInMinutes": 5});
    let found = world.start_next(again, answer, 8_000.0);
    assert_failures(&found, &[]);
    assert!(passed(&found, req::SN_NEXT_ORDER), "{found:#?}");
}

// A step timer whose start already failed a check (its answer showed no countdown) is not a
// second cause when it does not fire: the contradiction, and what the target rightly does from
// its state, follow the start's failure.
#[rstest]
#[case::its_start_failed(true, &[])]
#[case::its_start_passed(false, &[req::TM_STEP_EXPIRY])]
fn a_timer_that_never_started_is_not_a_second_cause(
    #[case] start_failed: bool,
    #[case] expected: &[RequirementId],
) {
    let mut world = World::started(1, Some(1));
    let start = Finding::fail(req::SN_STEP_TIMER, "no countdown", Some(1));
    if start_failed {
        world.oracle.scripted(std::slice::from_ref(&start));
    }
    let running = execution("a", "IN_PROGRESS", 2);
    let found = world.describe(json!({}), ok(json!({ "execution": running })), 200_000.0);
    assert_failures(&found, expected);
    if start_failed {
        let cause = Cause::of(&start);
        assert!(
            found.iter().all(|f| f.passed || f.caused_by == Some(cause)),
            "{found:#?}"
        );
        assert_eq!(world.oracle.cause_behind(&found), Some(cause));
    }
    let found = world.update(json!({"status": "SUCCEEDED"}), ok(json!({})), 201_000.0);
    assert_failures(&found, &[]);
}

// An execution refused as terminal while the model holds it IN_PROGRESS before any deadline
// ended early: named once, under what last touched its timers; the model then holds it
// terminal, so a later refusal is only the §7.6 departure (a failure under strict alone).
#[rstest]
#[case::cancelled_step_timer(Some(3), json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": -1}), true, req::UP_STEP_CANCEL)]
#[case::minus_one_without_step_timer(None, json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": -1}), true, req::TM_NOT_EARLY)]
#[case::accepted_invalid(Some(4), json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": -2}), false, req::UP_STEP_INVALID_TIMERS)]
#[case::a_new_step_timer(Some(4), json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": 5}), true, req::TM_NOT_EARLY)]
fn an_early_end_is_named_once_under_what_touched_the_timers(
    #[case] step: Option<i64>,
    #[case] input: Value,
    #[case] valid: bool,
    #[case] expected: RequirementId,
) {
    let mut world = World::started(1, step);
    let update = Operation::UpdateJobExecution;
    let a = Subject::Seeded("a".into());
    let found = world.call_as(valid, update, a, input, ok(json!({})), 3_000.0);
    assert_failures(&found, &[]);
    let terminal = refused(410, "TerminalStateException");
    let found = world.describe(json!({}), terminal.clone(), 60_000.0);
    assert_failures(&found, &[expected]);
    let found = world.describe(json!({}), terminal, 61_000.0);
    assert_failures(&found, &[req::DE_TERMINAL_DESCRIBED]);
    assert!(passed(&found, req::DE_TERMINAL), "{found:#?}");
}

// A countdown that departs from the model's deadline is named under what explains it, and the
// model takes the target's deadline: the same countdown a minute on is right.
#[rstest]
#[case::uncapped(Some(2), None, Some((json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": 10}), true)), 543, req::UP_STEP_CAP)]
#[case::invalid_fraction(Some(5), Some(4), Some((json!({"status": "IN_PROGRESS", "stepTimeoutInMinutes": 2.5}), false)), 93, req::UP_STEP_INVALID_TIMERS)]
#[case::plain(None, Some(4), None, 100, req::TM_APPROXIMATE)]
fn a_departing_countdown_is_one_cause_and_the_model_follows_it(
    #[case] in_progress: Option<i64>,
    #[case] step: Option<i64>,
    #[case] update: Option<(Value, bool)>,
    #[case] left: i64,
    #[case] expected: RequirementId,
) {
    let mut world = started_under(in_progress, step);
    let (version, updated) = match update {
        Some((input, valid)) => {
            let op = Operation::UpdateJobExecution;
            let a = Subject::Seeded("a".into());
            let found = world.call_as(valid, op, a, input, ok(json!({})), 3_000.0);
            assert_failures(&found, &[]);
            (3, EPOCH + 3)
        }
        None => (2, EPOCH + 2),
    };
    let shown = |left: i64| {
        let body = patched(
            execution("a", "IN_PROGRESS", version),
            json!({"lastUpdatedAt": updated, "approximateSecondsBeforeTimedOut": left}),
        );
        ok(json!({ "execution": body }))
    };
    let found = world.describe(json!({}), shown(left), 60_000.0);
    assert_failures(&found, &[expected]);
    assert_eq!(
        world.oracle.cause_behind(&found).map(|c| c.requirement),
        Some(expected)
    );
    let found = world.describe(json!({}), shown(left - 60), 120_000.0);
    assert_failures(&found, &[]);
}
