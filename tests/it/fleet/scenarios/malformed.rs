//! Malformed fleet files: one long data table (the documents and where each is refused), kept
//! in one piece.

use super::*;

/// What the schema makes of a malformed file.
#[derive(Debug, Clone, Copy)]
enum SchemaSays {
    /// It refuses the member at this dotted path (empty for the whole document).
    Refuses(&'static str),
    /// The rule is beyond a schema: a sum, a comparison, the length of an expanded template.
    CannotExpress,
    /// The text is not a YAML document: there is nothing to check.
    NotYaml,
}

use SchemaSays::{CannotExpress, NotYaml, Refuses};

/// Which side of the format a case exercises.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `jobcert fleet FILE`.
    Binary,
    /// `schemas/fleet.schema.json`.
    Schema,
}

const UNKNOWN_KEY: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  colour: blue
";

const WRONG_TYPE: &str = "\
fleet:
  name: bad
  things: { count: four }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const UNKNOWN_TRANSPORT: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: coap
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const OUTCOMES_NOT_ADDING_TO_1: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    program: agent
    outcomes: { SUCCEEDED: 0.5, FAILED: 0.2 }
  load: { model: closed }
";

const OUTCOME_KEY_IN_LOWER_CASE: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    program: agent
    outcomes: { succeeded: 1 }
  load: { model: closed }
";

const SILENT_WITHOUT_STEP_TIMEOUT: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    work: { constant: 1 }
    silent: 0.2
  load: { model: closed }
";

const TWO_DISTRIBUTION_FORMS: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    program: agent
    work: { constant: 1, exponential: { mean: 2 } }
  load: { model: closed }
";

const UNKNOWN_DISTRIBUTION: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    program: agent
    work: { normal: { mean: 2 } }
  load: { model: closed }
";

const UNIFORM_UPSIDE_DOWN: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { uniform: { min: 5, max: 1 } } }
  load: { model: closed }
";

const OPEN_WITHOUT_RATE_OR_STAGES: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load:
    model: open
    arrivals: poisson
";

const RATE_WITH_THE_CLOSED_MODEL: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load:
    model: closed
    rate: 50
";

const NAME_WITHOUT_INDEX: &str = "\
fleet:
  name: bad
  things: { count: 4, name: 'dev-{run}' }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const NAME_CREATE_THING_REFUSES: &str = "\
fleet:
  name: bad
  things: { count: 4, name: 'dev {index}' }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

/// 120 characters, a 16-character run id and the index make a name longer than 128.
const NAME_TOO_LONG: &str = "\
fleet:
  name: bad
  things:
    count: 4
    name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-{run}-{index}'
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const THRESHOLD_OF_AN_UNKNOWN_OPERATION: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  thresholds:
    latency:
      - { operation: Frobnicate, percentile: 99, max-ms: 10 }
";

const PERCENTILE_ZERO: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  thresholds:
    latency:
      - { operation: '*', percentile: 0, max-ms: 10 }
";

const BOUND_WITHOUT_MIN_OR_MAX: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  thresholds:
    error-rate: {}
";

const UNTIL_DURATION_WITHOUT_DURATION: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  run: { until: duration, max-duration-s: 30 }
";

const NEGATIVE_DURATION: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  run: { until: duration, duration-s: -1, max-duration-s: 30 }
";

const NO_THINGS: &str = "\
fleet:
  name: bad
  things:
    count: 0
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const ZERO_POOL: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  http:
    connections: pool
    pool: 0
";

const DOCUMENT_NOT_A_MAPPING: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout:
    jobs-per-thing: 1
    document: install
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const MISSING_LOAD: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour: { work: { constant: 1 } }
";

const LISTENER_OVER_HTTP: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    agent: listener
  load: { model: closed }
";

const LISTENER_WITH_THE_POLL_PROGRAM: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: mqtt
  rollout: { jobs-per-thing: 1 }
  behaviour:
    program: poll
    agent: listener
  load: { model: closed }
