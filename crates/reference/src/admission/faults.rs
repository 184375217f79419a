//! Fault injection (`jobcert serve --faults FILE`, `schemas/faults.schema.json`): per operation,
//! 503s, delays and dropped connections, for a share of requests (seeded, so a run repeats), in
//! virtual-time windows, or for things whose names match a pattern — the selector a test uses
//! to fault one request on purpose.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jobcert_contract::{Plane, schemas};
use serde::Deserialize;

use crate::engine::VirtualMillis;

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// 503 ServiceUnavailableException.
    Unavailable,
    /// 429 ThrottlingException (MQTT: RequestThrottled), as a spent quota answers.
    Throttle,
    /// No answer: HTTP closes the connection, MQTT sends no reply.
    Drop,
    /// The answer comes later.
    Delay,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Window {
    from_ms: VirtualMillis,
    to_ms: VirtualMillis,
}

fn data_plane() -> Plane {
    Plane::Data
}

fn everyone() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default = "data_plane")]
    plane: Plane,
    operations: Vec<String>,
    fault: FaultKind,
    delay_ms: Option<VirtualMillis>,
    #[serde(default = "everyone")]
    share: f64,
    windows: Option<Vec<Window>>,
    things: Option<String>,
    first_per_thing: Option<u64>,
}

/// A faults file, and how many requests each rule has drawn for.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Faults {
    #[serde(default)]
    seed: u64,
    rules: Vec<Rule>,
    /// Per rule: requests it matched before, the input of its next draw.
    #[serde(skip)]
    drawn: Vec<AtomicU64>,
    /// Per rule with `firstPerThing`: requests it matched so far, by thing.
    #[serde(skip)]
    per_thing: Vec<Mutex<HashMap<String, u64>>>,
}

/// A copy draws anew from the seed, as a fresh server reading the same file would.
impl Clone for Faults {
    fn clone(&self) -> Self {
        Self {
            seed: self.seed,
            rules: self.rules.clone(),
            drawn: Vec::new(),
            per_thing: Vec::new(),
        }
        .armed()
    }
}

/// Why a faults file is refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    /// Neither YAML nor JSON.
    #[error("not YAML or JSON: {0}")]
    Syntax(String),
    /// Not what `faults.schema.json` admits.
    #[error("{0}")]
    Schema(String),
    /// The schema itself did not load.
    #[error(transparent)]
    Contract(#[from] jobcert_contract::SchemaError),
}

/// The schema every faults file follows.
pub const FAULTS_SCHEMA: &str = "faults.schema.json";

/// What the faults make of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Injected {
    /// Virtual milliseconds to wait before answering.
    pub delay_ms: VirtualMillis,
    /// The answer's fault, if any.
    pub fault: Option<FaultKind>,
}

/// The request a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its API.
    pub plane: Plane,
    /// Its operation's name.
    pub operation: &'a str,
    /// The thing it names, if any.
    pub thing: Option<&'a str>,
    /// Virtual milliseconds since the server started.
    pub since_start_ms: VirtualMillis,
}

