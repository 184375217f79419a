//! A sharded fleet run merges into exactly the unsharded one.
//!
//! One scenario (600 HTTP devices in 12 blocks of 50, two jobs each, created before the devices
//! start, a step timer that cannot fire, closed loop, until drained) runs twice, each time
//! against its own `jobcert serve` process:
//!
//! * as three shard processes (`--shard 0/3`, `1/3`, `2/3`) started together with one
//!   `--run-id` and one `--report-dir`, all talking to the same server;
//! * unsharded.
//!
//! `jobcert report merge <report-dir>/<run-id>` then writes `merged/summary.json`, whose counts
//! must equal the unsharded run's, and whose latency histograms, whole-run and per second,
//! must be exactly the sums of the shards'. Merging with a shard missing gives a partial,
//! failing record; merging what is not one run is refused.
//!
//! The fleets run once per test binary; each test copies the shard summaries, as written, into
//! `<scratch>/reports/<run-id>/shard-K/` and merges them there.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use hdrhistogram::Histogram;
use jobcert_harness::record::{FleetRecord, LatencyBook, LatencyKey};
use jobcert_harness::report::fleet::read_record;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::process::{Process, Ran, Serve, args, jobcert};
use crate::common::report::summary;
use crate::common::{ScratchExt, scratch};

/// Longest a fleet run, or a merge, may take here.
const LIMIT: Duration = Duration::from_secs(90);

/// Virtual clock speed of both servers, and what the fleets are told it is.
const TIME_SCALE: &str = "600";

/// Shards of the sharded run.
const SHARDS: u32 = 3;

/// Run id of the sharded run, and of the unsharded one.
const SHARDED_ID: &str = "sharded";
const WHOLE_ID: &str = "whole";

const SCENARIO: &str = "\
fleet:
  name: shards-http-600
  seed: 20261126
  things: { count: 600, per-job: 50 }
  transport: http
  http: { connections: per-device }
  connect: { rate: 2000 }
  rollout: { jobs-per-thing: 2, rate: 500, start: before }
  behaviour:
    program: agent
    work: { uniform: { min: 1, max: 10 } }
    outcomes: { SUCCEEDED: 0.7, FAILED: 0.2, REJECTED: 0.1 }
    step-timeout-minutes: 600
  load: { model: closed, think: { constant: 2 } }
  run: { until: drained, max-duration-s: 60, deadline-ms: 20000 }
  thresholds:
    latency:
      - { operation: '*', percentile: 99, max-ms: 20000 }
    error-rate: { max: 0 }
    timed-out: { max: 0 }
";

/// The summaries the runs wrote (their text), by shard index, and the unsharded one.
struct Runs {
    shards: Vec<String>,
    whole: String,
}

/// Runs the sharded and the unsharded fleet, once per test binary.
fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let scratch = scratch("shards-runs");
        let path = scratch.write("fleet.yaml", SCENARIO);
        let reports = scratch.path().join("reports");
        let (shared, alone) = (Serve::start(600.0), Serve::start(600.0));
        let fleet = |serve: &Serve, run_id: &str, shard: Option<String>| {
            let mut a = args([
                OsString::from("fleet"),
                path.clone().into_os_string(),
                OsString::from("--target"),
                OsString::from(&serve.data),
                OsString::from("--control"),
                OsString::from(&serve.control),
                OsString::from("--target-time-scale"),
                OsString::from(TIME_SCALE),
                OsString::from("--run-id"),
                OsString::from(run_id),
                OsString::from("--report-dir"),
                reports.clone().into_os_string(),
                OsString::from("--quiet"),
            ]);
            if let Some(s) = shard {
                a.extend(args(["--shard".to_string(), s]));
            }
            Process::spawn(&a, &scratch)
        };
        // All four together: the shards share one server, the whole run has its own.
        let mut processes: Vec<Process> = (0..SHARDS)
            .map(|k| fleet(&shared, SHARDED_ID, Some(format!("{k}/{SHARDS}"))))
            .collect();
        processes.push(fleet(&alone, WHOLE_ID, None));
        let ran: Vec<Ran> = processes.iter_mut().map(|p| p.finish(LIMIT)).collect();
        for r in &ran {
            assert_eq!(r.code, Some(0), "{r}");
        }
        let text = |dir: PathBuf| {
            summary(&dir);
            std::fs::read_to_string(dir.join("summary.json")).expect("summary.json")
        };
        let run_dir = reports.join(SHARDED_ID);
        let shards = (0..SHARDS)
            .map(|k| text(run_dir.join(format!("shard-{k}"))))
            .collect();
        let whole = text(reports.join(WHOLE_ID));
        Runs { shards, whole }
    })
}

