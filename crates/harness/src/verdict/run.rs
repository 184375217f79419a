//! From findings to verdicts: per case, per requirement (the coverage matrix), and for the run,
//! under a profile and a list of accepted deviations.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::finding::{Cause, Finding, Profile, Severity, severity};
use crate::record::RunRecord;
use jobcert_contract::{Level, RequirementId, catalogue};

/// A known, accepted departure from one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// Requirement ID.
    pub requirement: RequirementId,
    /// Why it is accepted.
    pub reason: String,
}

/// A deviation as written, its ID still text so that an unknown one is reported where it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviationSpec {
    requirement: Spanned<String>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviationsFile {
    deviations: Vec<DeviationSpec>,
}

/// A deviations file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct DeviationsError {
    path: String,
    line: u64,
    column: u64,
    message: String,
}

/// Reads a deviations file (`deviations: [{requirement, reason}]`); unknown requirement IDs are errors.
pub fn load_deviations(path: &Path) -> Result<Vec<Deviation>, DeviationsError> {
    let err = |line, column, message| DeviationsError {
        path: path.display().to_string(),
        line,
        column,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, 0, format!("cannot read: {e}")))?;
    let file: DeviationsFile = serde_saphyr::from_str(&text).map_err(|e| {
        let (l, c) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        err(l, c, e.without_snippet().to_string())
    })?;
    file.deviations
        .into_iter()
        .map(|d| {
            let id = &d.requirement;
            match RequirementId::parse(&id.value) {
                Ok(requirement) => Ok(Deviation {
                    requirement,
                    reason: d.reason,
                }),
                Err(_) => Err(err(
                    id.referenced.line(),
                    id.referenced.column(),
                    format!("unknown requirement ID {}", id.value),
                )),
            }
        })
        .collect()
}

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check met.
    Pass,
    /// Only warnings.
    Warn,
    /// Failures, all of them accepted deviations.
    Deviation,
    /// At least one failure.
    Fail,
    /// Could not run to its end.
    Aborted,
    /// Never exercised (requirements only).
    Untested,
}

/// One weighed finding.
#[derive(Debug, Clone, Serialize)]
pub struct Weighed {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// Its weight.
    pub severity: Severity,
}

/// A case's verdict and the findings that decided it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseVerdict {
    /// Case id.
    pub id: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Checks made.
    pub checks: usize,
    /// Every finding that is not a pass.
    pub problems: Vec<Weighed>,
}

impl CaseVerdict {
    /// The problems as causes, each with the follow-ons that name it, in finding order. A
    /// follow-on whose cause is not among the problems stands on its own.
    pub fn grouped(&self) -> Vec<(&Weighed, Vec<&Weighed>)> {
        let is_cause_of = |cause: &Weighed, follow: &Weighed| {
            follow.finding.caused_by.is_some_and(|c| {
                Cause::of(&cause.finding) == c && cause.finding.caused_by.is_none()
            })
        };
        let mut groups: Vec<(&Weighed, Vec<&Weighed>)> = Vec::new();
        for p in &self.problems {
            if self.problems.iter().any(|c| is_cause_of(c, p)) {
                continue;
            }
            let follows = self.problems.iter().filter(|f| is_cause_of(p, f)).collect();
            groups.push((p, follows));
        }
        groups
    }
}

/// One row of the coverage matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Requirement ID.
    pub id: String,
    /// Operation.
    pub operation: String,
    /// Level.
    pub level: Level,
    /// Spec section.
    pub section: String,
    /// Summary.
    pub summary: String,
    /// Cases that checked it.
    pub cases: Vec<String>,
    /// Checks made.
    pub checks: usize,
    /// Worst outcome.
    pub verdict: Verdict,
    /// Why the suite cannot trigger it, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
    /// The accepted deviation, if one applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deviation: Option<String>,
}

/// Counts of case verdicts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Cases run.
    pub cases: usize,
    /// Passed.
    pub passed: usize,
    /// Passed with warnings.
    pub warned: usize,
    /// Failed only on accepted deviations.
    pub deviations: usize,
    /// Failed.
    pub failed: usize,
    /// Aborted.
    pub aborted: usize,
    /// Checks made.
    pub checks: usize,
}

/// Everything the reports say about a run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// The profile used.
    pub profile: Profile,
    /// Per case, in run order.
    pub cases: Vec<CaseVerdict>,
    /// The coverage matrix, in catalogue order.
    pub coverage: Vec<Coverage>,
    /// Deviations that matched no failure.
    pub unused_deviations: Vec<Deviation>,
    /// Counts.
    pub totals: Totals,
    /// The CI verdict: no failure, nothing aborted, not partial, and at least one check made.
    pub passed: bool,
}

