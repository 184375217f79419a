//! Listeners that hold against hostile clients: slowloris headers, idle keep-alive
//! connections, stalled bodies, more connections than a machine can hold, and descriptors run
//! out. Both the reference server and the harness's recording proxy serve HTTP through
//! [`serve`]; this crate knows neither of them, nor the contract.

mod accept_failures;
mod exchange;
mod limits;
mod plain;
mod serve;
mod watchdog;

pub use accept_failures::AcceptFailures;
pub use limits::HttpLimits;
pub use plain::PlainListener;
pub use serve::serve;
