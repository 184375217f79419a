//! Helpers of the fleet tests: scratch folders, the `jobcert` binary run under a time limit
//! (output in files, so a chatty child never blocks on a full pipe), a `jobcert serve` child
//! process, and fleet reports read back and checked against their schema.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobcert_contract::schemas;
use serde_json::Value;

/// The schema of a fleet run's `summary.json`, relative to `schemas/`.
pub const FLEET_SUMMARY_SCHEMA: &str = "report/fleet-summary.schema.json";

/// The crate root, where `scenarios/` and `schemas/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Command-line arguments from anything string- or path-like.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    items
        .into_iter()
        .map(|s| s.as_ref().to_os_string())
        .collect()
}

/// A fresh folder under the system temp dir, removed (with its content) on drop.
pub struct Scratch {
    /// The folder.
    pub dir: PathBuf,
}

impl Scratch {
    /// A new empty folder whose name contains `label`.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jobcert-tests-{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Self { dir }
    }

    /// A path inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `content` to `name` inside the folder.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one run of the binary did.
pub struct Ran {
    /// The command line, for messages.
    pub command: String,
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// How long it took.
    pub elapsed: Duration,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A running `jobcert` process, killed on drop unless it was waited for.
pub struct Process {
    child: Child,
    command: String,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
    done: bool,
}

impl Process {
    /// Starts `jobcert ARGS` in `scratch`'s folder, without AWS credentials (requests are
    /// then unsigned), its output going to files in `scratch`.
    pub fn spawn(args: &[OsString], scratch: &Scratch) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let out = scratch.path(&format!("stdout-{n}.txt"));
        let err = scratch.path(&format!("stderr-{n}.txt"));
        let command = format!(
            "jobcert {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
            .args(args)
            .current_dir(&scratch.dir)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("JOBCERT_SHARD")
            .env_remove("JOBCERT_RUN_ID")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"))
            .spawn()
            .expect("the jobcert binary starts");
        Self {
            child,
            command,
            out,
            err,
            started: Instant::now(),
            done: false,
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT {} failed", self.child.id());
    }

    /// Waits for the process to end, at most `limit` after it started (then it is killed and
    /// the test fails); fails the test as well if it panicked.
    pub fn finish(&mut self, limit: Duration) -> Ran {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for jobcert") {
                break Some(status);
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.done = true;
        let ran = Ran {
            command: self.command.clone(),
            code: status.and_then(|s| s.code()),
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
            elapsed: self.started.elapsed(),
        };
        assert!(
            status.is_some(),
            "did not finish within {limit:?} and was killed: {ran}"
        );
        assert!(!ran.stderr.contains("panicked"), "panicked: {ran}");
        ran
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `jobcert ARGS` in `scratch`'s folder to its end, within `limit`, without a panic.
pub fn jobcert(args: &[OsString], scratch: &Scratch, limit: Duration) -> Ran {
    Process::spawn(args, scratch).finish(limit)
}

/// A `jobcert serve` child process on free loopback ports, killed on drop.
pub struct Serve {
    child: Child,
    /// Data-plane base URL.
    pub data: String,
    /// Control-plane base URL.
    pub control: String,
}

impl Serve {
    /// Starts `jobcert serve` with the given virtual clock speed and reads its listener lines.
    pub fn start(time_scale: f64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
            .args(["serve", "--http", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .args(["--time-scale", &time_scale.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("jobcert serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut url = |prefix: &str| {
            let line = lines
                .next()
                .expect("a listener line")
                .expect("a UTF-8 line");
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{line:?} starts with {prefix:?}"))
                .to_string()
        };
        let data = url("data-plane ");
        let control = url("control-plane ");
        Self {
            child,
            data,
            control,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port where nothing listens (it was free a moment ago).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The `summary.json` of the fleet report in `dir`, checked against its schema; the other
/// report files must be there too.
pub fn summary(dir: &Path) -> Value {
    for file in ["junit.xml", "report.html", "latency.hlog"] {
        assert!(dir.join(file).is_file(), "{} has no {file}", dir.display());
    }
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let summary: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let violations = schemas()
        .get(FLEET_SUMMARY_SCHEMA)
        .expect("the fleet summary schema compiles")
        .violations(&summary);
    assert!(
        violations.is_empty(),
        "{} breaks its schema: {violations:#?}",
        path.display()
    );
    assert_eq!(summary["kind"], "fleet");
    summary
}

/// Requests of `operation` that ended in `outcome`, from a summary's record.
pub fn count(summary: &Value, operation: &str, outcome: &str) -> u64 {
    summary["record"]["requests"][operation][outcome]
        .as_u64()
        .unwrap_or(0)
}

/// The sum of a summary's final statuses.
pub fn statuses_total(summary: &Value) -> u64 {
    summary["record"]["statuses"]
        .as_object()
        .expect("record.statuses is an object")
        .values()
        .map(|v| v.as_u64().expect("a count"))
        .sum()
}
