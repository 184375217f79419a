//! Command-line commands: one module per command.

pub mod capture;
pub mod descriptors;
pub mod diff;
pub mod fleet;
mod http_limits;
pub mod pki;
mod profile;
mod progress;
mod reference;
pub mod replay;
pub mod report;
pub mod run;
mod runs;
pub mod serve;
mod tls;
pub mod validate;
