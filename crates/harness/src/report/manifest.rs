//! `manifest.json`: what a run folder was made from and what it holds, described by
//! `schemas/report/manifest.schema.json`, and the check that a folder still matches it. A
//! certificate is only worth something if a reader can tell that nobody edited it since.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jobcert_contract::schemas;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::Profile;
use crate::record::{RunRecord, TargetInfo};
use crate::transport::Outcome;

/// The manifest's file name inside a run folder.
pub const MANIFEST: &str = "manifest.json";
/// Its schema, relative to `schemas/`.
const SCHEMA: &str = "report/manifest.schema.json";
/// Version of the manifest format.
const VERSION: u32 = 1;
/// What replaces a secret in the recorded command line.
const REDACTED: &str = "<redacted>";
/// Words that make an option's value a secret (`--api-key`, `--auth-token`, `PASSWORD=...`).
const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "key",
    "auth",
];

/// Reading, writing or checking a manifest failed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The manifest is not JSON of the manifest's format.
    #[error("{path} is not a manifest: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Which kind of run a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// `jobcert run`.
    Conformance,
    /// `jobcert fleet`.
    Fleet,
    /// `jobcert replay`.
    Replay,
}

/// What one input file was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    /// A scenario file.
    Scenario,
    /// A list of accepted deviations.
    Deviations,
    /// A shard's summary, merged into this folder's.
    Shard,
    /// A capture a replay played.
    Capture,
}

/// A target and what it said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSelf {
    /// Data-plane URL.
    pub data_plane: String,
    /// Control-plane URL.
    pub control_plane: String,
    /// The first `server` response header its data plane sent.
    pub server: Option<String>,
}

impl TargetSelf {
    /// `target`, with the first `server` header of the exchanges `run` had with its data plane.
    pub fn of(target: &TargetInfo, run: &RunRecord) -> Self {
        let base = target.data_plane.trim_end_matches('/');
        let server = run
            .cases
            .iter()
            .flat_map(|c| &c.exchanges)
            .filter(|e| e.request.endpoint.trim_end_matches('/') == base)
            .find_map(|e| match &e.outcome {
                Outcome::Answered(answer) => answer.header("server").map(str::to_string),
                _ => None,
            });
        Self {
            data_plane: target.data_plane.clone(),
            control_plane: target.control_plane.clone(),
            server,
        }
    }
}

/// An input file the run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// What it was for.
    pub role: InputRole,
    /// Where it was read from.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
}

/// A file by relative path and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashed {
    /// Relative path, `/`-separated.
    pub path: String,
    /// SHA-256, lowercase hexadecimal.
    pub sha256: String,
}

/// The manifest of a run folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    manifest_version: u32,
    jobcert_version: String,
    kind: RunKind,
    run_id: String,
    command: Vec<String>,
    profile: Profile,
    started_at: u64,
    ended_at: u64,
    targets: Vec<TargetSelf>,
    inputs: Vec<Input>,
    schemas: Vec<Hashed>,
    files: Vec<Hashed>,
}

impl Manifest {
    /// The profile the run was judged under.
    pub fn profile(&self) -> Profile {
        self.profile
    }
}

/// What the caller knows of a run that its folder does not say.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    /// Version of the binary.
    pub jobcert_version: &'a str,
    /// Kind of run.
    pub kind: RunKind,
    /// The run's id.
    pub run_id: &'a str,
    /// The command line as given; secrets are redacted here.
    pub command: &'a [String],
    /// The profile it was judged under.
    pub profile: Profile,
    /// Start, epoch milliseconds.
    pub started_at_ms: u64,
    /// Every target spoken to.
    pub targets: Vec<TargetSelf>,
    /// Every input file read.
    pub inputs: Vec<(InputRole, PathBuf)>,
}

