//! The judge of GetPendingJobExecutions: both lists, their content and order, and the cap
//! (spec §7.13). An open expiry is settled by whether the execution is listed.

use super::super::answer::Answer;
use super::super::finding::Finding;
use super::Call;
use super::model::{Case, ThingModel, may_tie};
use super::refusal::expect_success;
use jobcert_contract::Status;

/// Judges a GetPending answer for `thing` and moves the model on.
pub(super) fn judge(
    thing: &mut ThingModel,
    case: &mut Case,
    call: &Call<'_>,
    answer: &Answer,
    out: &mut Vec<Finding>,
) {
    let seq = call.seq;
    let Some(body) = expect_success(out, answer, "GP-LISTS", seq) else {
        return;
    };
    let lists_present = body["inProgressJobs"].is_array() && body["queuedJobs"].is_array();
    out.push(Finding::check(
        lists_present,
        "GP-LISTS",
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
        "GP-CAP",
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
                (Some(a), Some(b)) => {
                    let (a, b) = (&t.executions[a], &t.executions[b]);
                    a.order < b.order || may_tie(a, b)
                }
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
        "GP-CONTENT",
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
                "GP-CONTENT",
                "an IN_PROGRESS summary carries startedAt",
                Some(seq),
            ));
        }
    }
}
