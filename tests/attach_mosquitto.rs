//! The whole conformance suite over MQTT against the reference served through mosquitto
//! (`jobcert serve --mqtt-broker`), the way users test behind their production broker.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_suite_passes_over_mqtt_through_mosquitto() {
    let Some(broker) = mosquitto() else {
        assert!(
            std::env::var_os("JOBCERT_REQUIRE_INTEROP").is_none(),
            "mosquitto is required (see .ci/run)"
        );
        eprintln!("skipped: mosquitto is not installed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("jobcert-attach-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n")).unwrap();
    let _broker = Guard(
        Command::new(broker)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mosquitto did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let url = format!("mqtt://127.0.0.1:{port}");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--time-scale",
            "600",
            "--mqtt-broker",
            &url,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let _serve = Guard(serve);
    let mut control = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(c) = line.strip_prefix("control-plane ") {
            control = Some(c.to_string());
        }
        if line.starts_with("mqtt-attached ") {
            break;
        }
    }
    let control = control.expect("the control-plane line");

    let reports = dir.join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--target",
            &url,
            "--control",
            &control,
            "--target-time-scale",
            "600",
            "--report-dir",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    assert!(stdout.contains("0 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
