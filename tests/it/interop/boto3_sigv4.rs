//! SigV4 as boto3 meets it: runs `tests/interop/boto3_sigv4.py` against `jobcert serve
//! --verify-sigv4` (right credentials on both planes; a wrong secret, an unknown key, no
//! signature, a clock 10 minutes off either way and another region answered as AWS answers
//! them), and shows the script fails against a server that checks no signature.

use std::process::{Command, Output};

use super::python;
use crate::common::process::Serve;
use crate::common::{ScratchExt, root, scratch};

const KEY: &str = "AKIDBOTO3SIGV4";
const SECRET: &str = "boto3-sigv4-secret";

/// Runs the script against `server`, signing with `KEY`/`SECRET`.
fn script(server: &Serve) -> Output {
    Command::new(python())
        .arg(root().join("tests/interop/boto3_sigv4.py"))
        .args([&server.data, &server.control, KEY, SECRET])
        .output()
        .expect("the interop script runs")
}

fn shown(run: &Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    )
}

#[test]
#[ignore = "needs .venv with boto3 (see README); run with --include-ignored"]
fn boto3_meets_the_errors_aws_answers_a_bad_signature() {
    let dir = scratch("boto3-sigv4");
    let file = dir.write(
        "credentials",
        format!("[ci]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
    );
    let server = Serve::with(&[
        "--verify-sigv4",
        "--sigv4-credentials",
        &file.display().to_string(),
        "--sigv4-profile",
        "ci",
    ]);
    let run = script(&server);
    println!("{}", String::from_utf8_lossy(&run.stdout));
    assert!(run.status.success(), "{}", shown(&run));
}

#[test]
#[ignore = "needs .venv with boto3 (see README); run with --include-ignored"]
fn the_boto3_checks_fail_against_a_server_that_checks_no_signature() {
    let server = Serve::with(&[]);
    let run = script(&server);
    let out = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{}", shown(&run));
    assert!(
        out.contains(
            "wrong secret on the data plane: the call succeeded, want InvalidSignatureException"
        ),
        "{}",
        shown(&run)
    );
}
