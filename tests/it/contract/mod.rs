//! The contract: the typed model of `schemas/` and the scenario format.

mod model;
mod scenarios;
