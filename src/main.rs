//! The `jobcert` command: parses arguments and hands over to one command.

mod cli;
mod pki;

/// mimalloc rather than the system allocator: a fleet's sender allocates and frees some
/// dozens of small buffers per request, and glibc's free alone cost about a sixth of a
/// request's instructions (bench/README.md, measurement e).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Conformance harness, fleet simulator and reference implementation for the AWS IoT Jobs device API.
#[derive(Debug, Parser)]
#[command(name = "jobcert", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run conformance scenarios against a target (the embedded reference server by default).
    Run(cli::run::RunArgs),
    /// Run a fleet scenario (or one shard of it): simulated devices under a load model.
    Fleet(cli::fleet::FleetArgs),
    /// Work with reports: merge shard results, verify a run folder, diff two runs.
    Report(cli::report::ReportArgs),
    /// Replay a capture against a target (the reference server by default).
    Replay(cli::replay::ReplayArgs),
    /// Play a capture against a primary and a candidate (and a secondary, for noise) in
    /// lock-step and report where the candidate's answers differ.
    Diff(cli::diff::DiffArgs),
    /// Work with captures of traffic: check one and say what it holds.
    Capture(cli::capture::CaptureArgs),
    /// Run the reference implementation (HTTP data plane and control plane).
    Serve(cli::serve::ServeArgs),
    /// Make a test PKI: a CA, a server certificate and device certificates.
    Pki(cli::pki::PkiArgs),
    /// Check scenario files without running them.
    Validate(cli::validate::ValidateArgs),
}

impl Command {
    /// Whether the command may hold many connections (or start a server that does), and so
    /// needs more descriptors than a process is given by default.
    fn holds_connections(&self) -> bool {
        matches!(
            self,
            Self::Run(_)
                | Self::Fleet(_)
                | Self::Replay(_)
                | Self::Diff(_)
                | Self::Capture(_)
                | Self::Serve(_)
        )
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("JOBCERT_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if cli.command.holds_connections() {
        cli::descriptors::raise();
    }
    match cli.command {
        Command::Run(args) => cli::run::run(args).await,
        Command::Serve(args) => match cli::serve::run(args).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("jobcert serve: {e:#}");
                std::process::ExitCode::from(2)
            }
        },
        Command::Validate(args) => cli::validate::run(&args),
        Command::Pki(args) => cli::pki::run(args),
        Command::Fleet(args) => cli::fleet::run(args).await,
        Command::Report(args) => cli::report::run(args),
        Command::Capture(args) => cli::capture::run(args).await,
        Command::Replay(args) => cli::replay::run(args).await,
        Command::Diff(args) => cli::diff::run(args).await,
    }
}
