//! A test PKI made by `jobcert pki` in a scratch folder, and a `jobcert serve` over TLS with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::process::{Serve, args, jobcert};
use super::scratch;

/// How long one `jobcert pki` command may take.
const PKI_LIMIT: Duration = Duration::from_secs(30);

/// A PKI folder: `ca.pem`, `server.pem` and the device certificates issued so far.
pub struct Pki {
    dir: TempDir,
}

impl Pki {
    /// `jobcert pki init` in a fresh scratch folder.
    pub fn init() -> Self {
        let dir = scratch("pki");
        let ran = jobcert(&args(["pki", "init", "."]), dir.path(), PKI_LIMIT);
        assert_eq!(ran.code, Some(0), "{ran}");
        Self { dir }
    }

    /// `jobcert pki issue . --thing THING [FLAG]`.
    pub fn issue(&self, thing: &str, flag: Option<&str>) {
        let mut line = vec!["pki", "issue", ".", "--thing", thing];
        line.extend(flag);
        let ran = jobcert(&args(line), self.dir.path(), PKI_LIMIT);
        assert_eq!(ran.code, Some(0), "{ran}");
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every line of base64 inside the folder's PEM private keys: what no output may hold.
    pub fn key_material(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(self.dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "key") {
                let text = std::fs::read_to_string(&path).unwrap();
                lines.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                        .map(String::from),
                );
            }
        }
        lines
    }

    /// A file of the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file of the folder as a string, for a command line.
    pub fn arg(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }

    /// `jobcert serve` over `https://` with the server certificate, and with `mtls` an mTLS
    /// data plane that trusts the CA and reads `revoked.txt`.
    pub fn serve(&self, mtls: bool, extra: &[&str]) -> Serve {
        let mut line = vec![
            "--tls-cert".to_string(),
            self.arg("server.pem"),
            "--tls-key".to_string(),
            self.arg("server.key"),
        ];
        if mtls {
            line.extend([
                "--mtls".to_string(),
                "127.0.0.1:0".to_string(),
                "--client-ca".to_string(),
                self.arg("ca.pem"),
                "--revoked".to_string(),
                self.arg("revoked.txt"),
            ]);
        }
        line.extend(extra.iter().map(|s| s.to_string()));
        Serve::with(&line.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// [`Self::serve`] with MQTT over TLS (`--mqtts`) trusting the CA and reading
    /// `revoked.txt`, and `extra`.
    pub fn serve_mqtts(&self, extra: &[&str]) -> Serve {
        let (ca, revoked) = (self.arg("ca.pem"), self.arg("revoked.txt"));
        let mut line = vec![
            "--mqtts",
            "127.0.0.1:0",
            "--client-ca",
            &ca,
            "--revoked",
            &revoked,
        ];
        line.extend(extra);
        self.serve(false, &line)
    }

    /// A client that trusts the CA and, with `thing`, presents `{thing}.pem`.
    pub fn client(&self, thing: Option<&str>) -> reqwest::Client {
        let ca = std::fs::read(self.file("ca.pem")).expect("ca.pem");
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("a PEM CA")]);
        if let Some(thing) = thing {
            let mut pem = std::fs::read(self.file(&format!("{thing}.pem"))).expect("cert");
            pem.extend(std::fs::read(self.file(&format!("{thing}.key"))).expect("key"));
            builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("an identity"));
        }
        builder.build().expect("a TLS client")
    }
}
