//! Malformed scenario files through the binary: exit code 2 and `file:line:column:` at the
//! right place.

use super::*;

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
#[case::stricter_than_the_requirement(
    b"cases:\n  - name: c\n    requirements: [UP-EXPECTED-VERSION]\n    things: [dev]\n    jobs:\n      - { id: j, targets: [dev] }\n    steps:\n      - update: { thing: dev, job: j, status: SUCCEEDED, expectedVersion: 9 }\n        expect: { status: 409, error: InvalidStateTransitionException }\n",
    At::Exact(8, 9),
    "stricter than UP-EXPECTED-VERSION: \u{a7}7.3 also allows 400 InvalidRequestException"
)]
#[case::strict_only_where_one_answer_is_allowed(
    b"cases:\n  - name: c\n    requirements: [DE-NOT-FOUND]\n    things: [dev]\n    steps:\n      - describe: { thing: dev, jobId: nope }\n        expect: { status: 404, strict-only: true }\n",
    At::Exact(6, 9),
    "DE-NOT-FOUND allows only one answer"
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
    let scratch = scratch("malformed");
    let path = scratch.write("scenario.yaml", text);
    let reports = scratch.path().join("reports");

    let ran = jobcert(
        &[OsString::from("validate"), path.clone().into_os_string()],
        scratch.path(),
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
        scratch.path(),
        &scratch,
    );
    assert_refused(&ran, &path, at, message);
    assert!(
        !reports.exists(),
        "a refused run wrote reports to {}: {ran}",
        reports.display()
    );
}
