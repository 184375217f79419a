//! `jobcert pki`: a test PKI in one command (see `crate::pki` for the files it writes).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::pki::{self, Flaw};

/// Options of `jobcert pki`.
#[derive(Debug, Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create DIR with a CA (ca.pem, ca.key), a server certificate for localhost and 127.0.0.1
    /// (server.pem, server.key) and an empty revocation list (revoked.txt).
    Init {
        /// The folder of the PKI.
        dir: PathBuf,
    },
    /// Issue a device certificate DIR/{thing}.pem with its key DIR/{thing}.key (CN = thing).
    Issue {
        /// The folder of the PKI (made by `jobcert pki init`).
        dir: PathBuf,
        /// The thing name: the certificate's CN and its file name.
        #[arg(long)]
        thing: String,
        /// Make it expired (its notAfter was yesterday).
        #[arg(long, group = "flaw")]
        expired: bool,
        /// Sign it with another CA, made for it and thrown away.
        #[arg(long, group = "flaw")]
        unknown_ca: bool,
        /// Record its serial in DIR/revoked.txt.
        #[arg(long, group = "flaw")]
        revoked: bool,
    },
}

/// Runs the command; prints the files written. Exit 0, or 2 with the cause.
pub fn run(args: PkiArgs) -> ExitCode {
    let outcome = match args.command {
        PkiCommand::Init { dir } => pki::init(&dir).map(|()| {
            println!("{}", dir.join("ca.pem").display());
            println!("{}", dir.join("server.pem").display());
        }),
        PkiCommand::Issue {
            dir,
            thing,
            expired,
            unknown_ca,
            revoked,
        } => {
            let flaw = match (expired, unknown_ca, revoked) {
                (true, _, _) => Flaw::Expired,
                (_, true, _) => Flaw::UnknownCa,
                (_, _, true) => Flaw::Revoked,
                _ => Flaw::None,
            };
            pki::issue(&dir, &thing, flaw).map(|path| println!("{}", path.display()))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobcert pki: {e:#}");
            ExitCode::from(2)
        }
    }
}
