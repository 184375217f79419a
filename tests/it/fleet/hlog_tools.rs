//! The interval log of a fleet run (`latency.hlog`) is read by HdrHistogram's own tool,
//! `HistogramLogProcessor` (Java, Debian's libhdrhistogram-java), and what it sums from the log
//! agrees with the run's `summary.json`: the same count and the same maximum per operation.
//! Needs Java and the jar, so it is `#[ignore]`d and fails when run without them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::process::{args, jobcert};
use crate::common::report::summary;
use crate::common::{ScratchExt, scratch};

/// Where Debian installs HdrHistogram's jar.
const JAR: &str = "/usr/share/java/hdrhistogram.jar";

const SCENARIO: &str = "\
fleet:
  name: hlog-tools
  seed: 3
  things: { count: 40, per-job: 20 }
  transport: http
  rollout: { jobs-per-thing: 2, rate: 200 }
  behaviour: { work: { uniform: { min: 1, max: 5 } }, step-timeout-minutes: 60 }
  load: { model: closed }
  run: { max-duration-s: 60 }
";

/// Fails the test unless Java and HdrHistogram's jar are installed.
fn require_java_tools() {
    let present = Path::new(JAR).is_file()
        && Command::new("java")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "java and {JAR} are required (apt-get install default-jre-headless libhdrhistogram-java)"
    );
}

/// `#[Max = …, Total count = …]` of an `.hgrm` file.
fn footer(hgrm: &str) -> (f64, u64) {
    let line = hgrm
        .lines()
        .find(|l| l.starts_with("#[Max"))
        .unwrap_or_else(|| panic!("no #[Max line in\n{hgrm}"));
    let numbers: Vec<&str> = line
        .split(['=', ',', ']'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (
        numbers[1].parse().expect("a maximum"),
        numbers[3].parse().expect("a count"),
    )
}

#[test]
#[ignore = "needs java and /usr/share/java/hdrhistogram.jar (libhdrhistogram-java); run with --include-ignored"]
fn histogram_log_processor_reads_the_interval_log() {
    require_java_tools();
    let scratch = scratch("hlog-tools");
    let scenario = scratch.write("hlog.yaml", SCENARIO);
    let reports = scratch.path().join("reports");
    let ran = jobcert(
        &args([
            "fleet".as_ref(),
            scenario.as_os_str(),
            "--report-dir".as_ref(),
            reports.as_os_str(),
            "--run-id".as_ref(),
            "hlog".as_ref(),
            "--quiet".as_ref(),
        ]),
        &scratch,
        Duration::from_secs(90),
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    let dir = reports.join("hlog");
    let summary = summary(&dir);
    let mut checked = 0;
    for row in summary["stats"].as_array().expect("stats rows") {
        let tag = format!(
            "{}.{}",
            row["operation"].as_str().expect("an operation"),
            row["outcome"].as_str().expect("an outcome")
        );
        let out = scratch.path().join(&tag);
        let status = Command::new("java")
            .args(["-cp", JAR, "org.HdrHistogram.HistogramLogProcessor", "-i"])
            .arg(dir.join("latency.hlog"))
            .arg("-o")
            .arg(&out)
            .args(["-tag", &tag, "-outputValueUnitRatio", "1000"])
            .output()
            .expect("java runs");
        assert!(status.status.success(), "{status:?}");
        // The tool writes its percentile table beside the output file, as `<output>.hgrm`.
        let hgrm = std::fs::read_to_string(format!("{}.hgrm", out.display()))
            .expect("the tool wrote an .hgrm file");
        let (max_ms, count) = footer(&hgrm);
        assert_eq!(count, row["count"].as_u64().expect("a count"), "{tag}");
        let expected = row["max_ms"].as_f64().expect("a maximum");
        assert!(
            (max_ms - expected).abs() < 0.01,
            "{tag}: the tool says max {max_ms} ms, summary.json {expected} ms"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} histograms checked");
}
