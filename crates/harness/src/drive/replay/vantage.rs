//! What a replayed device knows of its thing's executions, fed to the fleet's
//! [`DeviceOracle`] as a fleet device's knowledge is: the jobs this replay created for the
//! thing (with when each was sent and acknowledged), the ones the device finished, the one it
//! has in progress, and whether a creation was in flight while it asked.
//!
//! Only what is certain is judged. A device is judged for state ([`certain`]) when the capture
//! is a complete world for its thing: the thing is one the replay creates (a seeded
//! placeholder, never a literal name, which may be a thing others use), no job of the thing
//! has a timer, retry or namespace of its own (those change executions unseen), every job its
//! recorded exchanges name is one the capture created, none of its requests names a
//! namespace, and its recorded exchanges never overlap (overlapping ones are several clients
//! sharing a name). An imported capture without a seed has no seeded thing, so its devices are
//! checked for form only. Within a judged device, a job is forgotten (nothing concluded about
//! it) once a world change names it (a cancellation completes when the service gets to it),
//! once a step timer the device set on it may have run out at the target's clock, and once a
//! request that could have moved it went unanswered.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde_json::Value;

use super::device::named_job;
use crate::check::agent::{CreatedJob, DeviceOracle, transition};
use crate::check::answer::Answer;
use crate::finding::Finding;
use crate::record::capture::{self, Capture, CapturedExchange, Line};
use crate::transport::Exchange;
use jobcert_contract::{Operation, Status, execution_model};

/// CreateJob members that let the service change a job's executions on its own.
const UNSEEN_CHANGES: [&str; 3] = ["timeoutConfig", "jobExecutionsRetryConfig", "namespaceId"];

/// Whether `device`'s exchanges (`lines`, indices into the capture's lines) can be judged for
/// state: see the module's rule.
pub(super) fn certain(capture: &Capture, device: &str, lines: &[usize]) -> bool {
    let seed = &capture.header.seed;
    if !seed.things.iter().any(|t| t.name == device) {
        return false;
    }
    let jobs: HashSet<&str> = seed.jobs.iter().map(|j| j.id.as_str()).collect();
    let unseen = seed
        .jobs
        .iter()
        .filter(|j| j.targets.iter().any(|t| t == device))
        .any(|j| UNSEEN_CHANGES.iter().any(|m| j.create.contains_key(*m)));
    if unseen {
        return false;
    }
    let mut previous_done = None;
    for &i in lines {
        let Line::Exchange(e) = &capture.lines[i].value else {
            continue;
        };
        if previous_done.is_some_and(|done| e.sent_us < done) {
            return false;
        }
        previous_done = Some(e.done_us);
        let namespaced = e.target.contains("namespaceId")
            || e.body.as_deref().is_some_and(|b| b.contains("namespaceId"));
        if namespaced || jobs_named(e).iter().any(|j| !jobs.contains(j.as_str())) {
            return false;
        }
    }
    true
}

/// Every job a recorded exchange names: in its path or topic, and in its answer.
fn jobs_named(e: &CapturedExchange) -> Vec<String> {
    let mut out: Vec<String> = Operation::from_name(&e.operation)
        .and_then(|op| named_job(op, &e.target))
        .map(str::to_string)
        .into_iter()
        .collect();
    let body = match &e.answer {
        capture::Answer::Http { body, .. } | capture::Answer::Mqtt { body, .. } => body.as_str(),
        _ => "",
    };
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        job_ids(&value, &mut out);
    }
    out
}

/// Every `jobId` string in `value`.
fn job_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, v) in members {
                match (name.as_str(), v) {
                    ("jobId", Value::String(id)) => out.push(id.clone()),
                    _ => job_ids(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| job_ids(v, out)),
        _ => {}
    }
}

/// The jobs one copy of the world has created, as its devices see them.
#[derive(Debug, Default)]
pub(super) struct Created {
    inner: Mutex<World>,
}

#[derive(Debug, Default, Clone)]
struct World {
    /// Each job acknowledged, with the things (placeholders) it targets, in creation order.
    jobs: Vec<(Vec<String>, CreatedJob)>,
    /// Creations under way.
    in_flight: usize,
    /// Jobs (real ids) a world change named, or whose creation went unanswered, with the
    /// things (placeholders) they target.
    touched: Vec<(Vec<String>, String)>,
}

