//! Reading scenario files into plan cases, with every problem reported as `file:line:column`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::exact_numbers;
use super::model::{CaseSpec, Input, ScenarioFile, StepSpec};
use crate::plan::{Action, Expectation, JobFixture, PlannedCase, Source, Step};
use jobcert_contract::{Binding, NEXT_EXECUTION, Operation, RequirementId, errors};

/// A problem in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// Every `*.yaml` / `*.yml` file under `paths` (files are taken as given), sorted.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for path in paths {
        collect(path, &mut out).map_err(|e| ScenarioError {
            file: path.clone(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
    }
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            if entry.is_dir() || entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                collect(&entry, out)?;
            }
        }
    } else {
        std::fs::metadata(path)?;
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Loads every case of the given files; all problems of all files are returned together.
pub fn load(files: &[PathBuf]) -> Result<Vec<PlannedCase>, Vec<ScenarioError>> {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match load_file(path) {
            Ok(mut c) => cases.append(&mut c),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut seen = HashSet::new();
    for case in &cases {
        if !seen.insert(case.id.clone())
            && let Some(source) = &case.source
        {
            errors.push(error_at(
                source,
                format!("case id {} is used twice", case.id),
            ));
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

fn error_at(source: &Source, message: String) -> ScenarioError {
    ScenarioError {
        file: source.file.clone(),
        line: source.line,
        column: source.column,
        message,
    }
}

fn source<T>(file: &Path, spanned: &Spanned<T>) -> Source {
    Source {
        file: file.to_path_buf(),
        line: spanned.referenced.line(),
        column: spanned.referenced.column(),
    }
}

/// Loads one file.
pub fn load_file(path: &Path) -> Result<Vec<PlannedCase>, Vec<ScenarioError>> {
    let bytes = std::fs::read(path).map_err(|e| {
        vec![ScenarioError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        }]
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() as u64 + 1;
        vec![ScenarioError {
            file: path.to_path_buf(),
            line,
            column,
            message: "the file is not UTF-8 text".to_string(),
        }]
    })?;
    let parsed: ScenarioFile = serde_saphyr::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        vec![ScenarioError {
            file: path.to_path_buf(),
            line,
            column,
            message: e.without_snippet().to_string(),
        }]
    })?;
    let inexact = exact_numbers::refusals(path, &text, exact_numbers::SCENARIO);
    if !inexact.is_empty() {
        return Err(inexact);
    }
    let suite = parsed.suite.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for case in &parsed.cases {
        match case_from(path, &suite, &parsed.tags, case) {
            Ok(c) => cases.push(c),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

fn case_from(
    path: &Path,
    suite: &str,
    file_tags: &[String],
    spanned: &Spanned<CaseSpec>,
) -> Result<PlannedCase, Vec<ScenarioError>> {
    let case = &spanned.value;
    let mut errors = Vec::new();
    let things: Vec<String> = case.things.iter().map(|t| t.value.clone()).collect();
    let absent_things: Vec<String> = case.absent_things.iter().map(|t| t.value.clone()).collect();
    let named: Vec<String> = things.iter().chain(&absent_things).cloned().collect();
    let mut requirements = Vec::new();
    for r in &case.requirements {
        match RequirementId::parse(&r.value) {
            Ok(id) => requirements.push(id),
            Err(_) => errors.push(error_at(
                &source(path, r),
                format!("unknown requirement ID {}", r.value),
            )),
        }
    }
    let mut jobs = Vec::new();
    for job in &case.jobs {
        for t in &job.value.targets {
            if !things.contains(&t.value) {
                errors.push(error_at(
                    &source(path, t),
                    format!("job target {} is not among the case's things", t.value),
                ));
            }
        }
        jobs.push(JobFixture {
            id: job.value.id.clone(),
            targets: job.value.targets.iter().map(|t| t.value.clone()).collect(),
            document: job.value.document.as_ref().map_or_else(
                || format!("{{\"job\":\"{}\"}}", job.value.id),
                Value::to_string,
            ),
            in_progress_timeout_minutes: job.value.in_progress_timeout_minutes,
            retry: job.value.retry.clone(),
        });
    }
    let job_ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let mut steps = Vec::new();
    for step in &case.steps {
        match step_from(path, step, &named, &job_ids) {
            Ok(s) => steps.push(s),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut tags = file_tags.to_vec();
    tags.extend(case.tags.iter().cloned());
    // Raw paths exist only over HTTP; raw topics and notifications only over MQTT.
    let mut bindings = case.transports.clone();
    if bindings.is_empty() {
        if steps.iter().any(|s| s.raw_path.is_some()) {
            bindings.push(Binding::Http);
        }
        if steps
            .iter()
            .any(|s| s.raw_topic.is_some() || matches!(s.action, Action::Notification { .. }))
        {
            bindings.push(Binding::Mqtt);
        }
    }
    // No expectation may be stricter than its requirement allows (unless strict-only), so
    // a run is never stricter than validate.
    let errors: Vec<ScenarioError> = steps
        .iter()
        .filter(|s| matches!(s.action, Action::Call { .. }))
        .filter_map(|s| {
            let requirement = s.expect.requirement.or(requirements.first().copied())?;
            let why = s.expect.stricter_than(requirement, &bindings)?;
            let at = s.source.clone().unwrap_or_else(|| source(path, spanned));
            Some(error_at(&at, why))
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PlannedCase {
        id: format!("{suite}/{}", case.name.value),
        suite: suite.to_string(),
        name: case.name.value.clone(),
        description: case.description.clone(),
        source: Some(source(path, spanned)),
        requirements,
        tags,
        bindings,
        things,
        absent_things,
        jobs,
        steps,
    })
}

fn step_from(
    path: &Path,
    spanned: &Spanned<StepSpec>,
    things: &[String],
    jobs: &[&str],
) -> Result<Step, ScenarioError> {
    let at = source(path, spanned);
    let s = &spanned.value;
    let calls = [
        (Operation::StartNextPendingJobExecution, &s.start_next),
        (Operation::UpdateJobExecution, &s.update),
        (Operation::DescribeJobExecution, &s.describe),
        (Operation::GetPendingJobExecutions, &s.get_pending),
    ];
    let mut actions: Vec<Action> = calls
        .iter()
        .filter_map(|(op, input)| {
            input.as_ref().map(|i| Action::Call {
                operation: *op,
                input: i
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.clone()))
                    .collect(),
            })
        })
        .collect();
    if let Some(c) = &s.cancel_job {
        actions.push(Action::CancelJob {
            job: c.job.clone(),
            force: c.force,
        });
    }
    if let Some(w) = &s.wait {
        actions.push(Action::Wait { minutes: w.minutes });
    }
    if let Some(n) = &s.notification {
        actions.push(Action::Notification {
            thing: n.thing.clone(),
            topic: n.topic.clone(),
            job: n.job.clone(),
            queued: n.queued.clone(),
            in_progress: n.in_progress.clone(),
        });
    }
    if actions.len() != 1 {
        return Err(error_at(
            &at,
            format!(
                "a step takes exactly one of start-next, update, describe, get-pending, cancel-job, wait, notification; this one has {}",
                actions.len()
            ),
        ));
    }
    let action = actions.remove(0);
    match &action {
        Action::Call { operation, .. } => {
            let written = calls
                .iter()
                .find(|(op, _)| op == operation)
                .and_then(|(_, input)| input.as_ref())
                .expect("the call's input");
            check_input(path, *operation, written, things, jobs)?;
        }
        Action::CancelJob { job, .. } if !jobs.contains(&job.as_str()) => {
            return Err(error_at(
                &at,
                format!("cancel-job names job {job}, which the case does not create"),
            ));
        }
        Action::Notification {
            thing,
            topic,
            job,
            queued,
            in_progress,
        } => {
            if !things.contains(thing) {
                return Err(error_at(
                    &at,
                    format!("thing {thing} is not among the case's things"),
                ));
            }
            if topic != "notify" && topic != "notify-next" {
                return Err(error_at(
                    &at,
                    format!("notification topic is notify or notify-next, not {topic}"),
                ));
            }
            if let Some(j) = job
                .iter()
                .chain(queued)
                .chain(in_progress)
                .find(|j| !jobs.contains(&j.as_str()))
            {
                return Err(error_at(
                    &at,
                    format!("job {j} is not among the case's jobs"),
                ));
            }
        }
        Action::Wait { minutes } if !(minutes.is_finite() && *minutes >= 0.0) => {
            return Err(error_at(
                &at,
                format!("wait minutes must be a non-negative number, not {minutes}"),
            ));
        }
        _ => {}
    }
    let expect = s.expect.clone().unwrap_or_default();
    for (key, named) in [("error", &expect.error), ("not-error", &expect.not_error)] {
        if let Some(name) = named
            && !errors().is_known(&name.value)
        {
            return Err(error_at(
                &source(path, name),
                format!(
                    "expect.{key} {} is not an error type of errors.json",
                    name.value
                ),
            ));
        }
    }
    let requirement = expect
        .requirement
        .map(|r| {
            RequirementId::parse(&r.value).map_err(|_| {
                error_at(
                    &source(path, &r),
                    format!("unknown requirement ID {}", r.value),
                )
            })
        })
        .transpose()?;
    Ok(Step {
        action,
        raw_body: s.raw_body.clone(),
        raw_path: s.raw_path.clone(),
        raw_topic: s.raw_topic.clone(),
        expect: Expectation {
            status: expect.status,
            error: expect.error.map(|e| e.value),
            not_error: expect.not_error.map(|e| e.value),
            body: expect.body,
            state_unchanged: expect.state_unchanged,
            requirement,
            strict_only: expect.strict_only,
        },
        deadline: s.deadline_ms.map(Duration::from_millis),
        source: Some(at),
    })
}

fn check_input(
    path: &Path,
    operation: Operation,
    input: &Input,
    things: &[String],
    jobs: &[&str],
) -> Result<(), ScenarioError> {
    let schema = operation.request_schema().map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: e.to_string(),
    })?;
    for (key, value) in input {
        let at = source(path, value);
        let known = matches!(key.as_str(), "thing" | "job")
            || schema.document()["properties"].get(key).is_some();
        if !known {
            return Err(error_at(
                &at,
                format!("{} has no member {key}", operation.name()),
            ));
        }
        let name = value.value.as_str().unwrap_or_default();
        match key.as_str() {
            "thing" if !things.iter().any(|t| t == name) => {
                return Err(error_at(
                    &at,
                    format!("thing {} is not among the case's things", value.value),
                ));
            }
            "job" if name != NEXT_EXECUTION && !jobs.contains(&name) => {
                return Err(error_at(
                    &at,
                    format!("job {} is not among the case's jobs", value.value),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
