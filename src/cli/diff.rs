//! `jobcert diff`: play a capture against a primary, a candidate and optionally a secondary
//! target in lock-step and report where the candidate's answers and notifications differ beyond
//! the noise between primary and secondary. A role given no URL gets its own reference server.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::reference::{self, Reference};
use super::runs;
use anyhow::{Context, bail};
use clap::Args;
use jobcert_harness::drive::replay::{
    self, DiffSettings, DiffTargets, Pace, ReplaySettings, Targets,
};
use jobcert_harness::finding::Profile;
use jobcert_harness::record::Shard;
use jobcert_harness::record::capture::{Capture, Line, read};
use jobcert_harness::report::Paint;
use jobcert_harness::report::differential::{DiffReport, console, write_all};
use jobcert_harness::scenario::fleet::Thresholds;
use jobcert_harness::transport::target::control_plane;
use jobcert_harness::transport::{DataPlane, Signer, Target};
use jobcert_harness::verdict::assess_diff;

/// Options of `jobcert diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The capture (`.jsonl`, or gzip-compressed `.jsonl.gz`).
    capture: PathBuf,
    /// The primary's data plane (`http(s)://`, `mqtt(s)://` or `ws(s)://`; twice for a capture
    /// of both); without it a reference server is started for the role.
    #[arg(long)]
    primary: Vec<String>,
    /// The primary's control plane.
    #[arg(long, requires = "primary")]
    primary_control: Option<String>,
    /// The candidate's data plane.
    #[arg(long)]
    candidate: Vec<String>,
    /// The candidate's control plane.
    #[arg(long, requires = "candidate")]
    candidate_control: Option<String>,
    /// A second instance of the primary, whose differences from it are noise.
    #[arg(long)]
    secondary: Vec<String>,
    /// The secondary's control plane.
    #[arg(long, requires = "secondary")]
    secondary_control: Option<String>,
    /// Start a reference server as the secondary (noise from two references).
    #[arg(long, conflicts_with = "secondary")]
    reference_secondary: bool,
    /// How fast the targets' clocks run (1 for real targets).
    #[arg(long, default_value_t = 1.0)]
    target_time_scale: f64,
    /// Play the capture this many times as fast (0.1 to 1000).
    #[arg(long, default_value_t = 1.0, conflicts_with = "as_fast_as_possible")]
    speed: f64,
    /// Send each device's next exchange as soon as every target has answered the previous one.
    #[arg(long)]
    as_fast_as_possible: bool,
    /// Diffy's relative threshold: a member counts when its raw differences exceed the noise
    /// by more than this percentage of the two together.
    #[arg(long, default_value_t = 20.0)]
    relative: f64,
    /// Diffy's absolute threshold: ... and by more than this percentage of all comparisons.
    #[arg(long, default_value_t = 0.03)]
    absolute: f64,
    /// How far apart, in target milliseconds, two targets' notifications to a device may arrive
    /// and still be the same notification (one the primary published and another did not
    /// within it is a difference).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    notify_window: u64,
    /// A request not answered in time is a `timeout`.
    #[arg(long, default_value_t = 5000)]
    deadline_ms: u64,
    /// Region for ARNs and SigV4 (requests are signed when AWS credentials are set).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Account id for thing ARNs.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// Where reports go (a folder per run).
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// Runs the command; exit 0 = no difference counts, 1 = one does, 2 = bad arguments or capture.
pub async fn run(args: DiffArgs) -> ExitCode {
    match execute(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("jobcert diff: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn uses_mqtt(capture: &Capture) -> bool {
    capture
        .lines
        .iter()
        .any(|n| matches!(&n.value, Line::Exchange(e) if e.transport == "mqtt"))
}

/// The targets of one role: its URLs, or a reference server started for it (kept in
/// `servers` for the run's length).
async fn role(
    name: &str,
    urls: &[String],
    control: Option<&String>,
    args: &DiffArgs,
    capture: &Capture,
    servers: &mut Vec<Reference>,
) -> anyhow::Result<Targets> {
    let (urls, control, scale, embedded) = if urls.is_empty() {
        let scale = match args.as_fast_as_possible {
            true => capture.header.target_time_scale,
            false => capture.header.target_time_scale * args.speed,
        };
        let server = reference::start_with(
            scale,
            uses_mqtt(capture),
            &args.region,
            &args.account_id,
            &reference::Extras {
                jobs: Some(replay::jobs(capture, 1, Shard::WHOLE)),
                ..Default::default()
            },
        )
        .await?;
        let urls: Vec<String> = std::iter::once(server.data.clone())
            .chain(server.mqtt.clone())
            .collect();
        let control = server.control.clone();
        servers.push(server);
        (urls, control, scale, true)
    } else {
        let control = control
            .with_context(|| format!("--{name}-control is needed with --{name}"))?
            .clone();
        (urls.to_vec(), control, args.target_time_scale, false)
    };
    let control = control_plane(control.trim_end_matches('/'))
        .with_context(|| format!("--{name}-control"))?;
    let mut planes = Vec::new();
    for url in &urls {
        planes.push(
            DataPlane::parse(url.trim_end_matches('/'))
                .with_context(|| format!("--{name} {url}"))?,
        );
    }
    let tls = args.tls.load()?;
    let target_of = |data| Target {
        data,
        control: control.clone(),
        time_scale: scale,
        signer: Signer::discover(&args.region),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        embedded,
        tls: tls.clone(),
    };
    let mut planes = planes.into_iter();
    let primary = target_of(planes.next().with_context(|| format!("a --{name} URL"))?);
    Ok(Targets {
        primary,
        secondary: planes.next().map(target_of),
    })
}

async fn execute(args: DiffArgs) -> anyhow::Result<bool> {
    if !(0.1..=1000.0).contains(&args.speed) {
        bail!("--speed takes 0.1 to 1000, not {}", args.speed);
    }
    let capture = read(&args.capture).map_err(|e| anyhow::anyhow!("{e}"))?;
    let has_secondary = !args.secondary.is_empty() || args.reference_secondary;
    let roles = [
        Some(&args.primary),
        Some(&args.candidate),
        has_secondary.then_some(&args.secondary),
    ];
    let embedded = roles
        .iter()
        .flatten()
        .filter(|urls| urls.is_empty())
        .count();
    super::descriptors::ensure(&super::descriptors::replay_needs(
        "jobcert diff",
        replay::devices(&capture, 1, Shard::WHOLE),
        roles.iter().flatten().count() as u64,
        embedded as u64,
    ))?;
    let mut servers = Vec::new();
    let primary = role(
        "primary",
        &args.primary,
        args.primary_control.as_ref(),
        &args,
        &capture,
        &mut servers,
    )
    .await?;
    let candidate = role(
        "candidate",
        &args.candidate,
        args.candidate_control.as_ref(),
        &args,
        &capture,
        &mut servers,
    )
    .await?;
    let secondary = if !has_secondary {
        None
    } else {
        Some(
            role(
                "secondary",
                &args.secondary,
                args.secondary_control.as_ref(),
                &args,
                &capture,
                &mut servers,
            )
            .await?,
        )
    };
    let run_id = runs::run_id(None)?;
    let capture_name = args.capture.file_name().map_or_else(
        || args.capture.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let settings = DiffSettings {
        replay: ReplaySettings {
            run_id: run_id.clone(),
            shard: Shard::WHOLE,
            profile: Profile::Aws,
            pace: if args.as_fast_as_possible {
                Pace::AsFastAsPossible
            } else {
                Pace::Speed(args.speed)
            },
            clones: 1,
            strict: false,
            deadline: Duration::from_millis(args.deadline_ms),
            slots: 4096,
            capture_name,
            thresholds: Thresholds::default(),
        },
        relative: args.relative,
        absolute: args.absolute,
        notify_window: Duration::from_millis(args.notify_window),
    };
    let (stop, interrupt) = runs::on_interrupt("diff");
    let targets = DiffTargets {
        primary,
        candidate,
        secondary,
    };
    let record = replay::diff(Arc::new(capture), &targets, &settings, stop).await;
    interrupt.abort();
    drop(servers);
    let verdict = assess_diff(&record);
    let dir = args.report_dir.join(&run_id);
    let report = DiffReport {
        record: &record,
        verdict: &verdict,
    };
    write_all(&dir, &report).with_context(|| format!("writing reports to {}", dir.display()))?;
    let _ = writeln!(
        anstream::stdout(),
        "{}reports: {}",
        console(&report, Paint::Ansi),
        dir.display()
    );
    Ok(verdict.passed)
}