";

const LISTENER_FALLBACK_ZERO: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: mqtt
  rollout: { jobs-per-thing: 1 }
  behaviour:
    agent: listener
    listener-fallback-s: 0
  load: { model: closed }
";

const OFFLINE_SHARE_ABOVE_1: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    offline:
      share: 1.5
      for-ms: { constant: 1000 }
  load: { model: closed }
";

const OFFLINE_UNIFORM_UPSIDE_DOWN: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    offline:
      share: 0.5
      for-ms: { uniform: { min: 9, max: 1 } }
  load: { model: closed }
";

const STORM_OVER_HTTP: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: { jobs-per-thing: 1 }
  behaviour:
    reconnect-storm: { at-s: 30 }
  load: { model: closed }
";

const STORM_AT_A_NEGATIVE_TIME: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: mqtt
  rollout: { jobs-per-thing: 1 }
  behaviour:
    reconnect-storm:
      at-s: -5
  load: { model: closed }
";

const RETRY_OF_AN_UNKNOWN_OPERATION: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: mqtt
  rollout: { jobs-per-thing: 1 }
  behaviour:
    retry:
      max-attempts: 3
      base-ms: 10
      max-ms: 100
      jitter: none
      operations: [CONNECT, Reconnect]
  load: { model: closed }
";

const A_LIST: &str = "\
- fleet: { name: bad }
";

const FLEET_NOT_A_MAPPING: &str = "\
fleet: [a, b]
";

/// A rollout of `jobs`: `job` is the job's mapping members, `extra` more of `rollout`.
macro_rules! shaped {
    ($job:literal) => {
        concat!(
            "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout:
    groups: [{ name: all }]
    jobs:
      - id: fw
",
            $job,
            "
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
"
        )
    };
}

const JOB_OF_AN_UNKNOWN_GROUP: &str = shaped!("        targets: [some]");
const JOB_WITH_A_MEMBER_CREATE_JOB_LACKS: &str =
    shaped!("        targets: [all]\n        jobExecutionsRollout: { maximumPerMinute: 10 }");
const JOB_RATE_ABOVE_CREATE_JOB_S_LIMIT: &str = shaped!(
    "        targets: [all]\n        jobExecutionsRolloutConfig: { maximumPerMinute: 5000 }"
);
const JOB_SETTING_ITS_OWN_ID: &str = shaped!("        targets: [all]\n        jobId: x");

const GROUP_BEYOND_THE_FLEET: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout:
    groups: [{ name: all, members: { from: 2, count: 5 } }]
    jobs: [{ id: fw, targets: [all] }]
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
";

const COMPLETED_WITHIN_WITHOUT_UNIT: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: {}
  behaviour: { work: { constant: 1 } }
  load: { model: closed }
  thresholds:
    rollout: { completed-within: '7' }
";

/// A step timeout below the signed 64-bit range: YAML reads it as the float -2^63, which is
/// not what the file says.
const STEP_TIMEOUT_BELOW_I64: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout: {}
  behaviour: { step-timeout-minutes: -9223372036854775809 }
  load: { model: closed }
";

const DOCUMENT_UNDERFLOWS: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout:
    document: { wait: 1e-999999 }
  behaviour: {}
  load: { model: closed }
";

const DOCUMENT_OVERFLOWS: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout:
    document: { wait: 1e999999 }
  behaviour: {}
  load: { model: closed }
";

const JOB_DOCUMENT_BEYOND_U64: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http
  rollout:
    groups: [{ name: g }]
    jobs:
      - id: j
        targets: [g]
        document: { expectedVersion: 18446744073709551616 }
  behaviour: {}
  load: { model: closed }
";

const BAD_YAML: &str = "\
fleet:
  name: bad
  things: { count: 4 }
  transport: http: mqtt
  rollout: { jobs-per-thing: 1 }
";

