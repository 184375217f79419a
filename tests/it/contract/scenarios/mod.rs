//! Scenario files: the JSON Schema of the format (`schemas/scenario.schema.json`), the loader,
//! and how the `validate` and `run` commands treat bad scenarios and broken targets.
//!
//! * Every file under `scenarios/` matches the schema and loads; the schema's enums and patterns
//!   agree with `errors.json` and the requirement catalogue; the schema and the loader both refuse
//!   a table of malformed documents.
//! * A table of malformed files goes through the real binary (`validate` and `run`): exit code 2,
//!   `file:line:column:` at the right place, no panic, within a time bound (alias bomb included).
//!   Cases whose location is known to be wrong carry [`At::Bug`]: they pin today's location so
//!   that a fix shows up as a failure asking to turn them into [`At::Exact`].
//! * `validate scenarios/conformance` passes; a run that selects nothing fails (exit 1); a run
//!   against a target where nothing listens fails quickly with a valid summary.json.

use crate::common::process::{Process, Ran};
use crate::common::{self, ScratchExt, root, scratch};

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jobcert_contract::{Schema, file, schemas};
use jobcert_harness::scenario::fleet::is_fleet_file;
use jobcert_harness::scenario::{load, scenario_files};
use rstest::rstest;
use serde_json::{Value, json};
use tempfile::TempDir;

mod commands;
mod malformed;

/// The scenario format's schema, relative to `schemas/`.
const SCENARIO_SCHEMA: &str = "scenario.schema.json";

/// Longest a command of this file may take: bad input must fail fast, never hang.
const TIME_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Helpers.

fn scenario_schema() -> &'static Schema {
    schemas()
        .get(SCENARIO_SCHEMA)
        .expect("schemas/scenario.schema.json is embedded and compiles")
}

/// A YAML text as the JSON value an editor's schema check sees.
fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Every `*.yaml` / `*.yml` file under `dir`, recursively, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out
}

