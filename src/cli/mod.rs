//! Command-line commands: one module per command.

pub mod run;
pub mod serve;
pub mod validate;
