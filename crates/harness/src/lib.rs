//! The jobcert harness: scenario → plan → drive → transport → check → record → verdict →
//! report. It shares only [`jobcert_contract`] with the reference implementation; see
//! ARCHITECTURE.md for the codemap.

pub mod check;
pub mod drive;
pub mod record;
pub mod report;
pub mod scenario;
pub mod transport;