impl Faults {
    /// Reads a faults file's text (YAML or JSON), checked against [`FAULTS_SCHEMA`].
    pub fn parse(text: &str) -> Result<Self, FaultsError> {
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| FaultsError::Syntax(e.to_string()))?;
        if let Some(v) = schemas().get(FAULTS_SCHEMA)?.first_violation(&value) {
            return Err(FaultsError::Schema(v.to_string()));
        }
        serde_json::from_value::<Self>(value)
            .map(Self::armed)
            .map_err(|e| FaultsError::Schema(e.to_string()))
    }

    /// A copy ready to draw (counters for its rules).
    fn armed(mut self) -> Self {
        self.drawn = self.rules.iter().map(|_| AtomicU64::new(0)).collect();
        self.per_thing = self.rules.iter().map(|_| Mutex::default()).collect();
        self
    }

    /// The faults of `request`: delays of every matching delay rule, then the first matching
    /// unavailable or drop rule.
    pub fn decide(&self, request: Request<'_>) -> Injected {
        let mut out = Injected::default();
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.selects(request)
                || !self.among_the_first(index, rule, request.thing)
                || !self.falls_under_share(index, rule)
            {
                continue;
            }
            match rule.fault {
                FaultKind::Delay => out.delay_ms += rule.delay_ms.unwrap_or(0),
                fault => {
                    out.fault = Some(fault);
                    break;
                }
            }
        }
        out
    }

    /// Whether the request is among the first `firstPerThing` its thing made that the rule
    /// matched (always, without that selector): a thing faulted once, then served.
    fn among_the_first(&self, index: usize, rule: &Rule, thing: Option<&str>) -> bool {
        let (Some(first), Some(thing)) = (rule.first_per_thing, thing) else {
            return rule.first_per_thing.is_none();
        };
        let mut seen = self.per_thing[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = seen.entry(thing.to_string()).or_default();
        *n += 1;
        *n <= first
    }

    /// Whether the rule's next draw falls under its share: a function of the seed, the rule and
    /// how many requests it matched before, so the same requests in the same order draw alike.
    fn falls_under_share(&self, index: usize, rule: &Rule) -> bool {
        if rule.share >= 1.0 {
            return true;
        }
        let n = self.drawn[index].fetch_add(1, Ordering::Relaxed);
        unit(mix(self.seed
            ^ mix(index as u64)
            ^ mix(n.wrapping_add(1) << 20)))
            < rule.share
    }
}

impl Rule {
    /// Operation, thing and window match (the share is drawn apart).
    fn selects(&self, r: Request<'_>) -> bool {
        self.plane == r.plane
            && self.operations.iter().any(|o| o == r.operation)
            && self
                .things
                .as_deref()
                .is_none_or(|pattern| r.thing.is_some_and(|t| glob(pattern, t)))
            && self.windows.as_ref().is_none_or(|ws| {
                ws.iter()
                    .any(|w| (w.from_ms..w.to_ms).contains(&r.since_start_ms))
            })
    }
}

/// SplitMix64's finaliser: a well-spread 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The top 53 bits of `x` as a number in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut tail) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("abc", "abc", true)]
    #[case("abc", "abcd", false)]
    #[case("a*", "a", true)]
    #[case("*-fault", "t-1-fault", true)]
    #[case("*-fault", "t-1-faulty", false)]
    #[case("*fault*", "x-fault-7", true)]
    #[case("a*b*c", "aXbYc", true)]
    #[case("a*b*c", "aXcYb", false)]
    #[case("ab*ba", "aba", false)]
    #[case("*", "", true)]
    fn thing_patterns(#[case] pattern: &str, #[case] text: &str, #[case] matches: bool) {
        assert_eq!(glob(pattern, text), matches);
    }

    fn request<'a>(operation: &'a str, thing: &'a str, at: VirtualMillis) -> Request<'a> {
        Request {
            plane: Plane::Data,
            operation,
            thing: Some(thing),
            since_start_ms: at,
        }
    }

    const FILE: &str = "
seed: 7
rules:
  - operations: [DescribeJobExecution]
    fault: delay
    delayMs: 250
  - operations: [DescribeJobExecution, StartNextPendingJobExecution]
    fault: delay
    delayMs: 50
    things: 'slow-*'
  - operations: [StartNextPendingJobExecution]
    fault: unavailable
    things: '*-outage'
  - operations: [UpdateJobExecution]
    fault: drop
    windows: [{fromMs: 1000, toMs: 2000}]
  - operations: [GetPendingJobExecutions]
    fault: throttle
    things: 'once-*'
    firstPerThing: 1