/// Writes the shard summaries, byte for byte, where the shards wrote them:
/// `<scratch>/reports/<run-id>/shard-K/summary.json`; returns the run folder.
fn lay_out_shards(scratch: &TempDir) -> PathBuf {
    let run_dir = scratch.path().join("reports").join(SHARDED_ID);
    for (k, text) in runs().shards.iter().enumerate() {
        let dir = run_dir.join(format!("shard-{k}"));
        std::fs::create_dir_all(&dir).expect("shard folder");
        std::fs::write(dir.join("summary.json"), text).expect("write summary.json");
    }
    run_dir
}

/// Applies `edit` to the summary in `dir`.
fn edit_summary(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("summary.json");
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("summary.json"))
            .expect("a summary");
    edit(&mut value);
    std::fs::write(&path, serde_json::to_string_pretty(&value).expect("JSON"))
        .expect("write summary.json");
}

/// `jobcert report merge ARGS`.
fn merge(scratch: &TempDir, dirs: &[&Path], out: Option<&Path>) -> Ran {
    let mut a = args(["report", "merge"]);
    a.extend(args(dirs));
    if let Some(out) = out {
        a.extend(args([
            OsString::from("--out"),
            out.as_os_str().to_os_string(),
        ]));
    }
    jobcert(&a, scratch, LIMIT)
}

fn record(path: &Path) -> FleetRecord {
    read_record(path).unwrap_or_else(|e| panic!("{e}"))
}

/// Histograms of `book`, by key.
fn histograms(book: &LatencyBook) -> BTreeMap<LatencyKey, Histogram<u64>> {
    book.histograms()
        .map(|(k, h)| (k.clone(), h.clone()))
        .collect()
}

/// Adds `h` into `sum` under `key`.
fn add<K: Ord>(sum: &mut BTreeMap<K, Histogram<u64>>, key: K, h: &Histogram<u64>) {
    match sum.get_mut(&key) {
        Some(mine) => mine.add(h).expect("histograms share their bounds"),
        None => {
            sum.insert(key, h.clone());
        }
    }
}

/// Histograms of every interval, by (whole second it starts in, key).
fn interval_histograms(record: &FleetRecord) -> BTreeMap<(u64, LatencyKey), Histogram<u64>> {
    let mut out = BTreeMap::new();
    for interval in &record.intervals {
        let second = interval.start_ms / 1000 * 1000;
        for (key, h) in interval.latency.histograms() {
            add(&mut out, (second, key.clone()), h);
        }
    }
    out
}

/// Every histogram of `got` equals the one of `want` under the same key, and no key is extra.
fn assert_same_histograms<K: Ord + std::fmt::Debug>(
    what: &str,
    got: &BTreeMap<K, Histogram<u64>>,
    want: &BTreeMap<K, Histogram<u64>>,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: different keys"
    );
    for (key, h) in want {
        let g = &got[key];
        assert!(
            g == h,
            "{what} {key:?}: got {} values (max {} µs), want {} (max {} µs)",
            g.len(),
            g.max(),
            h.len(),
            h.max()
        );
    }
}

/// Passes and failures per requirement.
fn tallies(record: &FleetRecord) -> BTreeMap<String, (u64, u64)> {
    record
        .findings
        .iter()
        .map(|(k, t)| (k.clone(), (t.passed, t.failed)))
        .collect()
}

