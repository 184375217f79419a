//! Command-line commands: one module per command.

pub mod serve;
