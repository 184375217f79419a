//! Transports: put a request on the wire and return the [`Exchange`](crate::record::Exchange)
//! record of what happened. A transport never judges an answer.

pub mod binding;
pub mod http;
pub mod http_conn;
pub mod mqtt;
mod sigv4;

pub use sigv4::{Signer, SigningError};
