//! Scenarios: the YAML model with source positions, loading and checking, and expansion into
//! the [`plan::Plan`] a run executes.

mod exact_numbers;
pub mod fleet;
mod load;
pub mod model;
mod spans;

pub use load::{ScenarioError, load, load_file, scenario_files};
