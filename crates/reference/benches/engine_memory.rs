//! Memory of the reference engine at one million job executions.
//!
//! `cargo bench --bench engine_memory` creates 100,000 things with 10 jobs each, starts one
//! execution per thing with a step timer armed, and prints the resident memory per execution.

use std::time::Instant;

use jobcert_reference::engine::{Engine, JobSpec, VirtualClock, requests};

const THINGS: usize = 100_000;
const JOBS: usize = 10;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let engine = Engine::new(VirtualClock::new(1.0), "us-east-1", "123456789012");
    let names: Vec<String> = (0..THINGS).map(|i| format!("bench-thing-{i:06}")).collect();
    let before = rss_bytes();
    let started = Instant::now();
    for name in &names {
        engine.create_thing(name);
    }
    for j in 0..JOBS {
        engine
            .create_job(JobSpec {
                id: format!("bench-job-{j}"),
                things: names.clone(),
                groups: Vec::new(),
                targets: Vec::new(),
                document: r#"{"operation":"update","version":"1.2.3"}"#.to_string(),
                description: None,
                target_selection: "SNAPSHOT".to_string(),
                in_progress_timeout_minutes: Some(60),
                retry: Vec::new(),
                rollout: None,
                abort: Vec::new(),
                scheduling: None,
            })
            .expect("create job");
    }
    for name in &names {
        engine
            .start_next(&requests::StartNext {
                thing_name: name.clone(),
                status_details: None,
                step_timeout_in_minutes: Some(10),
            })
            .expect("start next");
    }
    let elapsed = started.elapsed();
    let after = rss_bytes();
    let executions = THINGS * JOBS;
    println!(
        "executions: {executions} on {THINGS} things, {} timers armed",
        engine.timers().len()
    );
    println!("seeded in {:.2} s", elapsed.as_secs_f64());
    println!(
        "rss: {:.1} MiB -> {:.1} MiB; {:.0} bytes per execution",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after - before) as f64 / executions as f64
    );
}
