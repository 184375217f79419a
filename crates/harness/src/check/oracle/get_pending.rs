//! The judge of GetPendingJobExecutions: both lists, their content and order, and the cap
//! (spec §7.13). An open expiry is settled by whether the execution is listed.

use super::super::answer::Answer;
use super::Call;
use super::body::learn_number;
use super::cause::{confirmed, contradicted, predicted_gone};
use super::model::{Case, ThingModel, may_precede};
use super::refusal::expect_success;
use crate::finding::Finding;
use jobcert_contract::{Status, req};

/// Judges a GetPending answer for `thing` and moves the model on.
pub(super) fn judge(
    thing: &mut ThingModel,
    case: &mut Case,
    call: &Call<'_>,
    answer: &Answer,
    out: &mut Vec<Finding>,
) {
    let seq = call.seq;
    let Some(body) = expect_success(out, answer, req::GP_LISTS, seq) else {
        return;
    };
    let lists_present = body["inProgressJobs"].is_array() && body["queuedJobs"].is_array();
    out.push(Finding::check(
        lists_present,
        req::GP_LISTS,
        "inProgressJobs and queuedJobs are both present",
        Some(seq),
    ));
    if !lists_present {
        return;
    }
    let listed = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["jobId"].as_str().map(str::to_string))
            .collect()
    };
    let (in_progress, queued) = (listed("inProgressJobs"), listed("queuedJobs"));
    let capped_before = thing.pending(case.facts).len() > case.facts.pending_list_limit;
    resync_list(thing, case, &in_progress, &queued, capped_before, seq, out);
    for item in ["inProgressJobs", "queuedJobs"]
        .iter()
        .flat_map(|k| body[*k].as_array().into_iter().flatten())
    {
        learn_from_summary(thing, case, item, seq, out);
    }
    let t: &ThingModel = thing;
    let real = |i: usize| {
        case.jobs
            .get(&t.executions[i].job)
            .map(|j| j.real_id.clone())
            .unwrap_or_default()
    };
    let pending = t.pending(case.facts);
    let limit = case.facts.pending_list_limit;
    let certain = |status: Status| -> Vec<String> {
        pending
            .iter()
            .copied()
            .filter(|&i| t.executions[i].status == status && !t.executions[i].uncertain)
            .map(real)
            .collect()
    };
    let possible = |status: Status| -> Vec<String> {
        pending
            .iter()
            .copied()
            .filter(|&i| t.executions[i].status == status)
            .map(real)
            .collect()
    };
    let total = in_progress.len() + queued.len();
    out.push(Finding::check(
        total <= limit,
        req::GP_CAP,
        format!("{total} executions listed; at most {limit}"),
        Some(seq),
    ));
    let capped = pending.len() > limit;
    let index_of = |id: &String| pending.iter().copied().find(|&i| real(i) == *id);
    let fits = |got: &[String], sure: &[String], maybe: &[String]| {
        let subset = got.iter().all(|j| maybe.contains(j));
        let ordered = got
            .windows(2)
            .all(|w| match (index_of(&w[0]), index_of(&w[1])) {
                (Some(a), Some(b)) => may_precede(&t.executions[a], &t.executions[b]),
                _ => true,
            });
        let complete = capped || sure.iter().all(|j| got.contains(j));
        subset && ordered && complete
    };
    let ok = fits(
        &in_progress,
        &certain(Status::InProgress),
        &possible(Status::InProgress),
    ) && fits(&queued, &certain(Status::Queued), &possible(Status::Queued));
    out.push(Finding::check(
        ok,
        req::GP_CONTENT,
        format!(
            "expected IN_PROGRESS {:?} and QUEUED {:?}, got {in_progress:?} and {queued:?}",
            possible(Status::InProgress),
            possible(Status::Queued)
        ),
        Some(seq),
    ));
    // Listed executions are not expired; unlisted open ones are.
    let listed_all: Vec<String> = in_progress.iter().chain(queued.iter()).cloned().collect();
    let ids: Vec<(usize, String)> = pending.iter().map(|&i| (i, real(i))).collect();
    for (i, id) in ids {
        let e = &mut thing.executions[i];
        if e.uncertain {
            if listed_all.contains(&id) {
                e.uncertain = false;
            } else if !capped {
                e.time_out(case.facts);
            }
        }
    }
    if let Some(items) = body["inProgressJobs"].as_array().filter(|_| !capped) {
        for item in items {
            out.push(Finding::check(
                item.get("startedAt").is_some(),
                req::GP_CONTENT,
                "an IN_PROGRESS summary carries startedAt",
                Some(seq),
            ));
        }
    }
}

