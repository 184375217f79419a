//! Scenarios: the YAML model with source positions, loading and checking, and expansion into
//! the [`plan::Plan`] a run executes.

pub mod fleet;
pub mod generate;
mod load;
pub mod model;
pub mod plan;
mod spans;

pub use load::{ScenarioError, load, load_file, scenario_files};
