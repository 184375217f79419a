//! The `jobcert` binary as users run it: `run` (also on a busy machine), `serve` and the
//! Kubernetes example.

mod busy;
mod deploy_example;
mod run;
mod serve;
