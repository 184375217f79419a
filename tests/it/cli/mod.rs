//! The `jobcert` binary as users run it: `run`, `serve`, `report verify` and `report diff`, and
//! the Kubernetes example.

mod deploy_example;
mod report_bundle;
mod run;
mod serve;