/// What a device sees of the world at one moment.
#[derive(Debug, Clone, Default)]
pub(super) struct View {
    jobs: Vec<CreatedJob>,
    touched: Vec<String>,
    settled: bool,
}

impl Created {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A creation is under way.
    pub(super) fn creating(&self) {
        self.world().in_flight += 1;
    }

    /// The creation under way ended: `job`, targeting `targets`, was acknowledged, or (`None`)
    /// what became of `id` is unknown.
    pub(super) fn ended(&self, id: &str, targets: &[String], job: Option<CreatedJob>) {
        let mut world = self.world();
        world.in_flight = world.in_flight.saturating_sub(1);
        match job {
            Some(job) => world.jobs.push((targets.to_vec(), job)),
            None => world.touched.push((targets.to_vec(), id.to_string())),
        }
    }

    /// A world change names `id` (a job not created yet concerns no device).
    pub(super) fn touched(&self, id: &str) {
        let mut world = self.world();
        let targets = world
            .jobs
            .iter()
            .find(|(_, job)| job.id == id)
            .map(|(targets, _)| targets.clone())
            .unwrap_or_default();
        world.touched.push((targets, id.to_string()));
    }

    /// What `device` (a placeholder) sees now.
    pub(super) fn view(&self, device: &str) -> View {
        let world = self.world();
        View {
            jobs: world
                .jobs
                .iter()
                .filter(|(targets, _)| targets.iter().any(|t| t == device))
                .map(|(_, job)| job.clone())
                .collect(),
            touched: world
                .touched
                .iter()
                .filter(|(targets, _)| targets.iter().any(|t| t == device))
                .map(|(_, id)| id.clone())
                .collect(),
            settled: world.in_flight == 0,
        }
    }
}

/// One replayed device's knowledge and its oracle.
#[derive(Debug)]
pub(super) struct Vantage {
    oracle: DeviceOracle,
    stateful: bool,
    /// Step timers the device set: job → the earliest moment (µs since the replay's origin)
    /// it may run out.
    timers: HashMap<String, u64>,
    /// The target's seconds per real second.
    time_scale: f64,
}

/// One exchange as the device made it and what it saw around it.
pub(super) struct Asked<'a> {
    /// The operation.
    pub operation: Operation,
    /// The job the request named (its id in this replay), `None` for `$next` and the list.
    pub job: Option<&'a str>,
    /// The request body as sent.
    pub body: Option<&'a str>,
    /// Whether the recording's answer accepted the request.
    pub recorded_accepted: bool,
    /// The world when the request went out.
    pub before: &'a View,
    /// The world once its answer was in.
    pub after: &'a View,
}

impl Vantage {
    /// A device judged for state when `stateful`, on a target whose clock runs `time_scale`
    /// times real time.
    pub(super) fn new(stateful: bool, time_scale: f64) -> Self {
        Self {
            oracle: DeviceOracle::default(),
            stateful,
            timers: HashMap::new(),
            time_scale,
        }
    }

