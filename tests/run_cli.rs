//! `jobcert run` end to end: the shipped suite against the embedded reference server passes
//! with full coverage of StartNextPendingJobExecution, and an interrupted run still leaves a
//! valid report marked partial.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobcert-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The one run folder under `reports`.
fn summary(reports: &Path) -> Value {
    let run = std::fs::read_dir(reports)
        .expect("report dir")
        .next()
        .expect("one run folder")
        .expect("entry")
        .path();
    for file in ["junit.xml", "report.html"] {
        assert!(run.join(file).is_file(), "{file} written");
    }
    let text = std::fs::read_to_string(run.join("summary.json")).expect("summary.json");
    let summary: Value = serde_json::from_str(&text).expect("summary is JSON");
    let schema = jobcert_contract::schemas()
        .get("report/summary.schema.json")
        .expect("schema");
    assert_eq!(
        schema.violations(&summary),
        vec![],
        "summary.json follows its schema"
    );
    summary
}

#[test]
fn the_suite_passes_against_the_reference_with_full_start_next_coverage() {
    let reports = scratch("suite");
    let out = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--report-dir"])
        .arg(&reports)
        .output()
        .expect("jobcert runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    let summary = summary(&reports);
    assert_eq!(summary["passed"], true);
    assert_eq!(summary["totals"]["failed"], 0);
    assert!(summary["totals"]["checks"].as_u64().unwrap() > 1000);
    for row in summary["coverage"].as_array().unwrap() {
        let untested = row["verdict"] == "untested";
        if row["operation"] == "StartNextPendingJobExecution" {
            assert!(
                !untested || row["untestable"].is_string(),
                "{} is neither exercised nor listed as untestable",
                row["id"]
            );
        }
        assert!(row["verdict"] != "fail", "{row}");
    }
    let _ = std::fs::remove_dir_all(&reports);
}

#[test]
fn an_interrupted_run_leaves_a_partial_report() {
    let dir = scratch("interrupt");
    let scenario = dir.join("long.yaml");
    std::fs::write(
        &scenario,
        "cases:\n  - name: waits\n    requirements: [SN-EMPTY]\n    things: [dev]\n    steps:\n      - start-next: { thing: dev }\n      - wait: { minutes: 6000 }\n      - start-next: { thing: dev }\n",
    )
    .unwrap();
    let reports = dir.join("reports");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .args(["run", "--no-generated", "--report-dir"])
        .arg(&reports)
        .arg(&scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jobcert runs");
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the run did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code.code(), Some(1), "an interrupted run is not a pass");
    let summary = summary(&reports);
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["cases"][0]["verdict"], "aborted");
    let _ = std::fs::remove_dir_all(&dir);
}
