//! The shared credentials file (`~/.aws/credentials`): INI sections named by profile, each with
//! `aws_access_key_id`, `aws_secret_access_key` and optionally `aws_session_token`.

use std::path::{Path, PathBuf};

use super::Credentials;

/// Why a credentials file gave no credentials (never quoting a value).
#[derive(Debug, thiserror::Error)]
pub enum CredentialsFileError {
    /// The file does not read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The profile is missing, or lacks a member.
    #[error("{path}: profile [{profile}] has no {member}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
        /// The member or section missing.
        member: &'static str,
    },
}

/// Reads `profile` of the file at `path`.
pub fn read(path: &Path, profile: &str) -> Result<Credentials, CredentialsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let missing = |member| CredentialsFileError::Missing {
        path: path.to_path_buf(),
        profile: profile.to_string(),
        member,
    };
    let section = section(&text, profile).ok_or_else(|| missing("section"))?;
    let get = |name: &str| {
        section
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let credentials = Credentials::new(
        get("aws_access_key_id").ok_or_else(|| missing("aws_access_key_id"))?,
        get("aws_secret_access_key").ok_or_else(|| missing("aws_secret_access_key"))?,
    );
    Ok(match get("aws_session_token") {
        Some(token) => credentials.with_session_token(token),
        None => credentials,
    })
}

/// The `key = value` pairs of section `[name]` (`[profile name]` also read, as the config file
/// writes it), when it exists; comments (`#`, `;`) and blank lines skipped, empty values left out.
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut found = None;
    let mut current = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let header = header.trim();
            let header = header.strip_prefix("profile ").unwrap_or(header).trim();
            current = header == name;
            if current {
                found.get_or_insert_with(Vec::new);
            }
            continue;
        }
        if !current {
            continue;
        }
        if let (Some((key, value)), Some(pairs)) = (line.split_once('='), found.as_mut()) {
            let value = value.trim();
            if !value.is_empty() {
                pairs.push((key.trim().to_ascii_lowercase(), value.to_string()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# shared credentials
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key=secret/default+

[profile ci]
aws_access_key_id = AKIDCI
; a comment
aws_secret_access_key = secret-ci
aws_session_token = token-ci

[broken]
aws_access_key_id = AKIDBROKEN
";

    #[test]
    fn profiles_are_read_by_name() {
        let dir = std::env::temp_dir().join(format!("jobcert-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials");
        std::fs::write(&path, FILE).unwrap();
        /// The key, secret and token read, or the end of the error.
        type Want<'a> = Result<(&'a str, &'a str, Option<&'a str>), &'a str>;
        let cases: [(&str, Want); 4] = [
            ("default", Ok(("AKIDDEFAULT", "secret/default+", None))),
            ("ci", Ok(("AKIDCI", "secret-ci", Some("token-ci")))),
            (
                "broken",
                Err("profile [broken] has no aws_secret_access_key"),
            ),
            ("absent", Err("profile [absent] has no section")),
        ];
        for (profile, want) in cases {
            match (read(&path, profile), want) {
                (Ok(c), Ok((key, secret, token))) => {
                    assert_eq!(
                        (
                            c.access_key.as_str(),
                            c.secret.as_str(),
                            c.session_token.as_deref()
                        ),
                        (key, secret, token),
                        "{profile}"
                    );
                }
                (Err(e), Err(words)) => {
                    let shown = e.to_string();
                    assert!(shown.ends_with(words), "{profile}: {shown}");
                    assert!(!shown.contains("AKIDBROKEN"), "{shown}");
                }
                (got, _) => panic!("{profile}: {got:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
