//! `jobcert capture lint`: what a capture holds and how a replay of it will go — counts, the
//! operation mix per device, lines out of send order, the largest gaps on a device's timeline,
//! and the time a replay takes at a given speed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use super::format::{Capture, Line};

/// How many operation mixes a lint prints, the commonest first.
const MIXES_SHOWN: usize = 10;

/// How many of the largest gaps a lint keeps.
const GAPS_KEPT: usize = 5;

/// A pause on one device's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The device.
    pub device: String,
    /// The line before the pause.
    pub from_line: u64,
    /// The line after it.
    pub to_line: u64,
    /// Its length, in microseconds.
    pub us: u64,
}

/// What a capture holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lint {
    /// Things of the seed.
    pub seed_things: usize,
    /// Jobs of the seed.
    pub seed_jobs: usize,
    /// Device exchanges.
    pub exchanges: usize,
    /// Notifications.
    pub events: usize,
    /// Control-plane calls after seeding.
    pub controls: usize,
    /// Exchanges per operation.
    pub operations: BTreeMap<String, usize>,
    /// How many devices share each operation mix (`StartNextPendingJobExecution×1, …`).
    pub mixes: BTreeMap<String, usize>,
    /// Lines that happened before the line above them.
    pub out_of_order: Vec<u64>,
    /// The largest pauses on a device's timeline, longest first.
    pub gaps: Vec<Gap>,
    /// From the first line to the last, in microseconds.
    pub span_us: u64,
}

impl Lint {
    /// How long a replay at `speed` takes, at the least (timing anchored to the start).
    pub fn duration_at(&self, speed: f64) -> Duration {
        Duration::from_secs_f64(self.span_us as f64 / 1e6 / speed)
    }
}

/// Lints `capture`.
pub fn lint(capture: &Capture) -> Lint {
    let mut out = Lint {
        seed_things: capture.header.seed.things.len(),
        seed_jobs: capture.header.seed.jobs.len(),
        ..Lint::default()
    };
    let mut per_device: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut last_on_device: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut previous: Option<u64> = None;
    let (mut first, mut last) = (u64::MAX, 0);
    for n in &capture.lines {
        let at = n.value.at_us();
        if previous.is_some_and(|p| at < p) {
            out.out_of_order.push(n.line);
        }
        previous = Some(at);
        first = first.min(at);
        last = last.max(at);
        let device = match &n.value {
            Line::Exchange(e) => {
                out.exchanges += 1;
                *out.operations.entry(e.operation.clone()).or_default() += 1;
                *per_device
                    .entry(&e.device)
                    .or_default()
                    .entry(&e.operation)
                    .or_default() += 1;
                Some(e.device.as_str())
            }
            Line::Event(e) => {
                out.events += 1;
                Some(e.device.as_str())
            }
            Line::Control(_) => {
                out.controls += 1;
                None
            }
            Line::Header(_) => None,
        };
        if let Some(device) = device
            && let Some((line, before)) = last_on_device.insert(device, (n.line, at))
        {
            out.gaps.push(Gap {
                device: device.to_string(),
                from_line: line,
                to_line: n.line,
                us: at.saturating_sub(before),
            });
            out.gaps
                .sort_by(|a, b| b.us.cmp(&a.us).then(a.to_line.cmp(&b.to_line)));
            out.gaps.truncate(GAPS_KEPT);
        }
    }
    for ops in per_device.values() {
        let mix = ops
            .iter()
            .map(|(op, n)| format!("{op}×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        *out.mixes.entry(mix).or_default() += 1;
    }
    out.span_us = last.saturating_sub(first.min(last));
    out
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed: {} things, {} jobs",
            self.seed_things, self.seed_jobs
        )?;
        writeln!(
            f,
            "lines: {} exchanges, {} notifications, {} control-plane calls over {:.3} s",
            self.exchanges,
            self.events,
            self.controls,
            self.span_us as f64 / 1e6
        )?;
        for (op, n) in &self.operations {
            writeln!(f, "  {op}: {n}")?;
        }
        writeln!(f, "operation mix per device:")?;
        let mut mixes: Vec<_> = self.mixes.iter().collect();
        mixes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (mix, devices) in mixes.iter().take(MIXES_SHOWN) {
            writeln!(f, "  {devices} device(s): {mix}")?;
        }
        if mixes.len() > MIXES_SHOWN {
            let rest: usize = mixes[MIXES_SHOWN..].iter().map(|(_, n)| **n).sum();
            writeln!(
                f,
                "  {rest} device(s) in {} other mixes",
                mixes.len() - MIXES_SHOWN
            )?;
        }
        match self.out_of_order.as_slice() {
            [] => writeln!(f, "send order: every line after the one above it")?,
            lines => writeln!(
                f,
                "send order: {} line(s) earlier than the line above them (first: line {})",
                lines.len(),
                lines[0]
            )?,
        }
        if !self.gaps.is_empty() {
            writeln!(f, "largest gaps on a device's timeline:")?;
            for g in &self.gaps {
                writeln!(
                    f,
                    "  {:.3} s: {} between lines {} and {}",
                    g.us as f64 / 1e6,
                    g.device,
                    g.from_line,
                    g.to_line
                )?;
            }
        }
        Ok(())
    }
}
