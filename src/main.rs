//! The `jobcert` command: parses arguments and hands over to one command.

mod cli;

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
    /// Run the reference implementation (HTTP data plane and control plane).
    Serve(cli::serve::ServeArgs),
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
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobcert: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