/// Reconciles the predictions with the lists: a pending execution predicted gone that is
/// listed, or a predicted pending one (a retry) that is not (the list being complete),
/// contradicts its prediction; the others are confirmed.
fn resync_list(
    thing: &mut ThingModel,
    case: &mut Case,
    in_progress: &[String],
    queued: &[String],
    capped: bool,
    seq: u64,
    out: &mut Vec<Finding>,
) {
    let listed = |id: &str| in_progress.iter().chain(queued).any(|j| j == id);
    for id in in_progress.iter().chain(queued) {
        if let Some(i) = predicted_gone(thing, case, id) {
            let shown = format!("the target still lists {id} as pending");
            contradicted(thing, i, case, &shown, seq, out);
        }
    }
    let predicted: Vec<usize> = thing
        .executions
        .iter()
        .filter(|e| e.predicted.is_some())
        .map(|e| e.order)
        .collect();
    for order in predicted {
        // Earlier contradictions may have removed it, or moved it in the list.
        let Some(i) = thing.executions.iter().position(|e| e.order == order) else {
            continue;
        };
        let e = &thing.executions[i];
        let real = case.real_id(&e.job).to_string();
        let pending = case.facts.pending_rank(e.status).is_some();
        if pending && !listed(&real) && !capped {
            let shown = format!("the target does not list {real}");
            contradicted(thing, i, case, &shown, seq, out);
        } else if pending == listed(&real) {
            confirmed(thing, i, seq, out);
        }
    }
}

