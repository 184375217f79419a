//! Reports of a run: `summary.json`, `junit.xml`, `report.html`, one `.hgrm` file per latency
//! histogram, and the console summary; `manifest.json`, which makes a run folder verifiable,
//! and the diff of two runs. Reports only read records; they never judge or send.

mod command;
mod console;
pub mod diff;
pub mod differential;
#[cfg(test)]
mod fixture;
pub mod fleet;
mod html;
mod junit;
pub mod kit;
pub mod manifest;
mod summary;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use command::shell_word;
pub use console::console;
pub use kit::Paint;

use crate::record::{CaseRecord, RunRecord, hgrm};
use crate::transport::{Exchange, FailureClass, Outcome};
use crate::verdict::{Assessment, CaseVerdict};

/// Most bytes of a body quoted in a report.
const BODY_LIMIT: usize = 2048;

/// `body` cut at [`BODY_LIMIT`] bytes on a character boundary.
fn cut_body(body: &str) -> String {
    if body.len() <= BODY_LIMIT {
        return body.to_string();
    }
    let end = (0..=BODY_LIMIT)
        .rev()
        .find(|&i| body.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}

/// What the reports need.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The run's record.
    pub run: &'a RunRecord,
    /// Its verdicts.
    pub assessment: &'a Assessment,
    /// Command prefix, as shell words (see [`shell_word`]), that re-runs exactly one case when
    /// followed by ` --only <case id>` (the id as recorded, transport prefix included); e.g.
    /// `jobcert run scenarios/conformance --target http://127.0.0.1:9080 --control
    /// http://127.0.0.1:9081 --target-time-scale 1 --region eu-west-1`. Never contains
    /// credentials.
    pub rerun_prefix: &'a str,
    /// Region the run signed its requests for, when it signed them: the `curl` lines of
    /// signed exchanges sign for it too.
    pub region: &'a str,
}

impl<'a> ReportInput<'a> {
    /// Each case's record with its verdict, in run order (cases without a verdict are skipped).
    fn cases(&self) -> impl Iterator<Item = (&'a CaseRecord, &'a CaseVerdict)> + 'a {
        let verdicts: HashMap<&str, &CaseVerdict> = self
            .assessment
            .cases
            .iter()
            .map(|v| (v.id.as_str(), v))
            .collect();
        self.run
            .cases
            .iter()
            .filter_map(move |c| verdicts.get(c.id.as_str()).map(|v| (c, *v)))
    }
}

/// The exchanges of `case` that its problem findings cite, once each, in sequence order.
fn cited_exchanges<'a>(case: &'a CaseRecord, verdict: &CaseVerdict) -> Vec<&'a Exchange> {
    let mut cited: Vec<&Exchange> = case
        .exchanges
        .iter()
        .filter(|e| {
            verdict
                .problems
                .iter()
                .any(|p| p.finding.exchange == Some(e.seq))
        })
        .collect();
    cited.sort_by_key(|e| e.seq);
    cited
}

/// One line saying why an exchange has no answer, or `None` when it has one.
fn unanswered(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Answered(_) => None,
        Outcome::Timeout { deadline_ms } => Some(format!("no answer within {deadline_ms} ms")),
        Outcome::Failed { class, message } => {
            let class = match class {
                FailureClass::Connect => "connect",
                FailureClass::Reset => "reset",
                FailureClass::Protocol => "protocol",
            };
            Some(format!("transport failure ({class}): {message}"))
        }
    }
}

/// A histogram file name part, restricted to characters safe in any file system.
fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes summary.json, junit.xml, report.html and one `<Operation>.<outcome>.hgrm` per latency
/// histogram into `dir` (created if missing). Returns the paths written.
pub fn write_all(dir: &Path, input: &ReportInput<'_>) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut files = vec![
        ("summary.json".to_string(), summary::json(input)?),
        ("junit.xml".to_string(), junit::xml(input)?),
        ("report.html".to_string(), html::page(input)),
    ];
    for (key, h) in input.run.latency.histograms() {
        let name = format!(
            "{}.{}.hgrm",
            file_part(&key.operation),
            file_part(&key.outcome)
        );
        files.push((name, hgrm(h)));
    }
    files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            fs::write(&path, text)?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_all_writes_every_report_and_histogram() {
        let (run, assessment) = fixture::sample();
        let input = fixture::input(&run, &assessment);
        let dir = std::env::temp_dir().join(format!("jobcert-report-{}", uuid::Uuid::new_v4()));
        let written = write_all(&dir, &input).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "summary.json",
                "junit.xml",
                "report.html",
                "StartNextPendingJobExecution.answered.hgrm",
                "UpdateJobExecution.timeout.hgrm"
            ]
        );
        assert!(written.iter().all(|p| p.is_file()));
        fs::remove_dir_all(&dir).unwrap();
    }
}
