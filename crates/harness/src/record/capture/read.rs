//! Reading a capture, whole or not at all: the first problem is reported as `file:line:column`
//! and nothing of a bad capture is used. Besides the schema, a reader refuses what would make a
//! replay wrong: a format version it does not know, a line cut short, a device whose timeline
//! goes backwards, a placeholder that the seed does not define.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde_json::Value;

use super::format::{Capture, FORMAT, Header, Line, Numbered};
use super::names::labels;
use jobcert_contract::schemas;

/// The schema every line must pass.
const SCHEMA: &str = "capture.schema.json";

/// A problem in a capture, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CaptureError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the file as a whole is at fault).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (l, 0) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
        }
    }
}

/// Reads the capture at `path`, gzip-compressed or not (told by its first bytes).
pub fn read(path: &Path) -> Result<Capture, CaptureError> {
    let whole = |message: String| CaptureError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| whole(e.to_string()))?;
    let mut magic = [0u8; 2];
    let got = file.read(&mut magic).map_err(|e| whole(e.to_string()))?;
    let head = std::io::Cursor::new(magic[..got].to_vec());
    let reader: Box<dyn Read> = if got == 2 && magic == [0x1f, 0x8b] {
        Box::new(MultiGzDecoder::new(head.chain(file)))
    } else {
        Box::new(head.chain(file))
    };
    parse(path, BufReader::new(reader))
}

/// Reads a capture held in `text`, reported as the file `name`.
pub fn read_str(name: &str, text: &str) -> Result<Capture, CaptureError> {
    parse(Path::new(name), BufReader::new(text.as_bytes()))
}

fn parse(file: &Path, mut reader: impl BufRead) -> Result<Capture, CaptureError> {
    let at = |line: u64, column: u64, message: String| CaptureError {
        file: file.to_path_buf(),
        line,
        column,
        message,
    };
    let schema = schemas()
        .get(SCHEMA)
        .expect("the capture schema is embedded");
    let mut header: Option<Header> = None;
    let mut lines = Vec::new();
    let mut timelines = Timelines::default();
    let mut number = 0u64;
    let mut text = Vec::new();
    loop {
        text.clear();
        let read = reader
            .read_until(b'\n', &mut text)
            .map_err(|e| at(number + 1, 0, format!("unreadable: {e}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        let ended = text.ends_with(b"\n");
        let line = std::str::from_utf8(&text)
            .map_err(|e| at(number, e.valid_up_to() as u64 + 1, "not UTF-8".into()))?
            .trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            let message = if e.is_eof() && !ended {
                "the line is cut short (the file ends inside it)".to_string()
            } else {
                format!("not JSON: {e}")
            };
            at(number, e.column() as u64, message)
        })?;
        let is_header = value.get("type").and_then(Value::as_str) == Some("header");
        match (&header, is_header) {
            (None, false) => {
                return Err(at(
                    number,
                    0,
                    "the first line must be the header ({\"type\":\"header\",\"format\":\"jobcert-capture/1\",…})".into(),
                ));
            }
            (Some(_), true) => return Err(at(number, 0, "a second header".into())),
            _ => {}
        }
        if is_header {
            match value.get("format").and_then(Value::as_str) {
                Some(FORMAT) => {}
                Some(other) => {
                    return Err(at(
                        number,
                        0,
                        format!("unknown format {other:?}; this jobcert reads {FORMAT}"),
                    ));
                }
                None => {
                    return Err(at(
                        number,
                        0,
                        format!("the header names no format (expected {FORMAT:?})"),
                    ));
                }
            }
            if value.get("seed").is_none() {
                return Err(at(
                    number,
                    0,
                    "the header has no seed (the things and jobs to create before replaying)"
                        .into(),
                ));
            }
        }
        if let Some(v) = schema.violations(&value).first() {
            return Err(at(number, 0, v.to_string()));
        }
        let parsed: Line =
            serde_json::from_value(value).map_err(|e| at(number, 0, e.to_string()))?;
        match parsed {
            Line::Header(h) => {
                timelines.seed(&h);
                header = Some(h);
            }
            other => {
                timelines
                    .admit(&other)
                    .map_err(|message| at(number, 0, message))?;
                lines.push(Numbered {
                    line: number,
                    value: other,
                });
            }
        }
    }
    let header = header.ok_or_else(|| at(0, 0, "empty: no header".into()))?;
    Ok(Capture { header, lines })
}

/// What the lines read so far have established: the seed's names and each device's last
/// sequence number.
#[derive(Default)]
struct Timelines {
    things: HashSet<String>,
    jobs: HashSet<String>,
    last: HashMap<String, u64>,
}

impl Timelines {
    fn seed(&mut self, header: &Header) {
        self.things = header.seed.things.iter().map(|t| t.name.clone()).collect();
        self.jobs = header.seed.jobs.iter().map(|j| j.id.clone()).collect();
    }

    /// Checks `line` against the seed and its device's timeline.
    fn admit(&mut self, line: &Line) -> Result<(), String> {
        let (device, texts): (Option<(&str, u64)>, [&str; 3]) = match line {
            Line::Header(_) => return Ok(()),
            Line::Exchange(e) => (
                Some((&e.device, e.device_seq)),
                [&e.device, &e.target, e.body.as_deref().unwrap_or("")],
            ),
            Line::Event(e) => (
                Some((&e.device, e.device_seq)),
                [&e.device, &e.topic, &e.body],
            ),
            Line::Control(c) => (None, ["", &c.target, c.body.as_deref().unwrap_or("")]),
        };
        for text in texts {
            if let Some(label) = labels(text, "thing")
                .into_iter()
                .find(|l| !self.things.contains(&super::names::thing_placeholder(l)))
            {
                return Err(format!(
                    "{{thing:{label}}} is not in the header's seed (seed.things)"
                ));
            }
            if let Some(label) = labels(text, "job")
                .into_iter()
                .find(|l| !self.jobs.contains(&super::names::job_placeholder(l)))
            {
                return Err(format!(
                    "{{job:{label}}} is not in the header's seed (seed.jobs)"
                ));
            }
        }
        if let Some((device, n)) = device {
            if let Some(&before) = self.last.get(device)
                && n <= before
            {
                return Err(format!(
                    "device {device}: device_seq {n} after {before}; a device's timeline only goes forwards"
                ));
            }
            self.last.insert(device.to_string(), n);
        }
        Ok(())
    }
}
