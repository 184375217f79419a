//! The integration tests, as one binary: one module per concern, sharing `common`.
//!
//! `cargo test` runs everything that needs nothing outside cargo; the tests that need
//! mosquitto, the Python venv or Java are `#[ignore]`d with the reason, and
//! `cargo test -- --include-ignored` runs them too (as CI does), failing when one is missing.

mod cli;
mod common;
mod contract;
mod fleet;
mod harness;
mod interop;
mod reference;
mod tls;
