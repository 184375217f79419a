//! Command-line commands: one module per command.

pub mod fleet;
pub mod report;
pub mod run;
pub mod serve;
pub mod validate;
