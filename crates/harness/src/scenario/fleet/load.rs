//! Loading a fleet scenario: the file read into a [`FleetSpec`], command-line overrides
//! applied, and everything a run would trip over later checked, each problem named at
//! `file:line:column`.

use std::path::Path;

use serde_json::json;

use super::bounds::{Bounds, bounds};
use super::*;
use crate::scenario::exact_numbers::{self, Carried};
use crate::scenario::load::ScenarioError;
use crate::scenario::spans::Spans;
use jobcert_contract::{ControlOperation, Operation};

/// Whether `path` holds a fleet scenario (its top level has a `fleet` key).
pub fn is_fleet_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            serde_saphyr::from_str::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(
                &text,
            )
            .ok()
        })
        .is_some_and(|top| top.contains_key("fleet"))
}

/// Longest run id (it prefixes every thing name and job id).
pub const MAX_RUN_ID: usize = 16;

/// Collects problems, each at the position of the member it is about.
struct Problems<'a> {
    file: &'a Path,
    spans: Option<Spans>,
    found: Vec<ScenarioError>,
}

impl Problems<'_> {
    fn at(&mut self, member: &[&str], message: impl Into<String>) {
        let mut path = vec!["fleet"];
        path.extend_from_slice(member);
        let (line, column) = self.spans.as_ref().map_or((0, 0), |s| s.at(&path));
        self.found.push(ScenarioError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: format!("{}: {}", member.join("."), message.into()),
        });
    }

    /// A rate within the schema's `Rate` (or zero when `zero` allows it).
    fn rate(&mut self, member: &[&str], v: f64, zero: bool) {
        let Bounds {
            min_rate, max_rate, ..
        } = bounds();
        let ok = v.is_finite() && v <= max_rate && (v >= min_rate || (zero && v == 0.0));
        if !ok {
            self.at(
                member,
                format!("{v} is not a rate between {min_rate} and {max_rate} per second"),
            );
        }
    }

    /// A time in seconds: positive and within the schema's `Seconds`.
    fn seconds(&mut self, member: &[&str], v: f64) {
        let max = bounds().max_seconds;
        if !(v.is_finite() && v > 0.0 && v <= max) {
            self.at(member, format!("{v} is not a time between 0 and {max} s"));
        }
    }

    /// A time in seconds from the start: zero or more, within the schema's `Seconds`.
    fn offset(&mut self, member: &[&str], v: f64) {
        let max = bounds().max_seconds;
        if !(v.is_finite() && (0.0..=max).contains(&v)) {
            self.at(member, format!("{v} is not a time between 0 and {max} s"));
        }
    }

    fn distribution(&mut self, member: &[&str], d: &Distribution) {
        if let Err(problem) = distribution_ok(d) {
            self.at(member, problem);
        }
    }
}

/// Loads a fleet scenario; every problem names `file:line:column`.
pub fn load_fleet(path: &Path) -> Result<FleetSpec, Vec<ScenarioError>> {
    load_fleet_with(path, |_| {})
}

/// Loads a fleet scenario, applies `change` (command-line overrides), then checks the result.
pub fn load_fleet_with(
    path: &Path,
    change: impl FnOnce(&mut FleetSpec),
) -> Result<FleetSpec, Vec<ScenarioError>> {
    let (file, text): (FleetFile, String) = parse(path, exact_numbers::FLEET)?;
    let mut spec = file.fleet;
    change(&mut spec);
    let mut p = Problems {
        file: path,
        spans: Spans::read(&text),
        found: Vec::new(),
    };
    if spec.things.count == 0 {
        p.at(&["things", "count"], "must be at least 1");
    }
    if spec.things.per_job == Some(0) {
        p.at(&["things", "per-job"], "must be at least 1");
    }
    names(&spec, &mut p);
    p.rate(&["connect", "rate"], spec.connect.rate, false);
    p.rate(&["rollout", "rate"], spec.rollout.rate, false);
    let max_time_scale = bounds().max_time_scale;
    if !(spec.reference.time_scale.is_finite()
        && spec.reference.time_scale > 0.0
        && spec.reference.time_scale <= max_time_scale)
    {
        p.at(
            &["reference", "time-scale"],
            format!("must be a number in (0, {max_time_scale}]"),
        );
    }
    p.seconds(&["run", "max-duration-s"], spec.run.max_duration_s);
    if let Some(d) = spec.run.duration_s {
        p.seconds(&["run", "duration-s"], d);
    }
    for (member, ms) in [
        ("deadline-ms", spec.run.deadline_ms),
        ("timeout-ms", spec.connect.timeout_ms),
    ] {
        if ms == 0 || ms as f64 > bounds().max_ms {
            let section = if member == "deadline-ms" {
                "run"
            } else {
                "connect"
            };
            p.at(&[section, member], "must be between 1 ms and a week");
        }
    }
    if spec.http.pool == 0 {
        p.at(&["http", "pool"], "must be at least 1");
    }
    if let Some(doc) = &spec.rollout.document
        && !doc.is_object()
    {
        p.at(&["rollout", "document"], "must be a mapping");
    }
    behaviour(&spec.behaviour, &mut p);
    profiles(&spec, &mut p);
    load_model(&spec, &mut p);
    shaped_rollout(&spec, &mut p);
    for (member, problem) in spec.thresholds.problems() {
        let mut at = vec!["thresholds"];
        at.extend(member.iter().map(String::as_str));
        p.at(&at, problem);
    }
    if p.found.is_empty() {
        Ok(spec)
    } else {
        Err(p.found)
    }
}

