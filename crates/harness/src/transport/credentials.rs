//! Where a run's AWS credentials come from, in the order the AWS SDKs look: the environment
//! variables, then the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`), profile `AWS_PROFILE` or `default`. No other source (no config file,
//! no SSO, no instance metadata): a run needs a key pair it can name in a message.

use std::path::{Path, PathBuf};

/// Environment variable naming the shared credentials file.
pub const CREDENTIALS_FILE_VAR: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// Environment variable naming the profile.
pub const PROFILE_VAR: &str = "AWS_PROFILE";

/// A key pair, its optional session token, and where they were found. Never shows the secret
/// or the token.
#[derive(Clone)]
pub struct Found {
    /// The access key id.
    pub key: String,
    /// The secret access key.
    pub secret: String,
    /// The session token of temporary credentials.
    pub token: Option<String>,
    /// Where they were found, for messages: the variables, or the file and profile.
    pub source: String,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The credentials of the first source that has a key pair: `var` reads the environment,
/// `home` is the home directory.
pub fn discover(var: impl Fn(&str) -> Option<String>, home: Option<&Path>) -> Option<Found> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    if let (Some(key), Some(secret)) = (var(super::ACCESS_KEY_VAR), var(super::SECRET_KEY_VAR)) {
        return Some(Found {
            key,
            secret,
            token: var(super::SESSION_TOKEN_VAR),
            source: format!("{}/{}", super::ACCESS_KEY_VAR, super::SECRET_KEY_VAR),
        });
    }
    let file = var(CREDENTIALS_FILE_VAR)
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".aws/credentials")))?;
    let profile = var(PROFILE_VAR).unwrap_or_else(|| "default".to_string());
    let text = std::fs::read_to_string(&file).ok()?;
    let pairs = section(&text, &profile)?;
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some(Found {
        key: get("aws_access_key_id")?,
        secret: get("aws_secret_access_key")?,
        token: get("aws_session_token"),
        source: format!("profile [{profile}] of {}", file.display()),
    })
}

/// The `key = value` pairs of INI section `[name]` (or `[profile name]`), when it exists;
/// comments and blank lines skipped, empty values left out.
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut found: Option<Vec<(String, String)>> = None;
    let mut current = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let header = header.trim();
            current = header.strip_prefix("profile ").unwrap_or(header).trim() == name;
            if current {
                found.get_or_insert_with(Vec::new);
            }
        } else if current
            && let (Some((key, value)), Some(pairs)) = (line.split_once('='), found.as_mut())
            && !value.trim().is_empty()
        {
            pairs.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
[default]
aws_access_key_id = AKIDFILE
aws_secret_access_key = file-secret

# a comment
[profile ci]
aws_access_key_id=AKIDCI
aws_secret_access_key=ci-secret
aws_session_token=ci-token

[half]
aws_access_key_id = AKIDHALF
";

    #[test]
    fn the_environment_comes_first_then_the_file_and_its_profile() {
        let dir = std::env::temp_dir().join(format!("jobcert-aws-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        let file = dir.join(".aws/credentials");
        std::fs::write(&file, FILE).unwrap();
        let other = dir.join("other");
        std::fs::write(&other, FILE.replace("AKIDFILE", "AKIDOTHER")).unwrap();
        let other_name = other.to_string_lossy().into_owned();
        let env_pair = [
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ];
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            Option<(&'a str, Option<&'a str>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "environment first",
                env_pair.to_vec(),
                Some(("AKIDENV", None)),
            ),
            (
                "half a pair in the environment falls through to the file",
                vec![("AWS_ACCESS_KEY_ID", "AKIDENV")],
                Some(("AKIDFILE", None)),
            ),
            ("the default profile", vec![], Some(("AKIDFILE", None))),
            (
                "a named profile, with its token",
                vec![("AWS_PROFILE", "ci")],
                Some(("AKIDCI", Some("ci-token"))),
            ),
            (
                "a profile without its secret",
                vec![("AWS_PROFILE", "half")],
                None,
            ),
            ("an absent profile", vec![("AWS_PROFILE", "absent")], None),
            (
                "another file",
                vec![("AWS_SHARED_CREDENTIALS_FILE", other_name.as_str())],
                Some(("AKIDOTHER", None)),
            ),
        ];
        for (what, env, want) in cases {
            let var = |name: &str| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let found = discover(var, Some(&dir));
            assert_eq!(
                found.as_ref().map(|f| (f.key.as_str(), f.token.as_deref())),
                want,
                "{what}"
            );
            if let Some(found) = found {
                let shown = format!("{found:?}");
                assert!(
                    !shown.contains("secret") && !shown.contains("token"),
                    "{shown}"
                );
            }
        }
        assert_eq!(
            discover(|_| None, Some(&dir.join("nowhere"))).map(|f| f.key),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
