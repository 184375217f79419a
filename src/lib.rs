//! jobcert: conformance harness, fleet simulator and reference implementation for the
//! AWS IoT Jobs device API. See ARCHITECTURE.md for the codemap.

pub mod check;
pub mod contract;
pub mod drive;
pub mod record;
pub mod reference;
pub mod report;
pub mod scenario;
pub mod transport;
