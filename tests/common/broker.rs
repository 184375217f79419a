//! A mosquitto broker for tests, started on a free loopback port and killed on drop, and the
//! small process helpers around it.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long mosquitto may take to accept connections.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// A child process, killed and reaped on drop, so a failing test never leaks it.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new, empty directory under the system temp folder.
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "jobcert-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).expect("create a scratch directory");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Whether a missing tool must fail the test rather than skip it (CI sets it).
pub fn interop_required() -> bool {
    std::env::var_os("JOBCERT_REQUIRE_INTEROP").is_some()
}

/// The mosquitto binary: `$JOBCERT_MOSQUITTO`, else `mosquitto` on `PATH`, else the apt
/// locations (`/usr/sbin`, not on every `PATH`). `None`, after saying why, when the test should
/// be skipped; a panic when `JOBCERT_REQUIRE_INTEROP` is set.
pub fn mosquitto() -> Option<PathBuf> {
    let found = match std::env::var_os("JOBCERT_MOSQUITTO") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
            .map(|dir: PathBuf| dir.join("mosquitto"))
            .find(|p: &PathBuf| p.is_file()),
    };
    if found.is_some() {
        return found;
    }
    assert!(
        !interop_required(),
        "JOBCERT_REQUIRE_INTEROP is set but there is no mosquitto (on PATH, in /usr/sbin or $JOBCERT_MOSQUITTO)"
    );
    eprintln!(
        "skipped: no mosquitto on PATH or in /usr/sbin (or set JOBCERT_MOSQUITTO); install it with `apt-get install mosquitto`"
    );
    None
}

/// A mosquitto broker on a free loopback port; killed on drop (before its scratch directory is
/// removed: fields drop in order).
pub struct Mosquitto {
    _child: Reaped,
    port: u16,
    _dir: Scratch,
}

impl Mosquitto {
    /// Starts mosquitto (with TCP_NODELAY, so no reply waits on Nagle's algorithm) and waits
    /// until its port accepts TCP; `None` when mosquitto is not installed and not required.
    /// The free port is found by binding port 0 and releasing it; if another process takes it
    /// first, the broker exits and the next attempt picks another port.
    pub fn start() -> Option<Self> {
        let binary = mosquitto()?;
        let dir = Scratch::new("mosquitto");
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let port = free_port();
            let conf = dir.0.join(format!("mosquitto-{attempt}.conf"));
            let log = dir.0.join(format!("mosquitto-{attempt}.log"));
            fs::write(
                &conf,
                format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_queued_messages 10000\n"),
            )
            .expect("write the mosquitto config");
            let out = File::create(&log).expect("create the mosquitto log");
            let err = out.try_clone().expect("clone the mosquitto log handle");
            let mut child = Reaped(
                Command::new(&binary)
                    .arg("-c")
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display())),
            );
            match wait_until_listening(&mut child.0, port) {
                Ok(()) => {
                    return Some(Self {
                        _child: child,
                        port,
                        _dir: dir,
                    });
                }
                Err(why) => {
                    drop(child);
                    let text = fs::read_to_string(&log).unwrap_or_default();
                    failures.push(format!("port {port}: {why}\n{text}"));
                }
            }
        }
        panic!("mosquitto did not start:\n{}", failures.join("\n"));
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// Waits until `port` on loopback accepts TCP, while `child` (the broker) keeps running.
fn wait_until_listening(child: &mut Child, port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + BROKER_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited with {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("not accepting TCP after {BROKER_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
