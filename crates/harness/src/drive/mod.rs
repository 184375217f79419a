//! Drivers execute a plan against a target: the conformance runner and the fleet driver; the
//! replayer later.

pub mod conformance;
pub mod fleet;
