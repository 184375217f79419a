//! The jobcert harness. Data flows one way:
//!
//! scenario → plan → drive → transport → check → record → verdict → report
//!
//! `finding` is the leaf every stage may use. The harness shares only [`jobcert_contract`] with
//! the reference implementation; the allowed edges between these modules are listed (and kept)
//! by the `module_edges` test. See ARCHITECTURE.md for the codemap.

pub mod check;
pub mod drive;
pub mod finding;
pub mod plan;
pub mod record;
pub mod report;
pub mod scenario;
pub mod transport;
pub mod verdict;

#[cfg(test)]
mod module_edges;
