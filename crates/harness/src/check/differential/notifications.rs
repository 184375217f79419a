//! Comparing the notifications two targets published to one device (`notify`, `notify-next`)
//! within a window of time. Each is reduced as an answer is (names, timestamps, numbers as
//! steps from the first one seen, same-second order), then the two targets' are paired within
//! the window — equal ones first, then the rest in order — so that a notification only one
//! target published is told apart from one both published with other contents.
//!
//! What two correct targets may differ in is taken out:
//! - a `notify` listing the same jobs as the target's previous one (a status moved, no
//!   execution joined or left the pending list) is left out on every target: the contract
//!   leaves open whether one is published then (spec §3.7, §7.25: its trigger rule says yes,
//!   its worked example no);
//! - a notification repeating the target's previous one of its kind is left out (QoS 1 delivers
//!   at least once);
//! - a notification only one target published is no difference when that target's next one of
//!   its kind follows within the window and pairs: a notification shows the state when it is
//!   published (§3.7), so the other target, composing its notification of a change after the
//!   next change, showed both as one state.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Baseline, Normalised, anonymise, differences, flatten, order_ties, relative_numbers};

/// The member in which a notification one target published and another did not differs.
pub const PUBLISHED: &str = "(published)";

/// The member a payload that is not JSON is reduced to.
const NOT_JSON: &str = "(not JSON)";

/// The two notification topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `…/jobs/notify`: the pending executions by status.
    Notify,
    /// `…/jobs/notify-next`: the head of the pending list.
    NotifyNext,
}

impl Kind {
    /// The notification `topic` carries, if it is a thing's `notify` or `notify-next`.
    pub fn of(topic: &str) -> Option<Self> {
        if topic.ends_with("/jobs/notify-next") {
            Some(Self::NotifyNext)
        } else if topic.ends_with("/jobs/notify") {
            Some(Self::Notify)
        } else {
            None
        }
    }

    /// The name it is tallied under, beside the operations.
    pub fn name(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::NotifyNext => "notify-next",
        }
    }
}

/// One notification as compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Its place among the messages handed to [`reduce`].
    pub index: usize,
    /// When it arrived, in µs since its run's start.
    pub at_us: u64,
    /// What it says, reduced.
    pub said: Normalised,
}

/// One target's notifications to one device, `(µs since its run's start, topic, payload)` in
/// order of arrival, reduced and sorted by kind; `run` is the text its names carry (replaced
/// by `*`, as [`super::normalise`] does). Other topics are ignored.
pub fn reduce(messages: &[(u64, &str, &str)], run: &str) -> BTreeMap<Kind, Vec<Heard>> {
    let mut out: BTreeMap<Kind, Vec<Heard>> = BTreeMap::new();
    let mut baseline = Baseline::default();
    let mut listed = BTreeSet::new();
    for (index, &(at_us, topic, payload)) in messages.iter().enumerate() {
        let Some(kind) = Kind::of(topic) else {
            continue;
        };
        let said = reduced(payload, run, &mut baseline);
        if kind == Kind::Notify {
            let now = pending(&said);
            if now == listed {
                continue;
            }
            listed = now;
        }
        let list = out.entry(kind).or_default();
        if list.last().is_some_and(|h| h.said == said) {
            continue;
        }
        list.push(Heard { index, at_us, said });
    }
    out
}

/// `payload` reduced to member paths.
fn reduced(payload: &str, run: &str, baseline: &mut Baseline) -> Normalised {
    let mut members = BTreeMap::new();
    match serde_json::from_str::<Value>(payload) {
        Ok(mut body) => {
            anonymise(&mut body, run);
            order_ties(&mut body);
            flatten("", &body, &mut members);
            relative_numbers(&mut members, None, baseline);
        }
        Err(_) => {
            members.insert(
                NOT_JSON.to_string(),
                Value::String(payload.replace(run, "*")),
            );
        }
    }
    Normalised { members }
}

/// The jobs a reduced `notify` lists, whatever their status.
fn pending(said: &Normalised) -> BTreeSet<String> {
    said.members
        .iter()
        .filter(|(path, _)| path.starts_with("jobs.") && path.ends_with(".jobId"))
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .collect()
}

