//! Fleet scenario files: the JSON Schema of the format (`schemas/fleet.schema.json`), the loader
//! (`load_fleet`), and how `jobcert fleet` treats a malformed file.
//!
//! * Every file under `scenarios/fleet/` names the schema for editors, loads, and matches it.
//! * Documents using every member of the format (and `null` for every optional one) are
//!   admitted by both the schema and the loader.
//! * A table of malformed files goes through the real binary: exit code 2,
//!   `file:line:column:` on the line of the offending member, a message, no report, no panic.
//!   The same table goes through the schema, which refuses each file where a schema can
//!   express the rule (cases it cannot are marked [`SchemaSays::CannotExpress`]).
//! * Values the loader admits never panic a run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jobcert_contract::{Schema, schemas};
use jobcert_harness::scenario::fleet::load_fleet;
use rstest::rstest;
use serde_json::Value;

use crate::common::process::{args, jobcert};
use crate::common::{self, ScratchExt, root, scratch};

mod malformed;

/// The fleet format's schema, relative to `schemas/`.
const FLEET_SCHEMA: &str = "fleet.schema.json";

/// The first line of every shipped fleet scenario: editors find the schema through it.
const SCHEMA_COMMENT: &str = "# yaml-language-server: $schema=../../schemas/fleet.schema.json";

/// Longest a refused file may take: bad input must fail fast, never run.
const LIMIT: Duration = Duration::from_secs(30);

fn fleet_schema() -> &'static Schema {
    schemas()
        .get(FLEET_SCHEMA)
        .expect("schemas/fleet.schema.json is embedded and compiles")
}

/// A YAML text as the JSON value an editor's schema check sees.
fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// The schema and the shipped scenarios.

/// Draft 2020-12, and every member of every titled object carries a title and a description,
/// for editors (untitled objects are `if` / `then` / `anyOf` branches that only narrow members
/// described elsewhere).
#[test]
fn every_property_of_the_schema_has_a_title_and_a_description() {
    let document = fleet_schema().document();
    assert_eq!(
        document["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "draft 2020-12"
    );
    let missing = common::undescribed_properties(document, true);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The threshold operations of the schema are exactly the ones the loader admits: the
/// data-plane operations and `*`.
#[test]
fn the_threshold_operations_are_the_data_plane_operations() {
    let mut listed: Vec<String> =
        fleet_schema().document()["$defs"]["LatencyThreshold"]["properties"]["operation"]["enum"]
            .as_array()
            .expect("an enum of operations")
            .iter()
            .map(|v| v.as_str().expect("a name").to_string())
            .collect();
    listed.sort();
    let mut expected: Vec<String> = jobcert_contract::Operation::ALL
        .iter()
        .map(|op| op.name().to_string())
        .chain(["*".to_string()])
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
}

/// A shipped fleet scenario names the schema on its first line, loads, and matches the schema.
#[rstest]
fn a_shipped_fleet_scenario_loads_and_matches_the_schema(
    #[files("scenarios/fleet/*.yaml")] path: PathBuf,
) {
    let text = std::fs::read_to_string(&path).expect("scenario files are UTF-8");
    assert_eq!(
        text.lines().next(),
        Some(SCHEMA_COMMENT),
        "{} does not name the schema on its first line",
        path.display()
    );
    let relative = SCHEMA_COMMENT.split_once("$schema=").expect("a path").1;
    assert!(
        path.parent().expect("a folder").join(relative).is_file(),
        "{relative} does not resolve from {}",
        path.display()
    );
    if let Err(errors) = load_fleet(&path) {
        panic!("the loader refuses {}: {errors:#?}", path.display());
    }
    let document = yaml_to_json(&text).expect("the file is YAML");
    let violations = fleet_schema().violations(&document);
    assert!(violations.is_empty(), "{}: {violations:#?}", path.display());
}

/// The folder holds the scenarios the test above was generated for.
#[test]
fn the_shipped_fleet_scenarios_are_there() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("scenarios/fleet"))
        .expect("scenarios/fleet is readable")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".yaml")), "{names:?}");
}