";

    #[rstest]
    #[case::a_delay("DescribeJobExecution", "t", 0, 250, None)]
    #[case::delays_add_up("DescribeJobExecution", "slow-1", 0, 300, None)]
    #[case::delay_then_fault(
        "StartNextPendingJobExecution",
        "slow-outage",
        0,
        50,
        Some(FaultKind::Unavailable)
    )]
    #[case::by_thing_name(
        "StartNextPendingJobExecution",
        "t-outage",
        0,
        0,
        Some(FaultKind::Unavailable)
    )]
    #[case::another_thing("StartNextPendingJobExecution", "t", 0, 0, None)]
    #[case::before_the_window("UpdateJobExecution", "t", 999, 0, None)]
    #[case::in_the_window("UpdateJobExecution", "t", 1000, 0, Some(FaultKind::Drop))]
    #[case::after_the_window("UpdateJobExecution", "t", 2000, 0, None)]
    #[case::another_operation("DescribeJobExecution", "t-outage", 1500, 250, None)]
    fn rules_select_by_operation_thing_and_window(
        #[case] operation: &str,
        #[case] thing: &str,
        #[case] at: VirtualMillis,
        #[case] delay_ms: VirtualMillis,
        #[case] fault: Option<FaultKind>,
    ) {
        let faults = Faults::parse(FILE).expect("a valid faults file");
        assert_eq!(
            faults.decide(request(operation, thing, at)),
            Injected { delay_ms, fault }
        );
    }

    fn faulted(seed: u64, share: f64, n: usize) -> Vec<bool> {
        let text = format!(
            r#"{{"seed": {seed}, "rules": [{{"operations": ["UpdateJobExecution"], "fault": "unavailable", "share": {share}}}]}}"#
        );
        let faults = Faults::parse(&text).expect("a valid faults file");
        (0..n)
            .map(|_| {
                faults
                    .decide(request("UpdateJobExecution", "t", 0))
                    .fault
                    .is_some()
            })
            .collect()
    }

    #[test]
    fn first_per_thing_faults_each_thing_its_first_requests_only() {
        let faults = Faults::parse(FILE).expect("a valid faults file");
        let throttled = |thing| {
            faults
                .decide(request("GetPendingJobExecutions", thing, 0))
                .fault
                .is_some()
        };
        let seen: Vec<bool> = ["once-a", "once-a", "once-b", "other", "once-b", "once-a"]
            .into_iter()
            .map(throttled)
            .collect();
        assert_eq!(seen, [true, false, true, false, false, false]);
        let copy = faults.clone();
        assert_eq!(
            copy.decide(request("GetPendingJobExecutions", "once-a", 0))
                .fault,
            Some(FaultKind::Throttle),
            "a copy counts anew"
        );
    }

    #[test]
    fn a_share_is_drawn_from_the_seed_and_repeats() {
        let first = faulted(11, 0.25, 4000);
        assert_eq!(first, faulted(11, 0.25, 4000), "same seed, same faults");
        assert_ne!(first, faulted(12, 0.25, 4000), "another seed draws anew");
        let hits = first.iter().filter(|f| **f).count();
        assert!((900..1100).contains(&hits), "{hits} of 4000 at 25 %");
        assert!(faulted(1, 0.0, 100).iter().all(|f| !f));
        assert!(faulted(1, 1.0, 100).iter().all(|f| *f));
    }

    #[rstest]
    #[case::delay_without_its_length("{rules: [{operations: [UpdateJobExecution], fault: delay}]}")]
    #[case::length_without_a_delay(
        "{rules: [{operations: [UpdateJobExecution], fault: drop, delayMs: 5}]}"
    )]
    #[case::unknown_operation("{rules: [{operations: [Nope], fault: drop}]}")]
    #[case::share_over_one(
        "{rules: [{operations: [UpdateJobExecution], fault: drop, share: 1.5}]}"
    )]
    #[case::not_yaml("rules: [")]
    fn a_bad_file_is_refused(#[case] text: &str) {
        assert!(Faults::parse(text).is_err());
    }
}