    /// The state facts of `answer` to `asked` (none for a device not judged for state), and
    /// what the device learns from it.
    pub(super) fn judge(
        &mut self,
        asked: &Asked<'_>,
        exchange: &Exchange,
        answer: &Answer,
    ) -> Vec<Finding> {
        if !self.stateful {
            return Vec::new();
        }
        for job in &asked.after.touched {
            self.oracle.forget(job);
        }
        let done = exchange.timing.done_us;
        for (job, _) in self.timers.iter().filter(|(_, at)| **at <= done) {
            if !self.oracle.is_finished(job) {
                self.oracle.forget(job);
            }
        }
        let (before, after) = (asked.before, asked.after);
        let exact = before.settled && after.settled && before.jobs.len() == after.jobs.len();
        let created = &before.jobs;
        let seq = Some(exchange.seq);
        let unknown = matches!(answer, Answer::Unanswered | Answer::Garbled);
        match (asked.operation, asked.job) {
            (Operation::StartNextPendingJobExecution, _) => {
                let (started, findings) = self.oracle.start_next_facts(answer, seq, created, exact);
                if let Some(s) = started {
                    self.oracle.started(&s.job_id);
                    self.timer(&s.job_id, asked.body, exchange);
                } else if unknown {
                    // The head may have started: which one is the device's guess.
                    created.iter().for_each(|j| self.forget_unfinished(&j.id));
                }
                findings
            }
            (Operation::UpdateJobExecution, Some(job)) => {
                self.update(asked, job, exchange, answer, unknown)
            }
            (Operation::DescribeJobExecution, None) => {
                self.oracle.describe_next_facts(answer, seq, created, exact)
            }
            (Operation::GetPendingJobExecutions, _) => self
                .oracle
                .pending_facts(answer, seq, created, exact)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// UP-TRANSITION for an update of an execution the device has in progress to a status a
    /// device may move it to, which the recording accepted; then what the answer changed.
    fn update(
        &mut self,
        asked: &Asked<'_>,
        job: &str,
        exchange: &Exchange,
        answer: &Answer,
        unknown: bool,
    ) -> Vec<Finding> {
        let model = execution_model();
        let sent = asked
            .body
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .and_then(|b| b.get("status").cloned());
        let status: Option<Status> = sent.and_then(|s| serde_json::from_value(s).ok());
        let judged = asked.recorded_accepted
            && self.oracle.is_in_progress(job)
            && status.is_some_and(|s| model.device_may_move(Status::InProgress, s));
        let findings = match status {
            Some(s) if judged => transition(answer, Some(exchange.seq), job, s.as_str())
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        if unknown {
            self.oracle.forget(job);
        } else if answer.success().is_some() {
            match status {
                Some(s) if model.is_terminal(s) => self.oracle.finished(job),
                Some(Status::InProgress) => {
                    self.oracle.started(job);
                    self.timer(job, asked.body, exchange);
                }
                _ => self.oracle.forget(job),
            }
        }
        findings
    }

    /// Notes the step timer an accepted request `body` set on `job`, if any.
    fn timer(&mut self, job: &str, body: Option<&str>, exchange: &Exchange) {
        let minutes = body
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .and_then(|b| b.get("stepTimeoutInMinutes").and_then(Value::as_f64))
            .filter(|m| *m > 0.0);
        if let Some(m) = minutes {
            let real_us = (m * 60.0 / self.time_scale * 1e6) as u64;
            let at = exchange.timing.sent_us + real_us;
            let earliest = self.timers.entry(job.to_string()).or_insert(at);
            *earliest = (*earliest).min(at);
        }
    }

    fn forget_unfinished(&mut self, job: &str) {
        if !self.oracle.is_finished(job) {
            self.oracle.forget(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::*;
    use crate::record::capture::read_str;
    use crate::transport::{Timing, WireRequest};

    /// One request of a device's history: operation, job named, body, answer (`None`:
    /// unanswered), whether the recording accepted it, and when it was sent (ms).
    type Asking = (
        Operation,
        Option<&'static str>,
        Value,
        Option<Value>,
        bool,
        u64,
    );

    const NEXT: Operation = Operation::StartNextPendingJobExecution;
    const UPDATE: Operation = Operation::UpdateJobExecution;

    fn exchange(seq: u64, sent_ms: u64) -> Exchange {
        Exchange {
            seq,
            context: "d".into(),
            operation: String::new(),
            request: WireRequest {
                transport: "http".into(),
                method: "PUT".into(),
                endpoint: String::new(),
                target: String::new(),
                headers: vec![],
                body: None,
            },
            outcome: crate::transport::Outcome::Timeout { deadline_ms: 1 },
            timing: Timing {
                intended_us: sent_ms * 1_000,
                sent_us: sent_ms * 1_000,
                done_us: sent_ms * 1_000 + 10,
            },
        }
    }

    fn start(job: &str) -> Option<Value> {
        Some(json!({ "execution": { "jobId": job, "status": "IN_PROGRESS" } }))
    }

    /// The findings of the last of `history`, on a target whose clock runs 60 times real
    /// time, for a device that knows jobs `a` and `b` (2 s apart) and sees `touched` named.
    fn last_findings(stateful: bool, touched: &[&str], history: &[Asking]) -> Vec<(String, bool)> {
        let view = View {
            jobs: ["a", "b"]
                .iter()
                .enumerate()
                .map(|(k, id)| CreatedJob {
                    id: id.to_string(),
                    sent_us: k as u64 * 2_000_000,
                    acked_us: k as u64 * 2_000_000 + 1,
                })
                .collect(),
            touched: touched.iter().map(|t| t.to_string()).collect(),
            settled: true,
        };
        let mut vantage = Vantage::new(stateful, 60.0);
        let mut findings = Vec::new();
        for (k, (operation, job, body, answer, recorded_accepted, sent_ms)) in
            history.iter().enumerate()
        {
            let body = body.to_string();
            let asked = Asked {
                operation: *operation,
                job: *job,
                body: Some(&body),
                recorded_accepted: *recorded_accepted,
                before: &view,
                after: &view,
            };
            let answer = answer.clone().map_or(Answer::Unanswered, Answer::Success);
            findings = vantage.judge(&asked, &exchange(k as u64, *sent_ms), &answer);
        }
        findings
            .into_iter()
            .map(|f| (f.requirement.to_string(), f.passed))
            .collect()
    }

    #[test]
    fn a_device_sees_the_jobs_of_its_thing_and_whether_a_creation_is_under_way() {
        let created = Created::default();
        let job = |id: &str| CreatedJob {
            id: id.into(),
            sent_us: 1,
            acked_us: 2,
        };
        let (d, e) = ("{thing:d}".to_string(), "{thing:e}".to_string());
        created.creating();
        assert!(!created.view(&d).settled);
        created.ended("a", &[d.clone(), e.clone()], Some(job("a")));
        created.creating();
        created.ended("b", std::slice::from_ref(&e), Some(job("b")));
        created.creating();
        created.ended("lost", std::slice::from_ref(&d), None);
        created.touched("b");
        created.touched("never-created");
        let seen = created.view(&d);
        assert!(seen.settled);
        assert_eq!(seen.jobs, [job("a")]);
        assert_eq!(seen.touched, ["lost"]);
        assert_eq!(created.view(&e).touched, ["b"]);
    }

    #[rstest]
    #[case::head(true, &[], &[(NEXT, None, json!({}), start("a"), true, 0)], &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
    #[case::not_judged_for_state(false, &[], &[(NEXT, None, json!({}), start("b"), true, 0)], &[])]
    #[case::newer_first(true, &[], &[(NEXT, None, json!({}), start("b"), true, 0)], &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
    #[case::a_world_change_named_the_head(true, &["a"], &[(NEXT, None, json!({}), start("b"), true, 0)], &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
    #[case::in_progress_stays_the_head(true, &[], &[
        (NEXT, None, json!({ "stepTimeoutInMinutes": 1 }), start("a"), true, 0),
        (NEXT, None, json!({}), start("b"), true, 500),
    ], &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
    #[case::its_step_timer_may_have_run_out(true, &[], &[
        (NEXT, None, json!({ "stepTimeoutInMinutes": 1 }), start("a"), true, 0),
        (NEXT, None, json!({}), start("b"), true, 1_000),
    ], &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
    #[case::finished_before_its_timer(true, &[], &[
        (NEXT, None, json!({ "stepTimeoutInMinutes": 1 }), start("a"), true, 0),
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), Some(json!({})), true, 100),
        (NEXT, None, json!({}), start("a"), true, 2_000),
    ], &[("SN-NEXT-ORDER", false), ("SN-START", true)])]
    #[case::an_accepted_finish(true, &[], &[
        (NEXT, None, json!({}), start("a"), true, 0),
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), Some(json!({})), true, 100),
    ], &[("UP-TRANSITION", true)])]
    #[case::a_retry_after_no_answer(true, &[], &[
        (NEXT, None, json!({}), start("a"), true, 0),
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), None, true, 100),
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), Some(json!({})), true, 200),
    ], &[])]
    #[case::a_finish_the_recording_refused(true, &[], &[
        (NEXT, None, json!({}), start("a"), true, 0),
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), Some(json!({})), false, 100),
    ], &[])]
    #[case::a_queued_job_finished_directly(true, &[], &[
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), Some(json!({})), true, 0),
        (NEXT, None, json!({}), start("b"), true, 100),
    ], &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
    #[case::an_unanswered_finish_is_forgotten(true, &[], &[
        (NEXT, None, json!({}), start("a"), true, 0),
        (UPDATE, Some("a"), json!({ "status": "SUCCEEDED" }), None, true, 100),
        (NEXT, None, json!({}), start("b"), true, 200),
    ], &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
    #[case::moved_in_progress_by_an_update(true, &[], &[
        (UPDATE, Some("b"), json!({ "status": "IN_PROGRESS" }), Some(json!({})), true, 0),
        (NEXT, None, json!({}), start("b"), true, 100),
    ], &[("SN-NEXT-ORDER", true), ("SN-START", true)])]
    fn a_device_learns_from_what_it_sees(
        #[case] stateful: bool,
        #[case] touched: &[&str],
        #[case] history: &[Asking],
        #[case] want: &[(&str, bool)],
    ) {
        let want: Vec<(String, bool)> = want.iter().map(|(r, p)| (r.to_string(), *p)).collect();
        assert_eq!(last_findings(stateful, touched, history), want);
    }

    const HEADER: &str = r#"{"type":"header","format":"jobcert-capture/1","source":{"kind":"proxy"},"origin_ms":0,"target_time_scale":1,"seed":{"things":[{"name":"{thing:d}"},{"name":"{thing:t}"}],"jobs":[{"id":"{job:j}","targets":["{thing:d}"],"create":{"document":"{}"}},{"id":"{job:t}","targets":["{thing:t}"],"create":{"document":"{}","timeoutConfig":{"inProgressTimeoutInMinutes":5}}}]}}"#;

    /// An exchange line of `device`, sent at `sent` and answered at `done`, to `target` (a
    /// start-next for `$next`, else a describe), answered with `body`.
    fn line(device: &str, seq: u64, (sent, done): (u64, u64), target: &str, body: &str) -> String {
        let (operation, method) = if target.split('?').next().unwrap().ends_with("$next") {
            ("StartNextPendingJobExecution", "PUT")
        } else {
            ("DescribeJobExecution", "GET")
        };
        serde_json::json!({
            "type": "exchange", "device": device, "device_seq": seq, "sent_us": sent,
            "done_us": done, "transport": "http", "operation": operation,
            "method": method, "target": target, "body": "{}",
            "answer": { "status": 200, "body": body }
        })
        .to_string()
    }

    const NEXT_PATH: &str = "/things/{thing:d}/jobs/$next";
    const SEEDED: &str = r#"{"execution":{"jobId":"{job:j}"}}"#;

    #[rstest]
    #[case::seeded_world("{thing:d}", &[(NEXT_PATH, SEEDED, (1, 2)), (NEXT_PATH, "{}", (3, 4))], true)]
    #[case::literal_thing("plain", &[("/things/plain/jobs/$next", "{}", (1, 2))], false)]
    #[case::a_job_the_capture_did_not_create("{thing:d}", &[(NEXT_PATH, r#"{"execution":{"jobId":"elsewhere"}}"#, (1, 2))], false)]
    #[case::a_path_naming_one("{thing:d}", &[("/things/{thing:d}/jobs/elsewhere", "{}", (1, 2))], false)]
    #[case::overlapping_clients("{thing:d}", &[(NEXT_PATH, SEEDED, (1, 5)), (NEXT_PATH, "{}", (3, 6))], false)]
    #[case::a_namespace("{thing:d}", &[("/things/{thing:d}/jobs/$next?namespaceId=n", "{}", (1, 2))], false)]
    #[case::a_job_with_its_own_timer("{thing:t}", &[("/things/{thing:t}/jobs/$next", "{}", (1, 2))], false)]
    fn only_a_complete_world_is_judged_for_state(
        #[case] device: &str,
        #[case] exchanges: &[(&str, &str, (u64, u64))],
        #[case] judged: bool,
    ) {
        let mut text = vec![HEADER.to_string()];
        for (k, (target, body, times)) in exchanges.iter().enumerate() {
            text.push(line(device, k as u64, *times, target, body));
        }
        let capture = read_str("c", &(text.join("\n") + "\n")).unwrap();
        let lines: Vec<usize> = (0..capture.lines.len()).collect();
        assert_eq!(certain(&capture, device, &lines), judged);
    }
}
