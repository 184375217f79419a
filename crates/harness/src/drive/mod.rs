//! Drivers execute a plan against a target: the conformance runner, the fleet driver, the
//! replayer of captures, and the recording proxy that stands between a target and its clients.

pub mod conformance;
pub mod fleet;
pub mod proxy;
pub mod replay;