/// Learns what a summary shows of the latest execution of its job: the queuedAt the target
/// lists (so that its order is judged by the target's own clock) and its execution number.
fn learn_from_summary(
    thing: &mut ThingModel,
    case: &Case,
    summary: &serde_json::Value,
    seq: u64,
    out: &mut Vec<Finding>,
) {
    let Some(id) = summary["jobId"].as_str() else {
        return;
    };
    let Some(e) = thing
        .executions
        .iter_mut()
        .rev()
        .find(|e| case.is_job(e, id))
    else {
        return;
    };
    if let Some(at) = summary["queuedAt"].as_i64() {
        e.stamps.queued_at.get_or_insert(at);
    }
    if let Some(n) = summary["executionNumber"].as_i64() {
        learn_number(e, n, Some(seq), out);
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::super::super::answer::Answer;
    use super::super::Subject;
    use super::super::fixture::{EPOCH, Fixture, assert_findings, ok, patched, real, refused};
    use jobcert_contract::{Operation, RequirementId, Status, req};

    /// A pending summary of `job`, with startedAt when it is running.
    fn summary(job: &str, running: bool) -> Value {
        let mut s = json!({"jobId": real(job), "queuedAt": 1_700_000_000, "lastUpdatedAt": 1_700_000_002, "versionNumber": 1, "executionNumber": 1});
        if running {
            s["startedAt"] = json!(1_700_000_002);
        }
        s
    }

    fn lists(in_progress: &[&str], queued: &[&str]) -> Answer {
        ok(json!({
            "inProgressJobs": in_progress.iter().map(|j| summary(j, true)).collect::<Vec<_>>(),
            "queuedJobs": queued.iter().map(|j| summary(j, false)).collect::<Vec<_>>(),
        }))
    }

    /// Eleven jobs queued a second apart: one more than the cap.
    fn eleven() -> Fixture {
        (0..11).fold(Fixture::new(), |f, n| {
            f.queued(&format!("j{n:02}"), f64::from(n) * 2_000.0)
        })
    }

    fn names(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|n| format!("j{n:02}")).collect()
    }

    #[rstest]
    #[case::empty(Fixture::new(), lists(&[], &[]), &[(req::GP_LISTS, true), (req::GP_CONTENT, true), (req::GP_CAP, true)])]
    #[case::empty_list_missing(Fixture::new(), ok(json!({"inProgressJobs": []})), &[(req::GP_LISTS, false)])]
    #[case::refused(Fixture::new(), refused(404, "ResourceNotFoundException"), &[(req::GP_LISTS, false)])]
    #[case::silence_is_no_finding(Fixture::new(), Answer::Unanswered, &[])]
    #[case::both_lists(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0).started("b"),
        lists(&["b"], &["a"]), &[(req::GP_CONTENT, true)]
    )]
    #[case::wrong_lists(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0).started("b"),
        lists(&["a"], &["b"]), &[(req::GP_CONTENT, false)]
    )]
    #[case::one_missing(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0).started("b"),
        lists(&["b"], &[]), &[(req::GP_CONTENT, false)]
    )]
    #[case::oldest_first(Fixture::new().queued("a", 0.0).queued("b", 5_000.0), lists(&[], &["a", "b"]), &[(req::GP_CONTENT, true)])]
    #[case::newest_first(Fixture::new().queued("a", 0.0).queued("b", 5_000.0), lists(&[], &["b", "a"]), &[(req::GP_CONTENT, false)])]
    // Queued in the same second: either order (§7.12).
    #[case::tie_either_order(Fixture::new().queued("a", 0.0).queued("b", 100.0), lists(&[], &["b", "a"]), &[(req::GP_CONTENT, true)])]
    #[case::terminal_listed(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0).finished("b", Status::Succeeded),
        lists(&[], &["a", "b"]), &[(req::GP_CONTENT, false)]
    )]
    #[case::terminal_left_out(
        Fixture::new().queued("a", 0.0).queued("b", 5_000.0).finished("b", Status::Canceled),
        lists(&[], &["a"]), &[(req::GP_CONTENT, true)]
    )]
    #[case::running_without_start(
        Fixture::new().queued("a", 0.0).started("a"),
        ok(json!({"inProgressJobs": [{"jobId": real("a")}], "queuedJobs": []})),
        &[(req::GP_CONTENT, true), (req::GP_CONTENT, false)]
    )]
    #[case::capped(eleven(), ok(json!({"inProgressJobs": [], "queuedJobs": names(0..10).iter().map(|j| summary(j, false)).collect::<Vec<_>>()})), &[(req::GP_CAP, true), (req::GP_CONTENT, true)])]
    #[case::over_the_cap(eleven(), ok(json!({"inProgressJobs": [], "queuedJobs": names(0..11).iter().map(|j| summary(j, false)).collect::<Vec<_>>()})), &[(req::GP_CAP, false), (req::GP_CONTENT, true)])]
    fn judges_get_pending(
        #[case] mut fixture: Fixture,
        #[case] answer: Answer,
        #[case] expected: &[(RequirementId, bool)],
    ) {
        let found = fixture.call(
            Operation::GetPendingJobExecutions,
            Subject::Absent,
            json!({}),
            answer,
        );
        assert_findings(&found, expected);
    }

    // Created in overlapping windows (a fast clock): the queuedAt the target lists orders them.
    #[rstest]
    #[case::oldest_first(&["a", "b"], true)]
    #[case::newest_first(&["b", "a"], false)]
    fn the_targets_queued_at_orders_the_list(#[case] order: &[&str], #[case] ok_order: bool) {
        let mut fixture = Fixture::new().queued("a", 0.0).queued("b", 100.0);
        let stamp = |job: &str| if job == "a" { EPOCH } else { EPOCH + 1 };
        let queued: Vec<Value> = order
            .iter()
            .map(|j| patched(summary(j, false), json!({"queuedAt": stamp(j)})))
            .collect();
        let found = fixture.call(
            Operation::GetPendingJobExecutions,
            Subject::Absent,
            json!({}),
            ok(json!({"inProgressJobs": [], "queuedJobs": queued})),
        );
        assert_findings(&found, &[(req::GP_CONTENT, ok_order)]);
    }

    #[rstest]
    // Past the step deadline but inside the slack: listed or not, both are right; the list
    // settles it.
    #[case::listed(lists(&["a"], &[]), Status::InProgress)]
    #[case::left_out(lists(&[], &[]), Status::TimedOut)]
    fn an_open_expiry_is_settled_by_the_list(#[case] answer: Answer, #[case] after: Status) {
        let mut fixture = Fixture::new()
            .queued("a", 0.0)
            .started("a")
            .with("a", |e| e.step = Some(super::super::fixture::at(1_000.0)));
        let found = fixture.call(
            Operation::GetPendingJobExecutions,
            Subject::Absent,
            json!({}),
            answer,
        );
        assert_findings(&found, &[(req::GP_CONTENT, true)]);
        let e = &fixture.thing.executions[0];
        assert_eq!((e.status, e.uncertain), (after, false));
    }
}
