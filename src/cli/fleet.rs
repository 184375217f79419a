//! `jobcert fleet`: run a fleet scenario (or one shard of it) against a target — by default the
//! reference server in a child process (`reference.rs`) — then write the reports and turn the
//! verdict into the exit code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::profile::ProfileArg;
use super::progress::Progress;
use super::{descriptors, reference, runs};
use crate::pki::TempPki;
use anyhow::{Context, bail};
use clap::Args;
use jobcert_harness::drive::fleet::{self, FleetSettings, LiveStatus};
use jobcert_harness::record::capture::{self, Origin, Source, SourceKind};
use jobcert_harness::record::{Kept, Shard};
use jobcert_harness::report::Paint;
use jobcert_harness::report::fleet::{FleetReport, console};
use jobcert_harness::report::manifest::{InputRole, RunKind};
use jobcert_harness::scenario::fleet::{
    FleetSpec, FleetTransport, RetrySpec, Until, load_fleet_with,
};
use jobcert_harness::transport::target::control_plane;
use jobcert_harness::transport::tls::{ClientTls, IdentityFiles, THING_PLACEHOLDER};
use jobcert_harness::transport::{DataPlane, Heard, Signer, Target};
use jobcert_harness::verdict::fleet::assess_fleet;
use tokio::sync::watch;

/// Options of `jobcert fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The fleet scenario file.
    scenario: PathBuf,
    /// Data-plane URL (`http(s)://`, `mqtt(s)://` or `ws(s)://`); without it the reference server
    /// is started.
    #[arg(long)]
    target: Option<String>,
    /// Control-plane URL of the target, used to create things and jobs.
    #[arg(long, requires = "target")]
    control: Option<String>,
    /// How fast the target's clock runs (1 for real targets).
    #[arg(long, default_value_t = 1.0)]
    target_time_scale: f64,
    /// Run shard K of N (0 ≤ K < N): the blocks of things whose number is K modulo N.
    #[arg(long, env = "JOBCERT_SHARD", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Run id shared by every shard of one run (letters, digits, `-`; at most 16).
    #[arg(long, env = "JOBCERT_RUN_ID")]
    run_id: Option<String>,
    /// Replace the scenario's number of things.
    #[arg(long)]
    devices: Option<u64>,
    /// Replace the scenario's open-loop rate (cycles per second).
    #[arg(long)]
    rate: Option<f64>,
    /// Run for this many seconds instead of until drained.
    #[arg(long)]
    duration_s: Option<f64>,
    /// Replace the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Replace the devices' retry policy (`none`, `device-client`, `sdk-standard`): the same
    /// fleet with another client's backoff.
    #[arg(long, value_name = "POLICY")]
    retry: Option<String>,
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
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Also write every exchange of the run as a capture (`jobcert-capture/1`; gzip-compressed
    /// when FILE ends in `.gz`), for `jobcert replay`. Keeps every exchange in memory.
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// The reference server speaks TLS and asks every device for a client certificate: MQTT
    /// over TLS, or the HTTP data plane over mTLS. A PKI made for the run (removed after it)
    /// issues each device its own certificate.
    #[arg(long, conflicts_with_all = ["target", "ca", "cert", "insecure"])]
    reference_tls: bool,
    /// The reference server enforces request-rate quotas (`jobcert serve --quotas`): without
    /// FILE, the newest embedded `schemas/limits/aws-<date>.json`.
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "target")]
    quotas: Option<Option<PathBuf>>,
    /// The reference server injects the faults FILE describes (`jobcert serve --faults`), to
    /// rehearse an outage.
    #[arg(long, value_name = "FILE", conflicts_with = "target")]
    faults: Option<PathBuf>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// A PKI for the run, with a certificate for each of the scenario's things.
fn device_pki(spec: &FleetSpec, run_id: &str) -> anyhow::Result<TempPki> {
    let pki = TempPki::new().context("making the run's PKI")?;
    let names: Vec<String> = (0..spec.things.count)
        .map(|i| spec.things.name_of(run_id, i))
        .collect();
    crate::pki::issue_missing(pki.dir(), names.iter().map(String::as_str))
        .context("issuing the devices' certificates")?;
    Ok(pki)
}

/// Devices trust `pki`'s CA and each presents its own certificate.
fn device_tls(pki: &TempPki) -> anyhow::Result<ClientTls> {
    let file = |suffix: &str| {
        pki.dir()
            .join(format!("{THING_PLACEHOLDER}.{suffix}"))
            .display()
            .to_string()
    };
    let identity = IdentityFiles {
        cert: file("pem"),
        key: file("key"),
    };
    ClientTls::new(Some(&pki.dir().join("ca.pem")), false, Some(identity)).context("the run's PKI")
}