/// Lowercase hexadecimal SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, ManifestError> {
    fs::read(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Every file under `dir` but the manifest, as `/`-separated relative paths, sorted.
fn folder_files(dir: &Path) -> Result<Vec<String>, ManifestError> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), ManifestError> {
        let io = |source| ManifestError::Io {
            path: dir.to_path_buf(),
            source,
        };
        for entry in fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().map_err(io)?.is_dir() {
                walk(&entry.path(), &format!("{name}/"), out)?;
            } else if name != MANIFEST {
                out.push(name);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// `command` with the values of secret-looking options and the passwords of URLs replaced.
pub fn redact_command(command: &[String]) -> Vec<String> {
    let secret = |name: &str| {
        let name = name.trim_start_matches('-').to_ascii_lowercase();
        SECRET_WORDS.iter().any(|w| name.contains(w))
    };
    let mut out = Vec::with_capacity(command.len());
    let mut next_is_secret = false;
    for arg in command {
        if std::mem::take(&mut next_is_secret) {
            out.push(REDACTED.to_string());
            continue;
        }
        match arg.split_once('=') {
            Some((name, _)) if secret(name) => out.push(format!("{name}={REDACTED}")),
            None if arg.starts_with('-') && secret(arg) => {
                next_is_secret = true;
                out.push(arg.clone());
            }
            _ => out.push(redact_url_password(arg)),
        }
    }
    out
}

/// `arg` with the password of any URL in it replaced.
fn redact_url_password(arg: &str) -> String {
    let Some(scheme_end) = arg.find("://") else {
        return arg.to_string();
    };
    let start = arg[..scheme_end].rfind('=').map_or(0, |i| i + 1);
    let Ok(url) = url::Url::parse(&arg[start..]) else {
        return arg.to_string();
    };
    match url.password() {
        Some(password) => arg.replacen(&format!(":{password}@"), &format!(":{REDACTED}@"), 1),
        None => arg.to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Writes `manifest.json` into `dir`, hashing every other file there: call it after every
/// other file of the run is written.
pub fn write_manifest(dir: &Path, facts: &RunFacts<'_>) -> Result<PathBuf, ManifestError> {
    let inputs = facts
        .inputs
        .iter()
        .map(|(role, path)| {
            Ok(Input {
                role: *role,
                path: path.display().to_string(),
                sha256: sha256(&read(path)?),
            })
        })
        .collect::<Result<_, ManifestError>>()?;
    let files = folder_files(dir)?
        .into_iter()
        .map(|path| {
            Ok(Hashed {
                sha256: sha256(&read(&dir.join(&path))?),
                path,
            })
        })
        .collect::<Result<_, ManifestError>>()?;
    let manifest = Manifest {
        manifest_version: VERSION,
        jobcert_version: facts.jobcert_version.to_string(),
        kind: facts.kind,
        run_id: facts.run_id.to_string(),
        command: redact_command(facts.command),
        profile: facts.profile,
        started_at: facts.started_at_ms,
        ended_at: now_ms(),
        targets: facts.targets.clone(),
        inputs,
        schemas: jobcert_contract::files()
            .map(|(path, text)| Hashed {
                path: path.to_string(),
                sha256: sha256(text.as_bytes()),
            })
            .collect(),
        files,
    };
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| ManifestError::Format {
        path: path.clone(),
        message: e.to_string(),
    })?;
    fs::write(&path, text).map_err(|source| ManifestError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// How a folder differs from its manifest, one file at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The file's content is not what the manifest hashed.
    Changed(String),
    /// The manifest lists the file; the folder does not have it.
    Missing(String),
    /// The folder has a file the manifest does not list.
    Extra(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed(p) => write!(f, "changed: {p}"),
            Self::Missing(p) => write!(f, "missing: {p}"),
            Self::Extra(p) => write!(f, "extra: {p}"),
        }
    }
}

/// Reads `dir`'s manifest, checked against its schema.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ManifestError> {
    let path = dir.join(MANIFEST);
    let format = |message: String| ManifestError::Format {
        path: path.clone(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&read(&path)?).map_err(|e| format(e.to_string()))?;
    let schema = schemas().get(SCHEMA).map_err(|e| format(e.to_string()))?;
    if let Some(v) = schema.first_violation(&value) {
        return Err(format(v.to_string()));
    }
    serde_json::from_value(value).map_err(|e| format(e.to_string()))
}

/// Every way `dir` differs from its manifest, in path order: empty when it matches.
pub fn verify(dir: &Path) -> Result<Vec<Mismatch>, ManifestError> {
    let manifest = read_manifest(dir)?;
    let present = folder_files(dir)?;
    let mut found = Vec::new();
    for entry in &manifest.files {
        if !present.contains(&entry.path) {
            found.push(Mismatch::Missing(entry.path.clone()));
        } else if sha256(&read(&dir.join(&entry.path))?) != entry.sha256 {
            found.push(Mismatch::Changed(entry.path.clone()));
        }
    }
    found.extend(
        present
            .into_iter()
            .filter(|p| !manifest.files.iter().any(|e| &e.path == p))
            .map(Mismatch::Extra),
    );
    Ok(found)
}

#[cfg(test)]
#[path = "manifest_test.rs"]
mod tests;
