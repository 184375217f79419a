//! Drivers execute a plan against a target: the conformance runner today; the fleet driver and
//! the replayer later.

pub mod conformance;
