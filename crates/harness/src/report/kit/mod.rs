//! What the conformance and the fleet reports share: the HTML page skeleton and its CSS, the
//! HTML escaper, console colours, the target's facts, and the words for severities, verdicts and profiles.

mod colour;
mod escape;
mod page;
mod target;
mod words;

pub use colour::Paint;
#[cfg(test)]
pub(crate) use colour::printed;
pub(crate) use colour::{Tone, paint};
pub(crate) use escape::Esc;
pub(crate) use page::{badge, document};
#[cfg(test)]
pub(crate) use target::sample_target;
pub(crate) use target::target_rows;
pub(crate) use words::{level_word, passed_word, profile_word, severity_word, verdict_word};
