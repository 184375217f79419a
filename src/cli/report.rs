//! `jobcert report`: `merge` combines the results of a sharded fleet run into one — histograms
//! added, counts summed, thresholds judged again on the merged data; `verify` checks a run
//! folder against its manifest; `diff` lists what changed between two conformance runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use jobcert_harness::finding::Profile;
use jobcert_harness::record::{FleetRecord, Shard};
use jobcert_harness::report::Paint;
use jobcert_harness::report::diff::{diff, read_summary};
use jobcert_harness::report::fleet::{FleetReport, console, read_record, write_all};
use jobcert_harness::report::manifest::{
    InputRole, RunFacts, RunKind, TargetSelf, read_manifest, verify, write_manifest,
};
use jobcert_harness::verdict::fleet::assess_fleet;

/// The folder a merge writes to by default, beside the shards' folders.
const MERGED: &str = "merged";

/// Options of `jobcert report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Merge shard results: each DIR holds a `summary.json`, or folders that do.
    Merge {
        /// Shard result folders (or their parent).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged reports go (default: `merged` beside the first shard).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a run folder against its manifest.json: exit 0 when every file matches, 1 naming
    /// each changed, missing or extra file.
    Verify {
        /// The run folder.
        dir: PathBuf,
    },
    /// What changed between two conformance runs: requirements newly failing, newly passing and
    /// newly untested, and latency per operation; exit 1 when anything newly fails.
    Diff {
        /// The earlier run's folder.
        old: PathBuf,
        /// The later run's folder.
        new: PathBuf,
    },
}

/// Runs the command; exit 0 = the merged run passes, the folder matches its manifest, or
/// nothing newly fails; 1 = the opposite; 2 = bad input.
pub fn run(args: ReportArgs) -> ExitCode {
    let (name, outcome) = match args.command {
        ReportCommand::Merge { dirs, out } => ("merge", merge(&dirs, out)),
        ReportCommand::Verify { dir } => ("verify", check(&dir)),
        ReportCommand::Diff { old, new } => ("diff", compare(&old, &new)),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("jobcert report {name}: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints each file of `dir` that differs from its manifest; true when none does.
fn check(dir: &Path) -> anyhow::Result<bool> {
    let mismatches = verify(dir)?;
    let mut out = std::io::stdout().lock();
    for m in &mismatches {
        let _ = writeln!(out, "{m}");
    }
    let _ = match mismatches.len() {
        0 => writeln!(out, "{}: every file matches its manifest", dir.display()),
        n => writeln!(
            out,
            "{}: {n} file(s) differ from the manifest",
            dir.display()
        ),
    };
    Ok(mismatches.is_empty())
}

/// Prints what changed from `old` to `new`; true when nothing newly fails.
fn compare(old: &Path, new: &Path) -> anyhow::Result<bool> {
    let changes = diff(&read_summary(old)?, &read_summary(new)?);
    let _ = write!(std::io::stdout().lock(), "{changes}");
    Ok(!changes.regressed())
}

/// Every `summary.json` in `dir` or one level below it.
fn summaries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let direct = dir.join("summary.json");
    if direct.is_file() {
        return Ok(vec![direct]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let folder = entry?.path();
        // An earlier merge's output is not a shard.
        if folder.file_name().is_some_and(|n| n == MERGED) {
            continue;
        }
        let path = folder.join("summary.json");
        if path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    if found.is_empty() {
        bail!(
            "no summary.json in {} or the folders inside it",
            dir.display()
        );
    }
    Ok(found)
}

/// Shards as `K/N, …`.
fn shard_list(shards: &[Shard]) -> String {
    shards
        .iter()
        .map(|s| format!("{}/{}", s.index, s.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> anyhow::Result<bool> {
    let mut files = Vec::new();
    for d in dirs {
        files.extend(summaries(d)?);
    }
    let mut records = files
        .iter()
        .map(|f| read_record(f).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<FleetRecord>>>()?;
    records.sort_by_key(|r| r.shards.first().map(|s| s.index));
    let mut merged = records.remove(0);
    for r in records {
        if r.scenario != merged.scenario || r.run_id != merged.run_id {
            bail!(
                "{}/{} and {}/{} are not shards of one run",
                merged.scenario,
                merged.run_id,
                r.scenario,
                r.run_id
            );
        }
        let count = merged.shards.first().map(|s| s.count);
        if r.shards.iter().any(|s| Some(s.count) != count) {
            bail!(
                "run {} mixes shard counts: {} and {}",
                r.run_id,
                shard_list(&merged.shards),
                shard_list(&r.shards)
            );
        }
        if r.shards.iter().any(|s| merged.shards.contains(s)) {
            bail!("shard {} appears twice", shard_list(&r.shards));
        }
        merged.merge(r);
    }
    let count = merged.shards.first().map_or(1, |s| s.count);
    let missing: Vec<u32> = (0..count)
        .filter(|k| !merged.shards.iter().any(|s| s.index == *k))
        .collect();
    if !missing.is_empty() {
        merged.partial = true;
        merged.stopped_by = Some(format!("shards {missing:?} of {count} are missing"));
    }
    let verdict = assess_fleet(&merged);
    let out = out.unwrap_or_else(|| {
        files[0]
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .join(MERGED)
    });
    let report = FleetReport {
        record: &merged,
        verdict: &verdict,
    };
    write_all(&out, &report).with_context(|| format!("writing reports to {}", out.display()))?;
    // The merged folder is a run folder too: its manifest hashes the shard summaries it came
    // from, under the profile the first shard was judged by.
    let profile = files[0]
        .parent()
        .and_then(|d| read_manifest(d).ok())
        .map_or(Profile::Aws, |m| m.profile());
    let command: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    write_manifest(
        &out,
        &RunFacts {
            jobcert_version: env!("CARGO_PKG_VERSION"),
            kind: RunKind::Fleet,
            run_id: &merged.run_id,
            command: &command,
            profile,
            started_at_ms: merged.started_at_ms,
            targets: vec![TargetSelf {
                data_plane: merged.target.data_plane.clone(),
                control_plane: merged.target.control_plane.clone(),
                server: None,
            }],
            inputs: files
                .iter()
                .map(|f| (InputRole::Shard, f.clone()))
                .collect(),
        },
    )
    .with_context(|| format!("writing the manifest in {}", out.display()))?;
    // A closed stdout (a pipe to `head`) must not turn a verdict into a panic. Styled text
    // through anstream, which strips the styles off a pipe or under NO_COLOR.
    let _ = writeln!(
        anstream::stdout(),
        "{}reports: {}",
        console(&report, Paint::Ansi),
        out.display()
    );
    Ok(verdict.passed)
}
