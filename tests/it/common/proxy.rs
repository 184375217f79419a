//! `jobcert capture proxy` in front of a `jobcert serve` child: started on free loopback ports,
//! stopped with SIGINT (as Ctrl-C), after which it has written its capture; and what the
//! tests of captures ask of one (its text, its lines, an exact replay).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::process::{Process, Ran, Serve, args, free_port, jobcert};

/// Longest the proxy may take to listen.
const LIMIT: Duration = Duration::from_secs(60);

/// Longest a replay may take.
const REPLAY_LIMIT: Duration = Duration::from_secs(120);

/// Longest a proxy may live, from its start to its capture written.
const LIFETIME: Duration = Duration::from_secs(600);

/// A running recording proxy.
pub struct Proxy {
    process: Process,
    /// Data-plane URL through the proxy.
    pub data: String,
    /// Control-plane URL through the proxy.
    pub control: String,
    /// Broker URL through the proxy (when the server has MQTT).
    pub mqtt: Option<String>,
    /// Where the capture is written.
    pub capture: PathBuf,
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
fn wait_listening(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < LIMIT,
            "the proxy does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Proxy {
    /// A proxy in front of every plane `serve` has, writing `capture` (in `scratch`), with the
    /// server's clock speed `time_scale`.
    pub fn start(serve: &Serve, time_scale: f64, capture: &Path, scratch: &Path) -> Self {
        Self::start_with(serve, time_scale, capture, scratch, &[])
    }

    /// [`Self::start`] with `extra` options.
    pub fn start_with(
        serve: &Serve,
        time_scale: f64,
        capture: &Path,
        scratch: &Path,
        extra: &[&str],
    ) -> Self {
        let (data, control, mqtt) = (free_port(), free_port(), free_port());
        let mut words = vec![
            "capture".to_string(),
            "proxy".into(),
            "--http-listen".into(),
            format!("127.0.0.1:{data}"),
            "--http-upstream".into(),
            serve.data.clone(),
            "--control-listen".into(),
            format!("127.0.0.1:{control}"),
            "--control-upstream".into(),
            serve.control.clone(),
            "--target-time-scale".into(),
            time_scale.to_string(),
            "--out".into(),
            capture.display().to_string(),
        ];
        words.extend(extra.iter().map(|w| w.to_string()));
        if let Some(broker) = &serve.mqtt {
            words.extend([
                "--mqtt-listen".into(),
                format!("127.0.0.1:{mqtt}"),
                "--mqtt-upstream".into(),
                broker.clone(),
            ]);
        }
        let process = Process::spawn(&args(words), scratch);
        for port in [data, control] {
            wait_listening(port);
        }
        if serve.mqtt.is_some() {
            wait_listening(mqtt);
        }
        Self {
            process,
            data: format!("http://127.0.0.1:{data}"),
            control: format!("http://127.0.0.1:{control}"),
            mqtt: serve
                .mqtt
                .as_ref()
                .map(|_| format!("mqtt://127.0.0.1:{mqtt}")),
            capture: capture.to_path_buf(),
        }
    }

    /// Stops it as Ctrl-C does; it exits 0 having written the capture.
    pub fn stop(mut self) -> Ran {
        self.process.interrupt();
        let ran = self.process.finish(LIFETIME);
        assert_eq!(ran.code, Some(0), "{ran}");
        assert!(self.capture.exists(), "no capture written: {ran}");
        ran
    }
}

/// The text of a capture, gzip-compressed or not.
pub fn capture_text(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("the capture");
    let mut text = String::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .expect("gzip");
    } else {
        text = String::from_utf8(bytes).expect("UTF-8");
    }
    text
}

/// Lines of `kind` (`exchange`, `event`) in a capture's text.
pub fn count(text: &str, kind: &str) -> usize {
    text.matches(&format!("{{\"type\":\"{kind}\"")).count()
}

/// Replays `capture` against a fresh reference with `--strict`: every one of `exchanges`
/// replayed, no divergence.
pub fn replays_exactly(capture: &Path, exchanges: usize, dir: &Path) {
    let ran = jobcert(
        &args([
            "replay".as_ref(),
            capture.as_os_str(),
            "--strict".as_ref(),
            "--report-dir".as_ref(),
            dir.join("replayed").as_os_str(),
        ]),
        dir,
        REPLAY_LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout.contains("divergences from the recording: none"),
        "{ran}"
    );
    assert!(
        ran.stdout
            .contains(&format!("replay: {exchanges} of {exchanges} exchanges")),
        "{ran}"
    );
}
