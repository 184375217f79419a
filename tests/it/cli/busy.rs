//! `jobcert run --transport mqtt` on a busy machine: with every core kept busy by a burner
//! (bounded in time), several runs in a row must each pass with no failure, since a verdict
//! may not depend on how the harness was scheduled (a late notification of an earlier state,
//! say).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::process::{Process, args};
use crate::common::report::run_summary;
use crate::common::{root, scratch};

/// Runs in a row.
const RUNS: usize = 5;
/// Longest one run may take under load (idle, it takes a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// The burner stops by itself after this long, whatever the test does.
const BURN_LIMIT: Duration = Duration::from_secs(300);

/// One spinning thread per core until dropped or [`BURN_LIMIT`] has passed.
struct Burner {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Burner {
    fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let until = Instant::now() + BURN_LIMIT;
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        for i in 0..100_000u64 {
                            x = black_box(x.wrapping_mul(31).wrapping_add(i));
                        }
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
#[ignore = "keeps every core busy for about a minute; CI runs it with --include-ignored"]
fn the_mqtt_suite_passes_every_time_on_a_busy_machine() {
    let dir = scratch("busy");
    let _burner = Burner::start();
    for n in 0..RUNS {
        let reports = dir.path().join(format!("reports-{n}"));
        let ran = Process::spawn_in(
            &args([
                "run".as_ref(),
                "--transport".as_ref(),
                "mqtt".as_ref(),
                "--report-dir".as_ref(),
                reports.as_os_str(),
            ]),
            &root(),
            &dir,
        )
        .finish(RUN_LIMIT);
        assert_eq!(ran.code, Some(0), "run {} of {RUNS}: {ran}", n + 1);
        assert!(ran.stdout.contains("verdict: PASS"), "{ran}");
        let summary = run_summary(&reports);
        assert_eq!(
            summary["totals"]["failed"],
            0,
            "run {} of {RUNS}: {ran}",
            n + 1
        );
    }
}
