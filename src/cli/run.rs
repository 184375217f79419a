//! `jobcert run`: load scenarios, add the generated negative cases, run them against a target
//! (the embedded reference server unless told otherwise), write the reports, and turn the
//! verdict into the exit code.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::profile::ProfileArg;
use super::progress::{RunDisplay, RunProgress};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use jobcert_contract::Binding;
use jobcert_harness::drive::conformance::{self, Settings, StatusBoard};
use jobcert_harness::plan::generate;
use jobcert_harness::plan::{Plan, unusable_certificates};
use jobcert_harness::record::capture::{self, Origin, Source, SourceKind};
use jobcert_harness::record::{LatencyBook, RunRecord, TargetInfo};
use jobcert_harness::report::manifest::{InputRole, RunFacts, RunKind, TargetSelf};
use jobcert_harness::report::{self, ReportInput};
use jobcert_harness::scenario::fleet::is_fleet_file;
use jobcert_harness::scenario::{ScenarioError, load, scenario_files};
use jobcert_harness::transport::target::control_plane;
use jobcert_harness::transport::{DataPlane, Heard, RateLimit, Received, Signer, Target};
use jobcert_harness::verdict::{assess, load_deviations};
use jobcert_reference::{RunningServer, ServeConfig};

/// Virtual clock speed of the embedded reference server when no target is given.
const EMBEDDED_TIME_SCALE: f64 = 600.0;

/// Deadline of one request unless `--deadline-ms` says otherwise.
const DEFAULT_DEADLINE_MS: u64 = 5000;
/// Longest real wait of one step unless `--max-wait-s` says otherwise.
const DEFAULT_MAX_WAIT_S: u64 = 600;
/// Region of thing ARNs and of SigV4 unless `--region` or `AWS_REGION` says otherwise.
const DEFAULT_REGION: &str = "us-east-1";
/// Account of thing ARNs unless `--account-id` says otherwise.
const DEFAULT_ACCOUNT_ID: &str = "123456789012";
/// Seconds between plain progress lines when stderr is not a terminal, unless told otherwise.
const DEFAULT_PROGRESS_EVERY_S: u64 = 30;

/// Options of `jobcert run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Against another implementation: --target (its data plane, http://, \
https://, mqtt://, mqtts://, ws:// or wss://) and --control (its control plane, which seeds things and jobs); AWS_ACCESS_KEY_ID and \
AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, else a profile of the shared \
credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials; AWS_PROFILE or default), to \
sign requests with SigV4 (any values for an emulator; region from --region or AWS_REGION); a \
target that refuses the signature stops the run with one message naming the cause; --target-time-scale 1 for a \
real clock. Timer cases then wait minutes of real time: the whole suite takes about 10 minutes \
(--skip timers leaves them out)."
)]
pub struct RunArgs {
    /// Scenario files or folders.
    #[arg(default_value = "scenarios/conformance")]
    paths: Vec<PathBuf>,
    /// Data-plane URL of the target; without it the embedded reference server is started.
    #[arg(long)]
    target: Option<String>,
    /// Control-plane URL of the target, used to seed things and jobs.
    #[arg(long, requires = "target")]
    control: Option<String>,
    /// How fast the target's clock runs (1 for real targets).
    #[arg(long, default_value_t = 1.0)]
    target_time_scale: f64,
    /// Region for ARNs and SigV4 (requests are signed when AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY are set, or the shared credentials file has the profile's pair).
    #[arg(long, env = "AWS_REGION", default_value = DEFAULT_REGION)]
    region: String,
    /// Account id for thing ARNs.
    #[arg(long, default_value = DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Where reports go (a folder per run).
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Run only cases with this requirement ID, tag or case id; `http:<case id>` or
    /// `mqtt:<case id>` (as reports name it) runs that case over that transport only (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// Skip cases with this requirement ID, tag or case id (`http:<case id>`: over HTTP only;
    /// repeatable).
    #[arg(long)]
    skip: Vec<String>,
    /// How strictly to judge where the contract leaves room.
    #[arg(long, value_enum, default_value_t = ProfileArg::Aws)]
    profile: ProfileArg,
    /// YAML list of accepted deviations (`deviations: [{requirement, reason}]`).
    #[arg(long)]
    deviations: Option<PathBuf>,
    /// Deadline of one request, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_DEADLINE_MS)]
    deadline_ms: u64,
    /// Cases run side by side.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Longest real time one wait step may take, in seconds.
    #[arg(long, default_value_t = DEFAULT_MAX_WAIT_S)]
    max_wait_s: u64,
    /// Requests a second across the run, control plane included, to stay under a quota.
    #[arg(long, value_parser = positive_rate)]
    rate: Option<f64>,
    /// Leave out the negative cases generated from the request schemas.
    #[arg(long)]
    no_generated: bool,
    /// Transports to cover against the embedded server (a --target URL sets its own).
    #[arg(long, value_enum, default_value_t = Transports::Both)]
    transport: Transports,
    /// Print no progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Also write every exchange of the run as a capture (`jobcert-capture/1`; gzip-compressed
    /// when FILE ends in `.gz`), for `jobcert replay` and `jobcert diff`.
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// The target throttles and faults on purpose as `faults/probes.yaml` says (the
    /// embedded reference is started with it): the cases of `scenarios/probes/` exercise
    /// SN-THROTTLING and SN-UNAVAILABLE.
    #[arg(long)]
    target_faults: bool,
    /// Seconds between plain progress lines while stderr is not a terminal (for tests).
    #[arg(long, hide = true, default_value_t = DEFAULT_PROGRESS_EVERY_S)]
    progress_every_s: u64,
    /// The target's mTLS data plane (`https://`, AWS IoT's port 8443): SN-CERTIFICATE is then
    /// exercised with the --cert/--key certificate (which it must accept) and with unusable
    /// ones made for the run.
    #[arg(long, value_name = "URL", requires_all = ["target", "cert"])]
    mtls_target: Option<String>,
    #[command(flatten)]
    tls: super::tls::TlsArgs,
}