/// Runs the `jobcert` binary in `cwd`, killing it after [`TIME_LIMIT`] (which fails the test).
fn jobcert(args: &[OsString], cwd: &Path, scratch: &TempDir) -> Ran {
    Process::spawn_in(args, cwd, scratch).finish(TIME_LIMIT)
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// ---------------------------------------------------------------------------------------------
// The schema itself.

/// Every `properties` member of the schema carries a title and a description, for editors.
#[test]
fn every_property_of_the_schema_has_a_title_and_a_description() {
    let document = scenario_schema().document();
    assert_eq!(
        document["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "draft 2020-12"
    );
    let missing = common::undescribed_properties(document, false);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The error-type enum is exactly the error types `expect.error` accepts (errors.json).
#[test]
fn the_error_type_enum_is_the_one_of_errors_json() {
    let table: Value =
        serde_json::from_str(file("errors.json").expect("errors.json is embedded")).expect("JSON");
    let mut expected: Vec<String> = ["dataPlane", "controlPlane", "protocol", "mqttOnly"]
        .iter()
        .flat_map(|section| {
            table[section]
                .as_object()
                .unwrap_or_else(|| panic!("errors.json has no section {section}"))
                .keys()
                .cloned()
        })
        .collect();
    expected.sort();
    expected.dedup();
    let mut listed: Vec<String> = scenario_schema().document()["$defs"]["ErrorType"]["enum"]
        .as_array()
        .expect("$defs/ErrorType has an enum")
        .iter()
        .map(|v| v.as_str().expect("error types are strings").to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, expected);
}

/// The requirement-ID pattern admits every ID of the catalogue.
#[test]
fn the_requirement_pattern_admits_the_whole_catalogue() {
    let ids: Vec<String> = jobcert_contract::catalogue()
        .requirements
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert!(!ids.is_empty(), "the catalogue is empty");
    let document = json!({
        "cases": [{ "name": "all", "requirements": ids, "steps": [] }]
    });
    let violations = scenario_schema().violations(&document);
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Every conformance scenario shipped under `scenarios/` matches the schema and loads (fleet
/// scenarios have their own schema, checked in `fleet_scenarios.rs`).
#[test]
fn every_scenario_file_matches_the_schema_and_loads() {
    let dir = root().join("scenarios");
    let files: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|f| !is_fleet_file(f))
        .collect();
    assert!(
        !files.is_empty(),
        "no scenario file under {}",
        dir.display()
    );
    assert_eq!(
        scenario_files(std::slice::from_ref(&dir))
            .expect("scenarios/ is readable")
            .into_iter()
            .filter(|f| !is_fleet_file(f))
            .collect::<Vec<_>>(),
        files,
        "the loader and this test see different files under scenarios/"
    );
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("scenario files are UTF-8");
        match yaml_to_json(&text) {
            Ok(document) => problems.extend(
                scenario_schema()
                    .violations(&document)
                    .into_iter()
                    .map(|v| format!("{}: schema: {v}", path.display())),
            ),
            Err(e) => problems.push(format!("{}: not YAML: {e}", path.display())),
        }
        match load(std::slice::from_ref(path)) {
            Ok(cases) if cases.is_empty() => {
                problems.push(format!("{}: no case", path.display()));
            }
            Ok(_) => {}
            Err(errors) => problems.extend(errors.iter().map(|e| format!("loader: {e}"))),
        }
    }
    // Case ids are unique across files too.
    if let Err(errors) = load(&files) {
        problems.extend(errors.iter().map(|e| format!("loader (all files): {e}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The schema refuses `text`, at the member `field` (dotted path, empty for the whole file).
fn assert_schema_refuses(text: &str, field: &str) {
    let document = yaml_to_json(text).expect("the text is YAML");
    let violations = scenario_schema().violations(&document);
    assert!(
        violations.iter().any(|v| v.field == field),
        "the schema should refuse `{field}`; its violations: {violations:#?}\nof:\n{text}"
    );
}

/// Documents both the schema and the loader refuse: the schema is not vacuous, and what it
/// says agrees with the loader.
#[rstest]
#[case::no_cases("suite: s\n", "")]
#[case::unknown_top_level_key("cases: []\nsuites: x\n", "")]
#[case::case_without_steps("cases:\n  - name: c\n", "cases.0")]
#[case::unknown_case_key("cases:\n  - name: c\n    step: []\n    steps: []\n", "cases.0")]
#[case::things_not_a_list(
    "cases:\n  - name: c\n    things: 5\n    steps: []\n",
    "cases.0.things"
)]
#[case::unknown_step_key(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expects: {}\n",
    "cases.0.steps.0"
)]
#[case::two_actions(
    "cases:\n  - name: c\n    things: [dev]\n    steps:\n      - wait: { minutes: 1 }\n        get-pending: { thing: dev }\n",
    "cases.0.steps.0"
)]
#[case::no_action(
    "cases:\n  - name: c\n    steps:\n      - deadline-ms: 100\n",
    "cases.0.steps.0"
)]
#[case::negative_wait(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: -1 }\n",
    "cases.0.steps.0.wait.minutes"
)]
#[case::unknown_operation_member(
    "cases:\n  - name: c\n    things: [dev]\n    steps:\n      - get-pending: { thing: dev, status: QUEUED }\n",
    "cases.0.steps.0.get-pending"
)]
#[case::unknown_not_error(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expect: { not-error: NoSuchException }\n",
    "cases.0.steps.0.expect.not-error"
)]
#[case::malformed_expect_requirement(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expect: { requirement: not-an-id }\n",
    "cases.0.steps.0.expect.requirement"
)]
#[case::unknown_expect_key(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expect: { statuss: 200 }\n",
    "cases.0.steps.0.expect"
)]
#[case::unknown_error_type(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expect: { error: NoSuchException }\n",
    "cases.0.steps.0.expect.error"
)]
#[case::unknown_job_key(
    "cases:\n  - name: c\n    things: [dev]\n    jobs: [{ id: j, targets: [dev], timeout: 1 }]\n    steps: []\n",
    "cases.0.jobs.0"
)]
#[case::unknown_retry_key(
    "cases:\n  - name: c\n    things: [dev]\n    jobs: [{ id: j, targets: [dev], retry: [{ failureType: FAILED, numberOfRetries: 1, delay: 2 }] }]\n    steps: []\n",
    "cases.0.jobs.0.retry.0"
)]
#[case::job_without_targets(
    "cases:\n  - name: c\n    jobs: [{ id: j }]\n    steps: []\n",
    "cases.0.jobs.0"
)]
#[case::cancel_without_job(
    "cases:\n  - name: c\n    steps:\n      - cancel-job: { force: true }\n",
    "cases.0.steps.0.cancel-job"
)]
#[case::status_not_an_integer(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expect: { status: [200] }\n",
    "cases.0.steps.0.expect.status"
)]
fn schema_and_loader_both_refuse(#[case] text: &str, #[case] field: &str) {
    assert_schema_refuses(text, field);
    let scratch = scratch("refuse");
    let path = scratch.write("case.yaml", text.as_bytes());
    assert!(
        load(std::slice::from_ref(&path)).is_err(),
        "the loader admits:\n{text}"
    );
}

