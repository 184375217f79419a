//! `jobcert replay`: play a capture against a target — by default the reference server in a
//! child process, its clock set to the capture's times the speed — then write the same reports
//! as a fleet run and turn the verdict into the exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::profile::ProfileArg;
use super::{reference, runs};
use anyhow::{Context, bail};
use clap::Args;
use jobcert_harness::drive::replay::{self, Pace, ReplaySettings, Targets};
use jobcert_harness::record::Shard;
use jobcert_harness::record::capture::{Capture, Line, read};
use jobcert_harness::report::Paint;
use jobcert_harness::report::fleet::{FleetReport, console};
use jobcert_harness::report::manifest::{InputRole, RunKind};
use jobcert_harness::scenario::fleet::{Thresholds, load_thresholds};
use jobcert_harness::transport::target::control_plane;
use jobcert_harness::transport::{DataPlane, Signer, Target};
use jobcert_harness::verdict::fleet::assess_fleet;

/// How far a target's clock may be from the one a replay's timers need (relative).
const CLOCK_TOLERANCE: f64 = 0.01;

/// Options of `jobcert replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture (`.jsonl`, or gzip-compressed `.jsonl.gz`).
    capture: PathBuf,
    /// Data-plane URL (`http(s)://`, `mqtt(s)://` or `ws(s)://`); give it twice (one of each)
    /// for a capture of both transports. Without it the reference server is started.
    #[arg(long)]
    target: Vec<String>,
    /// Control-plane URL of the target, used to recreate the capture's things and jobs.
    #[arg(long, requires = "target")]
    control: Option<String>,
    /// How fast the target's clock runs (1 for real targets).
    #[arg(long, default_value_t = 1.0)]
    target_time_scale: f64,
    /// Play the capture this many times as fast (0.1 to 1000).
    #[arg(long, default_value_t = 1.0, value_parser = speed, conflicts_with = "as_fast_as_possible")]
    speed: f64,
    /// Send each device's next exchange as soon as its previous answer is in.
    #[arg(long)]
    as_fast_as_possible: bool,
    /// Give each recorded device K run-unique copies (each with its own copy of its jobs).
    #[arg(long = "clone", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    clones: u32,
    /// Fail the run on any divergence from the recording (a different `$next`, status, ...).
    #[arg(long)]
    strict: bool,
    /// Replay even where the target's clock would move the recorded timers' deadlines.
    #[arg(long)]
    allow_timer_shift: bool,
    /// Play shard K of N (0 ≤ K < N): the copies of groups of things whose number is K modulo N.
    #[arg(long, env = "JOBCERT_SHARD", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Run id shared by every shard of one replay (letters, digits, `-`; at most 16).
    #[arg(long, env = "JOBCERT_RUN_ID")]
    run_id: Option<String>,
    /// A request not answered in time is a `timeout`.
    #[arg(long, default_value_t = 5000)]
    deadline_ms: u64,
    /// Requests in flight at once; a send that finds none free waits, and is counted.
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// Region for ARNs and SigV4 (requests are signed when AWS credentials are set).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Account id for thing ARNs.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// How strictly to judge where the contract leaves room.
    #[arg(long, value_enum, default_value_t = ProfileArg::Aws)]
    profile: ProfileArg,
    /// Where reports go (a folder per run; `shard-K` inside it for a shard).
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// What the verdict requires besides conformance: a YAML file with a `thresholds:` mapping,
    /// as in a fleet scenario (latency percentiles, error rate, TIMED_OUT count).
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// No closing summary on stdout, only the verdict line.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// A replay speed: 0.1 to 1000.
fn speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=1000.0).contains(&s) => Ok(s),
        _ => Err(format!("{text} is not a speed from 0.1 to 1000")),
    }
}

