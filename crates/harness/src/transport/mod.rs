//! Transports: put a request on the wire and return the [`Exchange`] record of what happened.
//! The exchange is made here, once; checks read it and records keep it. A transport never
//! judges an answer. A [`Target`] says where a run goes; every driver reaches its data plane
//! through a [`DataClient`] and its control plane through a [`ControlClient`].

pub mod binding;
mod broker_refusal;
pub mod client;
pub mod control;
mod credentials;
mod exchange;
pub mod http;
mod http1;
pub mod http_conn;
pub mod line;
pub mod mqtt;
mod rate;
mod retry;
pub mod route;
mod sigv4;
pub mod target;
pub mod tls;

pub use client::{BuildError, DataClient, Raw, Request, Sent};
pub use control::{Call, Called, ControlClient, ControlError, NewJob};
pub use exchange::{
    Exchange, FailureClass, Label, Outcome, Timing, WireRequest, WireResponse, redact,
    redact_target,
};
pub use mqtt::{Heard, Received};
pub use rate::RateLimit;
pub use retry::{Retry, is_throttle};
pub use sigv4::{
    ACCESS_KEY_VAR, HOW_TO_SIGN, SECRET_KEY_VAR, SESSION_TOKEN_VAR, Signer, SigningError,
};
pub use target::{Broker, DataPlane, Target, TargetError};
