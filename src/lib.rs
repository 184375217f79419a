//! jobcert: conformance harness, fleet simulator and reference implementation for the
//! AWS IoT Jobs device API. See ARCHITECTURE.md for the codemap.

pub mod contract;
pub mod reference;