/// How another target's notifications of one kind pair with the primary's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pairs {
    /// For each of the primary's, the other's partner (none within the window).
    partners: Vec<Option<usize>>,
    /// For each of the other's, whether it has a partner.
    taken: Vec<bool>,
}

/// Whether `list[i]`, which has no partner, is followed within `window_us` by the next of
/// its list, which has one: the other target showed the two changes as one state.
fn superseded(list: &[Heard], i: usize, paired: impl Fn(usize) -> bool, window_us: u64) -> bool {
    list.get(i + 1)
        .is_some_and(|next| next.at_us.saturating_sub(list[i].at_us) <= window_us && paired(i + 1))
}

/// Pairs `b` with `a`, each of `a` with one of `b` at most `window_us` apart: equal ones first,
/// so that one missing does not shift every later pair, then the rest in order.
fn pair(a: &[Heard], b: &[Heard], window_us: u64, tolerance_s: f64) -> Pairs {
    let mut partners = vec![None; a.len()];
    let mut taken = vec![false; b.len()];
    let near = |x: &Heard, y: &Heard| x.at_us.abs_diff(y.at_us) <= window_us;
    for equal in [true, false] {
        for (i, x) in a.iter().enumerate() {
            if partners[i].is_some() {
                continue;
            }
            let found = (0..b.len()).find(|&j| {
                !taken[j]
                    && near(x, &b[j])
                    && (!equal || differences(&x.said, &b[j].said, tolerance_s).is_empty())
            });
            if let Some(j) = found {
                partners[i] = Some(j);
                taken[j] = true;
            }
        }
    }
    Pairs { partners, taken }
}

/// One comparison: a notification of the primary's and its partners, or one another target
/// published that the primary did not.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Which notification.
    pub kind: Kind,
    /// Each target's notification (primary first), `None` where it published none.
    pub heard: Vec<Option<Heard>>,
    /// For each target after the primary, the paths where it differs from the primary.
    pub differ: Vec<Vec<String>>,
}