/// Runs the command; exit 0 = pass, 1 = a failure, 2 = bad arguments or capture.
pub async fn run(args: ReplayArgs) -> ExitCode {
    match execute(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("jobcert replay: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether the capture holds a timer: a job's in-progress timeout or a step timeout asked for.
fn has_timers(capture: &Capture) -> bool {
    capture
        .header
        .seed
        .jobs
        .iter()
        .any(|j| j.create.contains_key("timeoutConfig"))
        || capture.lines.iter().any(|n| match &n.value {
            Line::Exchange(e) => e
                .body
                .as_deref()
                .is_some_and(|b| b.contains("stepTimeoutInMinutes")),
            _ => false,
        })
}

fn transports(capture: &Capture) -> (bool, bool) {
    let mut http = false;
    let mut mqtt = false;
    for n in &capture.lines {
        if let Line::Exchange(e) = &n.value {
            match e.transport.as_str() {
                "mqtt" => mqtt = true,
                _ => http = true,
            }
        }
    }
    (http, mqtt)
}

/// The clock a replay needs of its target: the recording's, times the speed.
fn coupled_scale(capture: &Capture, pace: Pace) -> f64 {
    match pace {
        Pace::Speed(s) => capture.header.target_time_scale * s,
        Pace::AsFastAsPossible => capture.header.target_time_scale,
    }
}

async fn execute(args: ReplayArgs) -> anyhow::Result<bool> {
    if !(args.target_time_scale.is_finite() && args.target_time_scale > 0.0) {
        bail!("--target-time-scale must be a positive number");
    }
    let capture = read(&args.capture).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pace = if args.as_fast_as_possible {
        Pace::AsFastAsPossible
    } else {
        Pace::Speed(args.speed)
    };
    let timers = has_timers(&capture);
    let needed = coupled_scale(&capture, pace);
    if timers && !args.allow_timer_shift {
        if pace == Pace::AsFastAsPossible {
            bail!(
                "the capture holds timers (a timeoutConfig or a stepTimeoutInMinutes), and \
                 --as-fast-as-possible keeps no schedule, so their deadlines would move \
                 against the devices' requests; replay at a --speed, or pass \
                 --allow-timer-shift"
            );
        }
        if !args.target.is_empty()
            && (args.target_time_scale - needed).abs() > CLOCK_TOLERANCE * needed
        {
            bail!(
                "the capture holds timers and was recorded against a clock at {}x; at \
                 --speed {} the target's clock must run at {needed}x \
                 (--target-time-scale {needed}), or the timers' deadlines move against the \
                 devices' requests; pass --allow-timer-shift to replay anyway",
                capture.header.target_time_scale,
                args.speed
            );
        }
    }
    let (wants_http, wants_mqtt) = transports(&capture);
    let run_id = runs::run_id(args.run_id.as_ref())?;
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    super::descriptors::ensure(&super::descriptors::replay_needs(
        "jobcert replay",
        replay::devices(&capture, args.clones, shard),
        1,
        u64::from(args.target.is_empty()),
    ))?;
    let reference = match args.target.is_empty() {
        true => Some(
            reference::start_with(
                needed,
                wants_mqtt,
                &args.region,
                &args.account_id,
                &reference::Extras {
                    jobs: Some(replay::jobs(&capture, args.clones, shard)),
                    ..Default::default()
                },
            )
            .await?,
        ),
        false => None,
    };
    let (urls, control, time_scale) = match &reference {
        Some(r) => (
            std::iter::once(r.data.clone())
                .chain(r.mqtt.clone())
                .collect(),
            r.control.clone(),
            needed,
        ),
        None => (
            args.target
                .iter()
                .map(|t| t.trim_end_matches('/').to_string())
                .collect::<Vec<_>>(),
            args.control
                .clone()
                .context("--control is needed with --target, to recreate things and jobs")?
                .trim_end_matches('/')
                .to_string(),
            args.target_time_scale,
        ),
    };
    let control = control_plane(&control).context("--control")?;
    let mut planes = Vec::new();
    for url in &urls {
        planes.push(DataPlane::parse(url).with_context(|| format!("--target {url}"))?);
    }
    let has = |http: bool| {
        planes
            .iter()
            .any(|p| matches!(p, DataPlane::Http(_)) == http)
    };
    if wants_http && !has(true) {
        bail!("the capture holds HTTP exchanges; give an http:// --target for them");
    }
    if wants_mqtt && !has(false) {
        bail!("the capture holds MQTT exchanges; give an mqtt(s):// or ws(s):// --target for them");
    }
    let tls = args.tls.load()?;
    let target_of = |data: DataPlane| Target {
        data,
        control: control.clone(),
        time_scale,
        signer: Signer::discover(&args.region),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        embedded: reference.is_some(),
        tls: tls.clone(),
    };
    let mut planes = planes.into_iter();
    let primary = target_of(planes.next().context("a --target")?);
    let secondary = planes.next().map(target_of);
    if let Some(notice) = primary.unsigned_notice() {
        eprintln!("jobcert replay: {notice}");
    }
    let capture_name = args.capture.file_name().map_or_else(
        || args.capture.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let settings = ReplaySettings {
        run_id: run_id.clone(),
        shard,
        profile: args.profile.into(),
        pace,
        clones: args.clones,
        strict: args.strict,
        deadline: Duration::from_millis(args.deadline_ms),
        slots: args.max_in_flight.max(1),
        capture_name,
        thresholds: match &args.thresholds {
            Some(path) => load_thresholds(path)
                .map_err(|errors| super::run::problems("the thresholds file", &errors))?,
            None => Thresholds::default(),
        },
    };
    let (stop, interrupt) = runs::on_interrupt("replay");
    let targets = Targets { primary, secondary };
    let record = replay::run(Arc::new(capture), &targets, &settings, stop).await;
    interrupt.abort();
    drop(reference);
    let verdict = assess_fleet(&record);
    let dir = runs::run_dir(&args.report_dir, &run_id, shard);
    let report = FleetReport {
        record: &record,
        verdict: &verdict,
    };
    runs::write_folder(
        &dir,
        &report,
        RunKind::Replay,
        args.profile.into(),
        (InputRole::Capture, args.capture.clone()),
    )?;
    let mut out = anstream::stdout();
    let _ = if args.quiet {
        writeln!(
            out,
            "verdict: {}",
            if verdict.passed { "PASS" } else { "FAIL" }
        )
    } else {
        writeln!(
            out,
            "{}reports: {}",
            console(&report, Paint::Ansi),
            dir.display()
        )
    };
    Ok(verdict.passed)
}
