//! Wire compatibility with real AWS clients: runs `tests/interop/boto3_interop.py` (boto3 and the
//! AWS CLI) against the `jobcert serve` binary, then stops the server with SIGTERM.
//!
//! The Python interpreter is `$JOBCERT_PYTHON`, else `.venv/bin/python` in the crate root. Without
//! it the test is skipped, unless `JOBCERT_REQUIRE_INTEROP` is set (as in CI).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to print its listener lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `jobcert serve`; killed on drop, so a failing test never leaks it.
struct Server {
    child: Child,
    data_url: String,
    control_url: String,
}

impl Server {
    /// Starts the binary on free loopback ports and reads the URLs it prints.
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
            .args(["serve", "--http", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("jobcert serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // Owned before the URLs are read, so the child is killed if reading them fails.
        let mut server = Self {
            child,
            data_url: String::new(),
            control_url: String::new(),
        };
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(read_urls(stdout));
        });
        let (data_url, control_url) = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .expect("jobcert serve prints its listeners in time")
            .expect("jobcert serve prints `data-plane URL` then `control-plane URL`");
        server.data_url = data_url;
        server.control_url = control_url;
        server
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(&mut self) -> ExitStatus {
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(kill.success(), "kill -TERM failed: {kill}");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on jobcert serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "jobcert serve still running {SHUTDOWN_TIMEOUT:?} after SIGTERM"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the two listener lines, then keeps draining stdout so the server never writes into a
/// closed pipe.
fn read_urls(stdout: ChildStdout) -> Result<(String, String), String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut url = |prefix: &str| -> Result<String, String> {
        let line = lines
            .next()
            .ok_or("stdout closed early")?
            .map_err(|e| e.to_string())?;
        line.strip_prefix(prefix)
            .map(str::to_string)
            .ok_or_else(|| format!("expected `{prefix}URL`, got {line:?}"))
    };
    let urls = (url("data-plane ")?, url("control-plane ")?);
    thread::spawn(move || lines.for_each(drop));
    Ok(urls)
}

/// The interpreter that runs the script: `$JOBCERT_PYTHON`, else the crate's `.venv`.
fn python() -> PathBuf {
    std::env::var_os("JOBCERT_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
        PathBuf::from,
    )
}

/// boto3 and the AWS CLI drive every data-plane operation and the control-plane seeding; the
/// server then stops cleanly on SIGTERM.
#[test]
fn boto3_and_aws_cli_interoperate() {
    let python = python();
    if !python.exists() {
        assert!(
            std::env::var_os("JOBCERT_REQUIRE_INTEROP").is_none(),
            "JOBCERT_REQUIRE_INTEROP is set but there is no Python at {}",
            python.display()
        );
        eprintln!(
            "skipped: no venv at {} (or set JOBCERT_PYTHON), see README set-up: \
             python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt",
            python.display()
        );
        return;
    }
    let mut server = Server::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/boto3_interop.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&server.data_url)
        .arg(&server.control_url)
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