/// Compares the notifications of each target after the first (the primary) with the
/// primary's, kind by kind: `windows_us` and `tolerances_s` give, per other target, how far
/// apart in time two notifications may be to pair and how far their countdowns may differ.
pub fn compare(
    targets: &[BTreeMap<Kind, Vec<Heard>>],
    windows_us: &[u64],
    tolerances_s: &[f64],
) -> Vec<Comparison> {
    let Some((primary, others)) = targets.split_first() else {
        return Vec::new();
    };
    let none = Vec::new();
    let mut out = Vec::new();
    for kind in [Kind::Notify, Kind::NotifyNext] {
        let of = |t: &BTreeMap<Kind, Vec<Heard>>| t.get(&kind).unwrap_or(&none).clone();
        let p = of(primary);
        let lists: Vec<Vec<Heard>> = others.iter().map(of).collect();
        let pairs: Vec<Pairs> = lists
            .iter()
            .enumerate()
            .map(|(k, l)| pair(&p, l, windows_us[k], tolerances_s[k]))
            .collect();
        for (i, x) in p.iter().enumerate() {
            let mut heard = vec![Some(x.clone())];
            let mut differ = Vec::new();
            for (k, l) in lists.iter().enumerate() {
                let partners = &pairs[k].partners;
                let partner = partners[i].map(|j| l[j].clone());
                differ.push(match &partner {
                    Some(y) => differences(&x.said, &y.said, tolerances_s[k]),
                    None if superseded(&p, i, |n| partners[n].is_some(), windows_us[k]) => {
                        Vec::new()
                    }
                    None => vec![PUBLISHED.to_string()],
                });
                heard.push(partner);
            }
            out.push(Comparison {
                kind,
                heard,
                differ,
            });
        }
        for (k, l) in lists.iter().enumerate() {
            let taken = &pairs[k].taken;
            let unpaired = (0..l.len())
                .filter(|&j| !taken[j] && !superseded(l, j, |n| taken[n], windows_us[k]));
            for j in unpaired {
                let mut heard = vec![None; targets.len()];
                heard[k + 1] = Some(l[j].clone());
                let mut differ = vec![Vec::new(); others.len()];
                differ[k] = vec![PUBLISHED.to_string()];
                out.push(Comparison {
                    kind,
                    heard,
                    differ,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const NOTIFY: &str = "$aws/things/t/jobs/notify";
    const NEXT: &str = "$aws/things/t/jobs/notify-next";

    /// A `notify-next` naming `job` (none: nothing pending) at `version`.
    fn next(run: &str, job: Option<&str>, status: &str, version: i64) -> String {
        match job {
            Some(j) => format!(
                r#"{{"timestamp":5,"execution":{{"jobId":"{j}-{run}-0","status":"{status}","queuedAt":4,"versionNumber":{version},"executionNumber":1,"jobDocument":{{"a":1}}}}}}"#
            ),
            None => r#"{"timestamp":5}"#.to_string(),
        }
    }

    /// A `notify` listing `in_progress` and `queued`.
    fn notify(run: &str, in_progress: &[&str], queued: &[&str]) -> String {
        let list = |jobs: &[&str]| {
            jobs.iter()
                .enumerate()
                .map(|(i, j)| {
                    format!(
                        r#"{{"jobId":"{j}-{run}-0","queuedAt":{},"lastUpdatedAt":9,"versionNumber":1,"executionNumber":1}}"#,
                        i + 1
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut lists = Vec::new();
        if !in_progress.is_empty() {
            lists.push(format!(r#""IN_PROGRESS":[{}]"#, list(in_progress)));
        }
        if !queued.is_empty() {
            lists.push(format!(r#""QUEUED":[{}]"#, list(queued)));
        }
        format!(r#"{{"timestamp":5,"jobs":{{{}}}}}"#, lists.join(","))
    }

    /// `(ms, topic, payload)` messages of a run as [`reduce`] takes them.
    fn heard(run: &str, messages: &[(u64, &str, String)]) -> BTreeMap<Kind, Vec<Heard>> {
        let m: Vec<(u64, &str, String)> = messages
            .iter()
            .map(|(ms, t, p)| (ms * 1000, *t, p.replace("RUN", run)))
            .collect();
        let refs: Vec<(u64, &str, &str)> = m.iter().map(|(t, x, p)| (*t, *x, p.as_str())).collect();
        reduce(&refs, run)
    }

    /// `(kind, paths)` of every comparison of a primary's and a candidate's messages, with a
    /// 50 ms window.
    fn compared(
        primary: &[(u64, &str, String)],
        candidate: &[(u64, &str, String)],
    ) -> Vec<(&'static str, Vec<String>)> {
        compare(
            &[heard("rp", primary), heard("rc", candidate)],
            &[50_000],
            &[5.0],
        )
        .into_iter()
        .map(|c| (c.kind.name(), c.differ[0].clone()))
        .collect()
    }

    fn created_then_done() -> Vec<(u64, &'static str, String)> {
        vec![
            (10, NOTIFY, notify("RUN", &[], &["j1"])),
            (10, NEXT, next("RUN", Some("j1"), "QUEUED", 1)),
            (90, NOTIFY, notify("RUN", &[], &[])),
            (90, NEXT, next("RUN", None, "", 0)),
        ]
    }

    #[rstest]
    #[case::the_same(created_then_done(), &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[])])]
    #[case::a_notify_next_dropped(
        { let mut c = created_then_done(); c.remove(3); c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[PUBLISHED])]
    )]
    #[case::a_notify_next_late_beyond_the_window(
        { let mut c = created_then_done(); c[3].0 = 200; c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[PUBLISHED]), ("notify-next", &[PUBLISHED])]
    )]
    #[case::a_notify_next_late_within_the_window(
        { let mut c = created_then_done(); c[3].0 = 130; c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[])]
    )]
    #[case::another_status(
        { let mut c = created_then_done(); c[1].2 = next("RUN", Some("j1"), "IN_PROGRESS", 1); c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &["execution.status"]), ("notify-next", &[])]
    )]
    #[case::an_extra_notify_next(
        { let mut c = created_then_done(); c.push((50, NEXT, next("RUN", Some("j1"), "IN_PROGRESS", 2))); c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[]), ("notify-next", &[PUBLISHED])]
    )]
    #[case::a_notify_on_the_heads_start_is_optional(
        { let mut c = created_then_done(); c.insert(2, (50, NOTIFY, notify("RUN", &["j1"], &[]))); c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[])]
    )]
    #[case::a_repeat(
        { let mut c = created_then_done(); c.insert(2, (11, NEXT, next("RUN", Some("j1"), "QUEUED", 1))); c },
        &[("notify", &[][..]), ("notify", &[]), ("notify-next", &[]), ("notify-next", &[])]
    )]
    #[case::a_notify_missing_when_the_list_changed(
        { let mut c = created_then_done(); c.remove(2); c },
        &[("notify", &[][..]), ("notify", &[PUBLISHED]), ("notify-next", &[]), ("notify-next", &[])]
    )]
    fn notifications_differ_where_two_correct_targets_cannot(
        #[case] candidate: Vec<(u64, &str, String)>,
        #[case] want: &[(&str, &[&str])],
    ) {
        let got = compared(&created_then_done(), &candidate);
        let want: Vec<(&str, Vec<String>)> = want
            .iter()
            .map(|(k, p)| (*k, p.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(got, want);
    }

    /// Two jobs created 1 ms apart, each notification composed when published (`after_ms`
    /// after its change).
    fn created(after_ms: [u64; 2]) -> Vec<(u64, &'static str, String)> {
        let state = |at: u64| match at >= 11 {
            true => notify("RUN", &[], &["j1", "j2"]),
            false => notify("RUN", &[], &["j1"]),
        };
        let at = [10 + after_ms[0], 11 + after_ms[1]];
        vec![(at[0], NOTIFY, state(at[0])), (at[1], NOTIFY, state(at[1]))]
    }

    #[rstest]
    #[case::the_other_shows_the_burst_as_its_last_state([0, 0], [1, 0], &[&[][..], &[]])]
    #[case::the_primary_does([1, 0], [0, 0], &[&[][..]])]
    #[case::beyond_the_window([0, 60], [70, 60], &[&[PUBLISHED][..], &[]])]
    fn changes_close_together_may_show_as_one_state(
        #[case] primary: [u64; 2],
        #[case] candidate: [u64; 2],
        #[case] want: &[&[&str]],
    ) {
        let got: Vec<Vec<String>> = compared(&created(primary), &created(candidate))
            .into_iter()
            .map(|(_, paths)| paths)
            .collect();
        assert_eq!(got, want);
    }

    #[rstest]
    #[case::versions_as_steps(
        next("r", Some("j"), "QUEUED", 7),
        "execution.versionNumber",
        "first+0"
    )]
    #[case::names_without_the_run(next("r", Some("j"), "QUEUED", 1), "execution.jobId", "j-*-0")]
    #[case::timestamps_by_kind(next("r", Some("j"), "QUEUED", 1), "timestamp", "(a number)")]
    #[case::not_json("oops r".to_string(), NOT_JSON, "oops *")]
    fn a_notification_is_reduced_as_an_answer_is(
        #[case] payload: String,
        #[case] path: &str,
        #[case] value: &str,
    ) {
        let reduced = reduce(&[(0, NEXT, &payload)], "r");
        assert_eq!(
            reduced[&Kind::NotifyNext][0].said.members[path],
            Value::String(value.into())
        );
    }

    #[test]
    fn the_secondarys_differences_are_compared_with_the_primary_too() {
        let full = created_then_done();
        let mut dropped = full.clone();
        dropped.remove(1);
        let got = compare(
            &[
                heard("rp", &full),
                heard("rc", &full),
                heard("rs", &dropped),
            ],
            &[50_000, 50_000],
            &[5.0, 5.0],
        );
        let next: Vec<&Comparison> = got.iter().filter(|c| c.kind == Kind::NotifyNext).collect();
        assert_eq!(
            next[0].differ,
            [Vec::<String>::new(), vec![PUBLISHED.to_string()]]
        );
        assert!(next[0].heard[2].is_none());
    }
}