/// Documents both the schema and the loader admit: every member, every distribution form,
/// both load models, every threshold, and `null` for every optional member.
#[rstest]
#[case::every_member(
    "\
# yaml-language-server: $schema=../../schemas/fleet.schema.json
fleet:
  name: every-member
  description: every member once
  seed: 18446744073709551615
  things: { count: 40, name: 'plant-7:{run}:sensor_{index}', per-job: 10 }
  transport: http
  http: { connections: pool, pool: 8 }
  connect: { rate: 100.5, timeout-ms: 2000 }
  rollout:
    jobs-per-thing: 3
    rate: 20
    start: during
    document: { operation: install, steps: [1, 2, { three: null }] }
    in-progress-timeout-minutes: 30
  behaviour:
    program: agent
    work: { lognormal: { median: 200, sigma: 0.6 } }
    outcomes: { SUCCEEDED: 0.5, FAILED: 0.25, REJECTED: 0.25 }
    step-timeout-minutes: 5
    silent: 0.1
    agent: poller
    idle: { exponential: { mean: 300 } }
    listener-fallback-s: 600
    offline: { share: 0.1, for-ms: { constant: 2000 } }
    retry: device-client
  load:
    model: open
    think: { uniform: { min: 0, max: 0 } }
    arrivals: poisson
    start-rate: 0
    stages:
      - { rate: 100, duration-s: 2.5 }
      - { rate: 0, duration-s: 1 }
  run: { until: duration, max-duration-s: 60, deadline-ms: 1 }
  thresholds:
    latency:
      - { operation: '*', percentile: 100, max-ms: 0.5 }
      - { operation: StartNextPendingJobExecution, percentile: 99.9, max-ms: 250 }
      - { operation: UpdateJobExecution, percentile: 50, max-ms: 100 }
      - { operation: DescribeJobExecution, percentile: 1, max-ms: 100 }
      - { operation: GetPendingJobExecutions, percentile: 1e-3, max-ms: 100 }
    error-rate: { max: 0 }
    timed-out: { min: 1, max: 10 }
    achieved-rate: { min: 0.95, max: ~ }
  reference: { time-scale: 1 }
"
)]
#[case::agent_profiles(
    "\
fleet:
  name: agent-profiles
  things: { count: 20 }
  transport: mqtt
  rollout: { start: during }
  behaviour:
    agent: listener
    listener-fallback-s: 120
    offline: { share: 0.25, for-ms: { exponential: { mean: 60000 } } }
    reconnect-storm: { at-s: 90.5 }
    retry:
      max-attempts: 5
      base-ms: 1000
      max-ms: 8000
      jitter: full
      operations: [CONNECT, StartNextPendingJobExecution]
  load: { model: closed }
"
)]
#[case::minimal(
    "\
fleet:
  name: minimal
  things: { count: 1 }
  transport: mqtt
  rollout: {}
  behaviour: {}
  load: { model: closed }
"
)]
#[case::nulls_for_optional_members(
    "\
fleet:
  name: nulls
  description: ~
  things: { count: 2, name: ~, per-job: ~ }
  transport: http
  rollout: { document: ~, in-progress-timeout-minutes: ~ }
  behaviour: { step-timeout-minutes: ~, offline: ~, reconnect-storm: ~ }
  load: { model: closed, rate: ~, stages: [] }
  run: { duration-s: ~ }
  thresholds: { error-rate: ~, timed-out: { min: ~, max: 3 }, achieved-rate: ~ }
"
)]
#[case::open_with_a_constant_rate(
    "\
fleet:
  name: open-rate
  things: { count: 5 }
  transport: http
  rollout: { jobs-per-thing: 0 }
  behaviour: { program: poll, work: { constant: 0 } }
  load: { model: open, rate: 10, stages: [] }
  run: { until: duration, duration-s: 1 }
"
)]
fn schema_and_loader_both_admit(#[case] text: &str) {
    let document = yaml_to_json(text).expect("the text is YAML");
    let violations = fleet_schema().violations(&document);
    assert!(violations.is_empty(), "{violations:#?}");
    let scratch = scratch("admit");
    let path = scratch.write("fleet.yaml", text);
    if let Err(errors) = load_fleet(&path) {
        panic!("the loader refuses:\n{errors:#?}");
    }
}