/// `jobcert fleet FILE` refuses a malformed file with exit code 2 and names
/// `FILE:LINE:COLUMN:` on the line of the offending member, with a message; it writes no
/// report and does not panic. The schema refuses the same file where it can express the rule.
#[rstest]
#[case::unknown_key(UNKNOWN_KEY, 8, "unknown field `colour`", Refuses("fleet"))]
#[case::wrong_type(WRONG_TYPE, 3, "u64", Refuses("fleet.things.count"))]
#[case::unknown_transport(UNKNOWN_TRANSPORT, 4, "coap", Refuses("fleet.transport"))]
#[case::outcomes_not_adding_to_1(OUTCOMES_NOT_ADDING_TO_1, 8, "add up to 1", CannotExpress)]
#[case::outcome_key_in_lower_case(
    OUTCOME_KEY_IN_LOWER_CASE,
    8,
    "unknown field `succeeded`",
    Refuses("fleet.behaviour.outcomes")
)]
#[case::silent_without_step_timeout(
    SILENT_WITHOUT_STEP_TIMEOUT,
    8,
    "step-timeout-minutes",
    Refuses("fleet.behaviour")
)]
#[case::two_distribution_forms(TWO_DISTRIBUTION_FORMS, 8, "", Refuses("fleet.behaviour.work"))]
#[case::unknown_distribution(UNKNOWN_DISTRIBUTION, 8, "normal", Refuses("fleet.behaviour.work"))]
#[case::uniform_upside_down(UNIFORM_UPSIDE_DOWN, 6, "behaviour.work", CannotExpress)]
#[case::open_without_rate_or_stages(
    OPEN_WITHOUT_RATE_OR_STAGES,
    8,
    "the open model needs rate or stages",
    Refuses("fleet.load")
)]
#[case::rate_with_the_closed_model(
    RATE_WITH_THE_CLOSED_MODEL,
    9,
    "load.rate: belongs to the open model",
    Refuses("fleet.load.rate")
)]
#[case::name_without_index(
    NAME_WITHOUT_INDEX,
    3,
    "must contain {index}",
    Refuses("fleet.things.name")
)]
#[case::name_create_thing_refuses(
    NAME_CREATE_THING_REFUSES,
    3,
    "CreateThing refuses",
    Refuses("fleet.things.name")
)]
#[case::name_too_long(NAME_TOO_LONG, 5, "CreateThing refuses", CannotExpress)]
#[case::threshold_of_an_unknown_operation(
    THRESHOLD_OF_AN_UNKNOWN_OPERATION,
    10,
    "unknown operation \"Frobnicate\"",
    Refuses("fleet.thresholds.latency.0.operation")
)]
#[case::percentile_zero(
    PERCENTILE_ZERO,
    10,
    "percentile: 0 is not in (0, 100]",
    Refuses("fleet.thresholds.latency.0.percentile")
)]
#[case::bound_without_min_or_max(
    BOUND_WITHOUT_MIN_OR_MAX,
    9,
    "error-rate: needs min or max",
    Refuses("fleet.thresholds.error-rate")
)]
#[case::until_duration_without_duration(
    UNTIL_DURATION_WITHOUT_DURATION,
    8,
    "duration needs run.duration-s",
    Refuses("fleet")
)]
#[case::negative_duration(NEGATIVE_DURATION, 8, "duration-s", Refuses("fleet.run.duration-s"))]
#[case::no_things(NO_THINGS, 4, "things.count", Refuses("fleet.things.count"))]
#[case::zero_pool(ZERO_POOL, 10, "http.pool", Refuses("fleet.http.pool"))]
#[case::document_not_a_mapping(
    DOCUMENT_NOT_A_MAPPING,
    7,
    "rollout.document: must be a mapping",
    Refuses("fleet.rollout.document")
)]
#[case::job_of_an_unknown_group(
    JOB_OF_AN_UNKNOWN_GROUP,
    9,
    "\"some\" is not a group of rollout.groups",
    CannotExpress
)]
#[case::job_with_a_member_create_job_lacks(
    JOB_WITH_A_MEMBER_CREATE_JOB_LACKS,
    10,
    "jobExecutionsRollout: is not a member of CreateJob",
    CannotExpress
)]
#[case::job_rate_above_create_job_s_limit(
    JOB_RATE_ABOVE_CREATE_JOB_S_LIMIT,
    10,
    "maximumPerMinute",
    CannotExpress
)]
#[case::job_setting_its_own_id(
    JOB_SETTING_ITS_OWN_ID,
    10,
    "jobId: is set by the fleet",
    CannotExpress
)]
#[case::group_beyond_the_fleet(
    GROUP_BEYOND_THE_FLEET,
    6,
    "names things 2..7 of a fleet of 4",
    CannotExpress
)]
#[case::completed_within_without_unit(
    COMPLETED_WITHIN_WITHOUT_UNIT,
    9,
    "not a duration like 90s",
    Refuses("fleet.thresholds.rollout")
)]
#[case::listener_over_http(LISTENER_OVER_HTTP, 7, "only MQTT carries", Refuses("fleet.transport"))]
#[case::listener_with_the_poll_program(
    LISTENER_WITH_THE_POLL_PROGRAM,
    8,
    "the poll program never does",
    CannotExpress
)]
#[case::listener_fallback_zero(
    LISTENER_FALLBACK_ZERO,
    8,
    "behaviour.listener-fallback-s",
    Refuses("fleet.behaviour.listener-fallback-s")
)]
#[case::offline_share_above_1(
    OFFLINE_SHARE_ABOVE_1,
    8,
    "behaviour.offline.share",
    Refuses("fleet.behaviour.offline")
)]
#[case::offline_uniform_upside_down(
    OFFLINE_UNIFORM_UPSIDE_DOWN,
    9,
    "behaviour.offline.for-ms",
    CannotExpress
)]
#[case::storm_over_http(
    STORM_OVER_HTTP,
    7,
    "only MQTT devices keep",
    Refuses("fleet.transport")
)]
#[case::storm_at_a_negative_time(
    STORM_AT_A_NEGATIVE_TIME,
    8,
    "behaviour.reconnect-storm.at-s",
    Refuses("fleet.behaviour.reconnect-storm")
)]
#[case::retry_of_an_unknown_operation(
    RETRY_OF_AN_UNKNOWN_OPERATION,
    12,
    "\"Reconnect\" is not a device operation or CONNECT",
    Refuses("fleet.behaviour.retry")
)]
// A number the fleet sends is sent as written, or refused where it is written.
#[case::step_timeout_below_i64(
    STEP_TIMEOUT_BELOW_I64,
    6,
    "outside the 64-bit integer range",
    CannotExpress
)]
#[case::document_underflows(DOCUMENT_UNDERFLOWS, 6, "underflows", CannotExpress)]
#[case::document_overflows(DOCUMENT_OVERFLOWS, 6, "non-finite", NotYaml)]
#[case::job_document_beyond_u64(
    JOB_DOCUMENT_BEYOND_U64,
    10,
    "outside the 64-bit integer range",
    CannotExpress
)]
// A missing member is reported where its mapping ends.
#[case::missing_load(MISSING_LOAD, 6, "missing field `load`", Refuses("fleet"))]
#[case::a_list_not_a_mapping(A_LIST, 1, "mapping", Refuses(""))]
#[case::fleet_not_a_mapping(FLEET_NOT_A_MAPPING, 1, "mapping", Refuses("fleet"))]
#[case::bad_yaml(BAD_YAML, 4, "", NotYaml)]
#[case::empty_file("", 1, "", NotYaml)]
fn a_malformed_fleet_file_is_refused(
    #[case] text: &str,
    #[case] line: u64,
    #[case] message: &str,
    #[case] schema: SchemaSays,
    #[values(Check::Binary, Check::Schema)] check: Check,
) {
    match check {
        Check::Binary => binary_refuses(text, line, message),
        Check::Schema => schema_refuses(text, schema),
    }
}

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

