//! The kit of the non-conforming-target suites: the real plan for a binding, the target and
//! settings they run it with, the record weighed under the AWS profile, and the failures read
//! back from the assessment.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jobcert_contract::{Binding, RequirementId, req};
use jobcert_harness::drive::conformance::Settings;
use jobcert_harness::finding::{Profile, Severity};
use jobcert_harness::plan::Plan;
use jobcert_harness::plan::generate;
use jobcert_harness::record::{CaseRecord, LatencyBook, RunRecord, TargetInfo};
use jobcert_harness::scenario::{load, scenario_files};
use jobcert_harness::transport::target::control_plane;
use jobcert_harness::transport::{DataPlane, Outcome, Target};
use jobcert_harness::verdict::{Assessment, Weighed, assess};

use super::root;

/// Clock speed of the reference behind the faulty targets.
pub const TIME_SCALE: f64 = 600.0;

/// The real plan over `binding`: `scenarios/conformance` plus the generated negative cases,
/// keeping only the cases that carry one of `only` (requirement ID, tag or case id; all when
/// empty).
pub fn plan(binding: Binding, only: &[&str]) -> Plan {
    let files = scenario_files(&[root().join("scenarios/conformance")]).expect("scenario files");
    let mut plan = Plan {
        cases: load(&files).expect("scenarios load"),
    };
    plan.cases
        .extend(generate::negative_cases(binding).expect("negative cases generate"));
    let only: Vec<String> = only.iter().map(ToString::to_string).collect();
    plan.filter(&only, &[]);
    let plan = plan.over(binding);
    assert!(
        !plan.cases.is_empty(),
        "no {binding:?} case matches {only:?}"
    );
    plan
}

/// A target whose data plane is `data` and whose control plane is `control`.
pub fn target(data: DataPlane, control: &str) -> Target {
    Target {
        data,
        control: control_plane(control).expect("the control plane's URL"),
        time_scale: TIME_SCALE,
        signer: None,
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        embedded: false,
        tls: Default::default(),
    }
}

/// Run settings under the AWS profile with request deadline `deadline`, timed from `origin`.
pub fn settings(run_id: String, deadline: Duration, origin: Instant) -> Settings {
    Settings {
        run_id,
        deadline,
        max_wait: Duration::from_secs(5),
        concurrency: 8,
        profile: Profile::Aws,
        origin,
        rate: None,
        status: None,
        heard: None,
    }
}

/// The record of a run of `cases` (begun at `origin`) against `data_plane` and `control` over
/// `transport`, and its assessment under the AWS profile.
pub fn weigh(
    run_id: String,
    origin: Instant,
    (data_plane, control, transport): (String, String, &str),
    cases: Vec<CaseRecord>,
) -> (RunRecord, Assessment) {
    let record = RunRecord {
        run_id,
        started_at_ms: 0,
        duration_ms: origin.elapsed().as_millis() as u64,
        target: TargetInfo {
            data_plane,
            control_plane: control,
            transport: transport.into(),
            time_scale: TIME_SCALE,
            embedded: false,
            signed: false,
        },
        partial: false,
        cases,
        latency: LatencyBook::default(),
    };
    let assessment = assess(&record, Profile::Aws, &[]);
    (record, assessment)
}

/// Every finding weighed as a failure, with the id of its case.
pub fn failures(assessment: &Assessment) -> Vec<(&str, &Weighed)> {
    assessment
        .cases
        .iter()
        .flat_map(|c| c.problems.iter().map(move |w| (c.id.as_str(), w)))
        .filter(|(_, w)| w.severity == Severity::Failure)
        .collect()
}

/// One line per failure, for assertion messages.
pub fn listing(failures: &[(&str, &Weighed)]) -> String {
    failures
        .iter()
        .map(|(case, w)| format!("  {case}: {} {}", w.finding.requirement, w.finding.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The requirement IDs the failures cite.
pub fn cited<'a>(failures: &[(&str, &'a Weighed)]) -> BTreeSet<&'a str> {
    failures
        .iter()
        .map(|(_, w)| w.finding.requirement.as_str())
        .collect()
}

/// The messages of the failures under `requirement`.
pub fn messages<'a>(failures: &[(&str, &'a Weighed)], requirement: RequirementId) -> Vec<&'a str> {
    failures
        .iter()
        .filter(|(_, w)| w.finding.requirement == requirement)
        .map(|(_, w)| w.finding.message.as_str())
        .collect()
}

/// Asserts that the run has no failure and no aborted case.
pub fn assert_clean(assessment: &Assessment, what: &str) {
    let failed = failures(assessment);
    assert!(failed.is_empty(), "{what}: failures:\n{}", listing(&failed));
    assert_eq!(assessment.totals.aborted, 0, "{what}: aborted cases");
    assert!(assessment.totals.checks > 0, "{what}: nothing was checked");
    assert!(assessment.passed, "{what}: the run did not pass");
}

/// The exchanges of `record` that timed out, by sequence number.
pub fn timed_out(record: &RunRecord) -> BTreeSet<u64> {
    record
        .cases
        .iter()
        .flat_map(|c| &c.exchanges)
        .filter(|e| matches!(e.outcome, Outcome::Timeout { .. }))
        .map(|e| e.seq)
        .collect()
}

/// Failures other than WI-ANSWER that cite a timed-out exchange: a timeout judged as a wrong
/// answer as well.
pub fn doubled<'a>(record: &RunRecord, assessment: &'a Assessment) -> Vec<(&'a str, &'a Weighed)> {
    let timed_out = timed_out(record);
    failures(assessment)
        .into_iter()
        .filter(|(_, w)| w.finding.requirement != req::WI_ANSWER)
        .filter(|(_, w)| w.finding.exchange.is_some_and(|s| timed_out.contains(&s)))
        .collect()
}

/// Asserts that the run failed WI-ANSWER, and that every exchange those failures cite is a
/// timeout of `operation` at `deadline`.
pub fn assert_timeouts_cited(
    record: &RunRecord,
    assessment: &Assessment,
    operation: &str,
    deadline: Duration,
) {
    let late: Vec<u64> = failures(assessment)
        .iter()
        .filter(|(_, w)| w.finding.requirement == req::WI_ANSWER)
        .map(|(_, w)| {
            w.finding
                .exchange
                .expect("a WI-ANSWER failure cites its exchange")
        })
        .collect();
    assert!(!late.is_empty(), "no WI-ANSWER failure");
    let exchanges: Vec<_> = record.cases.iter().flat_map(|c| &c.exchanges).collect();
    for seq in late {
        let exchange = exchanges
            .iter()
            .find(|e| e.seq == seq)
            .expect("the cited exchange is recorded");
        assert_eq!(exchange.operation, operation);
        assert_eq!(
            exchange.outcome,
            Outcome::Timeout {
                deadline_ms: deadline.as_millis() as u64
            },
            "exchange {seq} should be a timeout"
        );
    }
}
