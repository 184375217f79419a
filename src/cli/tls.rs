//! The TLS options every command that talks to a target shares (`run`, `fleet`, `replay`,
//! `diff`): which server certificates to trust and which client certificate to present.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use jobcert_harness::transport::tls::{ClientTls, IdentityFiles, THING_PLACEHOLDER};

/// TLS options of a command that talks to a target.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Trust only these CA certificates (PEM) for `https://`, `mqtts://` and `wss://` targets,
    /// instead of the system's.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to the data plane (`https://`, `mqtts://`, `wss://`);
    /// `{thing}` in the path names each device's own (`--cert 'pki/{thing}.pem'`).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<String>,
    /// The client certificate's private key (PEM); `{thing}` as in `--cert`.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<String>,
    /// Accept any server certificate: the connection is encrypted but the server is not
    /// authenticated.
    #[arg(long)]
    insecure: bool,
}

impl TlsArgs {
    /// The options as given, as command-line words (paths only: no key material).
    pub fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let paths = [
            ("--ca", self.ca.as_ref().map(|p| p.display().to_string())),
            ("--cert", self.cert.clone()),
            ("--key", self.key.clone()),
        ];
        for (name, value) in paths {
            if let Some(value) = value {
                words.extend([name.to_string(), value]);
            }
        }
        if self.insecure {
            words.push("--insecure".into());
        }
        words
    }

    /// Whether `--cert`/`--key` name one certificate per device (`{thing}`).
    pub fn per_device(&self) -> bool {
        [&self.cert, &self.key]
            .into_iter()
            .flatten()
            .any(|p| p.contains(THING_PLACEHOLDER))
    }

    /// Reads the files now, so that a bad one stops the command before it starts.
    pub fn load(&self) -> anyhow::Result<ClientTls> {
        let identity = self
            .cert
            .clone()
            .zip(self.key.clone())
            .map(|(cert, key)| IdentityFiles { cert, key });
        ClientTls::new(self.ca.as_deref(), self.insecure, identity)
            .context("the TLS options (--ca, --cert, --key)")
    }
}