fn weigh(f: &Finding, profile: Profile, deviations: &[Deviation]) -> Severity {
    match severity(f, profile) {
        Severity::Failure if deviations.iter().any(|d| d.requirement == f.requirement) => {
            Severity::Deviation
        }
        s => s,
    }
}

fn verdict_of(severities: impl Iterator<Item = Severity>) -> Verdict {
    match severities.max() {
        Some(Severity::Failure) => Verdict::Fail,
        Some(Severity::Deviation) => Verdict::Deviation,
        Some(Severity::Warning) => Verdict::Warn,
        _ => Verdict::Pass,
    }
}

/// Weighs every finding of `run`.
pub fn assess(run: &RunRecord, profile: Profile, deviations: &[Deviation]) -> Assessment {
    let mut totals = Totals::default();
    let mut cases = Vec::new();
    let mut by_requirement: BTreeMap<RequirementId, (Vec<String>, usize, Vec<Severity>)> =
        BTreeMap::new();
    let mut used = vec![false; deviations.len()];
    for case in &run.cases {
        let weighed: Vec<Weighed> = case
            .findings
            .iter()
            .map(|f| Weighed {
                finding: f.clone(),
                severity: weigh(f, profile, deviations),
            })
            .collect();
        for w in &weighed {
            let entry = by_requirement.entry(w.finding.requirement).or_default();
            if !entry.0.contains(&case.id) {
                entry.0.push(case.id.clone());
            }
            entry.1 += 1;
            entry.2.push(w.severity);
            if w.severity == Severity::Deviation {
                for (i, d) in deviations.iter().enumerate() {
                    used[i] |= d.requirement == w.finding.requirement;
                }
            }
        }
        let verdict = if case.aborted.is_some() {
            Verdict::Aborted
        } else {
            verdict_of(weighed.iter().map(|w| w.severity))
        };
        totals.cases += 1;
        totals.checks += weighed.len();
        match verdict {
            Verdict::Pass => totals.passed += 1,
            Verdict::Warn => totals.warned += 1,
            Verdict::Deviation => totals.deviations += 1,
            Verdict::Fail => totals.failed += 1,
            Verdict::Aborted | Verdict::Untested => totals.aborted += 1,
        }
        cases.push(CaseVerdict {
            id: case.id.clone(),
            verdict,
            checks: weighed.len(),
            problems: weighed
                .into_iter()
                .filter(|w| w.severity != Severity::Pass)
                .collect(),
        });
    }
    let coverage = RequirementId::ALL
        .iter()
        .map(|&id| {
            let r = catalogue().requirement(id);
            let (cases, checks, severities) = by_requirement.remove(&id).unwrap_or_default();
            let verdict = if checks == 0 {
                Verdict::Untested
            } else {
                verdict_of(severities.into_iter())
            };
            Coverage {
                id: r.id.clone(),
                operation: r.operation.clone(),
                level: r.level,
                section: r.section.clone(),
                summary: r.summary.clone(),
                cases,
                checks,
                verdict,
                // Exercised after all (a target told to fault, an mTLS endpoint given): the reason
                // no longer holds.
                untestable: r.untestable.clone().filter(|_| checks == 0),
                deviation: deviations
                    .iter()
                    .find(|d| d.requirement == id)
                    .map(|d| d.reason.clone()),
            }
        })
        .collect();
    let unused_deviations = deviations
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(d, _)| d.clone())
        .collect();
    let passed = totals.failed == 0 && totals.aborted == 0 && totals.checks > 0 && !run.partial;
    Assessment {
        profile,
        cases,
        coverage,
        unused_deviations,
        totals,
        passed,
    }
}

#[cfg(test)]
mod tests {
    use jobcert_contract::req;

    use super::*;

    /// Writes `text` to a file of its own and reads it as a deviations file.
    fn load(name: &str, text: &str) -> Result<Vec<Deviation>, DeviationsError> {
        let path = std::env::temp_dir().join(format!(
            "jobcert-deviations-{name}-{}.yaml",
            uuid::Uuid::new_v4()
        ));
        std::fs::write(&path, text).expect("write the deviations file");
        let loaded = load_deviations(&path);
        std::fs::remove_file(&path).expect("remove the deviations file");
        loaded
    }

    fn weighed(finding: Finding) -> Weighed {
        let severity = severity(&finding, Profile::Aws);
        Weighed { finding, severity }
    }

