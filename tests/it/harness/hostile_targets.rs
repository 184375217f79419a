//! Targets that answer garbage, huge bodies, resets or nothing at all: each becomes a
//! classified failure in a valid report, never a panic or a hang.

use std::time::Duration;

use rstest::rstest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::process::{Process, args};
use crate::common::report::run_summary;
use crate::common::{self, root, scratch};

/// Longest the run against a hostile target may take: it must not hang.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// How the data plane misbehaves.
#[derive(Debug, Clone, Copy)]
enum Hostile {
    /// Bytes that are not HTTP, then close.
    Garbage,
    /// A 200 that claims a JSON body far larger than the harness keeps (16 MiB sent).
    Huge,
    /// Accept, then reset the connection.
    Reset,
    /// Accept and never answer.
    Silent,
}

/// Serves `hostile` on a free loopback port until the test ends.
async fn serve(hostile: Hostile) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                match hostile {
                    Hostile::Garbage => {
                        let _ = stream
                            .write_all(b"\x00\x01NOT HTTP AT ALL\r\n\r\n\xff\xfe")
                            .await;
                    }
                    Hostile::Huge => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16777216\r\n\r\n";
                        let _ = stream.write_all(head.as_bytes()).await;
                        let chunk = vec![b'['; 64 * 1024];
                        for _ in 0..256 {
                            if stream.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                    }
                    Hostile::Reset => {
                        let _ = stream.set_zero_linger();
                    }
                    Hostile::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    port
}

#[rstest]
#[case::garbage(Hostile::Garbage, "transport failure")]
#[case::huge(Hostile::Huge, "JSON")]
#[case::reset(Hostile::Reset, "transport failure")]
#[case::silent(Hostile::Silent, "timeout")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_data_plane_is_a_classified_failure(
    #[case] hostile: Hostile,
    #[case] said: &str,
) {
    let server = common::server(600.0).await;
    let port = serve(hostile).await;
    let dir = scratch("hostile");
    let reports = dir.path().join("reports");
    let control = common::control_url(&server);
    let target = format!("http://127.0.0.1:{port}");
    let run = args([
        "run".as_ref(),
        "scenarios/conformance/start-next.yaml".as_ref(),
        "--no-generated".as_ref(),
        "--only".as_ref(),
        "SN-EMPTY".as_ref(),
        "--target".as_ref(),
        target.as_ref(),
        "--control".as_ref(),
        control.as_ref(),
        "--target-time-scale".as_ref(),
        "600".as_ref(),
        "--deadline-ms".as_ref(),
        "1000".as_ref(),
        "--report-dir".as_ref(),
        reports.as_os_str(),
    ]);
    // Within the limit, without a panic; the server above keeps running on this runtime.
    let outputs = dir.path().to_path_buf();
    let ran = tokio::task::spawn_blocking(move || {
        Process::spawn_in(&run, &root(), outputs).finish(RUN_LIMIT)
    })
    .await
    .expect("the run's thread");
    assert_eq!(ran.code, Some(1), "{hostile:?}: {ran}");
    let summary = run_summary(&reports);
    let problems: Vec<String> = summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["problems"].as_array().cloned().unwrap_or_default())
        .map(|p| format!("{}: {}", p["requirement"], p["message"]))
        .collect();
    assert!(
        problems.iter().any(|p| p.contains(said)),
        "{hostile:?} should be reported as {said}: {problems:#?}"
    );
}
