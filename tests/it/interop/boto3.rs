//! Wire compatibility with real AWS clients: runs `tests/interop/boto3_interop.py` (boto3 and the
//! AWS CLI) against the `jobcert serve` binary over `http://`, and over `https://` with the CA
//! of a `jobcert pki` folder and an mTLS data plane; then stops the server with SIGTERM.

use std::process::Command;

use super::{python, run_checks};
use crate::common::pki::Pki;
use crate::common::process::Serve;
use crate::common::root;

/// The script as `python boto3_interop.py DATA_URL CONTROL_URL`.
fn script(data: &str, control: &str) -> Command {
    let mut command = Command::new(python());
    command
        .arg(root().join("tests/interop/boto3_interop.py"))
        .arg(data)
        .arg(control);
    command
}

/// boto3 and the AWS CLI drive every data-plane operation and the control-plane seeding; the
/// server then stops cleanly on SIGTERM.
#[test]
#[ignore = "needs .venv with boto3 and the AWS CLI (see README); run with --include-ignored"]
fn boto3_and_aws_cli_interoperate() {
    let mut server = Serve::with(&[]);
    run_checks(script(&server.data, &server.control), "boto3 interop");
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}

/// The same calls over `https://` (boto3 `verify=ca.pem`, `aws --ca-bundle ca.pem`), then
/// boto3 with botocore's `client_cert` on the mTLS data plane: a usable certificate is served,
/// an expired one is answered CertificateValidationException.
#[test]
#[ignore = "needs .venv with boto3 and the AWS CLI (see README); run with --include-ignored"]
fn boto3_and_aws_cli_interoperate_over_https_and_mtls() {
    let pki = Pki::init();
    pki.issue("interop-device", None);
    pki.issue("interop-expired", Some("--expired"));
    let mut server = pki.serve(true, &[]);
    let mtls = server.mtls.clone().expect("an mtls-data-plane line");
    for url in [&server.data, &server.control, &mtls] {
        assert!(url.starts_with("https://"), "{url}");
    }
    let mut command = script(&server.data, &server.control);
    command.arg("--tls").arg(pki.dir()).arg("--mtls").arg(&mtls);
    let stdout = run_checks(command, "boto3 interop");
    for part in [
        "--ca-bundle",
        "client_cert=interop-device.pem",
        "CertificateValidationException",
    ] {
        assert!(stdout.contains(part), "no {part:?} check ran:\n{stdout}");
    }
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}
