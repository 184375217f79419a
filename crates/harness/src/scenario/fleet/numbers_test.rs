//! A fleet file's numbers that go on the wire (job documents, CreateJob's members, the step
//! timeout) are sent as written or refused at `file:line:column`, by the scenario loader's own
//! check (`scenario::exact_numbers`); the fleet's own figures (times, rates) are not sent.

use rstest::rstest;

use super::load_fleet;

/// A fleet file whose `rollout` and `behaviour` are `rollout` and `behaviour` (line 5 and 6).
fn fleet(rollout: &str, behaviour: &str) -> String {
    format!(
        "fleet:\n  name: numbers\n  things: {{ count: 2 }}\n  transport: http\n  rollout: {rollout}\n  behaviour: {behaviour}\n  load: {{ model: closed }}\n"
    )
}

const GROUP: &str = "groups: [{ name: g }], jobs: [{ id: j, targets: [g]";

#[rstest]
#[case::step_timeout_below_i64(
    "{}",
    "{ step-timeout-minutes: -9223372036854775809 }",
    Some((6, "outside the 64-bit integer range"))
)]
#[case::step_timeout_underflows(
    "{}",
    "{ step-timeout-minutes: 1e-999999 }",
    Some((6, "underflows: it would be sent as 0.0"))
)]
#[case::document_beyond_u64(
    "{ document: { expectedVersion: 18446744073709551616 } }",
    "{}",
    Some((5, "outside the 64-bit integer range"))
)]
#[case::document_overflows("{ document: { n: 1e999999 } }", "{}", Some((5, "non-finite")))]
#[case::document_too_many_digits(
    "{ document: { n: 0.10000000000000000001 } }",
    "{}",
    Some((5, "more digits than a 64-bit float holds"))
)]
#[case::job_document_underflows(
    &format!("{{ {GROUP}, document: {{ n: 1e-999999 }} }}] }}"),
    "{}",
    Some((5, "underflows"))
)]
#[case::create_job_member_beyond_u64(
    &format!("{{ {GROUP}, timeoutConfig: {{ inProgressTimeoutInMinutes: 18446744073709551616 }} }}] }}"),
    "{}",
    Some((5, "outside the 64-bit integer range"))
)]
#[case::in_progress_timeout_beyond_u64(
    "{ in-progress-timeout-minutes: 18446744073709551616 }",
    "{}",
    Some((5, "outside the 64-bit integer range"))
)]
#[case::document_as_written("{ document: { n: 0.5, m: 9223372036854775807 } }", "{}", None)]
#[case::step_timeout_as_written("{}", "{ step-timeout-minutes: 5 }", None)]
#[case::job_time_is_not_sent(
    &format!("{{ {GROUP}, at-s: 0.10000000000000000001 }}] }}"),
    "{}",
    None
)]
fn numbers_a_fleet_sends_go_as_written(
    #[case] rollout: &str,
    #[case] behaviour: &str,
    #[case] refused: Option<(u64, &str)>,
) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, fleet(rollout, behaviour)).expect("write");
    match (load_fleet(&file), refused) {
        (Ok(_), None) => {}
        (Err(errors), Some((line, why))) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            let e = &errors[0];
            assert_eq!((e.file.as_path(), e.line), (file.as_path(), line), "{e}");
            assert!(e.column > 12, "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
        (got, want) => panic!("{rollout} {behaviour}: expected {want:?}, got {got:?}"),
    }
}