/// Thing names, as the run would make them, against the control-plane schema.
fn names(spec: &FleetSpec, p: &mut Problems<'_>) {
    let Some(template) = &spec.things.name else {
        return;
    };
    if !template.contains("{index}") {
        p.at(&["things", "name"], "must contain {index}");
        return;
    }
    // The longest run id the command line accepts.
    let longest = spec
        .things
        .name_of(&"0".repeat(MAX_RUN_ID), spec.things.count.saturating_sub(1));
    let schema = ControlOperation::CreateThing
        .request_schema()
        .expect("control schemas are embedded");
    if let Some(v) = schema.first_violation(&json!({ "thingName": longest })) {
        p.at(
            &["things", "name"],
            format!("makes {longest:?}, which CreateThing refuses: {v}"),
        );
    }
}

/// The groups and jobs of a rollout shaped as AWS shapes one: names CreateThingGroup and
/// CreateJob accept (with the longest run id), indices within the fleet, known targets, and
/// CreateJob members that fit its schema.
fn shaped_rollout(spec: &FleetSpec, p: &mut Problems<'_>) {
    let run = "0".repeat(MAX_RUN_ID);
    let count = spec.things.count;
    let group_schema = ControlOperation::CreateThingGroup
        .request_schema()
        .expect("control schemas are embedded");
    let mut names = std::collections::BTreeSet::new();
    for (i, g) in spec.rollout.groups.iter().enumerate() {
        let i = i.to_string();
        if !names.insert(g.name.as_str()) {
            p.at(&["rollout", "groups", &i, "name"], "is given twice");
        }
        let name = format!("{run}-{}", g.name);
        if let Some(v) = group_schema.first_violation(&json!({ "thingGroupName": name })) {
            p.at(
                &["rollout", "groups", &i, "name"],
                format!("makes {name:?}, which CreateThingGroup refuses: {v}"),
            );
        }
        let ranges = [
            ("members", g.members.map(|r| r.indices())),
            ("joiners", g.joiners.map(|j| j.indices())),
        ];
        for (member, range) in ranges {
            if let Some(r) = range
                && (r.is_empty() || r.end > count)
            {
                p.at(
                    &["rollout", "groups", &i, member],
                    format!("names things {}..{} of a fleet of {count}", r.start, r.end),
                );
            }
        }
        if let Some(j) = &g.joiners {
            p.rate(
                &["rollout", "groups", &i, "joiners", "per-minute"],
                j.per_minute / 60.0,
                false,
            );
            p.offset(&["rollout", "groups", &i, "joiners", "after-s"], j.after_s);
        }
    }
    let job_schema = ControlOperation::CreateJob
        .request_schema()
        .expect("control schemas are embedded");
    let mut ids = std::collections::BTreeSet::new();
    for (i, job) in spec.rollout.jobs.iter().enumerate() {
        let i = i.to_string();
        if !ids.insert(job.id.as_str()) {
            p.at(&["rollout", "jobs", &i, "id"], "is given twice");
        }
        let id = format!("{run}-{}", job.id);
        if let Some(v) = job_schema.first_violation(
            &json!({ "jobId": id, "targets": ["arn:aws:iot:us-east-1:1:thinggroup/g"] }),
        ) {
            p.at(
                &["rollout", "jobs", &i, "id"],
                format!("makes {id:?}, which CreateJob refuses: {v}"),
            );
        }
        if job.targets.is_empty() {
            p.at(&["rollout", "jobs", &i, "targets"], "names no group");
        }
        for (k, t) in job.targets.iter().enumerate() {
            if !names.contains(t.as_str()) {
                p.at(
                    &["rollout", "jobs", &i, "targets", &k.to_string()],
                    format!("{t:?} is not a group of rollout.groups"),
                );
            }
        }
        p.offset(&["rollout", "jobs", &i, "at-s"], job.at_s);
        if job.document.as_ref().is_some_and(|d| !d.is_object()) {
            p.at(&["rollout", "jobs", &i, "document"], "must be a mapping");
        }
        for (member, problem) in job.problems() {
            let mut at = vec!["rollout", "jobs", &i];
            at.extend(member.iter().map(String::as_str));
            p.at(&at, problem);
        }
    }
    if !spec.rollout.groups.is_empty() && spec.rollout.jobs.is_empty() {
        p.at(
            &["rollout", "groups"],
            "are for jobs to target: give rollout.jobs",
        );
    }
}

