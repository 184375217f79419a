//! The MQTT side of the reference server: the Jobs service on the reserved topics, served by
//! an embedded broker or attached to an existing one.

pub mod attach;
pub mod broker;
mod dialect;
pub mod hub;
pub mod service;
pub mod topics;
