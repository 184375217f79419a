//! Child processes of the tests: the one guard that kills and reaps a child, the `jobcert`
//! binary run to its end under a time limit, and `jobcert serve` with its listener lines.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long `jobcert serve` may take to print its listener lines (attach mode included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `jobcert serve` may take to exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A child process, killed and reaped on drop, so a failing test never leaks it.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Reaped {
    /// Sends `signal` (`-INT`, `-TERM`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let id = self.0.id().to_string();
        let status = Command::new("kill")
            .args([signal, &id])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {id} failed");
    }

    /// Waits at most `limit` for the process to exit on its own; `None` if it is still running.
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("waiting for a child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits at most `limit` for the process to exit; kills and reaps it if it is still running
    /// then (`None`).
    pub fn wait_or_kill(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = self.wait_within(limit);
        if status.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
        status
    }
}

/// A loopback port nothing listens on right now (it was free a moment ago).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Command-line arguments from anything string- or path-like.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    items
        .into_iter()
        .map(|s| s.as_ref().to_os_string())
        .collect()
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

/// A running `jobcert` process (not `serve`: see [`Serve`]), its output going to files so a
/// chatty child never blocks on a full pipe; killed on drop.
pub struct Process {
    child: Reaped,
    command: String,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

impl Process {
    /// Starts `jobcert ARGS` in `scratch`, its output going to files there.
    pub fn spawn(args: &[OsString], scratch: impl AsRef<Path>) -> Self {
        let scratch = scratch.as_ref();
        Self::spawn_in(args, scratch, scratch)
    }

    /// Starts `jobcert ARGS` in `cwd` without AWS credentials (requests are then unsigned:
    /// neither the variables nor a shared credentials file are read) or shard settings from
    /// the environment, its output going to files in `scratch`.
    pub fn spawn_in(args: &[OsString], cwd: &Path, scratch: impl AsRef<Path>) -> Self {
        Self::spawn_env(args, cwd, scratch, &[])
    }

    /// [`Self::spawn_in`], then each `(name, value)` of `env` set (`Some`) or removed (`None`).
    pub fn spawn_env(
        args: &[OsString],
        cwd: &Path,
        scratch: impl AsRef<Path>,
        env: &[(&str, Option<&str>)],
    ) -> Self {
        Self::spawn_after(None, args, cwd, scratch.as_ref(), env)
    }

    /// [`Self::spawn`], by a shell that first runs `setup` (`ulimit -n 256`, say) and then
    /// execs the binary in its place.
    pub fn spawn_in_shell(setup: &str, args: &[OsString], scratch: impl AsRef<Path>) -> Self {
        let scratch = scratch.as_ref();
        Self::spawn_after(Some(setup), args, scratch, scratch, &[])
    }

    fn spawn_after(
        setup: Option<&str>,
        args: &[OsString],
        cwd: &Path,
        scratch: &Path,
        env: &[(&str, Option<&str>)],
    ) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let out = scratch.join(format!("stdout-{n}.txt"));
        let err = scratch.join(format!("stderr-{n}.txt"));
        let command = format!(
            "{}jobcert {}",
            setup.map(|s| format!("{s} && ")).unwrap_or_default(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let jobcert = env!("CARGO_BIN_EXE_jobcert");
        let mut program = match setup {
            None => Command::new(jobcert),
            Some(setup) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("{setup} && exec \"$0\" \"$@\""))
                    .arg(jobcert);
                shell
            }
        };
        program
            .args(args)
            .current_dir(cwd)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("JOBCERT_SHARD")
            .env_remove("JOBCERT_RUN_ID")
            .env("RUST_BACKTRACE", "0");
        for (name, value) in env {
            match value {
                Some(v) => program.env(name, v),
                None => program.env_remove(name),
            };
        }
        let child = program
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"))
            .spawn()
            .expect("the jobcert binary starts");
        Self {
            child: Reaped(child),
            command,
            out,
            err,
            started: Instant::now(),
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        self.child.signal("-INT");
    }

    /// Sends SIGTERM, as `timeout`, CI runners and Kubernetes do.
    pub fn terminate(&self) {
        self.child.signal("-TERM");
    }