fn behaviour(b: &BehaviourSpec, p: &mut Problems<'_>) {
    let o = &b.outcomes;
    let sum = o.succeeded + o.failed + o.rejected;
    if [o.succeeded, o.failed, o.rejected]
        .iter()
        .any(|v| !(0.0..=1.0).contains(v))
        || (sum - 1.0).abs() > 1e-9
    {
        p.at(
            &["behaviour", "outcomes"],
            format!("must be probabilities that add up to 1 (they add up to {sum})"),
        );
    }
    if !(0.0..=1.0).contains(&b.silent) {
        p.at(&["behaviour", "silent"], "is a share between 0 and 1");
    }
    if b.silent > 0.0 && b.step_timeout_minutes.is_none_or(|m| m < 1) {
        p.at(
            &["behaviour", "silent"],
            "needs step-timeout-minutes of at least 1 (the timer that fires)",
        );
    }
    p.distribution(&["behaviour", "work"], &b.work);
    p.distribution(&["behaviour", "idle"], &b.idle);
    match b.retry.policy() {
        Err(problem) => p.at(&["behaviour", "retry"], problem),
        Ok(Some(policy)) => {
            let most = bounds().max_attempts;
            if !(1..=most).contains(&policy.max_attempts)
                || policy.base_ms == 0
                || policy.max_ms < policy.base_ms
            {
                p.at(
                    &["behaviour", "retry"],
                    format!("needs max-attempts from 1 to {most} and 0 < base-ms ≤ max-ms"),
                );
            }
            for o in &policy.operations {
                if o != CONNECT_OPERATION && !Operation::ALL.iter().any(|op| op.name() == o) {
                    p.at(
                        &["behaviour", "retry", "operations"],
                        format!("{o:?} is not a device operation or {CONNECT_OPERATION}"),
                    );
                }
            }
        }
        Ok(None) => {}
    }
}

/// The agent profile, offline devices and a reconnect storm: what each needs of the fleet.
fn profiles(spec: &FleetSpec, p: &mut Problems<'_>) {
    let b = &spec.behaviour;
    let mqtt = spec.transport == FleetTransport::Mqtt;
    if b.agent == AgentProfile::Listener {
        if !mqtt {
            p.at(
                &["behaviour", "agent"],
                "a listener hears notify-next, which only MQTT carries: use transport: mqtt",
            );
        }
        if b.program == Program::Poll {
            p.at(
                &["behaviour", "agent"],
                "a listener waits after finding nothing pending, which the poll program never does",
            );
        }
    }
    p.seconds(&["behaviour", "listener-fallback-s"], b.listener_fallback_s);
    if let Some(offline) = &b.offline {
        if !(0.0..=1.0).contains(&offline.share) {
            p.at(
                &["behaviour", "offline", "share"],
                "is a share between 0 and 1",
            );
        }
        p.distribution(&["behaviour", "offline", "for-ms"], &offline.for_ms);
    }
    if let Some(storm) = &b.reconnect_storm {
        if !mqtt {
            p.at(
                &["behaviour", "reconnect-storm"],
                "drops and remakes device connections, which only MQTT devices keep: use transport: mqtt",
            );
        }
        p.seconds(&["behaviour", "reconnect-storm", "at-s"], storm.at_s);
    }
}

