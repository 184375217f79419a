//! Captures (`jobcert-capture/1`): the traffic of a run, a fleet or a recording proxy as JSON
//! Lines, described by `schemas/capture.schema.json`, so that it can be replayed against any
//! target. A header holds the seed (things, jobs) a replay creates first; every other line is
//! an exchange, a notification or a later control-plane call, in send order. Names are stored
//! as placeholders, so a replay can give them run-unique names.

mod build;
mod format;
mod import;
mod lint;
mod names;
mod read;
mod write;

pub use build::{Notification, Origin, from_exchanges, from_run, from_traffic, thing_of};
pub use format::{
    Answer, Capture, CapturedControl, CapturedEvent, CapturedExchange, FORMAT, Header, Line,
    Numbered, Seed, SeedJob, SeedThing, Source, SourceKind,
};
pub use import::{ImportError, Imported, import};
pub use lint::{Gap, Lint, lint};
pub use names::{Placeholders, job_placeholder, labels, substitute, thing_placeholder};
pub use read::{CaptureError, read, read_str};
pub use write::write;

#[cfg(test)]
mod tests;
