//! `jobcert run` against `jobcert serve --verify-sigv4`: with the server's credentials (from the
//! environment, or from a shared credentials file) the suite passes; with a wrong secret, or
//! unsigned, the run stops at once with the one message naming the cause instead of failing
//! every case; with a clock more than 5 minutes off the server's (libfaketime) it names the
//! clock. No secret reaches the run's output.

use std::path::Path;
use std::time::Duration;

use crate::common::process::{Process, Ran, Serve, args};
use crate::common::{ScratchExt, root, scratch};

/// Longest a whole passing run may take here.
const LIMIT: Duration = Duration::from_secs(180);
/// Longest a refused run may take: it stops on the first answer.
const REFUSED_LIMIT: Duration = Duration::from_secs(30);
const KEY: &str = "AKIDSIGV4TEST";
const SECRET: &str = "sigv4-test-secret/123";
const WRONG: &str = "sigv4-wrong-secret/456";

/// A `serve --verify-sigv4` on the virtual clock, its credentials read from a file in `dir`.
fn verifying(dir: &tempfile::TempDir) -> Serve {
    let file = dir.write(
        "server-credentials",
        format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
    );
    Serve::with(&[
        "--time-scale",
        "600",
        "--verify-sigv4",
        "--sigv4-credentials",
        &file.display().to_string(),
    ])
}

/// `jobcert run` of the whole suite against `server`, with `env` set.
fn run(server: &Serve, out: &Path, env: &[(&str, Option<&str>)], limit: Duration) -> Ran {
    let reports = out.join("reports").display().to_string();
    let line = [
        "run",
        "--target",
        &server.data,
        "--control",
        &server.control,
        "--target-time-scale",
        "600",
        "--quiet",
        "--report-dir",
        &reports,
    ];
    Process::spawn_env(&args(line), &root(), out, env).finish(limit)
}

fn signing_with(secret: &str) -> [(&'static str, Option<&str>); 2] {
    [
        ("AWS_ACCESS_KEY_ID", Some(KEY)),
        ("AWS_SECRET_ACCESS_KEY", Some(secret)),
    ]
}

#[test]
fn the_suite_passes_signed_with_the_servers_credentials() {
    let dir = scratch("sigv4-pass");
    let server = verifying(&dir);
    let ran = run(&server, dir.path(), &signing_with(SECRET), LIMIT);
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        !ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET),
        "{ran}"
    );
}

#[test]
fn credentials_are_read_from_the_shared_credentials_file_and_its_profile() {
    let dir = scratch("sigv4-file");
    let server = verifying(&dir);
    let file = dir.write(
        "credentials",
        format!(
            "[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {WRONG}\n\n\
             [profile ci]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
        ),
    );
    let file = file.display().to_string();
    let ran = run(
        &server,
        dir.path(),
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", Some(&file)),
            ("AWS_PROFILE", Some("ci")),
        ],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    // The default profile holds the wrong secret: the message names the file and profile.
    let ran = run(
        &server,
        dir.path(),
        &[("AWS_SHARED_CREDENTIALS_FILE", Some(&file))],
        REFUSED_LIMIT,
    );
    assert_ne!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stderr.contains(&format!(
            "the target refused the request signature (InvalidSignatureException): check \
             profile [default] of {file}"
        )),
        "{ran}"
    );
}

#[test]
fn a_wrong_secret_stops_the_run_with_one_message() {
    let dir = scratch("sigv4-wrong");
    let server = verifying(&dir);
    let ran = run(&server, dir.path(), &signing_with(WRONG), REFUSED_LIMIT);
    assert_ne!(ran.code, Some(0), "{ran}");
    let said = "the target refused the request signature (InvalidSignatureException): check \
                AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";
    assert!(ran.stderr.contains(said), "{ran}");
    assert_eq!(
        ran.stderr.matches("InvalidSignatureException").count(),
        1,
        "{ran}"
    );
    assert!(!ran.stdout.contains("FAIL"), "no per-case failures: {ran}");
    assert!(
        !ran.stderr.contains(WRONG) && !ran.stdout.contains(WRONG),
        "{ran}"
    );
}

#[test]
fn an_unsigned_run_is_told_how_to_sign() {
    let dir = scratch("sigv4-unsigned");
    let server = verifying(&dir);
    let ran = run(&server, dir.path(), &[], REFUSED_LIMIT);
    assert_ne!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stderr.contains(
            "the target wants a SigV4 signature (MissingAuthenticationTokenException) and the \
             requests went out unsigned"
        ),
        "{ran}"
    );
}

/// libfaketime, which shifts a process's clock: `$JOBCERT_LIBFAKETIME`, else where Debian's
/// `faketime` package puts it. Fails the test when there is none: the test that needs it is
/// `#[ignore]`d, so it runs only when asked for.
fn libfaketime() -> String {
    let candidates = std::env::var("JOBCERT_LIBFAKETIME").into_iter().chain(
        ["x86_64-linux-gnu", "aarch64-linux-gnu"]
            .map(|arch| format!("/usr/lib/{arch}/faketime/libfaketime.so.1")),
    );
    candidates
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("no libfaketime: install it with `apt-get install faketime`")
}

#[test]
#[ignore = "needs libfaketime (apt-get install faketime); run with --include-ignored"]
fn a_clock_more_than_five_minutes_off_is_named_and_one_within_passes() {
    let dir = scratch("sigv4-skew");
    let server = verifying(&dir);
    let lib = libfaketime();
    for (offset, skewed) in [("-10m", true), ("+6m", true), ("+4m", false)] {
        let mut env = signing_with(SECRET).to_vec();
        env.extend([
            ("LD_PRELOAD", Some(lib.as_str())),
            ("FAKETIME", Some(offset)),
        ]);
        let ran = run(&server, dir.path(), &env, LIMIT);
        if skewed {
            assert_eq!(ran.code, Some(2), "{offset}: {ran}");
            assert!(
                ran.stderr.contains(
                    "the target says the request time is off by more than 5 minutes: check \
                     this machine's clock"
                ),
                "{offset}: {ran}"
            );
        } else {
            assert_eq!(ran.code, Some(0), "{offset}: {ran}");
        }
    }
}