/// The cases a target told to fault on purpose runs (`--target-faults`).
const FAULT_PROBES: &str = "scenarios/probes";
/// The faults such a target serves.
const PROBE_FAULTS: &str = "faults/probes.yaml";

/// Which transports a run against the embedded server covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Transports {
    /// HTTP and MQTT.
    Both,
    /// HTTP only.
    Http,
    /// MQTT only.
    Mqtt,
}

/// Runs the command; exit 0 = pass, 1 = a failure, 2 = bad arguments or scenarios.
pub async fn run(args: RunArgs) -> ExitCode {
    match execute(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("jobcert run: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The plan, and the scenario files it was loaded from.
fn plan(args: &RunArgs) -> anyhow::Result<(Plan, Vec<PathBuf>)> {
    let mut paths = args.paths.clone();
    if args.target_faults {
        paths.push(PathBuf::from(FAULT_PROBES));
    }
    let files = scenario_files(&paths).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (fleets, files): (Vec<PathBuf>, Vec<PathBuf>) =
        files.into_iter().partition(|f| is_fleet_file(f));
    if let Some(f) = fleets.first() {
        if files.is_empty() {
            bail!(
                "{} is a fleet scenario: run it with `jobcert fleet`",
                f.display()
            );
        }
        eprintln!(
            "jobcert run: leaving out {} fleet scenario(s); run them with `jobcert fleet`",
            fleets.len()
        );
    }
    let cases = load(&files).map_err(|errors| problems("the scenarios", &errors))?;
    let mut plan = Plan { cases };
    if !args.no_generated {
        for binding in [Binding::Http, Binding::Mqtt] {
            plan.cases
                .extend(generate::negative_cases(binding).context("generating negative cases")?);
        }
    }
    if let Some(url) = &args.mtls_target {
        plan.cases
            .push(unusable_certificates(&mtls_endpoint(url, &args.tls)?));
    }
    plan.filter(&args.only, &args.skip);
    Ok((plan, files))
}

/// The `--mtls-target` URL, checked: `https://`, and a single client certificate to present
/// (the case's thing is named for the run, so a `{thing}` template names no file).
fn mtls_endpoint(url: &str, tls: &super::tls::TlsArgs) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("--mtls-target {url}"))?;
    if parsed.scheme() != "https" {
        bail!("--mtls-target {url}: an mTLS endpoint is an https:// URL");
    }
    if tls.per_device() {
        bail!("--mtls-target needs one client certificate; --cert/--key name one per device");
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// One error listing every scenario problem, one per line.
pub fn problems(what: &str, errors: &[ScenarioError]) -> anyhow::Error {
    anyhow::anyhow!(
        "{} problem(s) in {what}:\n{}",
        errors.len(),
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// The bindings a run covers: the target's, or those asked for against the embedded server.
fn bindings(args: &RunArgs, target: Option<&DataPlane>) -> Vec<Binding> {
    match target {
        Some(data) => vec![data.binding()],
        None => match args.transport {
            Transports::Both => vec![Binding::Http, Binding::Mqtt],
            Transports::Http => vec![Binding::Http],
            Transports::Mqtt => vec![Binding::Mqtt],
        },
    }
}

async fn execute(args: RunArgs) -> anyhow::Result<bool> {
    if !(args.target_time_scale.is_finite() && args.target_time_scale > 0.0) {
        bail!("--target-time-scale must be a positive number");
    }
    let deviations = match &args.deviations {
        Some(p) => load_deviations(p)?,
        None => Vec::new(),
    };
    let (plan, scenario_files) = plan(&args)?;
    let given = match &args.target {
        Some(t) => Some(DataPlane::parse(t).context("--target")?),
        None => None,
    };
    let bindings = bindings(&args, given.as_ref());
    // The bindings run one after another: the busier one decides.
    let things_per_case = plan
        .cases
        .iter()
        .map(|c| c.things.len() + c.absent_things.len())
        .max()
        .unwrap_or(0);
    let per_case = bindings
        .iter()
        .map(|b| super::descriptors::case_connections(*b, things_per_case))
        .max()
        .unwrap_or(0);
    super::descriptors::ensure(&super::descriptors::run_needs(
        args.concurrency,
        per_case,
        given.is_none(),
    ))?;
    let embedded = match &given {
        None => Some(
            RunningServer::start(&ServeConfig {
                time_scale: EMBEDDED_TIME_SCALE,
                region: args.region.clone(),
                account_id: args.account_id.clone(),
                mqtt: bindings
                    .contains(&Binding::Mqtt)
                    .then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
                faults: args
                    .target_faults
                    .then(|| super::serve::faults(Path::new(PROBE_FAULTS)))
                    .transpose()?,
                ..ServeConfig::default()
            })
            .await
            .context("starting the embedded reference server")?,
        ),
        Some(_) => None,
    };
    let signer = Signer::discover(&args.region);
    let tls = args.tls.load()?;
    let target_of = |data: DataPlane, control: &str, time_scale: f64| -> anyhow::Result<Target> {
        Ok(Target {
            data,
            control: control_plane(control).context("--control")?,
            time_scale,
            signer: signer.clone(),
            region: args.region.clone(),
            account_id: args.account_id.clone(),
            embedded: embedded.is_some(),
            tls: tls.clone(),
        })
    };
    // One target per binding the run covers, in the order they run.
    let targets = match (&embedded, given) {
        (Some(server), _) => {
            let control = format!("http://{}", server.control_plane());
            let mut targets = Vec::new();
            for binding in &bindings {
                let url = match binding {
                    Binding::Http => format!("http://{}", server.data_plane()),
                    Binding::Mqtt => format!(
                        "mqtt://{}",
                        server.mqtt().context("the embedded server has no broker")?
                    ),
                };
                targets.push(target_of(
                    DataPlane::parse(&url)?,
                    &control,
                    EMBEDDED_TIME_SCALE,
                )?);
            }
            targets
        }
        (None, Some(data)) => {
            let control = args
                .control
                .as_deref()
                .context("--control is needed with --target, to seed things and jobs")?;
            vec![target_of(data, control, args.target_time_scale)?]
        }
        (None, None) => unreachable!("a target or the embedded server"),
    };
    for notice in targets.iter().filter_map(Target::unsigned_notice) {
        eprintln!("jobcert run: {notice}");
    }
    let origin = Instant::now();
    let started_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let plans: Vec<Plan> = targets.iter().map(|t| plan.over(t.binding())).collect();
    let (status, progress) = if args.quiet {
        (None, None)
    } else {
        let total = plans.iter().map(|p| p.cases.len()).sum();
        let (board, live) = StatusBoard::new(total, args.profile.into());
        let display = if std::io::stderr().is_terminal() {
            RunDisplay::Line
        } else {
            RunDisplay::Log {
                period: Duration::from_secs(args.progress_every_s.max(1)),
            }
        };
        (Some(board), Some(RunProgress::start(live, display)))
    };
    let settings = Settings {
        run_id: run_id.clone(),
        deadline: Duration::from_millis(args.deadline_ms),
        max_wait: Duration::from_secs(args.max_wait_s),
        concurrency: args.concurrency,
        profile: args.profile.into(),
        origin,
        rate: args.rate.map(RateLimit::per_second),
        status,
        heard: args.capture.as_ref().map(|_| Heard::default()),
    };

    let (stop, interrupt) = super::runs::on_interrupt("run");
    let mut cases = Vec::new();
    let mut refused = None;
    for (target, plan) in targets.iter().zip(&plans) {
        if stop.is_cancelled() {
            break;
        }
        let driven = conformance::run(plan, target, &settings, stop.clone()).await;
        cases.extend(driven.cases);
        if let Some(refusal) = driven.refused {
            refused = Some(refusal.explain(target.signer.as_ref().map(Signer::source)));
            break;
        }
    }
    if let Some(p) = progress {
        p.finish().await;
    }
    interrupt.abort();
    if let Some(why) = refused {
        if let Some(server) = embedded {
            server.shutdown().await;
        }
        bail!("{why}");
    }
    let partial = stop.is_cancelled();
    if let Some(server) = embedded {
        server.shutdown().await;
    }

    let mut latency = LatencyBook::default();
    for exchange in cases.iter().flat_map(|c| &c.exchanges) {
        latency.record(exchange);
    }
    let record = RunRecord {
        run_id: run_id.clone(),
        started_at_ms,
        duration_ms: origin.elapsed().as_millis() as u64,
        // The first target names the data plane; the transport names every binding covered.
        target: TargetInfo {
            transport: bindings
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join("+"),
            ..TargetInfo::from(&targets[0])
        },
        partial,
        cases,
        latency,
    };
    let assessment = assess(&record, args.profile.into(), &deviations);
    let rerun_prefix = rerun_prefix(&args);
    let input = ReportInput {
        run: &record,
        assessment: &assessment,
        rerun_prefix: &rerun_prefix,
        region: &args.region,
    };
    if let Some(path) = &args.capture {
        let heard = settings
            .heard
            .as_ref()
            .map(|h| std::mem::take(&mut *h.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default();
        write_capture(&record, &heard, path)?;
    }
    let dir = args.report_dir.join(&run_id);
    report::write_all(&dir, &input)
        .with_context(|| format!("writing reports to {}", dir.display()))?;
    let command: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let inputs = scenario_files
        .into_iter()
        .map(|f| (InputRole::Scenario, f))
        .chain(args.deviations.clone().map(|d| (InputRole::Deviations, d)))
        .collect();
    report::manifest::write_manifest(
        &dir,
        &RunFacts {
            jobcert_version: env!("CARGO_PKG_VERSION"),
            kind: RunKind::Conformance,
            run_id: &run_id,
            command: &command,
            profile: args.profile.into(),
            started_at_ms,
            targets: targets
                .iter()
                .map(|t| TargetSelf::of(&TargetInfo::from(t), &record))
                .collect(),
            inputs,
        },
    )
    .with_context(|| format!("writing the manifest in {}", dir.display()))?;
    // Styled text through anstream, which strips the styles off a pipe or under NO_COLOR.
    anstream::print!("{}", report::console(&input, report::Paint::Ansi));
    println!("reports: {}", dir.display());
    if assessment.totals.checks == 0 {
        eprintln!("jobcert run: no check was executed; that is a failure");
    }
    Ok(assessment.passed)
}

/// Writes every exchange of `record`, and the notifications its devices `heard`, to `path` as
/// a capture whose names are placeholders.
fn write_capture(
    record: &RunRecord,
    heard: &[Received],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let origin = Origin {
        source: Source {
            kind: SourceKind::Run,
            detail: Some(record.run_id.clone()),
        },
        origin_ms: record.started_at_ms,
        target_time_scale: record.target.time_scale,
        run_id: Some(record.run_id.clone()),
    };
    let exchanges = record.cases.iter().flat_map(|c| &c.exchanges);
    capture::write(&capture::from_run(exchanges, heard, origin), path)
        .with_context(|| format!("writing the capture {}", path.display()))?;
    println!("capture: {}", path.display());
    Ok(())
}

/// The command that re-runs a case of this run: every option that shapes a case (the target,
/// its clock, the ARNs' region and account where they are not the defaults, the profile, the
/// deviations, deadlines, the TLS files), as shell words, and never a credential (those come from the
/// environment). A default is left out, so the line names no value the user did not choose.
fn rerun_prefix(args: &RunArgs) -> String {
    let mut words = vec!["jobcert".to_string(), "run".into()];
    words.extend(args.paths.iter().map(|p| p.display().to_string()));
    let mut option = |name: &str, value: String| words.extend([format!("--{name}"), value]);
    match &args.target {
        Some(t) => {
            option("target", t.clone());
            if let Some(c) = &args.control {
                option("control", c.clone());
            }
            option("target-time-scale", args.target_time_scale.to_string());
        }
        None if args.transport != Transports::Both => {
            let transport = args
                .transport
                .to_possible_value()
                .expect("no value is skipped");
            option("transport", transport.get_name().to_string());
        }
        None => {}
    }
    if args.region != DEFAULT_REGION {
        option("region", args.region.clone());
    }
    if args.account_id != DEFAULT_ACCOUNT_ID {
        option("account-id", args.account_id.clone());
    }
    let profile = args
        .profile
        .to_possible_value()
        .expect("no value is skipped");
    option("profile", profile.get_name().to_string());
    if let Some(d) = &args.deviations {
        option("deviations", d.display().to_string());
    }
    if args.deadline_ms != DEFAULT_DEADLINE_MS {
        option("deadline-ms", args.deadline_ms.to_string());
    }
    if args.max_wait_s != DEFAULT_MAX_WAIT_S {
        option("max-wait-s", args.max_wait_s.to_string());
    }
    if let Some(url) = &args.mtls_target {
        option("mtls-target", url.clone());
    }
    words.extend(args.tls.words());
    words
        .iter()
        .map(|w| report::shell_word(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A rate of requests a second: a finite number above zero.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{text} is not a number of requests a second above 0"
        )),
    }
}
