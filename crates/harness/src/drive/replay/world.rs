//! The world a replay recreates: the capture's things and jobs, cut into units (the things one
//! job or more ties together, so that no job spans two units), copied `--clone` times, and
//! shared out among shards by unit. Every copy gets run-unique names.

use std::collections::{BTreeMap, HashMap};

use crate::record::Shard;
use crate::record::capture::{Capture, Line, labels, substitute};

/// Longest thing name the contract allows; job ids are shorter still.
const JOB_ID_MAX: usize = 64;

/// One copy of a group of things tied together by their jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The group (index over the capture's groups).
    pub group: usize,
    /// Which copy.
    pub clone: u32,
    /// The group's seeded things, as placeholders.
    pub things: Vec<String>,
    /// The group's seeded jobs, as indices into the seed.
    pub jobs: Vec<usize>,
}

/// The groups of a capture: seeded things tied by shared jobs, then each device the seed does
/// not know (a literal name) alone.
pub fn groups(capture: &Capture) -> Vec<(Vec<String>, Vec<usize>)> {
    let seed = &capture.header.seed;
    let index: HashMap<&str, usize> = seed
        .things
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut parent: Vec<usize> = (0..seed.things.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for job in &seed.jobs {
        let members: Vec<usize> = job
            .targets
            .iter()
            .filter_map(|t| index.get(t.as_str()).copied())
            .collect();
        for pair in members.windows(2) {
            let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
            parent[a] = b;
        }
    }
    let mut by_root: BTreeMap<usize, (Vec<String>, Vec<usize>)> = BTreeMap::new();
    for (i, t) in seed.things.iter().enumerate() {
        let r = root(&mut parent, i);
        by_root.entry(r).or_default().0.push(t.name.clone());
    }
    for (j, job) in seed.jobs.iter().enumerate() {
        if let Some(r) = job
            .targets
            .iter()
            .find_map(|t| index.get(t.as_str()).copied())
        {
            let r = root(&mut parent, r);
            by_root.entry(r).or_default().1.push(j);
        }
    }
    let mut out: Vec<(Vec<String>, Vec<usize>)> = by_root.into_values().collect();
    let mut literal: Vec<String> = capture
        .lines
        .iter()
        .filter_map(|n| match &n.value {
            Line::Exchange(e) if !index.contains_key(e.device.as_str()) => Some(e.device.clone()),
            _ => None,
        })
        .collect();
    literal.sort();
    literal.dedup();
    out.extend(literal.into_iter().map(|d| (vec![d], Vec::new())));
    out
}

/// The units shard `shard` plays: every copy of every group, numbered group-major, taken by
/// number modulo the shard count.
pub fn units(capture: &Capture, clones: u32, shard: Shard) -> Vec<Unit> {
    let mut out = Vec::new();
    for (group, (things, jobs)) in groups(capture).into_iter().enumerate() {
        for clone in 0..clones {
            let n = group as u64 * u64::from(clones) + u64::from(clone);
            if shard.owns(n) {
                out.push(Unit {
                    group,
                    clone,
                    things: things.clone(),
                    jobs: jobs.clone(),
                });
            }
        }
    }
    out
}

/// The jobs shard `shard` creates, each copy counted: a copy creates its unit's jobs afresh.
pub fn jobs(capture: &Capture, clones: u32, shard: Shard) -> u64 {
    units(capture, clones, shard)
        .iter()
        .map(|u| u.jobs.len() as u64)
        .sum()
}

/// The devices shard `shard` plays, each copy counted: the things of its units that exchange
/// anything, each holding a connection of its own.
pub fn devices(capture: &Capture, clones: u32, shard: Shard) -> u64 {
    let talking: std::collections::HashSet<&str> = capture
        .exchanges()
        .map(|(_, e)| e.device.as_str())
        .collect();
    units(capture, clones, shard)
        .iter()
        .map(|u| {
            u.things
                .iter()
                .filter(|t| talking.contains(t.as_str()))
                .count() as u64
        })
        .sum()
}

/// Names in one copy of the world: `label-<run id>-<copy>`, made to fit the contract's
/// patterns (letters, digits, `-`, `_`; a job id at most 64 characters).
#[derive(Debug, Clone)]
pub struct Names {
    run_id: String,
    clone: u32,
}

impl Names {
    /// The names of copy `clone` in run `run_id`.
    pub fn new(run_id: &str, clone: u32) -> Self {
        Self {
            run_id: run_id.to_string(),
            clone,
        }
    }

    /// The real name for a placeholder of `kind` labelled `label`.
    pub fn real(&self, kind: &str, label: &str) -> String {
        let suffix = format!("-{}-{}", self.run_id, self.clone);
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let room = JOB_ID_MAX.saturating_sub(suffix.len());
        let clean = if kind == "job" && clean.len() > room {
            clean[..room].to_string()
        } else {
            clean
        };
        format!("{clean}{suffix}")
    }

    /// `text` with every placeholder replaced by its real name in this copy.
    pub fn apply(&self, text: &str) -> String {
        substitute(text, |kind, label| Some(self.real(kind, label)))
    }

    /// The real name of a device: its placeholder's, or a literal name as it is.
    pub fn device(&self, device: &str) -> String {
        match labels(device, "thing").first() {
            Some(label) => self.real("thing", label),
            None => device.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::capture::read_str;

    const CAPTURE: &str = r#"{"type":"header","format":"jobcert-capture/1","source":{"kind":"run"},"origin_ms":0,"target_time_scale":1,"seed":{"things":[{"name":"{thing:a}"},{"name":"{thing:b}"},{"name":"{thing:c}"}],"jobs":[{"id":"{job:ab}","targets":["{thing:a}","{thing:b}"],"create":{}},{"id":"{job:c}","targets":["{thing:c}"],"create":{}}]}}
{"type":"exchange","device":"bad name!","device_seq":0,"sent_us":1,"done_us":2,"transport":"http","operation":"DescribeJobExecution","target":"/things/bad%20name!/jobs/x","answer":{"status":400,"body":"{}"}}
"#;

    #[test]
    fn groups_keep_things_of_one_job_together_and_literal_devices_alone() {
        let capture = read_str("c", CAPTURE).unwrap();
        assert_eq!(
            groups(&capture),
            [
                (vec!["{thing:a}".to_string(), "{thing:b}".into()], vec![0]),
                (vec!["{thing:c}".to_string()], vec![1]),
                (vec!["bad name!".to_string()], vec![]),
            ]
        );
    }

    #[test]
    fn shards_share_out_every_copy_of_every_group_once() {
        let capture = read_str("c", CAPTURE).unwrap();
        let all: Vec<(usize, u32)> = (0..3)
            .flat_map(|k| units(&capture, 2, Shard { index: k, count: 3 }))
            .map(|u| (u.group, u.clone))
            .collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted.len(), 6);
        sorted.dedup();
        assert_eq!(sorted.len(), 6, "{all:?}");
    }

    #[test]
    fn each_copy_creates_its_groups_jobs_afresh() {
        let capture = read_str("c", CAPTURE).unwrap();
        for (clones, shard, expected) in [
            (1, Shard::WHOLE, 2),
            (40, Shard::WHOLE, 80),
            (1, Shard { index: 0, count: 3 }, 1),
            (1, Shard { index: 2, count: 3 }, 0),
            (2, Shard { index: 1, count: 2 }, 2),
        ] {
            assert_eq!(
                jobs(&capture, clones, shard),
                expected,
                "{clones} {shard:?}"
            );
        }
    }

    #[test]
    fn only_devices_that_exchange_are_counted_once_per_copy_and_shard() {
        // Of the seeded things none exchanges; the literal device does, in group 2.
        let capture = read_str("c", CAPTURE).unwrap();
        for (clones, shard, expected) in [
            (1, Shard::WHOLE, 1),
            (3, Shard::WHOLE, 3),
            (1, Shard { index: 0, count: 3 }, 0),
            (1, Shard { index: 2, count: 3 }, 1),
            (2, Shard { index: 1, count: 2 }, 1),
        ] {
            assert_eq!(
                devices(&capture, clones, shard),
                expected,
                "{clones} {shard:?}"
            );
        }
    }

    #[test]
    fn names_are_run_unique_and_fit_the_patterns() {
        let names = Names::new("r1", 2);
        assert_eq!(
            names.apply("/things/{thing:a~2}/jobs/{job:j}"),
            "/things/a-2-r1-2/jobs/j-r1-2"
        );
        assert_eq!(names.real("job", &"x".repeat(80)).len(), 64);
        assert_eq!(names.device("{thing:a}"), "a-r1-2");
        assert_eq!(names.device("bad name!"), "bad name!");
    }
}
