//! Drivers execute a plan against a target: the conformance runner, the fleet driver, and the
//! replayer of captures.

pub mod conformance;
pub mod fleet;
pub mod replay;