    /// Waits for the process to end, at most `limit` after it started (then it is killed and
    /// the test fails); fails the test as well if it panicked.
    pub fn finish(&mut self, limit: Duration) -> Ran {
        let status = self
            .child
            .wait_or_kill(limit.saturating_sub(self.started.elapsed()));
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

/// Runs `jobcert ARGS` in `scratch` to its end, within `limit`, without a panic.
pub fn jobcert(args: &[OsString], scratch: impl AsRef<Path>, limit: Duration) -> Ran {
    Process::spawn(args, scratch).finish(limit)
}

/// A `jobcert serve` child process on free loopback ports, killed on drop.
pub struct Serve {
    child: Reaped,
    /// Data-plane base URL.
    pub data: String,
    /// Control-plane base URL.
    pub control: String,
    /// The broker URL of the `mqtt` or `mqtt-attached` line, when MQTT was asked for.
    pub mqtt: Option<String>,
    /// The mTLS data plane's URL, when `--mtls` was given.
    pub mtls: Option<String>,
    /// The broker's MQTT-over-TLS URL, when `--mqtts` was given.
    pub mqtts: Option<String>,
    /// The broker's MQTT-over-WebSockets URL, when `--mqtt-ws` was given.
    pub mqtt_ws: Option<String>,
}

impl Serve {
    /// `jobcert serve` over HTTP with the given virtual clock speed.
    pub fn start(time_scale: f64) -> Self {
        Self::with(&["--time-scale", &time_scale.to_string()])
    }

    /// `jobcert serve --http 127.0.0.1:0 --control 127.0.0.1:0 EXTRA`; reads the data-plane
    /// and control-plane lines, then the line of each listener EXTRA asks for, within
    /// [`STARTUP_TIMEOUT`].
    pub fn with(extra: &[&str]) -> Self {
        let mut wanted = vec!["data-plane", "control-plane"];
        // In the order `jobcert serve` prints them.
        for (flag, line) in [
            ("--mqtt", "mqtt"),
            ("--mqtts", "mqtts"),
            ("--mqtt-ws", "mqtt-ws"),
            ("--mqtt-broker", "mqtt-attached"),
            ("--mtls", "mtls-data-plane"),
        ] {
            if extra.contains(&flag) {
                wanted.push(line);
            }
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
            .args(["serve", "--http", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("jobcert serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // Owned before the lines are read, so the child is killed if reading them fails.
        let child = Reaped(child);
        let (tx, rx) = mpsc::channel();
        let prefixes = wanted.clone();
        thread::spawn(move || {
            let _ = tx.send(read_listeners(stdout, &prefixes));
        });
        let urls = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .unwrap_or_else(|_| {
                panic!("jobcert serve {extra:?} prints {wanted:?} within {STARTUP_TIMEOUT:?}")
            })
            .unwrap_or_else(|e| panic!("jobcert serve {extra:?}: {e}"));
        let url = |line: &str| {
            wanted
                .iter()
                .position(|w| *w == line)
                .map(|i| urls[i].clone())
        };
        Self {
            child,
            data: url("data-plane").expect("a data-plane URL"),
            control: url("control-plane").expect("a control-plane URL"),
            mqtt: url("mqtt").or_else(|| url("mqtt-attached")),
            mtls: url("mtls-data-plane"),
            mqtts: url("mqtts"),
            mqtt_ws: url("mqtt-ws"),
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends SIGTERM and waits for the process to exit (fails after [`SHUTDOWN_TIMEOUT`]).
    pub fn terminate(&mut self) -> ExitStatus {
        self.terminate_within(SHUTDOWN_TIMEOUT)
    }

    /// Sends SIGTERM and waits for the process to exit (fails after `limit`).
    pub fn terminate_within(&mut self, limit: Duration) -> ExitStatus {
        self.child.signal("-TERM");
        self.child
            .wait_within(limit)
            .unwrap_or_else(|| panic!("jobcert serve still running {limit:?} after SIGTERM"))
    }
}

/// Reads one `PREFIX URL` line per prefix, in order, then keeps draining stdout so the server
/// never writes into a closed pipe.
fn read_listeners(stdout: ChildStdout, wanted: &[&str]) -> Result<Vec<String>, String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = Vec::new();
    for prefix in wanted {
        let line = lines
            .next()
            .ok_or("stdout closed early")?
            .map_err(|e| e.to_string())?;
        let url = line
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("expected `{prefix} URL`, got {line:?}"))?;
        urls.push(url.to_string());
    }
    thread::spawn(move || lines.for_each(drop));
    Ok(urls)
}
