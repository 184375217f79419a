//! `jobcert validate`: check scenario files (conformance and fleet) without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use jobcert_harness::scenario::fleet::{is_fleet_file, load_fleet};
use jobcert_harness::scenario::{load, scenario_files};

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
    let (fleets, suites): (Vec<PathBuf>, Vec<PathBuf>) =
        files.into_iter().partition(|f| is_fleet_file(f));
    let mut errors = Vec::new();
    let cases = match load(&suites) {
        Ok(cases) => cases.len(),
        Err(mut e) => {
            errors.append(&mut e);
            0
        }
    };
    for f in &fleets {
        if let Err(mut e) = load_fleet(f) {
            errors.append(&mut e);
        }
    }
    if errors.is_empty() {
        println!(
            "ok: {cases} cases in {} files, {} fleet scenarios",
            suites.len(),
            fleets.len()
        );
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            eprintln!("{e}");
        }
        ExitCode::from(2)
    }
}
