//! Checks: reading answers the way SDKs do, the state oracle, explicit expectations, the
//! read-back after a negative request, fleet thresholds, and what each finding weighs. A check
//! never sends a request.

pub mod agent;
pub mod answer;
pub mod certificate;
pub mod differential;
pub mod expect;
pub mod health;
pub mod notify;
pub mod oracle;
pub mod replay;
pub mod whole_query;