/// Runs the command; exit 0 = pass, 1 = a failure, 2 = bad arguments or scenario.
pub async fn run(args: FleetArgs) -> ExitCode {
    match execute(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("jobcert fleet: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The scenario with the command line's overrides applied (and checked like the file).
fn scenario(args: &FleetArgs) -> anyhow::Result<FleetSpec> {
    load_fleet_with(&args.scenario, |spec| {
        if let Some(n) = args.devices {
            spec.things.count = n;
        }
        // A rate given to a closed model is refused by the check, like one in the file.
        if let Some(r) = args.rate {
            spec.load.rate = Some(r);
            spec.load.stages.clear();
        }
        if let Some(d) = args.duration_s {
            spec.run.until = Until::Duration;
            spec.run.duration_s = Some(d);
        }
        if let Some(s) = args.seed {
            spec.seed = s;
        }
        if let Some(r) = &args.retry {
            spec.behaviour.retry = RetrySpec::Named(r.clone());
        }
    })
    .map_err(|errors| {
        super::run::problems("the scenario (with the command line's values)", &errors)
    })
}

async fn execute(args: FleetArgs) -> anyhow::Result<bool> {
    if !(args.target_time_scale.is_finite() && args.target_time_scale > 0.0) {
        bail!("--target-time-scale must be a positive number");
    }
    let spec = scenario(&args)?;
    if spec.rollout.shaped() && args.capture.is_some() {
        // A capture's seed holds things and the jobs that name them; groups it cannot hold.
        bail!(
            "--capture records things and jobs that target them by name; a rollout of `jobs` \
             targets thing groups, which a capture cannot seed: capture a rollout of \
             `jobs-per-thing` instead"
        );
    }
    let run_id = runs::run_id(args.run_id.as_ref())?;
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    descriptors::ensure(&descriptors::fleet_needs(
        &spec,
        shard,
        args.target.is_none(),
    ))?;
    let pki = args
        .reference_tls
        .then(|| device_pki(&spec, &run_id))
        .transpose()?;
    let reference = match &args.target {
        None => {
            let extras = reference::Extras {
                quotas: args
                    .quotas
                    .as_ref()
                    .map(Option::as_deref)
                    .or(spec.reference.quotas.then_some(None)),
                faults: args.faults.as_deref(),
                pki: pki.as_ref().map(TempPki::dir),
                jobs: None,
            };
            Some(
                reference::start_with(
                    spec.reference.time_scale,
                    spec.transport == FleetTransport::Mqtt,
                    &args.region,
                    &args.account_id,
                    &extras,
                )
                .await?,
            )
        }
        Some(_) => None,
    };
    let (data_url, control, time_scale) = match (&reference, &args.target) {
        (Some(r), _) => (
            r.mqtt
                .clone()
                .or_else(|| r.mtls.clone())
                .unwrap_or_else(|| r.data.clone()),
            r.control.clone(),
            spec.reference.time_scale,
        ),
        (None, Some(t)) => (
            t.trim_end_matches('/').to_string(),
            args.control
                .clone()
                .context("--control is needed with --target, to create things and jobs")?
                .trim_end_matches('/')
                .to_string(),
            args.target_time_scale,
        ),
        (None, None) => unreachable!("a target or the reference server"),
    };
    let data = DataPlane::parse(&data_url).context("--target")?;
    match (&data, spec.transport) {
        (DataPlane::Mqtt(_), FleetTransport::Mqtt) | (DataPlane::Http(_), FleetTransport::Http) => {
        }
        (DataPlane::Mqtt(_), FleetTransport::Http) => {
            bail!("the scenario's transport is http, but the target is {data_url}")
        }
        (DataPlane::Http(_), FleetTransport::Mqtt) => {
            bail!("the scenario's transport is mqtt, but the target is {data_url}")
        }
    }
    let target = Target {
        data,
        control: control_plane(&control).context("--control")?,
        time_scale,
        signer: Signer::discover(&args.region),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        embedded: reference.is_some(),
        tls: match &pki {
            Some(pki) => device_tls(pki)?,
            None => args.tls.load()?,
        },
    };
    if let Some(notice) = target.unsigned_notice() {
        eprintln!("jobcert fleet: {notice}");
    }
    let mut settings = FleetSettings {
        run_id: run_id.clone(),
        shard,
        profile: args.profile.into(),
        live: None,
        capture: args.capture.as_ref().map(|_| Kept::default()),
        heard: args.capture.as_ref().map(|_| Heard::default()),
    };
    let (stop, interrupt) = runs::on_interrupt("fleet");
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let (tx, rx) = watch::channel(LiveStatus::default());
        settings.live = Some(tx);
        Progress::start(rx, spec.planned_duration_s())
    });
    let record = fleet::run(&spec, &target, &settings, stop).await;
    if let Some(p) = progress {
        p.finish().await;
    }
    interrupt.abort();
    drop(reference);
    if let (Some(path), Some(kept)) = (&args.capture, &settings.capture) {
        let exchanges = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
        let origin = Origin {
            source: Source {
                kind: SourceKind::Fleet,
                detail: Some(format!("{} (run {run_id})", spec.name)),
            },
            origin_ms: record.started_at_ms,
            target_time_scale: record.target.time_scale,
            run_id: Some(run_id.clone()),
        };
        let heard = settings
            .heard
            .as_ref()
            .map(|h| std::mem::take(&mut *h.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default();
        capture::write(&capture::from_run(&exchanges, &heard, origin), path)
            .with_context(|| format!("writing the capture {}", path.display()))?;
    }
    let verdict = assess_fleet(&record);
    let dir = runs::run_dir(&args.report_dir, &run_id, shard);
    let report = FleetReport {
        record: &record,
        verdict: &verdict,
    };
    runs::write_folder(
        &dir,
        &report,
        RunKind::Fleet,
        args.profile.into(),
        (InputRole::Scenario, args.scenario.clone()),
    )?;
    // A closed stdout (a pipe to `head`) must not turn a verdict into a panic. Styled text
    // through anstream, which strips the styles off a pipe or under NO_COLOR.
    let _ = writeln!(
        anstream::stdout(),
        "{}reports: {}",
        console(&report, Paint::Ansi),
        dir.display()
    );
    Ok(verdict.passed)
}