/// Documents both the schema and the loader admit: every kind of step and member the format
/// has, in both flow and block style.
#[rstest]
#[case::every_action(
    "\
suite: all-actions
description: every action once
tags: [a, b]
cases:
  - name: c
    description: d
    requirements: [SN-EMPTY, UP-TRANSITION]
    tags: [t]
    things: [dev, 'other:thing_1']
    absent-things: [ghost]
    jobs:
      - id: j
        targets: [dev, 'other:thing_1']
        document: [1, 'two', { three: null }]
        in-progress-timeout-minutes: 10
        retry:
          - { failureType: FAILED, numberOfRetries: 2 }
          - { failureType: TIMED_OUT, numberOfRetries: 0 }
      - { id: k_2, targets: [dev], document: plain text }
    steps:
      - start-next: { thing: dev, namespaceId: ns, statusDetails: { k: v }, stepTimeoutInMinutes: 10080 }
        deadline-ms: 2000
        expect: { status: 200, not-error: InvalidRequestException, requirement: SN-EMPTY }
      - update:
          thing: dev
          job: j
          status: IN_PROGRESS
          statusDetails: { 'a:b': 'c d' }
          stepTimeoutInMinutes: -1
          expectedVersion: 2
          includeJobExecutionState: true
          includeJobDocument: false
          executionNumber: 1
        expect:
          body: { execution.status: IN_PROGRESS, executionState: { present: true } }
          state-unchanged: false
      - describe: { thing: ghost, job: $next, includeJobDocument: false, executionNumber: 1 }
        raw-path: /things/{thing}/jobs/%24next
      - describe: { thingName: literal-name, jobId: no-such-job }
        expect: { error: ResourceNotFoundException, status: 404, state-unchanged: true }
      - get-pending: { thing: dev }
        raw-body: '{not json'
      - update: { thing: dev, jobId: other-job, status: SUCCEEDED }
      - cancel-job: { job: j }
      - cancel-job: { job: k_2, force: true }
      - wait: { minutes: 0.5 }
      - wait: { minutes: 3 }
"
)]
#[case::minimal("cases: []\n")]
#[case::case_without_fixtures("cases:\n  - name: c\n    steps: []\n")]
fn schema_and_loader_both_admit(#[case] text: &str) {
    let document = yaml_to_json(text).expect("the text is YAML");
    let violations = scenario_schema().violations(&document);
    assert!(violations.is_empty(), "{violations:#?}");
    let scratch = scratch("admit");
    let path = scratch.write("case.yaml", text.as_bytes());
    if let Err(errors) = load(std::slice::from_ref(&path)) {
        panic!("the loader refuses:\n{errors:#?}");
    }
}

/// Where the schema is deliberately stricter than the loader: operation inputs must be valid
/// requests (invalid ones go through `raw-body` / `raw-path`), and values the loader does not
/// check but that cannot mean anything are refused. If the loader learns to refuse one of these,
/// move it to `schema_and_loader_both_refuse`.
#[rstest]
#[case::step_timeout_out_of_range(
    "cases:\n  - name: c\n    things: [dev]\n    steps:\n      - start-next: { thing: dev, stepTimeoutInMinutes: 0 }\n",
    "cases.0.steps.0.start-next.stepTimeoutInMinutes"
)]
#[case::unknown_status(
    "cases:\n  - name: c\n    things: [dev]\n    jobs: [{ id: j, targets: [dev] }]\n    steps:\n      - update: { thing: dev, job: j, status: FINISHED }\n",
    "cases.0.steps.0.update.status"
)]
#[case::update_without_status(
    "cases:\n  - name: c\n    things: [dev]\n    jobs: [{ id: j, targets: [dev] }]\n    steps:\n      - update: { thing: dev, job: j }\n",
    "cases.0.steps.0.update"
)]
#[case::call_without_a_thing(
    "cases:\n  - name: c\n    steps:\n      - get-pending: {}\n",
    "cases.0.steps.0.get-pending"
)]
#[case::thing_and_thing_name(
    "cases:\n  - name: c\n    things: [dev]\n    steps:\n      - get-pending: { thing: dev, thingName: other }\n",
    "cases.0.steps.0.get-pending"
)]
#[case::job_on_start_next(
    "cases:\n  - name: c\n    things: [dev]\n    jobs: [{ id: j, targets: [dev] }]\n    steps:\n      - start-next: { thing: dev, job: j }\n",
    "cases.0.steps.0.start-next"
)]
#[case::unknown_failure_type(
    "cases:\n  - name: c\n    things: [dev]\n    jobs: [{ id: j, targets: [dev], retry: [{ failureType: SOMETIMES, numberOfRetries: 1 }] }]\n    steps: []\n",
    "cases.0.jobs.0.retry.0.failureType"
)]
#[case::status_out_of_range(
    "cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expect: { status: 999 }\n",
    "cases.0.steps.0.expect.status"
)]
#[case::job_without_any_target(
    "cases:\n  - name: c\n    jobs: [{ id: j, targets: [] }]\n    steps: []\n",
    "cases.0.jobs.0.targets"
)]
#[case::thing_name_with_a_space(
    "cases:\n  - name: c\n    things: ['my dev']\n    steps: []\n",
    "cases.0.things.0"
)]
fn schema_is_stricter_than_the_loader(#[case] text: &str, #[case] field: &str) {
    assert_schema_refuses(text, field);
    let scratch = scratch("stricter");
    let path = scratch.write("case.yaml", text.as_bytes());
    if let Err(errors) = load(std::slice::from_ref(&path)) {
        panic!(
            "the loader refuses this now; move the case to schema_and_loader_both_refuse:\n{errors:#?}"
        );
    }
}
