//! What the commands that run something share: the run id, Ctrl-C, and the run folder of a
//! fleet-like record (`fleet`, `replay`) with its manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jobcert_harness::finding::Profile;
use jobcert_harness::record::{FleetRecord, Shard};
use jobcert_harness::report::fleet::{FleetReport, write_all};
use jobcert_harness::report::manifest::{InputRole, RunFacts, RunKind, TargetSelf, write_manifest};
use jobcert_harness::scenario::fleet::MAX_RUN_ID;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The run id given on the command line (letters, digits, `-`), or a fresh one.
pub fn run_id(given: Option<&String>) -> anyhow::Result<String> {
    match given {
        Some(id) => {
            if id.is_empty()
                || id.len() > MAX_RUN_ID
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                bail!("--run-id takes 1 to {MAX_RUN_ID} letters, digits or '-', not {id:?}");
            }
            Ok(id.clone())
        }
        None => Ok(uuid::Uuid::new_v4().simple().to_string()[..8].to_string()),
    }
}

/// A token cancelled on Ctrl-C or SIGTERM (saying so as `jobcert <command>`), and the task that waits for
/// it, to abort when the run is over.
pub fn on_interrupt(command: &'static str) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let waiting = tokio::spawn({
        let stop = stop.clone();
        async move {
            if stop_requested().await {
                eprintln!("jobcert {command}: interrupted; finishing the report");
                stop.cancel();
            }
        }
    });
    (stop, waiting)
}

/// Resolves once SIGINT (Ctrl-C) or SIGTERM (what `timeout`, CI runners and Kubernetes send)
/// arrives; `false` when neither can be listened for.
async fn stop_requested() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return tokio::signal::ctrl_c().await.is_ok();
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.is_ok(),
        r = term.recv() => r.is_some(),
    }
}

/// The folder of run `run_id` under `report_dir`, `shard-K` inside it for a shard.
pub fn run_dir(report_dir: &Path, run_id: &str, shard: Shard) -> PathBuf {
    let dir = report_dir.join(run_id);
    if shard.count > 1 {
        dir.join(format!("shard-{}", shard.index))
    } else {
        dir
    }
}

/// Writes a fleet-like record's reports into `dir`, then its manifest (`input` is the file
/// the run was made from).
pub fn write_folder(
    dir: &Path,
    report: &FleetReport<'_>,
    kind: RunKind,
    profile: Profile,
    input: (InputRole, PathBuf),
) -> anyhow::Result<()> {
    let record: &FleetRecord = report.record;
    write_all(dir, report).with_context(|| format!("writing reports to {}", dir.display()))?;
    let command: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    write_manifest(
        dir,
        &RunFacts {
            jobcert_version: env!("CARGO_PKG_VERSION"),
            kind,
            run_id: &record.run_id,
            command: &command,
            profile,
            started_at_ms: record.started_at_ms,
            // A fleet record keeps counts, not exchanges: nothing says what the server called itself.
            targets: vec![TargetSelf {
                data_plane: record.target.data_plane.clone(),
                control_plane: record.target.control_plane.clone(),
                server: None,
            }],
            inputs: vec![input],
        },
    )
    .with_context(|| format!("writing the manifest in {}", dir.display()))?;
    Ok(())
}
