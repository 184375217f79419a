//! The loader's defaults are the `default`s of `schemas/fleet.schema.json`: a minimal fleet file
//! loaded by the real loader carries exactly what the schema promises for every member left out.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{FleetSpec, load_fleet};
use jobcert_contract::file;

/// Only the members the schema requires; everything else is left to its default.
const MINIMAL: &str = "\
fleet:
  name: defaults
  things: { count: 1 }
  transport: http
  rollout: {}
  behaviour: {}
  load: { model: closed }
";

/// Every `default` reachable from the schema's root, by dotted member path under `fleet`.
fn schema_defaults() -> Vec<(String, Value)> {
    let schema: Value =
        serde_json::from_str(file("fleet.schema.json").expect("embedded")).expect("JSON");
    let mut out = Vec::new();
    walk(&schema, &schema["properties"]["fleet"], "", &mut out, 0);
    out
}

fn walk(root: &Value, node: &Value, at: &str, out: &mut Vec<(String, Value)>, depth: usize) {
    assert!(
        depth < 16,
        "fleet.schema.json nests deeper than expected at {at}"
    );
    let node = match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref");
            root.pointer(pointer).expect("$ref resolves")
        }
        None => node,
    };
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let path = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        if let Some(default) = property.get("default") {
            out.push((path.clone(), default.clone()));
        }
        walk(root, property, &path, out, depth + 1);
    }
}

/// The loaded value of the member at `path`, as JSON; `None` for a member without a row here.
fn loaded(f: &FleetSpec, path: &str) -> Option<Value> {
    Some(match path {
        "seed" => json!(f.seed),
        "http.connections" => json!(f.http.connections),
        "http.pool" => json!(f.http.pool),
        "connect.rate" => json!(f.connect.rate),
        "connect.timeout-ms" => json!(f.connect.timeout_ms),
        "rollout.jobs-per-thing" => json!(f.rollout.jobs_per_thing),
        "rollout.rate" => json!(f.rollout.rate),
        "rollout.start" => json!(f.rollout.start),
        "rollout.groups" => json!(f.rollout.groups.iter().map(|g| &g.name).collect::<Vec<_>>()),
        "rollout.jobs" => json!(f.rollout.jobs.iter().map(|j| &j.id).collect::<Vec<_>>()),
        "behaviour.program" => json!(f.behaviour.program),
        "behaviour.silent" => json!(f.behaviour.silent),
        "behaviour.retry" => json!(f.behaviour.retry),
        "behaviour.agent" => json!(f.behaviour.agent),
        "behaviour.listener-fallback-s" => json!(f.behaviour.listener_fallback_s),
        "load.arrivals" => json!(f.load.arrivals),
        "load.start-rate" => json!(f.load.start_rate),
        "load.stages" => json!(f.load.stages),
        "run.until" => json!(f.run.until),
        "run.max-duration-s" => json!(f.run.max_duration_s),
        "run.deadline-ms" => json!(f.run.deadline_ms),
        "thresholds.latency" => json!(f.thresholds.latency),
        "reference.time-scale" => json!(f.reference.time_scale),
        "reference.quotas" => json!(f.reference.quotas),
        _ => return None,
    })
}

/// Equal as JSON, with `600` and `600.0` the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn load_minimal() -> FleetSpec {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "jobcert-fleet-defaults-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&path, MINIMAL).expect("write the minimal fleet file");
    let spec = load_fleet(&path);
    std::fs::remove_file(&path).expect("remove the minimal fleet file");
    spec.unwrap_or_else(|e| panic!("the minimal fleet file loads: {e:?}"))
}

#[test]
fn the_schema_states_defaults() {
    // A walk that finds nothing would make the next test pass vacuously.
    let defaults = schema_defaults();
    assert!(defaults.len() >= 18, "{defaults:?}");
    assert!(defaults.iter().any(|(p, _)| p == "reference.time-scale"));
}

#[test]
fn a_minimal_fleet_carries_the_schema_defaults() {
    let spec = load_minimal();
    for (path, default) in schema_defaults() {
        let got = loaded(&spec, &path).unwrap_or_else(|| {
            panic!("fleet.schema.json gives {path} a default: add it to `loaded` in this test")
        });
        assert!(
            same(&got, &default),
            "{path}: the loader defaults to {got}, fleet.schema.json to {default}"
        );
    }
}

#[test]
fn numbers_compare_across_representations() {
    assert!(same(&json!(600), &json!(600.0)));
    assert!(!same(&json!(600), &json!(601.0)));
    assert!(!same(&json!("600"), &json!(600)));
}
