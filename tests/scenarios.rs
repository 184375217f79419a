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

mod common;

use common::fleet::Scratch;

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobcert_contract::{Schema, file, schemas};
use jobcert_harness::scenario::fleet::is_fleet_file;
use jobcert_harness::scenario::{load, scenario_files};
use rstest::rstest;
use serde_json::{Value, json};

/// The scenario format's schema, relative to `schemas/`.
const SCENARIO_SCHEMA: &str = "scenario.schema.json";

/// The report summary's schema, relative to `schemas/`.
const SUMMARY_SCHEMA: &str = "report/summary.schema.json";

/// Longest a command of this file may take: bad input must fail fast, never hang.
const TIME_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The crate root, where `scenarios/` and `schemas/` live.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

/// What one run of the binary did.
struct Ran {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs the `jobcert` binary in `cwd`, killing it after [`TIME_LIMIT`] (which fails the test).
fn jobcert(args: &[OsString], cwd: &Path, scratch: &Scratch) -> Ran {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let out_path = scratch.path(&format!("stdout-{n}.txt"));
    let err_path = scratch.path(&format!("stderr-{n}.txt"));
    let command = format!(
        "jobcert {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobcert"))
        .args(args)
        .current_dir(cwd)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("the jobcert binary starts");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for jobcert") {
            break Some(status);
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ran = Ran {
        command,
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        elapsed: started.elapsed(),
    };
    assert!(
        status.is_some(),
        "did not finish within {TIME_LIMIT:?} and was killed: {ran}"
    );
    assert!(!ran.stderr.contains("panicked"), "panicked: {ran}");
    ran
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
    let scratch = Scratch::new("refuse");
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
    let scratch = Scratch::new("admit");
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
    let scratch = Scratch::new("stricter");
    let path = scratch.write("case.yaml", text.as_bytes());
    if let Err(errors) = load(std::slice::from_ref(&path)) {
        panic!(
            "the loader refuses this now; move the case to schema_and_loader_both_refuse:\n{errors:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed files through the binary.

/// Where a malformed file's problem must be reported.
#[derive(Debug, Clone, Copy)]
enum At {
    /// At this line and column (1-based).
    Exact(u64, u64),
    /// On a line of this range, at a known column (a position the parser picks).
    Lines(u64, u64),
    /// Known bug: reported at `reported` today, where it should be at `want`.
    Bug {
        reported: (u64, u64),
        want: (u64, u64),
        why: &'static str,
    },
}

/// A "billion laughs" document: nine levels of nine aliases (9^9 strings) inside a job
/// document, where the format admits any value.
const ALIAS_BOMB: &str = "\
cases:
  - name: bomb
    things: [dev]
    jobs:
      - id: j
        targets: [dev]
        document:
          a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
          b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
          c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
          d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
          e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
          f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
          g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
          h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
          i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    steps:
      - start-next: { thing: dev }
";

/// The `file:line:column` the output reports for `path`, if any.
fn reported_location(output: &str, path: &Path) -> Option<(u64, u64)> {
    let prefix = format!("{}:", path.display());
    let start = output.find(&prefix)? + prefix.len();
    let mut parts = output[start..].splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((line, column))
}

/// Checks one command's output against the expected location and message.
fn assert_refused(ran: &Ran, path: &Path, at: At, message: &str) {
    assert_eq!(ran.code, Some(2), "exit code 2 expected: {ran}");
    assert!(
        ran.stderr.contains(message),
        "the message should mention {message:?}: {ran}"
    );
    let reported = reported_location(&ran.stderr, path)
        .unwrap_or_else(|| panic!("no `{}:line:column:` in stderr: {ran}", path.display()));
    match at {
        At::Exact(line, column) => assert_eq!(
            reported,
            (line, column),
            "reported at {reported:?}, expected {line}:{column}: {ran}"
        ),
        At::Lines(first, last) => assert!(
            (first..=last).contains(&reported.0) && reported.1 > 0,
            "reported at {reported:?}, expected a column on lines {first}..={last}: {ran}"
        ),
        At::Bug {
            reported: was,
            want,
            why,
        } => {
            assert_ne!(
                reported, want,
                "the known bug ({why}) looks fixed: make this case At::Exact{want:?}: {ran}"
            );
            assert_eq!(
                reported, was,
                "known bug ({why}): the location moved from {was:?} to {reported:?} (wanted {want:?}); update the case: {ran}"
            );
        }
    }
}

/// A malformed file is refused by `validate` and by `run` with exit code 2, its
/// `file:line:column:` and a message, fast, without a panic; `run` writes no report.
#[rstest]
#[case::unclosed_bracket(
    b"cases:\n  - name: c\n    things: [dev, other\n",
    At::Exact(3, 13),
    "unclosed bracket"
)]
// The parser marks the content the tab indents (`-` at column 2), right after the tab.
#[case::tab_indentation(b"cases:\n\t- name: c\n    steps: []\n", At::Exact(2, 2), "tab")]
#[case::tab_indentation_after_a_value(
    b"cases:\n  - name: c\n\tsteps: []\n",
    At::Bug {
        reported: (2, 11),
        want: (3, 2),
        why: "a tab indenting a key after a plain scalar is reported at the start of that scalar, on the line before",
    },
    "tab"
)]
#[case::unknown_key_in_a_case(
    b"cases:\n  - name: c\n    step: []\n    steps: []\n",
    At::Exact(3, 5),
    "unknown field `step`"
)]
#[case::unknown_key_in_a_step(
    b"cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n        expects: { status: 200 }\n",
    At::Exact(5, 9),
    "unknown field `expects`"
)]
#[case::two_actions_in_a_step(
    b"cases:\n  - name: c\n    things: [dev]\n    steps:\n      - get-pending: { thing: dev }\n      - wait: { minutes: 1 }\n        get-pending: { thing: dev }\n",
    At::Exact(6, 9),
    "this one has 2"
)]
#[case::no_action_in_a_step(
    b"cases:\n  - name: c\n    steps:\n      - wait: { minutes: 1 }\n      - deadline-ms: 100\n        expect: { status: 200 }\n",
    At::Exact(5, 9),
    "this one has 0"
)]
#[case::wrong_type(
    b"cases:\n  - name: c\n    things: 5\n    steps: []\n",
    At::Exact(3, 13),
    "expected sequence"
)]
#[case::unknown_requirement_id(
    b"cases:\n  - name: c\n    requirements: [SN-EMPTY, SN-NO-SUCH-THING]\n    steps: []\n",
    At::Exact(3, 30),
    "unknown requirement ID SN-NO-SUCH-THING"
)]
#[case::job_target_not_a_thing(
    b"cases:\n  - name: c\n    things: [dev]\n    jobs:\n      - id: j\n        targets: [dev, other]\n    steps: []\n",
    At::Exact(6, 24),
    "job target other is not among the case's things"
)]
// A one-line step: the loader reports the step, which is on the right line.
#[case::undeclared_thing_in_a_step(
    b"cases:\n  - name: c\n    things: [dev]\n    steps:\n      - get-pending: { thing: ghost }\n",
    At::Exact(5, 31),
    "thing \"ghost\" is not among the case's things"
)]
#[case::undeclared_thing_in_a_block_step(
    b"cases:\n  - name: c\n    things: [dev]\n    steps:\n      - get-pending:\n          thing: ghost\n",
    At::Exact(6, 18),
    "thing \"ghost\" is not among the case's things"
)]
#[case::duplicate_key(
    b"cases:\n  - name: c\n    things: [dev]\n    things: [dev]\n    steps: []\n",
    At::Exact(4, 5),
    "duplicate mapping key"
)]
// A one-line step: the loader reports the step, which is on the right line.
#[case::unknown_error_type_in_a_one_line_step(
    b"cases:\n  - name: c\n    things: [dev]\n    steps:\n      - { get-pending: { thing: dev }, expect: { error: NoSuchException } }\n",
    At::Exact(5, 57),
    "expect.error NoSuchException is not an error type"
)]
#[case::unknown_error_type(
    b"cases:\n  - name: c\n    things: [dev]\n    steps:\n      - get-pending: { thing: dev }\n        expect: { error: NoSuchException }\n",
    At::Exact(6, 26),
    "expect.error NoSuchException is not an error type"
)]
#[case::empty_file(b"", At::Exact(1, 1), "unexpected end of input")]
#[case::a_yaml_list(
    b"- start-next: { thing: dev }\n- wait: { minutes: 1 }\n",
    At::Exact(1, 1),
    "expected mapping"
)]
#[case::not_utf8(
    b"cases:\n  - name: \xff\xfe\n    steps: []\n",
    At::Exact(2, 11),
    "UTF-8"
)]
#[case::alias_bomb(ALIAS_BOMB.as_bytes(), At::Lines(8, 16), "budget")]
fn malformed_scenario_is_refused_where_it_is_wrong(
    #[case] text: &[u8],
    #[case] at: At,
    #[case] message: &str,
) {
    let scratch = Scratch::new("malformed");
    let path = scratch.write("scenario.yaml", text);
    let reports = scratch.path("reports");

    let ran = jobcert(
        &[OsString::from("validate"), path.clone().into_os_string()],
        &scratch.dir,
        &scratch,
    );
    assert_refused(&ran, &path, at, message);

    let ran = jobcert(
        &[
            OsString::from("run"),
            path.clone().into_os_string(),
            OsString::from("--report-dir"),
            reports.clone().into_os_string(),
        ],
        &scratch.dir,
        &scratch,
    );
    assert_refused(&ran, &path, at, message);
    assert!(
        !reports.exists(),
        "a refused run wrote reports to {}: {ran}",
        reports.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Whole commands.

#[test]
fn validate_accepts_the_conformance_scenarios() {
    let scratch = Scratch::new("validate");
    let ran = jobcert(
        &os(&["validate", "scenarios/conformance"]),
        &root(),
        &scratch,
    );
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.starts_with("ok:"), "{ran}");
}

/// Reads the one `summary.json` a run wrote under `reports`, checked against its schema.
fn summary(reports: &Path) -> Value {
    let runs: Vec<PathBuf> = std::fs::read_dir(reports)
        .unwrap_or_else(|e| panic!("no report folder {}: {e}", reports.display()))
        .map(|e| e.expect("report entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "one run folder expected: {runs:?}");
    let path = runs[0].join("summary.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let summary: Value = serde_json::from_str(&text).expect("summary.json is JSON");
    let violations = schemas()
        .get(SUMMARY_SCHEMA)
        .expect("the summary schema compiles")
        .violations(&summary);
    assert!(violations.is_empty(), "{violations:#?}");
    summary
}

/// A run in which no case is selected made no check, and fails.
#[test]
fn a_run_that_selects_nothing_fails() {
    let scratch = Scratch::new("only");
    let reports = scratch.path("reports");
    let mut args = os(&["run", "--only", "NO-SUCH-LABEL", "--report-dir"]);
    args.push(reports.clone().into_os_string());
    let ran = jobcert(&args, &root(), &scratch);
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stderr.contains("no check was executed"), "{ran}");
    let summary = summary(&reports);
    assert_eq!(summary["passed"], false, "{summary:#}");
    assert_eq!(summary["totals"]["cases"], 0, "{summary:#}");
    assert_eq!(summary["totals"]["checks"], 0, "{summary:#}");
    assert_eq!(summary["target"]["embedded"], true, "{summary:#}");
}

/// A target where nothing listens: every case fails or aborts (cases with fixtures abort in
/// their set-up), the run exits 1 quickly, and the summary is complete and valid.
#[test]
fn an_unreachable_target_is_a_classified_failure() {
    let scratch = Scratch::new("unreachable");
    let reports = scratch.path("reports");
    let scenario = "scenarios/conformance/start-next.yaml";
    let mut args = os(&[
        "run",
        "--target",
        "http://127.0.0.1:1",
        "--control",
        "http://127.0.0.1:1",
        "--deadline-ms",
        "300",
        scenario,
        "--no-generated",
        "--report-dir",
    ]);
    args.push(reports.clone().into_os_string());
    let ran = jobcert(&args, &root(), &scratch);
    assert_eq!(ran.code, Some(1), "{ran}");

    let summary = summary(&reports);
    assert_eq!(summary["passed"], false, "{summary:#}");
    assert_eq!(summary["target"]["embedded"], false, "{summary:#}");
    let planned = load(&[root().join(scenario)]).expect("the scenario loads");
    let cases = summary["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), planned.len(), "{summary:#}");
    assert_eq!(summary["totals"]["passed"], 0, "{summary:#}");
    for plan in &planned {
        let case = cases
            .iter()
            .find(|c| c["id"] == format!("http:{}", plan.id).as_str())
            .unwrap_or_else(|| panic!("case {} is missing: {summary:#}", plan.id));
        if plan.things.is_empty() && plan.jobs.is_empty() {
            // Nothing to set up: the first call fails, as a failure of the target.
            assert_eq!(case["verdict"], "fail", "{case:#}");
            let problems = case["problems"].as_array().expect("problems");
            assert!(
                problems.iter().any(|p| p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("transport failure"))),
                "{case:#}"
            );
        } else {
            assert_eq!(case["verdict"], "aborted", "{case:#}");
            let why = case["aborted"].as_str().unwrap_or_default();
            assert!(
                why.starts_with("CreateThing") || why.starts_with("CreateJob"),
                "a set-up error expected: {case:#}"
            );
        }
    }
    let aborted = planned
        .iter()
        .filter(|p| !(p.things.is_empty() && p.jobs.is_empty()))
        .count();
    assert_eq!(summary["totals"]["aborted"], aborted, "{summary:#}");
}
