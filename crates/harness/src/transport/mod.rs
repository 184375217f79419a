//! Transports: put a request on the wire and return the [`Exchange`] record of what happened.
//! The exchange is made here, once; checks read it and records keep it. A transport never
//! judges an answer.

pub mod binding;
mod exchange;
pub mod http;
pub mod http_conn;
pub mod mqtt;
mod sigv4;

pub use exchange::{Exchange, FailureClass, Outcome, Timing, WireRequest, WireResponse, redact};
pub use sigv4::{Signer, SigningError};