fn binary_refuses(text: &str, line: u64, message: &str) {
    let scratch = scratch("malformed");
    let path = scratch.write("fleet.yaml", text);
    let reports = scratch.path().join("reports");
    let ran = jobcert(
        &args([
            OsString::from("fleet"),
            path.clone().into_os_string(),
            OsString::from("--report-dir"),
            reports.clone().into_os_string(),
            OsString::from("--quiet"),
        ]),
        &scratch,
        LIMIT,
    );
    assert_eq!(ran.code, Some(2), "exit code 2 expected: {ran}");
    assert!(
        ran.stderr.contains(message),
        "the message should mention {message:?}: {ran}"
    );
    let (reported, column) = reported_location(&ran.stderr, &path)
        .unwrap_or_else(|| panic!("no `{}:line:column:` in stderr: {ran}", path.display()));
    assert_eq!(
        reported,
        line,
        "reported on line {reported}, but the problem is on line {line}:\n{}\n{ran}",
        numbered(text)
    );
    assert!(column > 0, "column 0: {ran}");
    assert!(
        !reports.exists(),
        "a refused scenario wrote reports to {}: {ran}",
        reports.display()
    );
}

/// `text` with line numbers, for messages.
fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>3} | {l}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

fn schema_refuses(text: &str, schema: SchemaSays) {
    match schema {
        Refuses(field) => {
            let document = yaml_to_json(text).expect("the text is YAML");
            let violations = fleet_schema().violations(&document);
            assert!(
                violations.iter().any(|v| v.field == field),
                "the schema should refuse `{field}`; its violations: {violations:#?}\nof:\n{text}"
            );
        }
        CannotExpress => {
            // The loader's rule is beyond the schema: the schema admits the document, so
            // the binary's refusal above is the only guard.
            let document = yaml_to_json(text).expect("the text is YAML");
            let violations = fleet_schema().violations(&document);
            assert!(
                violations.is_empty(),
                "the schema refuses this now; mark the case Refuses(..): {violations:#?}"
            );
        }
        NotYaml => {
            let document = yaml_to_json(text);
            assert!(
                document.as_ref().is_err() || document.as_ref().is_ok_and(Value::is_null),
                "expected no document, got {document:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values the loader admits.

/// Values at the edges of what the loader admits (positive but absurd times and rates) never
/// panic a run: it is refused (2), or it runs and ends with a verdict (0 or 1).
#[rstest]
#[case::huge_time_bound("  run: { max-duration-s: 1e300 }\n")]
#[case::huge_duration("  run: { until: duration, duration-s: 1e300, max-duration-s: 20 }\n")]
#[case::tiny_connect_rate("  connect: { rate: 1e-300 }\n  run: { max-duration-s: 3 }\n")]
#[case::tiny_rollout_rate(
    "  rollout: { jobs-per-thing: 2, rate: 1e-300 }\n  run: { max-duration-s: 3 }\n"
)]
fn an_admitted_extreme_value_does_not_panic(#[case] tail: &str) {
    let text = format!(
        "fleet:\n  name: edge\n  things: {{ count: 3 }}\n  transport: http\n  behaviour: {{}}\n  load: {{ model: closed }}\n{}{tail}",
        if tail.contains("rollout") {
            ""
        } else {
            "  rollout: {}\n"
        }
    );
    let scratch = scratch("extreme");
    let path = scratch.write("fleet.yaml", &text);
    let ran = jobcert(
        &args([
            OsString::from("fleet"),
            path.into_os_string(),
            OsString::from("--report-dir"),
            scratch.path().join("reports").into_os_string(),
            OsString::from("--quiet"),
        ]),
        &scratch,
        LIMIT,
    );
    assert!(
        matches!(ran.code, Some(0..=2)),
        "exit 0, 1 or 2 expected:\n{text}\n{ran}"
    );
}
