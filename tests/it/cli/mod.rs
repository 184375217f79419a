//! The `jobcert` binary as users run it: `run`, `serve` and the Kubernetes example.

mod deploy_example;
mod run;
mod serve;