/// Whether a distribution's parameters make sense.
pub fn distribution_ok(d: &Distribution) -> Result<(), String> {
    let Bounds {
        max_ms, max_sigma, ..
    } = bounds();
    let ok = |v: f64| v.is_finite() && (0.0..=max_ms).contains(&v);
    let fine = match *d {
        Distribution::Constant(v) => ok(v),
        Distribution::Uniform { min, max } => ok(min) && ok(max) && min <= max,
        Distribution::Exponential { mean } => ok(mean),
        Distribution::Lognormal { median, sigma } => {
            ok(median) && sigma.is_finite() && (0.0..=max_sigma).contains(&sigma)
        }
    };
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{d:?} is not a distribution of milliseconds between 0 and a week"
        ))
    }
}

fn load_model(spec: &FleetSpec, p: &mut Problems<'_>) {
    let load = &spec.load;
    p.distribution(&["load", "think"], &load.think);
    match load.model {
        LoadModel::Closed => {
            if load.rate.is_some() {
                p.at(&["load", "rate"], "belongs to the open model");
            }
            if !load.stages.is_empty() {
                p.at(&["load", "stages"], "belong to the open model");
            }
        }
        LoadModel::Open => {
            match (load.rate, load.stages.is_empty()) {
                (Some(_), false) => p.at(&["load", "rate"], "give rate or stages, not both"),
                (None, true) => p.at(&["load", "model"], "the open model needs rate or stages"),
                _ => {}
            }
            if let Some(r) = load.rate {
                p.rate(&["load", "rate"], r, false);
            }
            for (i, s) in load.stages.iter().enumerate() {
                let i = i.to_string();
                p.rate(&["load", "stages", &i, "rate"], s.rate, true);
                p.seconds(&["load", "stages", &i, "duration-s"], s.duration_s);
            }
            p.rate(&["load", "start-rate"], load.start_rate, true);
        }
    }
    if spec.run.until == Until::Duration && spec.planned_duration_s().is_none() {
        p.at(
            &["run", "until"],
            "duration needs run.duration-s (or open-loop stages)",
        );
    }
}

/// A thresholds file (`thresholds:`, as in a fleet scenario), for the runs that have no
/// scenario of their own (`jobcert replay`); every problem as `file:line:column`.
pub fn load_thresholds(path: &Path) -> Result<Thresholds, Vec<ScenarioError>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ThresholdsFile {
        thresholds: Thresholds,
    }
    let (file, text): (ThresholdsFile, String) = parse(path, exact_numbers::NOTHING)?;
    let spans = Spans::read(&text);
    let found: Vec<ScenarioError> = file
        .thresholds
        .problems()
        .into_iter()
        .map(|(member, problem)| {
            let mut at = vec!["thresholds"];
            at.extend(member.iter().map(String::as_str));
            let (line, column) = spans.as_ref().map_or((0, 0), |s| s.at(&at));
            ScenarioError {
                file: path.to_path_buf(),
                line,
                column,
                message: format!("{}: {problem}", at.join(".")),
            }
        })
        .collect();
    if found.is_empty() {
        Ok(file.thresholds)
    } else {
        Err(found)
    }
}

/// The YAML file at `path` read as a `T`, and its text; a problem as `file:line:column`. The
/// `carried` numbers are checked first, so that one a typed member could not hold is named for
/// what it is (beyond 64 bits, underflowing) rather than as a type mismatch.
fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    carried: Carried,
) -> Result<(T, String), Vec<ScenarioError>> {
    let error = |line: u64, column: u64, message: String| ScenarioError {
        file: path.to_path_buf(),
        line,
        column,
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![error(0, 0, format!("cannot read: {e}"))])?;
    let inexact = exact_numbers::refusals(path, &text, carried);
    if !inexact.is_empty() {
        return Err(inexact);
    }
    let value = serde_saphyr::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        vec![error(line, column, e.without_snippet().to_string())]
    })?;
    Ok((value, text))
}