#[test]
fn merged_shards_equal_the_unsharded_run_and_their_histograms_add_up() {
    let scratch = scratch("shards-merge");
    let run_dir = lay_out_shards(&scratch);
    let whole_dir = scratch.path().join("whole");
    std::fs::create_dir_all(&whole_dir).expect("folder");
    std::fs::write(whole_dir.join("summary.json"), &runs().whole).expect("write");

    let ran = merge(&scratch, &[&run_dir], None);
    assert_eq!(ran.code, Some(0), "{ran}");
    let merged_dir = run_dir.join("merged");
    let merged_summary = summary(&merged_dir);
    assert_eq!(merged_summary["passed"], true, "{merged_summary:#}");

    let shards: Vec<FleetRecord> = (0..SHARDS)
        .map(|k| record(&run_dir.join(format!("shard-{k}/summary.json"))))
        .collect();
    let merged = record(&merged_dir.join("summary.json"));
    let whole = record(&whole_dir.join("summary.json"));

    // Each shard ran its own blocks: 4 of the 12, 200 devices, 8 jobs.
    for (k, s) in shards.iter().enumerate() {
        assert_eq!(s.run_id, SHARDED_ID);
        assert_eq!((s.shards[0].index, s.shards[0].count), (k as u32, SHARDS));
        assert_eq!((s.devices, s.jobs), (200, 8), "shard {k}");
        assert!(!s.partial, "shard {k}: {:?}", s.stopped_by);
    }

    // The merged counts are the unsharded run's.
    assert_eq!(
        merged
            .shards
            .iter()
            .map(|s| (s.index, s.count))
            .collect::<Vec<_>>(),
        [(0, 3), (1, 3), (2, 3)]
    );
    assert!(!merged.partial, "{:?}", merged.stopped_by);
    assert_eq!(merged.requests, whole.requests);
    assert_eq!(merged.statuses, whole.statuses);
    assert_eq!((merged.devices, merged.jobs), (whole.devices, whole.jobs));
    assert_eq!((merged.devices, merged.jobs), (600, 24));
    assert_eq!(merged.connected, whole.connected);
    assert_eq!(merged.errors, whole.errors);
    assert_eq!(tallies(&merged), tallies(&whole));
    assert_eq!(merged.statuses.values().sum::<u64>(), 600 * 2);
    assert_eq!(
        merged.requests["StartNextPendingJobExecution"]["answered"],
        600 * 3
    );

    // Whole-run histograms: exactly the sum of the shards'.
    let mut sum = BTreeMap::new();
    for s in &shards {
        for (key, h) in s.latency.histograms() {
            add(&mut sum, key.clone(), h);
        }
    }
    let merged_histograms = histograms(&merged.latency);
    assert_same_histograms("whole-run histogram", &merged_histograms, &sum);
    // They count every request.
    for (key, h) in &merged_histograms {
        assert_eq!(
            h.len(),
            merged.requests[&key.operation][&key.outcome],
            "{key:?}"
        );
    }

    // Per-second histograms: exactly the sum of the shards' intervals starting in that second.
    for i in &merged.intervals {
        assert_eq!((i.start_ms % 1000, i.length_ms), (0, 1000), "aligned");
    }
    let mut sum = BTreeMap::new();
    for s in &shards {
        for (key, h) in &interval_histograms(s) {
            add(&mut sum, key.clone(), h);
        }
    }
    let merged_intervals = interval_histograms(&merged);
    assert_eq!(
        merged_intervals.len(),
        merged
            .intervals
            .iter()
            .map(|i| i.latency.histograms().count())
            .sum::<usize>(),
        "one merged interval per second"
    );
    assert_same_histograms("interval histogram", &merged_intervals, &sum);

    // And the intervals add up to the whole run.
    let mut over_intervals = BTreeMap::new();
    for ((_, key), h) in &merged_intervals {
        add(&mut over_intervals, key.clone(), h);
    }
    assert_same_histograms("intervals summed", &over_intervals, &merged_histograms);
}

