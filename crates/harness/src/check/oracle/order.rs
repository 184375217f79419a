//! Order the target's own clock settles later. When a head was picked among executions the
//! harness's windows could not order (a fast clock lands several creations in one target
//! second) and the target had not yet shown all their queuedAt, the pick stays open; once the
//! target has shown both, a pick of the later-queued one breaks the order rule after all
//! (spec §4.1), reported against the exchange that made it.

use super::model::ThingModel;
use crate::finding::Finding;
use jobcert_contract::RequirementId;

/// A head pick awaiting the target's queuedAt of both executions.
#[derive(Debug, Clone)]
pub(super) struct OpenPick {
    /// Creation sequence of the execution returned.
    pub(super) returned: usize,
    /// Creation sequence of the one creation order put first.
    pub(super) passed_over: usize,
    /// The exchange that picked.
    pub(super) seq: u64,
    /// The rule the pick is judged under (SN-NEXT-ORDER, DE-NEXT).
    pub(super) requirement: RequirementId,
}

/// Judges every open pick of `thing` whose two queuedAt the target has now shown.
pub(super) fn settle(
    thing: &mut ThingModel,
    real_id: impl Fn(&str) -> String,
    out: &mut Vec<Finding>,
) {
    let stamp = |order: usize| {
        let e = thing.executions.iter().find(|e| e.order == order)?;
        Some((e.stamps.queued_at?, real_id(&e.job)))
    };
    let mut open = Vec::new();
    for pick in std::mem::take(&mut thing.open_picks) {
        match (stamp(pick.returned), stamp(pick.passed_over)) {
            (Some((got, returned)), Some((other, passed_over))) if other < got => {
                out.push(Finding::fail(
                    pick.requirement,
                    format!(
                        "{returned} was returned, but the target's own queuedAt shows {passed_over} queued first ({other} < {got})"
                    ),
                    Some(pick.seq),
                ));
            }
            (Some(_), Some(_)) => {}
            _ if thing.executions.iter().any(|e| e.order == pick.passed_over) => open.push(pick),
            _ => {}
        }
    }
    thing.open_picks = open;
}
