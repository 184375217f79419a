//! How an execution's timestamps move (spec §1.3, §4.2, §5): queuedAt never changes, startedAt
//! is set once, on start, and lastUpdatedAt follows every change (never before its previous
//! value, whole seconds being the unit) and nothing else: reads and refusals leave it.

use serde_json::Value;

use super::model::Execution;
use crate::finding::Finding;
use jobcert_contract::req;

/// Checks the timestamps of `body` against those the target showed before for execution `e`,
/// then remembers them.
pub(super) fn check(e: &mut Execution, body: &Value, seq: Option<u64>, out: &mut Vec<Finding>) {
    let stamps = &mut e.stamps;
    for (name, seen) in [
        ("queuedAt", &mut stamps.queued_at),
        ("startedAt", &mut stamps.started_at),
    ] {
        let Some(now) = body[name].as_i64() else {
            continue;
        };
        if let Some(before) = *seen {
            out.push(Finding::check(
                now == before,
                req::EX_TIMESTAMPS,
                format!("{name} changed from {before} to {now}; it is set once"),
                seq,
            ));
        }
        *seen = Some(now);
    }
    let Some(now) = body["lastUpdatedAt"].as_i64() else {
        return;
    };
    if let Some(before) = stamps.updated_at {
        let (ok, message) = if stamps.changed {
            (
                now >= before,
                format!("lastUpdatedAt went back from {before} to {now} after a change"),
            )
        } else {
            (
                now == before,
                format!("lastUpdatedAt moved from {before} to {now} with no change accepted"),
            )
        };
        out.push(Finding::check(ok, req::EX_TIMESTAMPS, message, seq));
    }
    stamps.updated_at = Some(now);
    stamps.changed = false;
}
