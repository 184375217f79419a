//! The Kubernetes example in `deploy/kubernetes/` runs as written, without Kubernetes: the
//! shard Job's container arguments, with `$(JOB_COMPLETION_INDEX)` expanded for every index
//! of `completions`, start the shards (the image's `/scenarios` mapped to this checkout, the
//! example's target URLs to a local reference server, the fleet made small), and the merge
//! Job's arguments then merge them. The verdicts themselves depend on how busy the machine is
//! (the scenario's latency thresholds are for a release build); the exit codes must agree with
//! them, and nothing may be refused as bad input.

use std::ffi::OsString;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::common::process::{Process, Serve};
use crate::common::report::summary;
use crate::common::{root, scratch};

/// A manifest of `deploy/kubernetes/`, as a JSON value.
fn manifest(name: &str) -> Value {
    let path = root().join("deploy/kubernetes").join(name);
    let text = std::fs::read_to_string(&path).expect("the manifest is readable");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn container_args(job: &Value) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_string())
        .collect()
}

/// One manifest argument as it runs here: image paths to this checkout and scratch folder,
/// the example's targets to the local server.
fn localise(arg: &str, index: u64, scratch: &TempDir, serve: &Serve) -> OsString {
    let arg = arg.replace("$(JOB_COMPLETION_INDEX)", &index.to_string());
    let arg = arg.replace("/scenarios/", &format!("{}/scenarios/", root().display()));
    let arg = arg.replace(
        "/results",
        &scratch.path().join("results").display().to_string(),
    );
    let arg = arg.replace("http://jobs-data.example.internal:9080", &serve.data);
    arg.replace("http://jobs-control.example.internal:9081", &serve.control)
        .into()
}

#[test]
fn the_indexed_job_and_the_merge_job_run_as_written() {
    let shards = manifest("fleet-shards.yaml");
    let merge = manifest("fleet-merge.yaml");
    assert_eq!(shards["spec"]["completionMode"], "Indexed");
    let completions = shards["spec"]["completions"].as_u64().expect("completions");
    assert_eq!(shards["spec"]["parallelism"].as_u64(), Some(completions));
    let args = container_args(&shards);
    assert!(
        args.iter()
            .any(|a| a == &format!("--shard=$(JOB_COMPLETION_INDEX)/{completions}")),
        "the shard argument matches completions: {args:?}"
    );
    let run_id = args
        .iter()
        .find_map(|a| a.strip_prefix("--run-id="))
        .expect("a run id")
        .to_string();

    let scratch = scratch("deploy");
    let serve = Serve::start(600.0);
    let mut processes: Vec<Process> = (0..completions)
        .map(|k| {
            let mut argv: Vec<OsString> = args
                .iter()
                .map(|a| localise(a, k, &scratch, &serve))
                .collect();
            // The example's target is a real service with its own clock; here it is the
            // reference at 600×, and the fleet is made small.
            argv.extend(["--target-time-scale", "600", "--devices", "3000"].map(OsString::from));
            Process::spawn(&argv, &scratch)
        })
        .collect();
    for (k, p) in processes.iter_mut().enumerate() {
        let ran = p.finish(Duration::from_secs(180));
        assert!(matches!(ran.code, Some(0 | 1)), "shard {k}: {ran}");
        let shard = summary(
            &scratch
                .path()
                .join("results")
                .join(&run_id)
                .join(format!("shard-{k}")),
        );
        assert_eq!(
            ran.code == Some(0),
            shard["passed"] == true,
            "shard {k}: {ran}"
        );
    }
    let merge_args: Vec<OsString> = container_args(&merge)
        .iter()
        .map(|a| localise(a, 0, &scratch, &serve))
        .collect();
    assert!(
        merge_args
            .iter()
            .any(|a| a.to_string_lossy().ends_with(&format!("/results/{run_id}"))),
        "the merge Job reads the shards' run: {merge_args:?}"
    );
    let ran = Process::spawn(&merge_args, &scratch).finish(Duration::from_secs(60));
    assert!(matches!(ran.code, Some(0 | 1)), "merge: {ran}");
    let merged = summary(&scratch.path().join("results").join(&run_id).join("merged"));
    assert_eq!(
        ran.code == Some(0),
        merged["passed"] == true,
        "merge: {ran}"
    );
    assert_eq!(merged["record"]["partial"], false, "merge: {ran}");
    let shards_merged = merged["record"]["shards"].as_array().expect("shards").len() as u64;
    assert_eq!(shards_merged, completions);
    assert_eq!(merged["record"]["devices"].as_u64(), Some(3000));
}
