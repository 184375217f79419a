//! `jobcert capture`: work with captures (`jobcert-capture/1`). `lint` reads one whole — any
//! problem is named by `file:line` — and says what it holds and how long a replay takes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use jobcert_harness::record::capture::{lint, read};

/// Options of `jobcert capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[command(subcommand)]
    command: CaptureCommand,
}

#[derive(Debug, Subcommand)]
enum CaptureCommand {
    /// Check a capture and say what it holds: counts, the operation mix per device, lines out of
    /// send order, the largest gaps, and how long a replay takes at --speed.
    Lint {
        /// The capture (`.jsonl`, or gzip-compressed `.jsonl.gz`).
        file: PathBuf,
        /// Replay speed to predict the duration for.
        #[arg(long, default_value_t = 1.0, value_parser = speed)]
        speed: f64,
    },
}

/// A replay speed: 0.1 to 1000.
fn speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=1000.0).contains(&s) => Ok(s),
        _ => Err(format!("{text} is not a speed from 0.1 to 1000")),
    }
}

/// Runs the command; exit 0 = a readable capture, 2 = a bad one (named by file and line).
pub fn run(args: CaptureArgs) -> ExitCode {
    match args.command {
        CaptureCommand::Lint { file, speed } => match read(&file) {
            Ok(capture) => {
                let report = lint(&capture);
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{report}");
                let _ = writeln!(
                    out,
                    "a replay at {speed}x takes at least {:.3} s",
                    report.duration_at(speed).as_secs_f64()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("jobcert capture lint: {e}");
                ExitCode::from(2)
            }
        },
    }
}
