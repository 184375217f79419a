//! The `jobcert` binary as users run it: `run` (also on a busy machine, and against a server
//! that checks SigV4), `serve`, `report verify` and `report diff`, `capture lint`, `capture
//! proxy`, `capture import`, `replay`, and the Kubernetes example.

mod aws_like;
mod busy;
mod capture;
mod capture_import;
mod capture_proxy;
mod deploy_example;
mod descriptors;
mod progress;
mod replay;
mod report_bundle;
mod run;
mod serve;
mod sigv4;