    #[test]
    fn follow_ons_are_grouped_under_their_cause() {
        let cause = Finding::fail(req::TM_STEP_EXPIRY, "never fired", Some(4));
        let follow =
            Finding::fail(req::UP_TERMINAL, "accepted", Some(5)).following(Cause::of(&cause));
        let orphan = Finding::fail(req::GP_CONTENT, "listed", Some(6)).following(Cause {
            requirement: req::DE_NEXT,
            exchange: Some(1),
        });
        let other = Finding::fail(req::SN_START, "not started", Some(7));
        let verdict = CaseVerdict {
            id: "c".into(),
            verdict: Verdict::Fail,
            checks: 4,
            problems: [cause, follow, orphan, other].map(weighed).to_vec(),
        };
        let shape: Vec<(RequirementId, Vec<RequirementId>)> = verdict
            .grouped()
            .into_iter()
            .map(|(c, f)| {
                (
                    c.finding.requirement,
                    f.iter().map(|w| w.finding.requirement).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (req::TM_STEP_EXPIRY, vec![req::UP_TERMINAL]),
                (req::GP_CONTENT, vec![]),
                (req::SN_START, vec![]),
            ]
        );
    }

    /// A run of one case with `findings`.
    fn run_of(findings: Vec<Finding>) -> RunRecord {
        RunRecord {
            run_id: "r".into(),
            started_at_ms: 0,
            duration_ms: 1,
            target: crate::record::TargetInfo {
                data_plane: "http://127.0.0.1:1".into(),
                control_plane: "http://127.0.0.1:2".into(),
                transport: "http".into(),
                time_scale: 1.0,
                embedded: true,
                signed: false,
            },
            partial: false,
            cases: vec![crate::record::CaseRecord {
                id: "update/timer".into(),
                suite: "update".into(),
                name: "timer".into(),
                description: None,
                source: None,
                requirements: vec![req::TM_STEP_EXPIRY],
                tags: vec![],
                findings,
                exchanges: vec![],
                aborted: None,
                duration_ms: 1,
                discarded: Vec::new(),
            }],
            latency: crate::record::LatencyBook::default(),
        }
    }

    fn coverage_of(assessment: &Assessment, id: RequirementId) -> Verdict {
        let row = assessment.coverage.iter().find(|c| c.id == id.as_str());
        row.expect("every requirement has a row").verdict
    }

    // One fault, one failure: a follow-on neither fails its case on its own nor turns its
    // requirement red; its cause does both.
    #[rstest::rstest]
    #[case::with_its_cause(true, Verdict::Fail, 1)]
    #[case::alone(false, Verdict::Pass, 0)]
    fn a_follow_on_counts_for_nothing(
        #[case] with_cause: bool,
        #[case] case_verdict: Verdict,
        #[case] failed: usize,
    ) {
        let cause = Finding::fail(req::TM_STEP_EXPIRY, "never fired", Some(4));
        let follow =
            Finding::fail(req::UP_TERMINAL, "accepted", Some(5)).following(Cause::of(&cause));
        let mut findings = vec![
            follow,
            Finding::pass(req::UP_TRANSITION, "accepted", Some(5)),
        ];
        if with_cause {
            findings.insert(0, cause);
        }
        for profile in [Profile::Aws, Profile::Strict] {
            let assessment = assess(&run_of(findings.clone()), profile, &[]);
            assert_eq!(assessment.cases[0].verdict, case_verdict);
            assert_eq!(assessment.totals.failed, failed);
            assert_eq!(assessment.passed, failed == 0);
            assert_eq!(coverage_of(&assessment, req::UP_TERMINAL), Verdict::Pass);
            let expiry = if with_cause {
                Verdict::Fail
            } else {
                Verdict::Untested
            };
            assert_eq!(coverage_of(&assessment, req::TM_STEP_EXPIRY), expiry);
            let follow = assessment.cases[0]
                .problems
                .iter()
                .find(|p| p.finding.requirement == req::UP_TERMINAL)
                .expect("the follow-on is shown");
            assert_eq!(follow.severity, Severity::FollowOn);
        }
    }

    #[test]
    fn a_deviation_names_its_requirement_by_id() {
        let loaded = load(
            "known",
            "deviations:\n  - requirement: GP-CAP\n    reason: pages of 10\n",
        )
        .expect("loads");
        assert_eq!(
            loaded,
            vec![Deviation {
                requirement: req::GP_CAP,
                reason: "pages of 10".into(),
            }]
        );
    }

    #[test]
    fn an_unknown_requirement_id_is_refused_where_it_is_written() {
        let err = load(
            "unknown",
            "deviations:\n  - requirement: GP-CAP\n    reason: a\n  - requirement: GP-NOPE\n    reason: b\n",
        )
        .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.ends_with(":4:18: unknown requirement ID GP-NOPE"),
            "{text}"
        );
    }
}
