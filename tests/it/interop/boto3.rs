//! Wire compatibility with real AWS clients: runs `tests/interop/boto3_interop.py` (boto3 and the
//! AWS CLI) against the `jobcert serve` binary, then stops the server with SIGTERM.

use std::process::Command;

use super::python;
use crate::common::process::Serve;
use crate::common::root;

/// boto3 and the AWS CLI drive every data-plane operation and the control-plane seeding; the
/// server then stops cleanly on SIGTERM.
#[test]
#[ignore = "needs .venv with boto3 and the AWS CLI (see README); run with --include-ignored"]
fn boto3_and_aws_cli_interoperate() {
    let python = python();
    let mut server = Serve::with(&[]);
    let script = root().join("tests/interop/boto3_interop.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&server.data)
        .arg(&server.control)
        .output()
        .expect("the interop script runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "{} exited with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        script.display(),
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let status = server.terminate();
    assert!(
        status.success(),
        "jobcert serve exited with {status} after SIGTERM"
    );
}
