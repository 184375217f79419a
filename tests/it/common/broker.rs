//! A mosquitto broker for tests, started on a free loopback port and killed on drop.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{Reaped, free_port};
use super::scratch;

/// How long mosquitto may take to accept connections.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// The mosquitto binary: `$JOBCERT_MOSQUITTO`, else `mosquitto` on `PATH`, else the apt
/// locations (`/usr/sbin`, not on every `PATH`). Fails the test when there is none: the tests
/// that need it are `#[ignore]`d, so they run only when asked for.
pub fn mosquitto() -> PathBuf {
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
    found.expect(
        "no mosquitto on PATH, in /usr/sbin or at $JOBCERT_MOSQUITTO: install it with `apt-get install mosquitto`",
    )
}

/// A mosquitto broker on a free loopback port (and, when asked, MQTT over TLS and over secure
/// WebSockets on two more); killed on drop (before its scratch directory is removed: fields
/// drop in order).
pub struct Mosquitto {
    _child: Reaped,
    port: u16,
    /// The ports of MQTT over TLS and of MQTT over secure WebSockets.
    tls_ports: Option<(u16, u16)>,
    _dir: TempDir,
}

impl Mosquitto {
    /// Starts mosquitto (with TCP_NODELAY, so no reply waits on Nagle's algorithm) and waits
    /// until its port accepts TCP; fails the test when mosquitto is not installed.
    /// The free port is found by binding port 0 and releasing it; if another process takes it
    /// first, the broker exits and the next attempt picks another port.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// [`Self::start`], with two more listeners speaking MQTT over TLS and over secure
    /// WebSockets with the server certificate of the `jobcert pki` folder `pki`, each requiring
    /// a client certificate issued by its CA.
    pub fn start_with_tls(pki: &Path) -> Self {
        Self::launch(Some(pki))
    }

    fn launch(pki: Option<&Path>) -> Self {
        let binary = mosquitto();
        let dir = scratch("mosquitto");
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let port = free_port();
            let tls_ports = pki.map(|_| (free_port(), free_port()));
            let conf = dir.path().join(format!("mosquitto-{attempt}.conf"));
            let log = dir.path().join(format!("mosquitto-{attempt}.log"));
            let mut text = format!(
                "per_listener_settings false\nallow_anonymous true\npersistence false\n\
                 set_tcp_nodelay true\nmax_queued_messages 10000\nlistener {port} 127.0.0.1\n"
            );
            if let (Some(pki), Some((mqtts, wss))) = (pki, tls_ports) {
                let at = |name: &str| pki.join(name).display().to_string();
                // Started as root, mosquitto would drop to its own user, who cannot read the
                // scratch folder's key; as anyone else, this line does nothing.
                text.push_str("user root\n");
                let files = format!(
                    "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
                    at("ca.pem"),
                    at("server.pem"),
                    at("server.key")
                );
                text.push_str(&format!("listener {mqtts} 127.0.0.1\n{files}"));
                text.push_str(&format!(
                    "listener {wss} 127.0.0.1\nprotocol websockets\n{files}"
                ));
            }
            fs::write(&conf, text).expect("write the mosquitto config");
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
            let listening = std::iter::once(port)
                .chain(tls_ports.into_iter().flat_map(|(a, b)| [a, b]))
                .try_for_each(|p| wait_until_listening(&mut child.0, p));
            match listening {
                Ok(()) => {
                    return Self {
                        _child: child,
                        port,
                        tls_ports,
                        _dir: dir,
                    };
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

    /// `mqtts://127.0.0.1:PORT` of the TLS listener.
    pub fn tls_url(&self) -> String {
        let (port, _) = self.tls_ports.expect("started with TLS listeners");
        format!("mqtts://127.0.0.1:{port}")
    }

    /// `wss://127.0.0.1:PORT/mqtt` of the secure WebSocket listener.
    pub fn wss_url(&self) -> String {
        let (_, port) = self.tls_ports.expect("started with TLS listeners");
        format!("wss://127.0.0.1:{port}/mqtt")
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
