//! `jobcert validate`: check scenario files without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use jobcert::scenario::{load, scenario_files};

/// Options of `jobcert validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// Prints every problem as `file:line:column: message`; exit 0 when there is none, else 2.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let files = match scenario_files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match load(&files) {
        Ok(cases) => {
            println!("ok: {} cases in {} files", cases.len(), files.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }
    }
}