#[test]
fn merging_with_a_shard_missing_is_partial_and_fails() {
    let scratch = scratch("shards-missing");
    let run_dir = lay_out_shards(&scratch);
    let out = scratch.path().join("missing");
    let ran = merge(
        &scratch,
        &[&run_dir.join("shard-0"), &run_dir.join("shard-2")],
        Some(&out),
    );
    assert_eq!(ran.code, Some(1), "{ran}");
    let s = summary(&out);
    assert_eq!(s["passed"], false);
    let merged = record(&out.join("summary.json"));
    assert!(merged.partial);
    let why = merged.stopped_by.as_deref().unwrap_or_default();
    assert!(why.contains("[1]") && why.contains("missing"), "{why}");
    assert_eq!(merged.devices, 400);
    assert!(
        s["verdict"]["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains("partial"))),
        "{s:#}"
    );
}

#[test]
fn merging_summaries_of_different_runs_is_refused() {
    let scratch = scratch("shards-different");
    let run_dir = lay_out_shards(&scratch);
    let whole_dir = scratch.path().join("whole");
    std::fs::create_dir_all(&whole_dir).expect("folder");
    std::fs::write(whole_dir.join("summary.json"), &runs().whole).expect("write");
    let out = scratch.path().join("different");
    let ran = merge(
        &scratch,
        &[&whole_dir, &run_dir.join("shard-1")],
        Some(&out),
    );
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("not shards of one run"), "{ran}");
    assert!(!out.exists(), "a refused merge wrote {}", out.display());
}

#[test]
fn merging_a_shard_twice_is_refused() {
    let scratch = scratch("shards-twice");
    let run_dir = lay_out_shards(&scratch);
    let out = scratch.path().join("twice");
    let shard = run_dir.join("shard-1");
    let ran = merge(
        &scratch,
        &[&run_dir.join("shard-0"), &shard, &shard],
        Some(&out),
    );
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("twice"), "{ran}");
    assert!(!out.exists(), "a refused merge wrote {}", out.display());
}

/// Shards cut `K/N` with different N are not the parts of one run, even with one run id.
#[test]
fn merging_shards_of_different_counts_is_refused() {
    let scratch = scratch("shards-counts");
    let run_dir = lay_out_shards(&scratch);
    edit_summary(&run_dir.join("shard-2"), |summary| {
        summary["record"]["shards"] = serde_json::json!([{ "index": 2, "count": 4 }]);
    });
    let out = scratch.path().join("counts");
    let ran = merge(&scratch, &[&run_dir], Some(&out));
    assert_eq!(
        ran.code,
        Some(2),
        "shards 0/3, 1/3 and 2/4 were merged as one run: {ran}"
    );
    assert!(!out.exists(), "a refused merge wrote {}", out.display());
}

/// `jobcert report merge <report-dir>/<run-id>` run a second time finds the same shards (not
/// its own earlier output) and writes the same merged record.
#[test]
fn merging_again_gives_the_same_result() {
    let scratch = scratch("shards-again");
    let run_dir = lay_out_shards(&scratch);
    let first = merge(&scratch, &[&run_dir], None);
    assert_eq!(first.code, Some(0), "{first}");
    let before = summary(&run_dir.join("merged"));
    let second = merge(&scratch, &[&run_dir], None);
    assert_eq!(second.code, Some(0), "the second merge: {second}");
    let after = summary(&run_dir.join("merged"));
    assert_eq!(before["record"], after["record"]);
}

/// The merged folder is a run folder like any other: its manifest names the shard summaries it
/// was made from, and `report verify` checks it.
#[test]
fn a_merged_folder_has_a_manifest_naming_its_shards() {
    let scratch = scratch("shards-manifest");
    let run_dir = lay_out_shards(&scratch);
    let ran = merge(&scratch, &[&run_dir], None);
    assert_eq!(ran.code, Some(0), "{ran}");
    let merged = run_dir.join("merged");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(merged.join("manifest.json")).expect("manifest.json"),
    )
    .expect("a manifest");
    let shards = manifest["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .filter(|i| i["role"] == "shard")
        .count();
    assert_eq!(shards, SHARDS as usize, "{manifest:#}");
    let mut a = args(["report", "verify"]);
    a.extend(args([merged.as_os_str()]));
    let verified = jobcert(&a, &scratch, LIMIT);
    assert_eq!(verified.code, Some(0), "{verified}");
    std::fs::write(merged.join("summary.json"), "{}").expect("tamper");
    let tampered = jobcert(&a, &scratch, LIMIT);
    assert_eq!(tampered.code, Some(1), "{tampered}");
}
